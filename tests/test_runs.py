"""The run directory: written, locked, read back; runs of codings 0.1.0 still open."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from codings import build
from codings.datasets import Scaling
from codings.runs import (
    Run,
    RunError,
    RunExists,
    RunLocked,
    RunNotWritable,
    fingerprint,
    history_csv,
)

V0_1_0 = Path(__file__).parent / "data" / "run_v0_1_0"


def test_a_run_of_codings_0_1_0_opens():
    run = Run.open(V0_1_0)
    assert run.n_features == 4 and run.image_shape is None
    assert run.metadata["model"] == "linear" and run.metadata["dataset"] == "iris"
    # No options.json then: the options come from the model's header.
    assert run.options["epochs"] == 2 and run.options["model"] == "linear"
    assert run.metrics["val_mse"] == pytest.approx(0.9542989095052083)
    assert [r["epoch"] for r in run.history] == [1, 2]
    assert run.history[-1]["val_mse"] == run.metrics["val_mse"]
    assert run.scaling.kind == "standard" and run.scaling.mean.shape == (4,)
    from codings.datasets import load_dataset

    X = load_dataset("iris", "train").X
    Z = run.to_model(X)  # iris standardised with the training rows' mean and deviation
    assert np.allclose(Z.mean(0), 0, atol=1e-5) and np.allclose(Z.std(0), 1, atol=1e-4)
    assert np.allclose(run.to_data(Z), X, atol=1e-5)
    assert run.model.config["name"] == "linear"
    assert Run.open(V0_1_0 / "model.safetensors").n_features == 4  # the model file works too


def _model():
    return build("stacked", n_features=3, hidden=[4], latent_dim=2, seed=0)


def test_written_run_reads_back_everything(tmp_path):
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    scaling = Scaling.fit(X)
    records = [
        {"epoch": 1, "train_loss": 2.5, "val_loss": math.nan, "step": "fused"},
        {"epoch": 2, "train_loss": 1.25, "val_loss": math.inf, "step": "fused", "stage": "b"},
    ]
    with Run.create(tmp_path / "run") as run:
        run.write_model(_model(), scaling=scaling, n_features=3, image_shape=None, dataset="x")
        run.write_history(records)
        run.write_metrics({"val_mse": 0.5})
        run.write_options({"lr": 0.01, "model": "stacked"}, {"train": X, "validation": None})
        assert run.figure_path("curves.png") == tmp_path / "run" / "curves.png"
    back = Run.open(tmp_path / "run")
    assert back.options == {"lr": 0.01, "model": "stacked"}
    saved = json.loads((tmp_path / "run" / "options.json").read_text())
    assert saved["data"] == {"train": fingerprint(X), "validation": None}
    assert back.metrics == {"val_mse": 0.5}
    assert back.n_features == 3 and back.metadata["dataset"] == "x"
    assert np.array_equal(back.scaling.mean, scaling.mean)
    assert np.array_equal(back.to_model(X), scaling.forward(X))
    # Strict JSON on disk (null for NaN and inf), NaN when read back.
    text = (tmp_path / "run" / "history.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert [json.loads(text)[i]["val_loss"] for i in (0, 1)] == [None, None]
    assert math.isnan(back.history[0]["val_loss"]) and back.history[1]["train_loss"] == 1.25
    lines = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert lines == [
        "epoch,train_loss,val_loss,step,stage",
        "1,2.5,nan,fused,",
        "2,1.25,inf,fused,b",
    ]
    torch.testing.assert_close(back.model.encoder[0][0].weight, _model().encoder[0][0].weight)


def test_history_csv_keeps_floats_exact():
    [_, row] = history_csv([{"loss": 0.1 + 0.2}]).splitlines()
    assert float(row) == 0.1 + 0.2


def test_fingerprint_tells_data_apart():
    X = np.random.default_rng(0).random((500, 3))
    assert fingerprint(X) == fingerprint(X.copy().astype(np.float32))
    assert fingerprint(X) != fingerprint(X[:-1])
    Y = X.copy()
    Y[0, 0] += 1
    assert fingerprint(X) != fingerprint(Y)


def test_create_refuses_a_finished_run_unless_exist_ok(tmp_path):
    with Run.create(tmp_path) as run:
        run.write_model(_model(), n_features=3)
    before = (tmp_path / "model.safetensors").read_bytes()
    with pytest.raises(RunExists, match="already holds a model"):
        Run.create(tmp_path)
    assert (tmp_path / "model.safetensors").read_bytes() == before
    Run.create(tmp_path, exist_ok=True).close()
    Run.create(tmp_path, exist_ok=True).close()  # the refused create released its lock


def test_create_locks_the_folder_until_closed(tmp_path):
    pytest.importorskip("fcntl")
    run = Run.create(tmp_path / "run")
    with pytest.raises(RunLocked, match=r"another process is writing to .*\.lock"):
        Run.create(tmp_path / "run")
    run.close()
    Run.create(tmp_path / "run").close()


def test_create_removes_only_atomic_writes_leftovers(tmp_path):
    ours, theirs = ".model.safetensors.k2j_x9a1.tmp", ".mine.tmp"
    for name in (ours, theirs):
        (tmp_path / name).write_bytes(b"x")
    Run.create(tmp_path).close()
    assert not (tmp_path / ours).exists() and (tmp_path / theirs).exists()


def test_create_refuses_a_folder_that_cannot_be_made(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(RunNotWritable, match="cannot be written") as e:
        Run.create(tmp_path / "file" / "run")
    assert e.value.path == tmp_path / "file" / "run" and e.value.reason


def test_create_without_lock_makes_nothing(tmp_path):
    run = Run.create(tmp_path / "run", lock=False)
    assert run.path == tmp_path / "run" and not (tmp_path / "run").exists()


def test_open_a_folder_without_a_model_says_so(tmp_path):
    with pytest.raises(RunError, match="has no model.safetensors"):
        Run.open(tmp_path)


def test_the_model_loads_lazily_onto_the_device(tmp_path):
    with Run.create(tmp_path) as run:
        run.write_model(_model(), n_features=3)
    back = Run.open(tmp_path, device="meta")
    assert back._model is None  # the header alone was read
    assert next(back.model.parameters()).device.type == "meta"
    assert back.model is back.model


def test_figure_path_is_a_name_in_the_run(tmp_path):
    run = Run(tmp_path)
    with pytest.raises(ValueError, match="a file name, not a path"):
        run.figure_path("../curves.png")


@pytest.mark.parametrize(
    ("X", "image_shape", "message"),
    [
        (np.zeros((2, 5)), None, "has 5 features per row but the model takes rows of 4 features"),
        (np.zeros(4), None, r"has shape \(4,\) but the model takes rows of 4 features"),
        (np.zeros((0, 4)), None, r"has shape \(0, 4\)"),
        (
            np.zeros((2, 4)),
            (4, 1),
            "holds images of 4x1 but the model was trained on images of 2x2",
        ),
        (np.zeros((2, 4)), (2, 2), None),
        (np.zeros((2, 4)), None, None),
    ],
)
def test_check_input_is_the_one_feature_check(tmp_path, X, image_shape, message):
    with Run.create(tmp_path) as run:
        run.write_model(build("linear", n_features=4), n_features=4, image_shape=[2, 2])
    run = Run.open(tmp_path)
    if message is None:
        run.check_input(X, source="f.npy", image_shape=image_shape)  # no error
        return
    with pytest.raises(RunError, match=message) as e:
        run.check_input(X, source="f.npy", image_shape=image_shape)
    assert str(e.value).startswith("f.npy ")


def test_an_estimators_file_opens_with_its_scaling_and_width():
    from sklearn.datasets import load_iris

    from codings.metrics import encode

    X = load_iris().data[:5].astype(np.float32)
    old = Path(__file__).parent / "data" / "estimator_v0_1_0"
    run = Run.open(old / "transformer.safetensors")
    assert run.n_features == 4 and run.scaling.kind == "standard"
    Z = encode(run.model, run.to_model(X))
    assert np.allclose(Z, np.load(old / "expected.npy")[:, 3:], atol=1e-5)  # its transform(X)
    with pytest.raises(RunError, match="takes rows of 4 features"):
        run.check_input(X[:, :3])
