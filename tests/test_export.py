"""Exported models: onnxruntime and TorchScript give what codings gives, for every family."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from test_registry import N_FEATURES, SMALL, _build

from codings import MODELS
from codings.datasets import Scaling
from codings.exporting import PARTS, export, parts_of
from codings.metrics import decode, encode, reconstruct

ort = pytest.importorskip("onnxruntime")  # the onnx extra; `make test` installs it

CASES = [pytest.param(name, SMALL.get(name, [{}])[0], id=name) for name in sorted(MODELS)]


def _rows(n: int = 37, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((n, N_FEATURES)) * 4 + 2).astype(np.float32)  # not yet scaled


def _run_onnx(path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def _expected(model, part: str, X: np.ndarray, scaling: Scaling) -> np.ndarray:
    if part == "decoder":
        return scaling.inverse(decode(model, X).reshape(len(X), -1))  # X here: codings
    Xs = scaling.forward(X)
    if part == "encoder":
        return encode(model, Xs)
    if part == "classifier":
        with torch.no_grad():
            return torch.softmax(model.eval()(torch.from_numpy(Xs)), 1).numpy()
    R = reconstruct(model, Xs).reshape(len(X), -1)
    return ((R - Xs) ** 2).mean(1) if part == "score" else scaling.inverse(R)


@pytest.mark.parametrize("name, kw", CASES)
def test_every_part_of_every_family_matches_codings_on_held_out_rows(name, kw, tmp_path):
    model = _build(name, kw)
    X_train = _rows(200, seed=0)
    scaling = Scaling.fit(X_train)
    X = _rows()
    exportable = [p for p, why in parts_of(model).items() if why is None]
    assert exportable, name
    for part in exportable:
        x = X
        if part == "decoder":
            x = np.random.default_rng(2).standard_normal((37, encode(model, X[:1]).shape[1]))
            x = x.astype(np.float32)
        want = _expected(model, part, x, scaling)
        path = export(model, tmp_path / f"{name}-{part}.onnx", part=part, scaling=scaling)
        got = _run_onnx(path, x)
        assert got.shape == want.shape, (name, part)
        assert np.abs(got - want).max() <= 1e-5 * max(1.0, np.abs(want).max()), (name, part)
        script = export(
            model, tmp_path / f"{name}-{part}.pt", part=part, format="torchscript", scaling=scaling
        )
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 deprecates jit
            got_ts = torch.jit.load(str(script))(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(got_ts, want, rtol=1e-5, atol=1e-6)
    for part in set(PARTS) - set(exportable):
        with pytest.raises(ValueError, match=f"cannot export part='{part}'"):
            export(model, tmp_path / "no.onnx", part=part)


def test_the_exported_scorer_ranks_rows_as_the_outlier_detector_does(tmp_path):
    from codings import AutoencoderOutlierDetector

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 12)) * 5 + 100  # unscaled, low rank
    X = X.astype(np.float32)
    det = AutoencoderOutlierDetector(hidden=(8,), latent_dim=3, epochs=5, random_state=0)
    det.fit(X[:200])
    X_test = np.concatenate([X[200:], rng.normal(100, 20, size=(20, 12)).astype(np.float32)])
    path = export(det, tmp_path / "score.onnx", part="score")  # the detector's scaling inside
    onnx_score = _run_onnx(path, X_test)
    ours = det.score_samples(X_test)
    assert np.array_equal(np.argsort(onnx_score, kind="stable"), np.argsort(-ours, kind="stable"))
    np.testing.assert_allclose(onnx_score, -ours, rtol=1e-4)


def test_the_batch_axis_is_dynamic_and_bad_requests_are_refused(tmp_path):
    model = _build("stacked", {"hidden": [12, 6]})
    path = export(model, tmp_path / "enc.onnx")
    for n in (1, 5, 1000):
        assert _run_onnx(path, _rows(n)).shape == (n, 6)
    with pytest.raises(ValueError, match="format='keras'"):
        export(model, tmp_path / "x", format="keras")
    with pytest.raises(ValueError, match="part='encodr'.*did you mean 'encoder'"):
        export(model, tmp_path / "x", part="encodr")
    with pytest.raises(TypeError, match="fit the estimator first"):
        from codings import AutoencoderTransformer

        export(AutoencoderTransformer(), tmp_path / "x")
    assert not list(tmp_path.glob(".*.tmp"))


def test_codings_export_folds_the_runs_scaling_in(tmp_path, capsys):
    from codings.cli import main
    from codings.datasets import load_dataset

    run = tmp_path / "run"
    args = ["train", "stacked", "--dataset", "iris", "--hidden", "4,2", "--epochs", "3"]
    assert main([*args, "--scale", "standard", "--out", str(run), "--quiet"]) == 0
    X = load_dataset("iris", "all").X.astype(np.float32)
    np.save(tmp_path / "X.npy", X)
    assert main(["encode", str(run), str(tmp_path / "X.npy"), str(tmp_path / "Z.npy")]) == 0
    assert main(["export", str(run), "--part", "encoder"]) == 0
    assert "with the run's scaling folded in" in capsys.readouterr().out
    got = _run_onnx(run / "encoder.onnx", X)  # raw iris rows in, as a service would send them
    np.testing.assert_allclose(got, np.load(tmp_path / "Z.npy"), rtol=1e-5, atol=1e-6)
    assert main(["export", str(run), "--part", "autoencoder", "--format", "torchscript"]) == 0
    assert (run / "autoencoder.pt").stat().st_size > 0
    assert main(["export", str(run), "--out", str(run / "model.safetensors")]) == 1
    assert "is the input file" in capsys.readouterr().err
