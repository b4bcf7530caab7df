"""Progress reports on standard error, opt-in: library code prints nothing unless given one.

Functions that do long work take ``progress=``: ``False`` (the default, silent), ``True`` (a
:class:`Progress` on standard error) or any :class:`Reporter`. A reporter is told about counted
work in three calls (``begin``, ``update``, ``end``), about phases in ``note``, and is closed
at the end:

- :class:`Progress` keeps one line per epoch, like Keras
  (``Epoch 3/20 [=====>....] 120/215 - 2.1s - loss: 0.0123 - reconstruction: 0.011``),
  redrawn in place at most ten times a second when the stream is a terminal; elsewhere (CI, a
  file, a pipe) it writes one plain line per epoch when the epoch ends, without carriage
  returns. Other long work (evaluation, importance sampling, encoding) gets the same bar, shown
  only once it has run for a second, so quick calls stay silent.
- :class:`EpochTable` prints one row per epoch (skorch style), the estimators' ``verbose=1``.

The running loss is read (which waits for the device) only when a line is drawn, never per step.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
import weakref

__all__ = ["EpochTable", "Progress", "Reporter", "as_reporter", "finish_lines"]

#: Seconds that work other than an epoch runs before :class:`Progress` shows it.
TASK_DELAY = 1.0


class Reporter:
    """What a progress reporter answers to; every method does nothing here. Subclass it."""

    def note(self, text: str) -> None:
        """A line of context between pieces of work, e.g. ``"phase 2/3: 300->150"``."""

    def begin(self, title: str, total: int, unit: str = "", *, task: bool = False) -> None:
        """Counted work starts: ``total`` items (optimiser steps of an epoch, examples, rows).

        ``task=True`` marks work other than an epoch (shown only when it proves long)."""

    def update(self, done: int, sums: dict | None = None) -> None:
        """``done`` items are finished; ``sums`` holds running totals over them (tensors or
        floats), read only if the reporter draws now. Called once per step: keep it cheap."""

    def end(self, record: dict | None = None) -> None:
        """The work is finished; ``record`` is an epoch's history record (``train_*``,
        ``val_*``, ``epoch``, ``time``), if it was an epoch."""

    def close(self) -> None:
        """No more work: finish any line left open (e.g. after an interruption)."""


_METHODS = ("note", "begin", "update", "end", "close")


def as_reporter(progress) -> Reporter | None:
    """None for ``False``/``None``, a :class:`Progress` on standard error for ``True``, else
    ``progress`` itself (a :class:`Reporter`)."""
    if progress is None or progress is False:
        return None
    if progress is True:
        return Progress()
    if all(callable(getattr(progress, m, None)) for m in _METHODS):
        return progress
    raise TypeError(
        f"progress={progress!r} must be True, False or a reporter such as "
        "codings.progress.Progress() (an object with note, begin, update, end and close)"
    )


_OPEN: weakref.WeakSet = weakref.WeakSet()  # live bars whose line has no newline yet


def finish_lines() -> None:
    """End every live bar's unfinished line, so that a message printed next (an error, an
    interruption) starts on a line of its own."""
    for bar in list(_OPEN):
        bar.close()


def _write(stream, text: str) -> None:
    # A report must never stop the work: a closed stream or a reader gone away (a broken
    # pipe) only loses the report.
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):
        pass


def _stream_is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def duration(seconds: float) -> str:
    """'0.42s', '3.1s', '12s', '3m05s', '1h02m'."""
    if seconds < 10:
        return f"{seconds:.2f}s" if seconds < 1 else f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    m, s = divmod(int(seconds), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def _values(record: dict) -> dict[str, float]:
    """An epoch record's numbers as Keras shows them: ``loss``, parts, then ``val_*``."""
    shown = {k[len("train_") :]: v for k, v in record.items() if k.startswith("train_")}
    shown.update({k: v for k, v in record.items() if k.startswith("val_")})
    return {k: v for k, v in shown.items() if isinstance(v, (int, float))}


class Progress(Reporter):
    """A bar per epoch (or per piece of long work) on ``stream`` (default: standard error).

    Parameters
    ----------
    stream : file-like, optional
        Where to write; by default ``sys.stderr`` as it is at each write.
    live : bool, optional
        Redraw the line in place while the work runs. Default: when the stream is a terminal.
        Without it, each epoch (and each long task) writes one line when it ends.
    interval : float
        At least this many seconds between redraws (0.1: at most ten a second).
    task_delay : float, optional
        Work other than epochs (evaluation, sampling, encoding) is shown only once it has run
        this many seconds (default :data:`TASK_DELAY`); quicker work leaves no line.
    width : int
        Characters of the bar itself.
    """

    def __init__(self, stream=None, *, live=None, interval=0.1, task_delay=None, width=20):
        self.stream = stream
        self.live = live
        self.interval = interval
        self.task_delay = TASK_DELAY if task_delay is None else task_delay
        self.width = width
        self._open = False  # a live line is on screen without its newline
        self._shown_len = 0
        self._title = None

    @property
    def _out(self):
        return self.stream if self.stream is not None else sys.stderr

    def _write(self, text: str) -> None:
        _write(self._out, text)

    def note(self, text: str) -> None:
        self._finish_line()
        self._write(text + "\n")

    def begin(self, title: str, total: int, unit: str = "", *, task: bool = False) -> None:
        self._finish_line()
        self._title, self._total, self._unit, self._task = title, max(0, int(total)), unit, task
        self._done = 0
        self._t0 = time.perf_counter()
        self._is_live = _stream_is_terminal(self._out) if self.live is None else bool(self.live)
        self._next = self._t0 + (self.task_delay if task else self.interval)

    def update(self, done: int, sums: dict | None = None) -> None:
        self._done = done
        if not self._is_live:
            return
        now = time.perf_counter()
        if now < self._next:
            return
        self._next = now + self.interval
        values = {k: float(v) / max(done, 1) for k, v in (sums or {}).items()}
        self._draw(self._line(done, values, now - self._t0, final=False))

    def end(self, record: dict | None = None) -> None:
        if self._title is None:
            return
        elapsed = time.perf_counter() - self._t0
        if self._task and elapsed < self.task_delay and not self._open:
            self._title = None  # quick work: no line
            return
        done = self._total if record is not None else self._done
        values = _values(record) if record is not None else {}
        if record is not None and "time" in record:
            elapsed = record["time"]
        line = self._line(done, values, elapsed, final=True)
        if self._is_live:
            self._draw(line)
            self._finish_line()
        else:
            self._write(line + "\n")
        self._title = None

    def close(self) -> None:
        self._finish_line()

    # --- drawing ---

    def _finish_line(self) -> None:
        if self._open:
            self._write("\n")
            self._open, self._shown_len = False, 0
            _OPEN.discard(self)

    def _draw(self, line: str) -> None:
        columns = shutil.get_terminal_size((100, 24)).columns
        line = line[: max(20, columns - 1)]  # a wrapped line cannot be redrawn in place
        pad = " " * max(0, self._shown_len - len(line))
        self._write("\r" + line + pad)
        self._shown_len = len(line)
        self._open = True
        _OPEN.add(self)

    def _line(self, done: int, values: dict[str, float], elapsed: float, final: bool) -> str:
        total = self._total
        count = f"{done}/{total}" + (f" {self._unit}" if self._unit else "")
        if self._is_live:
            filled = self.width if total == 0 else int(self.width * min(done, total) / total)
            head = ">" if filled < self.width else ""
            bar = "[" + ("=" * filled + head).ljust(self.width, ".")[: self.width] + "] "
        else:
            bar = "- "
        parts = [f"{self._title} {bar}{count}", duration(elapsed)]
        if not final and 0 < done < total:
            parts.append("ETA " + duration(elapsed * (total - done) / done))
        parts += [f"{k}: {v:.4g}" for k, v in values.items()]
        return " - ".join(parts)


class EpochTable(Reporter):
    """One row per epoch on ``stream`` (default: standard error), skorch style::

        epoch  train_loss  valid_loss      dur
            1      0.0712      0.0655 *   0.31s
            2      0.0540      0.0581 *   0.30s

    ``*`` marks each new best validation loss (training loss when there is no validation
    data). A ``note`` (a layer-wise phase, a classifier's stage) starts a new table, since
    losses of different phases are not comparable.
    """

    def __init__(self, stream=None):
        self.stream = stream
        self._header = False
        self._best = math.inf

    def _write(self, text: str) -> None:
        _write(self.stream if self.stream is not None else sys.stderr, text + "\n")

    def note(self, text: str) -> None:
        self._write(text)
        self._header, self._best = False, math.inf

    def end(self, record: dict | None = None) -> None:
        if not record or "epoch" not in record:
            return  # not an epoch
        valid = "val_loss" in record
        if not self._header:
            cols = f"{'epoch':>5}  {'train_loss':>10}"
            cols += f"  {'valid_loss':>10}  " if valid else "  "
            self._write(cols + f"{'dur':>7}")
            self._header = True
        monitored = record.get("val_loss", record.get("train_loss", math.inf))
        mark = "*" if monitored < self._best else " "
        self._best = min(self._best, monitored)
        train = record.get("train_loss", math.nan)
        row = f"{record['epoch']:>5}  {train:>10.4g}"
        row += f"  {record['val_loss']:>10.4g}{mark} " if valid else mark + " "
        self._write(row + f"{duration(record.get('time', 0.0)):>7}")
