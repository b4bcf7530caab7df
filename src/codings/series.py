"""Time series: sliding windows and the way back, and labelled series that ship inside aeon.

A series is an array of shape (T,) or (T, C) (time steps, channels); several series are a list
of them with the same channels. :func:`window_stack` cuts windows of ``length`` steps every
``stride`` steps, (n_windows, length, C); :func:`unwindow` spreads per-window values back to
the time steps. The rule both follow (:func:`window_starts`): windows start at 0, stride,
2*stride, ...; where the last of them ends before the series does ((T - length) % stride != 0),
one more window ends exactly at the last step, so that every step is covered. A step's value is
the mean over the windows covering it.

The scaling of windows lives with the other scalings (:func:`codings.datasets.windows`); this
module is numbers only, and imports nothing of codings but the error helper.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from .errors import suggest

__all__ = [
    "SERIES",
    "as_series",
    "load_series",
    "step_errors",
    "unwindow",
    "window_stack",
    "window_starts",
]

# Labelled anomaly series in aeon's wheel: file names under aeon/datasets/data/<name>/, by split.
_ANOMALY = {
    "KDD-TSAD_135": {
        # The UCR anomaly archive's convention: the TRAIN file is the normal start of the series
        # (its first 1,200 steps), the TEST file the whole series with the anomaly labelled.
        "train": "135_UCR_Anomaly_InternalBleeding16_TRAIN.csv",
        "test": "135_UCR_Anomaly_InternalBleeding16_TEST.csv",
    },
    # No training part, and (aeon's note) no labelled freeze-of-gait episode in this excerpt:
    # every label is 0. aeon deprecates it in 1.6 and removes it in 1.7.
    "Daphnet_S06R02E0": {"test": "S06R02E0.csv"},
}
# Equal-length classification sets in aeon's wheel (NAME_TRAIN.ts, NAME_TEST.ts).
_CLASSIFICATION = ("GunPoint", "ItalyPowerDemand", "BasicMotions", "ArrowHead", "UnitTest")
ANOMALY_SERIES = tuple(_ANOMALY)
SERIES = ANOMALY_SERIES + _CLASSIFICATION


def _check_int(value, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name}={value!r} must be a whole number >= {low}")
    return int(value)


def as_series(series, name: str = "series") -> list[np.ndarray]:
    """One series (T,) or (T, C), or a list of them, as a list of float32 (T, C) arrays.

    A list (or tuple) of NumPy arrays is several series; anything else, nested lists
    included, is read as one. Refuses what cannot be windowed: another number of dimensions,
    no steps, series with different channels, and values that are not finite (naming the
    series, step and channel).
    """
    # A list of NumPy arrays is several series; anything else (nested lists too) is one.
    several = isinstance(series, (list, tuple)) and any(isinstance(s, np.ndarray) for s in series)
    parts = list(series) if several else [series]
    out = []
    for k, s in enumerate(parts):
        what = f"{name}[{k}]" if several else name
        a = np.asarray(s)
        if a.dtype.kind not in "biuf":
            raise ValueError(f"{what} holds {a.dtype} values; a series needs numbers")
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2:
            raise ValueError(
                f"{what} has shape {a.shape}; a series is (T,) or (T, C) (time steps, channels), "
                "several series a list of them; windows already cut are (n, T, C)"
            )
        if a.shape[0] == 0 or a.shape[1] == 0:
            raise ValueError(f"{what} has shape {a.shape}: no steps or no channels")
        a = np.ascontiguousarray(a, dtype=np.float32)
        bad = ~np.isfinite(a)
        if bad.any():
            t, c = (int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{what} is {a[t, c]} at step {t}, channel {c} ({int(bad.sum())} values are not "
                "finite); fill the gaps first (e.g. interpolate) or cut the series there"
            )
        if out and a.shape[1] != out[0].shape[1]:
            raise ValueError(
                f"{what} has {a.shape[1]} channels but {name}[0] has {out[0].shape[1]}; every "
                "series needs the same channels"
            )
        out.append(a)
    return out


def window_starts(n_steps: int, length: int, stride: int = 1) -> np.ndarray:
    """The first step of each window: 0, stride, 2*stride, ..., and T - length where the
    strides do not end there (the tail rule of this module)."""
    length = _check_int(length, "length", 1)
    stride = _check_int(stride, "stride", 1)
    if length > n_steps:
        raise ValueError(
            f"length={length} is longer than the series ({n_steps} steps); use a window of at "
            f"most {n_steps} steps or a longer series"
        )
    starts = np.arange(0, n_steps - length + 1, stride)
    if starts[-1] != n_steps - length:
        starts = np.append(starts, n_steps - length)
    return starts


def window_stack(parts: Sequence[np.ndarray], length: int, stride: int = 1) -> np.ndarray:
    """Windows (n_windows, length, C) of (T, C) series, one series after the other."""
    out = []
    for a in parts:
        starts = window_starts(len(a), length, stride)
        idx = starts[:, None] + np.arange(length)  # (n, length) step indices
        out.append(a[idx])  # (n, length, C)
    return np.concatenate(out) if len(out) > 1 else out[0]


def unwindow(values, n_steps, length: int, stride: int = 1):
    """Per-window values back to per-step values: the mean over the windows covering each step.

    ``values``: (n_windows,) one value per window (a score), or (n_windows, length) or
    (n_windows, length, C) one per window step (errors, reconstructions), in the order of
    :func:`window_stack`. ``n_steps``: the series' length, or a list of lengths for several
    series. Returns (T,), (T,) or (T, C), or a list of them for several series. A perfect
    reconstruction of every window gives the series back.
    """
    several = not isinstance(n_steps, numbers.Integral)
    lengths = [_check_int(t, "n_steps", 1) for t in (n_steps if several else [n_steps])]
    starts = [window_starts(t, length, stride) for t in lengths]
    values = np.asarray(values)
    n = sum(len(s) for s in starts)
    if values.ndim == 0 or len(values) != n:
        got = values.shape if values.ndim else "a scalar"
        raise ValueError(
            f"values has shape {got} but {n} windows of {length} steps (stride {stride}) cover "
            f"series of {lengths} steps; pass one value (or one per window step) per window"
        )
    per_step = values.ndim > 1
    if per_step and values.shape[1] != length:
        raise ValueError(
            f"values has shape {values.shape}: {values.shape[1]} steps per window, not {length}"
        )
    out, i = [], 0
    for t, s in zip(lengths, starts, strict=True):
        v = values[i : i + len(s)].astype(np.float64)
        i += len(s)
        if not per_step:
            v = np.broadcast_to(v[:, None], (len(s), length))  # each step gets its window's
        idx = (s[:, None] + np.arange(length)).ravel()  # (n * length,)
        sums = np.zeros((t,) + v.shape[2:])
        np.add.at(sums, idx, v.reshape((-1,) + v.shape[2:]))
        counts = np.bincount(idx, minlength=t).reshape((t,) + (1,) * (v.ndim - 2))
        out.append(sums / counts)
    return out if several else out[0]


def step_errors(errors, length: int, channels: int, n_steps=None, stride: int = 1):
    """Squared errors of flat windows -> errors per time step, the one rule behind every
    per-step anomaly score (``codings score`` and the detector's ``score_steps``).

    ``errors``: (n_windows, length * channels), each window value's squared reconstruction
    error, step-major as :func:`window_stack` flattens. A step's error is the mean over its
    channels: (n_windows, length). With ``n_steps`` (a series' length, or a list of lengths),
    each step of the series gets the mean over the windows covering it (:func:`unwindow`):
    (T,), or a list of them.
    """
    errors = np.asarray(errors, dtype=np.float64)
    if errors.ndim != 2 or errors.shape[1] != length * channels:
        raise ValueError(
            f"errors has shape {errors.shape}; windows of {length} steps and {channels} "
            f"channels give rows of {length * channels} values"
        )
    per_step = errors.reshape(len(errors), length, channels).mean(2)
    return per_step if n_steps is None else unwindow(per_step, n_steps, length, stride)


# --- aeon's series, read from its files (importing aeon compiles numba code: seconds) -----------


def _aeon_data() -> Path:
    spec = find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "the series that ship inside aeon need aeon, which is not installed; install it "
            "with pip install 'codings[series]'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def load_series(name: str, split: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A labelled series or classification set from aeon's wheel, read without importing aeon.

    Anomaly series (``"KDD-TSAD_135"``, ``"Daphnet_S06R02E0"``): ``split="test"`` (the
    default) is the whole series, values (T, C) float32 and labels (T,) int8, 1 on anomalous
    steps; ``split="train"`` the normal start where the archive defines one (KDD-TSAD_135: the
    first 1,200 steps). Classification sets (``"GunPoint"``, ``"ItalyPowerDemand"``, ...):
    ``split`` "train", "test" or None (both), values (n, T, C) float32 and class labels (n,)
    as strings, as the file writes them (aeon's loaders lowercase them). Needs
    ``pip install 'codings[series]'``.
    """
    if name not in SERIES:
        raise ValueError(
            f"series {name!r} is not known; choose one of {', '.join(SERIES)}"
            + suggest(name, SERIES)
        )
    root = _aeon_data()
    if name in _ANOMALY:
        files = _ANOMALY[name]
        split = "test" if split is None else split
        if split not in files:
            raise ValueError(
                f"split={split!r}: {name} has the splits {', '.join(map(repr, files))}"
            )
        return _read_timeeval(_existing(root / name / files[split], name))
    splits = {"train": ["TRAIN"], "test": ["TEST"], None: ["TRAIN", "TEST"]}
    if split not in splits:
        raise ValueError(f"split={split!r} must be 'train', 'test' or None (both)")
    parts = [_read_ts(_existing(root / name / f"{name}_{s}.ts", name)) for s in splits[split]]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _existing(path: Path, name: str) -> Path:
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: the installed aeon does not ship {name} (aeon 1.7 removed some "
            "data sets); install pip install 'codings[series]', which pins a release with it"
        )
    return path


def _read_timeeval(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """TimeEval's CSV: a timestamp, the channels, then is_anomaly."""
    with open(path) as f:
        n_cols = len(f.readline().split(","))
    cols = range(1, n_cols)
    a = np.loadtxt(path, delimiter=",", skiprows=1, usecols=cols, dtype=np.float64, ndmin=2)
    return np.ascontiguousarray(a[:, :-1], dtype=np.float32), a[:, -1].astype(np.int8)


def _read_ts(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """sktime/aeon's .ts format, equal lengths: after @data, one case a line, the channels
    separated by ':', each a comma-separated series, and the class label last."""
    X, y, data = [], [], False
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if not data:
                data = line.lower() == "@data"
                continue
            *channels, label = line.split(":")
            X.append([np.array(c.split(","), dtype=np.float64) for c in channels])
            y.append(label)
    try:
        a = np.array(X, dtype=np.float32)  # (n, C, T)
    except ValueError:
        raise ValueError(
            f"{path}: its series have different lengths; codings reads equal ones"
        ) from None
    return np.ascontiguousarray(a.transpose(0, 2, 1)), np.array(y)


# --- the outlier detector's sequences ----------------------------------------------------------


def _ndim(X) -> int | None:
    ndim = getattr(X, "ndim", None)
    if ndim is not None:
        return int(ndim)
    try:
        return int(np.asarray(X).ndim)  # nested lists, objects with __array__
    except (ValueError, TypeError):  # ragged lists: several series of different lengths
        return None


def is_sequence_input(X, window) -> bool:
    """Whether the detector reads ``X`` as sequences: windows (n, T, C), or a series (and a
    list of series) once ``window`` is set."""
    return window is not None or _ndim(X) == 3


def sequence_input(X, window, stride=1):
    """The detector's input as windows: ``(W, n_steps)``, ``W`` of shape (n, T, C) float32.

    Windows already cut, (n, T, C), are taken as they are (with a ``window``, of that many
    steps), and ``n_steps`` is None. With a ``window``, ``X`` may also be a series (T,) or
    (T, C), or a list of NumPy arrays (several series), cut into windows of ``window`` steps
    every ``stride`` steps (:func:`window_stack`); ``n_steps`` is the series' length (a list of
    lengths for several series), as :func:`unwindow` takes it.
    """
    if window is not None:
        window = _check_int(window, "window", 1)
        _check_int(stride, "stride", 1)
    several = isinstance(X, (list, tuple)) and any(isinstance(s, np.ndarray) for s in X)
    if window is None or (_ndim(X) == 3 and not several):
        if _ndim(X) != 3:
            raise ValueError(
                f"X has {_ndim(X)} dimensions; without a window the sequences are windows "
                "(n_windows, time steps, channels). For one series (T,) or (T, C), set "
                "window=<steps per window>"
            )
        W = np.asarray(X)
        if W.dtype.kind not in "biuf" or 0 in W.shape:
            raise ValueError(f"X has shape {W.shape} and dtype {W.dtype}; windows need numbers")
        if window is not None and W.shape[1] != window:
            raise ValueError(
                f"X holds windows of {W.shape[1]} steps but window={window}; pass a series to "
                f"cut, or windows of {window} steps"
            )
        W = np.ascontiguousarray(W, dtype=np.float32)
        bad = ~np.isfinite(W)
        if bad.any():
            i, t, c = (int(k) for k in np.argwhere(bad)[0])
            raise ValueError(
                f"X[{i}] is {W[i, t, c]} at step {t}, channel {c}; windows need finite values: "
                "fill or drop them first"
            )
        return W, None
    parts = as_series(X, "X")
    for k, p in enumerate(parts):
        if len(p) < window:
            what = f"X[{k}]" if several else "X"
            raise ValueError(
                f"{what} has {len(p)} steps, fewer than window={window}; use a shorter window "
                "or a longer series"
            )
    n_steps = [len(p) for p in parts] if several else len(parts[0])
    return window_stack(parts, window, stride), n_steps


def check_window(window, stride) -> None:
    """The detector's ``window`` (None or a whole number >= 1) and ``stride`` (>= 1)."""
    if window is not None:
        _check_int(window, "window", 1)
    _check_int(stride, "stride", 1)
