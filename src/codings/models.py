"""The autoencoder, assembled from parts, and the registry of named builders.

An :class:`Autoencoder` is an encoder, an optional bottleneck, a decoder, an optional training-
time corruption of the input and a tuple of penalties. It owns its loss: ``model.loss(x)``
returns the total and a dict of named parts, so the training loop never asks what it trains.
Each named model is a builder function registered in ``MODELS``; ``build(name, **kwargs)``
checks the arguments and records them, so a checkpoint can rebuild the model from JSON.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

import torch
from torch import nn

from .errors import suggest
from .layers import dense_stack, init_linear, mirrored_decoder, parse_sizes
from .losses import RECONSTRUCTION, l2_penalties

OUTPUTS = tuple(RECONSTRUCTION)


class Autoencoder(nn.Module):
    """encoder -> [bottleneck] -> decoder, with the loss it is trained on.

    Parameters
    ----------
    encoder, decoder : nn.Module
        Any modules; the decoder returns data for ``output="linear"`` and logits for
        ``output="bernoulli"`` (the sigmoid is applied only in :meth:`decode`).
    output : {"linear", "bernoulli"}
        Linear output with squared error, or Bernoulli logits with cross-entropy.
    bottleneck : nn.Module, optional
        ``bottleneck(h) -> (z, parts)`` during training (``parts``: extra named loss terms, such
        as a KL divergence) and ``bottleneck.encode(h) -> codings`` for inference.
    corruption : nn.Module, optional
        Applied to the input in training mode only (denoising); the target stays clean.
    input_transform : nn.Module, optional
        Applied to the data in training mode only, before the corruption, and it becomes the
        target too: a fresh draw per batch, such as dynamic binarisation
        (:class:`codings.generative.Binarize`).
    penalties : sequence of nn.Module
        Each has a ``name`` and is called as ``penalty(model, x_in, codes)``.
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        *,
        output: str = "linear",
        bottleneck: nn.Module | None = None,
        corruption: nn.Module | None = None,
        penalties: Sequence[nn.Module] = (),
        input_transform: nn.Module | None = None,
    ):
        super().__init__()
        if output not in RECONSTRUCTION:
            raise ValueError(
                f"output={output!r} is not known; choose 'linear' (squared error) or "
                "'bernoulli' (cross-entropy on logits, for data in [0, 1])"
                + suggest(output, OUTPUTS)
            )
        self.encoder = encoder
        self.bottleneck = bottleneck
        self.decoder = decoder
        self.corruption = corruption
        self.input_transform = input_transform
        self.penalties = nn.ModuleList(penalties)
        self.output = output
        self.config: dict = {}  # filled by build(): {"name": ..., "kwargs": {...}}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The codings of ``x`` (deterministic: the mean for a stochastic bottleneck)."""
        h = self.encoder(x)
        return h if self.bottleneck is None else self.bottleneck.encode(h)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codings -> data space."""
        return self.to_data(self.decoder(z))

    def to_data(self, out: torch.Tensor) -> torch.Tensor:
        """The decoder's output (logits for ``output="bernoulli"``) in data space."""
        return torch.sigmoid(out) if self.output == "bernoulli" else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction of ``x``, in data space."""
        return self.decode(self.encode(x))

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss and its named parts, each summed over features and averaged over the batch."""
        total, parts, _ = self.loss_and_logits(x)
        return total, parts

    def loss_and_logits(self, x: torch.Tensor):
        """``loss(x)`` and the decoder's output it was computed from (before the output map)."""
        if self.input_transform is not None and self.training:
            x = self.input_transform(x)  # the new data: input and target alike
        x_in = self.corruption(x) if (self.corruption is not None and self.training) else x
        h = self.encoder(x_in)
        extra: dict[str, torch.Tensor] = {}
        if self.bottleneck is None:
            z = h
        else:
            z, extra = self.bottleneck(h)
        logits = self.decoder(z)
        parts = {"reconstruction": RECONSTRUCTION[self.output](logits, x), **extra}
        for penalty in self.penalties:
            parts[penalty.name] = penalty(self, x_in, z)
        total = sum(parts.values())
        return total, parts, logits


# --- the registry ----------------------------------------------------------------------------

MODELS: dict[str, Callable[..., Autoencoder]] = {}


def register(name: str) -> Callable:
    """Decorator: add a builder to ``MODELS`` under ``name`` (also the command line's word)."""

    def deco(fn: Callable[..., Autoencoder]) -> Callable[..., Autoencoder]:
        if name in MODELS:
            raise ValueError(f"a model named {name!r} is already registered")
        MODELS[name] = fn
        return fn

    return deco


# Modules whose builders register themselves on import; loaded before a name is looked up.
BUILDER_MODULES = ("regularised", "generative", "classifier", "sequences", "tables")


def load_builders() -> dict[str, Callable[..., Autoencoder]]:
    """Import every module that registers builders; return the full registry."""
    import importlib

    for module in BUILDER_MODULES:
        importlib.import_module(f"{__package__}.{module}")
    return MODELS


def check_name(name: str) -> str:
    if name not in MODELS:
        load_builders()
    if name not in MODELS:
        raise ValueError(
            f"model {name!r} is not known; choose one of {', '.join(sorted(MODELS))}"
            + suggest(name, MODELS)
        )
    return name


def builder_params(name: str) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(MODELS[check_name(name)]).parameters)


def build(name: str, *, seed: int | None = None, **kwargs) -> Autoencoder:
    """Build the registered model ``name`` with keyword arguments.

    ``seed`` makes the initial weights reproducible without touching the caller's global RNG.
    """
    params = builder_params(name)
    for key in kwargs:
        if key not in params:
            raise TypeError(
                f"model {name!r} takes no argument {key!r}; its arguments are "
                f"{', '.join(params)}" + suggest(key, params)
            )
    missing = [
        k for k, p in params.items() if p.default is inspect.Parameter.empty and k not in kwargs
    ]
    if missing:
        raise TypeError(f"model {name!r} needs {', '.join(missing)} (e.g. n_features=784)")
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        model = MODELS[name](**kwargs)
    model.config = {"name": name, "kwargs": _jsonable(kwargs)}
    return model


def _jsonable(kwargs: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}


def _check_positive(name: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name}={value!r} must be a positive integer")
    return value


@register("linear")
def linear(n_features: int, latent_dim: int = 2, output: str = "linear") -> Autoencoder:
    """One linear layer each way. With squared error its codings span the PCA subspace."""
    _check_positive("n_features", n_features)
    _check_positive("latent_dim", latent_dim)
    enc = nn.Linear(n_features, latent_dim)
    dec = nn.Linear(latent_dim, n_features)
    for layer in (enc, dec):
        init_linear(layer, "xavier")
    return Autoencoder(enc, dec, output=output)


@register("stacked")
def stacked(
    n_features: int,
    hidden: Sequence[int] = (300, 150),
    latent_dim: int | None = None,
    activation: str = "elu",
    init: str = "he",
    output: str = "linear",
    l2: float = 0.0,
    tied: bool = False,
    coding_activation: str | None = None,
) -> Autoencoder:
    """A deep autoencoder: ``hidden`` (then ``latent_dim``, if given) mirrored for the decoder.

    The last encoder layer is the coding layer; ``coding_activation`` is its activation (None:
    ``activation``; "linear": linear code units, as in Hinton and Salakhutdinov, 2006).
    ``tied=True`` makes each decoder layer use the transpose of its mirror's weight. ``l2`` weighs
    the sum of squared weights against the per-example loss (see
    :class:`codings.losses.L2Penalty` for the seed's scale).
    """
    _check_positive("n_features", n_features)
    sizes = parse_sizes(hidden)
    if latent_dim is not None:
        sizes = sizes + (_check_positive("latent_dim", latent_dim),)
    encoder = dense_stack(
        (n_features, *sizes), activation, init=init, last_activation=coding_activation
    )
    decoder = mirrored_decoder(encoder, activation, init=init, tied=tied)
    penalties = l2_penalties(l2)
    return Autoencoder(encoder, decoder, output=output, penalties=penalties)
