"""Arrays in: the one conversion of user data (NumPy arrays, memory maps, tensors) to float32
tensors, with the checks every entry point shares (numeric, real, finite, at least one row)."""

from __future__ import annotations

import numpy as np
import torch


def as_tensor(
    X,
    device: torch.device | None = None,
    name: str = "X",
    *,
    dtype: torch.dtype = torch.float32,
    offset: int = 0,
) -> torch.Tensor:
    """A float32 tensor (2-D or image-shaped) from an array or tensor, copying only if needed.

    ``dtype``: float64 for a float64 model (converted straight to it, never through float32).
    ``offset``: the index of ``X``'s first row in the data set it is a batch of (for errors).
    """
    if isinstance(X, torch.Tensor):
        t = X.detach()
        if t.is_complex():
            raise ValueError(complex_message(name, t.dtype))
    else:
        arr = np.asarray(X)
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
            raise ValueError(f"{name} must be numeric; got an array of dtype {arr.dtype}")
        if np.iscomplexobj(arr):
            raise ValueError(complex_message(name, arr.dtype))
        arr = np.ascontiguousarray(arr, dtype=np.float64 if dtype == torch.float64 else np.float32)
        t = torch.from_numpy(arr if arr.flags.writeable else arr.copy())  # e.g. a memory map
    t = t.to(device=device or t.device, dtype=dtype)
    if t.ndim < 2 or t.shape[0] == 0:
        raise ValueError(
            f"{name} must have shape (n_samples, n_features) with n_samples >= 1; "
            f"got {tuple(t.shape)}"
        )
    if t.is_meta:  # shapes only (a stand-in device): no values to check
        return t
    # In slices: a check of the whole array at once would briefly need as much memory again.
    for start in range(0, t.shape[0], 8192):
        block = t[start : start + 8192]
        # One fast reduction first: a finite sum means finite values (an overflowing sum of
        # huge values falls through to the exact check, which then finds nothing).
        if bool(torch.isfinite(block.sum())) or bool(torch.isfinite(block).all()):
            continue
        bad = torch.nonzero(~torch.isfinite(block))[0]
        bad[0] += offset + start
        bad = bad.tolist()
        raise ValueError(
            f"{name} has a non-finite value at index {tuple(bad)}; remove or impute it"
        )
    return t


def complex_message(name: str, dtype) -> str:
    return (
        f"{name} holds complex numbers (dtype {dtype}); codings takes real data and would drop "
        "the imaginary part: give the real and imaginary parts as separate columns "
        "(np.concatenate([X.real, X.imag], axis=1)), or the magnitude (np.abs(X))"
    )
