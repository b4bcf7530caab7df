"""Real tables with numeric, categorical and missing cells: imputation and outlier detection by
codings' table autoencoder beside scikit-learn's imputers, IsolationForest and PCA, in one run.

The tables ship inside installed packages (no download):

- ``penguins`` (palmerpenguins; 344 rows): 3 categorical columns (species, island, sex; the
  year read as a category too), 4 numeric, and 19 cells missing in the file itself.
- ``anes96`` (statsmodels; 944 rows): the 1996 US election survey, its codes read as they are
  meant: party identification, education and the vote as categories, the rest numeric
  (``logpopul`` is dropped: it is ``log(popul + 0.1)``, a column any method fills exactly).
- ``fair`` (statsmodels; 1,000 of its 6,366 rows, drawn once): the affairs survey, the wife's and
  the husband's occupations as categories.
- ``wine`` (scikit-learn; 178 rows, 13 numeric): numeric only, where scikit-learn's imputers
  are at home, and where the estimators keep their dense model unless holes make it a table
  (``breast_cancer``, 569 x 30 numeric, runs with ``--tables`` but is left out of the default
  run to keep it near 10 minutes).

(i) Imputation: hide 10%, 20% and 30% of the observed cells at random (seeds 0, 1, 2), fill
them, and score the hidden cells: the RMSE of the numeric ones in standard deviations of their
column, and the accuracy of the categorical ones. codings: ``AutoencoderTransformer()`` at its
defaults, ``fit(df).impute(df)``. The baselines see the numeric columns standardised and the
categorical ones one-hot (a missing category: the whole block missing; the filled block's argmax
is the category): ``SimpleImputer`` (mean / most frequent), ``KNNImputer`` (5
neighbours) and ``IterativeImputer`` (Bayesian ridge, 10 rounds; its blocks drop their first
category, see ``OneHot``).

(ii) Outliers: in each table (seeds 0, 1, 2) 5% of the rows get 1-3 cells replaced by a value of
the same column from another row, or another category of the column ("swapped": each value is
plausible alone, only the row does not hold together), and another 5% get 1-3 numeric cells
moved to 4-6 standard deviations from the column's mean, or a category swapped where the table
has no numeric column ("extreme"). Each detector is fitted on the whole corrupted table (no
labels, as in practice) and scores it; the ROC AUC of each kind is against the clean rows.
codings: ``AutoencoderOutlierDetector()`` at its defaults; ``hit`` is the share of corrupted rows
whose largest ``column_contributions`` is one of the corrupted cells. Baselines on one-hot +
standardised rows (missing cells: the column's mean, an all-zero block): ``IsolationForest``
(100 trees) and PCA's reconstruction error with the components that hold 90% of the variance.

    OMP_NUM_THREADS=1 python benchmarks/tables.py --steps 1000   # BENCHMARKS.md (10 minutes)
    python benchmarks/tables.py --quick --steps 200   # a smoke run: one seed, two tables, 10%

It needs pandas (``pip install 'codings[tables]'``), palmerpenguins and statsmodels.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent
TABLES = ("penguins", "anes96", "fair", "wine")
MORE = ("breast_cancer",)  # loadable with --tables; left out of the default run for time


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tables", default=",".join(TABLES))
    p.add_argument("--fractions", default="0.1,0.2,0.3", help="shares of observed cells hidden")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--parts", default="impute,outliers")
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="train codings for this many optimiser steps on all rows (epochs=ceil(steps / "
        "steps per epoch), at least 20; validation_fraction=0) instead of its default stopping "
        "rule",
    )
    p.add_argument("--quick", action="store_true", help="one seed, two tables, 10%% hidden")
    p.add_argument("--out", default=str(ROOT / "results" / "tables.json"))
    return p.parse_args(argv)


# --- the tables ---------------------------------------------------------------------------------


def load_table(name: str) -> pd.DataFrame:
    """A table as a DataFrame: categorical columns as strings (object), numeric as float."""
    if name == "penguins":
        import palmerpenguins

        df = palmerpenguins.load_penguins()
        cats = ["species", "island", "sex", "year"]
    elif name == "anes96":
        from statsmodels.datasets import anes96

        df = anes96.load_pandas().data.drop(columns="logpopul")
        cats = ["PID", "educ", "vote"]
    elif name == "fair":
        from statsmodels.datasets import fair

        df = fair.load_pandas().data.sample(1000, random_state=0).reset_index(drop=True)
        cats = ["occupation", "occupation_husb"]
    elif name in ("wine", "breast_cancer"):
        from sklearn import datasets

        df = getattr(datasets, f"load_{name}")(as_frame=True).data
        cats = []
    else:
        raise ValueError(f"no table {name!r}; the tables are {', '.join(TABLES + MORE)}")
    df = df.copy()
    for c in df.columns:
        if c in cats:  # "2007", "Adelie": one value per category, NaN stays missing
            df[c] = df[c].map(lambda v: v if pd.isna(v) else str(v)).astype(object)
        else:
            df[c] = df[c].astype(np.float64)
    return df


def categorical(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if df[c].dtype == object]


class OneHot:
    """Numeric columns standardised, categorical ones one-hot; missing cells stay NaN (a whole
    block for a category) so that the imputers see them. ``back`` undoes it (argmax per block).

    ``drop_first`` leaves out each block's first category (its value is 1 minus the others'):
    IterativeImputer needs it, as a full block's columns predict each other exactly on the
    observed rows (``a = 1 - b - c``), so the regression of a missing block sees only its own
    mean-filled columns and returns the mean (the most frequent category, every time).
    """

    def __init__(self, df: pd.DataFrame, drop_first: bool = False):
        self.columns = list(df.columns)
        self.cats = {c: sorted(df[c].dropna().unique()) for c in categorical(df)}
        self.drop = int(drop_first)
        num = [c for c in self.columns if c not in self.cats]
        self.mean = df[num].mean()
        self.std = df[num].std(ddof=0).replace(0.0, 1.0)

    def forward(self, df: pd.DataFrame) -> np.ndarray:
        blocks = []
        for c in self.columns:
            if c in self.cats:
                v = df[c].to_numpy()
                B = np.stack([(v == k) for k in self.cats[c]], axis=1).astype(np.float64)
                B[pd.isna(v)] = np.nan
                blocks.append(B[:, self.drop :])
            else:
                blocks.append(((df[c] - self.mean[c]) / self.std[c]).to_numpy()[:, None])
        return np.hstack(blocks)

    def back(self, A: np.ndarray, index) -> pd.DataFrame:
        out, j = {}, 0
        for c in self.columns:
            if c in self.cats:
                k = len(self.cats[c]) - self.drop
                B = A[:, j : j + k]
                if self.drop:
                    B = np.hstack([1.0 - B.sum(1, keepdims=True), B])
                out[c] = np.asarray(self.cats[c], dtype=object)[B.argmax(1)]
                j += k
            else:
                out[c] = A[:, j] * self.std[c] + self.mean[c]
                j += 1
        return pd.DataFrame(out, index=index)


# --- (i) imputation -----------------------------------------------------------------------------


def hide(df: pd.DataFrame, fraction: float, seed: int) -> np.ndarray:
    """A mask of ``fraction`` of the observed cells, drawn uniformly (n_rows, n_columns)."""
    rng = np.random.default_rng(seed)
    observed = np.flatnonzero(df.notna().to_numpy())
    chosen = rng.choice(observed, size=int(round(fraction * len(observed))), replace=False)
    mask = np.zeros(df.shape, dtype=bool)
    mask.flat[chosen] = True
    return mask


def sklearn_imputers(seed: int) -> dict:
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, KNNImputer

    # (the estimator, whether its one-hot blocks drop their first category; see OneHot)
    return {
        "knn": (lambda: KNNImputer(n_neighbors=5), False),
        "iterative": (lambda: IterativeImputer(max_iter=10, random_state=seed), True),
    }


def simple_impute(df: pd.DataFrame) -> pd.DataFrame:
    """scikit-learn's SimpleImputer: the mean of a numeric column, a category's most frequent."""
    from sklearn.impute import SimpleImputer

    out = df.copy()
    cats = categorical(df)
    num = [c for c in df.columns if c not in cats]
    if num:
        out[num] = SimpleImputer(strategy="mean").fit_transform(df[num])
    if cats:
        imp = SimpleImputer(strategy="most_frequent", missing_values=np.nan)
        out[cats] = imp.fit_transform(df[cats].astype(object))
    return out


def impute_scores(truth: pd.DataFrame, filled: pd.DataFrame, mask: np.ndarray, std) -> dict:
    """RMSE (in the column's standard deviations) of the hidden numeric cells; accuracy of the
    hidden categorical ones."""
    sq, hits, n_num, n_cat = 0.0, 0, 0, 0
    for j, c in enumerate(truth.columns):
        rows = mask[:, j]
        if not rows.any():
            continue
        t, f = truth[c].to_numpy()[rows], filled[c].to_numpy()[rows]
        if truth[c].dtype == object:
            hits += int((t == f).sum())
            n_cat += len(t)
        else:
            sq += float((((f.astype(float) - t) / std[c]) ** 2).sum())
            n_num += len(t)
    return {
        "rmse": float(np.sqrt(sq / n_num)) if n_num else None,
        "accuracy": hits / n_cat if n_cat else None,
    }


def codings_params(n_rows: int, steps: int | None, seed: int) -> dict:
    """The estimators' parameters: the defaults, or a fixed budget of optimiser steps."""
    params = {"random_state": seed, "device": "cpu"}
    if steps is not None:
        per_epoch = -(-n_rows // 32)  # the default batch of 32
        params.update(epochs=max(20, -(-steps // per_epoch)), validation_fraction=0.0)
    return params


def run_imputation(name: str, df: pd.DataFrame, fractions, seeds, steps=None) -> list[dict]:
    from codings import AutoencoderTransformer

    std = df[[c for c in df.columns if c not in categorical(df)]].std(ddof=0)
    rows = []
    for fraction in fractions:
        for seed in seeds:
            mask = hide(df, fraction, seed)
            holed = df.mask(mask)
            methods = {"mean/mode": simple_impute}
            for key, (make, drop) in sklearn_imputers(seed).items():
                enc = OneHot(holed, drop_first=drop)
                methods[key] = lambda h, make=make, enc=enc: enc.back(
                    make().fit_transform(enc.forward(h)), h.index
                )
            params = codings_params(len(df), steps, seed)
            methods["codings"] = lambda h, params=params: (
                AutoencoderTransformer(**params).fit(h).impute(h)
            )
            for method, fill in methods.items():
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # convergence notes of IterativeImputer
                    filled = fill(holed)
                row = {"table": name, "fraction": fraction, "seed": seed, "method": method}
                row.update(impute_scores(df, filled, mask, std))
                row["fit_s"] = time.perf_counter() - t0
                rows.append(row)
    return rows


# --- (ii) outliers ------------------------------------------------------------------------------


def corrupt(df: pd.DataFrame, seed: int, share: float = 0.05):
    """The table with ``share`` of its rows "swapped" and ``share`` "extreme" (see the module's
    docstring); returns it, the kind of each row ("clean", "swapped", "extreme") and a mask of
    the corrupted cells."""
    rng = np.random.default_rng(seed)
    out = df.copy()
    n, d = df.shape
    cats = set(categorical(df))
    numeric = [j for j, c in enumerate(df.columns) if c not in cats]
    k = max(1, int(round(share * n)))
    rows = rng.permutation(n)[: 2 * k]
    kind = np.array(["clean"] * n, dtype=object)
    cells = np.zeros((n, d), dtype=bool)
    for r_i, r in enumerate(rows):
        extreme = r_i >= k and numeric
        kind[r] = "extreme" if r_i >= k else "swapped"
        pool = numeric if extreme else list(range(d))
        m = int(rng.integers(1, min(3, len(pool)) + 1))
        for j in rng.choice(pool, size=m, replace=False):
            c = df.columns[j]
            col = df[c]
            if c in cats:
                options = [v for v in col.dropna().unique() if v != col.iloc[r]]
                new = options[int(rng.integers(len(options)))]
            elif extreme:
                sign = rng.choice([-1.0, 1.0])
                new = col.mean() + sign * rng.uniform(4, 6) * col.std(ddof=0)
            else:
                others = col.dropna()
                others = others[others != col.iloc[r]]
                new = others.iloc[int(rng.integers(len(others)))]
            out.iat[r, j] = new
            cells[r, j] = True
    return out, kind, cells


def run_outliers(name: str, df: pd.DataFrame, seeds, steps=None) -> list[dict]:
    from sklearn.decomposition import PCA
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import roc_auc_score

    from codings import AutoencoderOutlierDetector

    rows = []
    for seed in seeds:
        bad, kind, cells = corrupt(df, seed)
        enc = OneHot(bad)
        A = enc.forward(bad)
        A = np.where(np.isnan(A), 0.0, A)  # a missing number at its mean, a missing category 0s
        scores, times = {}, {}

        t0 = time.perf_counter()
        forest = IsolationForest(random_state=seed).fit(A)
        scores["iforest"], times["iforest"] = -forest.score_samples(A), time.perf_counter() - t0

        t0 = time.perf_counter()
        pca = PCA(n_components=0.9, svd_solver="full").fit(A)
        R = pca.inverse_transform(pca.transform(A))
        scores["pca"], times["pca"] = ((A - R) ** 2).mean(1), time.perf_counter() - t0

        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            det = AutoencoderOutlierDetector(**codings_params(len(df), steps, seed)).fit(bad)
        scores["codings"] = -det.score_samples(bad)
        times["codings"] = time.perf_counter() - t0
        corrupted = kind != "clean"

        def hit_rate(C, corrupted=corrupted, cells=cells):
            top = np.asarray(C)[corrupted].argmax(1)
            return float(cells[corrupted][np.arange(corrupted.sum()), top].mean())

        if not hasattr(det, "schema_"):  # a complete numeric table: the table model beside it
            t0 = time.perf_counter()
            params = {**codings_params(len(df), steps, seed), "model": "table"}
            tab = AutoencoderOutlierDetector(**params).fit(bad)
            scores["codings table"] = -tab.score_samples(bad)
            times["codings table"] = time.perf_counter() - t0
        hit = hit_rate(det.column_contributions(bad))
        held = None
        if hasattr(det, "schema_"):  # each cell predicted with its column hidden
            from codings.tables import column_errors

            held = hit_rate(column_errors(det.model_, bad, held_out=True)[list(bad.columns)])

        for method, s in scores.items():
            row = {"table": name, "seed": seed, "method": method, "fit_s": times[method]}
            for k in ("swapped", "extreme"):
                keep = (kind == "clean") | (kind == k)
                row[f"auc_{k}"] = float(roc_auc_score(kind[keep] == k, s[keep]))
            if method == "codings":
                row["hit"], row["hit_held_out"], row["model"] = hit, held, det.model_.config["name"]
            rows.append(row)
    return rows


# --- the report ---------------------------------------------------------------------------------


def medians(rows: list[dict], keys: tuple, values: tuple) -> list[dict]:
    df = pd.DataFrame(rows)
    return (
        df.groupby(list(keys), sort=False)[list(values)].median().reset_index().to_dict("records")
    )


def fmt(v, spec=".3f") -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, spec)


def report(result: dict) -> str:
    lines = []
    if result.get("impute"):
        lines += [
            "Imputation, medians over seeds: numeric RMSE (column SDs, lower is better) / "
            "categorical accuracy (higher is better) / fit+fill seconds",
            "",
            "| table | hidden | mean/mode | KNN | iterative | codings |",
            "|---|---:|---|---|---|---|",
        ]
        med = medians(
            result["impute"], ("table", "fraction", "method"), ("rmse", "accuracy", "fit_s")
        )
        by = {(r["table"], r["fraction"], r["method"]): r for r in med}
        for table, fraction in dict.fromkeys((r["table"], r["fraction"]) for r in med):
            cells = []
            for m in ("mean/mode", "knn", "iterative", "codings"):
                r = by[(table, fraction, m)]
                cells.append(f"{fmt(r['rmse'])} / {fmt(r['accuracy'])} / {fmt(r['fit_s'], '.2f')}")
            lines.append(f"| {table} | {fraction:.0%} | " + " | ".join(cells) + " |")
        lines.append("")
    if result.get("outliers"):
        lines += [
            "Outliers, medians over seeds: ROC AUC of the swapped and the extreme rows against "
            "the clean ones; hit: the share of corrupted rows whose largest column contribution "
            "is a corrupted cell (held out: each cell predicted with its column hidden)",
            "",
            "| table | detector | AUC swapped | AUC extreme | fit s | hit | held out |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        df = pd.DataFrame(result["outliers"])
        for (table, method), g in df.groupby(["table", "method"], sort=False):
            name = {"iforest": "IsolationForest", "pca": "PCA (90% var.)"}.get(method, method)
            if method == "codings":
                name = f"codings ({g['model'].iloc[0]})"
            hit = g["hit"].median() if "hit" in g and g["hit"].notna().any() else None
            held = g["hit_held_out"].dropna() if "hit_held_out" in g else pd.Series([])
            lines.append(
                f"| {table} | {name} | {g['auc_swapped'].median():.3f} | "
                f"{g['auc_extreme'].median():.3f} | {g['fit_s'].median():.2f} | "
                f"{fmt(hit, '.2f')} | {fmt(held.median() if len(held) else None, '.2f')} |"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    tables = args.tables.split(",")
    fractions = [float(f) for f in args.fractions.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.quick:
        tables, fractions, seeds = tables[:2], fractions[:1], seeds[:1]
    parts = args.parts.split(",")
    result = {"impute": [], "outliers": []}
    t_all = time.perf_counter()
    for name in tables:
        df = load_table(name)
        if "impute" in parts:
            result["impute"] += run_imputation(name, df, fractions, seeds, args.steps)
        if "outliers" in parts:
            result["outliers"] += run_outliers(name, df, seeds, args.steps)
    result["total_s"] = time.perf_counter() - t_all
    result["machine"] = {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }
    result["quick"] = args.quick
    result["steps"] = args.steps
    text = report(result)
    print(text)
    print(f"\ntotal {result['total_s']:.0f} s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
