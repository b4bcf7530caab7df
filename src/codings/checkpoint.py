"""Checkpoints are data, not code: safetensors weights with a JSON header, written atomically.

A model file holds the weights and, in the safetensors metadata, one JSON document: the format
and library versions, the builder's name and arguments, and whatever the caller adds (data
scaling, image shape, metrics). Loading rebuilds the model from that JSON and never unpickles.
A training-state file adds the optimisers' state, the RNG states, the epoch and the history, so
that an interrupted run can resume exactly.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

FORMAT = "codings"
FORMAT_VERSION = 1
_KEY = "codings"


class CheckpointError(ValueError):
    """A file that is not a readable codings checkpoint, with the reason."""


# The temporary files atomic_write makes: "." + the file's name + mkstemp's 8 characters + ".tmp".
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def new_file_mode() -> int:
    """The mode ``open`` gives a new file: 0666 less the umask (mkstemp's files are 0600)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: never half a file.

    The file gets the mode a plain ``open`` would give it (0666 less the umask), not mkstemp's
    private 0600.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:  # name the file asked for, not a temporary name the user never chose
        raise OSError(e.errno, f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temps(directory: str | Path) -> list[Path]:
    """Delete the temporary files a killed atomic_write left in ``directory``; return them.

    Only names atomic_write makes are touched. The caller must hold the directory's lock, so
    that no live writer's file is taken.
    """
    removed = []
    for p in Path(directory).iterdir():
        if _TEMP_NAME.match(p.name) and p.is_file() and not p.is_symlink():
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def remove_stale_temps_of(path: str | Path) -> None:
    """Delete the temporary files that :func:`atomic_write` left for ``path`` when a process
    writing it was killed (``.NAME.XXXXXXXX.tmp`` beside it); call before writing ``path``
    again, when no other process writes it."""
    path = Path(path)
    if not path.parent.is_dir():
        return
    for tmp in path.parent.glob(f".{_glob_escape(path.name)}.????????.tmp"):
        if tmp.is_file() and not tmp.is_symlink():
            tmp.unlink(missing_ok=True)


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _header(model: nn.Module, extra: dict | None) -> dict:
    from . import __version__

    config = getattr(model, "config", None) or {}
    if "name" not in config:
        raise ValueError(
            "this model was not made by codings.build(), so a checkpoint could not rebuild it; "
            "build it with codings.build(name, ...) or save its state_dict yourself"
        )
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "codings_version": __version__,
        "model": config["name"],
        "kwargs": config["kwargs"],
        **(extra or {}),
    }


def _weights(model: nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    return {prefix + k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


def save(model: nn.Module, path: str | Path, *, metadata: dict | None = None) -> Path:
    """Save a built model's weights and configuration to one ``.safetensors`` file."""
    header = _header(model, metadata)
    atomic_write(path, st_save(_weights(model), metadata={_KEY: json.dumps(header)}))
    return Path(path)


def _read(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    path = Path(path)
    if path.is_dir():
        path = path / "model.safetensors"
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file")
    data = path.read_bytes()
    try:
        tensors = st_load(data)
        # safetensors.torch.load drops the metadata; read it from the header directly.
        n = int.from_bytes(data[:8], "little")
        raw = json.loads(data[8 : 8 + n]).get("__metadata__") or {}
    except (SafetensorError, ValueError, json.JSONDecodeError) as e:
        raise CheckpointError(
            f"{path}: not a readable safetensors file ({e}); it may be truncated or corrupted. "
            "Save the model again, or restore the file from a copy."
        ) from None
    if _KEY not in raw:
        raise CheckpointError(
            f"{path}: a safetensors file without codings metadata, so the model cannot be "
            "rebuilt; load its tensors with safetensors directly"
        )
    header = json.loads(raw[_KEY])
    if header.get("format") != FORMAT or header.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format {header.get('format')!r} version {header.get('format_version')} is "
            f"not one this codings reads (version {FORMAT_VERSION}); upgrade codings"
        )
    return tensors, header


def _rebuild(header: dict, path) -> nn.Module:
    from .models import build

    try:
        return build(header["model"], **header["kwargs"])
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: its configuration does not build a model: {e}") from None


def _load_weights(model: nn.Module, tensors: dict[str, torch.Tensor], path) -> None:
    own = model.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not match the model its configuration builds "
            f"(missing: {missing[:5]}, unexpected: {unexpected[:5]})"
        )
    for k, v in own.items():
        if tuple(tensors[k].shape) != tuple(v.shape):
            raise CheckpointError(
                f"{path}: tensor {k!r} has shape {tuple(tensors[k].shape)} but the configuration "
                f"builds {tuple(v.shape)}; the file is inconsistent"
            )
    model.load_state_dict(tensors)


def load(path: str | Path, *, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a model saved by :func:`save` (or a run directory holding ``model.safetensors``).

    The header (everything saved with it) is available as ``model.metadata``.
    """
    tensors, header = _read(path)
    model = _rebuild(header, path)
    _load_weights(model, {k: v for k, v in tensors.items() if "/" not in k}, path)
    model.metadata = header
    return model.to(device).eval()


def read_metadata(path: str | Path) -> dict:
    return _read(path)[1]


# --- training state ---------------------------------------------------------------------------


def save_train_state(
    path, model, optimizers, *, epoch, history, perm_rng, torch_rng, run=None, progress=None
) -> None:
    """Weights, optimiser state, RNG states, epoch and history: what resuming needs.

    ``run`` (JSON) is the run's training arguments, compared on resume; ``progress`` is
    :func:`codings.fit`'s stopping state: ``{"best_loss", "stale", "stopped", "best"
    (tensors or None), "callbacks": [(scalars, tensors), ...]}``.
    """
    tensors = _weights(model)
    opt_meta = {}
    for name, opt in optimizers.items():
        sd = opt.state_dict()
        scalars = {}
        for idx, st in sd["state"].items():
            for key, val in st.items():
                if torch.is_tensor(val):
                    tensors[f"optim/{name}/{idx}/{key}"] = val.detach().cpu().contiguous()
                else:
                    scalars[f"{idx}/{key}"] = val
        opt_meta[name] = {"param_groups": sd["param_groups"], "scalars": scalars}
    tensors["rng/perm"] = perm_rng.clone()
    tensors["rng/torch"] = torch_rng.clone()
    state = {"epoch": epoch, "history": history, "optimizers": opt_meta}
    if run is not None:
        state["run"] = run
    if progress is not None:
        state["progress"] = _progress_meta(progress, tensors)
    header = _header(model, {"train_state": state})
    atomic_write(path, st_save(tensors, metadata={_KEY: json.dumps(header)}))


def _progress_meta(progress: dict, tensors: dict) -> dict:
    """The JSON part of fit's stopping state; its weights go into ``tensors`` under best/ and
    callback/<i>/ (names with a slash are never model weights)."""

    def put(prefix, weights):
        for k, v in (weights or {}).items():
            tensors[f"{prefix}/{k}"] = v.detach().cpu().contiguous()

    put("best", progress.get("best"))
    callbacks = []
    for i, (scalars, weights) in enumerate(progress.get("callbacks", [])):
        put(f"callback/{i}", weights)
        callbacks.append(scalars)
    loss = progress.get("best_loss")
    return {
        "best_loss": loss if loss is not None and loss != float("inf") else None,
        "has_best": progress.get("best") is not None,
        "stale": progress.get("stale", 0),
        "stopped": bool(progress.get("stopped", False)),
        "callbacks": callbacks,
    }


def _progress_state(meta: dict | None, tensors: dict, device) -> dict | None:
    if meta is None:
        return None

    def take(prefix):
        n = len(prefix) + 1
        return {k[n:]: v.to(device) for k, v in tensors.items() if k.startswith(prefix + "/")}

    loss = meta.get("best_loss")
    return {
        "best_loss": float("inf") if loss is None else float(loss),
        "best": take("best") if meta.get("has_best") else None,
        "stale": int(meta.get("stale", 0)),
        "stopped": bool(meta.get("stopped", False)),
        "callbacks": [(s, take(f"callback/{i}")) for i, s in enumerate(meta.get("callbacks", []))],
    }


class ResumeMismatch(ValueError):
    """A resume given other training arguments or data than the run it continues."""

    def __init__(self, key: str, given, saved, path):
        self.key, self.given, self.saved, self.path = key, given, saved, path
        if key in ("data", "val_data"):
            what = "training" if key == "data" else "validation"
            text = f"the {what} data differ from the data the run in {path} was trained on"
        else:
            text = f"{key}={given!r} differs from the run's {saved!r} saved in {path}"
        super().__init__(f"{text}; resume with the same arguments or start a new checkpoint")


def check_run(saved: dict | None, run: dict, path) -> None:
    """Raise :class:`ResumeMismatch` for the first argument of ``run`` that differs from the
    saved run's (a state written before runs were recorded is not checked)."""
    if saved is None:
        return
    for key in sorted(set(saved) | set(run)):
        if saved.get(key) != run.get(key):
            raise ResumeMismatch(key, run.get(key), saved.get(key), path)


def load_train_state(path, model, optimizers, *, run: dict | None = None) -> dict:
    """Load what :func:`save_train_state` wrote into ``model`` and ``optimizers``.

    With ``run``, first refuse (:class:`ResumeMismatch`, nothing loaded) a state saved with
    other training arguments.
    """
    tensors, header = _read(path)
    state = header.get("train_state")
    if state is None:
        raise CheckpointError(f"{path}: a model file, not a training state; it cannot be resumed")
    if header["model"] != model.config.get("name") or header["kwargs"] != model.config.get(
        "kwargs"
    ):
        raise CheckpointError(
            f"{path}: saved for model {header['model']} {header['kwargs']}, not for "
            f"{model.config.get('name')} {model.config.get('kwargs')}"
        )
    if run is not None:
        check_run(state.get("run"), run, path)
    _load_weights(model, {k: v for k, v in tensors.items() if "/" not in k}, path)
    device = next(model.parameters()).device
    for name, opt in optimizers.items():
        meta = state["optimizers"].get(name)
        if meta is None:
            raise CheckpointError(f"{path}: no state for optimiser {name!r}")
        st: dict = {}
        for key, val in tensors.items():
            parts = key.split("/")
            if parts[0] == "optim" and parts[1] == name:
                st.setdefault(int(parts[2]), {})[parts[3]] = val.to(device)
        for key, val in meta["scalars"].items():
            idx, k = key.split("/")
            st.setdefault(int(idx), {})[k] = val
        opt.load_state_dict({"state": st, "param_groups": meta["param_groups"]})
    return {
        "epoch": state["epoch"],
        "history": state["history"],
        "perm_rng": tensors["rng/perm"],
        "torch_rng": tensors["rng/torch"],
        "progress": _progress_state(state.get("progress"), tensors, device),
    }
