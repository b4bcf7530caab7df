"""The default code size on small inputs (``codings.defaults.small_input_code``), checked.

On 150 features or fewer the dense ``stacked`` model's default 300-150 gives at least as many
codings as features. The rule builds one hidden layer and half the features as codings
instead. Two checks, in one run, one torch thread:

- **Detector** on wine (``tables.py``'s outlier protocol: 5% swapped and 5% extreme rows,
  seeds 0-2): ``AutoencoderOutlierDetector()`` with the old default spelled out
  (``hidden=(300, 150)``), with the rule (its defaults now), with other code sizes after one
  hidden layer of 64, and with the table model; mean ROC AUC of all corrupted rows.
- **Classifier** at its defaults (``StandardScaler -> AutoencoderClassifier()``, 5 stratified
  folds, seeds 0 and 1) on four small tables of ``small_tables.py``, before (300-150 spelled
  out) and after.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/small_input_code.py
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

ROOT = Path(__file__).resolve().parent
DETECTORS = {
    "before: hidden=(300, 150)": {"hidden": (300, 150)},
    "after: defaults (13-64-6)": {},
    "hidden=(64,), latent_dim=2": {"hidden": (64,), "latent_dim": 2},
    "hidden=(64,), latent_dim=4": {"hidden": (64,), "latent_dim": 4},
    'model="table"': {"model": "table"},
}
CLASSIFIERS = {"before: hidden=(300, 150)": {"hidden": (300, 150)}, "after: defaults": {}}


def bench(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def detector_rows(seeds) -> list[dict]:
    from sklearn.metrics import roc_auc_score

    from codings import AutoencoderOutlierDetector

    T = bench("tables")
    df = T.load_table("wine")
    rows = []
    for label, params in DETECTORS.items():
        aucs, t0 = [], time.perf_counter()
        for seed in seeds:
            bad, kind, _ = T.corrupt(df, seed)
            det = AutoencoderOutlierDetector(random_state=seed, device="cpu", threads=1, **params)
            aucs.append(roc_auc_score(kind != "clean", -det.fit(bad).score_samples(bad)))
        rows.append({"detector": label, "roc_auc": float(np.mean(aucs)), "seeds": aucs,
                     "seconds": time.perf_counter() - t0})  # fmt: skip
        print(f"wine {label}: {rows[-1]['roc_auc']:.3f} {np.round(aucs, 3)}", flush=True)
    return rows


def classifier_rows(tables, seeds) -> list[dict]:
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from codings import AutoencoderClassifier

    sys.path.insert(0, str(ROOT))
    load = bench("small_tables").load
    rows = []
    for name in tables:
        X, y = load(name)
        for label, params in CLASSIFIERS.items():
            acc, t0 = [], time.perf_counter()
            for seed in seeds:
                clf = AutoencoderClassifier(random_state=seed, device="cpu", threads=1, **params)
                acc.append(float(cross_val_score(make_pipeline(StandardScaler(), clf), X, y,
                                                 cv=5).mean()))  # fmt: skip
            rows.append({"table": name, "classifier": label, "accuracy": float(np.mean(acc)),
                         "seeds": acc, "seconds": time.perf_counter() - t0})  # fmt: skip
            print(f"{name} {label}: {rows[-1]['accuracy']:.3f} {np.round(acc, 3)} "
                  f"{rows[-1]['seconds']:.0f} s", flush=True)  # fmt: skip
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tables", default="iris,wine,breast-cancer,digits-500")
    p.add_argument("--out", default=str(ROOT / "results" / "small_input_code.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # the fits' notes; the numbers are the point here
    result = {
        "detector_wine": detector_rows([0, 1, 2]),
        "classifier": classifier_rows(args.tables.split(","), [0, 1]),
        "meta": {"torch": torch.__version__, "machine": platform.platform()},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
