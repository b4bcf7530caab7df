"""scikit-learn estimators: an autoencoder as a transformer, an outlier detector and a classifier.

Each estimator is a thin wrapper. ``fit`` builds the model named by ``model`` (any key of
:data:`codings.MODELS`) from the explicit parameters that builder accepts, trains it with
:func:`codings.fit` (greedily layer by layer first, if asked) and keeps it as ``model_``. They
follow scikit-learn's rules: ``__init__`` only stores its arguments, the data are validated in
``fit``, learned attributes end in ``_``, and ``random_state`` is drawn from inside ``fit``.
They pickle like any scikit-learn object; ``save``/``load`` write and read the safe format
(safetensors weights, the parameters and fitted attributes as JSON) instead.
"""

from __future__ import annotations

import functools
import numbers
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    ClassNamePrefixFeaturesOutMixin,
    OutlierMixin,
    TransformerMixin,
)
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array
from torch import nn

from . import defaults, frames
from .choices import parse_sizes
from .datasets import Scaling, fit_scaling, flat_window_scaling
from .diagnostics import check_data, check_model, warn
from .errors import suggest
from .inference import batched, placement
from .models import build, builder_params
from .options import TrainOptions, check_optimizer
from .series import check_window, is_sequence_input, sequence_input, step_errors
from .specs import BUILDER_ARGS, builder_kwargs
from .tables import TableSchema
from .threads import check as check_threads
from .threads import thread_count
from .train import History, fit

try:
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # scikit-learn < 1.6

    def _validate_data(estimator, *args, **kwargs):
        return estimator._validate_data(*args, **kwargs)


__all__ = [
    "AutoencoderClassifier",
    "AutoencoderOutlierDetector",
    "AutoencoderTransformer",
    "NotFittedError",
]

# The training options that are estimator parameters (option -> parameter).
_OWN_OPTIONS = {
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "lr",
    "optimizer": "optimizer",
    "seed": "random_state",
    "patience": "patience",
    "device": "device",
    "threads": "threads",
    "progress": "verbose",
}
_FLOATS = [np.float64, np.float32]
_BATCH = 256  # rows per forward pass at inference (see _infer)


class NotFittedError(_SklearnNotFittedError):
    """A method that needs a fitted estimator was called before ``fit`` (or ``load``)."""


# --- what the three estimators share ------------------------------------------------------------


class _AutoencoderMixin:
    """Building, training, inference, pickling and saving; each estimator adds its own verbs."""

    _linear_codes = False  # the small-table rule of codings read by a model after them

    _fitted_attrs: tuple[str, ...] = (
        "n_features_in_",
        "feature_names_in_",
        "latent_dim_",
        "history_",
        "scaling_",
        "schema_",
    )

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            name = type(self).__name__
            raise NotFittedError(
                f"this {name} is not fitted yet; call fit(X) first, or load a fitted one with "
                f"{name}.load(path)"
            )

    def _validate(self, X, *, reset: bool) -> np.ndarray:
        # A DataFrame with categorical or missing cells: its encoding (codings.frames).
        dense = functools.partial(_validate_data, self, reset=reset, dtype=_FLOATS)
        try:
            return frames.validate(self, X, reset=reset, dense=dense)
        except ValueError as e:
            if not (reset and "contains NaN" in str(e)):
                raise
            raise ValueError(  # scikit-learn's words, then the way this estimator takes them
                f"{e}\nIn codings, a pandas DataFrame with missing cells (NaN) trains the table "
                "model, which leaves them out of its loss and can fill them "
                "(AutoencoderTransformer.impute); pip install 'codings[tables]'."
            ) from None

    def _seed(self) -> int:
        """The seed of this fit, drawn from ``random_state`` (None: from NumPy's global RNG)."""
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _builder_kwargs(self, n_features: int) -> dict:
        extra = self.model_params if self.model_params is not None else {}
        if not isinstance(extra, dict):
            raise ValueError(
                f"model_params={extra!r} must be a dict of model {self.model!r}'s arguments or None"
            )
        given = {arg: getattr(self, arg) for arg in BUILDER_ARGS}
        owner = type(self).__name__
        kwargs = builder_kwargs(frames.model_name(self), n_features, given, extra, owner=owner)
        return frames.model_kwargs(self, kwargs)  # a table's schema

    def _check_training_params(self) -> None:
        frac = self.validation_fraction
        if frac != "auto" and (
            isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0 <= frac < 1
        ):
            raise ValueError(
                f"validation_fraction={frac!r} must be a number in [0, 1), e.g. 0.1 (0: no "
                "validation set; patience then watches the training loss), or 'auto'"
            )
        if self.scale not in SCALES:
            raise ValueError(
                f"scale={self.scale!r} is not known; choose 'auto' (standardise, or min-max to "
                "[0, 1] for output='bernoulli'), 'standard', 'minmax' or None (data as given)"
            )
        e = self.epochs
        if e is not None and (isinstance(e, bool) or not isinstance(e, numbers.Integral) or e < 0):
            raise ValueError(f"epochs={self.epochs!r} must be a whole number >= 0, or None (auto)")
        check_optimizer(self.optimizer)
        if not isinstance(self.layerwise, (bool, np.bool_)):
            raise ValueError(f"layerwise={self.layerwise!r} must be True or False")

    def _auto_stops(self, n_rows: int) -> bool:
        """Whether fit stops on a validation share: with ``epochs=None``, except on fewer than
        ``defaults.SMALL_ROWS`` rows with ``patience`` and ``validation_fraction`` left as they
        are, which train ``defaults.small_data_epochs`` on all the rows instead."""
        if self.epochs is not None:
            return False
        chosen = self.patience is not None or self.validation_fraction != "auto"
        return chosen or n_rows >= defaults.SMALL_ROWS

    def _split(
        self, X: np.ndarray, seed: int, auto: float | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        frac = self.validation_fraction
        if frac == "auto":  # a share for the stopping rule to watch; none for a fixed epoch count
            frac = (
                (defaults.VALIDATION_FRACTION if self._auto_stops(len(X)) else 0.0)
                if auto is None
                else auto
            )
            if len(X) < 10:
                frac = 0.0  # too few samples to hold some out: patience watches the training loss
        if not frac:
            return X, None
        n_val = int(np.ceil(frac * len(X)))
        if n_val >= len(X):
            raise ValueError(
                f"validation_fraction={frac} of {len(X)} samples leaves none "
                "to train on; use more samples or validation_fraction=0"
            )
        perm = np.random.default_rng(seed).permutation(len(X))
        return X[perm[n_val:]], X[perm[:n_val]]

    def _train_autoencoder(self, X: np.ndarray, seed: int, *, train: bool = True) -> None:
        """Build the model on ``X`` and train it (``train=False``: initialise only)."""
        self._check_training_params()
        name, kwargs = frames.model_name(self), self._builder_kwargs(X.shape[1])
        if self._linear_codes and name == "stacked":
            kwargs = _small_table_kwargs(kwargs, *X.shape)
        model = build(name, seed=seed, **kwargs)
        table = frames.is_table_model(model)  # scaled by its schema; errors per cell, not MSE
        output = getattr(model, "output", "linear")
        self.scaling_ = None if table else self._fit_scaling(output, X)
        X = self._scaled(X)
        X_train, X_val = self._split(X, seed)
        if train and not table:
            warn(check_data(model, X_train))  # named at the user's call
        epochs = self.epochs
        if epochs is None and not self._auto_stops(len(X)):  # small data: a fixed budget
            epochs = defaults.small_data_epochs(len(X_train), self.batch_size)
        epochs, patience, callbacks, stopper = defaults.stopping(
            None if epochs is None else int(epochs),
            self.patience,
            len(X_train),
            self.batch_size,
        )
        options = self._train_options(epochs=epochs, lr=self.lr, seed=seed, patience=patience)
        if not train:
            history = History()
            model.to(_resolve(self.device)).eval()
        elif self.layerwise:
            pretrain_layerwise, flat_history = _layerwise()
            # Each layer pair trains for `epochs`, then the whole stack for `epochs` more.
            hists = pretrain_layerwise(
                model, X_train, X_val=X_val, options=options, finetune_epochs=epochs
            )
            history = History(flat_history(hists))
        else:
            history = fit(model, X_train, X_val=X_val, options=options, callbacks=callbacks)
            if stopper is not None:
                stopper.restore(model)  # also when the run ended at its step cap
        self.model_ = model
        self.history_ = history
        self.latent_dim_ = int(_infer(model.encode, model, X[:1]).shape[1])
        if train and not table:
            warn(check_model(model, X_train, X_val)[1])

    def _fit_scaling(self, output: str, X: np.ndarray):
        return fit_scaling(self.scale, output, X)

    def _train_options(self, **run) -> TrainOptions:
        """The training options of this estimator's parameters (the one place they are read):
        ``random_state`` gives ``seed``, ``verbose`` the ``progress``; ``run`` sets what the
        stage decides (epochs, lr, seed, patience)."""
        return TrainOptions(
            batch_size=self.batch_size,
            optimizer=self.optimizer,
            device=self.device,
            threads=self.threads,
            progress=self._reporter(),
            **self._extra_train_options(),
            **run,
        )

    def _extra_train_options(self) -> dict:
        """``train_options``, checked: only the options that are not parameters here."""
        from .options import FIELDS

        extra = self.train_options if self.train_options is not None else {}
        if not isinstance(extra, dict):
            raise ValueError(
                f"train_options={extra!r} must be a dict of training options or None, e.g. "
                "{'clip_norm': 1.0}"
            )
        name = type(self).__name__
        for key in extra:
            param = _OWN_OPTIONS.get(key)
            if param is not None:
                raise ValueError(
                    f"train_options[{key!r}]: {key} is set by {name}'s parameter {param}; "
                    f"pass {param}=... instead"
                )
            if key in ("checkpoint", "resume", "chunk_size"):
                raise ValueError(
                    f"{name} does not take {key} in train_options (it trains from memory, in "
                    "one call); train the model with codings.fit for that"
                )
            if key not in FIELDS:
                raise ValueError(
                    f"train_options has {key!r}, which is not a training option; the options "
                    f"are {', '.join(k for k in FIELDS if k not in _OWN_OPTIONS)}"
                    + suggest(key, FIELDS)
                )
        return dict(extra)

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        """``X`` in the units the model was trained in (see ``scale``)."""
        scaling = getattr(self, "scaling_", None)  # None: no scaling, or saved before it existed
        return X if scaling is None else scaling.forward(X)

    def _reporter(self):
        """verbose=0: silent; 1: a table of epochs; 2 or more: a bar per epoch (stderr)."""
        from .progress import EpochTable

        if not isinstance(self.verbose, (int, np.integer)) or self.verbose < 0:
            raise ValueError(f"verbose={self.verbose!r} must be 0 (silent), 1 (table) or 2 (bar)")
        return False if self.verbose == 0 else EpochTable() if self.verbose == 1 else True

    def _errors(self, X: np.ndarray) -> np.ndarray:
        """Per-sample mean squared reconstruction error over the (scaled) features, float64."""
        model = self.model_
        if frames.is_table_model(model):  # the mean error over a row's observed cells
            return frames.table_parts(model, X, _infer).sum(axis=1)
        err = _infer(lambda xb: (model(xb) - xb).square().mean(1), model, self._scaled(X))
        return err.astype(np.float64)

    # Pickles stay portable: a model trained on an accelerator is stored on the CPU.
    def __getstate__(self):
        state = super().__getstate__()
        for key in ("model_", "autoencoder_"):
            module = state.get(key)
            if module is not None and _device(module).type != "cpu":
                state = {**state, key: _cpu_copy(module)}
        return state

    # --- the safe format ----------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Save the fitted estimator to a ``.safetensors`` file (weights + JSON, no pickle).

        The JSON metadata holds the estimator's class, its parameters and its fitted attributes
        (``n_features_in_``, ``threshold_``, ``classes_``, the history, ...); :meth:`load`
        rebuilds it. ``codings.load(path)`` reads the same file as a bare model.
        """
        from . import save as save_model

        self._check_fitted()
        meta = {"estimator": self._metadata()}
        return save_model(self.model_, path, metadata=meta)

    def _metadata(self) -> dict:
        fitted = {}
        for key in self._fitted_attrs:
            if hasattr(self, key):
                value = getattr(self, key)
                if isinstance(value, np.ndarray):
                    value = {"array": value.tolist(), "dtype": value.dtype.str}
                elif isinstance(value, np.generic):
                    value = value.item()
                elif isinstance(value, History):
                    value = {"history": value.records}
                elif isinstance(value, Scaling):
                    value = {"scaling": value.to_meta()}
                elif isinstance(value, TableSchema):
                    value = {"schema": value.to_dict()}
                fitted[key] = value
        params = {k: _jsonable(k, v) for k, v in self.get_params(deep=False).items()}
        return {"class": type(self).__name__, "params": params, "fitted": fitted}

    @classmethod
    def load(cls, path: str | Path, *, device: str | torch.device = "cpu"):
        """Load an estimator saved by :meth:`save`, ready to use, without unpickling anything."""
        from . import load as load_model
        from .checkpoint import CheckpointError, read_metadata

        info = read_metadata(path).get("estimator")
        if info is None:
            raise CheckpointError(
                f"{path}: a model file without a saved estimator; load the bare model with "
                "codings.load(path)"
            )
        _check_saved_estimator(path, info)
        if info["class"] != cls.__name__:
            raise CheckpointError(
                f"{path} holds a {info['class']}, not a {cls.__name__}; load it with "
                f"codings.{info['class']}.load(path)"
            )
        unknown = sorted(set(info["params"]) - set(cls._get_param_names()))
        unknown += sorted(set(info["fitted"]) - set(cls._fitted_attrs))
        if unknown:
            raise CheckpointError(
                f"{path}: its saved {cls.__name__} sets {', '.join(map(repr, unknown))}, which "
                f"is not a parameter or fitted attribute of {cls.__name__}; the file was changed"
            )
        params = {k: tuple(v) if isinstance(v, list) else v for k, v in info["params"].items()}
        est = cls(**params)
        try:
            est._check_params()
        except ValueError as e:
            raise CheckpointError(f"{path}: its saved parameters are not valid: {e}") from None
        est.model_ = load_model(path, device=device)
        for key, value in info["fitted"].items():
            try:
                value = _fitted_from_json(value)
            except (TypeError, ValueError, KeyError, AttributeError) as e:
                raise CheckpointError(
                    f"{path}: fitted attribute {key!r} is malformed ({e})"
                ) from None
            setattr(est, key, value)
        est._load_extra(path, info, device)
        return est

    def _load_extra(self, path, info: dict, device) -> None:
        pass

    def _check_params(self) -> None:
        """The parameters' checks that ``fit`` makes, also made on ``load``."""
        self._check_training_params()
        self._builder_kwargs(1)


def _small_table_kwargs(kwargs: dict, n_rows: int, n_features: int) -> dict:
    """A "stacked" model's builder arguments with the small-table rules applied where the user
    left them unset: ``hidden`` (:func:`codings.defaults.small_table_hidden`), then
    ``coding_activation`` (:func:`codings.defaults.coding_activation`, which counts the layers
    of the resulting encoder)."""
    kwargs = dict(kwargs)
    if "hidden" not in kwargs:
        hidden = defaults.small_table_hidden(n_rows, n_features, kwargs.get("latent_dim"))
        if hidden is not None:
            kwargs["hidden"] = hidden
    if "coding_activation" not in kwargs:
        hidden = kwargs.get("hidden", builder_params("stacked")["hidden"].default)
        layers = len(parse_sizes(hidden)) + (kwargs.get("latent_dim") is not None)
        act = defaults.coding_activation(n_rows, n_features, layers)
        if act is not None:
            kwargs["coding_activation"] = act
    return kwargs


def _check_saved_estimator(path, info) -> None:
    from .checkpoint import CheckpointError

    shape = {"class": str, "params": dict, "fitted": dict}
    if not isinstance(info, dict) or not all(isinstance(info.get(k), t) for k, t in shape.items()):
        raise CheckpointError(
            f"{path}: its saved estimator is not a dict with a class name, params and fitted "
            "attributes; the file was changed or not written by codings"
        )


def _fitted_from_json(value):
    """A fitted attribute as :meth:`_AutoencoderMixin._metadata` wrote it; numbers only."""
    if isinstance(value, dict) and "array" in value:
        dtype = np.dtype(value["dtype"])
        if dtype.kind == "O" and all(isinstance(v, str) for v in value["array"]):
            return np.asarray(value["array"], dtype=object)  # column names, as scikit-learn's
        if dtype.kind not in "biufUS":
            raise ValueError(f"an array of dtype {dtype} is not one codings saves")
        return np.asarray(value["array"], dtype=dtype)
    if isinstance(value, dict) and "history" in value:
        return History(value["history"])
    if isinstance(value, dict) and "scaling" in value:
        return Scaling.from_meta(value["scaling"])
    if isinstance(value, dict) and "schema" in value:
        return TableSchema.from_dict(value["schema"])
    return value


SCALES = ("auto", "standard", "minmax", "none", None)


def _jsonable(key: str, value):
    if isinstance(value, tuple):
        return list(value)
    if key == "random_state" and not (value is None or isinstance(value, int)):
        return None  # a RandomState instance: its draws have already been used by fit
    if isinstance(value, torch.device):
        return str(value)
    return value


def _layerwise():
    try:
        from .layerwise import flat_history, pretrain_layerwise
    except ImportError as e:
        raise ValueError(
            f"layerwise=True needs codings.layerwise.pretrain_layerwise, which this installation "
            f"of codings cannot import ({e}); use layerwise=False"
        ) from None
    return pretrain_layerwise, flat_history


def _resolve(device) -> torch.device:
    from .train import resolve_device

    return resolve_device(device)


def _device(module: nn.Module) -> torch.device:
    return placement(module)[0]


def _cpu_copy(module: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(module).cpu()


def _threaded(method):
    """Run an estimator's method with torch's CPU threads as its ``threads`` parameter says.

    An explicit count holds for everything inside (training, validation, inference); None
    leaves the choice to each call inside, by the size of its work.
    """

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        threads = getattr(self, "threads", None)
        check_threads(threads)
        if threads is None or threads == "auto":
            return method(self, *args, **kwargs)
        with thread_count(threads):
            return method(self, *args, **kwargs)

    return run


def _infer(fn, module: nn.Module, X: np.ndarray) -> np.ndarray:
    """``fn`` over ``X`` on the module's device (:func:`codings.inference.batched`) -> array.

    Every batch has exactly ``_BATCH`` rows (the last is padded with zeros): float32 matrix
    products pick their kernels by shape, so a row's result would otherwise change in the last
    bits with the number of rows around it. With one shape, a sample gets the same codings and
    score whether it is transformed alone or with others.
    """
    return batched(fn, X, model=module, batch_size=_BATCH, pad=True)


_PARAMS_DOC = """
    model : str, default="stacked"
        The model's name: any key of ``codings.MODELS``.
    hidden, latent_dim, activation, init, output, l2, tied : default=None
        The model's architecture, passed to its builder; None takes the builder's default,
        except ``init``: None is Glorot ("xavier", :data:`codings.defaults.INIT`, better than the
        builders' He in the defaults study). For "stacked": hidden=(300, 150), latent_dim=None
        (the codings are the last hidden layer), activation="elu", output="linear" (or
        "bernoulli" for data in [0, 1]), l2=0.0, tied=False. With both ``hidden`` and
        ``latent_dim`` left at None on 150 features or fewer, where 300-150 would give at least
        as many codings as features, "stacked" gets one hidden layer of min(300, max(64, 2 *
        n_features)) units and n_features // 2 codings instead
        (:func:`codings.defaults.small_input_code`). Setting one the chosen model does
        not take is an error. On a small table (fewer than 2,000 rows and 300 columns) the
        transformer and the classifier give "stacked" (with two layers or more) linear codings,
        ``coding_activation="linear"`` (:func:`codings.defaults.coding_activation`: ELU codings lost
        to PCA's for a linear model after them); ``model_params={"coding_activation": "elu"}``
        keeps the ELU ones. There, with ``latent_dim`` set and ``hidden`` left at None, they
        also build one hidden layer of min(300, max(64, 2 * n_features)) units
        (:func:`codings.defaults.small_table_hidden`) instead of 300-150.
    scale : {"auto", "standard", "minmax"} or None, default="auto"
        Per-feature scaling learned in ``fit`` (``scaling_``, saved with the model) and applied
        before the network in every method; ``inverse_transform`` maps back to ``X``'s units.
        "auto": standardise (mean 0, standard deviation 1) for squared error, min-max to [0, 1]
        for ``output="bernoulli"`` (data already in [0, 1] are left as they are). None: the
        data as given. ``score_samples`` and the reconstruction errors are in the scaled units.
    model_params : dict, default=None
        Other arguments of the chosen model's builder (e.g. a denoising model's noise level).
    layerwise : bool, default=False
        Train greedily one layer pair at a time (each for ``epochs``) before training the whole
        stack for ``epochs`` more (:func:`codings.layerwise.pretrain_layerwise`).
    epochs : int or None, default=None
        None ("auto"): train until the validation loss has not improved for ``patience``
        epochs (default: 10 epochs or 2,000 steps, whichever is longer), at most about 100,000
        optimiser steps, and keep the best weights
        (:mod:`codings.defaults`). An int: exactly that many epochs (unless ``patience`` stops
        earlier). The rule for small data: on fewer than 2,000 rows, with ``patience`` and
        ``validation_fraction`` left as they are, "auto" trains 1,000 optimiser steps (at
        least 20 epochs) on every row, holding none out (a tenth of a small table is too few
        rows to stop on; BENCHMARKS.md, "Small tables").
    batch_size, lr, optimizer : default=32, 1e-3, "nadam"
        Training of the autoencoder (optimizer: "adam", "adamw", "nadam" or "sgd"); the
        defaults come from the defaults study in BENCHMARKS.md.
    patience : int, default=None
        Stop after this many epochs without a lower validation loss (training loss when
        ``validation_fraction=0``) and keep the best weights. None: the "auto" patience with
        ``epochs=None``, no early stop with an explicit ``epochs``.
    validation_fraction : float or "auto", default="auto"
        Fraction of the training data held out to monitor (``history_`` gets ``val_*``).
        "auto": 0.1 when the stopping rule runs (``epochs=None``, but for the rule for small
        data), 0 otherwise.
    random_state : int, RandomState or None, default=None
        Seeds the initial weights, the shuffling and the validation split. An int makes ``fit``
        reproducible (bit for bit on the CPU).
    device : str, default="auto"
        "auto" (CUDA, then MPS, then CPU), "cpu", "cuda" or "mps".
    verbose : int, default=0
        0 prints nothing; 1 prints a table on standard error, one row per epoch
        (``epoch  train_loss  valid_loss  dur``, ``*`` marking each best validation loss);
        2 draws a bar per epoch with the loss parts instead.
    threads : int, "auto" or None, default=None
        torch's CPU threads while fitting and predicting; None or "auto" chooses from the size
        of the work and the machine's load (one thread for small models or busy machines, never
        more than a joblib worker's ``OMP_NUM_THREADS``), see :func:`codings.threads.policy`.
    train_options : dict, default=None
        Any other training options of :class:`codings.TrainOptions` by name, for every training
        stage: ``weight_decay``, ``clip_norm``, ``lr_schedule``, ``precision``, ``restore_best``
        or ``step`` (``"fused"``: the autoencoder's; a classifier's head trains through
        autograd), e.g. ``{"clip_norm": 1.0, "precision": "bf16"}``. The options that are
        parameters here (``epochs``, ``batch_size``, ``lr``, ``optimizer``, ``patience``,
        ``device``, ``threads``; ``random_state`` and ``verbose``) are refused in it, and so are
        ``checkpoint``, ``resume`` and ``chunk_size`` (an estimator trains from memory, in one
        call).
"""


# --- the transformer -------------------------------------------------------------------------


class AutoencoderTransformer(
    _AutoencoderMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    __doc__ = (
        """An autoencoder as a scikit-learn transformer: ``transform`` gives the codings.

    ``inverse_transform`` decodes codings back to data space; ``score_samples`` is the negative
    mean squared reconstruction error per sample (higher is better) and ``score`` its mean.

    A pandas DataFrame with categorical or missing cells trains the ``table`` model
    (:mod:`codings.tables`; :mod:`codings.frames` says when): ``transform`` gives its codings,
    ``inverse_transform`` a DataFrame of the table's columns, ``impute`` the table with its
    missing cells filled, and ``score_samples`` the negative mean error over a row's observed
    cells. ``set_output(transform="pandas")`` gives DataFrames with the input's index.

    Parameters
    ----------"""
        + _PARAMS_DOC
        + """
    Attributes
    ----------
    model_ : codings.Autoencoder
        The trained model (on the training device).
    history_ : codings.History
        One record per epoch (``train_loss``, ``val_loss``, ... ).
    latent_dim_ : int
        The number of codings (columns of ``transform``'s output).
    scaling_ : codings.datasets.Scaling or None
        The per-feature scaling learned in ``fit`` (``scale``); None with ``scale=None``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had column names (a DataFrame).
    schema_ : codings.tables.TableSchema
        Only when fitted on a table: the columns' names, kinds, categories and scaling, saved
        with the estimator; a table with other columns is refused, naming the column.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import MinMaxScaler
    >>> from codings import AutoencoderTransformer
    >>> pipe = make_pipeline(MinMaxScaler(), AutoencoderTransformer(hidden=(64,), latent_dim=8))
    >>> Z = pipe.fit_transform(X)  # doctest: +SKIP
    """
    )

    def __init__(
        self,
        model="stacked",
        *,
        hidden=None,
        latent_dim=None,
        activation=None,
        init=None,
        output=None,
        l2=None,
        tied=None,
        scale="auto",
        model_params=None,
        layerwise=False,
        epochs=None,
        batch_size=defaults.BATCH_SIZE,
        lr=defaults.LR,
        optimizer=defaults.OPTIMIZER,
        patience=None,
        validation_fraction="auto",
        random_state=None,
        device="auto",
        verbose=0,
        threads=None,
        train_options=None,
    ):
        self.model = model
        self.hidden = hidden
        self.latent_dim = latent_dim
        self.activation = activation
        self.init = init
        self.output = output
        self.l2 = l2
        self.tied = tied
        self.scale = scale
        self.model_params = model_params
        self.layerwise = layerwise
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.threads = threads
        self.train_options = train_options

    _linear_codes = True  # defaults.coding_activation: small tables get linear codings

    @_threaded
    def fit(self, X, y=None):
        """Train the autoencoder on ``X`` (n_samples, n_features); ``y`` is ignored."""
        X = self._validate(X, reset=True)
        self._train_autoencoder(X, self._seed())
        return self

    @_threaded
    def transform(self, X):
        """The codings of ``X``, shape (n_samples, latent_dim_), in ``X``'s float dtype."""
        self._check_fitted()
        X = self._validate(X, reset=False)
        Z = _infer(self.model_.encode, self.model_, self._scaled(X))
        return Z.astype(X.dtype, copy=False)

    @_threaded
    def inverse_transform(self, X):
        """Decode codings (n_samples, latent_dim_) back to data space, in ``X``'s units."""
        self._check_fitted()
        Z = check_array(X, dtype=_FLOATS)
        if Z.shape[1] != self.latent_dim_:
            raise ValueError(
                f"inverse_transform takes codings with {self.latent_dim_} columns (latent_dim_); "
                f"got {Z.shape[1]}. Pass the output of transform"
            )
        R = _infer(self.model_.decode, self.model_, Z)
        if getattr(self, "schema_", None) is not None:  # a table's columns, always a DataFrame
            return frames.inverse_table(self, R, X)
        scaling = getattr(self, "scaling_", None)
        R = (R if scaling is None else scaling.inverse(R)).astype(Z.dtype, copy=False)
        return frames.output(self, R, X, frames.column_names(self))  # set_output: the columns

    @_threaded
    def score_samples(self, X):
        """Negative mean squared reconstruction error of each sample (higher is better)."""
        self._check_fitted()
        return -self._errors(self._validate(X, reset=False))

    def score(self, X, y=None):
        """Negative mean squared reconstruction error over ``X`` (higher is better)."""
        return float(self.score_samples(X).mean())

    @_threaded
    def impute(self, X):
        """``X`` (a DataFrame) with its missing cells filled by the reconstruction of a model
        fitted on a table; observed cells, index, columns and dtypes as they were."""
        self._check_fitted()
        return frames.impute(self, X)

    @property
    def _n_features_out(self) -> int:
        return self.latent_dim_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"preserves_dtype": [np.float64, np.float32]}


# --- the outlier detector -----------------------------------------------------------------------


class AutoencoderOutlierDetector(_AutoencoderMixin, OutlierMixin, BaseEstimator):
    __doc__ = (
        """Outlier detection by reconstruction error, fitted on (mostly) normal data.

    ``score_samples`` is the negative mean squared reconstruction error (higher: more normal).
    As in scikit-learn's detectors, ``decision_function = score_samples - offset_`` is negative
    for outliers, and ``predict`` gives 1 for inliers and -1 for outliers. ``offset_`` is set so
    that a fraction ``contamination`` of the training data are outliers.
    ``column_contributions(X)`` spreads each score over the columns (a row sums to
    ``-score_samples``): the columns that make a row an outlier. DataFrames with categorical or
    missing cells train the ``table`` model, as in :class:`AutoencoderTransformer`.

    Parameters
    ----------
    contamination : float, default=0.1
        The expected fraction of outliers in the training data, in (0, 0.5].
    window, stride : int or None, default=None, 1
        Sequences. Windows (n, T, C) are always read as sequences: one score per window, each
        channel scaled alike over every step. With ``window``, ``X`` may also be one series
        (T,) or (T, C), or a list of NumPy arrays (several series), cut into windows of
        ``window`` steps every ``stride`` steps (:func:`codings.datasets.windows`; where
        (T - window) % stride != 0 one more window ends at the last step): ``fit``,
        ``score_samples``, ``decision_function`` and ``predict`` then work per window, and
        :meth:`score_steps` gives a score per time step. ``model="conv1d"`` and
        ``"recurrent"`` read the windows in time order; on aeon's series the default dense
        model did as well or better, faster (BENCHMARKS.md, "Time series anomaly detection")."""
        + _PARAMS_DOC
        + """
    Attributes
    ----------
    offset_ : float
        The ``contamination`` quantile of the training scores.
    threshold_ : float
        The same cut on the error scale (``-offset_``): a sample whose mean squared
        reconstruction error exceeds it is an outlier.
    sequence_shape_ : tuple of int
        (time steps, channels) of the windows, when fitted on sequences; ``n_features_in_``
        is then the number of channels.
    model_, history_, latent_dim_, scaling_, n_features_in_, feature_names_in_, schema_
        As in :class:`AutoencoderTransformer`.
    """
    )

    _fitted_attrs = _AutoencoderMixin._fitted_attrs + ("offset_", "threshold_", "sequence_shape_")

    def __init__(
        self,
        model="stacked",
        *,
        contamination=0.1,
        window=None,
        stride=1,
        hidden=None,
        latent_dim=None,
        activation=None,
        init=None,
        output=None,
        l2=None,
        tied=None,
        scale="auto",
        model_params=None,
        layerwise=False,
        epochs=None,
        batch_size=defaults.BATCH_SIZE,
        lr=defaults.LR,
        optimizer=defaults.OPTIMIZER,
        patience=None,
        validation_fraction="auto",
        random_state=None,
        device="auto",
        verbose=0,
        threads=None,
        train_options=None,
    ):
        self.model = model
        self.contamination = contamination
        self.window = window
        self.stride = stride
        self.hidden = hidden
        self.latent_dim = latent_dim
        self.activation = activation
        self.init = init
        self.output = output
        self.l2 = l2
        self.tied = tied
        self.scale = scale
        self.model_params = model_params
        self.layerwise = layerwise
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.threads = threads
        self.train_options = train_options

    @_threaded
    def fit(self, X, y=None):
        """Train on ``X`` (mostly normal samples) and set the threshold; ``y`` is ignored."""
        c = self.contamination
        self._check_contamination()
        X = self._validate(X, reset=True)
        self._train_autoencoder(X, self._seed())
        scores = -self._errors(X)
        self.offset_ = float(np.percentile(scores, 100.0 * c))
        self.threshold_ = -self.offset_
        return self

    def _check_contamination(self) -> None:
        c = self.contamination
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0 < c <= 0.5:
            raise ValueError(
                f"contamination={c!r} must be a fraction in (0, 0.5], e.g. 0.01 for data with "
                "about 1% outliers"
            )

    def _check_params(self) -> None:
        self._check_contamination()
        check_window(self.window, self.stride)
        super()._check_params()

    # Sequences (codings.series): windows (n, T, C), or a series cut into windows, are flat
    # rows (n, T*C) for the model, scaled per channel; everything else is a table.
    def _validate(self, X, *, reset: bool) -> np.ndarray:
        return self._sequences(X, reset=reset)[0]

    def _sequences(self, X, *, reset: bool):
        """``X`` as the model's rows and, for a series, its length(s) (else None)."""
        if reset:
            self.__dict__.pop("sequence_shape_", None)
        elif getattr(self, "sequence_shape_", None) is None:
            return super()._validate(X, reset=False), None
        if not is_sequence_input(X, self.window):
            return super()._validate(X, reset=reset), None
        W, n_steps = sequence_input(X, self.window, self.stride)
        if reset:
            self.__dict__.pop("feature_names_in_", None)
            self.sequence_shape_, self.n_features_in_ = tuple(W.shape[1:]), W.shape[2]
        elif tuple(W.shape[1:]) != tuple(self.sequence_shape_):
            raise ValueError(
                f"X gives windows of {W.shape[1]} steps and {W.shape[2]} channels but the "
                f"detector was fitted on windows of shape {tuple(self.sequence_shape_)}"
            )
        return W.reshape(len(W), -1), n_steps

    def _fit_scaling(self, output: str, X: np.ndarray):
        shape = getattr(self, "sequence_shape_", None)
        if shape is None:
            return super()._fit_scaling(output, X)
        steps, channels = shape  # one scaling per channel, over every step of every window
        return flat_window_scaling(fit_scaling(self.scale, output, X.reshape(-1, channels)), steps)

    def _builder_kwargs(self, n_features: int) -> dict:
        kwargs = super()._builder_kwargs(n_features)
        shape = getattr(self, "sequence_shape_", None)
        if shape is not None and "sequence_shape" in builder_params(self.model):
            kwargs.setdefault("sequence_shape", list(shape))
        return kwargs

    @_threaded
    def score_steps(self, X):
        """Scores per time step (higher: more normal) of a detector fitted on sequences.

        Each window step's error is its squared reconstruction error averaged over the
        channels (``score_samples`` is minus their mean over the window). For windows
        (n, T, C): minus those errors, shape (n, T). For a series (with ``window``): a step's
        score is minus the mean of its errors over the windows covering it
        (:func:`codings.datasets.unwindow`), shape (T,), or one array per series of a list.
        """
        self._check_fitted()
        if getattr(self, "sequence_shape_", None) is None:
            raise ValueError(
                "score_steps needs a detector fitted on sequences: windows (n, T, C), or a "
                "series with window=<steps>; this one was fitted on rows (use score_samples)"
            )
        rows, n_steps = self._sequences(X, reset=False)
        model = self.model_
        err = _infer(lambda xb: (model(xb) - xb).square(), model, self._scaled(rows))
        steps, channels = self.sequence_shape_
        back = step_errors(err, steps, channels, n_steps, self.stride)  # (n, T), (T,) or list
        return [-b for b in back] if isinstance(back, list) else -back

    @_threaded
    def score_samples(self, X):
        """Negative mean squared reconstruction error of each sample (higher: more normal)."""
        self._check_fitted()
        return -self._errors(self._validate(X, reset=False))

    @_threaded
    def column_contributions(self, X, *, held_out=False):
        """Each column's share of each sample's score: (n_samples, n_features), a DataFrame with
        ``X``'s index and column names when ``X`` is one (or pandas output is set).

        A row sums to ``-score_samples(X)`` (up to float rounding): the squared reconstruction
        error of each (scaled) column divided by the number of columns. The largest entries
        name the columns that make a sample an outlier. For a table model, ``held_out=True``
        predicts each cell with its column hidden from the encoder (one pass per column): a
        corrupted cell then shows in its own column rather than in every column through the
        codings, but the rows no longer sum to the score.
        """
        self._check_fitted()
        V = self._scaled(self._validate(X, reset=False))
        model, n = self.model_, V.shape[1]
        if frames.is_table_model(model):
            parts = frames.table_parts(model, V, _infer, held_out=held_out)
            return frames.table_contributions(self, parts, X)
        if held_out:
            raise ValueError(
                "held_out=True needs a model fitted on a table (a DataFrame with categorical or "
                "missing cells, or model='table'); this one reads numbers only"
            )
        parts = _infer(lambda xb: (model(xb) - xb).square() / n, model, V)  # (B, D) -> (B, D)
        return frames.contributions(self, parts.astype(np.float64), X)

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers, positive for inliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """1 for inliers, -1 for outliers."""
        return np.where(self.decision_function(X) < 0, -1, 1)


# --- the classifier ------------------------------------------------------------------------------


class AutoencoderClassifier(_AutoencoderMixin, ClassifierMixin, BaseEstimator):
    __doc__ = (
        """A classifier on an encoder pretrained without labels.

    ``fit(X, y, X_unlabeled=None)`` first trains the autoencoder on ``X`` and ``X_unlabeled``
    together (no labels needed), then a softmax head on its codings with the labelled data
    (:func:`codings.train_classifier`): with the encoder frozen (``mode="frozen"``: the codings
    are computed once and only the head learns; with ``head_hidden=()`` this is multinomial
    logistic regression on the codings) or trained along (``mode="finetune"``).
    ``mode="scratch"`` skips the pretraining: the same network trained on the labels alone, the
    baseline that shows what pretraining brings.

    Parameters
    ----------
    mode : {"frozen", "finetune", "scratch"}, default="finetune"
    head_hidden : tuple of int, default=()
        Dense layers of the head between the codings and the softmax (ELU, He init).
    classifier_epochs, classifier_lr : default=100, 1e-2
        Epochs and learning rate of the supervised stage (Adam); the autoencoder's are
        ``epochs`` and ``lr``. With few labels there are few steps per epoch, hence the larger
        rate (a frozen encoder's head is a convex problem, fast to fit). ``batch_size``,
        ``patience`` and ``validation_fraction`` apply to both stages."""
        + _PARAMS_DOC
        + """
    Attributes
    ----------
    classes_ : ndarray
        The class labels, in the order of ``predict_proba``'s columns.
    model_ : codings.classify.Classifier
        The trained network: the encoder (pretrained, fine-tuned or not) and the head.
    autoencoder_ : codings.Autoencoder
        The autoencoder after pretraining (before any fine-tuning): its decoder draws what the
        codings hold.
    history_, classifier_history_ : codings.History
        One record per epoch of the pretraining and of the supervised stage.
    latent_dim_, scaling_, n_features_in_, feature_names_in_
        As in :class:`AutoencoderTransformer`.
    """
    )

    _fitted_attrs = _AutoencoderMixin._fitted_attrs + ("classes_", "classifier_history_")

    def __init__(
        self,
        model="stacked",
        *,
        mode="finetune",
        head_hidden=(),
        hidden=None,
        latent_dim=None,
        activation=None,
        init=None,
        output=None,
        l2=None,
        tied=None,
        scale="auto",
        model_params=None,
        layerwise=False,
        epochs=None,
        classifier_epochs=100,
        batch_size=defaults.BATCH_SIZE,
        lr=defaults.LR,
        classifier_lr=1e-2,
        optimizer=defaults.OPTIMIZER,
        patience=None,
        validation_fraction="auto",
        random_state=None,
        device="auto",
        verbose=0,
        threads=None,
        train_options=None,
    ):
        self.model = model
        self.mode = mode
        self.head_hidden = head_hidden
        self.hidden = hidden
        self.latent_dim = latent_dim
        self.activation = activation
        self.init = init
        self.output = output
        self.l2 = l2
        self.tied = tied
        self.scale = scale
        self.model_params = model_params
        self.layerwise = layerwise
        self.epochs = epochs
        self.classifier_epochs = classifier_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.classifier_lr = classifier_lr
        self.optimizer = optimizer
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.threads = threads
        self.train_options = train_options

    _linear_codes = True  # defaults.coding_activation: small tables get linear codings

    @_threaded
    def fit(self, X, y, X_unlabeled=None):
        """Pretrain on ``X`` (+ ``X_unlabeled``) without labels, then train on ``(X, y)``."""
        from .classify import train_classifier

        self._check_mode()
        X, y = _validate_data(self, X, y, dtype=_FLOATS)
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"y has only 1 class ({self.classes_[0]}); a classifier needs samples of at "
                "least 2 classes"
            )
        X_all = X
        if X_unlabeled is not None:
            U = check_array(X_unlabeled, dtype=X.dtype)
            if U.shape[1] != X.shape[1]:
                raise ValueError(
                    f"X_unlabeled has {U.shape[1]} features but X has {X.shape[1]}; both must "
                    "have the same columns"
                )
            X_all = np.concatenate([X, U])
        seed = self._seed()
        self._train_autoencoder(X_all, seed, train=self.mode != "scratch")
        self.autoencoder_ = self.model_
        rows = np.hstack([self._scaled(X), y_idx[:, None]])  # split together, then apart again
        train, val = self._split(rows, seed + 1, auto=0.0)
        options = self._train_options(
            epochs=self.classifier_epochs, lr=self.classifier_lr, seed=seed + 1,
            patience=self.patience,
        )  # fmt: skip
        self.model_, self.classifier_history_ = train_classifier(
            self.autoencoder_,
            train[:, :-1],
            train[:, -1].astype(np.int64),
            X_val=None if val is None else val[:, :-1],
            y_val=None if val is None else val[:, -1].astype(np.int64),
            mode=self.mode,
            hidden=tuple(self.head_hidden),
            n_classes=len(self.classes_),
            # step="fused" is the autoencoder's: a classifier trains through autograd.
            options=replace(
                options,
                device=_device(self.autoencoder_),
                step="auto" if options.step == "fused" else options.step,
            ),
        )
        return self

    @_threaded
    def _logits(self, X) -> np.ndarray:
        self._check_fitted()
        X = self._validate(X, reset=False)
        X = self._scaled(X)
        return _infer(self.model_, self.model_, X).astype(np.float64)  # (n, n_classes)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns in the order of classes_."""
        logits = self._logits(X)
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        return p / p.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        """Logarithms of :meth:`predict_proba`, computed stably."""
        logits = self._logits(X)
        shifted = logits - logits.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))

    def predict(self, X):
        """The most probable class of each sample."""
        logits = self._logits(X)
        return self.classes_[np.argmax(logits, axis=1)]

    def save(self, path: str | Path) -> Path:
        """Save to one ``.safetensors`` file: the classifier network, the pretrained autoencoder
        (tensors ``autoencoder/*``, its configuration in the JSON) and the estimator's JSON."""
        from .checkpoint import save

        self._check_fitted()
        meta = self._metadata()
        meta["autoencoder"] = self.autoencoder_.config
        parts = {"autoencoder/": self.autoencoder_}
        return save(self.model_, path, metadata={"estimator": meta}, parts=parts)

    def _check_mode(self) -> None:
        from .choices import CLASSIFIER_MODES as MODES

        if self.mode not in MODES:
            raise ValueError(
                f"mode={self.mode!r} is not known; choose 'frozen' (train the head on fixed "
                "codings), 'finetune' (train encoder and head) or 'scratch' (no pretraining)"
                + suggest(self.mode, MODES)
            )

    def _check_params(self) -> None:
        self._check_mode()
        super()._check_params()

    def _load_extra(self, path, info, device) -> None:
        from .checkpoint import load_part

        self.autoencoder_ = load_part(path, info.get("autoencoder"), "autoencoder/", device=device)
