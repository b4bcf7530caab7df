import math

import numpy as np
import pytest
import torch
from torch import nn

import codings
from codings import defaults
from codings.defaults import EarlyStopping, auto_epochs, auto_patience, stopping


def _records(losses, key="val_loss"):
    return [{"epoch": i + 1, key: v} for i, v in enumerate(losses)]


def test_early_stopping_stops_after_patience_and_restores_the_best_epoch():
    model = nn.Linear(1, 1, bias=False)
    stop = EarlyStopping(patience=3)
    losses = [5.0, 4.0, 3.0, 3.5, 3.2, 3.0, 2.9]  # best 3.0 at epoch 3; 3 worse -> stop at 6
    stopped_at = None
    for rec in _records(losses):
        with torch.no_grad():
            model.weight.fill_(rec["epoch"])  # the weights remember their epoch
        if stop(rec["epoch"], rec, model):
            stopped_at = rec["epoch"]
            break
    assert stopped_at == 6 and stop.best == 3.0 and stop.best_epoch == 3
    stop.restore(model)
    assert model.weight.item() == 3.0


def test_early_stopping_watches_the_training_loss_without_validation():
    stop = EarlyStopping(patience=1)
    model = nn.Linear(1, 1)
    assert not stop(1, {"train_loss": 2.0}, model)
    assert stop(2, {"train_loss": 2.0}, model)  # not lower: stale for 1 epoch


def test_auto_epochs_is_a_step_budget_within_the_epoch_bounds():
    # 55,000 rows at batch 32: 1,719 steps per epoch; 100,000 steps -> 59 epochs.
    assert auto_epochs(55_000, 32, max_steps=100_000) == math.ceil(100_000 / 1_719)
    assert auto_epochs(120, 32, max_steps=100_000) == defaults.MAX_EPOCHS  # 4 steps per epoch
    assert auto_epochs(10**7, 32, max_steps=1_000) == defaults.MIN_EPOCHS
    assert auto_epochs(1000, 100, max_steps=500, max_epochs=30) == 30


def test_auto_patience_is_ten_epochs_or_two_thousand_steps():
    assert auto_patience(55_000, 32) == defaults.PATIENCE == 10  # 1,719 steps per epoch
    assert auto_patience(150, 32) == 400  # 5 steps per epoch
    assert auto_patience(1000, 100) == 200


def test_small_data_epochs_is_a_step_budget_below_small_rows():
    # 142 rows (wine in 5-fold CV) at batch 32: 5 steps per epoch -> 1,000 steps in 200 epochs.
    assert defaults.small_data_epochs(142, 32) == 200 == defaults.BUDGET_STEPS // 5
    assert defaults.small_data_epochs(1000, 32) == 32  # 32 steps per epoch: 1,024 steps
    assert defaults.small_data_epochs(1, 32) == defaults.BUDGET_STEPS  # one step per epoch
    assert defaults.small_data_epochs(1999, 10) == defaults.MIN_EPOCHS  # 200 steps per epoch
    assert defaults.small_data_epochs(2000, 32) is None  # from SMALL_ROWS on: the stopping rule
    assert defaults.small_data_epochs(55_000, 32) is None


def test_coding_activation_is_linear_on_small_tables_only():
    assert defaults.coding_activation(150, 4, 3) == "linear"  # iris, 300-150-latent_dim
    assert defaults.coding_activation(1999, 299, 2) == "linear"  # the largest small table
    assert defaults.coding_activation(2000, 4, 3) is None  # SMALL_ROWS rows: ELU, as before
    assert defaults.coding_activation(150, 300, 3) is None  # SMALL_FEATURES columns: likewise
    assert defaults.coding_activation(1000, 784, 2) is None  # 1,000 MNIST images
    assert defaults.coding_activation(55_000, 784, 2) is None  # MNIST
    assert defaults.coding_activation(150, 4, 1) is None  # one layer: its only non-linearity


def test_small_table_hidden_is_one_layer_twice_as_wide_as_the_columns():
    assert defaults.small_table_hidden(150, 4, 2) == (64,)  # iris: at least 64 units
    assert defaults.small_table_hidden(569, 30, 8) == (64,)  # breast cancer
    assert defaults.small_table_hidden(500, 64, 16) == (128,)  # the 8x8 digits: 2 x 64
    assert defaults.small_table_hidden(1999, 299, 2) == (300,)  # never wider than 300
    assert defaults.small_table_hidden(150, 4, None) is None  # the codings are hidden's last
    assert defaults.small_table_hidden(2000, 4, 2) is None  # SMALL_ROWS rows: 300-150
    assert defaults.small_table_hidden(150, 300, 2) is None  # SMALL_FEATURES columns
    assert defaults.small_table_hidden(55_000, 784, 30) is None  # MNIST


def test_explicit_epochs_pass_through_unchanged():
    assert stopping(7, None, 1000, 32) == (7, None, [], None)
    assert stopping(7, 2, 1000, 32) == (7, 2, [], None)
    epochs, patience, callbacks, stopper = stopping(None, None, 1000, 32)
    assert epochs == auto_epochs(1000, 32) and patience == auto_patience(1000, 32) == 63
    assert callbacks == [stopper] and stopper.patience == 63
    assert stopping(None, 4, 1000, 32)[1] == 4


def test_fit_with_the_rule_stops_on_validation_and_keeps_the_best_weights():
    # Noise: nothing to learn, so the validation loss soon stops falling.
    rng = np.random.default_rng(0)
    X, Xv = (
        rng.normal(size=(200, 6)).astype(np.float32),
        rng.normal(size=(60, 6)).astype(np.float32),
    )
    model = codings.build("stacked", n_features=6, hidden=(16,), seed=0)
    epochs, patience, callbacks, stopper = stopping(None, 3, len(X), 32)
    hist = codings.fit(
        model, X, X_val=Xv, epochs=epochs, batch_size=32, lr=1e-2, patience=patience,
        callbacks=callbacks, device="cpu",
    )  # fmt: skip
    stopper.restore(model)
    val = hist["val_loss"]
    assert len(hist) < epochs and len(hist) == int(np.argmin(val)) + 1 + 3
    assert codings.evaluate(model, Xv)["loss"] == pytest.approx(min(val), rel=1e-6)


def test_the_best_weights_are_kept_when_the_cap_ends_the_run():
    # A rate so large that the loss wanders: the last epoch is not the best one, and the
    # patience is longer than the run, so only the cap stops it.
    rng = np.random.default_rng(1)
    X = rng.normal(size=(64, 4)).astype(np.float32)
    model = codings.build("stacked", n_features=4, hidden=(8,), seed=0)
    stopper = EarlyStopping(patience=100)
    hist = codings.fit(model, X, X_val=X, epochs=15, batch_size=8, lr=0.3, callbacks=[stopper])
    val = hist["val_loss"]
    assert len(hist) == 15 and min(val) < val[-1]
    stopper.restore(model)
    assert codings.evaluate(model, X)["loss"] == pytest.approx(min(val), rel=1e-6)
