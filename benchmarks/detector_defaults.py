"""The outlier detector's defaults on small one-class sets, before and after, in the same run.

The protocol and code of ``benchmarks/peers/pyod_anomaly.py`` (each class of MNIST and
Fashion-MNIST as the normal one, its first ``--train-images`` training images, the first
``--test-images`` test images scored; ROC AUC and average precision, fit and scoring seconds),
for codings' ``AutoencoderOutlierDetector`` only, so that it runs in codings' own environment:
at its defaults (``after``), at the defaults it had before (``before``: NAdam and the estimators'
"auto" stopping rule, 10 epochs or 2,000 optimiser steps of patience, which is what
``patience=69`` gives on 900 training images at batch 32), and at any ``--variants``.

    OMP_NUM_THREADS=1 PYTHONPATH=src CODINGS_DATA_DIR=../shared/data \
        python benchmarks/detector_defaults.py --classes 0,1,2,3,4,5
    python benchmarks/detector_defaults.py --suites mnist --classes 0 \
        --variants '{"adam, 20 epochs": {"optimizer": "adam", "epochs": 20}}'
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
from pathlib import Path

import numpy as np
import torch

from codings import AutoencoderOutlierDetector

ROOT = Path(__file__).resolve().parent
BEFORE = {"optimizer": "nadam", "patience": 69}  # the old defaults at 900 training images


def _peers():
    spec = importlib.util.spec_from_file_location("pyod_anomaly", ROOT / "peers/pyod_anomaly.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # its pyod imports are inside functions we do not call
    return module


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--suites", default="mnist,fashion-mnist")
    p.add_argument("--classes", default="0,1,2,3,4,5", help="normal classes, one run each")
    p.add_argument("--train-images", type=int, default=1000, help="per normal class")
    p.add_argument("--test-images", type=int, default=2000, help="the first N test images")
    p.add_argument("--variants", default="{}", help="more detectors: {label: parameters} as JSON")
    p.add_argument("--no-defaults", action="store_true", help="run only the --variants")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default=str(ROOT / "results" / "detector_defaults.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    variants = {} if args.no_defaults else {"before": BEFORE, "after": {}}
    variants.update(json.loads(args.variants))

    def make(params):
        return lambda: AutoencoderOutlierDetector(
            random_state=args.seed, device="cpu", threads=1, **params
        )

    neg = lambda X: lambda d: -d.score_samples(X)  # noqa: E731  higher = more anomalous
    dets = {label: (make(params), neg) for label, params in variants.items()}
    peers = _peers()
    suites = [peers.run_suite(args, name, dets) for name in args.suites.split(",") if name]
    for s in suites:
        print(f"\n{s['suite']}:\n{peers.table(s)}")
    result = {
        "args": vars(args),
        "variants": variants,
        "suites": suites,
        "meta": {
            "torch": torch.__version__,
            "numpy": np.__version__,
            "machine": platform.platform(),
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
