"""Option values and the layer-size parser, without torch.

The command line builds its parser from these before any command runs, so ``codings --help``
and argument errors never wait for torch to load; the library checks its arguments against the
same names.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

OPTIMIZERS = ("adam", "adamw", "nadam", "sgd")
PRECISIONS = ("fp32", "bf16", "fp16")
LR_SCHEDULES = ("constant", "cosine")
# A classifier on an encoder: train the head on fixed codings, fine-tune everything, or train the
# same network from random weights (codings.classify, `codings classify --mode`, the estimator).
CLASSIFIER_MODES = ("frozen", "finetune", "scratch")
#: fit's training steps: the hand-written one of codings.fused, autograd, or "auto" (the fused
#: step where it applies, else autograd).
STEPS = ("auto", "fused", "autograd")

_SIZES_RULE = "give comma-separated positive whole numbers, e.g. 300,150"


def parse_sizes(value: str | Sequence[int], name: str = "hidden") -> tuple[int, ...]:
    """'300,150' or [300, 150] -> (300, 150), with a clear error for anything else."""
    if isinstance(value, str):
        parts = value.replace(" ", "").split(",")
        if parts == [""]:
            raise ValueError(f"{name}={value!r} holds no sizes; {_SIZES_RULE}")
        if "" in parts:
            raise ValueError(
                f"{name}={value!r} has an empty size (two commas in a row, or one at an end); "
                + _SIZES_RULE
            )
        try:
            sizes = tuple(int(p) for p in parts)
        except ValueError:
            raise ValueError(f"{name}={value!r} is not a list of sizes; {_SIZES_RULE}") from None
    else:
        sizes = tuple(int(v) for v in value)
    if not sizes:
        raise ValueError(f"{name}={value!r} holds no sizes; {_SIZES_RULE}")
    bad = [s for s in sizes if s <= 0]
    if bad:
        raise ValueError(
            f"{name}={value!r} holds {bad[0]}, which is not a layer size; {_SIZES_RULE}"
        )
    return sizes


def square_image_shape(n_features: int, min_side: int = 1) -> tuple[int, int] | None:
    """(side, side) when ``n_features`` pixels make a square image of at least ``min_side``
    pixels a side, else None: the one guess of an image's shape from its row length."""
    if n_features < 1:
        return None
    side = math.isqrt(n_features)
    return (side, side) if side * side == n_features and side >= min_side else None
