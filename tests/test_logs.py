"""Experiment logs: TensorBoard's own reader finds in the event files what the history holds."""

from __future__ import annotations

import numpy as np
import pytest

from codings import build, fit
from codings.cli import main
from codings.logs import CSVLogger, TensorBoardLogger
from codings.runs import Run, history_csv

pytest.importorskip("tensorboard")  # the tensorboard extra; `make test` installs it


def _read(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def test_every_loss_part_and_the_rate_per_epoch_and_step_match_the_history(tmp_path):
    X = np.random.default_rng(0).random((200, 12)).astype(np.float32)
    model = build("sparse", n_features=12, hidden=(6,), seed=0)  # loss parts beyond the total
    with TensorBoardLogger(tmp_path / "tb", every=5) as tb:
        csv = CSVLogger(tmp_path / "h.csv")
        history = fit(model, X[:160], X_val=X[160:], epochs=4, batch_size=32, lr=1e-2,
                      lr_schedule="cosine", loggers=[tb, csv])  # fmt: skip
    acc = _read(tmp_path / "tb")
    tags = set(acc.Tags()["scalars"])
    parts = {k for r in history.records for k in r if k.startswith(("train_", "val_"))}
    assert len(parts) >= 4 and {f"epoch/{k}" for k in parts} <= tags
    for key in parts:
        events = acc.Scalars(f"epoch/{key}")
        assert [e.step for e in events] == [1, 2, 3, 4]
        np.testing.assert_allclose([e.value for e in events], history[key], rtol=1e-6)
    # The cosine schedule: the last step's rate of each epoch, falling towards 0.
    rates = [e.value for e in acc.Scalars("epoch/lr")]
    assert rates == sorted(rates, reverse=True) and 0 < rates[-1] < 1e-3
    steps = acc.Scalars("step/loss")
    assert [e.step for e in steps] == list(range(5, 21, 5))  # 5 batches an epoch, 4 epochs
    assert all(np.isfinite(e.value) for e in steps)
    assert (tmp_path / "h.csv").read_text() == history_csv(history.records)


def test_train_log_tensorboard_writes_the_run_and_its_figures(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "stacked", "--dataset", "digits", "--hidden", "16,8", "--epochs", "3"]
    assert main([*args, "--out", str(out), "--log", "tensorboard", "--quiet"]) == 0
    acc = _read(out / "tensorboard")
    history = Run.open(out).history
    np.testing.assert_allclose(
        [e.value for e in acc.Scalars("epoch/val_mse")], [r["val_mse"] for r in history], rtol=1e-6
    )
    images = set(acc.Tags()["images"])
    assert {"figures/curves", "figures/reconstructions", "figures/filters"} <= images
    assert main([*args, "--out", str(tmp_path / "lw"), "--log", "tensorboard", "--layerwise"]) == 1
    assert "--log tensorboard does not apply to --layerwise" in capsys.readouterr().err


def test_a_logger_needs_a_sensible_period(tmp_path):
    with pytest.raises(ValueError, match="every=0"):
        TensorBoardLogger(tmp_path, every=0)
