"""Known answers for the data sets, where they are found, downloads, checksums and user files."""

from __future__ import annotations

import functools
import gzip
import http.server
import os
import re
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from codings import datasets
from codings.datasets import (
    IDX_FILES,
    DataError,
    data_dirs,
    default_cache_dir,
    load_array,
    load_dataset,
    read_idx,
)

# Read before the autouse fixture below clears it: CI points it at the shared read-only copy.
_ENV_DATA = os.environ.get("CODINGS_DATA_DIR")
_SIBLING_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No test sees the user's cache, data directory or the system's MNIST."""
    monkeypatch.delenv("CODINGS_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIR", tmp_path / "system")


@pytest.fixture(scope="module")
def data_root() -> Path:
    """A root holding mnist/ with the four official .gz files."""
    if _ENV_DATA:
        return Path(_ENV_DATA).absolute()
    if (_SIBLING_DATA / "mnist").is_dir():
        return _SIBLING_DATA
    pytest.skip("no MNIST copy: set CODINGS_DATA_DIR to a directory holding mnist/")


@pytest.fixture(scope="module")
def mnist_gz(data_root) -> Path:
    return data_root / "mnist"


@pytest.fixture(scope="module")
def mnist_test(data_root):
    return load_dataset("mnist", "test", data_dir=data_root, download=False)


def link_files(src: Path, dst: Path, broken: str | None = None) -> Path:
    """Symlink the four idx .gz files of ``src`` into ``dst``; make ``broken`` garbage."""
    dst.mkdir(parents=True, exist_ok=True)
    for stem in IDX_FILES:
        if stem == broken:
            (dst / f"{stem}.gz").write_bytes(b"not gzip")
        else:
            (dst / f"{stem}.gz").symlink_to(src / f"{stem}.gz")
    return dst


# --------------------------------------------------------------------------------------------
# MNIST and Fashion-MNIST


def test_mnist_splits_known_answers(data_root):
    load = functools.partial(load_dataset, "mnist", data_dir=data_root, download=False)
    train, val, test, both = (
        load("train"),
        load("validation"),
        load("test"),
        load("train+validation"),
    )
    for d, n in [(train, 55_000), (val, 5_000), (test, 10_000), (both, 60_000)]:
        assert d.X.shape == (n, 784) and d.y.shape == (n,)
        assert d.X.dtype == np.float32 and d.X.flags.c_contiguous and d.y.dtype == np.int64
        assert d.image_shape == (28, 28) and d.n_classes == 10 and d.name == "mnist"
        assert 0.0 <= d.X.min() and d.X.max() <= 1.0
    assert np.bincount(both.y).tolist() == [
        5923,
        6742,
        5958,
        6131,
        5842,
        5421,
        5918,
        6265,
        5851,
        5949,
    ]
    assert both.X.mean(dtype=np.float64) * 255 == pytest.approx(33.318, abs=1e-3)
    assert np.array_equal(both.X[:55_000], train.X) and np.array_equal(both.X[55_000:], val.X)
    assert train.y[:5].tolist() == [5, 0, 4, 1, 9] and test.y[:5].tolist() == [7, 2, 1, 0, 4]


def test_mnist_all_and_env_var(data_root, mnist_test, monkeypatch):
    monkeypatch.setenv("CODINGS_DATA_DIR", str(data_root))
    everything = load_dataset("mnist", "all", download=False)
    assert everything.X.shape == (70_000, 784) and everything.split == "all"
    assert np.array_equal(everything.X[60_000:], mnist_test.X)


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_fashion_mnist_from_debian_package(monkeypatch):
    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIR", FASHION_DIR.parent)
    test = load_dataset("fashion-mnist", "test", download=False)
    assert test.X.shape == (10_000, 784) and test.image_shape == (28, 28)
    assert np.bincount(test.y).tolist() == [1000] * 10
    assert test.y[:5].tolist() == [9, 2, 1, 1, 6]  # ankle boot, pullover, trouser, trouser, shirt
    train = load_dataset("Fashion_MNIST", "train+validation", download=False)
    assert train.name == "fashion-mnist" and np.bincount(train.y).tolist() == [6000] * 10
    assert train.X.mean(dtype=np.float64) == pytest.approx(0.2860, abs=1e-4)


# --------------------------------------------------------------------------------------------
# iris and digits


def sorted_rows(*parts) -> np.ndarray:
    rows = np.concatenate([np.column_stack([d.X, d.y]) for d in parts])
    return rows[np.lexsort(rows.T[::-1])]


@pytest.mark.parametrize(
    ("name", "sizes", "d", "image_shape", "n_classes"),
    [("iris", (120, 15, 15), 4, None, 3), ("digits", (1439, 179, 179), 64, (8, 8), 10)],
    ids=["iris", "digits"],
)
def test_sklearn_splits(name, sizes, d, image_shape, n_classes):
    from sklearn import datasets as sk

    splits = {s: load_dataset(name, s) for s in datasets.SPLITS}
    train, val, test, everything = (splits[s] for s in ("train", "validation", "test", "all"))
    assert [len(train), len(val), len(test)] == list(sizes)
    for ds in splits.values():
        assert ds.X.dtype == np.float32 and ds.X.flags.c_contiguous and ds.X.shape[1] == d
        assert ds.image_shape == image_shape and ds.n_classes == n_classes
    bunch = sk.load_iris() if name == "iris" else sk.load_digits()
    scale = 1.0 if name == "iris" else 16.0
    assert np.array_equal(everything.X, (bunch.data / scale).astype(np.float32))
    assert np.array_equal(everything.y, bunch.target)
    # The three splits partition "all" (as multisets: iris has duplicate rows).
    assert np.array_equal(sorted_rows(train, val, test), sorted_rows(everything))
    tv = splits["train+validation"]
    assert np.array_equal(tv.X, np.concatenate([train.X, val.X]))
    # Stratified: every class is in every split, at about 80/10/10.
    counts = np.bincount(everything.y)
    assert np.all(np.abs(np.bincount(val.y) - 0.1 * counts) <= 1)
    assert np.array_equal(np.bincount(test.y), np.bincount(val.y))
    # Deterministic and not sorted by class.
    again = load_dataset(name, "train")
    assert np.array_equal(again.X, train.X) and np.array_equal(again.y, train.y)
    assert np.any(np.diff(train.y) < 0)


def test_digits_range():
    ds = load_dataset("digits", "all")
    assert ds.X.min() == 0.0 and ds.X.max() == 1.0


def test_unknown_names_suggest():
    with pytest.raises(DataError, match="did you mean 'fashion-mnist'"):
        load_dataset("fashon-mnist")
    with pytest.raises(DataError, match="did you mean 'validation'"):
        load_dataset("iris", "valid")


# --------------------------------------------------------------------------------------------
# where files are looked for


def test_default_cache_dir(monkeypatch, tmp_path):
    assert default_cache_dir() == tmp_path / "xdg" / "codings"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "codings"


def test_data_dirs_order(monkeypatch, tmp_path):
    monkeypatch.setenv("CODINGS_DATA_DIR", str(tmp_path / "env"))
    cache = tmp_path / "xdg" / "codings"
    assert data_dirs(tmp_path / "mine", "mnist") == [
        tmp_path / "mine" / "mnist",
        tmp_path / "mine",
        tmp_path / "env" / "mnist",
        tmp_path / "env",
        cache / "mnist",
        cache,
        tmp_path / "system" / "mnist",
    ]
    assert data_dirs() == [tmp_path / "env", cache, tmp_path / "system"]


def test_search_order_explicit_then_env_then_cache(mnist_gz, mnist_test, monkeypatch, tmp_path):
    # Broken copies in lower-priority places show which directory was actually read.
    broken = "t10k-images-idx3-ubyte"
    explicit = link_files(mnist_gz, tmp_path / "mine")  # files directly in the root
    env = link_files(mnist_gz, tmp_path / "env" / "mnist", broken=broken)
    link_files(mnist_gz, tmp_path / "xdg" / "codings" / "mnist", broken=broken)
    monkeypatch.setenv("CODINGS_DATA_DIR", str(tmp_path / "env"))
    got = load_dataset("mnist", "test", data_dir=explicit, download=False)
    assert np.array_equal(got.X, mnist_test.X)
    with pytest.raises(DataError, match=re.escape(str(env)) + ".*not a valid gzip"):
        load_dataset("mnist", "test", download=False)

    link_files(mnist_gz, tmp_path / "env2" / "mnist")
    monkeypatch.setenv("CODINGS_DATA_DIR", str(tmp_path / "env2"))
    assert np.array_equal(load_dataset("mnist", "test", download=False).y, mnist_test.y)
    monkeypatch.delenv("CODINGS_DATA_DIR")
    with pytest.raises(DataError, match="xdg/codings/mnist/t10k-images-idx3-ubyte.gz"):
        load_dataset("mnist", "test", download=False)


def test_incomplete_directory_is_passed_over(mnist_gz, mnist_test, tmp_path):
    partial = link_files(mnist_gz, tmp_path / "mine" / "mnist")
    (partial / "train-labels-idx1-ubyte.gz").unlink()
    link_files(mnist_gz, tmp_path / "xdg" / "codings")
    got = load_dataset("mnist", "test", data_dir=tmp_path / "mine", download=False)
    assert np.array_equal(got.X, mnist_test.X)


def test_nothing_found_lists_directories(monkeypatch, tmp_path):
    monkeypatch.setenv("CODINGS_DATA_DIR", str(tmp_path / "env"))
    with pytest.raises(DataError) as info:
        load_dataset("mnist", data_dir=tmp_path / "mine", download=False)
    msg = str(info.value)
    for d in data_dirs(tmp_path / "mine", "mnist"):
        assert str(d) in msg
    assert "download=False" in msg and "CODINGS_DATA_DIR" in msg and "data_dir" in msg
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", download=False)


def test_modified_local_file_fails_its_checksum(mnist_gz, tmp_path):
    target = link_files(mnist_gz, tmp_path / "mine" / "mnist")
    labels = target / "t10k-labels-idx1-ubyte.gz"
    labels.unlink()
    labels.write_bytes(gzip.compress(b"\0\0\x08\x01\0\0\0\x01\x05"))
    with pytest.raises(DataError, match=re.escape(f"{labels} is not the official MNIST file")):
        load_dataset("mnist", "test", data_dir=tmp_path / "mine", download=False)


def test_other_data_set_in_bare_root_is_skipped(mnist_gz, tmp_path):
    # MNIST and Fashion-MNIST share file names; the checksums tell them apart.
    root = link_files(mnist_gz, tmp_path / "mine")
    with pytest.raises(DataError, match=re.escape(f"Skipped: {root} holds the MNIST files")):
        load_dataset("fashion-mnist", "test", data_dir=root, download=False)


# --------------------------------------------------------------------------------------------
# downloads


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def serve(tmp_path):
    """serve(directory) -> base URL of an HTTP server on 127.0.0.1 for that directory."""
    servers = []

    def start(directory: Path) -> str:
        handler = functools.partial(QuietHandler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def assert_no_partial_files(directory: Path) -> None:
    assert not [p.name for p in directory.iterdir() if p.name.startswith(".")]


def test_download_over_http_into_cache(serve, mnist_gz, mnist_test, closed_port_url, tmp_path):
    url = serve(mnist_gz)
    # The first mirror refuses the connection; the second serves the files.
    got = load_dataset("mnist", "test", mirrors=[closed_port_url, url])
    assert np.array_equal(got.X, mnist_test.X) and np.array_equal(got.y, mnist_test.y)
    cache = tmp_path / "xdg" / "codings" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{s}.gz" for s in IDX_FILES)
    for stem in IDX_FILES:
        assert (cache / f"{stem}.gz").read_bytes() == (mnist_gz / f"{stem}.gz").read_bytes()
    # Found there next time, with no mirror at all.
    assert np.array_equal(load_dataset("mnist", "test", mirrors=[]).y, mnist_test.y)


def test_download_from_file_url_into_env_dir(mnist_gz, mnist_test, monkeypatch, tmp_path, capsys):
    (tmp_path / "env").mkdir()  # the variable names a folder that exists; mnist/ is made
    monkeypatch.setenv("CODINGS_DATA_DIR", str(tmp_path / "env"))
    got = load_dataset("mnist", "test", mirrors=[mnist_gz.as_uri()], progress=True)
    assert np.array_equal(got.y, mnist_test.y)
    assert len(list((tmp_path / "env" / "mnist").glob("*.gz"))) == 4
    out, err = capsys.readouterr()
    assert out == "" and "t10k-labels-idx1-ubyte.gz" in err


def test_download_only_fills_missing_files(mnist_gz, mnist_test, tmp_path, capsys):
    target = link_files(mnist_gz, tmp_path / "mine" / "mnist")
    (target / "t10k-labels-idx1-ubyte.gz").unlink()
    got = load_dataset("mnist", "test", data_dir=tmp_path / "mine", mirrors=[mnist_gz.as_uri()])
    assert np.array_equal(got.y, mnist_test.y)
    assert (target / "t10k-images-idx3-ubyte.gz").is_symlink()
    assert not (target / "t10k-labels-idx1-ubyte.gz").is_symlink()
    assert capsys.readouterr() == ("", "")  # no progress bar unless asked


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (
            gzip.compress(b"\0\0\x08\x01\0\0\0\x02\x07\x02"),
            r"SHA-256 [0-9a-f]{64}, expected ff7bcf",
        ),
        (b"\x1f\x8b\x08\x00 truncated", "not give a valid gzip file"),
    ],
    ids=["wrong content", "bad gzip"],
)
def test_untrusted_download_is_not_kept(serve, mnist_gz, tmp_path, content, match):
    served = link_files(mnist_gz, tmp_path / "served")
    (served / "t10k-labels-idx1-ubyte.gz").unlink()
    (served / "t10k-labels-idx1-ubyte.gz").write_bytes(content)
    with pytest.raises(DataError, match=match) as info:
        load_dataset("mnist", "test", data_dir=tmp_path / "mine", mirrors=[serve(served)])
    assert "t10k-labels-idx1-ubyte.gz" in str(info.value)
    assert "not kept" in str(info.value) or "valid gzip" in str(info.value)
    target = tmp_path / "mine" / "mnist"
    assert not list(target.glob("t10k-labels*"))
    assert_no_partial_files(target)


@pytest.mark.parametrize("where", ["closed port", "404"])
def test_failed_download_says_how_to_provide_files(serve, closed_port_url, tmp_path, where):
    url = closed_port_url if where == "closed port" else serve(tmp_path)
    with pytest.raises(DataError) as info:
        load_dataset("mnist", data_dir=tmp_path / "mine", mirrors=[url])
    msg = str(info.value)
    assert "Downloading them failed" in msg and url in msg
    assert ("refused" in msg.lower()) if where == "closed port" else ("HTTP 404" in msg)
    for d in data_dirs(tmp_path / "mine", "mnist"):
        assert str(d) in msg
    assert "CODINGS_DATA_DIR" in msg and "data_dir" in msg
    assert_no_partial_files(tmp_path / "mine" / "mnist")


# --------------------------------------------------------------------------------------------
# idx files


def test_read_idx_known_answer(mnist_gz, mnist_test, tmp_path):
    images = read_idx(mnist_gz / "t10k-images-idx3-ubyte.gz")
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert np.array_equal(mnist_test.X, images.reshape(-1, 784).astype(np.float32) / 255)
    plain = tmp_path / "t10k-labels-idx1-ubyte"
    plain.write_bytes(gzip.decompress((mnist_gz / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    assert read_idx(plain)[:5].tolist() == [7, 2, 1, 0, 4]


IDX_CASES = [
    (
        "short-idx3-ubyte",
        b"\0\0\x08\x03" + bytes([0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2]) + b"\1",
        "expected 8 bytes of data \\(2 x 2 x 2\\) after the 16-byte header, found 1",
    ),
    ("header-idx3-ubyte", b"\0\0\x08\x03\0\0", "expected a 16-byte header"),
    ("magic-idx1-ubyte", b"\x01\x02\x08\x01\0\0\0\x01\x05", "found 01 02 08 01"),
    ("float-idx1-ubyte", b"\0\0\x0d\x01\0\0\0\x01\0\0\0\0", "expected a magic number 00 00 08"),
    ("bad.gz", b"\x1f\x8b\x08\x00garbage", "not a valid gzip file"),
    ("plain-named.gz", b"\0\0\x08\x01\0\0\0\x01\x05", "not a valid gzip file"),
]


@pytest.mark.parametrize(("name", "content", "match"), IDX_CASES, ids=[c[0] for c in IDX_CASES])
def test_read_idx_errors_name_the_file(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_truncated_mnist_file(mnist_gz, tmp_path):
    data = gzip.decompress((mnist_gz / "t10k-images-idx3-ubyte.gz").read_bytes())
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(data[:1016], compresslevel=1))
    with pytest.raises(DataError, match="expected 7,840,000 bytes of data .* found 1,000"):
        read_idx(path)
    path.write_bytes((mnist_gz / "t10k-images-idx3-ubyte.gz").read_bytes()[:5000])
    with pytest.raises(DataError, match=re.escape(f"{path} is not a valid gzip file")):
        read_idx(path)


# --------------------------------------------------------------------------------------------
# user files


def test_load_array_round_trips(tmp_path):
    X = np.arange(12, dtype=np.float64).reshape(4, 3) / 7
    np.save(tmp_path / "a.npy", X)
    np.savez(tmp_path / "one.npz", data=X)
    np.savez(tmp_path / "named.npz", X=X, y=np.arange(4))
    np.savetxt(tmp_path / "plain.csv", X, delimiter=",")
    np.savetxt(tmp_path / "header.csv", X, delimiter=",", header="a,b,c", comments="")
    (tmp_path / "int.csv").write_text("1,2\n\n3, 4\n")
    for name in ["a.npy", "one.npz", "named.npz", "plain.csv", "header.csv"]:
        got = load_array(tmp_path / name)
        assert got.dtype == np.float32 and got.flags.c_contiguous
        np.testing.assert_array_equal(got, X.astype(np.float32))
    assert load_array(str(tmp_path / "int.csv")).tolist() == [[1, 2], [3, 4]]


def write(path: Path, content) -> Path:
    if isinstance(content, np.ndarray):
        np.save(path, content)
    elif isinstance(content, dict):
        np.savez(path, **content)
    else:
        path.write_text(content)
    return path


NAN_ROW = np.array([[1.0, 2.0], [3.0, np.nan]])


ARRAY_CASES = [
    ("nan.csv", "a,b,c\n1,2,3\n4,5,6\n7,8,9\n1,2,3\n5,6,nan\n", "line 6, column 3 is nan"),
    ("inf.csv", "1,2\n3,-inf\n", "line 2, column 2 is -inf; codings needs finite"),
    ("huge.csv", "1,2\n3,1e300\n", "line 2, column 2 holds 1e300, too large"),
    ("ragged.csv", "1,2,3,4\n" * 6 + "1,2,3\n", "line 7 has 3 fields, expected 4 like line 1"),
    ("text.csv", "1,2\n3,4\n5,abc\n", "line 3, column 2: 'abc' is not a number"),
    ("words.csv", "a,b\nred,2\n", "not a number.* codings train table --data .*words.csv"),
    ("mixed-header.csv", "a,2\n3,4\n", "line 1, column 1: 'a' is not a number"),
    ("empty-cell.csv", "1,,3\n", "line 1, column 2: '' is not a number"),
    ("empty.csv", "", "is empty"),
    ("blank.csv", "\n\n", "is empty"),
    ("header-only.csv", "a,b\n", "no rows of numbers"),
    ("nan.npy", NAN_ROW, "row 1, column 1 \\(counting from 0\\) is nan; .* impute or drop"),
    ("inf.npz", {"X": np.full((2, 2), np.inf)}, "row 0, column 0 .* is inf .*3 more"),
    ("flat.npy", np.arange(3.0), "shape \\(3,\\); reshape it to \\(n_samples, n_features\\)"),
    ("cube.npy", np.zeros((2, 2, 2)), "shape \\(2, 2, 2\\); flatten"),
    ("rows0.npy", np.zeros((0, 3)), "no data"),
    ("text.npy", np.array([["a"]]), "needs numbers"),
    ("two.npz", {"A": NAN_ROW, "B": NAN_ROW}, "holds 2 arrays \\(A, B\\); .* name it X"),
    ("data.txt", "1,2\n", "unknown file type '.txt'; codings reads .npy, .npz, .csv"),
    ("fake.npy", "1,2\n", "is not a .npy file"),
]


@pytest.mark.parametrize(("name", "content", "match"), ARRAY_CASES, ids=[c[0] for c in ARRAY_CASES])
def test_load_array_errors_name_file_and_position(tmp_path, name, content, match):
    path = write(tmp_path / name, content)
    with pytest.raises(DataError, match=match) as info:
        load_array(path)
    assert str(path) in str(info.value)


def test_load_array_refuses_pickles_and_missing_files(tmp_path):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([[1, None]], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="does not unpickle"):
        load_array(path)
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'missing.csv'}: file not found")):
        load_array(tmp_path / "missing.csv")


def test_scaling_standard_and_minmax_known_answers():
    from codings.datasets import Scaling

    X = np.array([[0.0, 5.0, 2.0], [4.0, 5.0, 6.0], [2.0, 5.0, 10.0]], dtype=np.float32)
    std = Scaling.fit(X)
    np.testing.assert_allclose(std.mean, [2.0, 5.0, 6.0])
    np.testing.assert_allclose(std.scale, [X[:, 0].std(), 1.0, X[:, 2].std()])  # constant: 1
    mm = Scaling.fit(X, kind="minmax")
    np.testing.assert_allclose(mm.forward(X), [[0, 0, 0], [1, 0, 0.5], [0.5, 0, 1]])
    np.testing.assert_allclose(mm.inverse(mm.forward(X)), X)
    again = Scaling.from_meta(mm.to_meta())
    assert again.kind == "minmax"
    np.testing.assert_array_equal(again.forward(X), mm.forward(X))
    # Metadata written before the kind was stored reads as standardisation.
    old = Scaling.from_meta({"mean": [2.0, 5.0, 6.0], "scale": [1.0, 1.0, 2.0]})
    assert old.kind == "standard"
    with pytest.raises(DataError, match="minmax"):
        Scaling.fit(X, kind="min-max")


def test_csv_header_and_iris_feature_names(tmp_path):
    (tmp_path / "h.csv").write_text('"mean radius", texture\n1.5,2\n3,4\n')
    (tmp_path / "n.csv").write_text("1.5,2\n3,4\n")
    assert datasets.csv_header(tmp_path / "h.csv") == ("mean radius", "texture")
    assert datasets.csv_header(tmp_path / "n.csv") is None
    iris = load_dataset("iris", "train")
    assert iris.feature_names[0] == "sepal length (cm)" and len(iris.feature_names) == 4
    assert load_dataset("digits", "train").feature_names is None  # images: pixels, no names


def test_read_user_file_flattens_images_and_scales_uint8(tmp_path):
    from codings.datasets import read_user_file

    images = np.arange(2 * 28 * 28, dtype=np.int64).reshape(2, 28, 28) % 256
    np.save(tmp_path / "u8.npy", images.astype(np.uint8))
    user = read_user_file(tmp_path / "u8.npy")
    assert user.X.shape == (2, 784) and user.X.dtype == np.float32 and user.image_shape == (28, 28)
    assert np.array_equal(user.X, images.reshape(2, 784).astype(np.float32) / np.float32(255))
    assert "2 images of 28x28" in user.note and "divided by 255" in user.note
    # One channel, first or last, and float pixels: flattened, not rescaled.
    floats = np.random.default_rng(0).random((3, 1, 5, 6)).astype(np.float32)
    np.savez(tmp_path / "c.npz", X=floats)
    user = read_user_file(tmp_path / "c.npz")
    assert user.image_shape == (5, 6) and np.array_equal(user.X, floats.reshape(3, 30))
    assert "divided" not in user.note
    np.save(tmp_path / "rows.npy", np.full((4, 3), 200, dtype=np.uint8))  # rows stay as they are
    user = read_user_file(tmp_path / "rows.npy")
    assert user.note is None and user.image_shape is None and user.X.max() == 200


def test_read_user_file_keeps_a_csvs_column_names(tmp_path):
    from codings.datasets import read_user_file

    (tmp_path / "named.csv").write_text('a,"b,c", d \n1,2,3\n4,5,6\n')
    (tmp_path / "plain.csv").write_text("1,2,3\n4,5,6\n")
    assert read_user_file(tmp_path / "named.csv").columns == ["a", "b,c", "d"]
    user = read_user_file(tmp_path / "plain.csv")
    assert user.columns is None and user.X.shape == (2, 3)


def test_a_row_index_written_by_pandas_is_dropped_with_a_note(tmp_path):
    from codings.datasets import is_row_index, read_user_file

    (tmp_path / "indexed.csv").write_text(",a,b\n0,1.5,2\n1,3,4\n2,5,6.5\n")
    user = read_user_file(tmp_path / "indexed.csv")
    assert user.columns == ["a", "b"] and "row index" in user.note
    np.testing.assert_array_equal(user.X, [[1.5, 2], [3, 4], [5, 6.5]])
    # a named first column, or one whose values do not count up, is data
    (tmp_path / "named.csv").write_text("id,a\n0,1\n1,2\n")
    assert read_user_file(tmp_path / "named.csv").X.shape == (2, 2)
    (tmp_path / "values.csv").write_text(",a\n3,1\n1,2\n")
    assert read_user_file(tmp_path / "values.csv").X.shape == (2, 2)
    assert is_row_index([4, 7, 9]) and not is_row_index([0, 0.5, 1]) and not is_row_index([1])


# --------------------------------------------------------------------------------------------
# reliability (issue 16)


def test_a_missing_env_data_dir_is_not_created(mnist_gz, monkeypatch, tmp_path):
    missing = tmp_path / "nonexistent"
    monkeypatch.setenv("CODINGS_DATA_DIR", str(missing))
    with pytest.raises(DataError) as info:
        load_dataset("mnist", "test", mirrors=[mnist_gz.as_uri()])
    msg = str(info.value)
    assert f"CODINGS_DATA_DIR={missing} does not exist" in msg
    assert "create it or correct CODINGS_DATA_DIR" in msg
    assert not missing.exists()


def test_scaling_of_huge_values_is_computed_in_float64():
    from codings.datasets import Scaling

    X = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32) * 1e30
    s = Scaling.fit(X)
    Z = s.forward(X)
    assert np.isfinite(s.scale).all() and np.isfinite(Z).all()
    assert np.allclose(Z.std(axis=0), 1.0, rtol=1e-4)  # float32 arithmetic overflows to inf
    m = Scaling.fit(X, kind="minmax")
    assert np.isfinite(m.forward(X)).all() and m.forward(X).max() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kind", "bad"),
    [("standard", np.inf), ("standard", np.nan), ("minmax", np.inf), ("minmax", "range")],
)
def test_scaling_refuses_values_it_cannot_represent(kind, bad):
    from codings.datasets import Scaling

    X = np.ones((4, 2), dtype=np.float32)
    if bad == "range":  # finite, but max - min does not fit in float32
        X[0, 1], X[1, 1] = -3e38, 3e38
    else:
        X[2, 1] = bad
    with pytest.raises(DataError) as info:
        Scaling.fit(X, kind=kind)
    assert "not finite" in str(info.value) and "column 1" in str(info.value)


# --- windows over time series ---------------------------------------------------------------


def test_windows_are_scaled_once_per_channel_and_come_back():
    rng = np.random.default_rng(0)
    series = np.stack([rng.normal(5, 2, 50), rng.normal(-3, 0.5, 50)], axis=1)
    W, scaling = datasets.windows(series, 8, 3)
    assert W.shape == (len(datasets.window_starts(50, 8, 3)), 8, 2) and W.dtype == np.float32
    np.testing.assert_allclose(scaling.mean, series.mean(0), rtol=1e-5)  # each step once
    np.testing.assert_allclose(scaling.scale, series.std(0), rtol=1e-5)
    back = scaling.inverse(datasets.unwindow(W, 50, 8, 3))
    np.testing.assert_allclose(back, series, atol=1e-4)  # perfect reconstructions: the series


def test_windows_of_test_data_use_the_training_scaling():
    train, test = np.arange(10.0), np.arange(10.0, 20.0)
    _, scaling = datasets.windows(train, 4, scaling="minmax")
    W, same = datasets.windows(test, 4, scaling=scaling)
    assert same is scaling
    assert W[0, :, 0].tolist() == pytest.approx([10 / 9, 11 / 9, 12 / 9, 13 / 9])
    flat = datasets.flat_window_scaling(scaling, 4)
    np.testing.assert_allclose(flat.forward(W.reshape(len(W), -1) * 0 + 1), 1 / 9)
    with pytest.raises(ValueError, match="has 1 values but the series 2 channels"):
        datasets.windows(np.zeros((10, 2)), 4, scaling=scaling)


def test_flat_window_scaling_matches_per_channel_scaling_of_the_windows():
    rng = np.random.default_rng(1)
    W, scaling = datasets.windows(rng.normal(size=(30, 3)), 5, scaling=None)
    fitted = datasets.Scaling.fit(W.reshape(-1, 3))
    flat = datasets.flat_window_scaling(fitted, 5)
    np.testing.assert_array_equal(
        flat.forward(W.reshape(len(W), -1)).reshape(W.shape), fitted.forward(W)
    )
    assert scaling is None


def test_read_series_takes_a_one_dimensional_array(tmp_path):
    np.save(tmp_path / "s.npy", np.arange(6.0))
    assert datasets.read_series(tmp_path / "s.npy").shape == (6, 1)
    np.save(tmp_path / "m.npy", np.zeros((6, 2)))
    assert datasets.read_series(tmp_path / "m.npy").shape == (6, 2)
