"""Every training option through every training entry point: honoured, refused, or not offered.

The table below has one row per entry point and one entry per field of TrainOptions; a field
added without an entry in every row fails :func:`test_the_table_covers_every_option`. An option
marked honoured is checked by its effect inside the real ``fit`` (the optimiser built, the
batches drawn, the clipping applied, the epochs run, ...), seen through small spies on
``codings.train``'s internals; one marked refused must raise an error naming the option.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys

import numpy as np
import pytest
import torch

from codings import (
    AutoencoderClassifier,
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    build,
    fit,
    pretrain_layerwise,
    train,
    train_classifier,
)
from codings.cli import build_parser, main
from codings.options import FIELDS, TrainOptions

H, R, ABSENT = "honoured", "refused", "absent"

# What each entry point does with each option.
TABLE = {
    "fit": dict.fromkeys(FIELDS, H),
    "pretrain_layerwise": {
        **dict.fromkeys(FIELDS, H),
        "checkpoint": R,
        "resume": R,
        "chunk_size": R,
    },
    "train_classifier": {
        **dict.fromkeys(FIELDS, H),
        "checkpoint": R,
        "resume": R,
        "chunk_size": R,
        "step": R,  # step="fused"; "autograd" and "auto" are honoured
    },
    **{
        name: {
            **dict.fromkeys(FIELDS, H),  # a parameter, or a key of train_options
            "checkpoint": R,
            "resume": R,
            "chunk_size": R,
        }
        for name in (
            "AutoencoderTransformer",
            "AutoencoderOutlierDetector",
            "AutoencoderClassifier",
        )
    },
    "cli train": {
        **dict.fromkeys(FIELDS, H),
        "restore_best": ABSENT,
        "chunk_size": ABSENT,
    },
    "cli train --layerwise": {
        **dict.fromkeys(FIELDS, H),
        "restore_best": ABSENT,
        "chunk_size": ABSENT,
        "checkpoint": ABSENT,  # the command line writes none for layer-wise training
        "resume": R,
    },
    "cli classify": {
        **dict.fromkeys(FIELDS, ABSENT),
        **dict.fromkeys(
            ("epochs", "batch_size", "lr", "lr_schedule", "seed", "patience", "device"), H
        ),
        **dict.fromkeys(("optimizer", "clip_norm", "precision", "threads", "step"), H),
        "weight_decay": H,
        "progress": H,
    },
}

# A value other than the default for each option, and its estimator parameter.
VALUES = {
    "epochs": 2,
    "batch_size": 7,
    "lr": 0.0123,
    "optimizer": "sgd",
    "weight_decay": 0.01,
    "clip_norm": 0.5,
    "lr_schedule": "cosine",
    "precision": "bf16",
    "seed": 7,
    "patience": 3,
    "restore_best": False,
    "device": "cuda",  # with CUDA hidden: honoured means refused by the device check
    "threads": 3,
    "progress": True,
    "checkpoint": "ck.safetensors",
    "resume": "ck.safetensors",
    "chunk_size": 10,
    "step": "autograd",
}
ESTIMATOR_PARAMS = {
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "lr",
    "optimizer": "optimizer",
    "seed": "random_state",
    "patience": "patience",
    "device": "device",
    "threads": "threads",
    "progress": "verbose",
}

rng = np.random.default_rng(0)
X = rng.random((30, 6)).astype(np.float32)
Y = np.arange(30) % 2


def test_the_table_covers_every_option():
    for entry, row in TABLE.items():
        assert set(row) == set(FIELDS), entry
    assert set(VALUES) == set(FIELDS)
    assert TrainOptions(**VALUES) is not None  # every value is a valid one


class Probe:
    """What the real ``fit`` did, run by run: its arguments and their effects."""

    def __init__(self, monkeypatch):
        self.runs: list[dict] = []
        self.optimizers, self.data, self.clips = [], [], []
        self.schedules, self.precisions, self.threads, self.loads = [], [], [], []
        real_run_args, real_opt, real_data = train._run_args, train.make_optimizer, train._Data
        real_epoch, real_sched, real_prec = (
            train._nonfinite_epoch,
            train.scheduled_lr,
            train._precision,
        )
        real_clip = torch.nn.utils.clip_grad_norm_
        probe = self

        def run_args(data, Xv, **kw):
            probe.runs.append({"args": dict(kw), "epochs": 0, "steps": [], "batches": []})
            return real_run_args(data, Xv, **kw)

        def make_optimizer(*a, **kw):
            opt = real_opt(*a, **kw)
            probe.optimizers.append(opt)
            return opt

        class Data(real_data):
            def __init__(self, X, device, chunk_size, batch_size):
                super().__init__(X, device, chunk_size, batch_size)
                probe.data.append((self.stream, chunk_size))

            def batches(self, perm, rank, world):
                for xb in super().batches(perm, rank, world):
                    probe.runs[-1]["batches"].append(len(xb))
                    yield xb

        def nonfinite_epoch(model, record):
            probe.runs[-1]["epochs"] += 1
            probe.runs[-1]["steps"].append(record["step"])
            probe.threads.append(torch.get_num_threads())  # inside fit, mid-run
            return real_epoch(model, record)

        def clip(params, max_norm, *a, **kw):
            probe.clips.append(max_norm)
            return real_clip(params, max_norm, *a, **kw)

        def sched(lr, schedule, step, total):
            probe.schedules.append(schedule)
            return real_sched(lr, schedule, step, total)

        def precision(p, dev):
            probe.precisions.append(p)
            return real_prec(p, dev)

        from codings import checkpoint

        real_load = checkpoint.load_train_state

        def load(path, *a, **kw):
            probe.loads.append(str(path))
            return real_load(path, *a, **kw)

        monkeypatch.setattr(train, "_run_args", run_args)
        monkeypatch.setattr(train, "make_optimizer", make_optimizer)
        monkeypatch.setattr(train, "_Data", Data)
        monkeypatch.setattr(train, "_nonfinite_epoch", nonfinite_epoch)
        monkeypatch.setattr(train, "scheduled_lr", sched)
        monkeypatch.setattr(train, "_precision", precision)
        monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", clip)
        monkeypatch.setattr(checkpoint, "load_train_state", load)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    def arg(self, name):
        return [r["args"][name] for r in self.runs]


def _honoured(field, value, probe: Probe, err: str, tmp_path) -> bool:
    """Whether the runs show the effect of ``field=value``."""
    if field == "epochs":
        return any(r["epochs"] == value for r in probe.runs)
    if field == "batch_size":
        return any(max(r["batches"]) == value for r in probe.runs)
    if field == "lr":
        return any(o.defaults["lr"] == value for o in probe.optimizers)
    if field == "optimizer":
        return any(type(o) is torch.optim.SGD for o in probe.optimizers)
    if field == "weight_decay":
        return any(o.defaults["weight_decay"] == value for o in probe.optimizers)
    if field == "clip_norm":
        return value in probe.clips
    if field == "lr_schedule":
        return value in probe.schedules
    if field == "precision":
        return value in probe.precisions
    if field in ("seed", "patience", "restore_best"):
        return value in probe.arg(field)
    if field == "threads":
        return value in probe.threads
    if field == "progress":
        return "Epoch 1/" in err or "train_loss" in err
    if field == "checkpoint":
        return (tmp_path / "ck.safetensors").exists()
    if field == "resume":
        return bool(probe.loads)
    if field == "chunk_size":
        return (True, value) in probe.data
    if field == "step":
        return bool(probe.runs) and all(
            r["steps"] == ["autograd"] * r["epochs"] for r in probe.runs
        )
    raise AssertionError(f"no check for {field}")


def _ae():
    return build("stacked", n_features=6, hidden=(4, 2), seed=0)


def _options(field, value, tmp_path, **base):
    if field in ("checkpoint", "resume"):
        value = tmp_path / value
    if field == "chunk_size":
        base["batch_size"] = 5
    return TrainOptions(**{"epochs": 1, **base, field: value})


def _run_library(entry, field, value, tmp_path):
    if entry == "fit":
        if field == "resume":
            fit(_ae(), X, options=_options("checkpoint", value, tmp_path))
            fit(_ae(), X, options=_options(field, value, tmp_path, epochs=2))
        else:
            fit(_ae(), X, options=_options(field, value, tmp_path))
    elif entry == "pretrain_layerwise":
        pretrain_layerwise(_ae(), X, options=_options(field, value, tmp_path))
    elif entry == "train_classifier":
        if field == "step":
            value = "fused"  # what is refused; "autograd" is checked honoured below
        train_classifier(_ae(), X, Y, options=_options(field, value, tmp_path))


def _run_estimator(entry, field, value, tmp_path):
    cls = {
        "AutoencoderTransformer": AutoencoderTransformer,
        "AutoencoderOutlierDetector": AutoencoderOutlierDetector,
        "AutoencoderClassifier": AutoencoderClassifier,
    }[entry]
    if field == "progress":
        value = 2
    if field in ("checkpoint", "resume"):
        value = str(tmp_path / value)
    params = (
        {ESTIMATOR_PARAMS[field]: value}
        if field in ESTIMATOR_PARAMS
        else {"train_options": {field: value}}
    )
    kw = (
        {"hidden": (4,), "epochs": 1, "classifier_epochs": 1}
        if cls is AutoencoderClassifier
        else {
            "hidden": (4,),
            "epochs": 1,
        }
    )
    est = cls(**{**kw, **params})
    if field == "epochs" and cls is AutoencoderClassifier:
        est.set_params(classifier_epochs=3)
    if cls is AutoencoderClassifier:
        est.fit(X, Y)
    else:
        est.fit(X)
    return est


def _cli_value(field, value):
    if field == "resume":
        return []
    flag = "--" + field.replace("_", "-")
    return [flag, str(value)]


def _cli_base(tmp_path):
    data = tmp_path / "x.npy"
    np.save(data, X)
    return ["stacked", "--dataset", str(data), "--hidden", "4"]


def _prepare_cli(entry, field, tmp_path):
    """The run the command under test starts from (before the spies are set)."""
    out = str(tmp_path / "run")
    if entry == "cli classify":
        argv = ["train", "stacked", "--dataset", "digits", "--hidden", "4", "--epochs", "1"]
        assert main([*argv, "--out", out, "--quiet"]) == 0
    elif field == "resume":
        assert main(["train", *_cli_base(tmp_path), "--epochs", "1", "--out", out, "--quiet"]) == 0


def _run_cli(entry, field, value, tmp_path):
    out = str(tmp_path / "run")
    flags = [] if field in ("progress", "checkpoint", "resume") else _cli_value(field, value)
    if field == "resume":
        flags = ["--resume"]
    if field not in ("epochs", "resume"):
        flags += ["--epochs", "2" if field == "patience" else "1"]
    elif field == "resume":
        flags += ["--epochs", "2"]
    quiet = [] if field == "progress" else ["--quiet"]
    if entry == "cli classify":
        return main(["classify", out, "--dataset", "digits", "--labels", "40", *flags, *quiet])
    layerwise = ["--layerwise"] if entry == "cli train --layerwise" else []
    return main(["train", *_cli_base(tmp_path), "--out", out, *layerwise, *flags, *quiet])


CASES = [(entry, field) for entry in TABLE for field in FIELDS]


@pytest.mark.parametrize("entry, field", CASES, ids=[f"{e}-{f}" for e, f in CASES])
def test_every_option_through_every_entry_point(entry, field, monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    verdict = TABLE[entry][field]
    value = VALUES[field]
    if entry.startswith("cli") and verdict != ABSENT:
        _prepare_cli(entry, field, tmp_path)
        capsys.readouterr()
    probe = Probe(monkeypatch)
    if entry.startswith("cli"):
        if verdict == ABSENT:
            command = "classify" if entry == "cli classify" else "train"
            sub = next(a for a in build_parser()._actions if hasattr(a, "choices") and a.choices)
            dests = {a.dest for a in sub.choices[command]._actions}
            assert field not in dests, f"{entry} has a flag for {field}: mark it honoured"
            return
        code = _run_cli(entry, field, value, tmp_path)
        err = capsys.readouterr().err
        if verdict == R:
            assert code != 0 and re.search(field.replace("_", "[-_]"), err), err
            return
        if field == "device":
            assert code != 0 and "device='cuda'" in err, err
            return
        assert code == 0, err
        if field == "checkpoint":
            assert (tmp_path / "run" / "train_state.safetensors").exists()
            return
        if field == "step":
            run = tmp_path / "run" / ("classifier-frozen" if entry == "cli classify" else "")
            history = json.loads((run / "history.json").read_text())
            assert {r["step"] for r in history} == {"autograd"}
        assert _honoured(field, value, probe, err, tmp_path), (entry, field)
        return
    if entry.startswith("Autoencoder"):
        if verdict == R:
            with pytest.raises(ValueError, match=rf"{entry} does not take {field} in train_opt"):
                _run_estimator(entry, field, value, tmp_path)
            return
        if field == "device":
            with pytest.raises(ValueError, match="device='cuda'"):
                _run_estimator(entry, field, value, tmp_path)
            return
        est = _run_estimator(entry, field, value, tmp_path)
        err = capsys.readouterr().err
        assert "train_options" in est.get_params()
        if field == "seed":
            value = int(np.random.RandomState(value).randint(np.iinfo(np.int32).max))
        assert _honoured(field, value, probe, err, tmp_path), (entry, field)
        return
    if verdict == R:
        shown = entry
        with pytest.raises(ValueError, match=rf"{shown} does not take {field}="):
            _run_library(entry, field, value, tmp_path)
        return
    if field == "device":
        with pytest.raises(ValueError, match="device='cuda'"):
            _run_library(entry, field, value, tmp_path)
        return
    _run_library(entry, field, value, tmp_path)
    err = capsys.readouterr().err
    assert _honoured(field, value, probe, err, tmp_path), (entry, field)


def test_train_classifier_honours_step_autograd(monkeypatch, tmp_path):
    probe = Probe(monkeypatch)
    train_classifier(_ae(), X, Y, options=TrainOptions(epochs=1, step="autograd"))
    assert _honoured("step", "autograd", probe, "", tmp_path)


# --- the object itself ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("epochs", -1, "epochs=-1 must be a whole number >= 0"),
        ("batch_size", 0, "batch_size=0 must be a positive whole number"),
        ("lr", float("nan"), "lr=nan must be a positive finite number"),
        ("optimizer", "adma", "optimizer='adma' is not known.*did you mean 'adam'"),
        ("weight_decay", -1.0, "weight_decay=-1.0 must be a finite number >= 0"),
        ("clip_norm", 0, "clip_norm=0 must be a positive finite number"),
        ("lr_schedule", "cosin", "lr_schedule='cosin' is not known.*did you mean 'cosine'"),
        ("precision", "fp8", "precision='fp8' is not known"),
        ("seed", 1.5, "seed=1.5 must be a whole number"),
        ("patience", 0, "patience=0 must be a positive whole number"),
        ("restore_best", "yes", "restore_best='yes' must be True or False"),
        ("threads", 0, "threads=0 must be a positive whole number"),
        ("chunk_size", 0, "chunk_size=0 must be a positive whole number"),
        ("step", "fast", "step='fast' is not known; choose auto"),
    ],
)
def test_a_bad_value_is_refused_when_the_object_is_made(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainOptions(**{field: value})


def test_the_defaults_are_fits():
    import inspect

    from codings.options import UNSET

    params = inspect.signature(fit).parameters
    assert all(params[f].default is UNSET for f in FIELDS)  # one source for each default
    assert fit.__doc__ and all(f"{f}=" in fit.__doc__ for f in FIELDS)


def test_options_and_keywords_at_once_is_refused():
    o = TrainOptions(epochs=1)
    with pytest.raises(ValueError, match=r"fit got options and the keyword\(s\) lr"):
        fit(_ae(), X, options=o, lr=0.1)
    with pytest.raises(ValueError, match="pretrain_layerwise got options and the keyword"):
        pretrain_layerwise(_ae(), X, options=o, batch_size=8)
    with pytest.raises(ValueError, match=r"pretrain_layerwise got options and epochs=\[1, 2\]"):
        pretrain_layerwise(_ae(), X, options=o, epochs=[1, 2])
    with pytest.raises(ValueError, match="train_classifier got options and the keyword"):
        train_classifier(_ae(), X, Y, options=o, epochs=3)
    with pytest.raises(TypeError, match="options must be a codings.options.TrainOptions"):
        fit(_ae(), X, options={"epochs": 1})


def test_keywords_and_the_same_options_give_the_same_weights():
    a, b = _ae(), _ae()
    fit(a, X, epochs=2, batch_size=8, lr=0.01, seed=3)
    fit(b, X, options=TrainOptions(epochs=2, batch_size=8, lr=0.01, seed=3))
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k


def test_wrappers_keep_their_own_defaults():
    # pretrain_layerwise trains 5 epochs a phase and train_classifier 20 a stage in batches of
    # 64 by default, as before; fit's defaults apply only through an options object.
    hist = pretrain_layerwise(_ae(), X, device="cpu")
    assert [len(h) for h in hist.values()] == [5, 5]
    clf, h = train_classifier(_ae(), X, Y, device="cpu")
    assert len(h) == 20


def test_replace_checks_the_new_value():
    with pytest.raises(ValueError, match="epochs=-2"):
        dataclasses.replace(TrainOptions(), epochs=-2)


def test_a_layerwise_estimator_reports_with_verbose(capsys):
    AutoencoderTransformer(hidden=(4, 2), layerwise=True, epochs=2, verbose=1).fit(X)
    err = capsys.readouterr().err
    # Two phases and the fine-tuning, each with its table of two epochs.
    assert err.count("train_loss") >= 3 and "phase 2/2" in err, err


def test_to_dict_is_json_and_gives_the_options_back():
    from pathlib import Path

    from codings.progress import EpochTable

    o = TrainOptions(
        epochs=3, device=torch.device("cpu"), checkpoint=Path("a/b.safetensors"), clip_norm=1.0
    )
    d = json.loads(json.dumps(o.to_dict()))
    assert d["device"] == "cpu" and d["checkpoint"] == "a/b.safetensors"
    assert TrainOptions(**d) == dataclasses.replace(o, device="cpu", checkpoint="a/b.safetensors")
    assert TrainOptions(progress=EpochTable(sys.stderr)).to_dict()["progress"] is True


@pytest.mark.parametrize(
    "train_options, message",
    [
        ({"lr": 0.1}, r"train_options\['lr'\]: lr is set by AutoencoderTransformer's parameter lr"),
        ({"seed": 1}, "seed is set by AutoencoderTransformer's parameter random_state"),
        ({"clip": 1.0}, "train_options has 'clip', which is not a training option"),
        ([("clip_norm", 1.0)], "train_options=.* must be a dict"),
        ({"clip_norm": -1.0}, "clip_norm=-1.0 must be a positive finite number"),
    ],
)
def test_an_estimators_train_options_are_checked(train_options, message):
    est = AutoencoderTransformer(hidden=(4,), epochs=1, train_options=train_options)
    with pytest.raises(ValueError, match=message):
        est.fit(X)


def test_an_estimators_train_options_survive_clone_and_save(tmp_path):
    from sklearn.base import clone

    est = AutoencoderTransformer(hidden=(4,), epochs=1, train_options={"clip_norm": 0.5})
    assert clone(est).get_params()["train_options"] == {"clip_norm": 0.5}
    path = est.fit(X).save(tmp_path / "t.safetensors")
    back = AutoencoderTransformer.load(path)
    assert back.get_params()["train_options"] == {"clip_norm": 0.5}


def test_a_classifier_estimator_takes_the_fused_step_for_its_autoencoder_only(monkeypatch):
    probe = Probe(monkeypatch)
    est = AutoencoderClassifier(
        hidden=(4,), epochs=1, classifier_epochs=1, train_options={"step": "fused"}
    ).fit(X, Y)
    # The autoencoder, then the head on its codings, then everything (mode="finetune").
    assert [r["steps"] for r in probe.runs] == [["fused"], ["autograd"], ["autograd"]]
    assert est.history_["step"] == ["fused"]
