"""Convolutional encoders and transposed-convolution decoders from a channel plan.

Models take flat rows (B, C*H*W) like every other model, so training, evaluation and the command
line work unchanged: the encoder starts by reshaping to images and ends with flat codings, the
decoder reshapes the codings back to feature maps and ends with flat rows again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .choices import square_image_shape
from .layers import activation, check_init, parse_sizes


def chw(image_shape: Sequence[int], n_features: int) -> tuple[int, int, int]:
    """(H, W) or (C, H, W) -> (C, H, W), checked against ``n_features``."""
    try:
        dims = tuple(int(d) for d in image_shape)
    except (TypeError, ValueError):
        dims = ()
    if len(dims) not in (2, 3) or any(d <= 0 for d in dims):
        raise ValueError(
            f"image_shape={image_shape!r} must be [height, width] or [channels, height, width], "
            "e.g. [28, 28] or [1, 28, 28]"
        )
    if len(dims) == 2:
        dims = (1, *dims)
    if math.prod(dims) != n_features:
        raise ValueError(
            f"image_shape={list(image_shape)} has {math.prod(dims)} values but n_features="
            f"{n_features}; give the shape of the images the rows hold"
        )
    return dims


def _init_conv(conv: nn.Module, init: str) -> None:
    check_init(init)
    if init == "torch":
        return
    with torch.no_grad():
        if init == "xavier":
            nn.init.xavier_uniform_(conv.weight)
        else:
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu" if init == "he" else "linear")
        if conv.bias is not None:
            conv.bias.zero_()


def _out_size(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def conv_encoder(
    shape: tuple[int, int, int],
    channels: Sequence[int],
    *,
    kernel_size: int = 3,
    stride: int = 2,
    act: str = "relu",
    init: str = "he",
) -> tuple[nn.Sequential, list[tuple[int, int, int]]]:
    """(B, C*H*W) -> feature maps, one block ``Sequential(Conv2d, act)`` per entry of ``channels``.

    Returns the encoder (ending with the last feature maps, not yet flat) and the (C, H, W)
    shape before each block and after the last one, which :func:`conv_decoder` mirrors.
    """
    channels = parse_sizes([channels] if isinstance(channels, int) else channels, "channels")
    pad = kernel_size // 2
    layers: list[nn.Module] = [nn.Unflatten(1, shape)]
    shapes = [shape]
    c, h, w = shape
    for c_out in channels:
        conv = nn.Conv2d(c, c_out, kernel_size, stride=stride, padding=pad)
        _init_conv(conv, init)
        layers.append(nn.Sequential(conv, activation(act)))
        h, w = _out_size(h, kernel_size, stride, pad), _out_size(w, kernel_size, stride, pad)
        if h < 1 or w < 1:
            raise ValueError(
                f"channels={list(channels)} with stride={stride} shrinks {shape[1:]} images to "
                "nothing; use fewer layers or stride=1"
            )
        c = c_out
        shapes.append((c, h, w))
    return nn.Sequential(*layers), shapes


def conv_decoder(
    shapes: Sequence[tuple[int, int, int]],
    *,
    kernel_size: int = 3,
    stride: int = 2,
    act: str = "relu",
    init: str = "he",
    out_activation: str = "linear",
) -> nn.Sequential:
    """Feature maps of ``shapes[-1]`` -> (B, C*H*W): transposed convolutions back to ``shapes[0]``.

    Each block undoes its mirror in the encoder; ``output_padding`` restores the exact size of
    odd-sized maps (a stride-2 convolution maps both 7 and 8 pixels to 4).
    """
    pad = kernel_size // 2
    layers: list[nn.Module] = []
    steps = list(zip(shapes[1:], shapes[:-1], strict=True))[::-1]  # (from, to) per block
    for j, ((c_in, h_in, w_in), (c_out, h_out, w_out)) in enumerate(steps):
        extra = tuple(
            size_out - ((size_in - 1) * stride - 2 * pad + kernel_size)
            for size_in, size_out in ((h_in, h_out), (w_in, w_out))
        )
        assert all(0 <= e < max(stride, 1) or (stride == 1 and e == 0) for e in extra), extra
        deconv = nn.ConvTranspose2d(
            c_in, c_out, kernel_size, stride=stride, padding=pad, output_padding=extra
        )
        _init_conv(deconv, init)
        name = out_activation if j == len(steps) - 1 else act
        layers.append(nn.Sequential(deconv, activation(name)))
    layers.append(nn.Flatten())
    return nn.Sequential(*layers)


def resolve_image_shape(image_shape: Sequence[int] | None, n_features: int) -> Sequence[int]:
    """``image_shape``, or the square one ``n_features`` pixels make (else a ValueError)."""
    if image_shape is not None:
        return image_shape
    shape = square_image_shape(n_features)
    if shape is None:
        raise ValueError(
            f"image_shape=None and n_features={n_features} is not a square number of pixels; "
            "give image_shape, e.g. [3, 32, 32]"
        )
    return shape
