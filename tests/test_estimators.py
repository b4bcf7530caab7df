import inspect
import pickle
import sys
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import codings
from codings import (
    AutoencoderClassifier,
    AutoencoderOutlierDetector,
    AutoencoderTransformer,
    build,
)
from codings.checkpoint import CheckpointError
from codings.estimators import NotFittedError
from codings.layers import TiedLinear

# Small networks and few epochs keep scikit-learn's checks fast; the defaults stay useful.
FAST = dict(hidden=(8,), epochs=5, batch_size=64, lr=1e-2, device="cpu")

# Every check passes for all three, so no check is listed as an expected failure. A check that
# cannot hold for a neural network would go here with its reason, e.g.
# {"AutoencoderTransformer": {"check_name": "why it cannot hold"}}.
EXPECTED_FAILURES: dict[str, dict[str, str]] = {}
# scikit-learn < 1.6 has no expected_failed_checks (it lists them in an _xfail_checks tag).
_XFAIL = (
    {"expected_failed_checks": lambda est: EXPECTED_FAILURES.get(type(est).__name__, {})}
    if "expected_failed_checks" in inspect.signature(parametrize_with_checks).parameters
    else {}
)


@parametrize_with_checks(
    [
        AutoencoderTransformer(**FAST),
        AutoencoderOutlierDetector(**FAST),
        AutoencoderClassifier(**FAST, classifier_epochs=15, classifier_lr=3e-2),
    ],
    **_XFAIL,
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def rank2():
    """200 points on a 2-D plane through the origin in 6-D: exactly reconstructable from 2."""
    rng = np.random.default_rng(0)
    return (rng.normal(size=(200, 2)) @ rng.normal(size=(2, 6))).astype(np.float32)


def test_exports():
    assert codings.estimators.AutoencoderTransformer is AutoencoderTransformer
    assert codings.AutoencoderOutlierDetector is codings.estimators.AutoencoderOutlierDetector


def test_transform_is_the_encoder_and_inverse_transform_the_decoder(rank2):
    est = AutoencoderTransformer(
        **{**FAST, "hidden": (5,)}, latent_dim=3, scale=None, random_state=0
    )  # the data as given: the estimator's methods equal the bare model's
    Z = est.fit(rank2).transform(rank2)
    assert Z.shape == (200, 3) and est.latent_dim_ == 3 and est.n_features_in_ == 6
    with torch.no_grad():
        expected = est.model_.encode(torch.from_numpy(rank2)).numpy()
        R = est.model_(torch.from_numpy(rank2)).numpy()
    np.testing.assert_allclose(Z, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(est.inverse_transform(Z), R, rtol=1e-5, atol=1e-5)
    # score_samples is the negative per-sample mean squared error of that reconstruction.
    np.testing.assert_allclose(est.score_samples(rank2), -((R - rank2) ** 2).mean(1), rtol=1e-5)
    assert est.score(rank2) == pytest.approx(-((R - rank2) ** 2).mean(), rel=1e-5)
    assert list(est.get_feature_names_out()) == [f"autoencodertransformer{i}" for i in range(3)]


def test_linear_model_reconstructs_rank2_data_exactly(rank2):
    # Data on a 2-D subspace: the linear autoencoder with 2 codings can reconstruct it exactly,
    # with 1 coding it cannot (the best it can do is PCA's error with 1 component).
    X = rank2 / rank2.std()
    two = AutoencoderTransformer(
        "linear", latent_dim=2, epochs=600, batch_size=200, lr=1e-2, scale=None, device="cpu",
        random_state=0,
    ).fit(X)  # fmt: skip
    assert -two.score(X) < 1e-5 * X.var()
    one = clone(two).set_params(latent_dim=1).fit(X)
    s = np.linalg.svd(X - X.mean(0), compute_uv=False)
    pca1 = s[1] ** 2 / X.size  # PCA's per-entry MSE with one component
    assert -one.score(X) == pytest.approx(pca1, rel=0.02)


def test_builder_defaults_and_arguments():
    wide = np.random.default_rng(0).random((20, 200))
    est = AutoencoderTransformer(epochs=1, device="cpu", random_state=0).fit(wide)
    assert est.latent_dim_ == 150  # stacked's default hidden=(300, 150)
    # None: the builder's default, but for init (codings.defaults.INIT) and, on a small table,
    # the coding layer's activation (codings.defaults.coding_activation)
    assert est.model_.config["kwargs"] == {
        "n_features": 200, "init": "xavier", "coding_activation": "linear"
    }  # fmt: skip
    # 150 features or fewer: 300-150 would not compress, so one hidden layer and half the
    # features as codings (codings.defaults.small_input_code)
    X = np.random.default_rng(0).random((20, 7))
    est = AutoencoderTransformer(epochs=1, device="cpu", random_state=0).fit(X)
    assert est.latent_dim_ == 3
    assert est.model_.config["kwargs"] == {
        "n_features": 7, "hidden": [64], "latent_dim": 3, "init": "xavier",
        "coding_activation": "linear",
    }  # fmt: skip
    lin = AutoencoderTransformer("linear", epochs=1, device="cpu", random_state=0).fit(X)
    assert lin.latent_dim_ == 2
    est = AutoencoderTransformer(
        hidden=[6, 4], activation="tanh", tied=True, l2=1e-3, epochs=1, device="cpu"
    ).fit(X)
    assert est.model_.config["kwargs"] == {
        "n_features": 7, "hidden": [6, 4], "activation": "tanh", "l2": 1e-3, "tied": True,
        "init": "xavier", "coding_activation": "linear",
    }  # fmt: skip
    assert isinstance(est.model_.decoder[0][0], TiedLinear)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        (dict(model="stacke"), "did you mean 'stacked'"),
        (dict(model="linear", hidden=(4,)), "hidden=.* does not apply to model='linear'"),
        (dict(model_params={"hiden": (4,)}), "does not take.*did you mean 'hidden'"),
        (dict(model_params={"hidden": (4,)}), "pass hidden=.* directly"),
        (dict(model_params={"n_features": 3}), "n_features comes from X"),
        (dict(validation_fraction=1.0), r"validation_fraction=1.0 must be a number in \[0, 1\)"),
        (dict(optimizer="adma"), "did you mean 'adam'"),
        (dict(activation="rleu"), "activation='rleu' is not known"),
    ],
)
def test_bad_parameters_are_named_in_fit(params, match):
    est = AutoencoderTransformer(**{**FAST, **params})
    assert est.get_params()["model"] == params.get("model", "stacked")  # __init__ only stores
    with pytest.raises(ValueError, match=match):
        est.fit(np.zeros((10, 3)))


def test_unfitted_error_is_sklearns():
    with pytest.raises(SklearnNotFittedError, match="call fit"):
        AutoencoderTransformer().transform(np.zeros((2, 3)))
    assert issubclass(NotFittedError, SklearnNotFittedError)


def test_random_state_reproducible_and_global_rng_untouched(rank2):
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    a = AutoencoderTransformer(**FAST, random_state=3).fit_transform(rank2)
    b = AutoencoderTransformer(**FAST, random_state=3).fit_transform(rank2)
    c = AutoencoderTransformer(**FAST, random_state=4).fit_transform(rank2)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert torch.equal(torch.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)


def test_a_sample_gets_the_same_codings_alone_or_in_a_batch(digits):
    est = AutoencoderTransformer(**FAST, random_state=0).fit(digits.X[:300])
    full = est.transform(digits.X[:600])
    alone = np.vstack([est.transform(digits.X[i : i + 1]) for i in (0, 299, 599)])
    np.testing.assert_array_equal(alone, full[[0, 299, 599]])  # bit for bit


def test_validation_fraction_and_patience():
    # Noise has nothing to learn: the validation loss soon stops falling and patience stops.
    X = np.random.default_rng(0).normal(size=(200, 6))
    est = AutoencoderTransformer(
        **{**FAST, "epochs": 300}, validation_fraction=0.25, patience=3, scale=None, random_state=0
    ).fit(X)
    hist = est.history_
    assert "val_loss" in hist.last and len(hist) < 300
    assert hist["val_loss"][-4] == min(hist["val_loss"])  # best: `patience` epochs before the end
    # The best weights were put back: on the held-out quarter the model scores the best loss.
    seed = np.random.RandomState(0).randint(np.iinfo(np.int32).max)  # fit's draw
    X_val = X[np.random.default_rng(seed).permutation(200)[:50]].astype(np.float32)
    loss = codings.evaluate(est.model_, X_val)["loss"]
    assert loss == pytest.approx(min(hist["val_loss"]), rel=1e-5)


def test_layerwise_pretraining_then_the_whole_stack(rank2):
    est = AutoencoderTransformer(
        hidden=(5, 3), layerwise=True, epochs=4, device="cpu", random_state=0
    ).fit(rank2)
    stages = [r["stage"] for r in est.history_.records]
    assert stages == ["phase 1"] * 4 + ["phase 2"] * 4 + ["finetune"] * 4


def test_layerwise_without_the_layerwise_module_is_a_clear_error(monkeypatch, rank2):
    monkeypatch.setitem(sys.modules, "codings.layerwise", None)  # as if it could not import
    with pytest.raises(ValueError, match="layerwise=True needs codings.layerwise"):
        AutoencoderTransformer(**FAST, layerwise=True).fit(rank2)


def test_pickle_round_trip_gives_identical_outputs(digits):
    X = digits.X[:200]
    est = AutoencoderTransformer(**{**FAST, "tied": True}, random_state=0).fit(X)
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(back.transform(X), est.transform(X))
    np.testing.assert_array_equal(back.score_samples(X), est.score_samples(X))
    tied = back.model_.decoder[0][0]
    assert tied.source.weight is back.model_.encoder[0][0].weight  # still one parameter


def test_estimators_saved_by_codings_0_1_0_still_load():
    from pathlib import Path

    from sklearn.datasets import load_iris

    from codings import AutoencoderClassifier, AutoencoderTransformer

    old = Path(__file__).parent / "data" / "estimator_v0_1_0"
    X = load_iris().data[:5]
    clf = AutoencoderClassifier.load(old / "classifier.safetensors")
    tr = AutoencoderTransformer.load(old / "transformer.safetensors")
    got = np.hstack([clf.predict_proba(X), tr.transform(X)])
    assert np.allclose(got, np.load(old / "expected.npy"), atol=1e-6)
    assert clf.autoencoder_.config["kwargs"]["hidden"] == [3]


def test_save_load_transformer(tmp_path, digits):
    X = digits.X[:200]
    est = AutoencoderTransformer(**FAST, random_state=0).fit(X)
    path = est.save(tmp_path / "t.safetensors")
    back = AutoencoderTransformer.load(path)
    assert back.get_params() == est.get_params()
    assert back.n_features_in_ == 64 and back.latent_dim_ == 8
    assert back.history_.records == est.history_.records
    np.testing.assert_array_equal(back.transform(X), est.transform(X))
    bare = codings.load(path)  # the same file is a plain codings model file
    assert bare.metadata["estimator"]["class"] == "AutoencoderTransformer"
    with pytest.raises(CheckpointError, match="holds a AutoencoderTransformer"):
        AutoencoderOutlierDetector.load(path)
    codings.save(build("linear", n_features=4), tmp_path / "m.safetensors")
    with pytest.raises(CheckpointError, match="without a saved estimator"):
        AutoencoderTransformer.load(tmp_path / "m.safetensors")


def test_outlier_detector_threshold_and_predict():
    # Inliers near a line in 4-D; the outliers lie far off it.
    rng = np.random.default_rng(0)
    direction = rng.normal(size=4)
    inliers = rng.normal(size=(400, 1)) * direction + 0.05 * rng.normal(size=(400, 4))
    outliers = 3 * rng.normal(size=(40, 4))
    det = AutoencoderOutlierDetector(
        "linear", latent_dim=1, contamination=0.05, epochs=100, batch_size=100, lr=1e-2,
        device="cpu", random_state=0,
    ).fit(inliers)  # fmt: skip
    scores = det.score_samples(inliers)
    assert det.threshold_ == -det.offset_
    assert det.offset_ == pytest.approx(np.percentile(scores, 5))
    assert np.mean(det.predict(inliers) == -1) == pytest.approx(0.05, abs=1 / 400)
    np.testing.assert_allclose(det.decision_function(inliers), scores - det.offset_)
    assert set(np.unique(det.fit_predict(inliers))) == {-1, 1}
    # Errors above threshold_ are exactly the outliers.
    err = -det.score_samples(outliers)
    np.testing.assert_array_equal(det.predict(outliers) == -1, err > det.threshold_)
    assert np.mean(det.predict(outliers) == -1) > 0.9
    with pytest.raises(ValueError, match=r"contamination=0.7 must be a fraction in \(0, 0.5\]"):
        clone(det).set_params(contamination=0.7).fit(inliers)


def test_save_load_detector(tmp_path, digits):
    det = AutoencoderOutlierDetector(**FAST, random_state=0).fit(digits.X[:200])
    back = AutoencoderOutlierDetector.load(det.save(tmp_path / "d.safetensors"))
    assert (back.offset_, back.threshold_) == (det.offset_, det.threshold_)
    np.testing.assert_array_equal(back.decision_function(digits.X), det.decision_function(digits.X))


def test_outlier_detector_one_class_on_mnist(data_dir):
    # Normal class: the digit 1; 1,000 training images, 2,000 test images, a few seconds.
    from codings.datasets import load_dataset

    train = load_dataset("mnist", "train", data_dir=data_dir)
    test = load_dataset("mnist", "test", data_dir=data_dir)
    det = AutoencoderOutlierDetector(
        hidden=(64,), latent_dim=16, output="bernoulli", epochs=5, device="cpu", random_state=0
    ).fit(train.X[train.y == 1][:1000])
    X, normal = test.X[:2000], test.y[:2000] == 1
    assert roc_auc_score(normal, det.score_samples(X)) > 0.98
    # Most test ones are inliers, most other digits outliers.
    pred = det.predict(X)
    assert np.mean(pred[normal] == 1) > 0.8 and np.mean(pred[~normal] == -1) > 0.8


def test_classifier_frozen_keeps_the_unsupervised_encoder(digits):
    X, y = digits.X[:300], digits.y[:300]
    U = digits.X[300:600]
    params = dict(hidden=(16,), epochs=3, device="cpu", random_state=0)
    clf = AutoencoderClassifier(
        **params, mode="frozen", classifier_epochs=2, classifier_lr=1e-2
    ).fit(X, y, X_unlabeled=U)
    # The pretraining saw X and X_unlabeled, exactly as a transformer fitted on both.
    ae = AutoencoderTransformer(**params).fit(np.vstack([X, U]))
    for a, b in zip(clf.model_.encoder.parameters(), ae.model_.encoder.parameters(), strict=True):
        assert torch.equal(a, b)  # frozen: the classifier's encoder is the pretrained one
    fine = clone(clf).set_params(mode="finetune").fit(X, y, X_unlabeled=U)
    moved = [
        not torch.equal(a, b)
        for a, b in zip(
            fine.model_.encoder.parameters(), ae.model_.encoder.parameters(), strict=True
        )
    ]
    assert all(moved)  # finetune: the encoder learned from the labels too
    assert len(clf.history_) == 3 and len(clf.classifier_history_) == 2


def test_classifier_predicts_string_labels_and_probabilities(digits):
    X, y = digits.X, np.array(["zero", "one", "two", "three", "four"] * 2)[digits.y]
    clf = AutoencoderClassifier(
        hidden=(32,), latent_dim=16, epochs=20, classifier_epochs=30, device="cpu", random_state=0
    ).fit(X[:1000], y[:1000])
    assert sorted(clf.classes_) == sorted(set(y))
    P = clf.predict_proba(X[1000:])
    np.testing.assert_allclose(P.sum(1), 1, rtol=1e-12)
    np.testing.assert_array_equal(clf.predict(X[1000:]), clf.classes_[P.argmax(1)])
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X[1000:])), P, rtol=1e-9)
    assert clf.score(X[1000:], y[1000:]) > 0.85


def test_classifier_scratch_mode_skips_pretraining(digits):
    clf = AutoencoderClassifier(**FAST, mode="scratch", classifier_epochs=1, random_state=0)
    clf.fit(digits.X[:100], digits.y[:100])
    assert len(clf.history_) == 0 and len(clf.classifier_history_) == 1
    with pytest.raises(ValueError, match="mode='frozn' is not known.*did you mean 'frozen'"):
        clone(clf).set_params(mode="frozn").fit(digits.X[:100], digits.y[:100])


def test_save_load_classifier(tmp_path, digits):
    X, y = digits.X[:300], np.array(list("abcdefghij"))[digits.y[:300]]
    clf = AutoencoderClassifier(**FAST, classifier_epochs=3, random_state=0).fit(X, y)
    back = AutoencoderClassifier.load(clf.save(tmp_path / "c.safetensors"))
    np.testing.assert_array_equal(back.classes_, clf.classes_)
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(back.predict(X), clf.predict(X))
    assert back.classifier_history_.records == clf.classifier_history_.records
    for a, b in zip(back.autoencoder_.parameters(), clf.autoencoder_.parameters(), strict=True):
        assert torch.equal(a, b)


def test_grid_search_over_the_code_size(digits):
    X, y = digits.X[:400], digits.y[:400]
    pipe = make_pipeline(
        MinMaxScaler(),
        AutoencoderTransformer(hidden=(32,), epochs=5, device="cpu", random_state=0),
        LogisticRegression(max_iter=200),
    )
    grid = GridSearchCV(pipe, {"autoencodertransformer__latent_dim": [2, 8]}, cv=2).fit(X, y)
    assert set(grid.cv_results_["param_autoencodertransformer__latent_dim"]) == {2, 8}
    best = grid.best_params_["autoencodertransformer__latent_dim"]
    assert grid.best_estimator_[1].transform(X).shape == (400, best)


def test_set_output_pandas(rank2):
    pd = pytest.importorskip("pandas", reason="set_output(transform='pandas') needs pandas")
    est = AutoencoderTransformer(**FAST, random_state=0).set_output(transform="pandas")
    out = est.fit_transform(pd.DataFrame(rank2, columns=list("abcdef")))
    assert list(out.columns) == [f"autoencodertransformer{i}" for i in range(8)]
    assert list(est.feature_names_in_) == list("abcdef")


# --- warnings that catch a useless model (codings.diagnostics) -----------------------------------


def _standardised_breast_cancer():
    from sklearn.datasets import load_breast_cancer

    X = load_breast_cancer().data
    return ((X - X.mean(0)) / X.std(0)).astype(np.float32)


def test_fit_warns_when_the_model_is_worse_than_the_mean():
    est = AutoencoderTransformer(epochs=1, lr=1e-6, device="cpu", random_state=0)  # untrained
    with pytest.warns(codings.CodingsWarning, match="worse than predicting the mean") as record:
        est.fit(_standardised_breast_cancer())
    assert {w.filename for w in record} == {__file__}  # the warning names the line calling fit


def test_fit_checks_the_data_before_training(monkeypatch, rank2):
    from codings.diagnostics import Finding

    seen = []
    monkeypatch.setattr(
        codings.estimators,
        "check_data",
        lambda model, X: seen.append(X.shape) or [Finding("unscaled", "checked")],
    )
    est = AutoencoderOutlierDetector(**FAST, validation_fraction=0.25, random_state=0)
    with pytest.warns(codings.CodingsWarning, match="^checked$"):
        est.fit(rank2)
    assert seen == [(150, 6)]  # the training rows, without the validation share


def test_fit_of_a_good_model_raises_no_warning():
    from sklearn.datasets import load_iris

    X = load_iris().data
    X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
    est = AutoencoderTransformer(
        "linear", latent_dim=2, epochs=300, batch_size=50, lr=1e-2, device="cpu", random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.fit(X)


# --- default scaling and the default stopping rule ---------------------------------------------


@pytest.fixture(scope="module")
def breast_cancer():
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer().data  # raw units: features from 1e-3 to 4e3


def test_default_scaling_gives_spread_codings_on_raw_breast_cancer(breast_cancer):
    # Unscaled, the large features swamp the rest and the codings collapsed to one point.
    X = breast_cancer
    est = AutoencoderTransformer(latent_dim=2, random_state=0, device="cpu").fit(X)
    assert est.scaling_.kind == "standard"
    np.testing.assert_allclose(est.scaling_.mean, X.mean(0), rtol=1e-5)
    np.testing.assert_allclose(est.scaling_.scale, X.std(0), rtol=1e-5)
    Z = est.transform(X)
    assert Z.var(axis=0).min() > 0.05  # both codings vary across the rows
    # "auto" on 569 rows (fewer than defaults.SMALL_ROWS): a fixed budget on every row
    assert "val_loss" not in est.history_.last
    assert len(est.history_) == codings.defaults.small_data_epochs(569, 32) == 56


def test_auto_epochs_on_small_data_train_a_fixed_budget_on_every_row(monkeypatch):
    X = np.random.default_rng(0).normal(size=(100, 4))
    est = AutoencoderTransformer(hidden=(8,), latent_dim=2, device="cpu", random_state=0).fit(X)
    # 100 rows at batch 32: 4 steps per epoch, defaults.BUDGET_STEPS = 1,000 steps in 250 epochs
    assert len(est.history_) == codings.defaults.small_data_epochs(100, 32) == 250
    assert "val_loss" not in est.history_.last  # no rows held out
    monkeypatch.setattr(codings.defaults, "PATIENCE_STEPS", 20)  # quick stops below
    # patience or a validation share chosen: the stopping rule on a validation share, as before
    for chosen in (dict(patience=3), dict(validation_fraction=0.2)):
        stopped = clone(est).set_params(**chosen).fit(X)
        assert "val_loss" in stopped.history_.last and len(stopped.history_) != 250
    # from SMALL_ROWS rows on, "auto" holds out a tenth for the stopping rule
    monkeypatch.setattr(codings.defaults, "SMALL_ROWS", 100)
    large = clone(est).fit(X)
    assert "val_loss" in large.history_.last and len(large.history_) != 250


def _coding_activation(model):
    return type(model.encoder[-1][1]).__name__, model.config["kwargs"]


def test_transformer_gives_small_tables_linear_codings(tmp_path, monkeypatch):
    # defaults.coding_activation: on fewer than SMALL_ROWS rows and SMALL_FEATURES columns the
    # transformer builds "stacked" with coding_activation="linear" unless model_params names one.
    X = np.random.default_rng(0).normal(size=(100, 4))
    kw = dict(hidden=(8,), latent_dim=2, epochs=3, device="cpu", random_state=0)
    est = AutoencoderTransformer(**kw).fit(X)
    act, config = _coding_activation(est.model_)
    assert act == "Identity" and config["coding_activation"] == "linear"
    asked = AutoencoderTransformer(**kw, model_params={"coding_activation": "linear"}).fit(X)
    np.testing.assert_array_equal(est.transform(X), asked.transform(X))  # the rule is just that
    back = AutoencoderTransformer.load(est.save(tmp_path / "t.safetensors"))
    np.testing.assert_array_equal(back.transform(X), est.transform(X))  # bit for bit
    np.testing.assert_array_equal(
        back.inverse_transform(est.transform(X)), est.inverse_transform(est.transform(X))
    )
    assert est.get_feature_names_out().tolist() == [
        "autoencodertransformer0",
        "autoencodertransformer1",
    ]
    # the user's choice wins
    elu = AutoencoderTransformer(**kw, model_params={"coding_activation": "elu"}).fit(X)
    assert _coding_activation(elu.model_)[0] == "ELU"
    assert np.any(elu.transform(X) != est.transform(X))
    # the classifier reads codings too; the detector (reconstruction errors), a one-layer
    # encoder, another model and larger data keep the builder's ELU codings
    det = AutoencoderOutlierDetector(**kw).fit(X)
    clf = AutoencoderClassifier(**kw, classifier_epochs=1).fit(X, X[:, 0] > 0)
    assert _coding_activation(det.model_)[0] == "ELU"
    assert _coding_activation(clf.autoencoder_)[0] == "Identity"
    one = AutoencoderTransformer(hidden=(8,), epochs=1, device="cpu").fit(X)  # one layer
    assert (
        _coding_activation(one.model_)[0] == "ELU"
        and "coding_activation" not in one.model_.config["kwargs"]
    )
    sparse = AutoencoderTransformer("sparse", **kw).fit(X)  # not "stacked"
    assert "coding_activation" not in sparse.model_.config["kwargs"]
    monkeypatch.setattr(codings.defaults, "SMALL_ROWS", 100)  # 100 rows are now large data
    large = AutoencoderTransformer(**kw).fit(X)
    act, config = _coding_activation(large.model_)
    assert act == "ELU" and "coding_activation" not in config  # built exactly as before
    old = AutoencoderTransformer(**kw, model_params={"coding_activation": None}).fit(X)
    np.testing.assert_array_equal(large.transform(X), old.transform(X))


def test_small_tables_with_a_code_size_get_one_hidden_layer(monkeypatch):
    # defaults.small_table_hidden: hidden left at None, latent_dim set, a small table
    X = np.random.default_rng(0).normal(size=(100, 40))
    kw = dict(latent_dim=3, epochs=1, device="cpu", random_state=0)
    est = AutoencoderTransformer(**kw).fit(X)
    assert est.model_.config["kwargs"]["hidden"] == [80]  # 2 x 40 columns
    assert est.model_.config["kwargs"]["coding_activation"] == "linear"
    asked = AutoencoderTransformer(**kw, hidden=(80,)).fit(X)
    np.testing.assert_array_equal(est.transform(X), asked.transform(X))  # the rule is just that
    clf = AutoencoderClassifier(**kw, classifier_epochs=1).fit(X, X[:, 0] > 0)
    assert clf.autoencoder_.config["kwargs"]["hidden"] == [80]
    # the user's hidden wins; the detector with a code size and large data keep the builder's
    # 300-150; no code size on 40 features: defaults.small_input_code's 80 units, 20 codings
    mine = AutoencoderTransformer(**kw, hidden=(16, 8)).fit(X)
    assert mine.model_.config["kwargs"]["hidden"] == [16, 8]
    assert "hidden" not in AutoencoderOutlierDetector(**kw).fit(X).model_.config["kwargs"]
    auto = AutoencoderTransformer(epochs=1, device="cpu").fit(X).model_.config["kwargs"]
    assert (auto["hidden"], auto["latent_dim"]) == ([80], 20)
    monkeypatch.setattr(codings.defaults, "SMALL_ROWS", 100)  # 100 rows are now large data
    assert "hidden" not in AutoencoderTransformer(**kw).fit(X).model_.config["kwargs"]


def test_scaling_is_saved_and_applied_after_load(tmp_path, breast_cancer):
    X = breast_cancer
    est = AutoencoderTransformer(**FAST, latent_dim=2, random_state=0).fit(X)
    path = est.save(tmp_path / "est.safetensors")
    again = AutoencoderTransformer.load(path)
    assert again.scaling_.kind == "standard"
    np.testing.assert_array_equal(again.scaling_.mean, est.scaling_.mean)
    np.testing.assert_array_equal(again.scaling_.scale, est.scaling_.scale)
    Z = est.transform(X)
    np.testing.assert_array_equal(again.transform(X), Z)
    np.testing.assert_array_equal(again.inverse_transform(Z), est.inverse_transform(Z))
    np.testing.assert_array_equal(again.score_samples(X), est.score_samples(X))


def test_inverse_transform_returns_the_users_units(rank2):
    # Rank-2 data far from the origin: a linear model with 2 codings reconstructs the
    # standardised data exactly, so the round trip must give back the offset and the spread.
    X = (rank2 * 50.0 + 1000.0).astype(np.float64)
    est = AutoencoderTransformer(
        "linear", latent_dim=2, epochs=600, batch_size=200, lr=1e-2, device="cpu", random_state=0
    ).fit(X)
    R = est.inverse_transform(est.transform(X))
    assert R.dtype == np.float64
    np.testing.assert_allclose(R, X, atol=1e-2 * X.std())
    assert -est.score(X) < 1e-3  # the score is on the standardised scale (variance 1)


def test_bernoulli_output_scales_to_the_unit_interval(digits):
    X = digits.X[:200] * 16.0  # raw digits, 0..16
    det = AutoencoderOutlierDetector(
        **FAST, output="bernoulli", contamination=0.05, random_state=0
    ).fit(X)
    s = det.scaling_
    assert s.kind == "minmax"
    span = X.max(0) - X.min(0)
    np.testing.assert_allclose(s.mean, X.min(0))
    np.testing.assert_allclose(s.scale, np.where(span > 0, span, 1.0))
    Xs = ((X - s.mean) / s.scale).astype(np.float32)
    assert Xs.min() >= 0 and Xs.max() <= 1
    with torch.no_grad():
        R = det.model_(torch.from_numpy(Xs)).numpy()
    np.testing.assert_allclose(det.score_samples(X), -((R - Xs) ** 2).mean(1), rtol=1e-5)
    # Images already in [0, 1] are not stretched pixel by pixel.
    inside = AutoencoderOutlierDetector(**FAST, output="bernoulli", random_state=0).fit(X / 16)
    assert inside.scaling_ is None


def test_classifier_applies_the_scaling(breast_cancer):
    from sklearn.datasets import load_breast_cancer

    y = load_breast_cancer().target
    clf = AutoencoderClassifier(**FAST, classifier_epochs=5, random_state=0).fit(breast_cancer, y)
    Xs = clf.scaling_.forward(breast_cancer)
    with torch.no_grad():
        logits = clf.model_(torch.from_numpy(Xs)).numpy()
    np.testing.assert_array_equal(clf.predict(breast_cancer), clf.classes_[logits.argmax(1)])
    assert clf.score(breast_cancer, y) > 0.9


def test_scale_none_and_unknown_scale():
    X = np.random.default_rng(0).normal(size=(40, 3)) * 100
    est = AutoencoderTransformer(**FAST, scale=None, random_state=0).fit(X)
    assert est.scaling_ is None
    with pytest.raises(ValueError, match="scale='z'"):
        AutoencoderTransformer(**FAST, scale="z").fit(X)


def test_default_epochs_stop_on_validation_and_explicit_epochs_do_not():
    X = np.random.default_rng(0).normal(size=(200, 6))  # noise through 2 codings: soon stalls
    auto = AutoencoderTransformer(
        hidden=(8,), latent_dim=2, patience=5, device="cpu", random_state=0
    ).fit(X)
    hist = auto.history_
    best = int(np.argmin(hist["val_loss"]))
    assert len(hist) == best + 1 + 5  # stopped by patience, long before the cap
    assert len(hist) < codings.defaults.auto_epochs(180, 32)
    seed = np.random.RandomState(0).randint(np.iinfo(np.int32).max)  # fit's draw
    X_val = auto.scaling_.forward(X[np.random.default_rng(seed).permutation(200)[:20]])
    assert codings.evaluate(auto.model_, X_val)["loss"] == pytest.approx(min(hist["val_loss"]))
    fixed = AutoencoderTransformer(hidden=(8,), epochs=3, device="cpu", random_state=0).fit(X)
    assert len(fixed.history_) == 3 and "val_loss" not in fixed.history_.last  # as before


def test_epochs_accepts_numpy_integers_and_refuses_other_values():
    X = np.random.default_rng(0).normal(size=(40, 3))
    est = AutoencoderTransformer(**{**FAST, "epochs": np.int64(2)}, random_state=0).fit(X)
    assert len(est.history_) == 2
    with pytest.raises(ValueError, match="epochs='auto'"):
        AutoencoderTransformer(**{**FAST, "epochs": "auto"}).fit(X)


def test_verbose_0_prints_nothing(capsys, rank2):
    AutoencoderTransformer(**FAST).fit(rank2)
    assert capsys.readouterr() == ("", "")


def test_verbose_1_prints_an_epoch_table_on_stderr(capsys, rank2):
    est = AutoencoderTransformer(**{**FAST, "verbose": 1, "validation_fraction": 0.25}).fit(rank2)
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0].split() == ["epoch", "train_loss", "valid_loss", "dur"]
    rows = [line.split() for line in lines[1:]]
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4, 5]
    val = est.history_["val_loss"]
    for r, rec in zip(rows, est.history_.records, strict=True):
        assert r[1] == f"{rec['train_loss']:.4g}"
        best = rec["val_loss"] == min(val[: rec["epoch"]])  # a new best is marked
        assert r[2] == f"{rec['val_loss']:.4g}" + ("*" if best else "")


def test_verbose_1_with_layerwise_prints_a_table_per_phase(capsys, rank2):
    AutoencoderTransformer(
        hidden=(5, 3), layerwise=True, epochs=2, device="cpu", random_state=0, verbose=1
    ).fit(rank2)
    lines = capsys.readouterr().err.splitlines()
    notes = [line for line in lines if not line.lstrip()[0].isdigit() and "epoch" not in line]
    assert notes == [
        "phase 1/2: 6->5",
        "phase 2/2: 5->3",
        "fine-tuning: all 2 layer pairs together",
    ]
    assert sum(line.startswith("epoch") for line in lines) == 3
    assert sum(line.lstrip()[0].isdigit() for line in lines) == 6  # 2 epochs of each


def test_verbose_2_draws_a_bar_per_epoch(capsys, rank2):
    AutoencoderTransformer(**{**FAST, "verbose": 2}).fit(rank2)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" - ")[0] for line in lines] == [f"Epoch {e}/5" for e in range(1, 6)]


def test_verbose_must_be_a_level(rank2):
    with pytest.raises(ValueError, match="verbose=-1 must be 0"):
        AutoencoderTransformer(**{**FAST, "verbose": -1}).fit(rank2)


def test_estimators_initialise_with_the_defaults_study_init_unless_told(rank2):
    from codings.defaults import INIT

    est = AutoencoderTransformer(**FAST, random_state=0).fit(rank2)
    assert est.model_.config["kwargs"]["init"] == INIT == "xavier"
    est = AutoencoderTransformer(**FAST, init="he", random_state=0).fit(rank2)
    assert est.model_.config["kwargs"]["init"] == "he"
    # A model without an init argument gets none.
    assert "init" not in AutoencoderTransformer(model="linear")._builder_kwargs(6)


def test_verbose_1_prints_each_layerwise_phase_and_its_epochs(capsys, rank2):
    AutoencoderTransformer(
        hidden=(4, 2), layerwise=True, epochs=2, verbose=1, device="cpu", random_state=0
    ).fit(rank2)
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert [line for line in lines if line.startswith(("phase", "fine-tuning"))] == [
        "phase 1/2: 6->4",
        "phase 2/2: 4->2",
        "fine-tuning: all 2 layer pairs together",
    ]
    assert sum(line.split()[0] == "epoch" for line in lines if line.split()) == 3  # 3 tables


@pytest.mark.parametrize(
    ("n_features", "hidden", "latent"),
    [(1, [64], 1), (4, [64], 2), (13, [64], 6), (64, [128], 32), (150, [300], 75),
     (151, None, None)],
)  # fmt: skip
def test_the_default_network_has_fewer_codings_than_features(n_features, hidden, latent):
    """defaults.small_input_code: stacked's 300-150 gives 150 codings, which compress nothing
    on 150 features or fewer; there the estimators (the detector too) and the command line
    build one hidden layer and half the features as codings (one for one feature), unless
    hidden or latent_dim is chosen; the regularised models keep their overcomplete codes."""
    from codings.specs import builder_kwargs

    X = np.random.default_rng(0).random((12, n_features))
    det = AutoencoderOutlierDetector(epochs=1, device="cpu", random_state=0).fit(X)
    kwargs = det.model_.config["kwargs"]
    assert (kwargs.get("hidden"), kwargs.get("latent_dim")) == (hidden, latent)
    assert det.latent_dim_ == (latent or 150)
    assert builder_kwargs("stacked", n_features, {}).get("latent_dim") == latent
    code = builder_kwargs("stacked", n_features, {"latent_dim": 2})
    assert code["latent_dim"] == 2 and "hidden" not in code
    layers = builder_kwargs("stacked", n_features, {"hidden": (8,)})
    assert layers["hidden"] == (8,) and "latent_dim" not in layers
    assert "latent_dim" not in builder_kwargs("denoising", n_features, {})
