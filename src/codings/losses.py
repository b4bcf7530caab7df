"""Reconstruction losses and penalties.

One reduction rule for every term: sum over an example's features, mean over the batch. A loss
is then "per example" (nats for a Bernoulli decoder, a summed squared error for MSE), and every
term of a model's loss is on that same scale. Per-feature figures (the per-pixel MSE people
quote) are metrics, computed in ``codings.metrics``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def per_example(t: torch.Tensor) -> torch.Tensor:
    """(B, ...) -> scalar: sum over everything but the batch axis, then mean over the batch."""
    return t.reshape(t.shape[0], -1).sum(1).mean()


def mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error summed over features, averaged over the batch."""
    # One fused kernel each way; equal to per_example((output - target).square()).
    return F.mse_loss(output, target, reduction="sum") / output.shape[0]


def bernoulli_nll(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy from logits (a Bernoulli decoder's negative log-likelihood), in nats."""
    return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / logits.shape[0]


RECONSTRUCTION = {"linear": mse, "bernoulli": bernoulli_nll}


def l2_penalties(l2: float) -> list:
    """The weight penalty of a builder's ``l2`` argument: ``[L2Penalty(l2)]``, or none for 0.

    The one check of ``l2`` for every builder: a negative or NaN weight is an error, never
    silently dropped.
    """
    if isinstance(l2, bool) or not isinstance(l2, (int, float)) or not l2 >= 0:
        raise ValueError(f"l2={l2!r} must be a number >= 0 (0 turns the weight penalty off)")
    return [L2Penalty(float(l2))] if l2 > 0 else []


class L2Penalty(nn.Module):
    """``weight * sum(W**2)`` over the encoder's, bottleneck's and decoder's weight matrices.

    Like every term it is added to the per-example loss (the squared error summed over
    features). The seed's code added its L2 term to the per-feature *mean* error instead, so its
    ``l2_reg = 1e-4`` corresponds to ``weight = 1e-4 * n_features`` here (0.0784 on MNIST).
    Tied weights count once; biases are not penalised.
    """

    name = "l2"

    def __init__(self, weight: float):
        super().__init__()
        self.weight = float(weight)

    @staticmethod
    def weights(model: nn.Module) -> list[torch.Tensor]:
        """The penalised matrices: the encoder's, bottleneck's and decoder's, each once."""
        parts = (model.encoder, model.bottleneck, model.decoder)
        return [p for m in parts if m is not None for p in m.parameters() if p.dim() > 1]

    def forward(self, model: nn.Module, x: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        return self.weight * sum(w.square().sum() for w in self.weights(model))
