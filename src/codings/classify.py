"""A classifier on top of a pretrained encoder: frozen codings, fine-tuned, or from scratch.

The classifier is the autoencoder's encoder (and bottleneck, if any) followed by a head of dense
blocks (ELU, He init, as in the seed) and a linear layer giving the logits of a softmax. It is
the registered model ``"classifier"``: its arguments name the autoencoder's builder and
arguments, so a checkpoint rebuilds it like any other model.

Training reuses :func:`codings.fit`, which passes the model only one tensor per batch. The
classifier's batches are therefore *labelled rows*: the features with the class label appended
as the last column (:func:`labelled`), and ``Classifier.loss(batch)`` splits them again. Labels
are small integers, exact in float32. The loss parts are the cross-entropy (the total; nats per
example) and the accuracy, which is reported but not optimised.

Three modes (:data:`MODES`):

* ``frozen``: the codings of the training rows are computed once; only the head is trained on
  them (the encoder cannot change: the head is trained as a module of its own).
* ``finetune``: encoder and head are trained together, starting from the pretrained encoder.
* ``scratch``: the same network from random weights, for comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import layerwise as _layerwise  # imported first, its tour step comes first
from .layers import dense_stack, init_linear, parse_sizes
from .models import build, register
from .options import UNSET, TrainOptions, refuse
from .options import resolve as resolve_options
from .progress import as_reporter
from .tour import Row, Tour, step
from .train import History, as_tensor, fit, resolve_device

__all__ = [
    "MODES",
    "Classifier",
    "classifier_for",
    "features",
    "labelled",
    "predict",
    "score",
    "stratified_subset",
    "train_classifier",
]

MODES = ("frozen", "finetune", "scratch")


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


def labelled(X, y) -> torch.Tensor:
    """(n, d) features and (n,) integer labels -> (n, d + 1) rows with the label last."""
    X = as_tensor(X)
    y_np = _labels(y, len(X))
    return torch.cat(
        [X.reshape(len(X), -1), torch.from_numpy(y_np).float().to(X.device)[:, None]], 1
    )


def _labels(y, n: int, name: str = "y") -> np.ndarray:
    y = np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"{name} must be a 1-D array of {n} labels (one per row); got {y.shape}")
    if y.size and (not np.all(np.equal(np.mod(y, 1), 0)) or y.min() < 0):
        raise ValueError(
            f"{name} must hold class indices 0, 1, 2, ...; encode other labels first "
            "(e.g. sklearn.preprocessing.LabelEncoder)"
        )
    return y.astype(np.int64)


@torch.no_grad()
def _encode(clf: Classifier, X: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    was = clf.training
    clf.eval()
    try:
        return torch.cat([clf.encode(X[i : i + batch_size]) for i in range(0, len(X), batch_size)])
    finally:
        clf.train(was)


#: What classifier training cannot honour, and why (it refuses them, never drops them).
REFUSED = {
    "checkpoint": "it trains in several stages; save the classifier after it",
    "resume": "it trains in several stages; train again",
    "chunk_size": "the labelled rows are held in memory",
}


def train_classifier(
    autoencoder: nn.Module,
    X,
    y,
    *,
    X_val=None,
    y_val=None,
    mode: str = "frozen",
    hidden: Sequence[int] = (100, 50),
    dropout: float = 0.0,
    n_classes: int | None = None,
    options: TrainOptions | None = None,
    epochs: int = UNSET,
    batch_size: int = UNSET,
    lr: float = UNSET,
    optimizer: str = UNSET,
    lr_schedule: str = UNSET,
    weight_decay: float = UNSET,
    patience: int | None = UNSET,
    anneal_epochs: int = 0,
    head_first: bool = True,
    finetune_lr: float | None = None,
    seed: int = UNSET,
    callbacks=(),
    device: str | torch.device | None = UNSET,
    progress=UNSET,
) -> tuple[Classifier, History]:
    """Put a classifier on ``autoencoder``'s encoder and train it on ``(X, y)``.

    ``mode`` is ``"frozen"`` (codings computed once, only the head trained), ``"finetune"``
    (everything trained, from the pretrained encoder) or ``"scratch"`` (everything trained, from
    random weights). With ``head_first`` (the default), fine-tuning first trains the head on the
    frozen codings, exactly as ``"frozen"`` does, and then everything at ``finetune_lr``
    (default ``lr / 10``), so that a random head's first gradients do not wreck the pretrained
    encoder; without it, or from scratch, everything trains at ``lr`` (or ``finetune_lr``).
    Each stage runs up to ``epochs``; ``patience`` stops a stage early on the validation
    cross-entropy and restores its best epoch; ``anneal_epochs`` then adds up to that many
    epochs of the last stage at a tenth of its rate. ``optimizer`` and ``lr_schedule`` are
    :func:`codings.fit`'s, applied to every stage (``"cosine"`` decays each stage's rate over its
    own epochs). ``n_classes`` defaults to the largest label seen plus one. ``callbacks`` go to
    :func:`codings.fit` (e.g. to print each epoch); ``progress`` too, and each stage is announced
    on it (``stage 1/2: head``).

    ``options`` (a :class:`codings.options.TrainOptions`) gives every stage's training options
    at once, in place of the keywords ``epochs`` (default 20, per stage), ``batch_size`` (64),
    ``lr``, ``optimizer``, ``lr_schedule``, ``weight_decay``, ``patience``, ``seed``, ``device``
    and ``progress`` (not both); ``clip_norm``, ``precision``, ``threads``, ``restore_best``
    and ``step="autograd"`` apply to every stage. ``checkpoint``, ``resume``, ``chunk_size``
    and ``step="fused"`` are refused (several stages, labelled rows in memory, no fused step
    for a classifier).

    Returns the classifier (in evaluation mode) and its history: ``train_/val_`` ``loss``,
    ``cross_entropy`` and ``accuracy``, with each record's ``stage`` and ``lr``.
    """
    from .errors import suggest

    if mode not in MODES:
        raise ValueError(
            f"mode={mode!r} is not known; choose frozen (train the head on fixed codings), "
            "finetune (train everything) or scratch (random weights)" + suggest(mode, MODES)
        )
    if options is None:  # this function's own defaults, where they differ from fit's
        epochs = 20 if epochs is UNSET else epochs
        batch_size = 64 if batch_size is UNSET else batch_size
    o = resolve_options(
        options, "train_classifier", epochs=epochs, batch_size=batch_size, lr=lr,
        optimizer=optimizer, lr_schedule=lr_schedule, weight_decay=weight_decay,
        patience=patience, seed=seed, device=device, progress=progress,
    )  # fmt: skip
    refuse(o, "train_classifier", REFUSED)
    if o.step == "fused":
        raise ValueError(
            "train_classifier does not take step='fused' (the fused step trains plain "
            "autoencoders, not classifiers); use step='auto' or 'autograd'"
        )
    epochs, lr, seed, progress = o.epochs, o.lr, o.seed, o.progress
    dev = resolve_device(o.device)
    X = as_tensor(X, dev)
    y = _labels(y, len(X))
    has_val = X_val is not None
    if has_val != (y_val is not None):
        raise ValueError("give both X_val and y_val, or neither")
    if has_val:
        X_val = as_tensor(X_val, dev, name="X_val")
        y_val = _labels(y_val, len(X_val), "y_val")
    if n_classes is None:
        n_classes = int(max(y.max(), y_val.max() if has_val else 0)) + 1
    clf = classifier_for(
        autoencoder,
        n_classes=n_classes,
        hidden=hidden,
        dropout=dropout,
        pretrained=mode != "scratch",
        seed=seed,
    ).to(dev)
    rows, rows_val = labelled(X, y), labelled(X_val, y_val) if has_val else None
    stages = []  # (name, module, rows, validation rows, learning rate)
    if mode == "frozen" or (mode == "finetune" and head_first):
        Z = _encode(clf, X)  # (N, D) -> (N, K): computed once
        Zv = labelled(_encode(clf, X_val), y_val) if has_val else None
        stages.append(("head", _HeadOnCodings(clf.head, Z.shape[1]), labelled(Z, y), Zv, lr))
    if mode != "frozen":
        if finetune_lr is None:
            finetune_lr = lr / 10 if (mode == "finetune" and head_first) else lr
        stages.append(("all", clf, rows, rows_val, finetune_lr))
    if anneal_epochs:
        # A last stage at a tenth of the rate (a step decay), from the best weights so far.
        name, module, r, rv, rate = stages[-1]
        stages.append((name + ", annealed", module, r, rv, rate / 10))
    history = History()
    bar = as_reporter(progress)
    for i, (name, module, r, rv, rate) in enumerate(stages):
        stage_epochs = anneal_epochs if name.endswith("annealed") else epochs
        if bar is not None:
            bar.note(f"stage {i + 1}/{len(stages)}: {name}")
        done = len(history)

        def tag(record: dict, done=done, name=name, rate=rate) -> dict:
            return {**record, "epoch": done + record["epoch"], "stage": name, "lr": rate}

        # Callbacks see the epochs counted over all stages, and each record's stage.
        staged = [
            lambda e, rec, m, cb=cb, tag=tag: cb(tag(rec)["epoch"], tag(rec), m) for cb in callbacks
        ]
        stage = replace(o, epochs=stage_epochs, lr=rate, seed=seed + i, device=dev, progress=bar)
        run = fit(module, r, X_val=rv, options=stage, callbacks=staged)
        history.records += [tag(rec) for rec in run.records]
    return clf.eval(), history


@torch.no_grad()
def predict(clf: Classifier, X, *, batch_size: int = 4096) -> np.ndarray:
    """Predicted class of each row of ``X``, through the whole network (encoder and head)."""
    clf.eval()
    X = as_tensor(X, next(clf.parameters()).device)
    logits = torch.cat([clf(X[i : i + batch_size]) for i in range(0, len(X), batch_size)])
    return logits.argmax(1).cpu().numpy()


@torch.no_grad()
def score(clf: Classifier, X, y, *, batch_size: int = 4096) -> dict[str, float]:
    """``{"cross_entropy", "accuracy"}`` of ``clf`` on ``(X, y)``, through the whole network
    (encoder and head, evaluation mode), averaged over the rows."""
    clf.eval()
    X = as_tensor(X, next(clf.parameters()).device)
    y = torch.from_numpy(_labels(y, len(X))).to(X.device)
    ce = correct = 0.0
    for i in range(0, len(X), batch_size):
        logits = clf(X[i : i + batch_size])  # (B, D) -> (B, C)
        ce += float(F.cross_entropy(logits, y[i : i + batch_size], reduction="sum"))
        correct += float((logits.argmax(1) == y[i : i + batch_size]).sum())
    return {"cross_entropy": ce / len(X), "accuracy": correct / len(X)}


def features(model: nn.Module, X, *, batch_size: int = 4096) -> np.ndarray:
    """Codings of ``X`` as a float32 numpy array: an encoder as a feature extractor.

    Works for an autoencoder or a :class:`Classifier` (anything with ``encode``), e.g.
    ``LogisticRegression().fit(features(ae, X), y)``, or inside a scikit-learn pipeline as
    ``FunctionTransformer(lambda X: features(ae, X))``.
    """
    from .metrics import encode

    if not hasattr(model, "encode"):
        raise ValueError(f"{type(model).__name__} has no encode(); give an autoencoder")
    return encode(model, X, batch_size=batch_size)


def stratified_subset(y, n: int | None, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded, stratified subset of ``n`` of the labels ``y`` (None: all)."""
    y = np.asarray(y)
    if n is None or n >= len(y):
        return np.arange(len(y))
    n_classes = len(np.unique(y))
    if not isinstance(n, (int, np.integer)) or n < n_classes:
        raise ValueError(
            f"labels={n!r} must be a whole number >= {n_classes} (one example per class at "
            "least) for a stratified subset; leave it out to use every label"
        )
    from sklearn.model_selection import train_test_split

    idx, _ = train_test_split(np.arange(len(y)), train_size=int(n), stratify=y, random_state=seed)
    return np.sort(idx)


# --- the tour ---------------------------------------------------------------------------------


@step
def tour_pretraining(t: Tour) -> list[Row]:
    train, val, test = t.data("train"), t.data("validation"), t.data("test")
    d = train.X.shape[1]
    hidden = (32, 16) if t.quick else (300, 150)
    n_labels = 50 if t.quick else 1000
    ae = getattr(t, "pretrained", None)  # the layer-wise step's autoencoder, if it ran
    fresh = not t.quick or ae is None or ae.config["kwargs"].get("hidden") != list(hidden)
    if fresh:
        # On MNIST, the recipe of benchmarks/pretraining.py: a denoising autoencoder (masking
        # noise, the seed's L2), trained layer-wise; its codings carry more than section 1's.
        kw = {} if t.quick else dict(noise="masking", noise_level=0.3, output="bernoulli")
        ae = build(
            "stacked" if t.quick else "denoising",
            n_features=d,
            hidden=hidden,
            l2=1e-4 if t.quick else 0.0784,
            tied=True,
            seed=t.seed,
            **kw,
        )
    t.say(
        f"Unsupervised pretraining: the encoder of a layer-wise trained {ae.config['name']} "
        f"{d}-{'-'.join(map(str, hidden))} autoencoder (all {len(train.X)} training images, no "
        f"labels), then a classifier trained on {n_labels} labels"
    )
    if fresh:  # said first, as the step starts: on MNIST this pretraining takes minutes
        _layerwise.pretrain_layerwise(
            ae,
            train.X,
            X_val=val.X,
            epochs=40 if t.quick else 4,
            batch_size=64 if t.quick else 150,
            lr=3e-3 if t.quick else 1e-3,
            seed=t.seed,
        )
    idx = stratified_subset(train.y, n_labels, seed=t.seed)
    rows: list[Row] = []
    head = (32,) if t.quick else (100, 50)
    for mode in MODES:
        clf, hist = train_classifier(
            ae,
            train.X[idx],
            train.y[idx],
            X_val=val.X,
            y_val=val.y,
            mode=mode,
            hidden=head,
            dropout=0.0 if t.quick else 0.3,
            epochs=150 if t.quick else 30,
            batch_size=32,
            patience=15 if t.quick else 4,
            seed=t.seed,
        )
        acc = score(clf, test.X, test.y)["accuracy"]
        t.say(f"   {mode:9s} test accuracy {acc:.4f} ({len(hist)} epochs)")
        ref = "" if t.quick else "benchmark: 92.1/92.5/88.9 (3 seeds)"
        rows.append((f"classifier, {n_labels} labels ({t.dataset})", f"{mode} accuracy", acc, ref))
    return rows
