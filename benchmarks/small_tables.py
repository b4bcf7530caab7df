"""The estimators' defaults on small tables: the autoencoder against PCA in a user's pipeline.

What a new user would try on a table of a few hundred rows:

    GridSearchCV(Pipeline(StandardScaler, AutoencoderTransformer() | PCA(), LogisticRegression),
                 {"...__latent_dim" | "...__n_components": sizes}, cv=5)

The autoencoder at its defaults but for ``random_state`` (and any ``--params``), PCA likewise;
the same five stratified folds for both (GridSearchCV's ``cv=5``). Reported per table: the mean
cross-validated accuracy of the best code size (``best_score_``), the accuracy at each size,
and the seconds the search took (fits of every size and fold, then the refit).

Tables that ship inside packages, 150-569 rows: iris, wine, breast cancer (scikit-learn), the
first 500 of the 8x8 digits (scikit-learn), the penguins' four measurements (palmerpenguins), and
400 seeded rows of the 1996 American National Election Study (statsmodels' ``anes96``; the vote
from nine numeric answers).

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/small_tables.py --json after.json
    python benchmarks/small_tables.py --sets wine --params '{"hidden": [64]}'   # one variant
    python benchmarks/small_tables.py --report before.json after.json           # the table
    python benchmarks/small_tables.py --seeds 0,1,2 ...   # mean and standard error over seeds
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

SETS = ("iris", "wine", "breast-cancer", "digits-500", "penguins", "anes96-400")
SIZES = (2, 4, 8, 16)  # the grid a user would write; sizes >= the number of features dropped


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) of a table, numeric columns only, rows with missing values dropped."""
    from sklearn import datasets as skd

    if name == "iris":
        return skd.load_iris(return_X_y=True)
    if name == "wine":
        return skd.load_wine(return_X_y=True)
    if name == "breast-cancer":
        return skd.load_breast_cancer(return_X_y=True)
    if name == "digits-500":
        X, y = skd.load_digits(return_X_y=True)
        return X[:500], y[:500]
    if name == "penguins":
        from palmerpenguins import load_penguins

        cols = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
        df = load_penguins().dropna(subset=cols)
        return df[cols].to_numpy(np.float64), df["species"].to_numpy()
    if name == "anes96-400":
        from statsmodels.datasets import anes96

        df = anes96.load_pandas().data
        cols = ["popul", "TVnews", "selfLR", "ClinLR", "DoleLR", "PID", "age", "educ", "income"]
        rows = np.random.default_rng(0).choice(len(df), 400, replace=False)
        return df[cols].to_numpy(np.float64)[rows], df["vote"].to_numpy()[rows]
    raise ValueError(f"unknown table {name!r}; choose from {', '.join(SETS)}")


def sizes_for(n_features: int) -> list[int]:
    sizes = [k for k in SIZES if k < n_features]
    return sizes if len(sizes) > 1 else sorted({*sizes, n_features - 1})


def search(step, param: str, sizes, X, y, scale_codes: bool = False) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    logreg = LogisticRegression(max_iter=1000)
    after = [("scale_codes", StandardScaler())] if scale_codes else []
    pipe = Pipeline([("scale", StandardScaler()), ("codes", step), *after, ("logreg", logreg)])
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the estimators' findings; the accuracy tells the story
        grid = GridSearchCV(pipe, {f"codes__{param}": sizes}, cv=5, n_jobs=1).fit(X, y)
    seconds = time.perf_counter() - t0
    by_size = grid.cv_results_["mean_test_score"]
    best = grid.best_index_
    folds = [grid.cv_results_[f"split{i}_test_score"][best] for i in range(5)]
    return {
        "accuracy": float(grid.best_score_),
        "fold_se": float(np.std(folds, ddof=1) / np.sqrt(len(folds))),  # the CV's own noise
        "best_size": int(grid.best_params_[f"codes__{param}"]),
        "by_size": {int(s): float(a) for s, a in zip(sizes, by_size, strict=True)},
        "seconds": seconds,
    }


def over_seeds(runs: list[dict]) -> dict:
    """One search per ``random_state``: the mean over seeds of the best accuracy and of the
    accuracy at each size, the standard error over seeds, and the total seconds."""
    acc = [r["accuracy"] for r in runs]
    return {
        "accuracy": float(np.mean(acc)),
        "seed_se": float(np.std(acc, ddof=1) / np.sqrt(len(acc))),
        "fold_se": float(np.mean([r["fold_se"] for r in runs])),
        "best_size": max((r["best_size"] for r in runs), key=[r["best_size"] for r in runs].count),
        "by_size": {s: float(np.mean([r["by_size"][s] for r in runs])) for s in runs[0]["by_size"]},
        "seconds": float(sum(r["seconds"] for r in runs)),
        "seeds": runs,
    }


def run(args) -> dict:
    import torch
    from sklearn.decomposition import PCA

    from codings import AutoencoderTransformer

    torch.set_num_threads(1)
    params = json.loads(args.params)
    out = {"params": params, "label": args.label, "sets": {}}
    for name in args.sets.split(","):
        X, y = load(name)
        sizes = sizes_for(X.shape[1])
        row = {"rows": len(X), "features": X.shape[1], "sizes": sizes}
        if not args.no_pca:
            row["pca"] = search(PCA(random_state=0), "n_components", sizes, X, y)
        if not args.no_autoencoder:
            runs = []
            for seed in (int(s) for s in args.seeds.split(",")):
                ae = AutoencoderTransformer(random_state=seed, device="cpu", **params)
                runs.append(search(ae, "latent_dim", sizes, X, y, args.scale_codes))
            row["autoencoder"] = over_seeds(runs) if len(runs) > 1 else runs[0]
        out["sets"][name] = row
        print(f"{name:14s} {len(X):4d}x{X.shape[1]:<3d}", end="")
        for method in ("pca", "autoencoder"):
            if method in row:
                a = row[method]
                print(
                    f"  {method} {a['accuracy']:.3f}"
                    + (f" +-{a['seed_se']:.3f}" if "seed_se" in a else "")
                    + f" [folds +-{a['fold_se']:.3f}] (best size {a['best_size']}, "
                    f"{a['seconds']:.1f} s) "
                    + " ".join(f"{s}:{v:.3f}" for s, v in a["by_size"].items()),
                    end="",
                )
        print(flush=True)
    return out


def report(paths: list[str]) -> None:
    every = [json.loads(Path(p).read_text()) for p in paths]
    names = list(every[0]["sets"])
    runs = [r for r in every if any("autoencoder" in row for row in r["sets"].values())]
    head = "| table | rows x features | PCA | " + " | ".join(
        f"autoencoder, {r['label']} | search (s)" for r in runs
    )
    print(head + " |")
    print("|---|---|---:|" + "---:|---:|" * len(runs))
    for name in names:
        first = every[0]["sets"][name]
        pca = next(
            (r["sets"][name]["pca"] for r in every if "pca" in r["sets"].get(name, {})), None
        )
        cells = []
        for r in runs:
            a = r["sets"].get(name, {}).get("autoencoder")
            se = "" if a is None or "seed_se" not in a else f" +-{a['seed_se']:.3f}"
            cells.append("-" if a is None else f"{a['accuracy']:.3f}{se} | {a['seconds']:.0f}")
        pca_cell = "-" if pca is None else f"{pca['accuracy']:.3f} (folds +-{pca['fold_se']:.3f})"
        print(
            f"| {name} | {first['rows']} x {first['features']} | {pca_cell} | "
            + " | ".join(cells)
            + " |"
        )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sets", default=",".join(SETS))
    p.add_argument("--params", default="{}", help="AutoencoderTransformer parameters, as JSON")
    p.add_argument(
        "--seeds", default="0", help="the autoencoder's random_state, one search each: 0,1,2"
    )
    p.add_argument(
        "--scale-codes", action="store_true", help="a StandardScaler on the codings (autoencoder)"
    )
    p.add_argument("--label", default="defaults", help="the column's name in --report")
    p.add_argument("--no-pca", action="store_true", help="skip the PCA pipeline")
    p.add_argument("--no-autoencoder", action="store_true", help="only the PCA pipeline")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--report", nargs="+", help="print the table of these result files")
    args = p.parse_args(argv)
    if args.report:
        report(args.report)
        return 0
    out = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
