"""Data sets: iris, digits, MNIST, Fashion-MNIST and user files; where they are found, downloads
and checksums.

MNIST and Fashion-MNIST are looked for in ``data_dir``, then ``$CODINGS_DATA_DIR``, then the user
cache (:func:`default_cache_dir`), then ``/usr/share/datasets/<name>`` (Debian's
``dataset-fashion-mnist``). If they are nowhere, they are downloaded into ``<root>/<name>/`` of
the first of those roots. Every file, found or downloaded, is checked against the SHA-256 digests
below, which are of the *decompressed* idx files so that upstream and recompressed copies verify
alike; this also tells MNIST from Fashion-MNIST, whose files have the same names.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import http.client
import itertools
import os
import sys
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import suggest
from .series import load_series, unwindow, window_starts

__all__ = [
    "DATASETS",
    "SPLITS",
    "Scaling",
    "DataError",
    "Dataset",
    "csv_header",
    "fit_scaling",
    "data_dirs",
    "default_cache_dir",
    "load_array",
    "load_dataset",
    "read_idx",
    "is_row_index",
    "read_user_file",
    "load_series",
    "read_series",
    "unwindow",
    "window_starts",
    "windows",
]

DATASETS = ("iris", "digits", "mnist", "fashion-mnist")
SPLITS = ("train", "validation", "test", "all", "train+validation")

ENV_VAR = "CODINGS_DATA_DIR"
SYSTEM_DATA_DIR = Path("/usr/share/datasets")
TIMEOUT_S = 30.0

IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

# SHA-256 of the decompressed idx files.
SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte": (
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
        ),
        "train-labels-idx1-ubyte": (
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
        ),
        "t10k-images-idx3-ubyte": (
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
        ),
        "t10k-labels-idx1-ubyte": (
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
        ),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": (
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
        ),
        "train-labels-idx1-ubyte": (
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
        ),
        "t10k-images-idx3-ubyte": (
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
        ),
        "t10k-labels-idx1-ubyte": (
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
        ),
    },
}

MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}

_N_TRAIN = 55_000  # the first 55,000 training images; the last 5,000 are the validation split
_N_IDX = {"train": 60_000, "t10k": 10_000}
_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
_ARRAY_SUFFIXES = (".npy", ".npz", ".csv")


class DataError(ValueError):
    """A data set or data file that cannot be found, read or trusted."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Samples as rows of ``X`` (float32, C-contiguous, images flattened to [0, 1])."""

    X: np.ndarray
    y: np.ndarray | None
    image_shape: tuple[int, ...] | None
    name: str
    split: str
    n_classes: int | None
    feature_names: tuple[str, ...] | None = None  # column names (iris, a CSV's header line)

    def __len__(self) -> int:
        return len(self.X)

    def __repr__(self) -> str:
        y = None if self.y is None else f"{self.y.dtype}{self.y.shape}"
        return (
            f"Dataset(name={self.name!r}, split={self.split!r}, X={self.X.dtype}{self.X.shape}, "
            f"y={y}, image_shape={self.image_shape}, n_classes={self.n_classes})"
        )


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/codings``, or ``~/.cache/codings``."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says to ignore relative paths.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "codings"


def _roots(data_dir: str | os.PathLike | None) -> list[Path]:
    roots = [] if data_dir is None else [Path(data_dir)]
    if os.environ.get(ENV_VAR):
        roots.append(Path(os.environ[ENV_VAR]))
    roots.append(default_cache_dir())
    return [r.expanduser().absolute() for r in roots]


def _download_root(data_dir: str | os.PathLike | None) -> Path:
    return _roots(data_dir)[0]


def data_dirs(data_dir: str | os.PathLike | None = None, name: str | None = None) -> list[Path]:
    """The directories searched for data set ``name``, in order (the roots if ``name`` is None)."""
    dirs: list[Path] = []
    for root in _roots(data_dir):
        dirs += [root] if name is None else [root / name, root]
    dirs.append(SYSTEM_DATA_DIR if name is None else SYSTEM_DATA_DIR / name)
    return list(dict.fromkeys(dirs))


# --------------------------------------------------------------------------------------------
# idx files


def _read_bytes(path: Path) -> bytes:
    """The file's content, decompressed if it is gzip (by suffix or magic number)."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"Cannot read {path}: {e.strerror or e}.") from e
    if path.suffix != ".gz" and not raw.startswith(b"\x1f\x8b"):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(
            f"{path} is not a valid gzip file ({e}); it may be truncated or corrupted. Delete it "
            "and download it again, or decompress a good copy in its place."
        ) from e


def _parse_idx(data: bytes, path: Path) -> np.ndarray:
    if len(data) < 4:
        raise DataError(
            f"{path} is not an idx file: expected a 4-byte magic number, found {len(data)} bytes."
        )
    zero, dtype_code, ndim = data[:2], data[2], data[3]
    if zero != b"\x00\x00" or dtype_code != 0x08 or ndim == 0:
        raise DataError(
            f"{path} is not an idx file of unsigned bytes: expected a magic number 00 00 08 0N "
            f"(N = number of dimensions), found {data[:4].hex(' ')}."
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(
            f"{path} is truncated: expected a {header}-byte header for {ndim} dimensions, "
            f"found {len(data)} bytes."
        )
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64))
    found = len(data) - header
    if found != expected:
        dims = " x ".join(f"{d:,}" for d in shape)
        raise DataError(
            f"{path} is {'truncated' if found < expected else 'corrupted'}: expected {expected:,} "
            f"bytes of data ({dims}) "
            f"after the {header}-byte header, found {found:,}."
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an idx file of unsigned bytes (optionally gzip-compressed) as a read-only uint8 array.

    The result has the shape stored in the file, e.g. (60000, 28, 28) for MNIST's images.
    """
    path = Path(path)
    return _parse_idx(_read_bytes(path), path)


# --------------------------------------------------------------------------------------------
# finding, downloading and verifying MNIST-like data sets


def _find_file(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _find_all(directory: Path) -> dict[str, Path] | None:
    found = {stem: _find_file(directory, stem) for stem in IDX_FILES}
    return None if None in found.values() else found  # type: ignore[return-value]


class _OtherDataset(Exception):
    """The files are another known data set's (MNIST and Fashion-MNIST share file names)."""


def _read_verified(path: Path, name: str, stem: str) -> np.ndarray:
    data = _read_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256[name][stem]:
        for other, digests in SHA256.items():
            if other != name and digest == digests[stem]:
                raise _OtherDataset(f"{path.parent} holds the {_TITLES[other]} files")
        raise DataError(
            f"{path} is not the official {_TITLES[name]} file: its decompressed content has "
            f"SHA-256 {digest}, expected {SHA256[name][stem]}. Delete it (it will be downloaded "
            "again) or replace it with a good copy."
        )
    return _parse_idx(data, path)


def _read_pair(files: dict[str, Path], name: str, part: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 28, 28) and labels (n,) of ``part`` ("train" or "t10k"), checked."""
    images = _read_verified(files[f"{part}-images-idx3-ubyte"], name, f"{part}-images-idx3-ubyte")
    labels = _read_verified(files[f"{part}-labels-idx1-ubyte"], name, f"{part}-labels-idx1-ubyte")
    # The digests already pin the content; this guards against a wrong constant above.
    assert images.shape == (_N_IDX[part], 28, 28) and labels.shape == (_N_IDX[part],)
    return images, labels


def _idx_dataset(files: dict[str, Path], name: str, split: str) -> Dataset:
    parts = {"test": ["t10k"], "all": ["train", "t10k"]}.get(split, ["train"])
    pairs = [_read_pair(files, name, part) for part in parts]
    images = np.concatenate([p[0] for p in pairs]) if len(pairs) > 1 else pairs[0][0]
    labels = np.concatenate([p[1] for p in pairs]) if len(pairs) > 1 else pairs[0][1]
    rows = {"train": slice(0, _N_TRAIN), "validation": slice(_N_TRAIN, None)}.get(
        split, slice(None)
    )
    images, labels = images[rows], labels[rows]
    X = images.reshape(len(images), -1).astype(np.float32)  # (n, 28, 28) -> (n, 784)
    X /= np.float32(255)
    return Dataset(X, labels.astype(np.int64), (28, 28), name, split, 10)


def _describe(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    reason = getattr(error, "reason", None) or error
    return str(reason) or type(reason).__name__


def _content_sha256(path: Path) -> str:
    """SHA-256 of the decompressed content, read in chunks."""
    with open(path, "rb") as f:
        is_gzip = f.read(2) == b"\x1f\x8b"
    h = hashlib.sha256()
    with gzip.open(path, "rb") if is_gzip else open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class _BadDownload(Exception):
    """A download that completed but cannot be trusted."""


def _fetch(url: str, directory: Path, stem: str, expected: str, progress: bool) -> Path:
    """Download ``url`` into ``directory`` atomically; raise on any failure, leaving no file."""
    from tqdm import tqdm

    fd, tmp_name = tempfile.mkstemp(prefix=f".{stem}.", suffix=".part", dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
            total = resp.headers.get("Content-Length")
            with tqdm(
                total=int(total) if total else None,
                unit="B",
                unit_scale=True,
                desc=f"{stem}.gz",
                file=sys.stderr,
                disable=not progress,
            ) as bar:
                while chunk := resp.read(1 << 16):
                    out.write(chunk)
                    bar.update(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        try:
            actual = _content_sha256(tmp)
        except (OSError, EOFError, zlib.error) as e:
            raise _BadDownload(f"{url} did not give a valid gzip file ({e})") from e
        if actual != expected:
            raise _BadDownload(
                f"{url} failed its SHA-256 check: the decompressed content has SHA-256 {actual}, "
                f"expected {expected}; the file was not kept"
            )
        with open(tmp, "rb") as f:
            suffix = ".gz" if f.read(2) == b"\x1f\x8b" else ""
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a shared data_dir should stay readable
        target = directory / f"{stem}{suffix}"
        os.replace(tmp, target)
        return target
    finally:
        tmp.unlink(missing_ok=True)


def _download(name: str, directory: Path, mirrors: Sequence[str], progress: bool) -> str | None:
    """Download the missing idx files into ``directory``; return why that failed, or None."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return f"cannot create {directory}: {e.strerror or e}"
    for stem in IDX_FILES:
        if _find_file(directory, stem) is not None:
            continue
        untrusted, reason = None, "no mirror given"
        for mirror in mirrors:
            url = mirror.rstrip("/") + f"/{stem}.gz"
            try:
                _fetch(url, directory, stem, SHA256[name][stem], progress)
                break
            except _BadDownload as e:
                untrusted = str(e)
            # URLError, HTTPError and timeouts are OSErrors; a bad URL is a ValueError.
            except (OSError, ValueError, http.client.HTTPException) as e:
                reason = f"{url}: {_describe(e)}"
        else:
            if untrusted:
                raise DataError(
                    f"Downloading {_TITLES[name]}: {untrusted}. The mirror may serve a corrupted "
                    f"or different file; try again later, or put the four files in {directory}, "
                    f"set {ENV_VAR}, or pass data_dir= to a directory holding them."
                )
            return reason
    return None


def _load_idx_dataset(
    name: str,
    split: str,
    data_dir: str | os.PathLike | None,
    download: bool,
    mirrors: Sequence[str] | None,
    progress: bool,
) -> Dataset:
    dirs = data_dirs(data_dir, name)
    skipped: list[str] = []
    for directory in dirs:
        files = _find_all(directory)
        if files is not None:
            try:
                return _idx_dataset(files, name, split)
            except _OtherDataset as e:
                skipped.append(str(e))

    failure: str | None = None
    env_root = None if data_dir is not None else os.environ.get(ENV_VAR)
    if download and env_root and not Path(env_root).expanduser().is_dir():
        # A standing setting with a typo must not create folders (as /nonexistent/mnist).
        failure = (
            f"{ENV_VAR}={env_root} does not exist; create it or correct {ENV_VAR}, "
            "nothing was created there"
        )
    elif download:
        if isinstance(mirrors, str):
            mirrors = [mirrors]
        target = _download_root(data_dir) / name
        failure = _download(name, target, MIRRORS[name] if mirrors is None else mirrors, progress)
        files = _find_all(target)
        if failure is None and files is not None:
            try:
                return _idx_dataset(files, name, split)
            except _OtherDataset:
                failure = f"{target} already holds all four files, so nothing was downloaded"

    stems = ", ".join(f"{stem}[.gz]" for stem in IDX_FILES)
    msg = f"Cannot find the {_TITLES[name]} files ({stems}) in any of: {', '.join(map(str, dirs))}."
    if skipped:
        msg += f" Skipped: {'; '.join(skipped)}."
    if download:
        msg += f" Downloading them failed ({failure})."
    else:
        msg += " Downloading was not allowed (download=False)."
    msg += (
        " To provide them, put all four files (plain or .gz) in one of those directories, set "
        f"{ENV_VAR} to a directory holding them (or holding a '{name}' folder with them), or pass "
        "data_dir=DIR to load_dataset"
    )
    if name == "fashion-mnist":
        msg += "; on Debian or Ubuntu, `apt-get install dataset-fashion-mnist` installs them"
    raise DataError(msg + ".")


# --------------------------------------------------------------------------------------------
# scikit-learn's embedded data sets


def _stratified_split(y: np.ndarray, split: str) -> np.ndarray:
    """Row indices of ``split``: per class, a fixed 80/10/10 shuffle of that class's rows."""
    rng = np.random.default_rng(0)
    parts: dict[str, list[np.ndarray]] = {"train": [], "validation": [], "test": []}
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        n_held = round(0.1 * len(rows))
        parts["validation"].append(rows[:n_held])
        parts["test"].append(rows[n_held : 2 * n_held])
        parts["train"].append(rows[2 * n_held :])
    # Shuffle the classes together (with the same fixed generator) so no split is sorted by class.
    order = {k: rng.permutation(np.concatenate(v)) for k, v in parts.items()}
    if split == "train+validation":
        return np.concatenate([order["train"], order["validation"]])
    return order[split]


def _sklearn_dataset(name: str, split: str) -> Dataset:
    from sklearn import datasets

    if name == "iris":
        bunch, image_shape, scale = datasets.load_iris(), None, 1.0
    else:
        bunch, image_shape, scale = datasets.load_digits(), (8, 8), 16.0
    X = np.asarray(bunch.data, dtype=np.float64) / scale
    y = np.asarray(bunch.target, dtype=np.int64)
    if split != "all":
        rows = _stratified_split(y, split)
        X, y = X[rows], y[rows]
    X = np.ascontiguousarray(X, dtype=np.float32)
    names = tuple(bunch.feature_names) if image_shape is None else None
    return Dataset(X, y, image_shape, name, split, int(len(bunch.target_names)), names)


# --------------------------------------------------------------------------------------------
# public loaders


def _check_choice(value: object, allowed: Sequence[str], what: str) -> None:
    if value in allowed:
        return
    raise DataError(
        f"Unknown {what} {value!r}; expected one of {', '.join(allowed)}"
        + (suggest(value, allowed) or ".")
    )


def load_dataset(
    name: str,
    split: str = "train",
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    mirrors: Sequence[str] | None = None,
    progress: bool = False,
) -> Dataset:
    """Load one split of a named data set (see ``DATASETS`` and ``SPLITS``).

    iris and digits come with scikit-learn and get a fixed stratified 80/10/10 split. MNIST and
    Fashion-MNIST use the first 55,000 training images for "train", the last 5,000 for
    "validation" and the 10,000 test images for "test"; they are found or downloaded as described
    in the module docstring. ``mirrors`` replaces the download URLs (directories holding the
    ``.gz`` files); ``progress`` shows a download progress bar on stderr.
    """
    key = name.lower().replace("_", "-") if isinstance(name, str) else name
    _check_choice(key, DATASETS, "data set")
    _check_choice(split, SPLITS, "split")
    if key in ("iris", "digits"):
        return _sklearn_dataset(key, split)
    return _load_idx_dataset(key, split, data_dir, download, mirrors, progress)


def _check_array(a: np.ndarray, path: Path, csv_file: bool = False) -> np.ndarray:
    if a.dtype.kind not in "biuf":
        raise DataError(f"{path} holds {a.dtype} values; codings needs numbers (int or float).")
    if a.ndim != 2:
        if a.ndim < 2:
            fix = "reshape it to (n_samples, n_features), e.g. X.reshape(-1, 1) for one feature"
        else:
            fix = "flatten each sample first, e.g. X.reshape(len(X), -1)"
        raise DataError(f"{path} holds an array of shape {a.shape}; {fix}.")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise DataError(f"{path} holds no data (shape {a.shape}); it needs at least one row.")
    with np.errstate(over="ignore"):  # too-large values become inf and are reported below
        X = np.ascontiguousarray(a, dtype=np.float32)
    bad = ~np.isfinite(X)
    if bad.any():
        if csv_file:
            _scan_csv(path)  # reports the line and column
        i, j = (int(k) for k in np.argwhere(bad)[0])
        value = a[i, j]
        what = f"is {value}" if not np.isfinite(value) else f"is {value}, too large for float32"
        more = int(bad.sum()) - 1
        others = f" ({more:,} more values are not finite)" if more else ""
        raise DataError(
            f"{path}: row {i}, column {j} (counting from 0) {what}{others}; codings needs finite "
            "numbers: impute or drop such rows."
        )
    return X


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def _csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of the non-blank rows of a CSV file."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        try:
            for cells in reader:
                if cells:
                    yield reader.line_num, cells
        except csv.Error as e:
            raise DataError(f"{path}: line {reader.line_num} is not valid CSV ({e}).") from e
        except UnicodeDecodeError as e:
            raise DataError(f"{path} is not UTF-8 text ({e}).") from e


def _is_header(cells: list[str]) -> bool:
    return all(_number(c) is None for c in cells)


def _scan_csv(path: Path) -> None:
    """Raise a DataError at the first malformed cell of a CSV file (the slow, exact path)."""
    limit = float(np.finfo(np.float32).max)
    rows = _csv_rows(path)
    first_line, first = next(rows)
    if not _is_header(first):
        rows = itertools.chain([(first_line, first)], rows)
    for line, cells in rows:
        if len(cells) != len(first):
            raise DataError(
                f"{path}: line {line} has {len(cells)} fields, expected {len(first)} like "
                f"line {first_line}; every row needs the same number of comma-separated values."
            )
        for col, cell in enumerate(cells, start=1):
            v = _number(cell)
            if v is None:
                raise DataError(
                    f"{path}: line {line}, column {col}: {cell!r} is not a number. Only the "
                    "first line may hold column names, and then all of its cells must be names. "
                    "A table with text (categorical) or blank cells is read by the table model: "
                    f"codings train table --data {path} (in Python: a DataFrame in the "
                    "estimators; pip install 'codings[tables]')."
                )
            if not abs(v) <= limit:
                what = f"is {v}" if not np.isfinite(v) else f"holds {cell.strip()}, too large"
                raise DataError(
                    f"{path}: line {line}, column {col} {what}; codings needs finite float32 "
                    "numbers: impute or drop such rows."
                )


def csv_header(path: str | os.PathLike) -> tuple[str, ...] | None:
    """A CSV file's column names: its first line if none of its cells is a number, else None."""
    rows = _csv_rows(Path(path))
    try:
        first = next(rows, None)
    finally:
        rows.close()
    if first is None or not _is_header(first[1]):
        return None
    return tuple(c.strip() for c in first[1])


def _load_csv(path: Path) -> np.ndarray:
    rows = _csv_rows(path)
    first = next(rows, None)
    if first is None:
        raise DataError(f"{path} is empty; it needs at least one row of numbers.")
    header = _is_header(first[1])
    if header and next(rows, None) is None:
        raise DataError(f"{path} has a line of column names but no rows of numbers.")
    rows.close()
    try:
        a = np.loadtxt(
            path,
            delimiter=",",
            dtype=np.float32,
            skiprows=first[0] if header else 0,
            ndmin=2,
            encoding="utf-8-sig",
            comments=None,
            quotechar='"',
        )
    except ValueError as e:
        _scan_csv(path)
        raise DataError(f"{path} could not be read as CSV: {e}") from e
    return _check_array(a, path, csv_file=True)


def load_array(path: str | os.PathLike) -> np.ndarray:
    """Read a user's data file (.npy, .npz or .csv) as a 2-D float32 array of finite numbers.

    A .npz file must hold one array, or one named "X". A .csv file is comma-separated; its first
    line may hold column names if none of them is a number.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _ARRAY_SUFFIXES:
        raise DataError(
            f"{path}: unknown file type {suffix or '(no extension)'!r}; codings reads "
            f"{', '.join(_ARRAY_SUFFIXES)} files."
        )
    if not path.is_file():
        raise DataError(
            f"{path}: file not found" + (" (it is a directory)." if path.exists() else ".")
        )
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty; it needs at least one row of numbers.")
    if suffix == ".csv":
        return _load_csv(path)
    return _check_array(_read_numpy(path, suffix), path)


def check_starts_like(path: str | os.PathLike, suffix: str) -> None:
    """Refuse a file that does not start like a .npy (or .npz) file, which np.load would call
    pickled data and suggest loading unsafely."""
    with open(path, "rb") as f:
        magic = f.read(6)
    if not magic.startswith(b"\x93NUMPY" if suffix == ".npy" else b"PK"):
        raise DataError(f"{path} is not a {suffix} file (it does not start like one).")


def _read_numpy(path: Path, suffix: str) -> np.ndarray:
    """The array of a .npy file, or the one array (or the one named X) of a .npz file."""
    check_starts_like(path, suffix)
    try:
        if suffix == ".npy":
            a = np.load(path, allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as z:
                names = list(z.files)
                if len(names) != 1 and "X" not in names:
                    listed = f"{len(names)} arrays ({', '.join(names)})" if names else "no arrays"
                    raise DataError(
                        f"{path} holds {listed}; save the data as its only array or name it X, "
                        "e.g. np.savez(path, X=X)."
                    )
                a = z[names[0] if len(names) == 1 else "X"]
    except DataError:
        raise
    except ValueError as e:
        # np.load refuses object arrays without allow_pickle; codings never unpickles.
        if "pickle" in str(e):
            raise DataError(
                f"{path} holds Python objects rather than numbers; codings does not unpickle "
                "files. Save a numeric array instead."
            ) from e
        raise DataError(f"{path} could not be read as {suffix} ({e}).") from e
    except (OSError, EOFError) as e:
        raise DataError(f"{path} could not be read as {suffix} ({e}).") from e
    return a


@dataclass(frozen=True, eq=False)
class UserFile:
    """A user's data file as rows ``X`` (n, d) float32; ``image_shape`` (h, w) when the file
    held images, ``columns`` a CSV's column names, ``note`` what was changed on reading."""

    X: np.ndarray
    image_shape: tuple[int, ...] | None = None
    columns: list[str] | None = None
    note: str | None = None


def read_user_file(path: str | os.PathLike) -> UserFile:
    """Read a .npy, .npz or .csv file like :func:`load_array`, also accepting images.

    Images (n, h, w), or one channel (n, h, w, 1) or (n, 1, h, w), as torchvision and Keras
    hold MNIST, become rows of h*w values; uint8 pixels (0-255) are divided by 255, as the
    MNIST loader does. The note says so. A 2-D array is taken as rows, whatever its type.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz") and path.is_file() and path.stat().st_size > 0:
        a = _read_numpy(path, suffix)
        rows, shape, divisor = image_rows(a)
        if shape is None:
            return UserFile(_check_array(a, path))
        X = _check_array(rows, path)
        if divisor != 1:
            X /= np.float32(divisor)
        return UserFile(X, shape, None, image_note(a.shape, shape, divisor))
    X = load_array(path)  # and its errors: an unknown type, a missing or empty file
    header = csv_header(path) if suffix == ".csv" else None
    if header and header[0] == "" and X.shape[1] > 1 and is_row_index(X[:, 0]):
        return UserFile(
            np.ascontiguousarray(X[:, 1:]), columns=list(header[1:]), note=ROW_INDEX_NOTE
        )
    return UserFile(X, columns=list(header) if header else None)


# What reading a CSV file says when it drops such a column (read_user_file, and the table
# model's reader in codings.tablecli).
ROW_INDEX_NOTE = (
    "dropped the first column, which has no name and counts the rows (0, 1, 2, ...): "
    "a row index written with the table (pandas' to_csv without index=False)"
)


def is_row_index(values) -> bool:
    """Whether a column holds whole numbers that only go up (0, 1, 2, ..., or a subset's
    original row numbers): the index a DataFrame writes into a CSV file by default."""
    v = np.asarray(values, dtype=np.float64)
    return (
        len(v) > 1
        and bool(np.isfinite(v).all())
        and bool((v == np.round(v)).all())
        and bool((np.diff(v) > 0).all())
    )


def image_rows(a: np.ndarray) -> tuple[np.ndarray, tuple[int, int] | None, int]:
    """Images as rows without copying: (n, h, w), (n, h, w, 1) or (n, 1, h, w) -> (n, h*w).

    Returns the rows, the images' shape (None, and ``a`` itself, when ``a`` is not images of
    numbers) and the divisor that brings the pixels to [0, 1] (255 for uint8, else 1).
    """
    if a.ndim == 4 and (a.shape[1] == 1 or a.shape[-1] == 1):
        a = a.reshape(a.shape[0], *(a.shape[2:] if a.shape[1] == 1 else a.shape[1:3]))
    if a.ndim != 3 or a.dtype.kind not in "biuf" or 0 in a.shape:
        return a, None, 1
    return (
        a.reshape(len(a), -1),
        (int(a.shape[1]), int(a.shape[2])),
        (255 if a.dtype == np.uint8 else 1),
    )


def image_note(array_shape: tuple[int, ...], image_shape: tuple[int, int], divisor: int) -> str:
    h, w = image_shape
    note = f"read an array of shape {tuple(array_shape)} as {array_shape[0]} images of {h}x{w}"
    note += f", flattened to rows of {h * w} values"
    if divisor == 255:
        note += "; uint8 pixel values 0-255 divided by 255 to [0, 1], as the MNIST loader does"
    return note


def fit_scaling(scale, output: str, X: np.ndarray, *, images: bool = False) -> Scaling | None:
    """The scaling ``scale`` ("auto", "standard", "minmax", or None/"none") learned on ``X``.

    "auto" standardises for squared error and maps to [0, 1] for a Bernoulli output
    (cross-entropy needs targets in [0, 1]). Data already in [0, 1] stay as they are for a
    Bernoulli output, and so do ``images``: stretching each pixel to its own range would
    magnify the rarely used ones.
    """
    if scale in (None, "none") or output == "table":  # a table's schema scales its numbers
        return None
    if scale == "auto":
        if images or (output == "bernoulli" and X.min() >= 0 and X.max() <= 1):
            return None
        scale = "minmax" if output == "bernoulli" else "standard"
    return Scaling.fit(X, kind=scale)


class Scaling:
    """Per-feature scaling learned on training data, stored in the checkpoint.

    ``forward`` is ``(X - mean) / scale``: for ``kind="standard"`` the mean and standard
    deviation, for ``kind="minmax"`` the minimum and the range (data to [0, 1]). A constant
    feature keeps scale 1.
    """

    KINDS = ("standard", "minmax")

    def __init__(self, mean: np.ndarray, scale: np.ndarray, kind: str = "standard"):
        self.mean = np.asarray(mean, dtype=np.float32)
        self.scale = np.asarray(scale, dtype=np.float32)
        self.kind = kind

    @classmethod
    def fit(cls, X: np.ndarray, kind: str = "standard") -> Scaling:
        _check_choice(kind, cls.KINDS, "scale")
        # float64: the squares of values near 1e30 overflow float32 (every input would map to 0).
        X = np.asarray(X, dtype=np.float64)
        with np.errstate(invalid="ignore", over="ignore"):  # inf and NaN are refused below
            if kind == "minmax":
                low, span = X.min(axis=0), X.max(axis=0) - X.min(axis=0)
                scaling = cls(low, np.where(span > 0, span, 1.0), kind)
            else:
                std = X.std(axis=0)
                scaling = cls(X.mean(axis=0), np.where(std > 0, std, 1.0))
        scaling._check_finite(kind)
        return scaling

    def _check_finite(self, kind: str) -> None:
        """Refuse a mean or scale that float32 cannot hold (infinite or NaN data, or a range
        beyond about 3e38): the model would see only zeros or NaN."""
        bad = np.flatnonzero(~(np.isfinite(self.mean) & np.isfinite(self.scale)))
        if len(bad):
            j = int(bad[0])
            raise DataError(
                f"the {kind} scaling of the data is not finite (column {j}: offset "
                f"{self.mean[j]:.4g}, scale {self.scale[j]:.4g}): the data hold infinite or NaN "
                "values, or values too large for float32; remove those rows or rescale the "
                "column (e.g. divide by a power of ten)"
            )

    @classmethod
    def from_meta(cls, meta: dict | None) -> Scaling | None:
        if not meta:
            return None
        return cls(meta["mean"], meta["scale"], meta.get("kind", "standard"))

    def to_meta(self) -> dict:
        return {"kind": self.kind, "mean": self.mean.tolist(), "scale": self.scale.tolist()}

    def forward(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean) / self.scale).astype(np.float32)

    def inverse(self, X: np.ndarray) -> np.ndarray:
        return (X * self.scale + self.mean).astype(np.float32)


# --- time series: windows scaled once (the windowing itself: codings.series) --------------------


def windows(series, length: int, stride: int = 1, *, scaling="standard"):
    """Sliding windows over one series (T,) or (T, C), or a list of them, scaled per channel.

    Returns ``(W, scaling)``: ``W`` of shape (n_windows, length, C), float32, and the
    :class:`Scaling` applied (per channel: its ``mean`` and ``scale`` have C values; None with
    ``scaling=None``). ``scaling``: "standard" or "minmax" fits it on the given series (all
    their steps, each counted once), a :class:`Scaling` from an earlier call applies that one
    (test data in the training data's units), None leaves the values as they are.
    Windows start every ``stride`` steps; where (T - length) % stride != 0, one more window
    ends at the last step (:func:`codings.series.window_starts`). :func:`unwindow` is the way
    back: the mean over the windows covering each step.
    """
    from .series import as_series, window_stack

    parts = as_series(series)
    if isinstance(scaling, str) and scaling in Scaling.KINDS:
        scaling = Scaling.fit(np.concatenate(parts), kind=scaling)
    elif scaling is not None and not isinstance(scaling, Scaling):
        raise ValueError(
            f"scaling={scaling!r} must be 'standard', 'minmax', a Scaling from an earlier call "
            "or None"
        )
    if scaling is not None:
        if scaling.mean.shape != (parts[0].shape[1],):
            raise ValueError(
                f"the scaling has {scaling.mean.size} values but the series "
                f"{parts[0].shape[1]} channels; use the scaling fitted on series like these"
            )
        parts = [scaling.forward(p) for p in parts]
    return window_stack(parts, length, stride), scaling


def flat_window_scaling(scaling: Scaling | None, length: int) -> Scaling | None:
    """A per-channel scaling as the per-feature one of flattened windows (length * C values,
    step-major: the layout of ``W.reshape(n, -1)``), as models and runs store scalings."""
    if scaling is None:
        return None
    return Scaling(np.tile(scaling.mean, length), np.tile(scaling.scale, length), scaling.kind)


def read_series(path: str | os.PathLike) -> np.ndarray:
    """A series from a .npy, .npz or .csv file as (T, C) float32: a 1-D array is one channel."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz") and path.is_file() and path.stat().st_size > 0:
        a = _read_numpy(path, suffix)
        return _check_array(a.reshape(-1, 1) if a.ndim == 1 else a, path)
    return load_array(path)
