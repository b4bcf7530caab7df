"""The one inference path: every verb goes through codings.inference, on the model's device and
dtype, in batches by one rule, leaving the model as it found it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import codings
from codings import classify, diagnostics, inference, layerwise, metrics
from codings.estimators import (
    AutoencoderClassifier,
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
)
from codings.train import evaluate

FAST = dict(hidden=(8,), latent_dim=3, epochs=2, batch_size=32, device="cpu", scale=None)


def _data(n=300, d=12, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).random((n, d)).astype(dtype)


def _ae(d=12, **kw):
    return codings.build("stacked", n_features=d, hidden=(8, 4), seed=1, **kw)


@pytest.fixture
def counted(monkeypatch):
    """Rows of every batch that codings.inference converts (its one place that does)."""
    seen: list[int] = []
    convert = inference._batch

    def spy(chunk, *args, **kwargs):
        seen.append(len(chunk))
        return convert(chunk, *args, **kwargs)

    monkeypatch.setattr(inference, "_batch", spy)
    return seen


def _direct(fn, X, model):
    """``fn`` on all of ``X`` at once, by hand: the answer every verb must give."""
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            return fn(torch.as_tensor(X)).numpy()
    finally:
        model.train(was)


def _padded(fn, X, rows=inference.PADDED_ROWS):
    """``fn`` on ``X`` padded with zero rows to ``rows`` rows, by hand (the estimators' shape)."""
    xb = torch.zeros((rows, X.shape[1]), dtype=torch.float32)
    xb[: len(X)] = torch.as_tensor(X, dtype=torch.float32)
    with torch.no_grad():
        return fn(xb)[: len(X)].numpy()


# --- every entry point goes through the one helper and answers as a forward pass -------------


def test_metrics_verbs_go_through_the_helper_and_equal_a_forward_pass(counted, tmp_path):
    X = _data()
    model = _ae()
    model.train()
    Z = metrics.encode(model, X)
    assert counted == [300]
    np.testing.assert_array_equal(Z, _direct(model.encode, X, model))
    np.testing.assert_array_equal(metrics.decode(model, Z), _direct(model.decode, Z, model))
    R = metrics.reconstruct(model, X)
    np.testing.assert_array_equal(R, _direct(model, X, model))
    err = metrics.reconstruction_errors(model, X)
    np.testing.assert_array_equal(err, ((R - X) ** 2).mean(1))  # NumPy's row means, to the bit
    metrics.encode_to_npy(model, X, tmp_path / "z.npy", batch_size=128)
    np.testing.assert_allclose(np.load(tmp_path / "z.npy"), Z, rtol=1e-5, atol=1e-7)
    # encode, decode, reconstruct, errors; encode_to_npy: its probe row, then 128 + 128 + 44
    assert counted == [300] * 4 + [1, 128, 128, 44]
    assert model.training  # each verb put the model back in training mode


def test_evaluate_goes_through_the_helper_and_keeps_its_seeded_draws(counted):
    X = _data(n=50)
    model = _ae()
    result = evaluate(model, X, batch_size=20)
    assert counted == [20, 20, 10]
    counted.clear()
    evaluate(model, _data(n=5000))  # the validation losses' batch size, as it always was
    evaluate(model, _data(n=5000), batch_size=None)  # the inference rule's
    assert counted == [2048, 2048, 904, 4096, 904]
    counted.clear()
    R = _direct(model, X, model)
    assert result["mse"] == pytest.approx(float(((R - X) ** 2).mean()), rel=1e-6)
    vae = codings.build("vae", n_features=12, hidden=(8,), latent_dim=2, seed=0)
    state = torch.get_rng_state()
    a, b = evaluate(vae, X, seed=3), evaluate(vae, X, seed=3)
    assert a == b and a != evaluate(vae, X, seed=4)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's random state untouched


def test_estimator_verbs_go_through_the_helper_padded_to_one_shape(counted):
    X = _data(n=300).astype(np.float64)
    est = AutoencoderTransformer(**FAST, random_state=0).fit(X)
    m = est.model_
    counted.clear()
    Z = est.transform(X)
    assert counted == [256, 44]  # the last batch padded to 256 rows
    np.testing.assert_array_equal(
        Z, np.vstack([_padded(m.encode, X[:256]), _padded(m.encode, X[256:])])
    )
    assert Z.dtype == np.float64
    R = est.inverse_transform(Z[:10])
    np.testing.assert_array_equal(R, _padded(m.decode, Z[:10]))
    s = est.score_samples(X[:10])
    np.testing.assert_array_equal(s, -_padded(lambda x: (m(x) - x).square().mean(1), X[:10]))
    assert counted == [256, 44, 10, 10]

    det = AutoencoderOutlierDetector(**FAST, random_state=0).fit(X)
    counted.clear()
    np.testing.assert_array_equal(
        det.predict(X[:5]), np.where(det.decision_function(X[:5]) < 0, -1, 1)
    )
    assert counted == [5, 5]

    y = (X[:, 0] > 0.5).astype(int)
    clf = AutoencoderClassifier(**FAST, classifier_epochs=2, random_state=0).fit(X, y)
    counted.clear()
    logits = _padded(clf.model_, X[:7]).astype(np.float64)
    np.testing.assert_array_equal(clf.predict(X[:7]), clf.classes_[logits.argmax(1)])
    p = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_array_equal(clf.predict_proba(X[:7]), p / p.sum(1, keepdims=True))
    assert counted == [7, 7]


def test_classify_verbs_go_through_the_helper(counted):
    X = _data()
    y = np.arange(300) % 3
    clf = classify.classifier_for(_ae(), n_classes=3, hidden=(5,), seed=0)
    logits = _direct(clf, X, clf)
    np.testing.assert_array_equal(classify.predict(clf, X), logits.argmax(1))
    ce = torch.nn.functional.cross_entropy(torch.as_tensor(logits), torch.as_tensor(y))
    got = classify.score(clf, X, y, batch_size=128)
    assert got["cross_entropy"] == pytest.approx(float(ce), rel=1e-6)
    assert got["accuracy"] == pytest.approx(float((logits.argmax(1) == y).mean()))
    np.testing.assert_array_equal(classify.features(clf, X), _direct(clf.encode, X, clf))
    assert counted == [300, 128, 128, 44, 300]


def test_training_code_gets_device_tensors_through_the_helper(counted):
    X = torch.as_tensor(_data())
    model = _ae()
    blocks = list(model.encoder)[:1]
    h = layerwise._codings(blocks, X)
    assert isinstance(h, torch.Tensor) and not h.requires_grad
    assert torch.equal(h, torch.as_tensor(_direct(nn.Sequential(*blocks), X, model)))
    clf = classify.classifier_for(model, n_classes=3, hidden=(5,), seed=0)
    z = classify._encode(clf, X)
    assert isinstance(z, torch.Tensor)
    assert torch.equal(z, torch.as_tensor(_direct(clf.encode, X, clf)))
    codes = diagnostics._codings(model, X.numpy())
    np.testing.assert_array_equal(codes, _direct(model.encode, X.numpy(), model))
    assert counted == [300, 300, 300]


def test_likelihood_bounds_read_a_batch_at_a_time_and_leave_the_mode(counted):
    from codings.generative import likelihood_bounds

    X = _data(n=10)
    vae = codings.build("vae", n_features=12, hidden=(8,), latent_dim=2, seed=0)
    vae.train()
    r = likelihood_bounds(vae, X, k=5, batch_size=4, seed=1)
    assert counted == [4, 4, 2]
    assert vae.training
    assert r["log_likelihood"].shape == r["elbo"].shape == (10,)
    again = likelihood_bounds(vae, X, k=5, batch_size=4, seed=1)
    np.testing.assert_array_equal(again["log_likelihood"], r["log_likelihood"])


# --- the model is left as it was, whatever its dtype ---------------------------------------------


def test_modes_device_and_dtype_are_left_as_they_were():
    model = _ae()
    model.train()
    model.decoder.eval()  # a submodule in another mode than its parent stays so
    before = {name: m.training for name, m in model.named_modules()}
    params = [(p.device, p.dtype) for p in model.parameters()]
    metrics.encode(model, _data())
    evaluate(model, _data())
    assert {name: m.training for name, m in model.named_modules()} == before
    assert [(p.device, p.dtype) for p in model.parameters()] == params


def test_the_mode_comes_back_after_an_error():
    model = _ae()
    model.train()
    with pytest.raises(ValueError, match=r"non-finite value at index \(5, 2\)"):
        bad = _data(n=10)
        bad[5, 2] = np.nan
        metrics.encode(model, bad, batch_size=4)  # index counted over X, not the batch
    assert model.training


class _Probe(nn.Module):
    """Records the device and dtype of every batch it is given."""

    def __init__(self, dtype=torch.float32):
        super().__init__()
        self.w = nn.Parameter(torch.eye(3, dtype=dtype))
        self.seen: list[tuple] = []

    def forward(self, x):
        self.seen.append((x.device, x.dtype, tuple(x.shape)))
        return x @ self.w


def test_batches_arrive_on_the_models_device_in_its_dtype():
    """Data follow the model: a float64 model gets float64 batches (from float32 data), and a
    model on another device (the 'meta' device stands in for an accelerator here) gets every
    batch on that device, never the whole data set at once."""
    X = _data(n=10, d=3)
    probe = _Probe(torch.float64)
    out = inference.batched(probe, X, batch_size=4)
    assert [s[1] for s in probe.seen] == [torch.float64] * 3
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, X.astype(np.float64))
    meta = _Probe().to("meta")
    out = inference.batched(meta, X, batch_size=4, numpy=False)
    assert out.device.type == "meta" and out.shape == (10, 3)
    assert meta.seen == [(torch.device("meta"), torch.float32, (4, 3))] * 2 + [
        (torch.device("meta"), torch.float32, (2, 3))
    ]
    if torch.cuda.is_available():  # a real accelerator, where there is one
        gpu = _ae(d=3).cuda()
        Z = metrics.encode(gpu, X)
        np.testing.assert_allclose(Z, metrics.encode(_ae(d=3), X), rtol=1e-5, atol=1e-6)
        assert next(gpu.parameters()).is_cuda


def test_a_float64_model_encodes_float64_data_exactly():
    X = _data(dtype=np.float64)
    model = _ae().double()
    Z = metrics.encode(model, X)
    assert Z.dtype == np.float64
    np.testing.assert_array_equal(Z, _direct(model.encode, X, model))
    assert evaluate(model, X)["mse"] == pytest.approx(
        float(((_direct(model, X, model) - X) ** 2).mean()), rel=1e-12
    )


# --- memory maps, batch sizes -----------------------------------------------------------------


class _Reads:
    """A memory map that records how many rows each read takes."""

    def __init__(self, mm):
        self.mm, self.reads = mm, []
        self.shape, self.dtype, self.ndim = mm.shape, mm.dtype, mm.ndim

    def __len__(self):
        return len(self.mm)

    def __getitem__(self, key):
        part = self.mm[key]
        self.reads.append(len(part))
        return part

    def __array__(self, *args, **kwargs):  # reading it whole is what must not happen
        raise AssertionError("the memory map was read whole")


def test_a_memory_map_is_read_one_batch_at_a_time(tmp_path):
    X = _data(n=100)
    np.save(tmp_path / "x.npy", X)
    X_map = _Reads(np.load(tmp_path / "x.npy", mmap_mode="r"))
    model = _ae()
    Z = metrics.encode(model, X_map, batch_size=32)
    assert X_map.reads == [32, 32, 32, 4]
    np.testing.assert_allclose(Z, metrics.encode(model, X), rtol=1e-6, atol=1e-7)
    X_map.reads.clear()
    evaluate(model, X_map, batch_size=32)
    assert X_map.reads == [32, 32, 32, 4]
    X_map.reads.clear()
    metrics.encode_to_npy(model, X_map, tmp_path / "z.npy", batch_size=50)
    assert X_map.reads == [1, 50, 50]


def test_batch_sizes_one_and_a_partial_last_batch_agree():
    X = _data(n=23)
    model = _ae()
    whole = metrics.encode(model, X)
    for rows in (1, 5, 22):  # 23 batches of one; a last batch of 3; a last batch of 1
        np.testing.assert_allclose(
            metrics.encode(model, X, batch_size=rows), whole, rtol=1e-6, atol=1e-6
        )
    # Padded to one shape, a row's result does not depend on the rows around it, to the bit.
    alone = np.vstack([inference.batched(model.encode, X[i : i + 1], pad=True) for i in range(23)])
    np.testing.assert_array_equal(alone, inference.batched(model.encode, X, pad=True))
    np.testing.assert_array_equal(
        inference.batched(model.encode, X, batch_size=5, pad=True)[20:],
        _padded(model.encode, X[20:], rows=5),
    )


def test_class_predictions_do_not_depend_on_the_batch_size():
    X = _data(n=23)
    clf = classify.classifier_for(_ae(), n_classes=3, hidden=(5,), seed=0)
    whole = classify.predict(clf, X)
    for rows in (1, 5, 22):
        np.testing.assert_array_equal(classify.predict(clf, X, batch_size=rows), whole)
    got = [classify.score(clf, X, np.arange(23) % 3, batch_size=rows) for rows in (1, 5, None)]
    assert got[0]["accuracy"] == got[1]["accuracy"] == got[2]["accuracy"]
    assert got[0]["cross_entropy"] == pytest.approx(got[2]["cross_entropy"], rel=1e-6)


def test_the_batch_size_rule():
    narrow = _ae()
    assert inference.rows_per_batch(narrow, _data()) == inference.ROWS
    assert inference.rows_per_batch(narrow, _data(), pad=True) == inference.PADDED_ROWS
    assert inference.rows_per_batch(narrow, _data(), 7) == 7
    wide = np.zeros((2, 1_000_000), dtype=np.float32)  # 4 MB a row: 16 rows in 64 MiB
    assert inference.rows_per_batch(narrow, wide) == inference.BUDGET // 4_000_000 == 16
    assert inference.rows_per_batch(narrow.double(), wide) == 8  # float64 rows take twice
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            inference.rows_per_batch(narrow, None, bad)
    with pytest.raises(ValueError, match="n_samples >= 1"):
        metrics.encode(narrow, np.zeros((0, 12), dtype=np.float32))
