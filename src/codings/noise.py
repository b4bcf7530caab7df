"""Input corruptions for denoising autoencoders (Vincent et al. 2008, 2010).

A corruption is an ``nn.Module`` that always corrupts what it is given; the
:class:`~codings.models.Autoencoder` applies it to the input in training mode only, and the
reconstruction is compared with the clean input. ``generator`` lets a caller corrupt a test set
reproducibly without touching the global RNG.
"""

from __future__ import annotations

import torch
from torch import nn

from .errors import suggest


class GaussianNoise(nn.Module):
    """``x + sigma * N(0, 1)``, element-wise (additive isotropic Gaussian noise)."""

    name = "gaussian"

    def __init__(self, sigma: float):
        super().__init__()
        if not (isinstance(sigma, (int, float)) and sigma > 0):
            raise ValueError(f"noise_level={sigma!r} must be a standard deviation > 0, e.g. 0.3")
        self.level = float(sigma)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return x + self.level * noise

    def extra_repr(self) -> str:
        return f"sigma={self.level}"


class MaskingNoise(nn.Module):
    """Each input is set to 0 with probability ``p``.

    ``rescale=False`` is Vincent et al.'s masking noise; ``rescale=True`` is dropout (the kept
    inputs are divided by ``1 - p`` so the expected input is unchanged, as in ``nn.Dropout``).
    """

    def __init__(self, p: float, rescale: bool = False):
        super().__init__()
        if not (isinstance(p, (int, float)) and 0 < p < 1):
            raise ValueError(f"noise_level={p!r} must be a probability in (0, 1), e.g. 0.3")
        self.level = float(p)
        self.rescale = bool(rescale)
        self.name = "dropout" if rescale else "masking"

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        keep = torch.rand(x.shape, generator=generator, device=x.device) >= self.level
        out = x * keep
        return out / (1.0 - self.level) if self.rescale else out

    def extra_repr(self) -> str:
        return f"p={self.level}, rescale={self.rescale}"


NOISES = ("gaussian", "masking", "dropout")
DEFAULT_LEVEL = {"gaussian": 0.3, "masking": 0.3, "dropout": 0.3}


def corruption(kind: str | None, level: float | None = None) -> nn.Module | None:
    """A corruption by name: 'gaussian' (level = sigma), 'masking' or 'dropout' (level = p).

    ``kind=None`` gives ``None`` (no corruption); ``level=None`` takes the kind's default (0.3).
    """
    if kind is None or kind == "none":
        return None
    if kind not in NOISES:
        raise ValueError(
            f"noise={kind!r} is not known; choose one of {', '.join(NOISES)} (or None for none)"
            + suggest(kind, NOISES)
        )
    level = DEFAULT_LEVEL[kind] if level is None else level
    if kind == "gaussian":
        return GaussianNoise(level)
    return MaskingNoise(level, rescale=kind == "dropout")
