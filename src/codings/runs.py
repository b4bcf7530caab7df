"""A run directory: one trained model with everything that explains it, in one folder.

::

    run/
      model.safetensors   weights + JSON header: builder, scaling, image shape, data set, metrics
      history.json        one record per epoch, strict JSON (a NaN or infinite loss is null)
      history.csv         the same records as a table
      metrics.json        the final metrics
      options.json        the exact options of the run and fingerprints of its data
      *.png               figures: the caller draws them at ``run.figure_path(name)``
      .lock               held by the process writing the run

:meth:`Run.create` makes (and locks) one for writing; :meth:`Run.open` reads one back as a model,
its scaling, history, metrics and options, and :meth:`Run.check_input` is the one check that
new rows fit the model. Runs written by codings 0.1.0 (no ``options.json``, no
``history.csv``) open the same way: their options are read from the model's header. So does a
file saved by an estimator's ``save``: its scaling and feature count are the estimator's.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoint import atomic_write, load, read_metadata, remove_stale_temps, save
from .datasets import Scaling

__all__ = ["Run", "RunError", "RunExists", "RunLocked", "RunNotWritable", "fingerprint"]

MODEL = "model.safetensors"
HISTORY = "history.json"
HISTORY_CSV = "history.csv"
METRICS = "metrics.json"
OPTIONS = "options.json"
LOCK = ".lock"


class RunError(ValueError):
    """A run directory that cannot be written or read as asked, or rows that do not fit it."""


class RunExists(RunError):
    """:meth:`Run.create` found a model in the folder and was not allowed to replace it."""


class RunLocked(RunError):
    """Another process holds the folder's lock (it is writing a run there)."""


class RunNotWritable(RunError):
    """The folder cannot be made or written."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path} cannot be written ({reason}); choose another folder")
        self.path, self.reason = path, reason


def fingerprint(X) -> str:
    """The shape and a hash of up to 256 evenly spaced rows (as float32): cheap on a memory map
    of any size, and different for another data set, split or scaling. ``X``: an array, a
    memory map or a tensor (on any device)."""
    n = X.shape[0]
    h = hashlib.blake2b(repr(tuple(X.shape)).encode(), digest_size=16)
    for i in np.unique(np.linspace(0, n - 1, num=min(n, 256)).astype(np.int64)):
        row = X[int(i)]
        row = row.detach().cpu().numpy() if hasattr(row, "detach") else np.asarray(row)
        h.update(np.ascontiguousarray(row, dtype=np.float32).tobytes())
    return h.hexdigest()


def history_json(records: Iterable[Mapping], indent: int | None = 1) -> str:
    """Strict JSON (no bare NaN or Infinity, which strict parsers refuse): a value that is not
    finite is written as null; :func:`history_records` reads it back as NaN."""
    clean = [
        {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in r.items()}
        for r in records
    ]
    return json.dumps(clean, indent=indent, allow_nan=False)


def history_records(text: str) -> list[dict]:
    """The records of :func:`history_json`'s text, a null read back as NaN."""
    return [{k: math.nan if v is None else v for k, v in r.items()} for r in json.loads(text)]


def history_csv(records: Iterable[Mapping]) -> str:
    """The records as a CSV table: a column per key (in order of first appearance), a row per
    epoch, a cell left empty where an epoch lacks the key; floats written exactly (``repr``)."""
    records = list(records)
    columns: dict[str, None] = {}
    for r in records:
        columns.update(dict.fromkeys(r))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in records:
        writer.writerow(
            repr(r[k]) if isinstance(r.get(k), float) else r.get(k, "") for k in columns
        )
    return buf.getvalue()


def _records(history) -> list[dict]:
    """A History (anything with ``records``) or a list of per-epoch dicts, as the list."""
    return list(getattr(history, "records", history))


class Run:
    """One run directory. Make one with :meth:`create` (to write) or :meth:`open` (to read)."""

    def __init__(self, path: str | os.PathLike, *, model_path: str | os.PathLike | None = None):
        self.path = Path(path)
        self.model_path = Path(model_path) if model_path is not None else self.path / MODEL
        self.device: Any = "cpu"
        self._model = None
        self._metadata: dict | None = None
        self._scaling: Scaling | None | bool = False  # False: not read yet
        self._lock = None

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # --- writing --------------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | os.PathLike, *, exist_ok: bool = False, lock: bool = True) -> Run:
        """Make the folder ``path`` for a new run and lock it for this process.

        Refuses (:class:`RunExists`) a folder that already holds a model unless ``exist_ok``;
        :class:`RunNotWritable` where the folder cannot be made or written, and
        :class:`RunLocked` while another process holds its lock. Once locked, the temporary
        files a killed writer left there are removed. ``lock=False`` (a process that will not
        write, such as a second rank under torchrun) makes and locks nothing. The lock is held
        until :meth:`close` (or the end of a ``with`` block).
        """
        run = cls(path)
        if not lock:
            return run
        try:
            run.path.mkdir(parents=True, exist_ok=True)
            handle = open(run.path / LOCK, "a")  # noqa: SIM115 (held open until close())
            tempfile.TemporaryFile(dir=run.path).close()  # the folder itself, not only the lock
        except OSError as e:
            raise RunNotWritable(run.path, str(e.strerror or e)) from None
        try:
            import fcntl
        except ImportError:  # no flock (Windows): no lock
            fcntl = None
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                raise RunLocked(
                    f"another process is writing to {run.path} (lock {run.path / LOCK}); wait "
                    "for it or choose another folder"
                ) from None
        run._lock = handle
        try:
            if run.model_path.exists() and not exist_ok:
                raise RunExists(f"{run.path} already holds a model; choose another folder")
            remove_stale_temps(run.path)  # ours alone now: no live writer's file is taken
        except BaseException:
            run.close()
            raise
        return run

    def close(self) -> None:
        """Release the folder's lock (a run that holds none: nothing to do)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def write_model(self, model, *, scaling: Scaling | None = None, **metadata) -> Path:
        """Save ``model`` (atomically) with its scaling and ``metadata`` in the header, which
        :attr:`metadata` and ``codings.load(...).metadata`` read back."""
        meta = {"scaling": scaling.to_meta() if scaling is not None else None, **metadata}
        save(model, self.model_path, metadata=meta)
        # Read back from the file from now on, not from memory.
        self._model, self._metadata, self._scaling = None, None, False
        return self.model_path

    def write_history(self, history) -> tuple[Path, Path]:
        """``history.json`` (strict) and ``history.csv`` from a History or a list of dicts."""
        records = _records(history)
        atomic_write(self.path / HISTORY, history_json(records).encode())
        atomic_write(self.path / HISTORY_CSV, history_csv(records).encode())
        return self.path / HISTORY, self.path / HISTORY_CSV

    def write_metrics(self, metrics: Mapping[str, float]) -> Path:
        atomic_write(self.path / METRICS, json.dumps(dict(metrics), indent=1).encode())
        return self.path / METRICS

    def write_options(
        self,
        options: Mapping[str, Any],
        data: Mapping[str, np.ndarray | None] | None = None,
        *,
        training: Mapping[str, Any] | None = None,
    ) -> Path:
        """``options.json``: the run's exact options, a :func:`fingerprint` of each data
        array in ``data`` (``{"train": X, "validation": Xv}``; None stays null) and, where
        given, the training options as resolved (``TrainOptions.to_dict()``)."""
        prints = {k: None if v is None else fingerprint(v) for k, v in (data or {}).items()}
        record = {"options": dict(options), "data": prints}
        if training is not None:
            record["training"] = dict(training)
        text = json.dumps(record, indent=1, default=str)
        atomic_write(self.path / OPTIONS, text.encode())
        return self.path / OPTIONS

    def figure_path(self, name: str) -> Path:
        """Where the figure ``name`` (e.g. ``"curves.png"``) goes: the caller draws it there."""
        if Path(name).name != name:
            raise ValueError(f"a figure's name is a file name, not a path (got {name!r})")
        return self.path / name

    # --- reading --------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike, *, device: Any = "cpu") -> Run:
        """A run written by :meth:`create` (or by ``codings train``): the folder, or the model
        file in it. The header is read and checked now; the weights on first use of
        :attr:`model`, onto ``device``."""
        p = Path(path)
        if p.is_dir():
            if not (p / MODEL).exists():
                raise RunError(f"{p} has no {MODEL}; give the folder `codings train` wrote")
            run = cls(p)
        else:
            run = cls(p.parent, model_path=p)
        run.device = device
        run._metadata = read_metadata(run.model_path)
        return run

    @property
    def metadata(self) -> dict:
        """The model file's header: builder, arguments, scaling, metrics, ..."""
        if self._metadata is None:
            self._metadata = read_metadata(self.model_path)
        return self._metadata

    @property
    def model(self):
        """The trained model, loaded on first use onto the run's device (``model.metadata`` is
        the header)."""
        if self._model is None:
            self._model = load(self.model_path, device=self.device)
        return self._model

    @property
    def scaling(self) -> Scaling | None:
        """The scaling the model was trained with (None: it sees the data as they are)."""
        if self._scaling is False:
            meta = self.metadata.get("scaling", self._fitted("scaling_", {}).get("scaling"))
            self._scaling = Scaling.from_meta(meta)
        return self._scaling

    def _fitted(self, key: str, default=None):
        """A fitted attribute of the estimator saved in the file (its ``save``), if any."""
        estimator = self.metadata.get("estimator")
        fitted = estimator.get("fitted") if isinstance(estimator, dict) else None
        value = fitted.get(key) if isinstance(fitted, dict) else None
        return default if value is None else value

    def to_model(self, X: np.ndarray) -> np.ndarray:
        """Rows in the data's units -> as the model sees them (scaled where it was trained so)."""
        scaling = self.scaling
        return scaling.forward(X) if scaling is not None else X

    def to_data(self, X: np.ndarray) -> np.ndarray:
        """The model's outputs (reconstructions, samples) -> in the data's units."""
        scaling = self.scaling
        return scaling.inverse(X) if scaling is not None else X

    @property
    def n_features(self) -> int | None:
        n = self.metadata.get("n_features", self._fitted("n_features_in_"))
        return int(n) if n is not None else None

    @property
    def image_shape(self) -> tuple[int, ...] | None:
        shape = self.metadata.get("image_shape")
        return tuple(shape) if shape else None

    @property
    def history(self) -> list[dict]:
        """The per-epoch records (a null loss read back as NaN); [] if none was written."""
        path = self.path / HISTORY
        return history_records(path.read_text()) if path.exists() else []

    @property
    def metrics(self) -> dict:
        """``metrics.json``, else the metrics in the model's header ({} if neither)."""
        path = self.path / METRICS
        if path.exists():
            return json.loads(path.read_text())
        return dict(self.metadata.get("metrics") or {})

    @property
    def training(self) -> dict:
        """The training options as resolved (``options.json``'s ``training``; {} if none)."""
        path = self.path / OPTIONS
        return dict(json.loads(path.read_text()).get("training") or {}) if path.exists() else {}

    @property
    def options(self) -> dict:
        """The run's options: ``options.json``, else (a run of codings 0.1.0) the header's."""
        path = self.path / OPTIONS
        if path.exists():
            return json.loads(path.read_text())["options"]
        return dict(self.metadata.get("train_args") or {})

    def check_input(
        self, X: np.ndarray, *, source: str = "X", image_shape: tuple[int, ...] | None = None
    ) -> None:
        """Refuse rows the model cannot take, with one message that names ``source``: images
        (``image_shape``, as read from a file) of another size than the model's, or rows that
        are not ``(n_samples, n_features)`` with the model's feature count."""
        trained = self.image_shape
        if image_shape is not None and trained is not None:
            if [d for d in image_shape if d != 1] != [d for d in trained if d != 1]:
                raise RunError(
                    f"{source} holds images of {'x'.join(map(str, image_shape))} but the model "
                    f"was trained on images of {'x'.join(map(str, trained))}; give images of "
                    "that size"
                )
        n = self.n_features
        shape = tuple(getattr(X, "shape", ()))
        if len(shape) == 2 and shape[0] > 0 and (n is None or shape[1] == n):
            return
        if len(shape) == 2 and shape[0] > 0:
            got = f"has {shape[1]} features per row"
        else:
            got = f"has shape {shape}"
        takes = "rows" if n is None else f"rows of {n} features"
        raise RunError(
            f"{source} {got} but the model takes {takes} (shape (n_samples, {n or 'n_features'}));"
            " give rows of the same kind as the training data"
        )
