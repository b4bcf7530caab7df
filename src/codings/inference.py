"""One inference path: a model over the rows of a data set, in batches, on the model's device.

Every verb that runs a trained model without training it (``metrics.encode``, ``decode``,
``reconstruct``, ``evaluate``, the estimators' ``transform`` ... ``predict``, ``classify``'s
``predict``/``score``/``features``, layer-wise training's frozen codings, the diagnostics)
goes through :func:`batches`, and most through :func:`batched` on top of it. The rules, once:

- **Device and dtype**: the model's (its first floating parameter's; the CPU in float32 for a
  model without one). The data set stays where it is; each batch is sliced, converted and moved
  on its own, so a data set is never copied whole to the device nor converted twice, and a
  memory map is read one batch at a time.
- **Batch size** (:func:`rows_per_batch`): the caller's, if given; else :data:`ROWS` rows, fewer
  when a row is so wide that one batch's widest activation would pass :data:`BUDGET` bytes.
  ``pad=True`` fills the last batch with zero rows up to the batch size (default
  :data:`PADDED_ROWS`): float32 matrix products pick their kernels by shape, so a row's result
  can change in the last bits with the number of rows beside it; with one shape it cannot, and a
  sample gets the same output alone or among others (the estimators promise this).
- **Mode and gradients**: evaluation mode and ``torch.no_grad`` inside; every submodule's
  train/eval mode as it was afterwards, error or not.
- **Threads**: torch's CPU threads by :mod:`codings.threads`'s policy for the batch's work (or
  ``threads=``), restored afterwards.
- **Outputs**: numpy on the CPU, in the model's dtype, batch by batch (or a tensor on the
  model's device with ``numpy=False``, for training code that feeds the output on).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from .arrays import as_tensor, complex_message
from .progress import as_reporter
from .threads import step_flops, thread_count

#: Rows per batch when the caller gives none: enough for the matrix products to reach their full
#: speed on a CPU or a GPU (benchmarks/encode_speed.py), few enough to stay well inside memory.
ROWS = 4096
#: Rows per batch where the last batch is padded (``pad=True``): small, because a single row
#: then costs a whole batch.
PADDED_ROWS = 256
#: Bytes one batch's widest activation (or input) may take; wider rows get fewer rows per batch.
BUDGET = 64 * 2**20


def placement(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """The device and floating dtype the model computes in (the CPU and float32 if it has no
    floating parameter)."""
    for p in model.parameters():
        if p.is_floating_point():
            return p.device, p.dtype
    return torch.device("cpu"), torch.float32


def rows_per_batch(
    model: nn.Module, X=None, batch_size: int | None = None, *, pad: bool = False
) -> int:
    """The one batch-size rule: ``batch_size`` if given, else :data:`ROWS` (:data:`PADDED_ROWS`
    with ``pad``), fewer where a row's widest activation times the rows would pass
    :data:`BUDGET` bytes. The width is the larger of a row of ``X`` and the model's widest
    weight dimension (a layer's inputs or outputs)."""
    if batch_size is not None:
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, numbers.Integral)
            or batch_size < 1
        ):
            raise ValueError(
                f"batch_size={batch_size!r} must be a positive whole number, or None for "
                f"codings.inference's rule ({ROWS} rows, fewer for very wide rows)"
            )
        return int(batch_size)
    width = max((max(p.shape) for p in model.parameters() if p.ndim >= 2), default=1)
    if X is not None and getattr(X, "ndim", 0) >= 2:
        width = max(width, int(np.prod(X.shape[1:])))
    itemsize = placement(model)[1].itemsize
    return max(1, min(PADDED_ROWS if pad else ROWS, BUDGET // (width * itemsize)))


@contextmanager
def evaluating(model: nn.Module, *, rows: int = 1, threads=None):
    """Evaluation mode, no gradients and torch's CPU threads for batches of ``rows`` rows (or
    ``threads``) inside; every submodule's mode and the thread count as they were afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad(), thread_count(threads, step_flops(model, rows, training=False)):
            yield
    finally:
        for m, training in modes:
            m.training = training  # each its own: a submodule may differ from its parent


def batches(
    X,
    model: nn.Module,
    *,
    batch_size: int | None = None,
    pad: bool = False,
    device=None,
    prepare: Callable | None = None,
    name: str = "X",
    progress=False,
    title: str = "",
    unit: str = "rows",
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """Yield ``(start, stop, xb)`` over the rows of ``X``: ``xb`` is rows ``start:stop`` on the
    model's device (or ``device``) in its dtype, padded with zero rows to the batch size if
    ``pad``. ``prepare`` maps each numpy chunk before conversion (e.g. a scaling). Only one
    batch of ``X`` is read, converted and moved at a time."""
    on, dtype = placement(model)
    if device is not None:
        on = torch.device(device)
    n = _check_shape(X, name)
    rows = rows_per_batch(model, X, batch_size, pad=pad)
    bar = as_reporter(progress)
    if bar is not None:
        bar.begin(title, n, unit, task=True)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        xb = _batch(X[start:stop], on, dtype, name, start, prepare)
        if pad and stop - start < rows:
            xb = torch.cat([xb, xb.new_zeros((rows - (stop - start), *xb.shape[1:]))])
        yield start, stop, xb
        if bar is not None:
            bar.update(stop)
    if bar is not None:
        bar.end()


def batched(
    fn: Callable,
    X,
    *,
    model: nn.Module | None = None,
    batch_size: int | None = None,
    pad: bool = False,
    threads=None,
    progress=False,
    title: str = "",
    prepare: Callable | None = None,
    name: str = "X",
    out=None,
    numpy: bool = True,
):
    """``fn`` (a module, a bound method of one, or any function of a batch with ``model``)
    over the rows of ``X`` under the rules above; returns the outputs stacked as a numpy array
    on the CPU (``numpy=False``: a tensor on the model's device). ``out``: an array (e.g. a
    ``.npy`` memory map) to write the outputs into, batch by batch, instead; it is returned."""
    if model is None:
        model = fn if isinstance(fn, nn.Module) else getattr(fn, "__self__", None)
        if not isinstance(model, nn.Module):
            raise TypeError("batched needs model= unless fn is a module or one's method")
    rows = rows_per_batch(model, X, batch_size, pad=pad)
    n = _check_shape(X, name)
    parts = []
    with evaluating(model, rows=rows if pad else min(rows, n), threads=threads):
        for start, stop, xb in batches(
            X,
            model,
            batch_size=rows,
            pad=pad,
            prepare=prepare,
            name=name,
            progress=progress,
            title=title,
        ):
            y = fn(xb)[: stop - start]
            if out is not None:
                out[start:stop] = y.cpu().numpy()
            else:
                parts.append(y.cpu() if numpy else y)
    if out is not None:
        return out
    result = torch.cat(parts)
    return result.numpy() if numpy else result


def _check_shape(X, name: str) -> int:
    shape = tuple(X.shape) if hasattr(X, "shape") else np.shape(X)
    if len(shape) < 2 or shape[0] == 0:
        raise ValueError(
            f"{name} must have shape (n_samples, n_features) with n_samples >= 1; got {shape}"
        )
    return int(shape[0])


def _batch(chunk, device, dtype, name: str, start: int, prepare) -> torch.Tensor:
    """Rows of ``X`` (an array, a memory map's slice or a tensor) as a tensor on ``device`` in
    ``dtype``, converted once and checked (numeric, real, finite) by :func:`as_tensor`."""
    if prepare is not None:
        if np.iscomplexobj(chunk):  # converting to float32 would drop the imaginary part
            raise ValueError(complex_message(name, chunk.dtype))
        chunk = prepare(np.asarray(chunk, dtype=np.float32))
    return as_tensor(chunk, device, name, dtype=dtype, offset=start)
