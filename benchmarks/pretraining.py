"""Unsupervised pretraining on MNIST, then a classifier on few labels: scratch vs frozen vs
fine-tuned.

One tied 784-300-150-300-784 autoencoder (ELU, l2=1e-4) is trained greedily, layer-wise, on
all 55,000 training images without labels. For each label count and seed, a seeded stratified
subset of the training split is labelled and a 100-50-10 softmax head is put on the encoder:

* frozen:   codings computed once, only the head trained;
* finetune: encoder and head trained together from the pretrained weights;
* scratch:  the same network from random weights.

Small label sets are repeated within an epoch so that every epoch has at least
``--min-epoch-rows`` rows (the same number of steps between validation checks for every label
count). Training stops early on the validation cross-entropy (the 5,000 validation images,
the same for every mode) and keeps the best epoch. Writes benchmarks/results/pretraining.json.

    python benchmarks/pretraining.py           # 100, 1000, 10000, 55000 labels x 3 seeds
    python benchmarks/pretraining.py --quick   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import codings
from codings.classify import MODES, score, stratified_subset, train_classifier
from codings.datasets import load_dataset
from codings.layerwise import pretrain_layerwise
from codings.metrics import reconstruct

HERE = Path(__file__).resolve().parent


def pretrained_autoencoder(path: Path | None, X, Xv, args):
    if path is not None and path.exists():
        return codings.load(path), 0.0
    t0 = time.perf_counter()
    kw = dict(n_features=784, hidden=(300, 150), l2=args.ae_l2, tied=True, seed=0)
    kw["output"] = args.ae_output
    if args.noise == "none":
        ae = codings.build("stacked", **kw)
    else:  # corrupted inputs in every phase, clean targets (Vincent et al. 2010)
        ae = codings.build("denoising", noise=args.noise, noise_level=args.noise_level, **kw)
    pretrain_layerwise(
        ae, X, X_val=Xv, epochs=args.phase_epochs, batch_size=150, lr=1e-3, seed=0, device="cpu"
    )
    if path is not None:
        codings.save(ae, path, metadata={"n_features": 784, "image_shape": [28, 28]})
    return ae, time.perf_counter() - t0


def schedule(n: int, args) -> dict:
    """Batch size, rows per epoch (by repetition), epochs and patience for ``n`` labels."""
    batch = 32 if n < 5000 else 64 if n < 20000 else 128
    reps = max(1, int(np.ceil(args.min_epoch_rows / n)))
    epochs = args.max_epochs_small if n < 5000 else args.max_epochs_large
    return {
        "batch_size": batch,
        "repeat": reps,
        "epochs": epochs,
        "patience": args.patience,
        "anneal_epochs": args.anneal_epochs,
    }


def summarise(runs: list[dict], modes: list[str]) -> list[dict]:
    table = []
    for n in sorted({r["labels"] for r in runs}):
        row = {"labels": n}
        for mode in modes:
            accs = [r["test_accuracy"] for r in runs if r["labels"] == n and r["mode"] == mode]
            if accs:
                row[mode] = {
                    "mean": float(np.mean(accs)),
                    "std": float(np.std(accs)),
                    "n": len(accs),
                }
        table.append(row)
    return table


def print_table(table: list[dict], modes: list[str]) -> None:
    print("\n| labels | " + " | ".join(modes) + " |")
    print("|---:|" + "---:|" * len(modes))
    for row in table:
        cells = [
            f"{100 * row[m]['mean']:.2f} ± {100 * row[m]['std']:.2f} (n={row[m]['n']})"
            if m in row
            else "-"
            for m in modes
        ]
        print(f"| {row['labels']:,} | " + " | ".join(cells) + " |")
    print("\ntest accuracy in %, mean ± standard deviation over seeds")


def merge(paths: list[str], out: Path) -> int:
    """Join the runs of several result files (e.g. label counts run in parallel)."""
    parts = [json.loads(Path(p).read_text()) for p in paths]
    result = dict(parts[0])
    result["runs"] = [r for part in parts for r in part["runs"]]
    result["seconds_classifiers"] = [part["seconds_classifiers"] for part in parts]
    result["merged_from"] = paths
    modes = list(dict.fromkeys(r["mode"] for r in result["runs"]))
    result["table"] = summarise(result["runs"], modes)
    out.write_text(json.dumps(result, indent=1))
    print_table(result["table"], modes)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny run: 2 label counts, 1 seed")
    p.add_argument("--labels", default="100,1000,10000,55000")
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--phase-epochs", type=int, default=4)
    p.add_argument("--noise", default="none", help="none, gaussian or masking (denoising)")
    p.add_argument("--noise-level", type=float, default=0.3)
    p.add_argument("--ae-l2", type=float, default=1e-4, help="the autoencoder's L2 weight")
    p.add_argument("--min-epoch-rows", type=int, default=2000)
    p.add_argument("--max-epochs-small", type=int, default=30)
    p.add_argument("--max-epochs-large", type=int, default=10)
    p.add_argument("--patience", type=int, default=4)
    p.add_argument("--anneal-epochs", type=int, default=3, help="then up to N epochs at lr/10")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--dropout", type=float, default=0.0, help="in the classifier's head")
    p.add_argument("--finetune-lr", type=float, help="fine-tuning stage's rate (default lr/10)")
    p.add_argument(
        "--direct-finetune",
        action="store_true",
        help="fine-tune everything at once from a random head (default: head first, then all)",
    )
    p.add_argument("--ae-output", default="linear", help="linear or bernoulli")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--autoencoder", help="a pretrained autoencoder to load, or where to save one")
    p.add_argument("--data-dir")
    p.add_argument("--out", default=str(HERE / "results" / "pretraining.json"))
    p.add_argument("--merge", nargs="+", help="only join these result files into --out")
    args = p.parse_args(argv)
    if args.merge:
        return merge(args.merge, Path(args.out))
    torch.set_num_threads(args.threads)
    if args.quick:
        args.labels, args.seeds, args.phase_epochs = "100,1000", "0", 1
        args.max_epochs_small = args.max_epochs_large = 3
        args.anneal_epochs = 1

    train = load_dataset("mnist", "train", data_dir=args.data_dir)
    val = load_dataset("mnist", "validation", data_dir=args.data_dir)
    test = load_dataset("mnist", "test", data_dir=args.data_dir)
    X_ae = train.X[:5000] if args.quick else train.X
    ae, ae_seconds = pretrained_autoencoder(
        Path(args.autoencoder) if args.autoencoder else None, X_ae, val.X, args
    )
    ae_mse = float(((reconstruct(ae, test.X) - test.X) ** 2).mean())

    runs = []
    t_all = time.perf_counter()
    for n in [int(v) for v in args.labels.split(",")]:
        sched = schedule(min(n, len(train.X)), args)
        for seed in [int(s) for s in args.seeds.split(",")]:
            idx = stratified_subset(train.y, n, seed=seed)
            idx = np.tile(idx, sched["repeat"])
            for mode in args.modes.split(","):
                t0 = time.perf_counter()
                clf, hist = train_classifier(
                    ae,
                    train.X[idx],
                    train.y[idx],
                    X_val=val.X,
                    y_val=val.y,
                    mode=mode,
                    hidden=(100, 50),
                    dropout=args.dropout,
                    head_first=not args.direct_finetune,
                    finetune_lr=args.finetune_lr,
                    epochs=sched["epochs"],
                    batch_size=sched["batch_size"],
                    lr=args.lr,
                    patience=sched["patience"],
                    anneal_epochs=sched["anneal_epochs"],
                    seed=seed,
                    device="cpu",
                )
                acc = score(clf, test.X, test.y)["accuracy"]
                run = {
                    "labels": n,
                    "seed": seed,
                    "mode": mode,
                    "test_accuracy": acc,
                    "epochs_run": len(hist),
                    "val_accuracy": score(clf, val.X, val.y)["accuracy"],
                    "seconds": time.perf_counter() - t0,
                    **sched,
                }
                runs.append(run)
                print(
                    f"labels {n:6d} seed {seed} {mode:9s} test accuracy {acc:.4f} "
                    f"({len(hist)} epochs, {run['seconds']:.0f} s)",
                    flush=True,
                )

    table = summarise(runs, args.modes.split(","))
    result = {
        "autoencoder": ae.config,
        "autoencoder_test_mse": ae_mse,
        "autoencoder_seconds": ae_seconds,
        "head": [100, 50, 10],
        "lr": args.lr,
        "dropout": args.dropout,
        "head_first": not args.direct_finetune,
        "finetune_lr": args.finetune_lr,
        "max_epochs": [args.max_epochs_small, args.max_epochs_large],
        "threads": args.threads,
        "seconds_classifiers": time.perf_counter() - t_all,
        "table": table,
        "runs": runs,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))

    print_table(table, args.modes.split(","))
    print(f"autoencoder test per-pixel MSE {ae_mse:.5f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
