"""Building blocks: dense stacks, tied linear layers, activations and weight initialisation."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .choices import parse_sizes  # noqa: F401  (re-exported: builders import it from here)
from .errors import suggest

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "elu": nn.ELU,
    "relu": nn.ReLU,
    "selu": nn.SELU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "linear": nn.Identity,
}

INITS = ("he", "xavier", "lecun", "torch")


def activation(name: str, param: str = "activation") -> nn.Module:
    """A fresh activation module by name (elu, relu, selu, sigmoid, tanh, linear); ``param``
    is the argument an unknown name is reported as."""
    if name not in ACTIVATIONS:
        raise ValueError(
            f"{param}={name!r} is not known; choose one of {', '.join(ACTIVATIONS)}"
            + suggest(name, ACTIVATIONS)
        )
    return ACTIVATIONS[name]()


def check_init(init: str) -> None:
    if init not in INITS:
        raise ValueError(
            f"init={init!r} is not known; choose one of {', '.join(INITS)}" + suggest(init, INITS)
        )


def init_linear(layer: nn.Linear, init: str) -> None:
    """Initialise a linear layer's weight by fan-in/fan-out rule; biases start at zero.

    'he' is the seed's variance-scaling initialiser (truncated normal, variance 2 / fan_in,
    He et al. 2015); 'xavier' is Glorot uniform; 'lecun' is variance 1 / fan_in (for SELU).
    """
    check_init(init)
    if init == "torch":
        return
    fan_out, fan_in = layer.weight.shape
    with torch.no_grad():
        if init == "xavier":
            nn.init.xavier_uniform_(layer.weight)
        else:
            gain = 2.0 if init == "he" else 1.0
            # A normal truncated at 2 std has std 0.8796 of the untruncated one; undo that.
            std = math.sqrt(gain / fan_in) / 0.87962566103423978
            nn.init.trunc_normal_(layer.weight, std=std, a=-2 * std, b=2 * std)
        if layer.bias is not None:
            layer.bias.zero_()


class TiedLinear(nn.Module):
    """A linear layer that uses the transpose of another linear layer's weight.

    The weight stays owned by ``source`` (it is not registered here), so the model has one
    parameter for both layers, the optimiser updates it once and a state dict stores it once.
    Only the bias belongs to this layer.
    """

    def __init__(self, source: nn.Linear, bias: bool = True):
        super().__init__()
        self.__dict__["source"] = source  # a plain reference: not a submodule, not in state_dict
        self.in_features = source.out_features
        self.out_features = source.in_features
        self.bias = nn.Parameter(torch.zeros(source.in_features)) if bias else None

    @property
    def weight(self) -> torch.Tensor:
        return self.source.weight.t()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.source.weight  # (out_src, in_src)
        if x.dim() == 2 and self.bias is not None:
            # x @ W directly: W's gradient from this use comes out in W's own (contiguous)
            # layout, so adding it to the encoder's gradient needs no strided copy.
            return torch.addmm(self.bias, x, w)  # (B, out_src) -> (B, in_src)
        return F.linear(x, w.t(), self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, tied=True"


def dense_stack(
    sizes: Sequence[int],
    act: str,
    *,
    init: str = "he",
    last_activation: str | None = None,
) -> nn.Sequential:
    """``sizes = (n_in, h1, ..., h_k)`` -> Sequential of blocks ``Sequential(Linear, act)``.

    One block per layer so that layer-wise training can pair encoder block k with its mirror in
    the decoder. The last block gets ``last_activation`` (default: ``act``).
    """
    blocks = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        lin = nn.Linear(n_in, n_out)
        init_linear(lin, init)
        if i < len(sizes) - 2 or last_activation is None:
            blocks.append(nn.Sequential(lin, activation(act)))
        else:  # the coding layer: the builders' coding_activation
            blocks.append(nn.Sequential(lin, activation(last_activation, "coding_activation")))
    return nn.Sequential(*blocks)


def mirrored_decoder(
    encoder: nn.Sequential,
    act: str,
    *,
    init: str = "he",
    tied: bool = False,
    out_activation: str = "linear",
) -> nn.Sequential:
    """The decoder that mirrors a ``dense_stack`` encoder, tied to it or not.

    Decoder block j undoes encoder block ``n - 1 - j``; the last block's activation is
    ``out_activation`` (linear for MSE or for logits).
    """
    blocks = []
    enc = list(encoder)
    for j, block in enumerate(reversed(enc)):
        src: nn.Linear = block[0]
        if tied:
            lin: nn.Module = TiedLinear(src)
        else:
            lin = nn.Linear(src.out_features, src.in_features)
            init_linear(lin, init)
        name = out_activation if j == len(enc) - 1 else act
        blocks.append(nn.Sequential(lin, activation(name)))
    return nn.Sequential(*blocks)
