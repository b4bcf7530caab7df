"""Checkpoints are data, not code: safetensors weights with a JSON header, written atomically.

A model file holds the weights and, in the safetensors metadata, one JSON document: the format
and library versions, the builder's name and arguments, and whatever the caller adds (data
scaling, image shape, metrics). Loading rebuilds the model from that JSON and never unpickles.
A training-state file adds the optimisers' state, the RNG states, the epoch and the history, so
that an interrupted run can resume exactly.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
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
_DIGEST = "weights_sha256"


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


def remove_stale_temps(directory: str | Path, name: str | None = None) -> list[Path]:
    """Delete the temporary files a killed atomic_write left in ``directory``; return them.

    Only names atomic_write makes are touched: those of any file, or of the file ``name`` alone
    (``.NAME.XXXXXXXX.tmp``). The caller must be the only writer there (hold the directory's
    lock, or own the file), so that no live writer's file is taken.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    pattern = (
        _TEMP_NAME if name is None else re.compile(rf"^\.{re.escape(name)}\.[a-z0-9_]{{8}}\.tmp$")
    )
    removed = []
    for p in directory.iterdir():
        if pattern.match(p.name) and p.is_file() and not p.is_symlink():
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


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


def save(
    model: nn.Module,
    path: str | Path,
    *,
    metadata: dict | None = None,
    parts: dict[str, nn.Module] | None = None,
) -> Path:
    """Save a built model's weights and configuration to one ``.safetensors`` file.

    ``parts`` maps a prefix (``"autoencoder/"``) to a second model stored in the same file, its
    tensors under that prefix; the caller keeps its configuration in ``metadata`` and reads it
    back with :func:`load_part`.
    """
    header = _header(model, metadata)
    tensors = _weights(model)
    for prefix, part in (parts or {}).items():
        if not prefix.endswith("/"):
            raise ValueError(f"a part's prefix ends in '/', e.g. 'autoencoder/' (got {prefix!r})")
        tensors.update(_weights(part, prefix=prefix))
    header[_DIGEST] = _digest(tensors)
    atomic_write(path, st_save(tensors, metadata={_KEY: json.dumps(header)}))
    return Path(path)


def _digest(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 of the tensors' names, dtypes, shapes and bytes: a changed weight is found."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}:{t.dtype}:{tuple(tensors[name].shape)};".encode())
        h.update(t.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _read(path: str | Path, *, tensors: bool = True) -> tuple[dict[str, torch.Tensor], dict]:
    """The tensors and the codings header of a checkpoint, checked before anything is allocated.

    The file must be a regular file; its safetensors header is bounded in size and its tensors'
    byte ranges must lie in the file (``_layout``); the codings header must follow the schema
    (``_check_header``); the model's tensors must have the shapes and dtypes its configuration
    builds, computed on the meta device (``_check_layout``), and finite values once read.
    """
    path, size, layout, header, f = _layout(path)
    with f:
        _check_header(header, path)
        _check_layout(layout, header["model"], header["kwargs"], path)
        if not tensors:
            return {}, header
        f.seek(0)
        data = _read_exactly(f, size, path)
    try:
        out = st_load(data)
    except (SafetensorError, ValueError) as e:
        raise CheckpointError(
            f"{path}: not a readable safetensors file ({e}); {_CORRUPT}"
        ) from None
    _check_finite({k: v for k, v in out.items() if "/" not in k}, path)
    if _DIGEST in header and header[_DIGEST] != _digest(out):
        raise CheckpointError(
            f"{path}: its weights do not match the checksum saved with them; {_CORRUPT}"
        )
    return out, header


# --- checks on untrusted files, before anything is allocated --------------------------------

# The header holds the configuration and, in a training state, the history and the optimisers'
# settings: kilobytes, or a few megabytes for a long run. A larger one is not ours.
MAX_HEADER_BYTES = 16 * 2**20
_CORRUPT = (
    "it may be truncated or corrupted. Save the model again, or restore the file from a copy."
)
# safetensors dtype names -> bytes per element
_ITEMSIZE = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2,
    "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
_TORCH_DTYPE = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}  # fmt: skip
_DTYPE_WORDS = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64"}
_DTYPE_WORDS.update({"BOOL": "bool", "I64": "int64", "I32": "int32", "U8": "uint8"})


def _layout(path: str | Path):
    """Open a regular file and check its safetensors header: bounded, inside the file, each
    tensor's byte range inside the data and as long as its dtype and shape say.

    Returns the path, the file's size, ``{name: (dtype, shape)}``, the codings header (parsed
    JSON, unchecked) and the open file positioned at the tensor data.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "model.safetensors"
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint file") from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot be read ({e.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory without model.safetensors" if stat.S_ISDIR(st.st_mode) else (
            "a pipe" if stat.S_ISFIFO(st.st_mode) else "a device or other special file"
        )  # fmt: skip
        raise CheckpointError(
            f"{path}: not a regular file ({kind}); a checkpoint is a plain .safetensors file"
        )
    try:  # non-blocking: a file swapped for a pipe after the check must not hang the open
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise CheckpointError(f"{path}: cannot be read ({e.strerror})") from None
    f = os.fdopen(fd, "rb")
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise CheckpointError(f"{path}: not a regular file; a checkpoint is a plain file")
        size = st.st_size
        n = int.from_bytes(_read_exactly(f, 8, path), "little")
        if n > MAX_HEADER_BYTES or 8 + n > size:
            raise CheckpointError(
                f"{path}: not a readable safetensors file (its header claims {n} bytes, the "
                f"file has {size}; a codings header is at most {MAX_HEADER_BYTES}); {_CORRUPT}"
            )
        try:
            raw = json.loads(_read_exactly(f, n, path))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise CheckpointError(
                f"{path}: not a readable safetensors file (its header is not JSON); {_CORRUPT}"
            ) from None
        layout = _tensor_layout(raw, size - 8 - n, path)
        header = _codings_header(raw, path)
    except BaseException:
        f.close()
        raise
    return path, size, layout, header, f


def _read_exactly(f, n: int, path) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise CheckpointError(f"{path}: not a readable safetensors file (too short); {_CORRUPT}")
    return data


def _tensor_layout(raw, data_size: int, path) -> dict[str, tuple[str, tuple[int, ...]]]:
    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"{path}: not a readable safetensors file ({why}); {_CORRUPT}")

    if not isinstance(raw, dict):
        raise bad("its header is not a JSON object")
    layout, ranges = {}, []
    for name, entry in raw.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= set(entry):
            raise bad(f"tensor {name!r} has no dtype, shape and data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(dtype, str) or dtype not in _ITEMSIZE:
            raise bad(f"tensor {name!r} has an unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
            raise bad(f"tensor {name!r} has shape {shape!r}, not a list of sizes")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_int, offsets))):
            raise bad(f"tensor {name!r} has data_offsets {offsets!r}")
        begin, end = offsets
        if not 0 <= begin <= end <= data_size:
            raise bad(f"tensor {name!r} lies outside the file's {data_size} bytes of data")
        if end - begin != math.prod(shape) * _ITEMSIZE[dtype]:
            raise bad(f"tensor {name!r} of {dtype} {tuple(shape)} does not fill its byte range")
        layout[name] = (dtype, tuple(shape))
        ranges.append((begin, end))
    ranges.sort()
    covered = 0
    for begin, end in ranges:
        if begin != covered:
            raise bad("its tensors overlap or leave gaps")
        covered = end
    if covered != data_size:
        raise bad(f"its tensors cover {covered} of the file's {data_size} bytes of data")
    return layout


def _codings_header(raw: dict, path) -> dict:
    meta = raw.get("__metadata__") or {}
    if not isinstance(meta, dict) or _KEY not in meta:
        raise CheckpointError(
            f"{path}: a safetensors file without codings metadata, so the model cannot be "
            "rebuilt; load its tensors with safetensors directly"
        )
    try:
        header = json.loads(meta[_KEY]) if isinstance(meta[_KEY], str) else None
    except (ValueError, RecursionError):
        header = None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: its codings metadata is not a JSON object; {_CORRUPT}")
    return header


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_header(header: dict, path) -> None:
    """The schema of the codings header: format, version, a known model and its arguments."""

    version = header.get("format_version")
    if header.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: format {header.get('format')!r} is not {FORMAT!r}; not a codings checkpoint"
        )
    if not _is_int(version) or version < 1:
        raise CheckpointError(
            f"{path}: format_version {version!r} must be a whole number from 1 to "
            f"{FORMAT_VERSION}; the file was changed or not written by codings"
        )
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format version {version} is newer than this codings reads (version "
            f"{FORMAT_VERSION}); upgrade codings"
        )
    _check_config(header.get("model"), header.get("kwargs"), path)


def _check_config(name, kwargs, path) -> None:
    """A known model's name and arguments of the types its builder declares."""
    from .models import MODELS, builder_params, load_builders

    if not isinstance(name, str):
        raise CheckpointError(f"{path}: its 'model' is {name!r}, not the name of a model")
    if name not in MODELS:
        load_builders()
    if name not in MODELS:
        raise CheckpointError(
            f"{path}: model {name!r} is not known to this codings; it knows "
            f"{', '.join(sorted(MODELS))}"
        )
    if not isinstance(kwargs, dict):
        raise CheckpointError(f"{path}: its 'kwargs' is {kwargs!r}, not a dict of arguments")
    params = builder_params(name)
    for key, value in kwargs.items():
        if key not in params:
            raise CheckpointError(f"{path}: model {name!r} takes no argument {key!r}")
        why = _wrong_type(params[key].annotation, value)
        if why:
            raise CheckpointError(f"{path}: argument {key}={value!r} of model {name!r} {why}")


def _wrong_type(annotation, value) -> str | None:
    """Why ``value`` does not fit a builder's annotation (a string: ``from __future__``)."""
    ann = str(annotation)
    if value is None:
        return None if "None" in ann else "must not be null"
    if "Sequence[int]" in ann:
        # a list, one size, or "300,150": the builder checks the sizes (on the meta device)
        ok = isinstance(value, str) or _is_int(value)
        ok = ok or (isinstance(value, list) and all(map(_is_int, value)))
        return None if ok else "must be a list of whole numbers"
    if ann.startswith("int"):
        return None if _is_int(value) else "must be a whole number"
    if ann.startswith("float"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok and math.isfinite(value) else "must be a finite number"
    if ann.startswith("bool"):
        return None if isinstance(value, bool) else "must be true or false"
    if ann.startswith("str"):
        return None if isinstance(value, str) else "must be a string"
    if ann.startswith("dict"):
        return None if isinstance(value, dict) else "must be a dict"
    return None


def expected_layout(name: str, kwargs: dict, path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """``{tensor: (dtype, shape)}`` of the model ``name(**kwargs)`` builds, built on the meta
    device: no memory is allocated, however large the configuration says the model is."""
    from .models import build

    try:
        with torch.device("meta"):
            model = build(name, **kwargs)
    except Exception as e:  # noqa: BLE001 - any failure means the file's configuration is bad
        raise CheckpointError(
            f"{path}: its configuration does not build a model: {type(e).__name__}: {e}"
        ) from None
    return {
        k: (_TORCH_DTYPE.get(v.dtype, str(v.dtype)), tuple(v.shape))
        for k, v in model.state_dict().items()
    }


def _check_layout(layout: dict, name: str, kwargs: dict, path, prefix: str = "") -> None:
    """The file's tensors named ``prefix + key`` against what the configuration builds."""
    have = {k[len(prefix) :]: v for k, v in layout.items() if k.startswith(prefix)}
    if not prefix:
        have = {k: v for k, v in have.items() if "/" not in k}
    for key, value in kwargs.items():
        # Each size in a list of sizes makes at least one tensor: a list longer than the file's
        # tensors would only build (even on meta) a huge number of layers to refuse them.
        n = len(value) if isinstance(value, list) else 0
        n = value.count(",") + 1 if isinstance(value, str) else n
        if n > len(have):
            raise CheckpointError(
                f"{path}: argument {key} lists {n} sizes but the file holds {len(have)} tensors "
                f"for the model; {_CORRUPT}"
            )
    want = expected_layout(name, kwargs, path)
    missing, unexpected = sorted(set(want) - set(have)), sorted(set(have) - set(want))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not match the model its configuration builds "
            f"(missing: {missing[:5]}, unexpected: {unexpected[:5]})"
        )
    for k, (dtype, shape) in want.items():
        if have[k][1] != shape:
            raise CheckpointError(
                f"{path}: tensor {prefix + k!r} has shape {have[k][1]} but the configuration "
                f"builds {shape}; the file is inconsistent"
            )
        if have[k][0] != dtype:
            got, need = (_DTYPE_WORDS.get(d, d) for d in (have[k][0], dtype))
            raise CheckpointError(
                f"{path}: tensor {prefix + k!r} is stored as {got} but the model holds {need}; "
                "codings saves float32 weights, so the file was changed or not written by it"
            )


def _check_finite(tensors: dict[str, torch.Tensor], path) -> None:
    for k, v in tensors.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise CheckpointError(
                f"{path}: tensor {k!r} holds NaN or infinite weights; the model is broken "
                "(a diverged run?). Use an earlier checkpoint, or train again."
            )


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

    The header (everything saved with it) is available as ``model.metadata``. Any file that is
    not a consistent codings checkpoint raises :class:`CheckpointError`, before the model is
    built: the configuration, the tensors' shapes and dtypes and the file's size are checked
    against each other first.
    """
    tensors, header = _read(path)
    model = _rebuild(header, path)
    _load_weights(model, {k: v for k, v in tensors.items() if "/" not in k}, path)
    model.metadata = header
    return model.to(device).eval()


def load_part(path: str | Path, config, prefix: str, *, device="cpu") -> nn.Module:
    """A second model stored in the same file under ``prefix`` (an estimator's pretrained
    autoencoder), rebuilt from ``config`` (``{"name": ..., "kwargs": ...}``) with the same
    checks as :func:`load`."""
    from .models import build

    path, size, layout, _, f = _layout(path)
    with f:
        if not isinstance(config, dict):
            raise CheckpointError(f"{path}: the configuration of {prefix!r} is not a dict")
        _check_config(config.get("name"), config.get("kwargs"), path)
        _check_layout(layout, config["name"], config["kwargs"], path, prefix)
        f.seek(0)
        data = _read_exactly(f, size, path)
    try:
        tensors = {k[len(prefix) :]: v for k, v in st_load(data).items() if k.startswith(prefix)}
    except (SafetensorError, ValueError) as e:
        raise CheckpointError(
            f"{path}: not a readable safetensors file ({e}); {_CORRUPT}"
        ) from None
    _check_finite(tensors, path)
    model = build(config["name"], **config["kwargs"])
    _load_weights(model, tensors, path)
    return model.to(device).eval()


def read_metadata(path: str | Path) -> dict:
    """The checked codings header of a checkpoint, without reading its tensors."""
    return _read(path, tensors=False)[1]


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
    _check_train_state(state, tensors, path)
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
        try:
            opt.load_state_dict({"state": st, "param_groups": meta["param_groups"]})
        except (ValueError, KeyError, TypeError, IndexError) as e:
            raise CheckpointError(
                f"{path}: its state for optimiser {name!r} does not fit the model ({e}); {_CORRUPT}"
            ) from None
    return {
        "epoch": state["epoch"],
        "history": state["history"],
        "perm_rng": tensors["rng/perm"],
        "torch_rng": tensors["rng/torch"],
        "progress": _progress_state(state.get("progress"), tensors, device),
    }


def _check_train_state(state, tensors: dict, path) -> None:
    """The parts of a training state that :func:`load_train_state` reads, of the types it
    needs (further keys are left alone)."""

    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"{path}: its training state {why}; {_CORRUPT}")

    if not isinstance(state, dict):
        raise bad("is not a JSON object")
    epoch = state.get("epoch")
    if not _is_int(epoch) or epoch < 0:
        raise bad(f"has epoch {epoch!r}, not a whole number >= 0")
    if not isinstance(state.get("history"), list):
        raise bad("has no list of epochs (history)")
    opts = state.get("optimizers")
    if not isinstance(opts, dict) or not all(
        isinstance(m, dict) and isinstance(m.get("param_groups"), list)
        and isinstance(m.get("scalars"), dict)
        for m in opts.values()
    ):  # fmt: skip
        raise bad("has no optimiser settings (param_groups and scalars)")
    for m in opts.values():
        for key in m["scalars"]:
            idx, _, name = key.partition("/")
            if not idx.isdigit() or not name or "/" in name:
                raise bad(f"has an optimiser entry {key!r}")
    for key in tensors:
        parts = key.split("/")
        if parts[0] == "optim" and (len(parts) != 4 or not parts[2].isdigit()):
            raise bad(f"has a tensor {key!r}")
    for key in ("rng/perm", "rng/torch"):
        if key not in tensors or tensors[key].dtype != torch.uint8:
            raise bad(f"has no random-number state {key!r}")
