"""The table autoencoder: schema, encoding, masked loss, imputation, checkpoints, command line."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import codings
from codings.tables import (
    UNKNOWN,
    TableSchema,
    UnknownCategoryWarning,
    column_errors,
    impute,
    model_schema,
    reconstruct_table,
)


def _table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """b is an exact function of a; colour is a function of a's sign; a few blanks."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    return pd.DataFrame(
        {
            "a": 3 * a + 10,
            "b": 2 * a + 1,
            "colour": np.where(a > 0, "red", "blue").astype(object),
            "count": rng.integers(0, 4, n),
            "flag": rng.random(n) < 0.5,
        }
    )


def _schema_dict() -> dict:
    return {
        "version": 1,
        "columns": [
            {"name": "x", "kind": "numeric", "mean": 0.0, "std": 1.0},
            {"name": "c", "kind": "categorical", "categories": ["a", "b"]},
        ],
    }


# --- the schema -----------------------------------------------------------------------------


def test_kinds_are_inferred_from_dtypes_and_can_be_overridden():
    df = _table()
    s = TableSchema.infer(df)
    assert s.kinds == {
        "a": "numeric",
        "b": "numeric",
        "colour": "categorical",
        "count": "numeric",  # a few whole numbers stay numeric unless told
        "flag": "categorical",
    }
    assert s.categorical[0].categories == ("blue", "red")
    assert s.categorical[1].categories == (False, True)
    a = s.numeric[0]
    assert a.mean == pytest.approx(df["a"].mean()) and a.std == pytest.approx(df["a"].std(ddof=0))
    o = TableSchema.infer(df, kinds={"count": "categorical"})
    assert o.kinds["count"] == "categorical" and o.categorical[1].categories == (0, 1, 2, 3)
    with pytest.raises(ValueError, match="kinds names column 'cuont'.*did you mean 'count'"):
        TableSchema.infer(df, kinds={"cuont": "categorical"})
    with pytest.raises(ValueError, match="'numbers' is not known.*did you mean 'numeric'"):
        TableSchema.infer(df, kinds={"count": "numbers"})
    with pytest.raises(ValueError, match="more than one column named a"):
        TableSchema.infer(df.rename(columns={"b": "a"}))


def test_a_column_of_identifiers_is_pointed_out():
    df = _table(120).assign(customer=[f"c{i:04d}" for i in range(120)])
    with pytest.warns(UserWarning, match="column 'customer' has 120 different values in 120 rows"):
        TableSchema.infer(df)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TableSchema.infer(df.assign(customer=[f"c{i % 40}" for i in range(120)]))  # 40 values


def test_numeric_scaling_ignores_missing_cells():
    df = pd.DataFrame({"v": [1.0, np.nan, 3.0, np.nan], "k": ["p", None, "q", "p"]})
    s = TableSchema.infer(df)
    assert (s.numeric[0].mean, s.numeric[0].std) == (2.0, 1.0)
    assert s.categorical[0].categories == ("p", "q")
    X = s.encode(df)
    # [value | code | missing flag]
    np.testing.assert_array_equal(
        X, np.array([[-1, 0, 0], [0, -1, 1], [1, 1, 0], [0, 0, 1]], np.float32)
    )
    back = s.decode(X)
    assert back["v"].tolist()[::2] == [1.0, 3.0] and np.isnan(back["v"][1])
    assert back["k"][[0, 2, 3]].tolist() == ["p", "q", "p"] and pd.isna(back["k"][1])


def test_the_schema_round_trips_through_json():
    s = TableSchema.infer(_table(), kinds={"count": "categorical"})
    again = TableSchema.from_dict(json.loads(json.dumps(s.to_dict())))
    assert again == s
    X = _table(50, seed=1)
    np.testing.assert_array_equal(again.encode(X), s.encode(X))


def test_a_table_with_other_columns_is_refused_naming_the_column():
    s = TableSchema.infer(_table())
    with pytest.raises(ValueError, match=r"no column 'colour'.*\(renamed to 'color'\?\)"):
        s.encode(_table().rename(columns={"colour": "color"}))
    with pytest.raises(ValueError, match="no column 'flag'"):
        s.encode(_table().drop(columns="flag"))
    with pytest.raises(ValueError, match="column 'extra' the model was not trained with"):
        s.encode(_table().assign(extra=1.0))
    with pytest.raises(ValueError, match="column 'a' is numeric but holds 'ten'"):
        s.encode(_table(5).astype({"a": object}).assign(a=["ten", 1, 2, 3, 4]))
    # the same columns in another order are read by name
    df = _table(20)
    np.testing.assert_array_equal(s.encode(df[df.columns[::-1]]), s.encode(df))


def test_unseen_categories_are_read_as_unknown_with_one_warning():
    s = TableSchema.infer(_table())
    df = _table(4).assign(colour=["red", "green", "purple", "green"])
    with pytest.warns(UnknownCategoryWarning, match="'colour'.*'green', 'purple'") as rec:
        X = s.encode(df)
    assert len(rec) == 1
    k = len(s.categorical[0].categories)
    assert X[:, 3].tolist() == [1, k, k, k]  # numeric a, b, count first, then the codes
    assert s.decode(X)["colour"].tolist() == ["red", UNKNOWN, UNKNOWN, UNKNOWN]


# --- the model and its loss -----------------------------------------------------------------


def _constant_model():
    """A table model whose output is its head's bias whatever the input: x -> 0.5, and the
    logits of c (a, b, unknown) -> (0, ln 2, 0), i.e. probabilities (1/4, 1/2, 1/4)."""
    m = codings.build("table", n_features=3, schema=_schema_dict(), seed=0)
    head = m.decoder[-1]
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(torch.tensor([0.5, 0.0, math.log(2.0), 0.0]))
    return m


def test_the_masked_loss_has_the_hand_computed_value():
    s = TableSchema.from_dict(_schema_dict())
    df = pd.DataFrame({"x": [1.5, np.nan, -0.5], "c": ["a", "b", None]})
    X = torch.from_numpy(s.encode(df))
    m = _constant_model()
    # rows: (1.5 - 0.5)^2 + ln 4 ; x missing + ln 2 ; (-0.5 - 0.5)^2 + c missing
    numeric, categorical = (1 + 0 + 1) / 3, (math.log(4) + math.log(2)) / 3
    for mode in (m.eval(), m.train()):  # hiding cells from the encoder changes nothing here
        total, parts = mode.loss(X)
        assert parts["numeric"].item() == pytest.approx(numeric, rel=1e-6)
        assert parts["categorical"].item() == pytest.approx(categorical, rel=1e-6)
        assert total.item() == pytest.approx(numeric + categorical, rel=1e-6)
    E = m.eval().cell_errors(X)
    np.testing.assert_allclose(
        E.detach().numpy(),
        [[1, math.log(4)], [0, math.log(2)], [1, 0]],
        rtol=1e-6,
    )


def test_a_missing_cells_stored_value_does_not_change_the_loss():
    s = TableSchema.infer(_table(40))
    df = _table(40)
    df.loc[[3, 7], "b"] = np.nan
    df.loc[[5], "colour"] = None
    X = torch.from_numpy(s.encode(df))
    m = codings.build("table", n_features=s.width, schema=s.to_dict(), seed=0).eval()
    before = m.loss(X)[0].item()
    Y = X.clone()
    Y[[3, 7], 1] = 123.0  # b's stored value where b is missing
    Y[5, 3] = -7.0  # another "missing" code for colour (after the numeric a, b, count)
    assert m.loss(Y)[0].item() == before
    Z = X.clone()
    Z[4, 1] += 1.0  # an observed cell does count
    assert m.loss(Z)[0].item() != before


def test_fit_trains_a_table_model_with_autograd_and_early_stopping():
    df = _table()
    s = TableSchema.infer(df)
    X = s.encode(df)
    m = codings.build("table", n_features=s.width, schema=s.to_dict(), seed=0)
    from codings.fused import why_not

    assert "TableAutoencoder" in why_not(m)
    h = codings.fit(m, X[:240], X_val=X[240:], epochs=100, patience=2, batch_size=32, seed=0)
    assert {r["step"] for r in h.records} == {"autograd"}
    assert "val_mse" not in h.last  # the rows' codes and flags have no meaningful MSE
    assert set(codings.evaluate(m, X)) == {"loss", "numeric", "categorical"}
    assert "val_numeric" in h.last and "val_categorical" in h.last
    assert len(h.records) < 100  # stopped early
    assert min(r["val_loss"] for r in h.records) < 0.5 * h.records[0]["val_loss"]
    with pytest.raises(ValueError, match="TableAutoencoder"):
        codings.fit(
            codings.build("table", n_features=s.width, schema=s.to_dict()),
            X,
            epochs=1,
            step="fused",
        )


def test_the_baseline_of_a_table_is_the_means_and_frequencies_by_hand():
    from codings.tables import baseline_losses

    s = TableSchema.from_dict(_schema_dict())
    X = s.encode(pd.DataFrame({"x": [1.5, np.nan, -0.5], "c": ["a", "b", None]}))
    m = _constant_model()
    # x's observed mean 0.5: errors 1, (missing), 1; c's counts a 1, b 1, unknown 0, add-one
    # smoothed: (2, 2, 1) / 5, so -ln 0.4 for rows 0 and 1, nothing for the missing cell
    base = baseline_losses(m, X)
    assert base["numeric"] == pytest.approx(2 / 3, rel=1e-12)
    assert base["categorical"] == pytest.approx(2 * math.log(2.5) / 3, rel=1e-12)
    # measured on other rows with the training rows' means and counts: x -> 0.5, c "b" -> 0.4
    other = s.encode(pd.DataFrame({"x": [0.5, 2.5], "c": ["b", "b"]}))
    base = baseline_losses(m, X, other)
    assert base == pytest.approx({"numeric": 2.0, "categorical": math.log(2.5)}, rel=1e-12)


def test_a_table_model_is_compared_with_its_baseline():
    from codings.diagnostics import check_model

    s = TableSchema.from_dict(_schema_dict())
    X = s.encode(pd.DataFrame({"x": [1.5, np.nan, -0.5], "c": ["a", "b", None]}))
    # the constant model: 2/3 + (ln 4 + ln 2) / 3 = 1.360 against the guess's 1.278
    metrics, findings = check_model(_constant_model().eval(), X, X)
    assert metrics["baseline_numeric"] == pytest.approx(2 / 3, rel=1e-12)
    assert [f.check for f in findings] == ["worse_than_mean"]
    assert "1.36 vs 1.278" in findings[0].message
    df = _table(300)
    trained = _fitted(df)
    X = TableSchema.infer(df).encode(df)
    metrics, findings = check_model(trained, X, X)
    assert findings == []  # b is a function of a, colour of a's sign: far below the guess
    assert codings.evaluate(trained, X)["numeric"] < 0.2 * metrics["baseline_numeric"]


def _fitted(df, seed=0, epochs=150):
    s = TableSchema.infer(df)
    m = codings.build("table", n_features=s.width, schema=s.to_dict(), seed=seed)
    codings.fit(m, s.encode(df), epochs=epochs, batch_size=32, seed=seed)
    return m.eval()


def test_imputation_fills_missing_cells_better_than_the_mean_and_keeps_the_rest():
    full = _table(400)
    rng = np.random.default_rng(5)
    df = full.copy()
    hide_b = rng.random(len(df)) < 0.2
    hide_c = rng.random(len(df)) < 0.2
    df.loc[hide_b, "b"] = np.nan
    df.loc[hide_c, "colour"] = None
    m = _fitted(df, epochs=80)
    out = impute(m, df)
    assert list(out.columns) == list(df.columns) and out.index.equals(df.index)
    assert (out.dtypes == df.dtypes).all(), (out.dtypes, df.dtypes)
    assert out.notna().all().all()
    observed = df.notna()
    pd.testing.assert_frame_equal(out[observed], df[observed])  # observed cells untouched
    err = ((out["b"] - full["b"])[hide_b] ** 2).mean()
    mean_err = ((df["b"].mean() - full["b"])[hide_b] ** 2).mean()
    assert err < 0.15 * mean_err, (err, mean_err)  # 0.036 when written
    acc = (out["colour"] == full["colour"])[hide_c].mean()
    majority = full["colour"][hide_c].value_counts(normalize=True).max()
    assert acc > max(0.85, majority), (acc, majority)
    assert set(out["colour"]) <= {"red", "blue"}  # never "unknown"


def test_column_errors_sum_to_the_loss_and_held_out_ones_point_at_the_corrupted_cell():
    df = _table(300).assign(c=lambda d: d["a"] / 3 - 3)  # a, b and c carry the same number
    m = _fitted(df, epochs=60)
    s = model_schema(m)
    E = column_errors(m, df)
    assert list(E.columns) == list(df.columns) and E.index.equals(df.index)
    total, _ = m.loss(torch.from_numpy(s.encode(df)))
    assert E.sum(axis=1).mean() == pytest.approx(total.item(), rel=1e-5)
    gap = df.copy()
    gap.loc[:9, "b"] = np.nan
    assert (column_errors(m, gap)["b"][:10] == 0).all()  # a missing cell contributes nothing
    bad = df.head(20).copy()
    bad["b"] = bad["b"] + 20.0  # b is no longer 2a + 1
    H = column_errors(m, bad, held_out=True)
    assert (H.idxmax(axis=1) == "b").all(), H
    # held out, b's error is that of the prediction made from a row whose b is missing
    guess = reconstruct_table(m, gap.head(10))["b"]
    std = s.numeric[1].std
    np.testing.assert_allclose(H["b"][:10], ((guess - bad["b"][:10]) / std) ** 2, rtol=1e-4)


def test_save_and_load_are_bit_identical_with_the_schema_in_the_header(tmp_path):
    df = _table(120)
    df.loc[::9, "a"] = np.nan
    m = _fitted(df, epochs=3)
    path = codings.save(m, tmp_path / "table.safetensors")
    again = codings.load(path)
    assert model_schema(again) == model_schema(m)
    assert again.metadata["kwargs"]["schema"] == model_schema(m).to_dict()
    a, b = m.state_dict(), again.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    X = torch.from_numpy(model_schema(m).encode(df))
    with torch.no_grad():
        assert torch.equal(m.encode(X), again.encode(X))
        assert torch.equal(m(X), again(X))
    pd.testing.assert_frame_equal(impute(m, df), impute(again, df))


def test_categories_are_embedded_by_the_size_rule_with_unknown_and_missing_rows():
    cols = [
        {"name": f"c{k}", "kind": "categorical", "categories": list(range(k))} for k in (2, 3, 200)
    ]
    m = codings.build("table", n_features=3, schema={"columns": cols}, hidden=[8])
    # min(50, (k + 1) // 2) numbers for k categories; k + 2 rows (known, unknown, missing)
    assert [tuple(e.weight.shape) for e in m.embeddings] == [(4, 1), (5, 2), (202, 50)]
    assert m.encoder[0][0].in_features == 1 + 2 + 50
    assert m.decoder[-1].out_features == 3 + 4 + 201  # k + 1 logits: known and unknown


def test_the_builder_checks_its_arguments():
    with pytest.raises(ValueError, match="n_features=4 but the schema's encoded width is 3"):
        codings.build("table", n_features=4, schema=_schema_dict())
    with pytest.raises(ValueError, match="mask_rate=1.5"):
        codings.build("table", n_features=3, schema=_schema_dict(), mask_rate=1.5)
    with pytest.raises(ValueError, match="n_features=5: without a schema"):
        codings.build("table", n_features=5)
    m = codings.build("table", n_features=6)  # three numeric columns and their flags
    assert model_schema(m).names == ["x0", "x1", "x2"]
    with pytest.raises(TypeError, match="not a table model"):
        model_schema(codings.build("linear", n_features=4))


def test_warnings_do_not_repeat_for_known_categories():
    s = TableSchema.infer(_table())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.encode(_table(10, seed=3))


# --- the command line -------------------------------------------------------------------------


def _cli(capsys, *argv):
    from codings.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _csv(tmp_path, n=200, seed=0) -> tuple:
    df = _table(n, seed=seed)
    df.loc[::7, "b"] = np.nan
    df.loc[::9, "colour"] = None  # blank cells in the file
    path = tmp_path / "table.csv"
    df.to_csv(path, index=False)
    return path, df


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    import contextlib
    import io

    from codings.cli import main

    tmp = tmp_path_factory.mktemp("table")
    path, df = _csv(tmp)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        argv = ["train", "table", "--data", path, "--out", tmp / "run", "--epochs", "20"]
        code = main([str(a) for a in [*argv, "--kinds", "count=categorical", "--json"]])
    assert code == 0, err.getvalue()
    return tmp, path, df, json.loads(out.getvalue()), err.getvalue()


def test_train_table_reads_a_csv_infers_kinds_and_keeps_the_schema_in_the_run(table_run):
    from codings.runs import Run

    tmp, path, df, result, err = table_run
    assert "val_loss" in result and "val_categorical" in result and "val_numeric" in result
    assert "val_mse" not in result  # of the encoded rows: not reported as the table's error
    # the yardstick beside the loss: b is a function of a, which the mean cannot know
    assert result["val_numeric"] < 0.5 * result["baseline_numeric"]
    assert result["baseline_categorical"] > 0
    run = Run.open(tmp / "run")
    assert run.scaling is None  # the schema standardises; nothing scales twice
    s = model_schema(run.model)
    assert s.kinds == {
        "a": "numeric",
        "b": "numeric",
        "colour": "categorical",
        "count": "categorical",  # --kinds
        "flag": "categorical",
    }
    assert s.numeric[0].mean == pytest.approx(df["a"].mean())  # fitted on the file
    assert run.metadata["kwargs"]["schema"] == s.to_dict()
    assert result["schema"] == s.to_dict()
    assert any(f.endswith("reconstructions.png") for f in result["figures"])
    # on standard error: the schema inferred, briefly, then the progress
    assert "colour: categorical (blue, red)" in err and "count: categorical (0, 1, 2, 3)" in err
    assert "Epoch" in err


def test_a_table_runs_eval_encode_reconstruct_and_impute_read_the_csv(table_run, capsys):
    tmp, path, df, _, _ = table_run
    run = tmp / "run"
    code, out, err = _cli(capsys, "eval", run, "--data", path, "--json")
    assert code == 0, err
    ev = json.loads(out)
    assert ev["n"] == len(df) and ev["loss"] == pytest.approx(ev["numeric"] + ev["categorical"])
    code, out, err = _cli(capsys, "encode", run, path, tmp / "z.csv")
    assert code == 0, err
    Z = pd.read_csv(tmp / "z.csv")
    assert Z.shape[0] == len(df) and list(Z.columns)[0] == "z0"
    code, out, err = _cli(capsys, "reconstruct", run, path, tmp / "r.csv")
    assert code == 0, err
    R = pd.read_csv(tmp / "r.csv")
    assert list(R.columns) == list(df.columns) and R.notna().all().all()
    filled = tmp / "filled.csv"
    code, out, err = _cli(capsys, "impute", run, "--data", path, "--out", filled, "--json")
    assert code == 0, err
    assert json.loads(out)["filled"] == int(df.isna().sum().sum())
    F_ = pd.read_csv(filled)
    assert F_.notna().all().all()
    seen = df.notna()
    pd.testing.assert_frame_equal(F_[seen], pd.read_csv(path)[seen])
    code, out, err = _cli(capsys, "impute", run, "--data", path, "--out", filled)
    assert code == 1 and "exists; use --force" in err
    code, out, err = _cli(capsys, "impute", run, "--data", path, "--out", filled, "--force")
    assert code == 0, err


def test_a_row_index_in_a_csv_is_not_a_column(tmp_path, capsys):
    from codings.tablecli import read_csv

    df = _table(20)
    df.to_csv(tmp_path / "indexed.csv")  # pandas' default: the index as an unnamed column
    read = read_csv(tmp_path / "indexed.csv")
    assert list(read.columns) == list(df.columns)
    assert "dropped the first column" in capsys.readouterr().err
    df.iloc[5:].to_csv(tmp_path / "part.csv")  # a subset keeps its original row numbers
    assert list(read_csv(tmp_path / "part.csv").columns) == list(df.columns)


def test_a_csv_with_other_columns_is_refused_naming_the_column(table_run, tmp_path, capsys):
    tmp, path, df, _, _ = table_run
    bad = tmp_path / "bad.csv"
    df.drop(columns="flag").to_csv(bad, index=False)
    for argv in (
        ["eval", tmp / "run", "--data", bad],
        ["encode", tmp / "run", bad, tmp_path / "z.csv"],
        ["impute", tmp / "run", "--data", bad, "--out", tmp_path / "f.csv"],
    ):
        code, out, err = _cli(capsys, *argv)
        assert code == 1 and "no column 'flag'" in err, err
    assert not (tmp_path / "f.csv").exists()


def test_table_flags_are_refused_where_they_do_not_apply(table_run, tmp_path, capsys):
    tmp, path, _, _, _ = table_run
    code, _, err = _cli(
        capsys,
        "train",
        "table",
        "--data",
        path,
        "--out",
        tmp_path / "a",
        "--scale",
        "standard",
        "--epochs",
        "1",
    )
    assert code == 1 and "standardises its numbers itself" in err
    code, _, err = _cli(
        capsys,
        "train",
        "stacked",
        "--data",
        "iris",
        "--out",
        tmp_path / "b",
        "--kinds",
        "x=numeric",
        "--epochs",
        "1",
    )
    assert code == 1 and "--kinds applies to `codings train table` only" in err
    code, _, err = _cli(
        capsys,
        "train",
        "table",
        "--data",
        path,
        "--out",
        tmp_path / "c",
        "--kinds",
        "cuont=categorical",
        "--epochs",
        "1",
    )
    assert code == 1 and "did you mean 'count'" in err
    code, _, err = _cli(capsys, "impute", tmp / "run", "--data", path, "--out", path)
    assert code == 1 and "is the input file" in err


def test_imputation_keeps_pandas_dtypes_string_category_and_nullable_integers():
    df = pd.DataFrame(
        {
            "s": pd.array(["a", None, "b", "a"] * 10, dtype="string"),
            "k": pd.Categorical(["x", "y", None, "x"] * 10),
            "i": pd.array([1, None, 3, 4] * 10, dtype="Int64"),
            "f": [0.5, 1.5, np.nan, 2.5] * 10,
        }
    )
    m = _fitted(df, epochs=2)
    out = impute(m, df)
    assert (out.dtypes == df.dtypes).all(), out.dtypes
    assert out.notna().all().all()
    assert set(out["s"]) <= {"a", "b"} and set(out["k"]) <= {"x", "y"}
    assert (out["i"] == out["i"].round()).all()  # whole numbers in an integer column
    pd.testing.assert_frame_equal(out[df.notna()], df[df.notna()])
