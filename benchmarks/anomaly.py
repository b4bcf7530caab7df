"""MNIST one-class anomaly detection: an autoencoder's reconstruction error against IsolationForest
and PCA's reconstruction error, in the same run.

Protocol (as in Ruff et al. 2018, "Deep One-Class Classification"): for each digit, train on that
digit's training images only (the normal class), score all 10,000 test images, and report the
ROC AUC with the digit as the positive (normal) class; then the mean over the digits. Higher
scores mean "more normal" for every method: the negative mean squared reconstruction error for
the autoencoder and PCA, ``score_samples`` for IsolationForest.

    python benchmarks/anomaly.py                 # all ten digits (the table in BENCHMARKS.md)
    python benchmarks/anomaly.py --quick         # a smoke run: two digits, small subsets
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from codings import AutoencoderOutlierDetector
from codings.datasets import load_dataset

ROOT = Path(__file__).resolve().parent


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--digits", default="0,1,2,3,4,5,6,7,8,9", help="normal classes, e.g. 0,1")
    p.add_argument("--hidden", default="256,64", help="hidden layer sizes before the codings")
    p.add_argument("--latent-dim", type=int, default=16)
    p.add_argument("--output", default="bernoulli", choices=("linear", "bernoulli"))
    p.add_argument("--activation", default="elu")
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument(
        "--pca-components",
        default="8,16,32,64",
        help="PCA baselines to run (numbers of components); the table also shows the best",
    )
    p.add_argument("--trees", type=int, default=100, help="IsolationForest's n_estimators")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--data-dir", default=None, help="folder holding mnist/ ($CODINGS_DATA_DIR)")
    p.add_argument("--quick", action="store_true", help="two digits, 1,000 train / 2,000 test")
    p.add_argument("--out", default=str(ROOT / "results" / "anomaly.json"))
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    train = load_dataset("mnist", "train+validation", data_dir=args.data_dir)  # 60,000 images
    test = load_dataset("mnist", "test", data_dir=args.data_dir)
    digits = [int(d) for d in args.digits.split(",")]
    X_test, y_test = test.X, test.y
    n_train = None
    if args.quick:
        digits, n_train, args.epochs = digits[:2], 1000, 5
        X_test, y_test = X_test[:2000], y_test[:2000]
    hidden = tuple(int(h) for h in args.hidden.split(","))
    ks = [int(k) for k in args.pca_components.split(",")]
    rows = []
    t_all = time.perf_counter()
    for d in digits:
        X = train.X[train.y == d][:n_train]  # (~6,000, 784) images of the normal class
        normal = y_test == d
        row = {"digit": d, "n_train": len(X)}

        t0 = time.perf_counter()
        det = AutoencoderOutlierDetector(
            hidden=hidden,
            latent_dim=args.latent_dim,
            activation=args.activation,
            output=args.output,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            random_state=args.seed,
            device=args.device,
        ).fit(X)
        row["autoencoder"] = roc_auc_score(normal, det.score_samples(X_test))
        row["autoencoder_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        for k in ks:
            pca = PCA(n_components=k, random_state=args.seed).fit(X)
            R = pca.inverse_transform(pca.transform(X_test))
            row[f"pca{k}"] = roc_auc_score(normal, -((R - X_test) ** 2).mean(axis=1))
        row["pca_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        forest = IsolationForest(n_estimators=args.trees, random_state=args.seed).fit(X)
        row["isolation_forest"] = roc_auc_score(normal, forest.score_samples(X_test))
        row["isolation_forest_s"] = time.perf_counter() - t0
        rows.append(row)
        pcas = ", ".join(f"PCA-{k} {row[f'pca{k}']:.4f}" for k in ks)
        print(
            f"digit {d}: autoencoder {row['autoencoder']:.4f} ({row['autoencoder_s']:.0f} s), "
            f"{pcas}, IsolationForest {row['isolation_forest']:.4f}",
            flush=True,
        )
    methods = ("autoencoder", *(f"pca{k}" for k in ks), "isolation_forest")
    mean = {m: float(np.mean([r[m] for r in rows])) for m in methods}
    best_k = max(ks, key=lambda k: mean[f"pca{k}"])
    return {
        "protocol": "MNIST one-class: train on one digit (train+validation images), score the "
        "test set, ROC AUC with the digit as the normal (positive) class",
        "args": vars(args),
        "model": f"784-{'-'.join(map(str, hidden))}-{args.latent_dim} (mirrored), {args.output}",
        "pca_components": ks,
        "pca_best_k": best_k,
        "rows": rows,
        "mean": mean,
        "seconds": {
            m: float(sum(r[f"{m}_s"] for r in rows))
            for m in ("autoencoder", "pca", "isolation_forest")
        },
        "wall_clock_s": time.perf_counter() - t_all,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "device": args.device,
        },
    }


def table(result: dict) -> str:
    ks = result["pca_components"]
    head = ["digit", "autoencoder", *(f"PCA-{k}" for k in ks), "IsolationForest", "AE fit (s)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    cols = ["autoencoder", *(f"pca{k}" for k in ks), "isolation_forest"]
    for r in result["rows"]:
        cells = [str(r["digit"]), *(f"{r[c]:.4f}" for c in cols), f"{r['autoencoder_s']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    m, s = result["mean"], result["seconds"]
    cells = ["**mean**", *(f"**{m[c]:.4f}**" for c in cols), f"{s['autoencoder']:.0f} (total)"]
    lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    result = run(args)
    print()
    print(table(result))
    s, m, k = result["seconds"], result["mean"], result["pca_best_k"]
    print(
        f"\nmean AUC: autoencoder {m['autoencoder']:.4f}, best PCA (k={k}) {m[f'pca{k}']:.4f}, "
        f"IsolationForest {m['isolation_forest']:.4f}"
    )
    print(
        f"\nwall-clock {result['wall_clock_s']:.0f} s (autoencoder {s['autoencoder']:.0f} s, "
        f"PCA {s['pca']:.0f} s, IsolationForest {s['isolation_forest']:.0f} s)"
    )
    out = Path(args.out)
    if args.quick:
        out = out.with_name(out.stem + "_quick.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
