"""A classifier on a pretrained encoder: what each mode trains, the labelled rows, checkpoints."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import codings
from codings import classify
from codings.classify import (
    Classifier,
    classifier_for,
    features,
    labelled,
    predict,
    score,
    stratified_subset,
    train_classifier,
)

_SIBLING = Path(__file__).resolve().parents[1].parent / "shared" / "data"
_DATA = os.environ.get("CODINGS_DATA_DIR") or (str(_SIBLING) if _SIBLING.exists() else None)


def _blobs(n=300, d=12, k=3, seed=0):
    """k well separated classes in d dimensions, values in [0, 1]."""
    g = np.random.default_rng(seed)
    centres = g.random((k, d))
    y = np.arange(n) % k
    X = np.clip(centres[y] + 0.05 * g.standard_normal((n, d)), 0, 1).astype(np.float32)
    return X, y


def _ae(**kw):
    return codings.build("stacked", n_features=12, hidden=(8, 4), tied=True, seed=1, **kw)


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before, module):
    return {k for k, v in module.state_dict().items() if not torch.equal(before[k], v)}


def test_frozen_trains_only_the_head_on_codings_computed_once(monkeypatch):
    ae = _ae()
    X, y = _blobs()
    ae_before = _state(ae)
    seen = []
    real_fit = classify.fit

    def spy(model, rows, **kw):
        seen.append((model, rows.clone()))
        return real_fit(model, rows, **kw)

    monkeypatch.setattr(classify, "fit", spy)
    clf, hist = train_classifier(ae, X, y, mode="frozen", epochs=3, device="cpu")
    ((model, rows),) = seen
    # Only the head was handed to fit, with the encoder's codings and the label appended.
    assert set(dict(model.named_parameters())) == {
        f"head.{k}" for k, _ in clf.head.named_parameters()
    }
    with torch.no_grad():
        Z = ae.encode(torch.from_numpy(X))
    torch.testing.assert_close(rows[:, :-1], Z, rtol=0, atol=0)
    assert torch.equal(rows[:, -1].long(), torch.from_numpy(y))
    # The encoder is still the autoencoder's, bit for bit; the autoencoder itself is untouched.
    for k, v in clf.encoder.state_dict().items():
        assert torch.equal(v, ae.encoder.state_dict()[k])
    assert not _changed(ae_before, ae)
    assert len(hist) == 3 and "val_accuracy" not in hist.last


def test_finetune_starts_from_the_encoder_and_trains_it_scratch_does_not_use_it():
    ae = _ae()
    X, y = _blobs()
    x = torch.from_numpy(X[:7])
    start = classifier_for(ae, n_classes=3, seed=0)
    torch.testing.assert_close(start.encode(x), ae.encode(x), rtol=0, atol=0)
    fresh = classifier_for(ae, n_classes=3, seed=0, pretrained=False)
    assert not torch.equal(fresh.encode(x), ae.encode(x))

    clf, _ = train_classifier(ae, X, y, mode="finetune", epochs=2, device="cpu")
    assert _changed(_state(start), clf) >= {"encoder.0.0.weight", "head.0.0.weight"}
    scratch, _ = train_classifier(ae, X, y, mode="scratch", epochs=2, device="cpu")
    same_init = classifier_for(ae, n_classes=3, seed=0, pretrained=False)
    assert _changed(_state(same_init), scratch)  # trained, from the seeded random network
    assert not torch.equal(scratch.encoder[0][0].weight, clf.encoder[0][0].weight)


def test_finetune_stages_head_then_all_at_a_tenth_of_the_rate():
    X, y = _blobs(90)
    seen = []
    _, hist = train_classifier(
        _ae(),
        X,
        y,
        X_val=X,
        y_val=y,
        mode="finetune",
        epochs=2,
        lr=1e-2,
        anneal_epochs=1,
        callbacks=[lambda e, r, m: seen.append((e, r["stage"]))],
        device="cpu",
    )
    stages = [(r["epoch"], r["stage"], r["lr"]) for r in hist.records]
    assert stages == [
        (1, "head", 1e-2),
        (2, "head", 1e-2),
        (3, "all", 1e-3),
        (4, "all", 1e-3),
        (5, "all, annealed", 1e-4),
    ]
    assert seen == [(e, s) for e, s, _ in stages]


def test_optimizer_and_schedule_reach_every_stage(monkeypatch):
    X, y = _blobs(90)
    seen = []
    real_fit = classify.fit

    def spy(model, rows, **kw):
        o = kw["options"]
        seen.append((o.optimizer, o.lr_schedule, o.lr))
        return real_fit(model, rows, **kw)

    monkeypatch.setattr(classify, "fit", spy)
    kw = dict(mode="finetune", epochs=1, lr=1e-2, device="cpu")
    clf, _ = train_classifier(
        _ae(), X, y, optimizer="sgd", lr_schedule="cosine", anneal_epochs=1, **kw
    )
    assert seen == [("sgd", "cosine", 1e-2), ("sgd", "cosine", 1e-3), ("sgd", "cosine", 1e-4)]
    # The schedule changes the result: the same call at a constant rate ends elsewhere.
    monkeypatch.setattr(classify, "fit", real_fit)
    const, _ = train_classifier(_ae(), X, y, optimizer="sgd", anneal_epochs=1, **kw)
    assert not torch.equal(clf.head[0][0].weight, const.head[0][0].weight)


def test_loss_is_cross_entropy_on_labelled_rows():
    clf = classifier_for(_ae(), n_classes=3, hidden=(5,))
    X, y = _blobs(20)
    rows = labelled(X, y)
    assert rows.shape == (20, 13) and torch.equal(rows[:, -1], torch.from_numpy(y).float())
    clf.eval()
    total, parts = clf.loss(rows)
    logits = clf(torch.from_numpy(X))
    torch.testing.assert_close(total, F.cross_entropy(logits, torch.from_numpy(y)))
    acc = float((logits.argmax(1).numpy() == y).mean())
    assert parts["accuracy"].item() == pytest.approx(acc)
    assert score(clf, X, y)["accuracy"] == pytest.approx(acc)
    assert np.array_equal(predict(clf, X), logits.argmax(1).numpy())
    with pytest.raises(ValueError, match="label appended as the last column"):
        clf.loss(torch.from_numpy(X))


def test_learns_separable_classes_in_every_mode():
    ae = _ae()
    codings.fit(ae, _blobs(600)[0], epochs=20, lr=1e-2, device="cpu")
    X, y = _blobs(300, seed=0)
    Xt, yt = _blobs(300, seed=0)  # same centres (same seed), so same classes
    for mode in classify.MODES:
        clf, _ = train_classifier(ae, X, y, mode=mode, epochs=60, lr=1e-2, device="cpu")
        assert score(clf, Xt, yt)["accuracy"] > 0.95, mode


def test_dropout_acts_in_training_only_and_survives_a_reload(tmp_path):
    clf = classifier_for(_ae(), n_classes=3, hidden=(50,), dropout=0.5)
    assert sum(isinstance(m, torch.nn.Dropout) for m in clf.head) == 2
    x = torch.rand(4, 12)
    clf.train()
    assert not torch.equal(clf(x), clf(x))
    clf.eval()
    assert torch.equal(clf(x), clf(x))
    codings.save(clf, tmp_path / "c.safetensors")
    back = codings.load(tmp_path / "c.safetensors")
    assert back.config["kwargs"]["dropout"] == 0.5 and torch.equal(back(x), clf(x))
    with pytest.raises(ValueError, match="dropout=1.0 must be in"):
        classifier_for(_ae(), dropout=1.0)


def test_checkpoint_roundtrip_rebuilds_the_classifier(tmp_path):
    ae = _ae(l2=1e-3)
    X, y = _blobs()
    clf, _ = train_classifier(ae, X, y, mode="finetune", epochs=2, device="cpu")
    codings.save(clf, tmp_path / "clf.safetensors")
    back = codings.load(tmp_path / "clf.safetensors")
    assert isinstance(back, Classifier) and back.config == clf.config
    assert back.config["kwargs"]["encoder_kwargs"]["hidden"] == [8, 4]
    x = torch.from_numpy(X)
    with torch.no_grad():
        assert torch.equal(back(x), clf(x))
    assert np.array_equal(features(back, X), features(clf, X))


def test_features_are_the_codings_as_numpy():
    ae = _ae()
    X, y = _blobs()
    Z = features(ae, X)
    assert Z.dtype == np.float32 and Z.shape == (300, 4)
    with torch.no_grad():
        np.testing.assert_array_equal(Z, ae.encode(torch.from_numpy(X)).numpy())
    from sklearn.linear_model import LogisticRegression

    assert LogisticRegression(max_iter=500).fit(Z, y).score(Z, y) > 0.9


def test_stratified_subset():
    y = np.repeat(np.arange(10), [100, 50, 100, 100, 100, 100, 100, 100, 100, 150])
    idx = stratified_subset(y, 100, seed=0)
    assert len(idx) == 100 and len(set(idx)) == 100 and np.all(np.diff(idx) > 0)
    counts = np.bincount(y[idx], minlength=10)
    assert counts[1] == 5 and counts[9] == 15 and counts[0] == 10
    assert np.array_equal(idx, stratified_subset(y, 100, seed=0))
    assert not np.array_equal(idx, stratified_subset(y, 100, seed=1))
    assert np.array_equal(stratified_subset(y, None), np.arange(len(y)))
    assert np.array_equal(stratified_subset(y, 10_000), np.arange(len(y)))
    with pytest.raises(ValueError, match="labels=5 must be a whole number >= 10"):
        stratified_subset(y, 5)


def test_errors():
    X, y = _blobs(30)
    with pytest.raises(ValueError, match="mode='frozn' is not known.*did you mean 'frozen'"):
        train_classifier(_ae(), X, y, mode="frozn")
    with pytest.raises(ValueError, match="class indices"):
        train_classifier(_ae(), X, y - 1)
    with pytest.raises(ValueError, match="made by codings.build"):
        classifier_for(torch.nn.Linear(3, 3))
    with pytest.raises(ValueError, match="give both X_val and y_val"):
        train_classifier(_ae(), X, y, X_val=X)
    with pytest.raises(ValueError, match="optimizer='adma' is not known.*did you mean 'adam'"):
        train_classifier(_ae(), X, y, optimizer="adma")
    with pytest.raises(ValueError, match="lr_schedule='cosin' is not known"):
        train_classifier(_ae(), X, y, lr_schedule="cosin")


def test_cli_classify_on_digits(tmp_path, capsys):
    from codings.cli import main

    ae_dir = tmp_path / "ae"  # what `codings train` leaves: the model and its metadata
    ae = codings.build("stacked", n_features=64, hidden=(16, 8), seed=0)
    codings.save(ae, ae_dir / "model.safetensors", metadata={"n_features": 64, "scaling": None})
    rc = main(
        [
            "classify",
            str(ae_dir),
            "--dataset",
            "digits",
            "--labels",
            "100",
            "--hidden",
            "16",
            "--epochs",
            "2",
            "--mode",
            "finetune",
            "--finetune-lr",
            "3e-3",
            "--lr-schedule",
            "cosine",
        ]
    )
    assert rc == 0
    text, err = capsys.readouterr()
    assert "test accuracy" in text and "Epoch" not in text  # epochs go to standard error
    assert [line.split(" - ")[0] for line in err.splitlines()] == [
        "stage 1/2: head",
        "Epoch 1/2",
        "Epoch 2/2",
        "stage 2/2: all",
        "Epoch 1/2",
        "Epoch 2/2",
    ]
    assert " - val_loss: " in err and " - val_accuracy: " in err
    saved = ae_dir / "classifier-finetune" / "model.safetensors"
    clf = codings.load(saved)
    assert clf.metadata["labels"] == 100 and clf.metadata["mode"] == "finetune"
    history = json.loads((ae_dir / "classifier-finetune" / "history.json").read_text())
    assert [(r["stage"], r["lr"]) for r in history] == [("head", 1e-3)] * 2 + [("all", 3e-3)] * 2
    assert clf.metadata["train_args"]["lr_schedule"] == "cosine"
    rc = main(
        [
            "classify",
            str(ae_dir),
            "--dataset",
            "digits",
            "--epochs",
            "1",
            "--json",
            "--out",
            str(tmp_path / "c2"),
        ]
    )
    result = json.loads(capsys.readouterr().out)
    assert rc == 0 and result["labels"] == 1439 and 0 <= result["test_accuracy"] <= 1
    assert main(["classify", str(ae_dir), "--dataset", "digits", "--labels", "3"]) == 1
    assert "--labels" in capsys.readouterr().err


@pytest.mark.skipif(_DATA is None, reason="MNIST is not available (set CODINGS_DATA_DIR)")
def test_mnist_pretrained_frozen_codings_classify():
    from codings.datasets import load_dataset
    from codings.layerwise import pretrain_layerwise

    train = load_dataset("mnist", "train", data_dir=_DATA)
    test = load_dataset("mnist", "test", data_dir=_DATA)
    ae = codings.build("stacked", n_features=784, hidden=(64, 32), tied=True, seed=0)
    pretrain_layerwise(ae, train.X[:3000], epochs=2, batch_size=64, lr=3e-3, device="cpu")
    idx = stratified_subset(train.y, 500, seed=0)
    clf, _ = train_classifier(
        ae, train.X[idx], train.y[idx], mode="frozen", epochs=30, lr=3e-3, device="cpu"
    )
    assert score(clf, test.X[:2000], test.y[:2000])["accuracy"] > 0.75  # chance: 0.1
