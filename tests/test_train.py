import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from codings import TrainingDiverged, build, evaluate, fit
from codings.train import History, resolve_device


def _data(n=256, d=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, d), dtype=np.float32)


def _weights(m):
    return {k: v.clone() for k, v in m.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_gives_bit_identical_weights():
    X = _data()
    runs = []
    for _ in range(2):
        m = build("stacked", n_features=16, hidden=(8, 4), tied=True, seed=1)
        fit(m, X, epochs=3, batch_size=32, seed=5)
        runs.append(_weights(m))
    assert _same(*runs)
    m = build("stacked", n_features=16, hidden=(8, 4), tied=True, seed=1)
    fit(m, X, epochs=3, batch_size=32, seed=6)
    assert not _same(runs[0], _weights(m))


def test_fit_leaves_the_global_rng_alone():
    torch.manual_seed(0)
    state = torch.get_rng_state()
    fit(build("stacked", n_features=16, hidden=(4,)), _data(), epochs=1)
    assert torch.equal(torch.get_rng_state(), state)


def test_history_has_every_named_part_per_epoch():
    X = _data()
    m = build("stacked", n_features=16, hidden=(8,), l2=1e-3, seed=0)
    h = fit(m, X[:200], X_val=X[200:], epochs=4, batch_size=50)
    assert isinstance(h, History) and len(h) == 4
    for key in ("train_loss", "train_reconstruction", "train_l2", "val_loss", "val_mse"):
        assert len(h[key]) == 4 and all(math.isfinite(v) for v in h[key])
    assert h["train_loss"][-1] < h["train_loss"][0]
    # The validation numbers are what evaluate() computes on the final weights.
    assert h["val_loss"][-1] == pytest.approx(evaluate(m, X[200:])["loss"], rel=1e-5)
    for rec in h.records:
        assert rec["train_loss"] == pytest.approx(rec["train_reconstruction"] + rec["train_l2"])


def test_training_reduces_error_below_the_mean_predictor():
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(512, 2)) @ rng.normal(size=(2, 12))).astype(np.float32)
    m = build("stacked", n_features=12, hidden=(8, 2), activation="tanh", seed=0)
    fit(m, X, epochs=60, batch_size=64, lr=3e-3)
    assert evaluate(m, X)["mse"] < 0.1 * X.var(0).mean()


def test_resumed_run_equals_uninterrupted(tmp_path):
    X = _data()
    full = build("stacked", n_features=16, hidden=(8, 4), tied=True, l2=1e-3, seed=3)
    h_full = fit(full, X, epochs=4, batch_size=32, seed=9)

    ck = tmp_path / "state.safetensors"
    part = build("stacked", n_features=16, hidden=(8, 4), tied=True, l2=1e-3, seed=3)
    fit(part, X, epochs=2, batch_size=32, seed=9, checkpoint=ck)
    fresh = build("stacked", n_features=16, hidden=(8, 4), tied=True, l2=1e-3, seed=99)
    h_res = fit(fresh, X, epochs=4, batch_size=32, seed=9, checkpoint=ck, resume=ck)
    assert _same(_weights(full), _weights(fresh))
    assert h_res["train_loss"] == h_full["train_loss"]


def test_cosine_schedule_values():
    from codings.train import scheduled_lr

    rates = [scheduled_lr(0.1, "cosine", s, 10) for s in range(11)]
    assert rates[0] == 0.1 and rates[5] == pytest.approx(0.05) and rates[10] == pytest.approx(0)
    assert all(a > b for a, b in zip(rates, rates[1:], strict=False))
    assert scheduled_lr(0.1, "constant", 7, 10) == 0.1


def test_cosine_run_interrupted_and_resumed_equals_uninterrupted(tmp_path):
    X = _data()
    kw = dict(epochs=4, batch_size=32, seed=9, lr=3e-3, lr_schedule="cosine")
    full = build("stacked", n_features=16, hidden=(8, 4), seed=3)
    fit(full, X, **kw)
    const = build("stacked", n_features=16, hidden=(8, 4), seed=3)
    fit(const, X, **{**kw, "lr_schedule": "constant"})
    assert not _same(_weights(full), _weights(const))

    ck = tmp_path / "state.safetensors"
    part = build("stacked", n_features=16, hidden=(8, 4), seed=3)
    fit(part, X, checkpoint=ck, callbacks=[lambda epoch, rec, m: epoch == 2], **kw)
    fresh = build("stacked", n_features=16, hidden=(8, 4), seed=99)
    fit(fresh, X, checkpoint=ck, resume=ck, **kw)
    assert _same(_weights(full), _weights(fresh))


def test_resume_refuses_another_model(tmp_path):
    ck = tmp_path / "state.safetensors"
    fit(build("stacked", n_features=16, hidden=(8,)), _data(), epochs=1, checkpoint=ck)
    with pytest.raises(ValueError, match="saved for model stacked"):
        fit(build("stacked", n_features=16, hidden=(6,)), _data(), epochs=2, resume=ck)


def test_divergence_stops_with_a_message_and_keeps_the_last_good_weights(tmp_path):
    # Weights made huge (finite) after epoch 2: epoch 3's first loss overflows. (Weights an
    # epoch's last step breaks are caught at that epoch's end, before they are saved.)
    def blow_up(epoch, record, model):
        if epoch == 2:
            with torch.no_grad():
                for p in model.parameters():
                    p.mul_(1e20)

    X = _data()
    m = build("stacked", n_features=16, hidden=(8,), activation="linear", init="xavier", seed=0)
    ck = tmp_path / "state.safetensors"
    with pytest.raises(TrainingDiverged) as err:
        fit(m, X, epochs=50, batch_size=32, optimizer="sgd", checkpoint=ck, callbacks=[blow_up])
    msg = str(err.value)
    assert "diverged in epoch" in msg and "reconstruction=" in msg and "lr=" in msg
    assert str(ck) in msg
    assert all(torch.isfinite(p).all() for p in m.parameters())
    # The checkpoint on disk still holds finite weights of the last completed epoch.
    fresh = build("stacked", n_features=16, hidden=(8,), activation="linear", init="xavier")
    fit(fresh, X[:1], epochs=0)
    from codings.checkpoint import load_train_state
    from codings.train import _objectives, make_optimizer

    opts = {k: make_optimizer("sgd", v, 0.1) for k, v in _objectives(fresh).items()}
    state = load_train_state(ck, fresh, opts)
    assert state["epoch"] >= 1
    assert all(torch.isfinite(p).all() for p in fresh.parameters())


def test_early_stopping_restores_the_best_weights():
    X = _data()
    m = build("stacked", n_features=16, hidden=(8,), seed=0)
    seen = []

    def spy(epoch, record, model):
        seen.append((record["val_loss"], _weights(model)))

    h = fit(m, X[:200], X_val=X[200:], epochs=200, lr=0.05, patience=2, callbacks=[spy])
    assert len(h) < 200
    best_loss, best_w = min(seen, key=lambda t: t[0])
    assert _same(_weights(m), best_w)
    assert evaluate(m, X[200:])["loss"] == pytest.approx(best_loss, rel=1e-6)


def test_callback_can_stop_training():
    h = fit(
        build("stacked", n_features=16, hidden=(4,)),
        _data(),
        epochs=10,
        callbacks=[lambda e, r, m: e >= 3],
    )
    assert len(h) == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": -1}, "epochs=-1"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"lr": 0.0}, "lr=0.0"),
        ({"optimizer": "adma"}, "did you mean 'adam'"),
        ({"patience": 0}, "patience=0"),
        ({"lr_schedule": "cosin"}, "did you mean 'cosine'"),
        ({"device": "tpu"}, "device='tpu'"),
    ],
)
def test_bad_fit_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit(build("stacked", n_features=16, hidden=(4,)), _data(), **kwargs)


def test_bad_data_is_refused_with_its_position():
    X = _data()
    X[3, 5] = np.nan
    with pytest.raises(ValueError, match=r"index \(3, 5\)"):
        fit(build("stacked", n_features=16, hidden=(4,)), X, epochs=1)
    with pytest.raises(ValueError, match="X_val has shape"):
        fit(build("stacked", n_features=16, hidden=(4,)), _data(), X_val=_data(d=8), epochs=1)
    with pytest.raises(ValueError, match="numeric"):
        fit(build("stacked", n_features=16, hidden=(4,)), np.array([["a"] * 16]), epochs=1)


def test_device_resolution_is_cpu_here():
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device("auto").type in ("cpu", "mps")
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")


def test_mnist_tied_stacked_learns_in_one_epoch(data_dir):
    from codings.datasets import load_dataset

    train = load_dataset("mnist", "train", data_dir=data_dir)
    val = load_dataset("mnist", "validation", data_dir=data_dir)
    m = build("stacked", n_features=784, hidden=(300, 150), l2=1e-4, tied=True, seed=0)
    h = fit(m, train.X[:10000], X_val=val.X[:2000], epochs=1, batch_size=128)
    mean_image_mse = float(((val.X[:2000] - train.X[:10000].mean(0)) ** 2).mean())  # ~0.067
    assert h["val_mse"][-1] < 0.5 * mean_image_mse


def test_memory_mapped_data_trains_exactly_like_in_memory(tmp_path):
    X = _data(n=300)
    np.save(tmp_path / "x.npy", X)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    a = build("stacked", n_features=16, hidden=(8, 4), seed=0)
    b = build("stacked", n_features=16, hidden=(8, 4), seed=0)
    ha = fit(a, X, X_val=X[:50], epochs=3, batch_size=32, seed=4)
    # chunks of 70 rows round down to 64 = two whole batches; the last chunk is partial
    hb = fit(b, mm, X_val=mm[:50], epochs=3, batch_size=32, seed=4, chunk_size=70)
    assert _same(_weights(a), _weights(b))
    assert ha["val_loss"] == hb["val_loss"]
    # A slice of a map streams the right rows too.
    c = build("stacked", n_features=16, hidden=(8, 4), seed=0)
    d = build("stacked", n_features=16, hidden=(8, 4), seed=0)
    fit(c, X[100:], epochs=2, batch_size=32, seed=4)
    fit(d, mm[100:], epochs=2, batch_size=32, seed=4, chunk_size=64)
    assert _same(_weights(c), _weights(d))


def test_streaming_refuses_non_finite_rows(tmp_path):
    X = _data(n=100)
    X[77, 2] = np.inf
    np.save(tmp_path / "x.npy", X)
    with pytest.raises(ValueError, match="non-finite"):
        fit(
            build("stacked", n_features=16, hidden=(4,)),
            np.load(tmp_path / "x.npy", mmap_mode="r"),
            epochs=1,
            batch_size=10,
        )


def test_bf16_autocast_trains_and_keeps_float32_weights():
    X = _data()
    m = build("stacked", n_features=16, hidden=(8, 4), seed=0)
    h = fit(m, X, epochs=5, batch_size=32, precision="bf16", device="cpu")
    assert all(p.dtype == torch.float32 for p in m.parameters())
    assert h["train_loss"][-1] < h["train_loss"][0]
    ref = build("stacked", n_features=16, hidden=(8, 4), seed=0)
    fit(ref, X, epochs=5, batch_size=32, device="cpu")
    # Lower precision changes the numbers, but not by much.
    assert not _same(_weights(m), _weights(ref))
    assert evaluate(m, X)["mse"] == pytest.approx(evaluate(ref, X)["mse"], rel=0.1)
    with pytest.raises(ValueError, match="needs a CUDA device"):
        fit(m, X, epochs=1, precision="fp16", device="cpu")
    with pytest.raises(ValueError, match="did you mean 'bf16'"):
        fit(m, X, epochs=1, precision="bf61")


def test_evaluate_is_a_mean_over_every_row_whatever_the_batch_size():
    X = _data(n=100)
    m = build("stacked", n_features=16, hidden=(8,), l2=1e-2, seed=0)
    x = torch.from_numpy(X)
    with torch.no_grad():
        mse = float(((m(x) - x) ** 2).mean())
        recon = float(((m(x) - x) ** 2).sum(1).mean())
    for bs in (7, 32, 100, 1000):  # 100 = 3 x 32 + 4: a short last batch
        r = evaluate(m, X, batch_size=bs)
        assert r["mse"] == pytest.approx(mse, rel=1e-5)
        assert r["reconstruction"] == pytest.approx(recon, rel=1e-5)


def test_finiteness_check_is_exact_even_when_a_sum_overflows():
    from codings.train import as_tensor

    huge = np.full((20000, 4), 3e38, np.float32)  # finite, but their sum overflows
    assert as_tensor(huge).shape == (20000, 4)
    huge[12345, 3] = -np.inf
    with pytest.raises(ValueError, match=r"index \(12345, 3\)"):
        as_tensor(huge)


@pytest.mark.parametrize("output", ["linear", "bernoulli"])
def test_evaluate_mse_is_the_forward_reconstruction_error(output):
    X = _data(300)
    m = build("stacked", n_features=16, hidden=(8, 4), output=output, l2=1e-3, seed=2)
    fit(m, X, epochs=1, batch_size=64)
    with torch.no_grad():
        direct = float((m(torch.from_numpy(X)) - torch.from_numpy(X)).square().mean())
        total, parts = m.loss(torch.from_numpy(X))
    got = evaluate(m, X, batch_size=128)
    assert got["mse"] == pytest.approx(direct, rel=1e-5)
    assert got["loss"] == pytest.approx(float(total), rel=1e-5)
    assert got["reconstruction"] == pytest.approx(float(parts["reconstruction"]), rel=1e-5)


def test_nadam_is_torchs_nadam_and_trains():
    import torch

    from codings.optimizers import FusedNAdam
    from codings.train import make_optimizer

    model = build("stacked", n_features=4, hidden=(3,), seed=0)
    opt = make_optimizer("nadam", model.parameters(), 1e-3)
    # torch's NAdam (its arguments, state and update) run by Adam's fused kernel
    assert type(opt) is FusedNAdam and isinstance(opt, torch.optim.NAdam)
    assert opt.defaults["lr"] == 1e-3
    X = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    before = evaluate(model, X)["loss"]
    fit(model, X, epochs=20, batch_size=16, lr=1e-2, optimizer="nadam")
    assert evaluate(model, X)["loss"] < 0.8 * before


def test_nadam_run_resumed_equals_uninterrupted_and_torchs_nadam(tmp_path, monkeypatch):
    import codings.train as train

    X = _data()
    kw = dict(epochs=4, batch_size=32, seed=9, lr=3e-3, optimizer="nadam", weight_decay=1e-3)
    full = build("stacked", n_features=16, hidden=(8, 4), seed=3)
    fit(full, X, **kw)
    ck = tmp_path / "state.safetensors"
    part = build("stacked", n_features=16, hidden=(8, 4), seed=3)
    fit(part, X, checkpoint=ck, callbacks=[lambda epoch, rec, m: epoch == 2], **kw)
    fresh = build("stacked", n_features=16, hidden=(8, 4), seed=99)
    fit(fresh, X, checkpoint=ck, resume=ck, **kw)
    assert _same(_weights(full), _weights(fresh))
    # The same run with torch's own NAdam: the same weights within float32 rounding.
    monkeypatch.setattr(train, "FusedNAdam", torch.optim.NAdam)
    ref = build("stacked", n_features=16, hidden=(8, 4), seed=3)
    fit(ref, X, **kw)
    for k, v in _weights(ref).items():
        torch.testing.assert_close(_weights(full)[k], v, rtol=1e-5, atol=1e-6)
    # ... and not by chance: another optimiser ends elsewhere
    other = build("stacked", n_features=16, hidden=(8, 4), seed=3)
    fit(other, X, **{**kw, "optimizer": "adam"})
    assert not torch.allclose(
        _weights(other)["encoder.0.0.weight"], _weights(ref)["encoder.0.0.weight"], atol=1e-4
    )


# --- reliability: no non-finite model kept, exact resumes, honest messages (issue 16) --------


def _small(seed=0):
    return build("stacked", n_features=16, hidden=(4,), seed=seed)


def test_a_last_step_that_breaks_the_weights_is_caught_at_the_epoch_end(tmp_path):
    # One step per epoch: the loss before it is finite, the step makes the weights explode, so
    # only the validation loss and the weights show it.
    X = _data(64)
    m = _small()
    before = _weights(m)
    ck = tmp_path / "state.safetensors"
    with pytest.raises(TrainingDiverged) as err:
        fit(m, X, X_val=_data(16, seed=1), epochs=2, batch_size=64, lr=1e30, checkpoint=ck)
    msg = str(err.value)
    assert msg.startswith("training diverged in epoch 1: val_loss is inf")
    assert "The model was put back to its initial weights." in msg
    assert msg.endswith("No checkpoint was written: the run diverged in its first epoch.")
    assert _same(before, _weights(m)) and not ck.exists()


def test_divergence_names_the_checkpoint_that_exists_and_it_is_finite(tmp_path):
    from codings.checkpoint import load_train_state
    from codings.train import _objectives, make_optimizer

    def blow_up(epoch, record, model):  # finite but huge: the next loss overflows
        if epoch == 1:
            with torch.no_grad():
                for p in model.parameters():
                    p.mul_(1e20)

    ck = tmp_path / "state.safetensors"
    with pytest.raises(TrainingDiverged) as err:
        fit(_small(), _data(), epochs=3, batch_size=64, checkpoint=ck, callbacks=[blow_up])
    assert str(err.value).endswith(f"The last good checkpoint is {ck} (after epoch 1).")
    fresh = _small(seed=5)
    opts = {k: make_optimizer("adam", v, 1e-3) for k, v in _objectives(fresh).items()}
    assert load_train_state(ck, fresh, opts)["epoch"] == 1
    assert not _nonfinite(fresh)


def _nonfinite(m):
    return [k for k, v in m.state_dict().items() if not torch.isfinite(v).all()]


def test_weights_made_nan_after_an_epoch_are_never_saved(tmp_path):
    def poison(epoch, record, model):
        if epoch == 2:
            with torch.no_grad():
                next(model.parameters())[0, 0] = float("nan")

    ck = tmp_path / "state.safetensors"
    m = _small()
    with pytest.raises(TrainingDiverged, match="non-finite weights in"):
        fit(m, _data(), epochs=3, batch_size=64, checkpoint=ck, callbacks=[poison])
    assert not _nonfinite(m)
    from codings.checkpoint import read_metadata

    assert read_metadata(ck)["train_state"]["epoch"] == 1  # epoch 2 was not saved


def test_non_finite_starting_weights_are_refused():
    m = _small()
    with torch.no_grad():
        next(m.parameters())[0, 0] = float("inf")
    with pytest.raises(ValueError, match="the model has non-finite weights before training"):
        fit(m, _data(), epochs=1)


def test_nonfinite_weights_names_exactly_the_tensors_with_nan_or_infinity():
    from codings.train import _nonfinite_weights

    m = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2), nn.Linear(2, 2), nn.BatchNorm1d(2))
    assert _nonfinite_weights(m) == []
    with torch.no_grad():
        m[0].weight[1, 2] = float("nan")
        m[1].bias[0] = -float("inf")
        # Finite, but their sum overflows to infinity: not reported
        m[2].weight.fill_(3e38)
    assert _nonfinite_weights(m) == ["0.weight", "1.bias"]
    with torch.no_grad():
        m[3].running_var[1] = float("inf")  # a buffer counts too; the integer one is skipped
    assert _nonfinite_weights(m) == ["0.weight", "1.bias", "3.running_var"]


def _stop_at(n):
    def stop(epoch, record, model):
        if epoch == n:
            raise KeyboardInterrupt

    return stop


@pytest.mark.parametrize("interrupt_at", [14, 23])
def test_resume_with_patience_equals_the_uninterrupted_run(tmp_path, interrupt_at):
    # lr=0.1 on this data: 24 epochs; the validation loss rises at epochs 14 and 22-24
    # (patience 3 stops at 24 and restores epoch 21), so both interruptions fall on stale epochs.
    rng = np.random.default_rng(0)
    X, Xv = rng.random((96, 16), dtype=np.float32), rng.random((32, 16), dtype=np.float32)
    kw = dict(X_val=Xv, epochs=60, batch_size=16, lr=0.1, patience=3)
    full = _small()
    h_full = fit(full, X, **kw)
    assert len(h_full) == 24
    ck = tmp_path / "state.safetensors"
    with pytest.raises(KeyboardInterrupt):
        fit(_small(), X, checkpoint=ck, callbacks=[_stop_at(interrupt_at)], **kw)
    fresh = _small(seed=7)
    h_res = fit(fresh, X, checkpoint=ck, resume=ck, **kw)
    assert len(h_res) == 24 and h_res["val_loss"] == h_full["val_loss"]
    assert _same(_weights(full), _weights(fresh))
    # Resuming the finished run trains no further.
    again = _small(seed=8)
    assert len(fit(again, X, checkpoint=ck, resume=ck, **kw)) == 24
    assert _same(_weights(full), _weights(again))


def test_resume_restores_an_early_stopping_callbacks_state(tmp_path):
    from codings.defaults import EarlyStopping

    rng = np.random.default_rng(0)
    X, Xv = rng.random((96, 16), dtype=np.float32), rng.random((32, 16), dtype=np.float32)
    kw = dict(X_val=Xv, epochs=30, batch_size=16, lr=0.1)
    full, stop_full = _small(), EarlyStopping(3)
    fit(full, X, callbacks=[stop_full], **kw)
    stop_full.restore(full)
    ck = tmp_path / "state.safetensors"
    with pytest.raises(KeyboardInterrupt):
        fit(_small(), X, checkpoint=ck, callbacks=[EarlyStopping(3), _stop_at(23)], **kw)
    fresh, stop_res = _small(seed=7), EarlyStopping(3)
    fit(fresh, X, checkpoint=ck, resume=ck, callbacks=[stop_res], **kw)
    stop_res.restore(fresh)
    assert (stop_res.best, stop_res.best_epoch, stop_res.stale) == (
        stop_full.best,
        stop_full.best_epoch,
        stop_full.stale,
    )
    assert _same(_weights(full), _weights(fresh))


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"lr": 1e-2}, "lr"),
        ({"batch_size": 32}, "batch_size"),
        ({"seed": 1}, "seed"),
        ({"patience": 2}, "patience"),
        ({"X": _data(seed=3)}, "data"),
    ],
)
def test_resume_refuses_other_arguments_and_loads_nothing(tmp_path, change, key):
    from codings.checkpoint import ResumeMismatch

    ck = tmp_path / "state.safetensors"
    kw = dict(X=_data(), epochs=2, batch_size=64, lr=1e-3, seed=0, patience=5)
    fit(_small(), checkpoint=ck, **kw)
    fresh = _small(seed=4)
    before = _weights(fresh)
    with pytest.raises(ResumeMismatch) as err:
        fit(fresh, checkpoint=ck, resume=ck, **{**kw, "epochs": 3, **change})
    assert err.value.key == key
    assert str(err.value).endswith("resume with the same arguments or start a new checkpoint")
    assert _same(before, _weights(fresh))


def test_resume_may_add_epochs_at_a_constant_rate(tmp_path):
    ck = tmp_path / "state.safetensors"
    fit(_small(), _data(), epochs=2, batch_size=64, checkpoint=ck)
    assert len(fit(_small(), _data(), epochs=3, batch_size=64, checkpoint=ck, resume=ck)) == 3


def test_history_json_is_strict_json_with_null_for_nan():
    h = History([{"epoch": 1, "train_loss": float("nan"), "val_loss": float("inf"), "t": 0.5}])
    text = h.to_json()

    def refuse(name):
        raise ValueError(name)

    records = json.loads(text, parse_constant=refuse)
    assert records == [{"epoch": 1, "train_loss": None, "val_loss": None, "t": 0.5}]
    back = History.from_json(text).records[0]
    assert math.isnan(back["train_loss"]) and back["t"] == 0.5


def test_complex_input_is_refused_not_truncated():
    from codings.train import as_tensor

    with pytest.raises(ValueError, match="complex numbers"):
        as_tensor(np.ones((3, 4), dtype=np.complex64))
    with pytest.raises(ValueError, match="complex numbers"):
        as_tensor(torch.ones(3, 4, dtype=torch.complex64))


def test_without_validation_a_last_step_that_breaks_the_model_is_caught(tmp_path):
    m = _small()
    before = _weights(m)
    ck = tmp_path / "state.safetensors"
    with pytest.raises(TrainingDiverged, match="the loss of the last batch after its step is"):
        fit(m, _data(64), epochs=1, batch_size=64, lr=1e30, checkpoint=ck)
    assert _same(before, _weights(m)) and not ck.exists()


def test_evaluate_with_a_seed_gives_a_vaes_loss_the_same_every_call_and_keeps_the_rng():
    X = np.random.default_rng(0).random((64, 8), dtype=np.float32)
    vae = build("vae", n_features=8, hidden=(6,), latent_dim=2, seed=0)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = evaluate(vae, X, seed=0)
    b = evaluate(vae, X, seed=0)
    assert a == b  # the latent draws are seeded: the same numbers, to the bit
    assert torch.equal(torch.get_rng_state(), before)  # the caller's generator is untouched
    assert evaluate(vae, X, seed=1)["loss"] != a["loss"]  # the seed is what fixes them
    assert evaluate(vae, X)["loss"] != evaluate(vae, X)["loss"]  # unseeded: fresh draws


def _global_state():
    from codings.threads import flush_denormal_enabled

    return (
        flush_denormal_enabled(),
        torch.get_num_threads(),
        torch.is_grad_enabled(),
        torch.get_rng_state(),
    )


def _interrupt(epoch, record, model):
    if epoch == 2:
        raise KeyboardInterrupt


def _break_weights(epoch, record, model):
    if epoch == 2:
        with torch.no_grad():
            next(model.parameters()).fill_(math.nan)


@pytest.mark.parametrize("flush", [False, True])
@pytest.mark.parametrize(
    "callback, error",
    [(None, None), (_interrupt, KeyboardInterrupt), (_break_weights, TrainingDiverged)],
)
def test_fit_puts_back_the_callers_global_state_on_every_exit(flush, callback, error):
    # fit flushes denormals, sets torch's threads and seeds its own RNG while it trains; after
    # it, normally or by an error, the caller finds what it had: 1e-40 * 1 is not 0.0 again.
    model = build("stacked", n_features=16, hidden=(8, 4), seed=0)
    threads = torch.get_num_threads()
    torch.set_flush_denormal(flush)
    try:
        torch.manual_seed(123)
        before = _global_state()
        assert before[0] is flush
        kw = {"callbacks": [callback]} if callback else {}
        if error is None:
            fit(model, _data(n=64), epochs=3, batch_size=16, threads=2, **kw)
        else:
            with pytest.raises(error):
                fit(model, _data(n=64), epochs=3, batch_size=16, threads=2, **kw)
        after = _global_state()
        assert after[:3] == before[:3]
        assert torch.equal(after[3], before[3])
        assert (torch.tensor(1e-40) * 1 == 0).item() is flush
    finally:
        torch.set_flush_denormal(False)
        torch.set_num_threads(threads)


@pytest.mark.parametrize("name, kw", [("stacked", {"hidden": [8, 4]}), ("conv", {"channels": [4]})])
def test_a_3d_array_for_a_model_of_rows_is_refused_with_the_fix(name, kw):
    X = np.random.default_rng(0).random((16, 8, 8), dtype=np.float32)
    model = build(name, n_features=64, **kw)
    with pytest.raises(
        ValueError,
        match=r"X has shape \(16, 8, 8\), but model .* takes rows.*"
        r"X.reshape\(len\(X\), -1\).*'recurrent' or 'conv1d'",
    ):
        fit(model, X, epochs=1)
    fit(model, X.reshape(16, 64), epochs=1)  # the fix it names
    fit(build("conv1d", n_features=64, sequence_shape=[8, 8]), X, epochs=1)  # sequences pass
