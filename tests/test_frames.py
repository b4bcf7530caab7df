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


# --- tables: categorical and missing cells --------------------------------------------------


def _table(n=400, seed=0):
    """Numbers that follow one factor, two categories decided by it, and a few missing cells."""
    rng = np.random.default_rng(seed)
    f = rng.normal(size=n)
    df = pd.DataFrame(
        {
            "a": f + 0.1 * rng.normal(size=n),
            "b": 2 * f + 0.1 * rng.normal(size=n),
            "c": -f + 0.1 * rng.normal(size=n),
            "sign": np.where(f > 0, "pos", "neg").astype(object),
            "band": np.where(f > 0.7, "high", np.where(f < -0.7, "low", "mid")).astype(object),
        },
        index=np.arange(5000, 5000 + n),
    )
    holes = rng.random(df.shape) < 0.03
    return df.mask(holes)


TABLE_FAST = dict(epochs=60, batch_size=32, lr=3e-3, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def table():
    return _table()


@pytest.fixture(scope="module")
def table_detector(table):
    return AutoencoderOutlierDetector(**TABLE_FAST).fit(table)


def test_a_table_trains_the_table_model_and_comes_back_as_a_table(table):
    est = AutoencoderTransformer(**TABLE_FAST).set_output(transform="pandas").fit(table)
    assert est.model_.config["name"] == "table" and est.scaling_ is None
    assert est.schema_.kinds == {
        "a": "numeric", "b": "numeric", "c": "numeric", "sign": "categorical",
        "band": "categorical",
    }  # fmt: skip
    assert list(est.feature_names_in_) == list(table.columns) and est.n_features_in_ == 5
    Z = est.transform(table)
    assert list(Z.columns) == list(est.get_feature_names_out()) and (Z.index == table.index).all()
    R = est.inverse_transform(Z)
    assert list(R.columns) == list(table.columns) and (R.index == table.index).all()
    # the reconstruction keeps the categories' names and gets most of them right
    assert set(R["sign"]) <= {"pos", "neg"}
    assert (R["sign"] == table["sign"])[table["sign"].notna()].mean() > 0.9
    filled = est.impute(table)
    holes = table.isna()
    assert not filled.isna().any().any() and holes.any().any()
    pd.testing.assert_frame_equal(filled.where(~holes), table.where(~holes))  # observed kept
    assert filled.dtypes.equals(table.dtypes)
    # a missing sign is filled from the numbers around it
    rows = holes["sign"] & table["a"].notna() & (table["a"].abs() > 0.5)
    assert rows.sum() >= 3
    truth = np.where(table.loc[rows, "a"] > 0, "pos", "neg")
    assert (filled.loc[rows, "sign"].to_numpy() == truth).all()


def test_complete_numeric_frames_keep_the_dense_model(plane):
    a = AutoencoderTransformer(**FAST).fit(plane)
    b = AutoencoderTransformer(**FAST).fit(plane.to_numpy())
    assert not hasattr(a, "schema_") and a.model_.config["name"] == "stacked"
    np.testing.assert_array_equal(a.transform(plane), b.transform(plane.to_numpy()))
    with pytest.raises(ValueError, match="fitted on complete numbers.*model='table'"):
        a.impute(plane)
    # ... unless asked for the table model; a refit on an array forgets the table
    t = AutoencoderTransformer("table", **FAST).fit(plane)
    assert t.model_.config["name"] == "table" and t.schema_.names == list(plane.columns)
    assert not hasattr(t.fit(plane.to_numpy()), "schema_")


def test_a_table_refuses_a_model_that_reads_numbers_only(table):
    with pytest.raises(ValueError, match="model='denoising' reads numbers only.*'sign'"):
        AutoencoderTransformer("denoising", **TABLE_FAST).fit(table)


def test_table_scores_and_contributions(table_detector, table):
    det = table_detector
    C = det.column_contributions(table)
    assert list(C.columns) == list(table.columns) and (C.index == table.index).all()
    np.testing.assert_allclose(C.sum(axis=1), -det.score_samples(table), rtol=1e-6)
    assert (C.to_numpy()[table.isna().to_numpy()] == 0).all()  # a missing cell adds nothing
    # the score is the mean error over the row's observed cells (closed form, the model's own)
    from codings.tables import column_errors

    E = column_errors(det.model_, table)
    expected = E.sum(axis=1) / table.notna().sum(axis=1)
    np.testing.assert_allclose(-det.score_samples(table), expected, rtol=1e-5)
    assert ((det.predict(table) == -1).mean()) == pytest.approx(0.1, abs=0.01)


@pytest.mark.parametrize("column", ["sign", "band"])
def test_a_swapped_category_has_the_largest_contribution(table_detector, table, column):
    clean = table.dropna().iloc[:40]
    bad = clean.copy()
    values = sorted(table[column].dropna().unique())
    bad[column] = [values[(values.index(v) + 1) % len(values)] for v in clean[column]]
    C = table_detector.column_contributions(bad)
    assert (C.idxmax(axis=1) == column).mean() >= 0.9
    assert (table_detector.score_samples(bad) < table_detector.score_samples(clean)).all()


def test_a_saved_table_detector_loads_with_its_schema(table_detector, table, tmp_path):
    path = table_detector.save(tmp_path / "det.safetensors")
    det = AutoencoderOutlierDetector.load(path)
    assert det.schema_ == table_detector.schema_
    np.testing.assert_array_equal(det.score_samples(table), table_detector.score_samples(table))
    pd.testing.assert_frame_equal(
        det.column_contributions(table), table_detector.column_contributions(table)
    )
    with pytest.raises(ValueError, match="no column 'band'.*renamed"):
        det.score_samples(table.rename(columns={"band": "bands"}))
    with pytest.raises(ValueError, match="a column 'extra' the model was not trained with"):
        det.score_samples(table.assign(extra=1.0))
    with pytest.raises(ValueError, match="fitted on a table.*got ndarray"):
        det.score_samples(table.to_numpy())
    from codings.tables import UnknownCategoryWarning

    odd = table.iloc[:5].assign(sign="zero")
    with pytest.warns(UnknownCategoryWarning, match="'sign'.*'zero'"):
        scores = det.score_samples(odd)
    assert (scores < det.score_samples(table.iloc[:5])).all()  # unknown: large but finite
    assert np.isfinite(scores).all()


def test_an_estimator_fitted_on_a_numeric_frame_saves_its_column_names(plane, tmp_path):
    est = AutoencoderTransformer(**FAST).fit(plane)
    back = AutoencoderTransformer.load(est.save(tmp_path / "est.safetensors"))
    assert back.feature_names_in_.dtype == object
    assert list(back.feature_names_in_) == list(plane.columns)
    np.testing.assert_array_equal(back.transform(plane), est.transform(plane))
    with pytest.raises(ValueError, match="unseen at fit time"):
        back.transform(plane.rename(columns={"c0": "zz"}))


def test_held_out_contributions_are_each_cell_predicted_without_its_column(table_detector, table):
    from codings.tables import column_errors

    rows = table.iloc[:30]
    H = table_detector.column_contributions(rows, held_out=True)
    E = column_errors(table_detector.model_, rows, held_out=True)
    np.testing.assert_allclose(H, E.div(rows.notna().sum(axis=1), axis=0), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="held_out=True needs a model fitted on a table"):
        AutoencoderOutlierDetector(**FAST).fit(np.eye(12)).column_contributions(
            np.eye(12), held_out=True
        )


def test_a_table_detector_pickles_and_reads_columns_in_any_order(table_detector, table):
    import pickle

    det = pickle.loads(pickle.dumps(table_detector))
    np.testing.assert_array_equal(det.score_samples(table), table_detector.score_samples(table))
    shuffled = table[["band", "c", "sign", "a", "b"]]  # the columns by name, as a table's
    np.testing.assert_array_equal(det.score_samples(shuffled), det.score_samples(table))
    assert list(det.column_contributions(shuffled).columns) == list(shuffled.columns)


def test_a_table_in_a_pipeline_with_a_classifier(table):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline

    X, y = table.drop(columns="band"), table["band"].fillna("mid")
    pipe = make_pipeline(
        AutoencoderTransformer(**{**TABLE_FAST, "epochs": 30}), LogisticRegression(max_iter=500)
    )
    # the band follows the same factor as the numbers: the codings carry it
    assert cross_val_score(pipe, X, y, cv=2).mean() > 0.8


def test_an_array_with_missing_cells_points_at_a_dataframe():
    X = np.random.default_rng(0).normal(size=(20, 3))
    X[4, 1] = np.nan
    with pytest.raises(ValueError, match="(?s)contains NaN.*DataFrame with missing cells"):
        AutoencoderTransformer(epochs=1).fit(X)
