"""Sequence autoencoders: a recurrent one (LSTM or GRU) and a 1-D convolutional one.

A sequence is ``T`` time steps of ``C`` channels. The models take it as a tensor (B, T, C) or as
flat rows (B, T*C), the form every other part of codings moves (training, inference,
checkpoints, the estimators, export), and give back what they were given: ``model(x)`` has
``x``'s shape, the codings are (B, K) either way. Flat rows are read time step by time step (row
``[x_00, x_01, ..., x_0C, x_10, ...]``, NumPy's ``reshape(n, T * C)`` of a (n, T, C) array).

``recurrent`` is the chapter's sequence autoencoder as its later editions give it (Fashion-MNIST
read as 28 time steps of 28 pixels): recurrent encoder layers, the last one's final state is the
coding, the coding is repeated at every time step, recurrent decoder layers and a linear
read-out per time step (Keras' ``RepeatVector`` and ``TimeDistributed(Dense)``). ``conv1d``
halves the time axis with strided 1-D convolutions, a dense layer makes the coding, and
transposed convolutions undo it.

Both take the regularisers of the dense builders where they mean something: a training-time
input corruption (``noise``), an L1 or KL sparsity penalty on the codings, ``l2`` weight decay,
and for ``conv1d`` the contractive penalty; they are the same parts (:mod:`codings.noise`,
:mod:`codings.penalties`), added by the dense builders' own ``regularised.regularise``; this
module sits in the layer above the dense families so that it can call it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .conv import _init_conv, _out_size
from .errors import suggest
from .layers import activation as make_activation
from .layers import check_init, init_linear, parse_sizes
from .losses import l2_penalties
from .models import Autoencoder, register
from .regularised import regularise

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}
LATENT_DIM = 30  # the chapter's Fashion-MNIST coding size


def resolve_sequence_shape(sequence_shape: Sequence[int] | None, n_features: int) -> tuple:
    """``(T, C)`` from ``sequence_shape`` ([T, C], [T] for one channel, or None: one channel,
    ``T = n_features``), checked against ``n_features``."""
    if sequence_shape is None:
        return (n_features, 1)
    if isinstance(sequence_shape, int) and not isinstance(sequence_shape, bool):
        sequence_shape = [sequence_shape]  # --set sequence_shape=64
    try:
        dims = tuple(int(d) for d in sequence_shape)
        exact = all(int(d) == d for d in sequence_shape)
    except (TypeError, ValueError):
        dims, exact = (), False
    if len(dims) == 1:
        dims = (*dims, 1)
    if len(dims) != 2 or not exact or any(d <= 0 for d in dims):
        raise ValueError(
            f"sequence_shape={sequence_shape!r} must be [time steps, channels] (or [time steps] "
            "for one channel), e.g. [28, 28] for Fashion-MNIST read row by row, [64, 1] for "
            "windows of one series"
        )
    if math.prod(dims) != n_features:
        raise ValueError(
            f"sequence_shape={list(sequence_shape)} has {math.prod(dims)} values but "
            f"n_features={n_features}; give the (time steps, channels) of the sequences the rows "
            "hold"
        )
    return dims


class SequenceAutoencoder(Autoencoder):
    """An :class:`~codings.models.Autoencoder` for sequences given as (B, T, C) or (B, T*C).

    Why a subclass: the library's other models map rows to rows, and the Autoencoder compares
    the decoder's output with its input as they come. Here the encoder reads either shape, the
    decoder gives flat rows (B, T*C), and two methods put the result back in the input's shape:
    ``forward`` (the reconstruction) and ``loss_and_logits`` (the loss on flat rows, the logits
    in the input's shape, as ``codings.evaluate`` compares them). ``encode`` and ``decode`` are
    the Autoencoder's: codings (B, K), and flat rows (B, T*C) from codings.
    """

    def __init__(self, encoder, decoder, *, sequence_shape: tuple[int, int], **kw):
        super().__init__(encoder, decoder, **kw)
        self.sequence_shape = tuple(sequence_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).reshape(x.shape)  # (B, T*C) -> x's (B, T, C) or (B, T*C)

    def loss_and_logits(self, x: torch.Tensor):
        total, parts, logits = super().loss_and_logits(x.reshape(x.shape[0], -1))
        return total, parts, logits.reshape(x.shape)


class ToSequence(nn.Module):
    """(B, T*C) or (B, T, C) -> (B, T, C)."""

    def __init__(self, steps: int, channels: int):
        super().__init__()
        self.steps, self.channels = steps, channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], self.steps, self.channels)

    def extra_repr(self) -> str:
        return f"steps={self.steps}, channels={self.channels}"


class Recurrent(nn.Module):
    """Recurrent layers one after another, ``sizes = (C, h1, ..., hk)``: (B, T, C) -> (B, T, hk).

    One ``nn.LSTM``/``nn.GRU`` per layer (rather than one with ``num_layers``) so that the
    layers may differ in width, as the chapter's 100 -> 30 encoder does.
    """

    def __init__(self, cell: str, sizes: Sequence[int], init: str = "xavier"):
        super().__init__()
        rnn = CELLS[cell]
        self.layers = nn.ModuleList(
            rnn(n_in, n_out, batch_first=True)
            for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
        )
        for layer in self.layers:
            init_recurrent(layer, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x, _ = layer(x)  # (B, T, n_in) -> (B, T, n_out), every step's output
        return x


def init_recurrent(layer: nn.LSTM | nn.GRU, init: str) -> None:
    """Keras' recurrent initialisation for any ``init`` but "torch" (PyTorch's own uniform):
    the input weights by ``init``'s rule ("xavier": Glorot uniform; "he"/"lecun": a normal of
    variance 2 or 1 over fan-in), the recurrent weights orthogonal (Saxe et al. 2014), biases
    zero but an LSTM's forget gate's at 1 (Jozefowicz et al. 2015), so that early in training
    the cell keeps its state. On Fashion-MNIST rows this trains faster than PyTorch's default
    (BENCHMARKS.md, "Sequence autoencoders")."""
    check_init(init)
    if init == "torch":
        return
    with torch.no_grad():
        w_ih, w_hh = layer.weight_ih_l0, layer.weight_hh_l0  # (G*H, C), (G*H, H)
        if init == "xavier":
            nn.init.xavier_uniform_(w_ih)
        else:
            w_ih.normal_(0.0, math.sqrt((2.0 if init == "he" else 1.0) / w_ih.shape[1]))
        nn.init.orthogonal_(w_hh)
        layer.bias_ih_l0.zero_()
        layer.bias_hh_l0.zero_()
        if isinstance(layer, nn.LSTM):
            size = layer.hidden_size
            layer.bias_ih_l0[size : 2 * size] = 1.0  # gates i, f, g, o: f's bias


class LastStep(nn.Module):
    """(B, T, H) -> (B, H): the state after the last time step (Keras' return_sequences=False)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, -1]


class Repeat(nn.Module):
    """(B, K) -> (B, T, K): the coding at every time step (Keras' RepeatVector)."""

    def __init__(self, steps: int):
        super().__init__()
        self.steps = steps

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z.unsqueeze(1).expand(-1, self.steps, -1)

    def extra_repr(self) -> str:
        return f"steps={self.steps}"


class ChannelsFirst(nn.Module):
    """(B, T, C) <-> (B, C, T), the layout of ``nn.Conv1d``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2)


def _check_cell(cell: str) -> str:
    if cell not in CELLS:
        raise ValueError(
            f"cell={cell!r} is not known; choose 'lstm' or 'gru'" + suggest(str(cell), CELLS)
        )
    return cell


def _latent_size(latent_dim: int | None, n_features: int) -> int:
    """``latent_dim``, or by default the chapter's 30 codings, at most half the input's values
    (a coding as wide as the input could copy it)."""
    if latent_dim is None:
        return max(1, min(LATENT_DIM, n_features // 2))
    return parse_sizes([latent_dim], "latent_dim")[0]


def _check_bottleneck(size: int, n_features: int, what: str, noise, sparsity) -> None:
    """A coding as wide as the input lets the model copy it; refused unless regularised."""
    if size >= n_features and noise in (None, "none") and sparsity in (None, "none"):
        raise ValueError(
            f"{what} gives {size} codings for sequences of {n_features} values: the model can "
            f"copy its input and learns nothing; choose latent_dim < {n_features}, or add "
            "noise or sparsity"
        )


@register("recurrent")
def recurrent(
    n_features: int,
    sequence_shape: Sequence[int] | None = None,
    cell: str = "lstm",
    hidden: Sequence[int] = (100,),
    latent_dim: int | None = None,
    init: str = "xavier",
    output: str = "linear",
    l2: float = 0.0,
    noise: str | None = None,
    noise_level: float | None = None,
    sparsity: str | None = None,
    sparsity_weight: float | None = None,
    sparsity_target: float = 0.05,
) -> Autoencoder:
    """Recurrent (LSTM or GRU) encoder to a coding, repeated over time, recurrent decoder.

    Sequences of ``sequence_shape`` = [time steps, channels] (None: one channel). The encoder's
    recurrent layers have ``hidden`` then ``latent_dim`` units (None: 30, at most half a
    sequence's values); the last one's final state is the coding. The decoder's layers mirror
    ``hidden`` (one layer of ``latent_dim`` units when ``hidden`` is empty) and read the coding
    at every step; a linear layer per step gives the channels
    (logits for ``output='bernoulli'``). The defaults are the chapter's Fashion-MNIST model
    (LSTM 100 -> 30, LSTM 100) with Keras' initialisation (``init='torch'``: PyTorch's).
    """
    if not isinstance(n_features, int) or isinstance(n_features, bool) or n_features <= 0:
        raise ValueError(f"n_features={n_features!r} must be a positive integer")
    steps, channels = resolve_sequence_shape(sequence_shape, n_features)
    _check_cell(cell)
    sizes = parse_sizes([hidden] if isinstance(hidden, int) else hidden) if hidden else ()
    size = _latent_size(latent_dim, n_features)
    _check_bottleneck(size, n_features, f"latent_dim={size}", noise, sparsity)
    encoder = nn.Sequential(
        ToSequence(steps, channels), Recurrent(cell, (channels, *sizes, size), init), LastStep()
    )
    back = tuple(reversed(sizes)) or (size,)
    readout = nn.Linear(back[-1], channels)  # applied to each time step: (B, T, H) -> (B, T, C)
    init_linear(readout, init)
    decoder = nn.Sequential(
        Repeat(steps), Recurrent(cell, (size, *back), init), readout, nn.Flatten(1)
    )
    model = SequenceAutoencoder(
        encoder,
        decoder,
        sequence_shape=(steps, channels),
        output=output,
        penalties=l2_penalties(l2),
    )
    if sparsity == "kl":
        final = "tanh" if cell == "gru" else "an LSTM's output, in (-1, 1)"
        raise ValueError(
            "sparsity='kl' needs codings in (0, 1), but these codings are the last recurrent "
            f"layer's state ({final}); use sparsity='l1'"
        )
    return regularise(
        model,
        noise=noise,
        noise_level=noise_level,
        sparsity=sparsity,
        sparsity_weight=sparsity_weight,
        sparsity_target=sparsity_target,
    )


@register("conv1d")
def conv1d(
    n_features: int,
    sequence_shape: Sequence[int] | None = None,
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
    """1-D convolutions over time (``channels``, strided) to a coding, transposed ones back.

    Sequences of ``sequence_shape`` = [time steps, channels] (None: one channel). Each layer
    divides the time axis by ``stride``; a dense layer of ``latent_dim`` units (None: 30, at
    most half a sequence's values) with ``coding_activation`` (default: ``activation``, sigmoid
    for ``sparsity='kl'``) makes the coding.
    """
    if not isinstance(n_features, int) or isinstance(n_features, bool) or n_features <= 0:
        raise ValueError(f"n_features={n_features!r} must be a positive integer")
    steps, c_in = resolve_sequence_shape(sequence_shape, n_features)
    if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size={kernel_size!r} must be an odd positive integer (e.g. 3)")
    if not isinstance(stride, int) or isinstance(stride, bool) or stride < 1:
        raise ValueError(f"stride={stride!r} must be a positive integer (2 halves the time axis)")
    plan = parse_sizes([channels] if isinstance(channels, int) else channels, "channels")
    pad = kernel_size // 2
    encoder: nn.Sequential = nn.Sequential(ToSequence(steps, c_in), ChannelsFirst())
    shapes = [(c_in, steps)]  # (channels, time steps) before each layer and after the last
    for c_out in plan:
        c, t = shapes[-1]
        conv = nn.Conv1d(c, c_out, kernel_size, stride=stride, padding=pad)
        _init_conv(conv, init)
        encoder.append(nn.Sequential(conv, make_activation(activation)))
        t = _out_size(t, kernel_size, stride, pad)
        if t < 1:
            raise ValueError(
                f"channels={list(plan)} with stride={stride} shrinks {steps} time steps to "
                "nothing; use fewer layers or stride=1"
            )
        shapes.append((c_out, t))
    encoder.append(nn.Flatten(1))
    flat = math.prod(shapes[-1])
    size = _latent_size(latent_dim, n_features)
    _check_bottleneck(size, n_features, f"latent_dim={size}", noise, sparsity)
    coding_act = coding_activation or ("sigmoid" if sparsity == "kl" else activation)
    down, up = nn.Linear(flat, size), nn.Linear(size, flat)
    init_linear(down, init)
    init_linear(up, init)
    encoder.append(nn.Sequential(down, make_activation(coding_act)))
    decoder = nn.Sequential(nn.Sequential(up, make_activation(activation)))
    decoder.append(nn.Unflatten(1, shapes[-1]))
    steps_back = list(zip(shapes[1:], shapes[:-1], strict=True))[::-1]  # (from, to) per layer
    for j, ((ci, ti), (co, to)) in enumerate(steps_back):
        # output_padding restores odd lengths: a stride-2 convolution maps 7 and 8 steps to 4
        extra = to - ((ti - 1) * stride - 2 * pad + kernel_size)
        deconv = nn.ConvTranspose1d(
            ci, co, kernel_size, stride=stride, padding=pad, output_padding=extra
        )
        _init_conv(deconv, init)
        last = j == len(steps_back) - 1
        decoder.append(nn.Sequential(deconv, make_activation("linear" if last else activation)))
    decoder.extend([ChannelsFirst(), nn.Flatten(1)])  # (B, C, T) -> (B, T, C) -> (B, T*C)
    model = SequenceAutoencoder(
        encoder,
        decoder,
        sequence_shape=(steps, c_in),
        output=output,
        penalties=l2_penalties(l2),
    )
    return regularise(
        model,
        noise=noise,
        noise_level=noise_level,
        sparsity=sparsity,
        sparsity_weight=sparsity_weight,
        sparsity_target=sparsity_target,
        contractive=contractive,
        coding_activation=coding_act,
    )
