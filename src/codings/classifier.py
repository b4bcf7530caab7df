"""The classifier model: an autoencoder's encoder (and bottleneck) with a softmax head.

Registered as the builder ``"classifier"``; its arguments name the autoencoder's builder and
arguments, so a checkpoint rebuilds it like any other model. Its batches are labelled rows (the
features with the class label as the last column); training and prediction live in
:mod:`codings.classify`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .layers import dense_stack, init_linear, parse_sizes
from .models import build, register

__all__ = ["Classifier", "classifier", "classifier_for"]


def _split(batch: torch.Tensor, n_features: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, D + 1) labelled rows -> features (B, D) and labels (B,)."""
    if batch.ndim != 2 or batch.shape[1] != n_features + 1:
        raise ValueError(
            f"a classifier trains on labelled rows: {n_features} features with the class label "
            f"appended as the last column ({n_features + 1} columns); got shape "
            f"{tuple(batch.shape)}. Make them with codings.classify.labelled(X, y), or use "
            "codings.train_classifier / `codings classify`"
        )
    return batch[:, :-1], batch[:, -1].long()


def _cross_entropy(logits: torch.Tensor, y: torch.Tensor):
    ce = F.cross_entropy(logits, y)  # mean over the batch of -log p(y | x), in nats
    accuracy = (logits.detach().argmax(1) == y).float().mean()
    return ce, {"cross_entropy": ce, "accuracy": accuracy}


class Classifier(nn.Module):
    """encoder -> [bottleneck] -> head -> logits; trained on labelled rows (see module doc)."""

    def __init__(
        self,
        encoder: nn.Module,
        head: nn.Module,
        *,
        n_features: int,
        n_classes: int,
        bottleneck: nn.Module | None = None,
    ):
        super().__init__()
        self.encoder = encoder
        self.bottleneck = bottleneck
        self.head = head
        self.n_features = n_features
        self.n_classes = n_classes
        self.config: dict = {}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The pretrained (or fine-tuned) encoder's codings of ``x``."""
        h = self.encoder(x)
        return h if self.bottleneck is None else self.bottleneck.encode(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encode(x))  # (B, D) -> (B, n_classes) logits

    def loss(self, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, y = _split(batch, self.n_features)
        return _cross_entropy(self(x), y)


class _HeadOnCodings(nn.Module):
    """The head alone, trained on cached codings with the label as the last column."""

    def __init__(self, head: nn.Module, n_codings: int):
        super().__init__()
        self.head = head
        self.n_codings = n_codings

    def loss(self, batch: torch.Tensor):
        z, y = _split(batch, self.n_codings)
        return _cross_entropy(self.head(z), y)


def _head_sizes(hidden) -> tuple[int, ...]:
    if hidden is None or (not isinstance(hidden, str) and len(hidden) == 0) or hidden == "":
        return ()
    return parse_sizes(hidden, "hidden")


@register("classifier")
def classifier(
    n_features: int,
    n_classes: int = 10,
    hidden: Sequence[int] = (100, 50),
    encoder: str = "stacked",
    encoder_kwargs: dict | None = None,
    activation: str = "elu",
    init: str = "he",
    dropout: float = 0.0,
) -> Classifier:
    """A softmax classifier on the encoder of autoencoder ``encoder(**encoder_kwargs)``.

    ``hidden`` are the head's dense layers between the codings and the ``n_classes`` logits
    (empty: softmax regression on the codings); ``dropout`` drops that share of the inputs of
    each of the head's layers in training (Srivastava et al. 2014; 0: none).
    """
    from .models import MODELS

    if not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"n_classes={n_classes!r} must be a whole number >= 2")
    if encoder not in MODELS or encoder == "classifier":
        raise ValueError(
            f"encoder={encoder!r} must name an autoencoder builder, one of "
            f"{', '.join(sorted(k for k in MODELS if k != 'classifier'))}"
        )
    kw = dict(encoder_kwargs or {})
    if kw.setdefault("n_features", n_features) != n_features:
        raise ValueError(
            f"encoder_kwargs has n_features={kw['n_features']} but the classifier has "
            f"n_features={n_features}; they must agree"
        )
    ae = build(encoder, **kw)
    with torch.no_grad():
        n_codings = ae.encode(torch.zeros(1, n_features)).shape[1]
    sizes = _head_sizes(hidden)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout={dropout!r} must be in [0, 1); 0 turns it off")
    layers: list[nn.Module] = []
    for block in dense_stack((n_codings, *sizes), activation, init=init) if sizes else []:
        layers += [nn.Dropout(dropout), block] if dropout else [block]
    out = nn.Linear(sizes[-1] if sizes else n_codings, n_classes)
    init_linear(out, init)
    layers += [nn.Dropout(dropout), out] if dropout else [out]
    return Classifier(
        ae.encoder,
        nn.Sequential(*layers),
        n_features=n_features,
        n_classes=n_classes,
        bottleneck=ae.bottleneck,
    )


def classifier_for(
    autoencoder: nn.Module,
    *,
    n_classes: int = 10,
    hidden: Sequence[int] = (100, 50),
    activation: str = "elu",
    init: str = "he",
    dropout: float = 0.0,
    pretrained: bool = True,
    seed: int = 0,
) -> Classifier:
    """A :func:`classifier` on ``autoencoder``'s architecture, with its encoder's weights copied
    in (``pretrained=True``) or left at a fresh random initialisation (``False``).

    The autoencoder must come from :func:`codings.build` or :func:`codings.load`.
    """
    config = getattr(autoencoder, "config", None) or {}
    if "name" not in config or "n_features" not in config.get("kwargs", {}):
        raise ValueError(
            "autoencoder must be a model made by codings.build() or codings.load() with an "
            "n_features argument, so that its encoder can be rebuilt inside the classifier"
        )
    clf = build(
        "classifier",
        seed=seed,
        n_features=config["kwargs"]["n_features"],
        n_classes=n_classes,
        hidden=tuple(_head_sizes(hidden)),
        encoder=config["name"],
        encoder_kwargs=dict(config["kwargs"]),
        activation=activation,
        init=init,
        dropout=dropout,
    )
    if pretrained:
        clf.encoder.load_state_dict(autoencoder.encoder.state_dict())
        if clf.bottleneck is not None:
            clf.bottleneck.load_state_dict(autoencoder.bottleneck.state_dict())
    return clf
