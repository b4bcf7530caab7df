"""The training defaults of the command line and the estimators, and the "auto" stopping rule.

The numbers come from the defaults study (``benchmarks/defaults_study.py``, BENCHMARKS.md
"Defaults study"). ``epochs=None`` means: train until the validation loss (the training loss
without a validation set) has not improved for :func:`auto_patience` epochs (``PATIENCE`` epochs
or ``PATIENCE_STEPS`` optimiser steps, whichever is longer), at most ``MAX_STEPS`` optimiser
steps (between ``MIN_EPOCHS`` and ``MAX_EPOCHS`` epochs), then keep the best weights.
:func:`codings.fit` itself keeps its fixed ``epochs=10``. The estimators and ``codings train``
make one exception, for small data: :func:`small_data_epochs`.

``INIT`` is the weight initialisation the command line and the estimators give a builder that
takes ``init`` when the user names none: Glorot (``"xavier"``), which the study found better than
He on all seven data sets (6-21% lower validation MSE; with He, ReLU codings die: 18 of 30 on
Fashion-MNIST). The builders themselves keep the chapter's ``init="he"``, which the published
reproductions under ``benchmarks/`` were measured with.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

OPTIMIZER = "nadam"
LR = 1e-3
BATCH_SIZE = 32
INIT = "xavier"
PATIENCE = 10  # epochs, at least ...
PATIENCE_STEPS = 2_000  # ... and at least this many optimiser steps: small data sets are noisy
MAX_STEPS = 100_000  # about 58 epochs of MNIST at batch 32; small tables stop on patience first
MIN_EPOCHS = 20
MAX_EPOCHS = 2_000
VALIDATION_FRACTION = 0.1  # the estimators' share held out for the stopping rule ("auto")
SMALL_ROWS = 2_000  # fewer rows: the estimators' "auto" trains BUDGET_STEPS on all of them
BUDGET_STEPS = 1_000  # optimiser steps (at least MIN_EPOCHS epochs); see small_data_epochs
SMALL_FEATURES = 300  # fewer columns (and < SMALL_ROWS rows): a small table; see coding_activation


def auto_patience(n_rows: int, batch_size: int) -> int:
    """Epochs without improvement before an "auto" run stops: ``PATIENCE`` epochs or
    ``PATIENCE_STEPS`` steps, whichever is longer (150 rows at batch 32: 400 epochs of 5 steps;
    MNIST: 10 epochs of 1,719 steps)."""
    per_epoch = max(1, math.ceil(n_rows / batch_size))
    return max(PATIENCE, math.ceil(PATIENCE_STEPS / per_epoch))


def auto_epochs(
    n_rows: int, batch_size: int, max_steps: int = MAX_STEPS, max_epochs: int = MAX_EPOCHS
) -> int:
    """The epoch cap of an "auto" run: ``max_steps`` optimiser steps, within the epoch bounds."""
    per_epoch = max(1, math.ceil(n_rows / batch_size))
    return int(min(max_epochs, max(MIN_EPOCHS, math.ceil(max_steps / per_epoch))))


def small_data_epochs(n_rows: int, batch_size: int) -> int | None:
    """The "auto" epochs on a small data set: ``BUDGET_STEPS`` optimiser steps (at least
    ``MIN_EPOCHS`` epochs, at most ``MAX_EPOCHS``) on all ``n_rows`` (the estimators hold none
    out; ``codings train`` keeps its validation rows for the reported metrics only); None from
    ``SMALL_ROWS`` rows on, where the stopping rule watches a validation share.

    Why (BENCHMARKS.md, "Small tables"): below 2,000 rows the held-out tenth is at most 200 rows,
    on small tables a dozen or two, too few to stop on (wine: 15 rows; the best epoch it picks
    is noise); it costs a tenth of the data; and the patience of 2,000 steps made a 178-row fit
    run 800 epochs. A fixed budget on every row gave codings as good or better for a classifier
    on six tables, and as good a one-class ROC AUC, in a quarter of the steps or fewer.
    """
    if n_rows >= SMALL_ROWS:
        return None
    per_epoch = max(1, math.ceil(n_rows / batch_size))
    return int(min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(BUDGET_STEPS / per_epoch))))


def coding_activation(n_rows: int, n_features: int, n_layers: int) -> str | None:
    """The activation of the coding layer that ``AutoencoderTransformer`` and
    ``AutoencoderClassifier`` give the dense ``stacked`` model when ``model_params`` names none:
    ``"linear"`` on a small table (fewer than ``SMALL_ROWS`` rows and fewer than
    ``SMALL_FEATURES`` columns, the width of the default's first hidden layer) with at least
    two encoder layers (``n_layers``: ``hidden``, and ``latent_dim`` if set); None (the
    builder's: the hidden layers' ELU) otherwise. A one-layer encoder keeps its activation:
    its coding layer is its only non-linearity, and linear codings would make it a linear model.

    Why (BENCHMARKS.md, "Small tables"): these estimators' codings are read by a model after
    them, often a linear one (a logistic regression, the classifier's default head). ELU codings
    are bounded below by -1, so each folds its negative half into a short interval, and the
    codings of the default network had a standard deviation of 0.5-0.6 on iris where PCA's
    components keep the data's (1.7, 1.0, 0.4). Linear code units (the deep autoencoder's
    original design, Hinton and Salakhutdinov, 2006) brought a logistic regression on the
    codings closer to one on PCA's components on iris, penguins and the digits (0.015, 0.005
    and 0.010 more accuracy over three seeds), lost 0.003-0.004 on wine, breast cancer and
    anes96, and left it within 0.007 of PCA on four of these six tables (150-569 rows, 4-64
    columns; wine stays 0.019 behind, the digits 0.011).
    Larger data (MNIST: 784 columns; 2,000 rows or more) keep the ELU codings that the rest of
    BENCHMARKS.md was measured with, and so does the outlier detector, which reads
    reconstruction errors, not codings.
    """
    if n_rows < SMALL_ROWS and n_features < SMALL_FEATURES and n_layers >= 2:
        return "linear"
    return None


def small_table_hidden(n_rows: int, n_features: int, latent_dim: int | None) -> tuple | None:
    """The hidden layers that ``AutoencoderTransformer`` and ``AutoencoderClassifier`` give the
    dense ``stacked`` model when ``hidden`` is left at None and a ``latent_dim`` is set: on a
    small table (fewer than ``SMALL_ROWS`` rows and ``SMALL_FEATURES`` columns) one layer of
    ``min(300, max(64, 2 * n_features))`` units (64 for up to 32 columns, 128 for the 8x8
    digits), then the codings; None (the builder's 300-150) otherwise. Without ``latent_dim``
    the codings are the last hidden layer, so the rule leaves ``hidden`` alone.

    Why (BENCHMARKS.md, "Small tables"): on 150-569 rows the default 300-150 network has
    50,000 weights or more for a few thousand cells. One hidden layer of this width, with the
    linear codings of :func:`coding_activation`, gave a logistic regression on the codings PCA's
    accuracy on wine (0.978) and breast cancer (0.975) over three seeds, where 300-150 gave
    0.959 and 0.972, and moved the mean over six small tables from 0.950 to 0.954 (PCA 0.958).
    """
    if latent_dim is None or n_rows >= SMALL_ROWS or n_features >= SMALL_FEATURES:
        return None
    return _one_hidden_layer(n_features)


def _one_hidden_layer(n_features: int) -> tuple[int]:
    """The one hidden layer of the small-input rules: twice the features, 64 to 300 units."""
    return (min(300, max(64, 2 * n_features)),)


class EarlyStopping:
    """A :func:`codings.fit` callback: stop after ``patience`` epochs without a lower monitored
    loss (``val_loss``, else ``train_loss``); :meth:`restore` puts the best weights back, also
    when the run ended at its epoch cap rather than on patience."""

    def __init__(self, patience: int):
        if not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience={patience!r} must be a positive whole number")
        self.patience = patience
        self.best = math.inf
        self.best_epoch = 0
        self.state: dict | None = None
        self.stale = 0

    def __call__(self, epoch: int, record: dict, model: nn.Module) -> bool:
        loss = record.get("val_loss", record.get("train_loss", math.inf))
        if loss < self.best:
            self.best, self.best_epoch, self.stale = loss, epoch, 0
            self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self.stale += 1
        return self.stale >= self.patience

    def restore(self, model: nn.Module) -> None:
        if self.state is not None:
            model.load_state_dict(self.state)

    def state_dict(self) -> tuple[dict, dict]:
        """(JSON scalars, best weights): saved in fit's training state, so a resumed run
        stops where an uninterrupted one does."""
        best = None if math.isinf(self.best) else self.best
        scalars = {"best": best, "best_epoch": self.best_epoch, "stale": self.stale}
        return scalars, dict(self.state or {})

    def load_state_dict(self, scalars: dict, weights: dict) -> None:
        self.best = math.inf if scalars.get("best") is None else float(scalars["best"])
        self.best_epoch = int(scalars.get("best_epoch", 0))
        self.stale = int(scalars.get("stale", 0))
        self.state = dict(weights) if weights else None


def stopping(epochs: int | None, patience: int | None, n_rows: int, batch_size: int):
    """``(epochs, patience, callbacks, stopper)`` for :func:`codings.fit`.

    An explicit ``epochs`` passes through unchanged (today's fixed-length run, with ``patience``
    as given). ``epochs=None`` gives the "auto" rule: the capped epoch count, ``patience`` (default
    :func:`auto_patience`) for fit's own early stop, and an :class:`EarlyStopping` callback watching
    the same loss whose :meth:`~EarlyStopping.restore` the caller runs after ``fit``, so that the
    best weights are kept also when the run reaches its cap.
    """
    if epochs is not None:
        return epochs, patience, [], None
    stopper = EarlyStopping(auto_patience(n_rows, batch_size) if patience is None else patience)
    return auto_epochs(n_rows, batch_size), stopper.patience, [stopper], stopper


def small_input_code(n_features: int, default_hidden) -> tuple[tuple[int], int] | None:
    """(hidden, latent_dim) for the plain dense ``stacked`` model when neither is chosen and
    its default layers (``default_hidden``, 300-150) would give at least as many codings as
    there are features: one hidden layer of ``min(300, max(64, 2 * n_features))`` units, then
    ``max(1, n_features // 2)`` codings (half the features, as the table model's default).
    None where the default is already a bottleneck (more than 150 features).

    Why (BENCHMARKS.md, "Side by side with pyod and pythae"): with 150 codings for 13 features
    nothing makes the network compress, so it learns to copy its input, outliers included.
    The outlier detector at its defaults on wine (178 rows, 13 columns, 10% corrupted rows)
    had a ROC AUC of 0.711 over three seeds; with this code 0.840 (pyod's AutoEncoder 0.785,
    DeepSVDD 0.805). On the 64-step windows of KDD-TSAD_135 it kept its score (0.999 against
    0.996), in half the fitting time. ``codings train stacked --data iris`` gave 150 codings
    for 4 features and a warning; it now gives 2. The regularised builders (denoising,
    sparse, contractive, ...) keep their overcomplete defaults: their penalty or noise is what
    stops them copying.
    """
    sizes = tuple(default_hidden)
    if not sizes or sizes[-1] < n_features:
        return None
    return _one_hidden_layer(n_features), max(1, n_features // 2)
