"""Training from memory: one tensor on the device, a seeded permutation per epoch, slices.

``fit`` knows nothing about the kind of model it trains: it needs ``model.loss(x) -> (total,
parts)``. A model that trains several objectives in turn (an adversarial autoencoder's
discriminator, say) offers ``model.objectives() -> {name: parameters}`` and
``model.loss(x, objective=name)``; each objective then gets its own optimiser and step.
"""

from __future__ import annotations

import math
import mmap
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import threads as _threads
from .arrays import as_tensor, complex_message  # noqa: F401  (also importable from here)
from .choices import OPTIMIZERS  # noqa: F401 (still importable from here)
from .inference import batches, evaluating, placement, rows_per_batch
from .models import Autoencoder
from .optimizers import FusedNAdam
from .options import UNSET, TrainOptions, check_precision
from .options import check_fit_args as _check_fit_args  # noqa: F401 (still importable from here)
from .options import check_optimizer as _check_optimizer
from .options import check_schedule as _check_schedule  # noqa: F401 (still importable from here)
from .options import resolve as resolve_options
from .progress import as_reporter
from .threads import flush_denormal_enabled


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; the model holds the weights of the last good epoch."""


@dataclass
class History:
    """One record per epoch: ``{"epoch", "time", "step", "train_<part>", "val_<part>", ...}``;
    ``step`` is ``"fused"`` or ``"autograd"``, the training step that ran."""

    records: list[dict] = field(default_factory=list)

    def __getitem__(self, key: str) -> list:
        return [r[key] for r in self.records if key in r]

    def __len__(self) -> int:
        return len(self.records)

    @property
    def last(self) -> dict:
        return self.records[-1] if self.records else {}

    def to_json(self, indent: int | None = 1) -> str:
        """Strict JSON (no bare NaN or Infinity, which strict parsers refuse): a value that is
        not finite is written as null; :meth:`from_json` reads it back as NaN."""
        from .runs import history_json

        return history_json(self.records, indent=indent)

    @classmethod
    def from_json(cls, text: str) -> History:
        from .runs import history_records

        return cls(history_records(text))


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
    _check_optimizer(name)
    params = list(params)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    if name == "nadam":  # Adam with Nesterov momentum (Dozat 2016), run by Adam's fused kernel
        return FusedNAdam(params, lr=lr, weight_decay=weight_decay)
    cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    # The fused kernel updates every parameter in one pass (one of the loop's larger costs).
    fused = all(p.device.type in ("cpu", "cuda") for p in params)
    return cls(params, lr=lr, weight_decay=weight_decay, fused=fused)


def _loss(model: nn.Module, xb: torch.Tensor, objective: str):
    return model.loss(xb) if objective == "loss" else model.loss(xb, objective=objective)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    X,
    *,
    batch_size: int | None = 2048,
    device=None,
    threads=None,
    progress=False,
    seed: int | None = None,
) -> dict[str, float]:
    """Mean loss parts over ``X`` in evaluation mode (no corruption), plus the per-feature MSE.

    Keys: ``loss``, each part's name, and ``mse`` (mean squared error per feature in data space)
    where the model has ``forward``. ``threads``: torch's CPU threads, as in :func:`fit`.
    ``progress``: as in :func:`fit` (a bar over the examples, shown when the work takes more
    than a second). ``seed``: for a model that draws (a VAE's codings), the same numbers on
    every call, from a generator of its own (the caller's random state is left as it was);
    None draws from the global generator. ``batch_size``: rows per batch; 2048, the size every
    validation loss was summed in so far, so that histories and early stopping stay as they
    were (None: :func:`codings.inference.rows_per_batch`'s rule).
    """
    if seed is None:
        return _evaluate(model, X, batch_size, device, threads, progress)
    on = resolve_device(device) if device is not None else placement(model)[0]
    with torch.random.fork_rng(devices=[on] if on.type == "cuda" else []):
        torch.manual_seed(seed)
        return _evaluate(model, X, batch_size, device, threads, progress)


def _evaluate(model, X, batch_size, device, threads, progress) -> dict[str, float]:
    device = resolve_device(device) if device is not None else None  # None: the model's
    n = len(X)
    if n == 0:
        raise ValueError("X is empty; evaluate needs at least one row")
    sums: dict[str, float] = {}
    reconstructs = hasattr(model, "encode") and hasattr(model, "decode")
    # A table model's rows hold category codes and missing flags: their MSE means nothing.
    reconstructs = reconstructs and getattr(model, "output", None) != "table"
    # A plain Autoencoder in eval mode reconstructs in loss() exactly what forward() returns,
    # so one pass gives both; a stochastic bottleneck or an overridden loss needs forward().
    one_pass = (
        isinstance(model, Autoencoder)
        and type(model).loss is Autoencoder.loss
        and model.bottleneck is None
    )
    batch_size = rows_per_batch(model, X, batch_size)
    with evaluating(model, rows=min(n, batch_size), threads=threads):
        # Memory maps stay on disk: each batch is read and moved on its own.
        for _, _, xb in batches(
            X,
            model,
            batch_size=batch_size,
            device=device,
            progress=progress,
            title="evaluate",
            unit="examples",
        ):
            if one_pass:
                total, parts, logits = model.loss_and_logits(xb)
                recon = model.to_data(logits)
            else:
                total, parts = model.loss(xb)
                recon = model(xb) if reconstructs else None
            nb = xb.shape[0]
            sums["loss"] = sums.get("loss", 0.0) + float(total) * nb
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + float(v) * nb
            if recon is not None:
                err = (recon - xb).square().mean(dim=tuple(range(1, xb.ndim))).sum()
                sums["mse"] = sums.get("mse", 0.0) + float(err)
    return {k: v / n for k, v in sums.items()}


def fit(
    model: nn.Module,
    X,
    *,
    X_val=None,
    options: TrainOptions | None = None,
    callbacks: Sequence[Callable[[int, dict, nn.Module], bool | None]] = (),
    loggers: Sequence = (),
    # Each option below may be given as a keyword or in ``options``, not both (defaults:
    # TrainOptions's, shown in the docstring).
    epochs: int = UNSET,
    batch_size: int = UNSET,
    lr: float = UNSET,
    optimizer: str = UNSET,
    weight_decay: float = UNSET,
    clip_norm: float | None = UNSET,
    seed: int = UNSET,
    patience: int | None = UNSET,
    restore_best: bool = UNSET,
    progress=UNSET,
    checkpoint: str | Path | None = UNSET,
    resume: str | Path | None = UNSET,
    device: str | torch.device | None = UNSET,
    chunk_size: int | None = UNSET,
    precision: str = UNSET,
    lr_schedule: str = UNSET,
    threads: int | str | None = UNSET,
    step: str = UNSET,
) -> History:
    """Train ``model`` on ``X`` (rows are examples) and return the per-epoch history.

    The options are keywords (``epochs=10, batch_size=256, lr=1e-3, optimizer="adam",
    weight_decay=0.0, clip_norm=None, seed=0, patience=None, restore_best=True, progress=False,
    checkpoint=None, resume=None, device="auto", chunk_size=None, precision="fp32",
    lr_schedule="constant", threads=None, step="auto"``) or one
    :class:`codings.options.TrainOptions` as ``options``; giving both is an error.

    The data is moved to the device once; each epoch takes a permutation from a generator
    seeded by ``seed`` and trains on slices of it. The same seed gives bit-identical weights on
    the CPU, and the caller's global RNG state is left as it was.

    ``patience`` stops after that many epochs without a better validation loss (training loss
    when there is no ``X_val``) and, with ``restore_best``, puts the best weights back.
    ``checkpoint`` is a path written atomically after every epoch (weights, optimiser, RNG and
    history); ``resume`` continues from such a file, and a resumed run ends with the same
    weights as an uninterrupted one. A NaN or infinite loss raises :class:`TrainingDiverged`
    and leaves the model with the weights of the last completed epoch.

    A memory-mapped ``X`` (``np.load(path, mmap_mode="r")``) is never loaded whole: each epoch
    reads it in chunks of ``chunk_size`` rows (default: about 256 MB) and trains on exactly the
    batches an in-memory run would see. Under ``torchrun`` (an initialised process group) the
    model is wrapped in DistributedDataParallel, ``batch_size`` is the global batch split
    evenly across processes, training losses are averaged across them, and only rank 0 writes
    the checkpoint.

    ``precision="bf16"`` (CPU or GPU) or ``"fp16"`` (GPU, with loss scaling) computes the loss
    under autocast; weights and optimiser state stay in float32.

    A plain dense autoencoder (Linear or tied layers, pointwise activations, squared error or
    cross-entropy, optionally L2 and input noise) trains with the hand-written step of
    :mod:`codings.fused` in float32 on one process: the same gradients as autograd up to
    rounding, with less overhead; every other model uses autograd. ``step="autograd"`` uses
    autograd for every model, and ``step="fused"`` asks for the fused step and raises a
    ValueError saying why where it cannot run. The history's ``step`` says which one ran.

    ``progress=True`` draws a bar per epoch on standard error (one line kept per epoch, with the
    loss parts; see :mod:`codings.progress`); a :class:`codings.progress.Reporter` such as
    ``EpochTable()`` reports its own way. Nothing is printed by default.

    ``lr_schedule="cosine"`` lowers the learning rate after every step along half a cosine,
    from ``lr`` at the first step towards 0 after the last step of epoch ``epochs``; the rate
    depends only on the step number, so a resumed run follows the same schedule.

    Each epoch's record holds the loss parts (``train_*``, ``val_*``), the time, the step that
    ran and ``lr``, the rate of the epoch's last step. ``loggers`` (see :mod:`codings.logs`,
    e.g. ``TensorBoardLogger("runs/tb")``) receive each record (``logger.epoch(epoch,
    record)``) and, every ``logger.every`` steps, the batch's loss and learning rate
    (``logger.step(step, values)``); only rank 0 logs. They stay open: close them (or use them
    in a ``with`` block) when done.

    ``threads`` is torch's CPU thread count during the call (None or "auto": chosen from the
    step's size and the machine's load by :func:`codings.threads.policy`); the previous count
    is restored afterwards.
    """
    from .checkpoint import load_train_state, remove_stale_temps, save_train_state

    o = resolve_options(
        options, "fit", epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
        weight_decay=weight_decay, clip_norm=clip_norm, seed=seed, patience=patience,
        restore_best=restore_best, progress=progress, checkpoint=checkpoint, resume=resume,
        device=device, chunk_size=chunk_size, precision=precision, lr_schedule=lr_schedule,
        threads=threads, step=step,
    )  # fmt: skip
    epochs, batch_size, lr, optimizer = o.epochs, o.batch_size, o.lr, o.optimizer
    weight_decay, clip_norm, seed, patience = o.weight_decay, o.clip_norm, o.seed, o.patience
    restore_best, progress, checkpoint, resume = o.restore_best, o.progress, o.checkpoint, o.resume
    device, chunk_size, precision, lr_schedule = o.device, o.chunk_size, o.precision, o.lr_schedule
    threads, step = o.threads, o.step
    rank, world = distributed_info()
    if batch_size % world:
        raise ValueError(
            f"batch_size={batch_size} is the global batch and must be divisible by the "
            f"{world} processes; use e.g. {batch_size - batch_size % world or world}"
        )
    dev = resolve_device(device)
    autocast, scaler = _precision(precision, dev)
    model.to(dev)
    data = _Data(X, dev, chunk_size, batch_size)
    _check_rows(model, data.shape)
    Xv = X_val if X_val is None or _is_memmap(X_val) else as_tensor(X_val, dev, name="X_val")
    if Xv is not None and tuple(Xv.shape[1:]) != data.shape[1:]:
        raise ValueError(f"X_val has shape {tuple(Xv.shape)} but X has {data.shape}")

    groups = _objectives(model)
    opts = {k: make_optimizer(optimizer, ps, lr, weight_decay) for k, ps in groups.items()}
    step_loss = _loss_caller(model, dev, multi=len(opts) > 1) if world > 1 else None
    if step == "fused":  # refused now, before any training, where it cannot run
        _fused_step(model, data, world, precision, len(opts), step)
    history = History()
    gen = torch.Generator().manual_seed(seed)
    start_epoch = 0
    rng_state = None
    best = (math.inf, None)  # (monitored loss, state dict)
    stale = 0
    stopped = False
    stateful = [cb for cb in callbacks if hasattr(cb, "state_dict")]
    run = _run_args(
        data, Xv, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
        weight_decay=weight_decay, clip_norm=clip_norm, seed=seed, patience=patience,
        restore_best=restore_best, precision=precision, lr_schedule=lr_schedule,
    )  # fmt: skip
    saved = None  # (path, epoch) of the last training state this run can fall back to
    if resume is not None:
        state = load_train_state(resume, model, opts, run=run)
        history = History(state["history"])
        start_epoch = state["epoch"]
        gen.set_state(state["perm_rng"])
        rng_state = state["torch_rng"]
        saved = (resume, start_epoch)
        if state["progress"] is not None:
            progress_state = state["progress"]
            best = (progress_state["best_loss"], progress_state["best"])
            stale, stopped = progress_state["stale"], progress_state["stopped"]
            for cb, (scalars, weights) in zip(stateful, progress_state["callbacks"], strict=False):
                cb.load_state_dict(scalars, weights)
    bad = _nonfinite_weights(model)
    if bad:
        where = f"{resume} holds" if resume is not None else "the model has"
        raise ValueError(
            f"{where} non-finite weights before training ({', '.join(bad[:3])}); "
            "start from a freshly built model"
        )

    if checkpoint is not None and rank == 0:
        # What a killed run left half-written.
        remove_stale_temps(Path(checkpoint).parent, name=Path(checkpoint).name)
    per_epoch = -(-data.n // batch_size)  # optimiser steps per epoch
    total_steps = epochs * per_epoch
    bar = as_reporter(progress) if rank == 0 else None
    loggers = list(loggers) if rank == 0 else []
    step_loggers = [(lg, max(1, int(getattr(lg, "every", 1)))) for lg in loggers]
    step_loggers = [(lg, every) for lg, every in step_loggers if hasattr(lg, "step")]
    prev_threads = _threads.enter(threads, _threads.step_flops(model, batch_size // world))
    prev_flush = flush_denormal_enabled()
    # Denormal numbers make a diverging or vanishing run several times slower on CPUs.
    torch.set_flush_denormal(True)
    try:
        with torch.random.fork_rng(devices=[]):
            if rng_state is not None:
                torch.set_rng_state(rng_state)
            else:
                torch.manual_seed(seed + rank)  # corruption noise differs between ranks
            for epoch in range(start_epoch, epochs if not stopped else start_epoch):
                # Finite: the initial weights are checked above, every epoch's below.
                good = {k: v.detach().clone() for k, v in model.state_dict().items()}
                t0 = time.perf_counter()
                model.train()
                # Decided each epoch: a callback may have frozen or unfrozen layers.
                fused = _fused_step(model, data, world, precision, len(opts), step)
                sums: dict[str, torch.Tensor] = {}
                steps = 0
                if bar is not None:
                    bar.begin(f"Epoch {epoch + 1}/{epochs}", per_epoch)
                # Every rank draws the same permutation; each takes its share of every batch.
                for b, xb in enumerate(
                    data.batches(torch.randperm(data.n, generator=gen), rank, world)
                ):
                    if lr_schedule != "constant":
                        rate = scheduled_lr(lr, lr_schedule, epoch * per_epoch + b, total_steps)
                        for opt in opts.values():
                            for group in opt.param_groups:
                                group["lr"] = rate
                    for name, opt in opts.items():
                        with autocast():
                            if fused is not None:
                                total, parts = fused(xb)  # sets every trainable .grad too
                            elif step_loss is None:
                                total, parts = _loss(model, xb, name)
                            else:
                                total, parts = step_loss(xb, name)
                        if step_loss is None:
                            finite = math.isfinite(total.item())  # one op, not two
                        else:
                            finite = _all_finite(total)  # every rank stops together
                        if not finite:
                            model.load_state_dict(good)
                            raise TrainingDiverged(
                                _diverged_message(epoch, b, name, total, parts, lr, checkpoint)
                                + _fallback(epoch, checkpoint, saved)
                            )
                        if fused is None:
                            opt.zero_grad(set_to_none=True)
                            (total if scaler is None else scaler.scale(total)).backward()
                        if clip_norm is not None:
                            if scaler is not None:
                                scaler.unscale_(opt)
                            nn.utils.clip_grad_norm_(groups[name], clip_norm)
                        if scaler is None:
                            opt.step()
                        else:
                            scaler.step(opt)
                            scaler.update()
                        prefix = "" if name == "loss" else f"{name}_"
                        key = f"{prefix}loss"
                        sums[key] = sums.get(key, 0) + total.detach()
                        for k, v in parts.items():
                            sums[prefix + k] = sums.get(prefix + k, 0) + v.detach()
                    steps += 1
                    if bar is not None:
                        bar.update(steps, sums)  # reads the running loss only when it redraws
                    done = epoch * per_epoch + b + 1  # steps of the whole run
                    for lg, every in step_loggers:
                        if done % every == 0:
                            lg.step(done, {"loss": total.item(), "lr": _current_lr(opts)})
                record = {"epoch": epoch + 1}
                record.update({f"train_{k}": v / steps for k, v in _mean_over_ranks(sums).items()})
                if Xv is not None:
                    # Every rank evaluates the whole validation set: identical numbers everywhere.
                    record.update({f"val_{k}": v for k, v in evaluate(model, Xv).items()})
                record["time"] = time.perf_counter() - t0
                record["step"] = "autograd" if fused is None else "fused"  # which step trained
                record["lr"] = _current_lr(opts)  # the last step's rate (a schedule lowers it)
                bad = _nonfinite_epoch(model, record)
                if Xv is None and world == 1 and not bad:
                    # No validation set to show a last step that broke the model: the loss of
                    # the last batch after it (RNG untouched, so results stay the same).
                    bad = _nonfinite_after_step(model, xb, dev)
                if bad:  # the last step (or the validation) broke: never keep such weights
                    model.load_state_dict(good)
                    raise TrainingDiverged(
                        _epoch_diverged_message(epoch, bad, lr)
                        + _fallback(epoch, checkpoint, saved)
                    )
                history.records.append(record)
                if bar is not None:
                    bar.end(record)
                for lg in loggers:
                    if hasattr(lg, "epoch"):
                        lg.epoch(epoch + 1, record)
                monitored = record.get("val_loss", record.get("train_loss", math.inf))
                if monitored < best[0]:
                    best = (
                        monitored,
                        {k: v.detach().clone() for k, v in model.state_dict().items()},
                    )
                    stale = 0
                else:
                    stale += 1
                # A callback that raises (Ctrl-C, say) does so after this epoch is saved.
                interrupt = None
                try:
                    stop = any(bool(cb(epoch + 1, record, model)) for cb in callbacks)
                except BaseException as e:
                    stop, interrupt = False, e
                if patience is not None and stale >= patience:
                    if restore_best and best[1] is not None:
                        model.load_state_dict(best[1])
                    stop = stopped = True  # saved: a resume of a finished run trains no more
                stop = _agree(stop)
                bad = _nonfinite_weights(model)  # a callback may have changed them
                if bad:
                    model.load_state_dict(good)
                    raise TrainingDiverged(
                        _epoch_diverged_message(epoch, [f"non-finite weights in {bad[0]}"], lr)
                        + _fallback(epoch, checkpoint, saved)
                    )
                if checkpoint is not None and rank == 0:
                    save_train_state(
                        checkpoint,
                        model,
                        opts,
                        epoch=epoch + 1,
                        history=history.records,
                        perm_rng=gen.get_state(),
                        torch_rng=torch.get_rng_state(),
                        run=run,
                        progress={
                            "best_loss": best[0],
                            "best": best[1],
                            "stale": stale,
                            "stopped": stopped,
                            "callbacks": [cb.state_dict() for cb in stateful],
                        },
                    )
                    saved = (checkpoint, epoch + 1)
                if interrupt is not None:
                    raise interrupt
                if stop:
                    break
    finally:
        torch.set_flush_denormal(prev_flush)
        _threads.restore(prev_threads)
        if bar is not None:
            bar.close()
    model.eval()
    return history


def _current_lr(opts: dict) -> float:
    """The learning rate of the last step taken (the first objective's optimiser)."""
    return float(next(iter(opts.values())).param_groups[0]["lr"])


def _fused_step(
    model: nn.Module, data: _Data, world: int, precision: str, n_objectives: int, step: str
):
    """The fused step for this epoch, or None for autograd; ``step="fused"`` where the fused
    step cannot run raises, saying why."""
    if step == "autograd":
        return None
    from .fused import plan, why_not

    why = (
        "it runs on one process only (this run has several)"
        if world > 1
        else f"it computes in float32 only (precision={precision!r})"
        if precision != "fp32"
        else "the model trains several objectives in turn"
        if n_objectives > 1
        else f"it takes 2-D batches (rows, features); X has shape {data.shape}"
        if len(data.shape) != 2
        else why_not(model)
    )
    if why is None:
        return plan(model)
    if step == "fused":
        raise ValueError(
            f"step='fused' cannot train this model: {why}. Use step='autograd' (or 'auto', "
            "which takes the fused step only where it applies)"
        )
    return None


def _precision(precision: str, dev: torch.device):
    """(autocast context factory, gradient scaler or None) for a precision on a device."""
    from contextlib import nullcontext

    check_precision(precision)
    if precision == "fp32":
        return nullcontext, None
    if precision == "fp16" and dev.type != "cuda":
        raise ValueError("precision='fp16' needs a CUDA device; on the CPU use precision='bf16'")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    return (lambda: torch.autocast(dev.type, dtype=dtype)), scaler


# --- data from memory or from a memory-mapped file --------------------------------------------


def _check_rows(model: nn.Module, shape: tuple) -> None:
    """A built model that takes rows, given (n, T, C) or images, is told so in place of torch's
    matrix-shape error; sequence models (``sequence_shape``) and users' own modules pass."""
    kwargs = (getattr(model, "config", None) or {}).get("kwargs", {})
    if len(shape) <= 2 or "n_features" not in kwargs or hasattr(model, "sequence_shape"):
        return
    raise ValueError(
        f"X has shape {shape}, but model {model.config.get('name')!r} takes rows (n_samples, "
        f"n_features={kwargs['n_features']}): flatten each example (X.reshape(len(X), -1)), or "
        "for sequences (examples, time steps, channels) use model 'recurrent' or 'conv1d'"
    )


def _is_memmap(X) -> bool:
    return isinstance(X, np.memmap) or (isinstance(X, np.ndarray) and isinstance(X.base, np.memmap))


class _Data:
    """The training rows: one tensor on the device, or chunks read from a memory-mapped array.

    Both give the same batches for the same permutation: a chunk is a run of whole batches of
    the permutation, read in permutation order, so streaming changes memory use, not results.
    """

    def __init__(self, X, device: torch.device, chunk_size: int | None, batch_size: int):
        self.device = device
        self.batch_size = batch_size
        self.stream = _is_memmap(X) or chunk_size is not None
        if self.stream:
            arr = X if isinstance(X, np.ndarray) else np.asarray(X)
            if arr.ndim < 2 or len(arr) == 0:
                raise ValueError(f"X must have shape (n_samples, n_features); got {arr.shape}")
            self.X = arr
            rows = chunk_size or max(batch_size, (256 << 20) // max(1, arr[0].nbytes))
            self.chunk = max(batch_size, rows // batch_size * batch_size)
        else:
            self.X = as_tensor(X, device)
        self.n = self.X.shape[0]
        self.shape = tuple(self.X.shape)

    def batches(self, perm: torch.Tensor, rank: int, world: int):
        bs = self.batch_size
        if not self.stream:
            perm = perm.to(self.device)
            for start in range(0, self.n, bs):
                yield self.X.index_select(0, perm[start : start + bs][rank::world])  # (B, D)
            return
        order = perm.numpy()
        for c0 in range(0, self.n, self.chunk):
            idx = order[c0 : c0 + self.chunk]
            # Read this rank's rows in sorted order (sequential I/O), then put them back in
            # permutation order.
            mine = np.concatenate([idx[s : s + bs][rank::world] for s in range(0, len(idx), bs)])
            srt = np.argsort(mine, kind="stable")
            block = np.empty((len(mine), *self.shape[1:]), dtype=np.float32)
            block[srt] = _read_rows(self.X, mine[srt])
            if not np.isfinite(block).all():
                raise ValueError("X has a non-finite value in a streamed chunk; impute or drop it")
            t = torch.from_numpy(block).to(self.device)
            per = [min(bs, len(idx) - s) for s in range(0, len(idx), bs)]
            start = 0
            for size in per:
                take = len(range(rank, size, world))
                yield t[start : start + take]
                start += take


def _read_rows(X: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``X[rows]`` for sorted ``rows``, read from the file behind a memory map when there is one.

    Gathering through the map itself would leave every touched page (and the kernel maps
    whole neighbourhoods around each) in this process's resident memory; reading the rows
    with pread keeps them in the page cache only, where memory pressure can reclaim them.
    """
    name = getattr(X, "filename", None)
    # Only a whole map (its base is the mmap itself) knows where its rows start in the file.
    if not (isinstance(X, np.memmap) and name and isinstance(X.base, mmap.mmap)):
        return np.asarray(X[rows], dtype=np.float32)
    row_bytes = X[0].nbytes
    out = np.empty((len(rows), *X.shape[1:]), dtype=X.dtype)
    view = memoryview(out.reshape(-1).view(np.uint8))
    # Runs of consecutive rows become one read each.
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    with open(name, "rb", buffering=0) as f:
        fd = f.fileno()
        start = 0
        for run in np.split(rows, breaks):
            nbytes = len(run) * row_bytes
            got = os.preadv(fd, [view[start : start + nbytes]], X.offset + int(run[0]) * row_bytes)
            if got != nbytes:
                raise ValueError(f"{name}: the file ended early (row {int(run[0])}); is it whole?")
            start += nbytes
    return out.astype(np.float32, copy=False)


# --- several processes (torchrun) -------------------------------------------------------------


def distributed_info() -> tuple[int, int]:
    """(rank, world size) of an initialised process group, else (0, 1)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _LossModule(nn.Module):
    """``forward`` = ``model.loss``, so DistributedDataParallel can wrap it."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x, objective: str = "loss"):
        return _loss(self.model, x, objective)


def _loss_caller(model: nn.Module, device: torch.device, multi: bool):
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [device.index if device.index is not None else 0] if device.type == "cuda" else None
    # DDP broadcasts rank 0's weights now and averages gradients in every backward pass.
    ddp = DDP(_LossModule(model), device_ids=ids, find_unused_parameters=multi)
    return lambda xb, name: ddp(xb, name)


def _all_finite(total: torch.Tensor) -> bool:
    import torch.distributed as dist

    flag = torch.isfinite(total.detach()).to(torch.float32).reshape(1)
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    _released(flag)
    return bool(flag.item())


def _mean_over_ranks(sums: dict[str, torch.Tensor]) -> dict[str, float]:
    rank, world = distributed_info()
    if world == 1 or not sums:
        return {k: float(v) for k, v in sums.items()}
    import torch.distributed as dist

    keys = sorted(sums)
    stacked = torch.stack([sums[k].float().reshape(()) for k in keys])
    dist.all_reduce(stacked)
    _released(stacked)
    return {k: float(v) / world for k, v in zip(keys, stacked, strict=True)}


def _agree(stop: bool) -> bool:
    """Rank 0's decision to stop, shared by every rank."""
    rank, world = distributed_info()
    if world == 1:
        return stop
    import torch.distributed as dist

    flag = torch.tensor([float(stop)])
    dist.broadcast(flag, 0)
    _released(flag)
    return bool(flag.item())


def _released(tensor: torch.Tensor, timeout: float = 1.0) -> None:
    """Wait until the backend's worker thread has let go of ``tensor`` after a collective.

    gloo's worker threads drop their reference to a collective's tensors a moment after the
    call returns, and dropping a reference to a tensor made in Python needs the GIL. If the
    last collective's tensors are still held when the interpreter shuts down, that thread
    cannot take the GIL and the process aborts at exit ("terminate called without an active
    exception"; torch 2.13). Releasing the GIL here until only this frame holds the tensor
    leaves nothing of ours for it to drop later (a few microseconds; the timeout is a bound,
    not an expected wait). NCCL's own watchdog holds its tensors longer and is left alone.
    """
    import torch.distributed as dist

    if dist.get_backend() != "gloo":
        return
    deadline = time.monotonic() + timeout
    while tensor._use_count() > 1 and time.monotonic() < deadline:
        time.sleep(0)  # lets the worker thread take the GIL


def scheduled_lr(lr: float, schedule: str, step: int, total_steps: int) -> float:
    """The learning rate of optimiser step ``step`` (0-based) out of ``total_steps``."""
    if schedule == "constant" or total_steps <= 0:
        return lr
    return lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))


def _diverged_message(epoch, batch, objective, total, parts, lr, checkpoint) -> str:
    shown = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in parts.items())
    bad = [k for k, v in parts.items() if not torch.isfinite(v)]
    return (
        f"training diverged in epoch {epoch + 1}, batch {batch + 1}: the {objective} is "
        f"{float(total.detach())} ({shown}; non-finite: {', '.join(bad) or 'the sum'}). "
        + _advice(epoch, lr)
    )


def _advice(epoch, lr) -> str:
    back = f"its weights after epoch {epoch}" if epoch else "its initial weights"
    return (
        f"The model was put back to {back}. "
        f"Try a smaller learning rate (lr={lr:g} now, e.g. {lr / 10:g}), gradient clipping "
        "(clip_norm=1.0), or check that the inputs are scaled (e.g. to [0, 1] or standardised)."
    )


def _epoch_diverged_message(epoch, bad: list[str], lr) -> str:
    return f"training diverged in epoch {epoch + 1}: {'; '.join(bad)}. " + _advice(epoch, lr)


def _fallback(epoch, checkpoint, saved) -> str:
    """What a diverged run leaves to go back to, as it is on disk."""
    if checkpoint is None:
        return ""
    if saved is None:
        return " No checkpoint was written: the run diverged in its first epoch."
    return f" The last good checkpoint is {saved[0]} (after epoch {saved[1]})."


def _nonfinite_weights(model: nn.Module) -> list[str]:
    """The names of the model's floating-point weights and buffers that hold a NaN or an
    infinity. A tensor whose sum is finite has none (both propagate through a sum): one sum a
    tensor clears the usual case some fifteen times faster than ``isfinite`` (0.1 ms against
    1.5 ms for a 784-300-150 autoencoder, twice an epoch); the elements are looked at only
    where a sum is not finite (or overflowed)."""
    state = model.state_dict()
    floats = [v for v in state.values() if v.is_floating_point()]
    if all(math.isfinite(float(v.sum())) for v in floats):
        return []
    return [k for k, v in state.items() if v.is_floating_point() and not bool(v.isfinite().all())]


def _nonfinite_epoch(model: nn.Module, record: dict) -> list[str]:
    """What is not finite after an epoch: the record's losses, then the weights."""
    bad = [
        f"{k} is {v}"
        for k, v in record.items()
        if isinstance(v, float) and not math.isfinite(v) and k != "time"
    ]
    weights = _nonfinite_weights(model)
    if weights:
        shown = ", ".join(weights[:3]) + (
            f" and {len(weights) - 3} more" if len(weights) > 3 else ""
        )
        bad.append(f"non-finite weights in {shown}")
    return bad


def _nonfinite_after_step(model: nn.Module, xb: torch.Tensor, dev: torch.device) -> list[str]:
    devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        loss = evaluate(model, xb, batch_size=len(xb), threads=torch.get_num_threads())["loss"]
    return [] if math.isfinite(loss) else [f"the loss of the last batch after its step is {loss}"]


def _run_args(data, Xv, **args) -> dict:
    """The arguments that decide a run's result, saved with its training state: a resume that
    changes one would continue a different run. ``epochs`` counts only for a schedule that
    depends on it (a constant rate may be continued for more epochs)."""
    from .runs import fingerprint

    if args["lr_schedule"] == "constant":
        del args["epochs"]
    return {
        **args,
        "data": fingerprint(data.X),
        "val_data": None if Xv is None else fingerprint(Xv),
    }
