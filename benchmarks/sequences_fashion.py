"""Sequence autoencoders on Fashion-MNIST read as 28 time steps of 28 pixels.

The chapter's later (3rd) edition trains a recurrent autoencoder on Fashion-MNIST rows:
LSTM(100, return_sequences) -> LSTM(30) encoder, RepeatVector(28), LSTM(100, return_sequences)
decoder, Dense(28) per step, squared error, Nadam (learning rate 1e-3), batch 32, 10 epochs, the
last 5,000 training images for validation; its validation MSE is 0.0104. This script trains
codings' ``recurrent`` builder with those settings (its defaults) and ``conv1d`` with the same
coding size, on the same split, and reports each model's validation MSE on pixel values in
[0, 1] after every epoch. The data go in as (n, 28, 28) arrays.

    python benchmarks/sequences_fashion.py                 # the full run (about 30 min, 1 thread)
    python benchmarks/sequences_fashion.py --quick         # 2,000 images, 1 epoch
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from codings import build, fit
from codings.datasets import load_dataset
from codings.metrics import reconstruction_errors

BOOK_VAL_MSE = 0.0104  # the later edition's recurrent autoencoder, 10 epochs

MODELS = {
    "recurrent": {"cell": "lstm", "hidden": [100], "latent_dim": 30},
    "conv1d": {"channels": [32, 64], "kernel_size": 3, "stride": 2, "latent_dim": 30},
}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--init", default="xavier", help="'xavier' (Keras' scheme) or 'torch'")
    p.add_argument("--n-train", type=int, default=None, help="train on the first N images")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="smoke run: 2,000 images, 1 epoch")
    p.add_argument("--data-dir")
    p.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "sequences_fashion.json")
    )
    args = p.parse_args(argv)
    if args.quick:
        args.n_train, args.epochs = args.n_train or 2000, 1

    train = load_dataset("fashion-mnist", "train", data_dir=args.data_dir)  # first 55,000
    val = load_dataset("fashion-mnist", "validation", data_dir=args.data_dir)  # last 5,000
    X = train.X[: args.n_train].reshape(-1, 28, 28)  # (n, time steps, channels)
    Xv = val.X.reshape(-1, 28, 28)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "data_dir")},
        "n_train": len(X),
        "n_val": len(Xv),
        "book_val_mse": BOOK_VAL_MSE,
        "models": {},
    }

    for name in args.models:
        kwargs = {**MODELS[name], "init": args.init}
        model = build(name, n_features=784, sequence_shape=[28, 28], seed=args.seed, **kwargs)
        entry = {
            "kwargs": kwargs,
            "parameters": sum(p.numel() for p in model.parameters()),
            "epochs": [],
        }
        result["models"][name] = entry

        def log(epoch: int, record: dict, _model, entry=entry, name=name) -> None:
            entry["epochs"].append(
                {"epoch": epoch, "val_mse": record["val_mse"], "seconds": record["time"]}
            )
            out.write_text(json.dumps(result, indent=1))  # kept if the run is cut short
            print(
                f"{name} epoch {epoch}: val MSE {record['val_mse']:.5f}, {record['time']:.0f} s",
                flush=True,
            )

        t0 = time.perf_counter()
        fit(
            model,
            X,
            X_val=Xv,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            optimizer="nadam",
            seed=args.seed,
            threads=args.threads,
            device="cpu",
            callbacks=[log],
        )
        entry["train_seconds"] = time.perf_counter() - t0
        entry["val_mse"] = float(reconstruction_errors(model, Xv).mean())  # pixels in [0, 1]
        entry["beats_book"] = entry["val_mse"] < BOOK_VAL_MSE
        out.write_text(json.dumps(result, indent=1))

    print("\n| model | parameters | epochs | val MSE | the book's | s/epoch (median) |")
    print("|---|---|---|---|---|---|")
    for name, e in result["models"].items():
        per_epoch = float(np.median([r["seconds"] for r in e["epochs"]]))
        print(
            f"| {name} | {e['parameters']:,} | {len(e['epochs'])} | {e['val_mse']:.5f} | "
            f"{BOOK_VAL_MSE} | {per_epoch:.0f} |"
        )
    print(f"\nresults in {out}")
    return result


if __name__ == "__main__":
    main()
