"""Regularisers on the codings: sparsity and contraction penalties, and sparsifying layers.

Penalties are modules with a ``name``, called as ``penalty(model, x_in, codes)`` by
:meth:`codings.models.Autoencoder.loss`; like every loss term they are summed over units and
averaged over the batch, so a weight trades them off against the per-example reconstruction
error. The sparsifying layers (k-sparse, winner-take-all) instead enforce sparsity in the
forward pass and sit at the end of an encoder.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .errors import suggest
from .losses import per_example

# --- penalties --------------------------------------------------------------------------------


def check_weight(name: str, weight: float) -> float:
    if not (isinstance(weight, (int, float)) and weight >= 0 and math.isfinite(weight)):
        raise ValueError(f"{name}={weight!r} must be a finite number >= 0")
    return float(weight)


class L1Sparsity(nn.Module):
    """``weight * sum_j |z_j|`` per example: pushes codings to exactly zero."""

    name = "l1"

    def __init__(self, weight: float):
        super().__init__()
        self.weight = check_weight("sparsity_weight", weight)

    def forward(self, model: nn.Module, x: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        return self.weight * per_example(codes.abs())


def kl_bernoulli(target: float, rho_hat: torch.Tensor) -> torch.Tensor:
    """KL(Bernoulli(target) || Bernoulli(rho_hat)), element-wise."""
    t = target
    return t * torch.log(t / rho_hat) + (1 - t) * torch.log((1 - t) / (1 - rho_hat))


class KLSparsity(nn.Module):
    """``weight * sum_j KL(target || mean activation of unit j over the batch)``.

    The codings must lie in (0, 1) (sigmoid units): each unit's mean activation is read as the
    probability that it fires, and pushed towards ``target`` (Ng's sparse autoencoder notes).
    The penalty is a property of the batch, so it is not averaged again.
    """

    name = "kl_sparsity"

    def __init__(self, target: float, weight: float):
        super().__init__()
        if not (isinstance(target, (int, float)) and 0 < target < 1):
            raise ValueError(f"sparsity_target={target!r} must be in (0, 1), e.g. 0.05 or 0.1")
        self.target = float(target)
        self.weight = check_weight("sparsity_weight", weight)

    def forward(self, model: nn.Module, x: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        rho_hat = codes.reshape(codes.shape[0], -1).mean(0).clamp(1e-6, 1 - 1e-6)  # (K,)
        return self.weight * kl_bernoulli(self.target, rho_hat).sum()


SPARSITIES = ("l1", "kl")


def sparsity_penalty(kind: str | None, weight: float, target: float) -> nn.Module | None:
    if kind is None or kind == "none":
        return None
    if kind == "l1":
        return L1Sparsity(weight)
    if kind == "kl":
        return KLSparsity(target, weight)
    raise ValueError(
        f"sparsity={kind!r} is not known; choose 'l1', 'kl' or None" + suggest(kind, SPARSITIES)
    )


def single_sigmoid_layer(model: nn.Module) -> nn.Linear | None:
    """The Linear layer if the model encodes with exactly ``sigmoid(W x + b)``, else None."""
    if getattr(model, "bottleneck", None) is not None:
        return None
    mods = [m for m in model.encoder.modules() if not isinstance(m, nn.Sequential)]
    if len(mods) == 2 and isinstance(mods[0], nn.Linear) and isinstance(mods[1], nn.Sigmoid):
        return mods[0]
    return None


def jacobian_norm(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Squared Frobenius norm of d codings / d input for each example, shape (B,).

    Exact for any differentiable encoder (per-example Jacobians with ``torch.func``), and
    differentiable with respect to the model's parameters.
    """
    from torch.func import jacrev, vmap

    def code(xi: torch.Tensor) -> torch.Tensor:  # (D,) -> (K,)
        return model.encode(xi.unsqueeze(0)).reshape(-1)

    jac = vmap(jacrev(code))(x)  # (B, K, D)
    return jac.square().reshape(x.shape[0], -1).sum(1)


class Contractive(nn.Module):
    """``weight * ||d h / d x||_F^2`` per example (Rifai et al. 2011).

    For one sigmoid layer ``h = sigmoid(W x + b)`` the Jacobian is ``diag(h (1 - h)) W``, so
    the norm is ``sum_j (h_j (1 - h_j))^2 sum_i W_ji^2`` (Rifai et al., eq. 6): exact and costs
    one extra pass over ``W``. Any other encoder gets the exact Jacobian by automatic
    differentiation (about K times the cost of a forward pass, for K codings).
    """

    name = "contractive"

    def __init__(self, weight: float):
        super().__init__()
        self.weight = check_weight("contractive", weight)

    def forward(self, model: nn.Module, x: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        lin = single_sigmoid_layer(model)
        if lin is not None:
            h = codes  # (B, K), the sigmoid's output
            row_norms = lin.weight.square().sum(1)  # (K,)
            per_example = ((h * (1 - h)).square() * row_norms).sum(1)
        else:
            per_example = jacobian_norm(model, x.reshape(x.shape[0], -1))
        return self.weight * per_example.mean()


# --- sparsifying layers -----------------------------------------------------------------------


def _keep_top(h: torch.Tensor, k: int, dim: int) -> torch.Tensor:
    """Zero all but the ``k`` largest entries of ``h`` along ``dim`` (ties: exactly k kept)."""
    idx = h.topk(k, dim=dim).indices
    mask = torch.zeros_like(h).scatter(dim, idx, 1.0)
    return h * mask


class KSparse(nn.Module):
    """Keep the ``k`` largest codings of each example, zero the rest (Makhzani & Frey 2013).

    Applied in training and at test time; the gradient flows only through the kept units.
    """

    def __init__(self, k: int):
        super().__init__()
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"k={k!r} must be a positive integer (codings kept per example)")
        self.k = k

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.k > h.shape[1]:
            raise ValueError(
                f"k={self.k} is larger than the {h.shape[1]} codings; choose k <= {h.shape[1]}"
            )
        return _keep_top(h, self.k, dim=1)  # (B, K) -> (B, K), k non-zero per row

    def extra_repr(self) -> str:
        return f"k={self.k}"


def _check_rate(rate: float) -> float:
    if not (isinstance(rate, (int, float)) and 0 < rate <= 1):
        raise ValueError(f"rate={rate!r} must be a fraction in (0, 1], e.g. 0.05 for 5%")
    return float(rate)


def lifetime_k(rate: float, batch: int) -> int:
    """How many activations of a unit a batch of ``batch`` examples keeps: round(rate*B) >= 1."""
    return max(1, min(batch, int(round(rate * batch))))


class LifetimeSparsity(nn.Module):
    """Winner-take-all lifetime sparsity (Makhzani & Frey 2015).

    In training, each unit (each channel for feature maps) keeps only its ``rate`` largest
    activations across the batch and is zero for every other example, so each unit learns
    from the examples it fits best. In evaluation mode all activations pass, as in the paper.
    For feature maps (B, C, H, W) the ranking is by each map's largest value: use it after
    :class:`SpatialSparsity`, which leaves one non-zero value per map.
    """

    def __init__(self, rate: float):
        super().__init__()
        self.rate = _check_rate(rate)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return h
        k = lifetime_k(self.rate, h.shape[0])
        if h.ndim == 2:
            return _keep_top(h, k, dim=0)  # (B, K): k examples per unit
        score = h.flatten(2).amax(2)  # (B, C, H, W) -> (B, C)
        keep = torch.zeros_like(score).scatter(0, score.topk(k, dim=0).indices, 1.0)
        return h * keep[:, :, None, None]

    def extra_repr(self) -> str:
        return f"rate={self.rate}"


class SpatialSparsity(nn.Module):
    """Keep only the largest value of each feature map of each example (Makhzani & Frey 2015).

    (B, C, H, W) -> same shape with one non-zero per (example, channel); applied in training and
    at test time, so the decoder always sees what it was trained on.
    """

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        flat = h.flatten(2)  # (B, C, H*W)
        return _keep_top(flat, 1, dim=2).reshape(h.shape)
