"""Regularised autoencoders: denoising, sparse, contractive, k-sparse, winner-take-all, conv.

Each builder assembles an :class:`~codings.models.Autoencoder` from parts: an encoder and a
decoder (dense blocks ``Sequential(Linear, act)`` mirrored, or convolutions from a channel plan),
a training-time corruption, penalties on the codings, or a sparsifying layer at the end of the
encoder. Every builder takes the same regularisation arguments, so the variants combine freely:
``build("denoising", ..., sparsity="kl")`` is a denoising sparse autoencoder and
``build("conv", ..., noise="masking")`` a denoising convolutional one.

Regularisation arguments (all builders)
    noise : None, 'gaussian', 'masking' or 'dropout' -- the training-time corruption
    noise_level : sigma for 'gaussian', the probability for the others (default 0.3)
    sparsity : None, 'l1' or 'kl' -- a penalty on the codings ('kl' needs sigmoid codings)
    sparsity_weight : the penalty's weight (default 0.01 for 'l1', 10 for 'kl')
    sparsity_target : the mean activation 'kl' aims for (default 0.05)
    contractive : the weight of the encoder's squared Jacobian norm (0 turns it off)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from .conv import chw, conv_decoder, conv_encoder, resolve_image_shape
from .layers import activation as make_activation
from .layers import dense_stack, init_linear, mirrored_decoder, parse_sizes
from .losses import l2_penalties
from .models import Autoencoder, register
from .noise import corruption
from .penalties import (
    Contractive,
    KSparse,
    LifetimeSparsity,
    SpatialSparsity,
    check_weight,
    sparsity_penalty,
)

SPARSITY_WEIGHT = {"l1": 0.01, "kl": 10.0}


def regularise(
    model: Autoencoder,
    *,
    noise: str | None = None,
    noise_level: float | None = None,
    sparsity: str | None = None,
    sparsity_weight: float | None = None,
    sparsity_target: float = 0.05,
    contractive: float = 0.0,
    coding_activation: str | None = None,
) -> Autoencoder:
    """Add a corruption and penalties to ``model`` (in place) and return it."""
    model.corruption = corruption(noise, noise_level)
    if sparsity == "kl" and coding_activation != "sigmoid":
        raise ValueError(
            f"sparsity='kl' needs codings in (0, 1), but the coding layer's activation is "
            f"{coding_activation!r}; set coding_activation='sigmoid' or use sparsity='l1'"
        )
    weight = SPARSITY_WEIGHT.get(sparsity, 0.0) if sparsity_weight is None else sparsity_weight
    penalty = sparsity_penalty(sparsity, weight, sparsity_target)
    if penalty is not None:
        model.penalties.append(penalty)
    if check_weight("contractive", contractive) > 0:
        model.penalties.append(Contractive(contractive))
    return model


def _dense(
    n_features: int,
    hidden: Sequence[int],
    latent_dim: int | None,
    activation: str,
    coding_activation: str,
    init: str,
    output: str,
    tied: bool,
    l2: float,
    tail: Sequence[nn.Module] = (),
) -> Autoencoder:
    """Mirrored dense blocks; ``tail`` modules are appended to the coding layer's block."""
    if not isinstance(n_features, int) or n_features <= 0:
        raise ValueError(f"n_features={n_features!r} must be a positive integer")
    sizes = parse_sizes([hidden] if isinstance(hidden, int) else hidden)  # --set hidden=300
    if latent_dim is not None:
        sizes = sizes + (parse_sizes([latent_dim], "latent_dim")[0],)
    encoder = dense_stack(
        (n_features, *sizes), activation, init=init, last_activation=coding_activation
    )
    for module in tail:
        encoder[-1].append(module)  # block stays (Linear, act, ...): block[0] is the layer
    decoder = mirrored_decoder(encoder, activation, init=init, tied=tied)
    return Autoencoder(encoder, decoder, output=output, penalties=l2_penalties(l2))


def _coding_act(coding_activation: str | None, activation: str, sparsity: str | None) -> str:
    if coding_activation is not None:
        return coding_activation
    return "sigmoid" if sparsity == "kl" else activation


@register("denoising")
def denoising(
    n_features: int,
    hidden: Sequence[int] = (300, 150),
    latent_dim: int | None = None,
    activation: str = "elu",
    coding_activation: str | None = None,
    init: str = "he",
    output: str = "linear",
    tied: bool = False,
    l2: float = 0.0,
    noise: str | None = "gaussian",
    noise_level: float | None = 0.3,
    sparsity: str | None = None,
    sparsity_weight: float | None = None,
    sparsity_target: float = 0.05,
    contractive: float = 0.0,
) -> Autoencoder:
    """Stacked autoencoder trained to rebuild clean inputs from corrupted ones (Vincent 2008)."""
    act = _coding_act(coding_activation, activation, sparsity)
    model = _dense(n_features, hidden, latent_dim, activation, act, init, output, tied, l2)
    return regularise(
        model,
        noise=noise,
        noise_level=noise_level,
        sparsity=sparsity,
        sparsity_weight=sparsity_weight,
        sparsity_target=sparsity_target,
        contractive=contractive,
        coding_activation=act,
    )


@register("sparse")
def sparse(
    n_features: int,
    hidden: Sequence[int] = (300,),
    latent_dim: int | None = None,
    activation: str = "elu",
    coding_activation: str | None = None,
    init: str = "he",
    output: str = "linear",
    tied: bool = False,
    l2: float = 0.0,
    noise: str | None = None,
    noise_level: float | None = None,
    sparsity: str | None = "kl",
    sparsity_weight: float | None = None,
    sparsity_target: float = 0.05,
    contractive: float = 0.0,
) -> Autoencoder:
    """Sparse codings: an L1 penalty, or a KL penalty on each unit's mean (sigmoid) activation."""
    if sparsity is None:
        raise ValueError("sparsity=None makes no sparse model; choose 'kl' or 'l1'")
    act = _coding_act(coding_activation, activation, sparsity)
    model = _dense(n_features, hidden, latent_dim, activation, act, init, output, tied, l2)
    return regularise(
        model,
        noise=noise,
        noise_level=noise_level,
        sparsity=sparsity,
        sparsity_weight=sparsity_weight,
        sparsity_target=sparsity_target,
        contractive=contractive,
        coding_activation=act,
    )


@register("contractive")
def contractive(
    n_features: int,
    hidden: Sequence[int] = (256,),
    latent_dim: int | None = None,
    activation: str = "sigmoid",
    coding_activation: str | None = None,
    init: str = "xavier",
    output: str = "linear",
    tied: bool = False,
    l2: float = 0.0,
    noise: str | None = None,
    noise_level: float | None = None,
    sparsity: str | None = None,
    sparsity_weight: float | None = None,
    sparsity_target: float = 0.05,
    contractive: float = 0.1,
) -> Autoencoder:
    """The encoder's squared Jacobian norm as a penalty (Rifai et al. 2011).

    Closed form for one sigmoid layer (the default); exact by autodiff for deeper encoders.
    """
    if not contractive > 0:
        raise ValueError(f"contractive={contractive!r} must be > 0 for a contractive model")
    act = _coding_act(coding_activation, activation, sparsity)
    model = _dense(n_features, hidden, latent_dim, activation, act, init, output, tied, l2)
    return regularise(
        model,
        noise=noise,
        noise_level=noise_level,
        sparsity=sparsity,
        sparsity_weight=sparsity_weight,
        sparsity_target=sparsity_target,
        contractive=contractive,
        coding_activation=act,
    )


@register("ksparse")
def ksparse(
    n_features: int,
    hidden: Sequence[int] = (1000,),
    k: int = 25,
    activation: str = "linear",
    init: str = "xavier",
    output: str = "linear",
    tied: bool = False,
    l2: float = 0.0,
    noise: str | None = None,
    noise_level: float | None = None,
    sparsity: str | None = None,
    sparsity_weight: float | None = None,
    sparsity_target: float = 0.05,
    contractive: float = 0.0,
) -> Autoencoder:
    """Only the k largest codings of each example stay active (Makhzani & Frey 2013)."""
    model = _dense(
        n_features, hidden, None, activation, activation, init, output, tied, l2, [KSparse(k)]
    )
    n_codes = model.encoder[-1][0].out_features
    if k > n_codes:
        raise ValueError(f"k={k} is larger than the {n_codes} codings; choose k <= {n_codes}")
    return regularise(
        model,
        noise=noise,
        noise_level=noise_level,
        sparsity=sparsity,
        sparsity_weight=sparsity_weight,
        sparsity_target=sparsity_target,
        contractive=contractive,
        coding_activation=activation,
    )


@register("wta")
def wta(
    n_features: int,
    hidden: Sequence[int] = (2000,),
    rate: float = 0.05,
    conv: bool = False,
    channels: Sequence[int] = (16, 16),
    kernel_size: int = 5,
    decoder_kernel: int = 11,
    image_shape: Sequence[int] | None = None,
    activation: str = "relu",
    init: str = "he",
    output: str = "linear",
    tied: bool = False,
    l2: float = 0.0,
    noise: str | None = None,
    noise_level: float | None = None,
    sparsity: str | None = None,
    sparsity_weight: float | None = None,
    sparsity_target: float = 0.05,
    contractive: float = 0.0,
) -> Autoencoder:
    """Winner-take-all (Makhzani & Frey 2015): lifetime sparsity, plus spatial if conv=True.

    Dense: each coding unit keeps its ``rate`` largest activations across a training batch.
    Convolutional: stride-1 convolutions (``channels``), then each feature map keeps only its
    largest value (spatial sparsity, always) and each map keeps its ``rate`` best examples
    across the batch (lifetime sparsity, in training); one linear transposed convolution of
    ``decoder_kernel`` pixels decodes. At test time lifetime sparsity is off, as in the paper.
    """
    if not conv:
        model = _dense(
            n_features,
            hidden,
            None,
            activation,
            activation,
            init,
            output,
            tied,
            l2,
            [LifetimeSparsity(rate)],
        )
    else:
        if tied:
            raise ValueError("tied=True is for dense models; the conv WTA decoder is untied")
        _check_odd("kernel_size", kernel_size)
        _check_odd("decoder_kernel", decoder_kernel)
        shape = chw(resolve_image_shape(image_shape, n_features), n_features)
        encoder, shapes = conv_encoder(
            shape, channels, kernel_size=kernel_size, stride=1, act=activation, init=init
        )
        encoder.extend([SpatialSparsity(), LifetimeSparsity(rate), nn.Flatten()])
        deconv = nn.ConvTranspose2d(
            shapes[-1][0], shape[0], decoder_kernel, padding=decoder_kernel // 2
        )
        decoder = nn.Sequential(nn.Unflatten(1, shapes[-1]), nn.Sequential(deconv), nn.Flatten())
        model = Autoencoder(encoder, decoder, output=output, penalties=l2_penalties(l2))
    return regularise(
        model,
        noise=noise,
        noise_level=noise_level,
        sparsity=sparsity,
        sparsity_weight=sparsity_weight,
        sparsity_target=sparsity_target,
        contractive=contractive,
        coding_activation=activation,
    )


def _check_odd(name: str, value: int) -> None:
    if not isinstance(value, int) or value < 1 or value % 2 == 0:
        raise ValueError(f"{name}={value!r} must be an odd positive integer (e.g. 3 or 5)")


@register("conv")
def conv(
    n_features: int,
    image_shape: Sequence[int] | None = None,
    channels: Sequence[int] = (16, 32),
    kernel_size: int = 3,
    stride: int = 2,
    latent_dim: int | None = None,
    activation: str = "relu",
    coding_activation: str | None = None,
    init: str = "he",
    output: str = "linear",
    l2: float = 0.0,
    noise: str | None = None,
    noise_level: float | None = None,
    sparsity: str | None = None,
    sparsity_weight: float | None = None,
    sparsity_target: float = 0.05,
    contractive: float = 0.0,
) -> Autoencoder:
    """Convolutions from a channel plan, mirrored by transposed convolutions (images of any shape).

    Rows are flat images; ``image_shape`` is [H, W] or [C, H, W] (square grey images when
    None). The codings are the last feature maps, flattened, or a dense layer of ``latent_dim``.
    """
    _check_odd("kernel_size", kernel_size)
    if not isinstance(stride, int) or stride < 1:
        raise ValueError(f"stride={stride!r} must be a positive integer (2 halves the maps)")
    shape = chw(resolve_image_shape(image_shape, n_features), n_features)
    encoder, shapes = conv_encoder(
        shape, channels, kernel_size=kernel_size, stride=stride, act=activation, init=init
    )
    decoder = conv_decoder(
        shapes, kernel_size=kernel_size, stride=stride, act=activation, init=init
    )
    encoder.append(nn.Flatten())
    act = _coding_act(coding_activation, activation, sparsity)
    if latent_dim is not None:
        flat = math.prod(shapes[-1])
        size = parse_sizes([latent_dim], "latent_dim")[0]
        down, up = nn.Linear(flat, size), nn.Linear(size, flat)
        init_linear(down, init)
        init_linear(up, init)
        encoder.append(nn.Sequential(down, make_activation(act)))
        decoder.insert(0, nn.Unflatten(1, shapes[-1]))
        decoder.insert(0, nn.Sequential(up, make_activation(activation)))
    else:
        if coding_activation is not None and coding_activation != activation:
            raise ValueError(
                f"coding_activation={coding_activation!r} needs latent_dim (without it the "
                f"codings are the last feature maps, with activation={activation!r})"
            )
        act = activation
        decoder.insert(0, nn.Unflatten(1, shapes[-1]))
    model = Autoencoder(encoder, decoder, output=output, penalties=l2_penalties(l2))
    return regularise(
        model,
        noise=noise,
        noise_level=noise_level,
        sparsity=sparsity,
        sparsity_weight=sparsity_weight,
        sparsity_target=sparsity_target,
        contractive=contractive,
        coding_activation=act,
    )
