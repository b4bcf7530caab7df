"""Experiment logs: what :func:`codings.fit` reports to, epoch by epoch and step by step.

A logger is any object with some of these methods (each optional); ``fit(..., loggers=[...])``
calls them as training goes:

* ``step(step, values)``: every ``every`` optimiser steps, the batch's loss and learning rate
  (``{"loss": ..., "lr": ...}``; ``step`` counts from 1 over the whole run);
* ``epoch(epoch, record)``: after each epoch, the history's record (every loss part, train and
  validation, the time, the learning rate);
* ``figures(paths)``: images the caller drew at the end (``codings train`` passes its figures);
* ``close()``: at the end of the run.

:class:`TensorBoardLogger` writes TensorBoard event files through PyTorch's own writer
(``pip install 'codings[tensorboard]'``); :class:`CSVLogger` writes ``history.csv`` as it goes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["CSVLogger", "TensorBoardLogger"]


def _numbers(values: Mapping) -> dict[str, float]:
    """The numeric entries (a NaN loss included: a curve should show where it broke)."""
    return {
        k: float(v)
        for k, v in values.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


class TensorBoardLogger:
    """TensorBoard event files in ``log_dir``: ``epoch/<key>`` scalars per epoch (every loss
    part, train and validation, ``lr``), ``step/loss`` and ``step/lr`` every ``every`` steps, and
    the figures as images at the end. ``tensorboard --logdir LOG_DIR`` shows them."""

    def __init__(self, log_dir: str | Path, *, every: int = 10):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:  # torch's writer needs the tensorboard package
            raise ImportError(
                "TensorBoard logs need the tensorboard package: pip install "
                "'codings[tensorboard]' (or pip install tensorboard)"
            ) from e
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every={every!r} must be a whole number of steps >= 1")
        self.log_dir = Path(log_dir)
        self.every = every
        self._writer = SummaryWriter(log_dir=str(self.log_dir))

    def step(self, step: int, values: Mapping[str, float]) -> None:
        for k, v in _numbers(values).items():
            self._writer.add_scalar(f"step/{k}", v, step)

    def epoch(self, epoch: int, record: Mapping) -> None:
        for k, v in _numbers(record).items():
            if k != "epoch":
                self._writer.add_scalar(f"epoch/{k}", v, epoch)
        self._writer.flush()

    def figures(self, paths: Iterable[str | Path]) -> None:
        from matplotlib.image import imread

        for path in paths:
            path = Path(path)
            if path.suffix.lower() != ".png":
                continue
            image = imread(path)[..., :3]  # RGBA floats in [0, 1] -> RGB
            self._writer.add_image(f"figures/{path.stem}", image, dataformats="HWC")
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> TensorBoardLogger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class CSVLogger:
    """``history.csv`` at ``path``, rewritten (atomically) after every epoch, so a long run can
    be followed (``tail``, a spreadsheet) while it trains."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.records: list[dict] = []

    def epoch(self, epoch: int, record: Mapping) -> None:
        from .checkpoint import atomic_write
        from .runs import history_csv

        self.records.append(dict(record))
        atomic_write(self.path, history_csv(self.records).encode())
