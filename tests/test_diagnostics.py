import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_digits, load_iris
from sklearn.decomposition import PCA
from torch import nn

from codings import CodingsWarning, build, fit
from codings.diagnostics import check_data, check_model, pca_mse, warn


def standardised(X):
    X = np.asarray(X, dtype=np.float64)
    std = X.std(0)
    return ((X - X.mean(0)) / np.where(std > 0, std, 1.0)).astype(np.float32)


@pytest.fixture(scope="module")
def iris():
    return standardised(load_iris().data)


@pytest.fixture(scope="module")
def raw_digits():
    return load_digits().data.astype(np.float32)  # counts 0..16


def checks(findings):
    return [f.check for f in findings]


def linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def set_projection(model, mu: np.ndarray, P: np.ndarray) -> None:
    """Make a one-layer-each-way model reconstruct x as mu + P P^T (x - mu); P is (D, k)."""
    (enc,), (dec,) = linears(model.encoder), linears(model.decoder)
    with torch.no_grad():
        enc.weight.copy_(torch.tensor(P.T))
        enc.bias.copy_(torch.tensor(-P.T @ mu))
        dec.weight.copy_(torch.tensor(P))
        dec.bias.copy_(torch.tensor(mu))


def principal_directions(X):
    mu = X.mean(0)
    _, _, Vt = np.linalg.svd(X - mu, full_matrices=False)
    return mu.astype(np.float32), Vt.T.astype(np.float32)  # (D,), (D, D) by variance


# --- the PCA baseline --------------------------------------------------------------------------


def test_pca_mse_is_the_discarded_eigenvalues_over_the_features(rng):
    X = rng.normal(size=(80, 6)) * np.array([5.0, 3.0, 2.0, 1.0, 0.5, 0.1])  # (n, D)
    eig = np.linalg.eigvalsh(np.cov(X, rowvar=False, bias=True))  # ascending
    for k in (1, 2, 5):
        expected = eig[: 6 - k].sum() / 6
        assert pca_mse(X, X, k) == pytest.approx(expected, rel=1e-5)


def test_pca_mse_on_its_training_rows_from_eigenvalues_equals_the_projection(rng):
    # pca_mse(X, X) sums discarded eigenvalues; on a copy of X it projects every row. Both
    # against the float64 eigenvalues of X's covariance (X is float32, as the callers' is).
    X = (rng.normal(size=(400, 30)) @ rng.normal(size=(30, 30)) + 2.0).astype(np.float32)
    eig = np.linalg.eigvalsh(np.cov(X.astype(np.float64), rowvar=False, bias=True))
    for k in (1, 10, 29):
        expected = eig[: 30 - k].sum() / 30
        assert pca_mse(X, X, k) == pytest.approx(expected, rel=1e-6)
        assert pca_mse(X, X.copy(), k) == pytest.approx(expected, rel=1e-4)


def test_pca_mse_on_held_out_rows_equals_scikit_learns_pca(rng):
    X = rng.normal(size=(300, 10)) @ rng.normal(size=(10, 10))
    train, val = X[:200], X[200:]
    pca = PCA(n_components=3).fit(train)
    expected = ((pca.inverse_transform(pca.transform(val)) - val) ** 2).mean()
    assert pca_mse(train, val, 3) == pytest.approx(expected, rel=1e-5)


def test_pca_mse_from_a_sample_of_rows_is_exact_on_rank_k_data(rng):
    X = rng.normal(size=(5000, 2)) @ rng.normal(size=(2, 6)) + 3.0  # a plane off the origin
    assert pca_mse(X, X, 2, max_rows=50) < 1e-9
    assert pca_mse(X, X, 1, max_rows=50) > 1e-2


def test_pca_mse_of_wide_data_takes_the_randomized_path_and_stays_exact(rng):
    # D > 2048: a randomized SVD. Its range finder (k + 10 columns) covers rank-5 data whole.
    X = rng.normal(size=(60, 5)) * [4.0, 3.0, 2.0, 1.0, 0.5] @ rng.normal(size=(5, 2100))
    eig = np.linalg.svd(X - X.mean(0), compute_uv=False) ** 2 / len(X)  # descending
    assert pca_mse(X, X, 3) == pytest.approx(eig[3:].sum() / 2100, rel=1e-4)


# --- worse than the mean, no better than PCA ---------------------------------------------------


def test_an_untrained_model_on_standardised_data_is_worse_than_the_mean():
    X = standardised(load_breast_cancer().data)
    model = build("stacked", n_features=30, seed=0)
    metrics, findings = check_model(model, X)
    assert metrics["baseline_mean_mse"] == pytest.approx(1.0, rel=1e-5)  # unit variances
    assert "baseline_pca_mse" not in metrics  # 150 codings for 30 features: PCA is exact
    assert metrics["model_mse"] > 1.0
    assert "worse_than_mean" in checks(findings)
    with pytest.warns(CodingsWarning, match="worse than predicting the mean"):
        warn(findings)


def test_a_linear_autoencoder_trained_on_iris_raises_no_warning(iris):
    model = build("linear", n_features=4, latent_dim=2, seed=0)
    fit(model, iris, epochs=400, batch_size=50, lr=1e-2, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_data(model, iris) == []
        metrics, findings = check_model(model, iris)
        warn(findings)
    assert findings == []
    # Converged: within 1% of PCA, its optimum, and far below the mean.
    assert metrics["model_mse"] <= 1.01 * metrics["baseline_pca_mse"]
    assert metrics["baseline_pca_mse"] < 0.1 * metrics["baseline_mean_mse"]


def test_a_model_at_pcas_optimum_on_rank_2_data_raises_no_warning(rng):
    X = (rng.normal(size=(400, 2)) @ rng.normal(size=(2, 6))).astype(np.float32)
    model = build("linear", n_features=6, latent_dim=2)
    mu, V = principal_directions(X)
    set_projection(model, mu, V[:, :2])
    metrics, findings = check_model(model, X[:300], X[300:])
    assert findings == []
    assert metrics["model_mse"] < 1e-8 and metrics["baseline_pca_mse"] < 1e-8


def test_a_nonlinear_model_no_better_than_pca_gets_a_note(iris):
    # "stacked" with linear activations, set to PCA's solution: exactly PCA, so PCA would do.
    model = build("stacked", n_features=4, hidden=(2,), activation="linear")
    mu, V = principal_directions(iris)
    set_projection(model, mu, V[:, :2])
    metrics, findings = check_model(model, iris)
    assert metrics["model_mse"] == pytest.approx(metrics["baseline_pca_mse"], rel=1e-4)
    assert checks(findings) == ["no_better_than_pca"]
    assert "same 2 components" in findings[0].message
    assert "a linear model would do" in findings[0].message


def test_models_with_a_prior_on_their_codings_are_not_compared_with_pca():
    from codings.diagnostics import _against_pca

    # A VAE or AAE gives up reconstruction for codings that follow a prior: losing to PCA is
    # the expected price, not a finding. A plain autoencoder at the same numbers gets the note.
    for name in ("vae", "aae"):
        assert _against_pca(build(name, n_features=4, output="linear"), 0.5, 0.1, 2) is None
    assert _against_pca(build("stacked", n_features=4), 0.5, 0.1, 2) is not None


def test_winner_take_all_models_get_no_verdict_on_their_test_time_reconstructions(iris):
    # Lifetime sparsity is off at test time (as in the paper): the decoder then sees dense
    # codings and reconstructs far worse than the mean by design; the numbers are still given.
    model = build("wta", n_features=4, hidden=(16,), seed=0)
    metrics, findings = check_model(model, iris)
    assert metrics["model_mse"] > metrics["baseline_mean_mse"]
    assert "worse_than_mean" not in checks(findings)
    plain = build("stacked", n_features=4, hidden=(16,), activation="relu", seed=0)
    assert "worse_than_mean" in checks(check_model(plain, iris)[1])  # the same net, no WTA


def test_a_linear_model_short_of_pca_is_told_to_train_longer(iris):
    model = build("linear", n_features=4, latent_dim=2)
    mu, V = principal_directions(iris)
    set_projection(model, mu, V[:, [0, 2]])  # the first and third directions: not the best
    metrics, findings = check_model(model, iris)
    assert metrics["baseline_pca_mse"] < metrics["model_mse"] < metrics["baseline_mean_mse"]
    assert checks(findings) == ["no_better_than_pca"]
    assert "not reached PCA's optimum" in findings[0].message


# --- collapsed codings -------------------------------------------------------------------------


def test_an_encoder_with_a_constant_output_has_collapsed_codings(iris):
    model = build("linear", n_features=4, latent_dim=3, seed=0)
    with torch.no_grad():
        linears(model.encoder)[0].weight.zero_()  # every row -> the bias
    _, findings = check_model(model, iris)
    assert checks(findings) == ["worse_than_mean", "collapsed"]  # it reconstructs the mean
    with pytest.warns(CodingsWarning, match="all 3 coding units"):
        warn(findings[1:])


@pytest.mark.parametrize("dead, fires", [(0, False), (1, False), (2, True)])
def test_codings_collapse_when_most_units_are_dead(iris, dead, fires):
    model = build("linear", n_features=4, latent_dim=3, seed=0)
    with torch.no_grad():
        linears(model.encoder)[0].weight[:dead].zero_()
    _, findings = check_model(model, iris)
    assert ("collapsed" in checks(findings)) is fires
    if fires:
        assert f"only {3 - dead} of the 3 coding units vary" in findings[-1].message


def test_an_overcomplete_code_may_leave_most_units_unused(iris):
    # 10 codings for 4 features, 6 of them dead: 4 still vary, the most 4 features can use.
    model = build("stacked", n_features=4, hidden=(10,), activation="linear", seed=0)
    with torch.no_grad():
        linears(model.encoder)[0].weight[:6].zero_()
    _, findings = check_model(model, iris)
    assert "collapsed" not in checks(findings)
    with torch.no_grad():
        linears(model.encoder)[0].weight[:8].zero_()  # 2 left: half of what 4 features use
    _, findings = check_model(model, iris)
    assert "collapsed" in checks(findings)


def test_constant_data_do_not_count_as_collapsed_codings():
    X = np.ones((50, 4), dtype=np.float32)
    _, findings = check_model(build("linear", n_features=4, latent_dim=2, seed=0), X)
    assert "collapsed" not in checks(findings)


# --- the data before training ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["stacked", "vae"])
def test_raw_digits_for_a_bernoulli_output_are_out_of_range(raw_digits, name):
    model = build(name, n_features=64, output="bernoulli")
    (finding,) = check_data(model, raw_digits)
    assert finding.check == "out_of_range"
    assert "from 0 to 16" in finding.message and "output='linear'" in finding.message
    assert check_data(model, raw_digits / 16) == []  # min-max scaled: fine


def test_unscaled_values_for_squared_error_are_flagged(raw_digits, rng):
    model = build("stacked", n_features=64)
    (finding,) = check_data(model, raw_digits)
    assert finding.check == "unscaled" and "standardise" in finding.message
    assert check_data(model, standardised(raw_digits)) == []
    assert check_data(model, raw_digits / 16) == []  # in [0, 1]: fine for squared error
    offset = rng.normal(size=(100, 3)).astype(np.float32) + [0, 0, 1000]  # a mean far from 0
    assert checks(check_data(build("linear", n_features=3), offset)) == ["unscaled"]


def test_warn_points_at_its_caller():
    with pytest.warns(CodingsWarning) as record:
        warn([check_data(build("stacked", n_features=2), np.full((3, 2), 50.0))[0]])
    assert record[0].filename == __file__


def test_a_stacked_code_as_wide_as_the_data_is_flagged_but_not_a_regularised_one(iris):
    # 4 features, 8 codings: a plain stacked autoencoder can copy its input; a sparse one has a
    # reason to be overcomplete. A code narrower than the data is not flagged.
    def checks(name, **kw):
        model = build(name, n_features=4, seed=0, **kw)
        fit(model, iris, epochs=30, batch_size=50, lr=1e-2, seed=0)
        return [f.check for f in check_model(model, iris)[1]]

    wide = checks("stacked", hidden=(8,))
    assert wide.count("overcomplete") == 1
    assert "overcomplete" not in checks("sparse", hidden=(8,))
    assert "overcomplete" not in checks("stacked", hidden=(8, 3))
