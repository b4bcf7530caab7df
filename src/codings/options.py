"""One description of a training run's options, accepted by every training path.

:class:`TrainOptions` holds what :func:`codings.fit` takes besides the model, the data and the
callbacks. ``fit``, :func:`codings.pretrain_layerwise`, :func:`codings.train_classifier`, the
estimators and the command line all accept it; an option a path cannot honour is refused there
with an error that names the option and the path (:func:`refuse`), never dropped without a word.

The checks of the values live here, once: an object that exists is a valid one.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .choices import LR_SCHEDULES, OPTIMIZERS, PRECISIONS, STEPS
from .errors import suggest

__all__ = ["FIELDS", "STEPS", "UNSET", "TrainOptions", "refuse", "resolve"]


class _Unset:
    """A keyword the caller did not give (its value then comes from ``options`` or the default)."""

    def __repr__(self) -> str:
        return "<default>"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()


@dataclass(frozen=True)
class TrainOptions:
    """The options of one training run; the defaults are :func:`codings.fit`'s.

    ``epochs``, ``batch_size``, ``lr``, ``optimizer`` ("adam", "adamw", "nadam", "sgd"),
    ``weight_decay``, ``clip_norm`` (None: no clipping), ``lr_schedule`` ("constant",
    "cosine"), ``precision`` ("fp32", "bf16", "fp16"), ``seed``, ``patience`` (None: no early
    stop) and ``restore_best``, ``device``, ``threads`` (None or "auto": chosen by size and
    load), ``progress`` (False, True or a :class:`codings.progress.Reporter`), ``checkpoint``
    and ``resume`` (paths), ``chunk_size`` (rows read at a time from a memory map) and ``step``
    ("auto", "fused" or "autograd"). See :func:`codings.fit` for what each does.

    Invalid values raise ``ValueError`` when the object is made, naming the option.
    ``dataclasses.replace(options, epochs=5)`` gives a copy with one option changed.
    """

    epochs: int = 10
    batch_size: int = 256
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    clip_norm: float | None = None
    lr_schedule: str = "constant"
    precision: str = "fp32"
    seed: int = 0
    patience: int | None = None
    restore_best: bool = True
    device: Any = "auto"
    threads: int | str | None = None
    progress: Any = False
    checkpoint: str | Path | None = None
    resume: str | Path | None = None
    chunk_size: int | None = None
    step: str = "auto"

    def __post_init__(self) -> None:
        from .threads import check as check_threads

        check_fit_args(
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, patience=self.patience
        )
        check_optimizer(self.optimizer)
        check_schedule(self.lr_schedule)
        check_precision(self.precision)
        check_threads(self.threads)
        check_step(self.step)
        wd = self.weight_decay
        if isinstance(wd, bool) or not isinstance(wd, numbers.Real) or not 0 <= wd < math.inf:
            raise ValueError(f"weight_decay={wd!r} must be a finite number >= 0, e.g. 1e-4")
        clip = self.clip_norm
        if clip is not None and (
            isinstance(clip, bool) or not isinstance(clip, numbers.Real) or not 0 < clip < math.inf
        ):
            raise ValueError(f"clip_norm={clip!r} must be a positive finite number, or None")
        seed = self.seed
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise ValueError(f"seed={seed!r} must be a whole number")
        if not isinstance(self.restore_best, bool):
            raise ValueError(f"restore_best={self.restore_best!r} must be True or False")
        chunk = self.chunk_size
        if chunk is not None and (
            isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1
        ):
            raise ValueError(f"chunk_size={chunk!r} must be a positive whole number, or None")

    def to_dict(self) -> dict:
        """The options as JSON values, e.g. for a run's record: a device or path as text, a
        progress reporter as True."""
        out = {name: getattr(self, name) for name in FIELDS}  # asdict would copy a reporter
        for key in ("device", "checkpoint", "resume"):
            if out[key] is not None:
                out[key] = str(out[key])
        out["progress"] = bool(out["progress"])
        return out


#: The option names, in the order of the dataclass.
FIELDS = tuple(f.name for f in dataclasses.fields(TrainOptions))


def resolve(options: TrainOptions | None, where: str, **given) -> TrainOptions:
    """The options of a call: ``options``, or the keywords ``given`` (those not :data:`UNSET`)
    over the defaults. Both at once is refused: an option would then be given twice."""
    given = {k: v for k, v in given.items() if v is not UNSET}
    if options is None:
        return TrainOptions(**given)
    if not isinstance(options, TrainOptions):
        raise TypeError(
            f"{where}: options must be a codings.options.TrainOptions; got {type(options).__name__}"
        )
    if given:
        names = ", ".join(sorted(given))
        first = sorted(given)[0]
        raise ValueError(
            f"{where} got options and the keyword(s) {names}: give each option once, e.g. "
            f"options=dataclasses.replace(options, {first}={given[first]!r})"
        )
    return options


def refuse(options: TrainOptions, where: str, names: dict[str, str]) -> None:
    """Raise if ``options`` sets any of ``names`` (option -> why ``where`` cannot honour it) to
    something other than its default."""
    for name, why in names.items():
        value = getattr(options, name)
        if value != _DEFAULTS[name]:
            raise ValueError(
                f"{where} does not take {name}={value!r} ({why}); leave {name} at its default "
                f"{_DEFAULTS[name]!r}"
            )


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainOptions)}


def check_optimizer(name: str) -> None:
    if name not in OPTIMIZERS:
        raise ValueError(
            f"optimizer={name!r} is not known; choose one of {', '.join(OPTIMIZERS)}"
            + suggest(str(name), OPTIMIZERS)
        )


def check_schedule(schedule) -> None:
    if schedule not in LR_SCHEDULES:
        raise ValueError(
            f"lr_schedule={schedule!r} is not known; choose one of {', '.join(LR_SCHEDULES)}"
            + suggest(str(schedule), LR_SCHEDULES)
        )


def check_precision(precision) -> None:
    if precision not in PRECISIONS:
        raise ValueError(
            f"precision={precision!r} is not known; choose one of {', '.join(PRECISIONS)}"
            + suggest(str(precision), PRECISIONS)
        )


def check_step(step) -> None:
    if step not in STEPS:
        raise ValueError(
            f"step={step!r} is not known; choose auto (the fused step where it applies), fused "
            "or autograd" + suggest(str(step), STEPS)
        )


def check_fit_args(*, epochs, batch_size, lr, patience) -> None:
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs={epochs!r} must be a whole number >= 0")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size={batch_size!r} must be a positive whole number, e.g. 256")
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not 0 < lr < math.inf:
        raise ValueError(f"lr={lr!r} must be a positive finite number, e.g. 1e-3")
    if patience is not None and (
        isinstance(patience, bool) or not isinstance(patience, int) or patience < 1
    ):
        raise ValueError(f"patience={patience!r} must be a positive whole number or None")
