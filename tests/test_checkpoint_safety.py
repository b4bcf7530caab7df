"""Untrusted checkpoints: every bad file is a CheckpointError naming it, found before the model
is built, so no file can exhaust memory, hang, or fail with a bare TypeError or KeyError."""

import functools
import json
import math
import os
import struct

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save as st_save
from safetensors.torch import save_file

import codings
from codings import build, load, save
from codings.checkpoint import CheckpointError, read_metadata
from codings.models import MODELS


@pytest.fixture
def small(tmp_path):
    m = build("stacked", n_features=6, hidden=(4,), latent_dim=2, seed=0)
    return m, save(m, tmp_path / "m.safetensors")


def rewrite(path, header, tensors):
    """Write ``tensors`` with the codings metadata ``header`` (any JSON) as a valid
    safetensors file."""
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    save_file(tensors, str(path), metadata={"codings": json.dumps(header)})


def raw(path, header: dict, data: bytes = b""):
    """A safetensors file with any JSON header."""
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + data)


def refused(path, *words):
    with pytest.raises(CheckpointError) as e:
        load(path)
    msg = str(e.value)
    assert str(path) in msg or str(path.parent) in msg, msg
    for w in words:
        assert w in msg, msg
    return msg


@pytest.fixture
def builders_run_only_on_meta(monkeypatch):
    """Record the default device each builder ran under: a refused file builds only on meta."""
    devices = []
    for name, fn in list(MODELS.items()):

        @functools.wraps(fn)
        def spy(*a, _fn=fn, **k):
            devices.append(torch.empty(0).device.type)
            return _fn(*a, **k)

        monkeypatch.setitem(MODELS, name, spy)
    return devices


@pytest.mark.parametrize("width", [100_000_000, 10**9])
def test_a_huge_configuration_is_refused_before_the_model_is_built(
    tmp_path, small, width, builders_run_only_on_meta
):
    m, path = small
    header = read_metadata(path)
    header["kwargs"]["hidden"] = [width]
    rewrite(path, header, m.state_dict())
    assert path.stat().st_size < 4000
    builders_run_only_on_meta.clear()
    refused(path, "has shape", "the configuration builds", str(width))
    assert builders_run_only_on_meta == ["meta"]  # compared on meta, never built for real


@pytest.mark.parametrize("hidden", [[1] * 100_000, ",".join(["1"] * 100_000)])
def test_a_hundred_thousand_layers_are_refused_without_building_them(
    tmp_path, small, hidden, builders_run_only_on_meta
):
    m, path = small
    header = read_metadata(path)
    header["kwargs"]["hidden"] = hidden
    rewrite(path, header, m.state_dict())
    builders_run_only_on_meta.clear()
    refused(path, "argument hidden lists 100000 sizes but the file holds 8 tensors")
    assert builders_run_only_on_meta == []


def test_tensors_claiming_more_bytes_than_the_file_holds_are_refused(tmp_path):
    path = tmp_path / "m.safetensors"
    meta = {"format": "codings", "format_version": 1, "model": "linear"}
    meta["kwargs"] = {"n_features": 10**6, "latent_dim": 10**5}
    header = {"__metadata__": {"codings": json.dumps(meta)}}
    header["encoder.weight"] = {"dtype": "F32", "shape": [10**5, 10**6], "data_offsets": [0, 4]}
    raw(path, header, b"\0" * 4)
    refused(path, "does not fill its byte range")
    header["encoder.weight"]["data_offsets"] = [0, 4 * 10**11]
    raw(path, header, b"\0" * 4)
    refused(path, "outside the file", "truncated or corrupted")


def test_a_header_length_beyond_the_file_or_the_bound_is_refused(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(struct.pack("<Q", 2**40) + b"{}")
    refused(path, "header claims 1099511627776 bytes")
    path.write_bytes(struct.pack("<Q", 10) + b"{}")
    refused(path, "header claims 10 bytes, the file has 10")


def test_only_regular_files_are_read(tmp_path):
    link = tmp_path / "zero.safetensors"
    os.symlink("/dev/zero", link)
    refused(link, "not a regular file", "device")
    fifo = tmp_path / "fifo.safetensors"
    os.mkfifo(fifo)
    refused(fifo, "not a regular file", "pipe")  # before: blocked forever in open()
    (tmp_path / "run").mkdir()
    refused(tmp_path / "run", "model.safetensors", "no such checkpoint")


@pytest.mark.parametrize(
    "change, words",
    [
        ({"format_version": "1"}, ["format_version '1'", "whole number"]),
        ({"format_version": None}, ["format_version None"]),
        ({"format_version": 0}, ["format_version 0"]),
        ({"format_version": True}, ["format_version True"]),
        ({"model": None}, ["'model' is None"]),
        ({"model": 5}, ["'model' is 5"]),
        ({"model": "nope"}, ["model 'nope' is not known"]),
        ({"kwargs": None}, ["'kwargs' is None"]),
        ({"kwargs": [1, 2]}, ["'kwargs' is [1, 2]"]),
        ({"kwargs": {"n_features": 6, "colour": 1}}, ["takes no argument 'colour'"]),
        ({"kwargs": {"latent_dim": 2}}, ["does not build a model", "n_features"]),
    ],
)
def test_malformed_metadata_is_refused_by_name(tmp_path, small, change, words):
    m, path = small
    header = {**read_metadata(path), **change}
    rewrite(path, header, m.state_dict())
    refused(path, *words)


def test_metadata_that_is_not_an_object_is_refused(tmp_path, small):
    m, path = small
    for bad in ([1, 2], "stacked", None):
        rewrite(path, bad, m.state_dict())
        refused(path, "not a JSON object")
    data = st_save({k: v.contiguous() for k, v in m.state_dict().items()})
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    header["__metadata__"] = ["codings"]
    raw(path, header, data[8 + n :])
    refused(path, "without codings metadata")


@pytest.mark.parametrize(
    "hidden, words",
    [([8.7], "list of whole numbers"), (["8"], "list of whole numbers"), ([True], "whole")],
)
def test_sizes_must_be_whole_numbers(tmp_path, small, hidden, words):
    m, path = small
    header = read_metadata(path)
    header["kwargs"]["hidden"] = hidden
    rewrite(path, header, m.state_dict())
    refused(path, "hidden=", words)


def test_a_float_argument_must_be_finite(tmp_path, small):
    m, path = small
    header = read_metadata(path)
    header["kwargs"]["l2"] = math.nan
    rewrite(path, header, m.state_dict())
    refused(path, "l2=nan", "finite")


@pytest.mark.parametrize("dtype", [torch.bool, torch.int64, torch.float16, torch.float64])
def test_weights_of_another_dtype_are_refused(tmp_path, small, dtype):
    m, path = small
    tensors = {k: v.to(dtype) for k, v in m.state_dict().items()}
    rewrite(path, read_metadata(path), tensors)
    word = {torch.bool: "bool", torch.int64: "int64"}.get(dtype, str(dtype).split(".")[1])
    refused(path, f"is stored as {word}", "float32")


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_weights_are_refused(tmp_path, small, value):
    m, path = small
    tensors = {k: v.clone() for k, v in m.state_dict().items()}
    tensors["encoder.0.0.weight"][1, 2] = value
    rewrite(path, read_metadata(path), tensors)
    refused(path, "'encoder.0.0.weight' holds NaN or infinite")


# --- the estimators' JSON ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def detector_file(tmp_path_factory):
    X = np.random.default_rng(0).random((40, 5), dtype=np.float32)
    det = codings.AutoencoderOutlierDetector(hidden=(3,), epochs=1, random_state=0).fit(X)
    return det.save(tmp_path_factory.mktemp("det") / "model.safetensors"), X


def _with_estimator(path, tmp_path, change):
    m = load(path)
    header = read_metadata(path)
    change(header["estimator"])
    out = tmp_path / "changed.safetensors"
    rewrite(out, header, m.state_dict())
    return out


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda e: e["params"].update(predict="x"), ["'predict'", "not a parameter"]),
        (lambda e: e["fitted"].update(fit="x"), ["'fit'", "fitted attribute"]),
        (lambda e: e["params"].update(contamination=5), ["contamination=5", "(0, 0.5]"]),
        (lambda e: e["params"].update(optimizer="sdg"), ["optimizer='sdg'"]),
        (lambda e: e.update(params=[1]), ["not a dict with a class name"]),
        (lambda e: e.pop("fitted"), ["not a dict with a class name"]),
        (
            lambda e: e["fitted"].update(offset_={"array": [1], "dtype": "|O"}),
            ["'offset_' is malformed", "object"],
        ),
    ],
)
def test_a_detectors_saved_parameters_are_checked_on_load(tmp_path, detector_file, change, words):
    path, X = detector_file
    out = _with_estimator(path, tmp_path, change)
    with pytest.raises(CheckpointError) as e:
        codings.AutoencoderOutlierDetector.load(out)
    assert str(out) in str(e.value)
    for w in words:
        assert w in str(e.value)


def test_an_unchanged_detector_still_loads(detector_file):
    path, X = detector_file
    det = codings.AutoencoderOutlierDetector.load(path.parent)  # a directory, like the CLI's
    assert det.predict(X).shape == (40,)


def test_a_classifier_loads_from_a_directory_and_its_autoencoder_is_checked(tmp_path):
    X = np.random.default_rng(0).random((40, 5), dtype=np.float32)
    y = np.arange(40) % 2
    clf = codings.AutoencoderClassifier(hidden=(3,), epochs=1, random_state=0).fit(X, y)
    path = clf.save(tmp_path / "model.safetensors")
    back = codings.AutoencoderClassifier.load(tmp_path)  # was: OSError No such device
    assert np.array_equal(back.predict_proba(X), clf.predict_proba(X))
    header = read_metadata(path)
    header["estimator"]["autoencoder"]["kwargs"]["hidden"] = [100_000_000]
    tensors = {k: v for k, v in load_tensors(path).items()}
    rewrite(path, header, tensors)
    with pytest.raises(CheckpointError, match="'autoencoder/encoder.0.0.weight' has shape"):
        codings.AutoencoderClassifier.load(path)
    header["estimator"]["autoencoder"]["kwargs"]["hidden"] = [3]
    header["estimator"]["params"]["mode"] = "frozn"
    rewrite(path, header, tensors)
    with pytest.raises(CheckpointError, match=r"mode='frozn' is not known.*did you mean 'frozen'"):
        codings.AutoencoderClassifier.load(path)


def load_tensors(path):
    from safetensors.torch import load_file

    return load_file(str(path))


# --- property: a mutated checkpoint loads equal to the original, or is refused ----------------


def _valid_bytes():
    m = build("stacked", n_features=5, hidden=(3,), latent_dim=2, seed=0)
    return m, save(m, _TMP / "v.safetensors").read_bytes()


_JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.lists(st.integers(-2, 10**10), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@st.composite
def mutations(draw):
    kind = draw(st.sampled_from(["flip", "insert", "truncate", "json", "tensor", "layout"]))
    return kind, draw(st.data())


def _mutate(data: bytes, kind, d) -> bytes:
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    meta = json.loads(header["__metadata__"]["codings"])
    body = data[8 + n :]
    if kind == "flip":
        i = d.draw(st.integers(0, len(data) - 1))
        return data[:i] + bytes([data[i] ^ d.draw(st.integers(1, 255))]) + data[i + 1 :]
    if kind == "insert":
        i = d.draw(st.integers(0, 8 + n))
        return data[:i] + d.draw(st.binary(min_size=1, max_size=8)) + data[i:]
    if kind == "truncate":
        return data[: d.draw(st.integers(0, len(data) - 1))]
    if kind == "tensor":  # bytes of the weights: the saved checksum finds the change
        i = d.draw(st.integers(0, len(body) - 1))
        body = body[:i] + bytes([d.draw(st.integers(0, 255))]) + body[i + 1 :]
    elif kind == "json":
        target = d.draw(st.sampled_from(["top", "kwargs"]))
        obj = meta if target == "top" else meta["kwargs"]
        key = d.draw(st.sampled_from(sorted(obj) + ["extra"]))
        if d.draw(st.booleans()):
            obj.pop(key, None)
        else:
            obj[key] = d.draw(_JSON_VALUES)
        header["__metadata__"]["codings"] = json.dumps(meta)
    else:  # layout: change a tensor's dtype, shape or offsets
        name = d.draw(st.sampled_from(sorted(k for k in header if k != "__metadata__")))
        field = d.draw(st.sampled_from(["dtype", "shape", "data_offsets"]))
        header[name][field] = d.draw(
            st.one_of(
                st.sampled_from(["F16", "F64", "I64", "BOOL", "U8", "X"]),
                st.lists(st.integers(0, 10**9), max_size=3),
                _JSON_VALUES,
            )
        )
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + body


_TMP = None


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutations())
def test_a_mutated_checkpoint_loads_equal_or_is_refused(tmp_path_factory, mutation):
    global _TMP
    _TMP = tmp_path_factory.mktemp("prop")
    m, data = _valid_bytes()
    kind, d = mutation
    path = _TMP / "m.safetensors"
    path.write_bytes(_mutate(data, kind, d))
    try:
        r = load(path)
    except CheckpointError as e:
        assert str(path) in str(e)
        return
    for k, v in r.state_dict().items():
        assert torch.isfinite(v).all()
        assert torch.equal(v, m.state_dict()[k]), k


def _all_models():
    from codings.models import load_builders

    load_builders()
    return sorted(MODELS)


@pytest.mark.parametrize("name", _all_models())
def test_every_models_checkpoint_passes_the_checks_and_reloads_equal(tmp_path, name):
    m = build(name, n_features=16, seed=0)
    r = load(save(m, tmp_path / "m.safetensors"))
    assert r.state_dict().keys() == m.state_dict().keys()
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in r.state_dict().items())


def test_a_changed_weight_is_found_by_the_checksum(tmp_path, small):
    m, path = small
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01  # a low mantissa bit of the last weight: still finite, still float32
    path.write_bytes(bytes(data))
    refused(path, "do not match the checksum")
