"""Tables and series: pyod's detectors beside codings' on the outlier suites of
``benchmarks/tables.py`` and ``benchmarks/series_anomaly.py``, in one run.

Run it in pyod's own environment (``make peers`` makes ``.venv-pyod``, with the suites' data:
pandas, statsmodels, palmerpenguins, and aeon's wheel for its series files), with codings from
this tree on the path:

    OMP_NUM_THREADS=1 PYTHONPATH=src CODINGS_DATA_DIR=../shared/data \\
        .venv-pyod/bin/python benchmarks/peers/pyod_tables_series.py

The data and its preparation are those two scripts' own (imported from them, not copied):

- **Tables** (``tables.py``'s outlier part): penguins, anes96, fair and wine, each with 5% of
  its rows "swapped" and 5% "extreme" (seeds 0, 1, 2); every detector fits the whole corrupted
  table (no labels) and scores it. codings' ``AutoencoderOutlierDetector()`` takes the
  DataFrame as it is (categories, missing cells); pyod's detectors need numbers, so they get
  the rows ``tables.py`` gives its baselines: numeric columns standardised, categorical ones
  one-hot, a missing number at its column's mean and a missing category all zeros.
- **Series** (``series_anomaly.py``): KDD-TSAD_135 (its labelled anomaly) and
  Daphnet_S06R02E0 (five injected anomalies), windows of ``--window`` steps, stride 1, each
  channel standardised on the training part. codings: ``AutoencoderOutlierDetector(window=64)``
  fitted on the training part, ``score_steps`` on the whole series; pyod's detectors fit the
  same flattened training windows and their window scores become step scores as
  ``codings.datasets.unwindow`` spreads them (the mean over the windows covering a step).
  Point-wise metrics on the steps after the training part.

Detectors at their defaults (the seed where they take one; ``DeepSVDD`` needs the feature
count). Metrics: ROC AUC and average precision with the outliers (corrupted rows, anomalous
steps) as the positive class, their means over the suite's runs; fit and scoring seconds
(one torch thread everywhere; not interleaved, so read them as orders of magnitude).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

BENCH = Path(__file__).resolve().parents[1]
PYOD = ("AutoEncoder", "VAE", "DeepSVDD", "IForest", "ECOD", "PCA")


def bench_module(name: str):
    """``benchmarks/<name>.py`` as a module (by path: ``tables`` is also PyTables' name)."""
    key = f"bench_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, BENCH / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


def pyod_detectors(n_features: int, seed: int, only=None) -> dict:
    """name -> a fresh pyod detector at its defaults (``only``: those of these names)."""
    if only and not any(d.startswith("pyod ") for d in only):
        return {}  # pyod is not imported: codings alone runs in any environment
    from pyod.models.auto_encoder import AutoEncoder
    from pyod.models.deep_svdd import DeepSVDD
    from pyod.models.ecod import ECOD
    from pyod.models.iforest import IForest
    from pyod.models.pca import PCA
    from pyod.models.vae import VAE

    return {
        "AutoEncoder": lambda: AutoEncoder(random_state=seed, verbose=0),
        "VAE": lambda: VAE(random_state=seed, verbose=0),
        "DeepSVDD": lambda: DeepSVDD(n_features=n_features, random_state=seed, verbose=0),
        "IForest": lambda: IForest(random_state=seed),
        "ECOD": lambda: ECOD(),
        "PCA": lambda: PCA(random_state=seed),
    }


def metrics(outlier: np.ndarray, score: np.ndarray) -> dict:
    """ROC AUC and average precision, outliers positive, higher score = more anomalous; NaN
    for both, and the count, where a detector gave scores that are not finite."""
    outlier = np.asarray(outlier, dtype=bool)
    bad = int((~np.isfinite(np.asarray(score, dtype=np.float64))).sum())
    if bad:
        return {"roc_auc": float("nan"), "ap": float("nan"), "nonfinite_scores": bad}
    return {
        "roc_auc": float(roc_auc_score(outlier, score)),
        "ap": float(average_precision_score(outlier, score)),
    }


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def numeric_rows(bad) -> np.ndarray:
    """What ``tables.py`` gives its baselines: standardised numbers, one-hot categories,
    a missing number at the mean (0) and a missing category all zeros."""
    T = bench_module("tables")
    A = T.OneHot(bad).forward(bad)
    return np.where(np.isnan(A), 0.0, A)


def table_runs(names, seeds, detectors=None) -> list[dict]:
    from codings import AutoencoderOutlierDetector

    T = bench_module("tables")
    rows = []
    for name in names:
        df = T.load_table(name)
        for seed in seeds:
            bad, kind, _ = T.corrupt(df, seed)
            A = numeric_rows(bad)
            outlier = kind != "clean"

            def codings_fit(seed=seed, bad=bad):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return AutoencoderOutlierDetector(
                        random_state=seed, device="cpu", threads=1
                    ).fit(bad)

            runs = {"codings": (codings_fit, lambda d, bad=bad: -d.score_samples(bad))}
            for det, make in pyod_detectors(A.shape[1], seed, detectors).items():
                runs[f"pyod {det}"] = (
                    lambda make=make, A=A: make().fit(A),
                    lambda d, A=A: d.decision_function(A),
                )
            for det, (fit, score) in runs.items():
                if detectors and det not in detectors:
                    continue
                fitted, fit_s = timed(fit)
                s, score_s = timed(lambda fitted=fitted, score=score: score(fitted))
                row = {"suite": "tables", "data": name, "seed": seed, "detector": det,
                       **metrics(outlier, s), "fit_s": fit_s, "score_s": score_s}  # fmt: skip
                for k in ("swapped", "extreme"):
                    keep = (kind == "clean") | (kind == k)
                    row[f"auc_{k}"] = metrics(kind[keep] == k, s[keep])["roc_auc"]
                rows.append(row)
                print(f"{name} seed {seed} {det}: AUC {row['roc_auc']:.3f} AP {row['ap']:.3f} "
                      f"fit {fit_s:.1f} s", flush=True)  # fmt: skip
    return rows


def series_runs(names, window: int, seed: int, detectors=None) -> list[dict]:
    from codings import AutoencoderOutlierDetector
    from codings.datasets import unwindow, windows

    S = bench_module("series_anomaly")
    rows = []
    for name in names:
        X, y, start, _ = S.load(name, seed)
        train = X[:start]
        W_train, scaling = windows(train, window)  # (n, L, C), standardised on train
        W_all, _ = windows(X, window, scaling=scaling)
        flat_train = W_train.reshape(len(W_train), -1)
        flat_all = W_all.reshape(len(W_all), -1)
        test = slice(start, None)
        # The injected anomalies (every series but KDD-TSAD_135's labelled one; see load)
        injected = [] if name == "KDD-TSAD_135" else S.injected_segments(len(X), start)

        def codings_fit(train=train):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return AutoencoderOutlierDetector(
                    window=window, random_state=seed, device="cpu", threads=1
                ).fit(train)

        runs = {
            "codings": (codings_fit, lambda d, X=X: -d.score_steps(X)),
            # The same fitted detector, its window errors spread over the steps as pyod's
            # window scores are (not each step's own error): what the spreading alone does.
            "codings (window errors)": (
                codings_fit,
                lambda d, X=X: unwindow(-d.score_samples(X), len(X), window),
            ),
        }
        n = len(X)
        for det, make in pyod_detectors(flat_train.shape[1], seed, detectors).items():
            runs[f"pyod {det}"] = (
                lambda make=make, F=flat_train: make().fit(F),
                lambda d, F=flat_all, n=n: unwindow(d.decision_function(F), n, window),
            )
        fits = {}  # fit -> (fitted, seconds): the codings rows share one fit
        for det, (fit, score) in runs.items():
            if detectors and det not in detectors:
                continue
            if fit not in fits:
                fits[fit] = timed(fit)
            fitted, fit_s = fits[fit]
            s, score_s = timed(lambda fitted=fitted, score=score: score(fitted))
            s = np.asarray(s, dtype=np.float64)
            row = {"suite": "series", "data": name, "seed": seed, "detector": det,
                   **metrics(y[test], s[test]), "best_f1": S.best_f1(y[test], s[test]),
                   "fit_s": fit_s, "score_s": score_s}  # fmt: skip
            if injected:  # each kind of anomaly against the normal test steps
                normal = np.zeros(len(X), dtype=bool)
                normal[test] = y[test] == 0
                for kind, seg in injected:
                    keep = normal.copy()
                    keep[seg] = True
                    row[f"auc_{kind}"] = metrics(~normal[keep], s[keep])["roc_auc"]
            rows.append(row)
            print(f"{name} {det}: AUC {row['roc_auc']:.3f} AP {row['ap']:.3f} "
                  f"fit {fit_s:.1f} s", flush=True)  # fmt: skip
    return rows


def summary(rows: list[dict]) -> list[dict]:
    """Per suite and detector, in first-seen order: the means over the suite's runs."""
    out = {}
    for r in rows:
        out.setdefault((r["suite"], r["detector"]), []).append(r)
    return [
        {"suite": suite, "detector": det, "runs": len(rs),
         **{k: float(np.mean([r[k] for r in rs])) for k in ("roc_auc", "ap", "fit_s", "score_s")}}
        for (suite, det), rs in out.items()
    ]  # fmt: skip


def table(summ: list[dict], suite: str) -> str:
    """A suite's means; the best ROC AUC in bold; "fails" where some scores were not finite."""
    rows = [s for s in summ if s["suite"] == suite]
    best = max((s["roc_auc"] for s in rows if np.isfinite(s["roc_auc"])), default=None)
    lines = [
        "| detector | mean ROC AUC | mean AP | fit (s) | score (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for s in rows:
        auc = f"{s['roc_auc']:.3f}" if np.isfinite(s["roc_auc"]) else "fails"
        ap = f"{s['ap']:.3f}" if np.isfinite(s["ap"]) else "fails"
        lines.append(
            f"| {s['detector']} | {f'**{auc}**' if s['roc_auc'] == best else auc} | "
            f"{ap} | {s['fit_s']:.2f} | {s['score_s']:.2f} |"
        )
    return "\n".join(lines)


def kinds_table(rows: list[dict]) -> str:
    """ROC AUC per kind of injected anomaly (``auc_<kind>``), one row per series' detector."""
    rows = [r for r in rows if any(k.startswith("auc_") for k in r) and r["suite"] == "series"]
    if not rows:
        return ""
    kinds = [k for k in rows[0] if k.startswith("auc_")]
    lines = [
        "| series | detector | " + " | ".join(k[4:] for k in kinds) + " |",
        "|---|---|" + "---:|" * len(kinds),
    ]
    for r in rows:
        cells = " | ".join(f"{r[k]:.3f}" for k in kinds)
        lines.append(f"| {r['data']} | {r['detector']} | {cells} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tables", default="penguins,anes96,fair,wine", help="'' for none")
    p.add_argument("--seeds", default="0,1,2", help="the tables' corruption seeds")
    p.add_argument("--series", default="KDD-TSAD_135,Daphnet_S06R02E0", help="'' for none")
    p.add_argument("--window", type=int, default=64)
    p.add_argument("--seed", type=int, default=0, help="the series' detectors and injection")
    p.add_argument("--detectors", default="", help="only these (e.g. 'codings,pyod IForest')")
    p.add_argument("--out", default=str(BENCH / "results" / "peers_pyod_tables_series.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    only = [d for d in args.detectors.split(",") if d]
    rows = []
    if args.tables:
        seeds = [int(s) for s in args.seeds.split(",")]
        rows += table_runs(args.tables.split(","), seeds, only)
    if args.series:
        rows += series_runs(args.series.split(","), args.window, args.seed, only)
    summ = summary(rows)
    for suite in dict.fromkeys(s["suite"] for s in summ):
        print(f"\n{suite}:\n{table(summ, suite)}")
    if kinds_table(rows):
        print(f"\nROC AUC per kind of injected anomaly:\n{kinds_table(rows)}")
    try:
        import pyod
    except ImportError:
        pyod = None
    meta = {"pyod": getattr(pyod, "__version__", None), "torch": torch.__version__,
            "numpy": np.__version__, "threads": torch.get_num_threads(),
            "machine": platform.platform()}  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "meta": meta, "rows": rows,
                               "summary": summ}, indent=1))  # fmt: skip
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
