"""DataFrames in and out of the estimators: set_output, column names, per-column contributions."""

import warnings

import numpy as np
import pandas as pd
import pytest

from codings import AutoencoderOutlierDetector, AutoencoderTransformer
from codings.frames import is_frame

FAST = dict(hidden=(4,), epochs=5, batch_size=64, lr=1e-2, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def plane():
    """300 rows of 12 columns, each of 4 factors copied to 3 columns (with noise of 0.3): data on
    a 4-D subspace, as a DataFrame with named columns and a shifted index."""
    rng = np.random.default_rng(0)
    X = np.repeat(rng.normal(size=(300, 4)), 3, axis=1) + 0.3 * rng.normal(size=(300, 12))
    return pd.DataFrame(X, columns=[f"c{j}" for j in range(12)], index=np.arange(1000, 1300))


@pytest.fixture(scope="module")
def linear(plane):
    """A linear detector that has found the subspace (its reconstruction is near the projection)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AutoencoderOutlierDetector(
            "linear", latent_dim=4, epochs=300, batch_size=300, lr=1e-2, device="cpu",
            random_state=0,
        ).fit(plane)  # fmt: skip


def test_is_frame():
    assert is_frame(pd.DataFrame({"a": [1.0]}))
    assert not is_frame(np.zeros((1, 1))) and not is_frame(pd.Series([1.0]))


def test_set_output_pandas_keeps_index_and_names_and_values(plane):
    est = AutoencoderTransformer(**FAST).fit(plane)
    Z, R = est.transform(plane), est.inverse_transform(est.transform(plane))
    assert isinstance(Z, np.ndarray) and isinstance(R, np.ndarray)  # the default container
    est.set_output(transform="pandas")
    Zf = est.transform(plane)
    assert list(Zf.columns) == list(est.get_feature_names_out())
    assert (Zf.index == plane.index).all()
    np.testing.assert_array_equal(Zf.to_numpy(), Z)
    Rf = est.inverse_transform(Zf)  # back to the input's column names, the codings' index
    assert list(Rf.columns) == list(plane.columns) and (Rf.index == plane.index).all()
    np.testing.assert_array_equal(Rf.to_numpy(), R)
    # Fitted on an array, the reconstruction's columns are scikit-learn's x0, x1, ...
    arr = AutoencoderTransformer(**FAST).set_output(transform="pandas").fit(plane.to_numpy())
    assert list(arr.inverse_transform(arr.transform(plane.to_numpy())).columns) == [
        f"x{j}" for j in range(12)
    ]


def test_mismatched_column_names_are_refused_or_warned(plane):
    est = AutoencoderOutlierDetector(**FAST).fit(plane)
    assert list(est.feature_names_in_) == list(plane.columns)
    with pytest.raises(ValueError, match="(?s)unseen at fit time:\n- zz.*missing:\n- c3"):
        est.score_samples(plane.rename(columns={"c3": "zz"}))
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        est.score_samples(plane.to_numpy())


def test_contributions_sum_to_the_score_and_follow_the_input(linear, plane):
    C = linear.column_contributions(plane)
    assert list(C.columns) == list(plane.columns) and (C.index == plane.index).all()
    np.testing.assert_allclose(C.sum(axis=1), -linear.score_samples(plane), rtol=1e-5, atol=1e-9)
    assert (C.to_numpy() >= 0).all()
    with pytest.warns(UserWarning, match="valid feature names"):
        A = linear.column_contributions(plane.to_numpy())
    assert isinstance(A, np.ndarray)
    np.testing.assert_array_equal(A, C.to_numpy())


@pytest.mark.parametrize("column", range(12))
def test_a_corrupted_cell_has_the_largest_contribution(linear, plane, column):
    # Moving one cell by 5 standard deviations off the subspace leaves, after the projection,
    # 2/3 of the shift in that column and -1/3 in each of its two copies: contributions of
    # (2/3 * 5)^2 / 12 = 0.93 and 0.23 (4 times less); the other columns see almost nothing.
    # The noise (0.3) and a model trained short of the exact projection (300 epochs) blur this:
    # the copies get about half, hence the loose bounds.
    clean = plane.iloc[:20]
    bad = clean.copy()
    bad.iloc[:, column] += 5 * plane.iloc[:, column].std(ddof=0)
    C = linear.column_contributions(bad).to_numpy()
    assert (C.argmax(axis=1) == column).all()
    np.testing.assert_allclose(np.median(C[:, column]), 0.93, rtol=0.2)
    others = np.delete(C, column, axis=1)
    assert (others.max(axis=1) < C[:, column] / 1.5).all()
