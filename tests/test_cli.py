import json

import numpy as np
import pytest

from codings.cli import main, parse_value


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = main(
        [
            "train",
            "stacked",
            "--dataset",
            "digits",
            "--hidden",
            "16,4",
            "--tied",
            "--epochs",
            "3",
            "--batch-size",
            "32",
            "--lr",
            "3e-3",
            "--out",
            str(out),
            "--no-progress",
            "--json",
        ]
    )
    assert code == 0
    return out


def test_list_shows_models_and_arguments(capsys):
    r = run_json(capsys, "list")
    assert r["models"]["stacked"]["arguments"]["tied"] is False
    assert "linear" in r["models"]


def test_train_writes_model_history_metrics_and_figures(digits_run):
    names = {p.name for p in digits_run.iterdir()}
    assert {
        "model.safetensors",
        "train_state.safetensors",
        "history.json",
        "metrics.json",
        "curves.png",
        "reconstructions.png",
    } <= names
    history = json.loads((digits_run / "history.json").read_text())
    assert len(history) == 3 and "val_mse" in history[-1]


def test_eval_reports_the_test_split(capsys, digits_run):
    r = run_json(capsys, "eval", digits_run, "--dataset", "digits", "--split", "test")
    assert r["split"] == "test" and r["n"] == 179
    from codings.datasets import load_dataset

    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    mean_mse = float(((test.X - train.X.mean(0)) ** 2).mean())
    assert 0 < r["mse"] < mean_mse and r["loss"] > 0


def test_encode_and_reconstruct_files(capsys, digits_run, tmp_path):
    from codings.datasets import load_dataset

    X = load_dataset("digits", "test").X[:7]
    np.save(tmp_path / "x.npy", X)
    np.savetxt(tmp_path / "x.csv", X, delimiter=",")
    r = run_json(capsys, "encode", digits_run, tmp_path / "x.npy", tmp_path / "z.npy")
    assert r["shape"] == [7, 4] and np.load(tmp_path / "z.npy").shape == (7, 4)
    r = run_json(capsys, "encode", digits_run, tmp_path / "x.csv", tmp_path / "z.csv")
    assert np.allclose(
        np.loadtxt(tmp_path / "z.csv", delimiter=","), np.load(tmp_path / "z.npy"), atol=1e-5
    )
    r = run_json(
        capsys,
        "reconstruct",
        digits_run,
        tmp_path / "x.npy",
        tmp_path / "r.npy",
        "--plot",
        tmp_path / "r.png",
    )
    R = np.load(tmp_path / "r.npy")
    assert R.shape == X.shape and r["mse"] == pytest.approx(float(((R - X) ** 2).mean()), rel=1e-5)
    assert (tmp_path / "r.png").stat().st_size > 1000


def test_resume_continues_a_run(capsys, tmp_path):
    args = [
        "train",
        "stacked",
        "--dataset",
        "digits",
        "--hidden",
        "8",
        "--out",
        tmp_path,
        "--no-progress",
    ]
    assert run(capsys, *args, "--epochs", "2")[0] == 0
    code, _, err = run(capsys, *args, "--epochs", "4")
    assert code == 1 and "--resume" in err
    r = run_json(capsys, *args, "--epochs", "4", "--resume")
    assert r["epochs"] == 4
    assert len(json.loads((tmp_path / "history.json").read_text())) == 4


def test_pca_check_on_iris_meets_the_bounds(capsys, tmp_path):
    r = run_json(capsys, "pca-check", "--dataset", "iris", "--latent-dim", "2", "--out", tmp_path)
    assert r["mse_ratio"] <= 1.01
    assert r["max_principal_angle_deg"] <= 1.0
    assert r["pca_explained_variance"] == pytest.approx(0.9581, abs=1e-3)  # known for iris
    assert (tmp_path / "pca_vs_autoencoder.png").exists()
    assert r["converged"] is True and r["mse_ratio"] <= 1 + r["rtol"]


def test_pca_check_says_when_it_has_not_converged(capsys, tmp_path):
    # 30 epochs leave digits' linear autoencoder well above PCA's optimum (ratio ~1.2).
    argv = ["pca-check", "--dataset", "digits", "--epochs", "30", "--out", tmp_path]
    code, out, err = run(capsys, *argv)
    assert code == 0
    assert "NOT CONVERGED" in out and "more --epochs (now 30)" in out
    assert "pca-check: a linear autoencoder 64-2-64 on digits" in err  # says what it does
    r = run_json(capsys, *argv)
    assert r["converged"] is False and r["mse_ratio"] > 1.05 and r["epochs"] == 30


def test_pca_check_takes_a_users_file(capsys, tmp_path):
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    path = tmp_path / "breast_cancer.csv"
    header = ",".join(n.replace(" ", "_") for n in data.feature_names)
    np.savetxt(path, data.data, delimiter=",", header=header, comments="")
    r = run_json(capsys, "pca-check", "--dataset", path, "--out", tmp_path)
    assert r["dataset"] == "breast_cancer.csv" and r["converged"] is True
    # Known for the standardised breast cancer data: two components explain 63.2%.
    assert r["pca_explained_variance"] == pytest.approx(0.6324, abs=1e-3)
    assert (tmp_path / "pca_vs_autoencoder.png").exists()


def test_user_csv_file_trains_with_standardisation(capsys, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5)) * [1, 10, 100, 1, 1] + 50
    np.savetxt(tmp_path / "d.csv", X, delimiter=",")
    out = tmp_path / "run"
    r = run_json(
        capsys,
        "train",
        "stacked",
        "--dataset",
        tmp_path / "d.csv",
        "--hidden",
        "4",
        "--epochs",
        "40",
        "--batch-size",
        "32",
        "--lr",
        "3e-3",
        "--out",
        out,
        "--no-progress",
    )
    assert r["epochs"] == 40
    r = run_json(capsys, "reconstruct", out, tmp_path / "d.csv", tmp_path / "r.npy")
    # Reconstructions come back in the user's units: relative to each column's variance the
    # error beats predicting the mean (standardised outputs would be off by ~50 everywhere).
    R = np.load(tmp_path / "r.npy")
    assert (((R - X) ** 2).mean(0) / X.var(0)).mean() < 0.9


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "stackd", "--dataset", "digits", "--out", "{tmp}"], "did you mean 'stacked'"),
        (["train", "stacked", "--dataset", "nope", "--out", "{tmp}"], "nope"),
        (
            ["train", "stacked", "--dataset", "digits", "--set", "hiden=3", "--out", "{tmp}"],
            "did you mean 'hidden'",
        ),
        (["train", "stacked", "--dataset", "digits", "--lr", "-1", "--out", "{tmp}"], "lr=-1"),
        (["train", "linear", "--dataset", "digits", "--tied", "--out", "{tmp}"], "no tied option"),
        (["eval", "{tmp}", "--dataset", "digits"], "no model.safetensors"),
        (["encode", "{tmp}/missing.safetensors", "a.npy", "b.npy"], "no such checkpoint"),
    ],
)
def test_errors_are_one_clear_line(capsys, tmp_path, argv, message):
    code, out, err = run(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert code == 1
    assert err.startswith("codings: error:") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(ValueError):
        main(["--debug", "eval", str(tmp_path), "--dataset", "digits"])


def test_parse_value():
    assert parse_value("3") == 3 and parse_value("0.5") == 0.5
    assert parse_value("true") is True and parse_value("300,150") == [300, 150]
    assert parse_value("gaussian") == "gaussian" and parse_value("none") is None


def test_train_on_mnist_through_the_data_dir(capsys, tmp_path, data_dir):
    r = run_json(
        capsys,
        "train",
        "stacked",
        "--dataset",
        "mnist",
        "--data-dir",
        data_dir,
        "--hidden",
        "64",
        "--epochs",
        "1",
        "--batch-size",
        "128",
        "--lr",
        "3e-3",
        "--out",
        tmp_path,
        "--no-progress",
    )
    assert r["val_mse"] < 0.035  # half the mean image's error
    r = run_json(capsys, "eval", tmp_path, "--dataset", "mnist", "--data-dir", data_dir)
    assert r["n"] == 10000 and r["mse"] < 0.035


def test_encode_streams_npy_to_npy_without_loading_it_whole(capsys, digits_run, tmp_path):
    from codings import load
    from codings.datasets import load_dataset
    from codings.metrics import encode

    X = load_dataset("digits", "all").X
    np.save(tmp_path / "x.npy", X)
    r = run_json(capsys, "encode", digits_run, tmp_path / "x.npy", tmp_path / "z.npy")
    assert r["shape"] == [len(X), 4]
    Z = np.load(tmp_path / "z.npy")
    assert np.array_equal(Z, encode(load(digits_run), X))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy", "z.npy"]
    np.save(tmp_path / "bad.npy", X[:, :10])
    code, _, err = run(capsys, "encode", digits_run, tmp_path / "bad.npy", tmp_path / "z2.npy")
    assert code == 1 and "takes rows of 64 features" in err


def test_cosine_schedule_from_the_command_line_changes_training(capsys, tmp_path):
    losses = {}
    for schedule in ("constant", "cosine"):
        out = tmp_path / schedule
        args = ["train", "stacked", "--dataset", "digits", "--hidden", "8", "--epochs", "3"]
        assert run(capsys, *args, "--lr-schedule", schedule, "--out", out, "--no-progress")[0] == 0
        history = json.loads((out / "history.json").read_text())
        losses[schedule] = [rec["train_loss"] for rec in history]
    assert len(losses["cosine"]) == 3
    assert losses["cosine"] != losses["constant"]


@pytest.mark.parametrize(
    ("hidden", "message"),
    [
        ("300,,150", "hidden='300,,150' has an empty size"),
        ("300,", "hidden='300,' has an empty size"),
        ("300,0", "hidden='300,0' holds 0, which is not a layer size"),
        ("300,-5", "hidden='300,-5' holds -5, which is not a layer size"),
        ("300,x", "hidden='300,x' is not a list of sizes"),
    ],
)
def test_hidden_sizes_must_be_positive_and_none_empty(capsys, tmp_path, hidden, message):
    argv = ["train", "stacked", "--dataset", "digits", "--out", str(tmp_path), "--hidden", hidden]
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err and "comma-separated positive whole" in err


def test_every_argument_is_described_and_every_default_shown():
    import argparse

    from codings.cli import build_parser

    subparsers = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    )
    missing = []
    for command, sub in subparsers.choices.items():
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            name = action.option_strings[-1] if action.option_strings else action.dest
            if not action.help:
                missing.append(f"{command} {name}: no help")
            elif action.default not in (None, False) and "default" not in action.help:
                missing.append(f"{command} {name}: default {action.default!r} not shown")
    assert missing == []


def test_list_sets_the_classifier_apart_and_train_points_to_classify(capsys, tmp_path):
    r = run_json(capsys, "list")
    assert r["models"]["classifier"]["command"] == "classify"
    assert r["models"]["stacked"]["command"] == "train"
    code, out, _ = run(capsys, "list")
    trained, _, elsewhere = out.partition("`codings classify DIR`")
    assert "classifier" not in trained and elsewhere.lstrip(":\n").startswith("classifier")
    argv = ["train", "classifier", "--dataset", "digits", "--out", tmp_path]
    code, _, err = run(capsys, *argv)
    assert code == 1 and err.count("\n") == 1 and "`codings classify DIR" in err
    assert not (tmp_path / "model.safetensors").exists()


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    """A model trained on a user's CSV with column names (so standardised by the CLI)."""
    folder = tmp_path_factory.mktemp("csv")
    X = np.random.default_rng(0).normal(size=(120, 3)) * [1, 10, 100] + 50
    (folder / "d.csv").write_text(
        "height,weight,income\n" + "\n".join(",".join(f"{v:.5f}" for v in row) for row in X)
    )
    argv = ["train", "stacked", "--dataset", folder / "d.csv", "--hidden", "2", "--epochs", "3"]
    assert main([str(a) for a in argv] + ["--out", str(folder / "run"), "--no-progress"]) == 0
    return folder


def test_encode_and_reconstruct_keep_a_csvs_header(capsys, csv_run):
    data, run_dir = csv_run / "d.csv", csv_run / "run"
    run_json(capsys, "encode", run_dir, data, csv_run / "z.csv")
    lines = (csv_run / "z.csv").read_text().splitlines()
    assert lines[0] == "z0,z1" and len(lines) == 121
    r = run_json(capsys, "reconstruct", run_dir, data, csv_run / "r.csv")
    lines = (csv_run / "r.csv").read_text().splitlines()
    assert lines[0] == "height,weight,income" and len(lines) == 121
    # The MSE is on the standardised data, as eval reports it; mse_raw in the file's units.
    e = run_json(capsys, "eval", run_dir, "--dataset", data)
    assert r["mse"] == pytest.approx(e["mse"], rel=1e-4)
    X = np.loadtxt(data, delimiter=",", skiprows=1)
    R = np.loadtxt(csv_run / "r.csv", delimiter=",", skiprows=1)
    assert r["mse_raw"] == pytest.approx(float(((R - X) ** 2).mean()), rel=1e-4)
    assert r["mse_raw"] > 10 * r["mse"]  # the raw columns' variances are 1, 100 and 10,000
    out = run(capsys, "reconstruct", run_dir, data, csv_run / "r2.npy")[1]
    assert "on the standardised data, as train and eval report it" in out
    assert "in the file's units" in out


def test_eval_on_a_users_file_calls_it_the_whole_file(capsys, csv_run):
    e = run_json(capsys, "eval", csv_run / "run", "--dataset", csv_run / "d.csv")
    assert e["split"] == "all" and e["n"] == 120
    out = run(capsys, "eval", csv_run / "run", "--dataset", csv_run / "d.csv")[1]
    assert "(the whole file, 120 examples)" in out and "test" not in out


def test_uint8_images_are_flattened_and_scaled_with_a_note(capsys, digits_run, tmp_path):
    from codings import load
    from codings.datasets import load_dataset
    from codings.metrics import encode

    X = load_dataset("digits", "test").X[:9]
    images = np.round(X * 255).astype(np.uint8).reshape(9, 8, 8)  # what torchvision holds
    np.save(tmp_path / "u8.npy", images)
    expected = encode(load(digits_run), images.reshape(9, 64).astype(np.float32) / 255)
    code, out, err = run(capsys, "encode", digits_run, tmp_path / "u8.npy", tmp_path / "z.csv")
    assert code == 0 and "9 images of 8x8" in err and "divided by 255" in err
    assert np.allclose(np.loadtxt(tmp_path / "z.csv", delimiter=","), expected, atol=1e-6)
    run_json(capsys, "encode", digits_run, tmp_path / "u8.npy", tmp_path / "z.npy")  # streamed
    assert np.array_equal(np.load(tmp_path / "z.npy"), expected)
    r = run_json(capsys, "reconstruct", digits_run, tmp_path / "u8.npy", tmp_path / "r.npy")
    assert r["shape"] == [9, 64] and np.load(tmp_path / "r.npy").max() <= 1.5
    e = run_json(capsys, "eval", digits_run, "--dataset", tmp_path / "u8.npy")
    assert e["n"] == 9 and e["split"] == "all"
    np.save(tmp_path / "wrong.npy", np.zeros((3, 4, 16), dtype=np.uint8))
    code, _, err = run(capsys, "encode", digits_run, tmp_path / "wrong.npy", tmp_path / "w.npy")
    assert code == 1 and "images of 4x16 but the model was trained on images of 8x8" in err


def test_the_readme_names_the_figures_train_writes(digits_run):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert (digits_run / "filters.png").stat().st_size > 1000  # first-layer weights as images
    assert "`filters.png`" in readme and "`features.png`" not in readme


def test_cli_functions_import_numpy_and_scaling_where_they_use_them():
    # cli.py imports numpy and Scaling only for type hints (so the parser starts without
    # them); a function that uses either at run time must import it itself, or it fails with
    # a NameError that no linter reports.
    import ast

    import codings.cli

    tree = ast.parse(open(codings.cli.__file__).read())
    missing = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef):
            continue
        used = {
            n.id
            for stmt in fn.body
            for n in ast.walk(stmt)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
        }
        imported = {
            (alias.asname or alias.name).split(".")[0]
            for n in ast.walk(fn)
            if isinstance(n, (ast.Import, ast.ImportFrom))
            for alias in n.names
        }
        missing += [
            f"{fn.name} uses {name}" for name in ("np", "Scaling") if name in used - imported
        ]
    assert missing == []
