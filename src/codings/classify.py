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

from .choices import CLASSIFIER_MODES
from .classifier import Classifier, _HeadOnCodings, classifier, classifier_for  # noqa: F401
from .inference import batched, batches, evaluating, rows_per_batch
from .options import UNSET, TrainOptions, refuse
from .options import resolve as resolve_options
from .progress import as_reporter
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

MODES = CLASSIFIER_MODES


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


def _encode(clf: Classifier, X: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    return batched(clf.encode, X, model=clf, batch_size=batch_size, numpy=False)  # on X's device


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


def predict(clf: Classifier, X, *, batch_size: int | None = None) -> np.ndarray:
    """Predicted class of each row of ``X``, through the whole network (encoder and head)."""
    return batched(lambda xb: clf(xb).argmax(1), X, model=clf, batch_size=batch_size)


def score(clf: Classifier, X, y, *, batch_size: int | None = None) -> dict[str, float]:
    """``{"cross_entropy", "accuracy"}`` of ``clf`` on ``(X, y)``, through the whole network
    (encoder and head, evaluation mode), averaged over the rows."""
    y = torch.from_numpy(_labels(y, len(X)))
    ce = correct = 0.0
    with evaluating(clf, rows=min(rows_per_batch(clf, X, batch_size), len(X))):
        for start, stop, xb in batches(X, clf, batch_size=batch_size):
            logits = clf(xb)  # (B, D) -> (B, C)
            yb = y[start:stop].to(logits.device)
            ce += float(F.cross_entropy(logits, yb, reduction="sum"))
            correct += float((logits.argmax(1) == yb).sum())
    return {"cross_entropy": ce / len(X), "accuracy": correct / len(X)}


def features(model: nn.Module, X, *, batch_size: int | None = None) -> np.ndarray:
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
