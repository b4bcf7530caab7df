"""Training from memory: one tensor on the device, a seeded permutation per epoch, slices.

``fit`` knows nothing about the kind of model it trains: it needs ``model.loss(x) -> (total,
parts)``. A model that trains several objectives in turn (an adversarial autoencoder's
discriminator, say) offers ``model.objectives() -> {name: parameters}`` and
``model.loss(x, objective=name)``; each objective then gets its own optimiser and step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .errors import suggest

OPTIMIZERS = ("adam", "adamw", "sgd")


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; the model holds the weights of the last good epoch."""


@dataclass
class History:
    """One record per epoch: ``{"epoch", "time", "train_<part>", "val_<part>", ...}``."""

    records: list[dict] = field(default_factory=list)

    def __getitem__(self, key: str) -> list:
        return [r[key] for r in self.records if key in r]

    def __len__(self) -> int:
        return len(self.records)

    @property
    def last(self) -> dict:
        return self.records[-1] if self.records else {}


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """The one place where the device is decided: 'auto' takes CUDA, then MPS, then the CPU."""
    if isinstance(device, torch.device):
        return device
    device = device or "auto"
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = device.split(":")[0]
    if kind not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device={device!r} is not known; choose auto, cpu, cuda or mps")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device='cuda' was asked for but no CUDA device is available; use --device cpu"
        )
    return torch.device(device)


def as_tensor(X, device: torch.device | None = None, name: str = "X") -> torch.Tensor:
    """A float32 tensor (2-D or image-shaped) from an array or tensor, copying only if needed."""
    if isinstance(X, torch.Tensor):
        t = X.detach()
    else:
        arr = np.asarray(X)
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
            raise ValueError(f"{name} must be numeric; got an array of dtype {arr.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    t = t.to(device=device or t.device, dtype=torch.float32)
    if t.ndim < 2 or t.shape[0] == 0:
        raise ValueError(
            f"{name} must have shape (n_samples, n_features) with n_samples >= 1; "
            f"got {tuple(t.shape)}"
        )
    if not bool(torch.isfinite(t).all()):
        bad = torch.nonzero(~torch.isfinite(t))[0].tolist()
        raise ValueError(
            f"{name} has a non-finite value at index {tuple(bad)}; remove or impute it"
        )
    return t


def _objectives(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    if hasattr(model, "objectives"):
        groups = model.objectives()
    else:
        groups = {"loss": list(model.parameters())}
    groups = {k: [p for p in ps if p.requires_grad] for k, ps in groups.items()}
    if not any(groups.values()):
        raise ValueError("the model has no trainable parameters (all have requires_grad=False)")
    return {k: ps for k, ps in groups.items() if ps}


def make_optimizer(name: str, params, lr: float, weight_decay: float = 0.0):
    if name not in OPTIMIZERS:
        raise ValueError(
            f"optimizer={name!r} is not known; choose one of {', '.join(OPTIMIZERS)}"
            + suggest(name, OPTIMIZERS)
        )
    params = list(params)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    # The fused kernel updates every parameter in one pass (one of the loop's larger costs).
    fused = all(p.device.type in ("cpu", "cuda") for p in params)
    return cls(params, lr=lr, weight_decay=weight_decay, fused=fused)


def _loss(model: nn.Module, xb: torch.Tensor, objective: str):
    return model.loss(xb) if objective == "loss" else model.loss(xb, objective=objective)


@torch.no_grad()
def evaluate(model: nn.Module, X, *, batch_size: int = 2048, device=None) -> dict[str, float]:
    """Mean loss parts over ``X`` in evaluation mode (no corruption), plus the per-feature MSE.

    Keys: ``loss``, each part's name, and ``mse`` (mean squared error per feature in data space)
    where the model has ``forward``.
    """
    device = resolve_device(device) if device is not None else _model_device(model)
    X = as_tensor(X, device)
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    reconstructs = hasattr(model, "encode") and hasattr(model, "decode")
    try:
        for start in range(0, X.shape[0], batch_size):
            xb = X[start : start + batch_size]
            total, parts = model.loss(xb)
            n = xb.shape[0]
            sums["loss"] = sums.get("loss", 0.0) + float(total) * n
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + float(v) * n
            if reconstructs:
                err = (model(xb) - xb).square().mean(dim=tuple(range(1, xb.ndim))).sum()
                sums["mse"] = sums.get("mse", 0.0) + float(err)
    finally:
        model.train(was_training)
    return {k: v / X.shape[0] for k, v in sums.items()}


def _model_device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def fit(
    model: nn.Module,
    X,
    *,
    X_val=None,
    epochs: int = 10,
    batch_size: int = 256,
    lr: float = 1e-3,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    clip_norm: float | None = None,
    seed: int = 0,
    patience: int | None = None,
    restore_best: bool = True,
    callbacks: Sequence[Callable[[int, dict, nn.Module], bool | None]] = (),
    progress: bool = False,
    checkpoint: str | Path | None = None,
    resume: str | Path | None = None,
    device: str | torch.device | None = "auto",
) -> History:
    """Train ``model`` on ``X`` (rows are examples) and return the per-epoch history.

    The data is moved to the device once; each epoch takes a permutation from a generator
    seeded by ``seed`` and trains on slices of it. The same seed gives bit-identical weights on
    the CPU, and the caller's global RNG state is left as it was.

    ``patience`` stops after that many epochs without a better validation loss (training loss
    when there is no ``X_val``) and, with ``restore_best``, puts the best weights back.
    ``checkpoint`` is a path written atomically after every epoch (weights, optimiser, RNG and
    history); ``resume`` continues from such a file, and a resumed run ends with the same
    weights as an uninterrupted one. A NaN or infinite loss raises :class:`TrainingDiverged`
    and leaves the model with the weights of the last completed epoch.
    """
    from .checkpoint import load_train_state, save_train_state

    _check_fit_args(epochs=epochs, batch_size=batch_size, lr=lr, patience=patience)
    dev = resolve_device(device)
    model.to(dev)
    X = as_tensor(X, dev)
    Xv = as_tensor(X_val, dev, name="X_val") if X_val is not None else None
    if Xv is not None and Xv.shape[1:] != X.shape[1:]:
        raise ValueError(f"X_val has shape {tuple(Xv.shape)} but X has {tuple(X.shape)}")

    groups = _objectives(model)
    opts = {k: make_optimizer(optimizer, ps, lr, weight_decay) for k, ps in groups.items()}
    history = History()
    gen = torch.Generator().manual_seed(seed)
    start_epoch = 0
    rng_state = None
    if resume is not None:
        state = load_train_state(resume, model, opts)
        history = History(state["history"])
        start_epoch = state["epoch"]
        gen.set_state(state["perm_rng"])
        rng_state = state["torch_rng"]

    n = X.shape[0]
    best = (math.inf, None)  # (monitored loss, state dict)
    stale = 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, initial=start_epoch, desc="train", unit="epoch", leave=False)
    prev_flush = torch.get_flush_denormal() if hasattr(torch, "get_flush_denormal") else None
    # Denormal numbers make a diverging or vanishing run several times slower on CPUs.
    torch.set_flush_denormal(True)
    try:
        with torch.random.fork_rng(devices=[]):
            if rng_state is not None:
                torch.set_rng_state(rng_state)
            else:
                torch.manual_seed(seed)
            for epoch in range(start_epoch, epochs):
                good = {k: v.detach().clone() for k, v in model.state_dict().items()}
                t0 = time.perf_counter()
                model.train()
                perm = torch.randperm(n, generator=gen).to(dev)
                sums: dict[str, torch.Tensor] = {}
                steps = 0
                for b, start in enumerate(range(0, n, batch_size)):
                    xb = X.index_select(0, perm[start : start + batch_size])  # (B, D)
                    for name, opt in opts.items():
                        total, parts = _loss(model, xb, name)
                        if not torch.isfinite(total):
                            model.load_state_dict(good)
                            raise TrainingDiverged(
                                _diverged_message(epoch, b, name, total, parts, lr, checkpoint)
                            )
                        opt.zero_grad(set_to_none=True)
                        total.backward()
                        if clip_norm is not None:
                            nn.utils.clip_grad_norm_(groups[name], clip_norm)
                        opt.step()
                        prefix = "" if name == "loss" else f"{name}_"
                        key = f"{prefix}loss"
                        sums[key] = sums.get(key, 0) + total.detach()
                        for k, v in parts.items():
                            sums[prefix + k] = sums.get(prefix + k, 0) + v.detach()
                    steps += 1
                record = {"epoch": epoch + 1}
                record.update({f"train_{k}": float(v) / steps for k, v in sums.items()})
                if Xv is not None:
                    record.update({f"val_{k}": v for k, v in evaluate(model, Xv).items()})
                record["time"] = time.perf_counter() - t0
                history.records.append(record)
                if checkpoint is not None:
                    save_train_state(
                        checkpoint,
                        model,
                        opts,
                        epoch=epoch + 1,
                        history=history.records,
                        perm_rng=gen.get_state(),
                        torch_rng=torch.get_rng_state(),
                    )
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix({k: f"{v:.4g}" for k, v in record.items() if "loss" in k})
                monitored = record.get("val_loss", record.get("train_loss", math.inf))
                if monitored < best[0]:
                    best = (
                        monitored,
                        {k: v.detach().clone() for k, v in model.state_dict().items()},
                    )
                    stale = 0
                else:
                    stale += 1
                stop = any(bool(cb(epoch + 1, record, model)) for cb in callbacks)
                if patience is not None and stale >= patience:
                    if restore_best and best[1] is not None:
                        model.load_state_dict(best[1])
                    stop = True
                if stop:
                    break
    finally:
        if prev_flush is not None:
            torch.set_flush_denormal(prev_flush)
        if bar is not None:
            bar.close()
    model.eval()
    return history


def _check_fit_args(*, epochs, batch_size, lr, patience) -> None:
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs={epochs!r} must be a whole number >= 0")
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size={batch_size!r} must be a positive whole number, e.g. 256")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr={lr!r} must be a positive finite number, e.g. 1e-3")
    if patience is not None and (not isinstance(patience, int) or patience < 1):
        raise ValueError(f"patience={patience!r} must be a positive whole number or None")


def _diverged_message(epoch, batch, objective, total, parts, lr, checkpoint) -> str:
    shown = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in parts.items())
    bad = [k for k, v in parts.items() if not torch.isfinite(v)]
    where = f"; the last good checkpoint is {checkpoint}" if checkpoint else ""
    return (
        f"training diverged in epoch {epoch + 1}, batch {batch + 1}: the {objective} is "
        f"{float(total.detach())} ({shown}; non-finite: {', '.join(bad) or 'the sum'}). "
        f"The model was put back to its weights after epoch {epoch}{where}. "
        f"Try a smaller learning rate (lr={lr:g} now, e.g. {lr / 10:g}), gradient clipping "
        "(clip_norm=1.0), or check that the inputs are scaled (e.g. to [0, 1] or standardised)."
    )
