import io
import math

import numpy as np
import pytest

import codings
from codings.progress import EpochTable, Progress, Reporter, as_reporter, duration


@pytest.fixture
def data(digits):
    X = (digits.X / 16.0).astype(np.float32)
    return X[:1500], X[1500:]


def small_model():
    return codings.build("stacked", n_features=64, hidden=[16, 4], l2=1e-4, seed=0)


def test_plain_mode_writes_one_line_per_epoch_with_the_loss_parts(data):
    X, Xv = data
    out = io.StringIO()  # not a terminal: one plain line at each epoch's end
    hist = codings.fit(small_model(), X, X_val=Xv, epochs=3, batch_size=100, progress=Progress(out))
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 3 and text.endswith("\n")
    for e, (line, rec) in enumerate(zip(lines, hist.records, strict=True), start=1):
        assert line.startswith(f"Epoch {e}/3 - 15/15 - ")
        for shown, key in [
            ("loss", "train_loss"),
            ("reconstruction", "train_reconstruction"),
            ("l2", "train_l2"),
            ("val_loss", "val_loss"),
            ("val_mse", "val_mse"),
        ]:
            assert f" - {shown}: {rec[key]:.4g}" in line


def test_live_mode_redraws_in_place_and_keeps_one_line_per_epoch(data):
    X, _ = data
    out = io.StringIO()
    codings.fit(
        small_model(), X, epochs=2, batch_size=500, progress=Progress(out, live=True, interval=0)
    )
    text = out.getvalue()
    assert text.count("\n") == 2  # one kept line per epoch
    first, second = text.split("\n")[:2]
    # Every step redrawn (interval 0): 1/3, 2/3, 3/3, then the epoch's final line.
    assert first.count("\r") == 4 and second.count("\r") == 4
    assert "Epoch 1/2 [======>.............] 1/3" in first
    final = first.split("\r")[-1]
    assert final.startswith("Epoch 1/2 [====================] 3/3 - ")
    assert "ETA" not in final and " - loss: " in final


class CountedFloat:
    """A running sum that counts how often it is read (a read waits for the device)."""

    reads = 0

    def __float__(self):
        CountedFloat.reads += 1
        return 6.0


def test_running_loss_is_read_only_when_the_line_is_redrawn():
    out = io.StringIO()
    bar = Progress(out, live=True, interval=math.inf)  # never due for a redraw
    bar.begin("Epoch 1/1", 100)
    CountedFloat.reads = 0
    for step in range(1, 101):
        bar.update(step, {"loss": CountedFloat()})
    assert CountedFloat.reads == 0 and out.getvalue() == ""
    bar = Progress(out, live=True, interval=0)
    bar.begin("Epoch 1/1", 100)
    bar.update(3, {"loss": CountedFloat()})
    assert CountedFloat.reads == 1
    assert "3/100" in out.getvalue() and "loss: 2 " not in out.getvalue()
    assert out.getvalue().endswith("loss: 2")  # the running mean: 6 / 3 steps


def test_quick_tasks_leave_no_line_and_long_ones_one(data):
    X, Xv = data
    model = small_model()
    quick = io.StringIO()
    codings.evaluate(model, Xv, batch_size=100, progress=Progress(quick, task_delay=math.inf))
    assert quick.getvalue() == ""
    shown = io.StringIO()
    codings.evaluate(model, Xv, batch_size=100, progress=Progress(shown, task_delay=0))
    assert shown.getvalue().startswith(f"evaluate - {len(Xv)}/{len(Xv)} examples - ")
    assert shown.getvalue().count("\n") == 1


def test_encode_and_reconstruct_report_rows(data):
    from codings.metrics import encode, reconstruct

    X, _ = data
    model = small_model()
    for fn, title in [(encode, "encode"), (reconstruct, "reconstruct")]:
        out = io.StringIO()
        fn(model, X[:300], batch_size=128, progress=Progress(out, task_delay=0))
        assert out.getvalue().startswith(f"{title} - 300/300 rows - ")


def test_encode_to_npy_reports_rows(data, tmp_path):
    from codings.metrics import encode_to_npy

    X, _ = data
    out = io.StringIO()
    encode_to_npy(
        small_model(),
        X[:300],
        tmp_path / "z.npy",
        batch_size=64,
        progress=Progress(out, task_delay=0),
    )
    assert out.getvalue().startswith("encode - 300/300 rows - ")


def test_importance_sampled_nll_shows_a_bar_over_examples(data):
    from codings.generative import likelihood_bounds

    X, _ = data
    vae = codings.build("vae", n_features=64, hidden=[16], latent_dim=2, seed=0)
    out = io.StringIO()
    bar = Progress(out, live=True, interval=0, task_delay=0)
    r = likelihood_bounds(vae, X[:40], k=5, batch_size=16, progress=bar)
    assert len(r["log_likelihood"]) == 40
    draws = out.getvalue().split("\r")[1:]
    assert [d.split(" - ")[0] for d in draws] == [
        "NLL, 5 samples [========>...........] 16/40 examples",
        "NLL, 5 samples [================>...] 32/40 examples",
        "NLL, 5 samples [====================] 40/40 examples",
        "NLL, 5 samples [====================] 40/40 examples",  # the final line
    ]


def test_layerwise_phases_are_announced(data):
    from codings.layerwise import pretrain_layerwise

    X, Xv = data
    out = io.StringIO()
    pretrain_layerwise(
        codings.build("stacked", n_features=64, hidden=[16, 4], seed=0),
        X,
        X_val=Xv,
        epochs=1,
        finetune_epochs=1,
        batch_size=500,
        progress=Progress(out),
    )
    lines = out.getvalue().splitlines()
    assert [line.split(" - ")[0] for line in lines] == [
        "phase 1/2: 64->16",
        "Epoch 1/1",
        "phase 2/2: 16->4",
        "Epoch 1/1",
        "fine-tuning: all 2 layer pairs together",
        "Epoch 1/1",
    ]


def test_classifier_stages_are_announced(data, digits):
    from codings.classify import train_classifier

    X, Xv = data
    y = digits.y
    out = io.StringIO()
    train_classifier(
        small_model(),
        X,
        y[:1500],
        X_val=Xv,
        y_val=y[1500:],
        mode="finetune",
        epochs=1,
        batch_size=500,
        progress=Progress(out),
    )
    lines = out.getvalue().splitlines()
    assert [line.split(" - ")[0] for line in lines] == [
        "stage 1/2: head",
        "Epoch 1/1",
        "stage 2/2: all",
        "Epoch 1/1",
    ]
    assert " - accuracy: " in lines[1] and " - val_accuracy: " in lines[1]


def test_epoch_table_marks_each_best_validation_loss():
    out = io.StringIO()
    table = EpochTable(out)
    table.begin("Epoch 1/4", 10)
    table.update(5, {"loss": 1.0})  # a table has no bar: nothing until the epoch ends
    assert out.getvalue() == ""
    for epoch, (tl, vl) in enumerate([(3.0, 2.0), (2.0, 1.5), (1.0, 1.75), (0.5, 1.0)], 1):
        table.end({"epoch": epoch, "train_loss": tl, "val_loss": vl, "time": 0.25})
    assert out.getvalue().splitlines() == [
        "epoch  train_loss  valid_loss      dur",
        "    1           3           2*   0.25s",
        "    2           2         1.5*   0.25s",
        "    3           1        1.75    0.25s",
        "    4         0.5           1*   0.25s",
    ]
    table.note("phase 2/2: 16->4")  # a new phase starts a new table
    table.end({"epoch": 1, "train_loss": 9.0, "time": 12.0})
    assert out.getvalue().splitlines()[5:] == [
        "phase 2/2: 16->4",
        "epoch  train_loss      dur",
        "    1           9*     12s",
    ]


def test_reporters_are_opt_in():
    assert as_reporter(False) is None and as_reporter(None) is None
    assert isinstance(as_reporter(True), Progress)
    table = EpochTable()
    assert as_reporter(table) is table
    assert isinstance(as_reporter(Reporter()), Reporter)
    with pytest.raises(TypeError, match="progress=1 must be True, False or a reporter"):
        as_reporter(1)


def test_durations():
    assert [duration(s) for s in (0.042, 3.14, 12.4, 185, 3725)] == [
        "0.04s",
        "3.1s",
        "12s",
        "3m05s",
        "1h02m",
    ]


class StopAtStep(Progress):
    """Ctrl-C in the middle of an epoch, after the bar has drawn its second step."""

    def update(self, done, sums=None):
        super().update(done, sums)
        if done == 2:
            raise KeyboardInterrupt


def test_an_interrupted_epoch_ends_its_line(data):
    X, _ = data
    out = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        codings.fit(
            small_model(),
            X,
            epochs=3,
            batch_size=500,
            progress=StopAtStep(out, live=True, interval=0),
        )
    # The partial line stays, and is ended so that the next message starts on its own line.
    assert out.getvalue().split("\r")[-1].startswith("Epoch 1/3 [=============>......] 2/3")
    assert out.getvalue().endswith("\n") and out.getvalue().count("\n") == 1


def test_fit_prints_nothing_by_default(data, capsys):
    X, _ = data
    codings.fit(small_model(), X, epochs=1, batch_size=500)
    assert capsys.readouterr() == ("", "")


class GoneReader(io.StringIO):
    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")


def test_a_stream_that_fails_loses_the_report_not_the_training(data):
    X, _ = data
    for bar in (Progress(GoneReader(), live=True, interval=0), EpochTable(GoneReader())):
        hist = codings.fit(small_model(), X, epochs=2, batch_size=500, progress=bar)
        assert len(hist) == 2


def test_finish_lines_ends_a_bar_left_mid_line():
    from codings.progress import finish_lines

    out = io.StringIO()
    bar = Progress(out, live=True, interval=0, task_delay=0)
    bar.begin("NLL, 5 samples", 40, "examples", task=True)
    bar.update(16)
    assert not out.getvalue().endswith("\n")
    finish_lines()  # what the command line does before it reports an error or Ctrl-C
    assert out.getvalue().endswith("\n") and "16/40 examples" in out.getvalue()
    finish_lines()  # nothing left open: nothing more written
    assert out.getvalue().count("\n") == 1
