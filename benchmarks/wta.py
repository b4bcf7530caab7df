"""Winner-take-all autoencoder on MNIST, with a linear classifier on its codings.

Makhzani & Frey (2015), "Winner-Take-All Autoencoders": a fully connected autoencoder with 2,000
ReLU units and 5% lifetime sparsity; a linear classifier on its codings reaches 98.8% test
accuracy in the paper. This script trains the registered ``wta`` model, then a logistic
regression on the frozen codings (C chosen on the validation split), and reports the test
accuracy, next to the same classifier on raw pixels.

    python benchmarks/wta.py                # full run (train 55k, 30 epochs)
    python benchmarks/wta.py --quick        # smoke run (5k examples, 2 epochs)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from codings import build, fit, load, save
from codings.datasets import load_dataset
from codings.metrics import encode, linear_probe, reconstruction_errors


def _log(epoch: int, record: dict, model) -> None:
    shown = ", ".join(f"{k} {v:.4g}" for k, v in record.items() if k != "epoch")
    print(f"epoch {epoch}: {shown}", flush=True)


def _describe(args) -> str:
    return f"{args.channels} maps, pooled 4x4" if args.conv else f"{args.units}"


def _features(model, X, args) -> np.ndarray:
    """Dense WTA: the codings. Conv WTA: each map max-pooled to 4 x 4 (as in the paper)."""
    if not args.conv:
        return encode(model, X)
    import torch
    import torch.nn.functional as F

    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(X), 1000):
            z = model.encode(torch.from_numpy(X[i : i + 1000]))  # (B, C*28*28)
            maps = z.reshape(len(z), args.channels[-1], 28, 28)
            out.append(F.adaptive_max_pool2d(maps, 4).flatten(1).numpy())  # (B, C*16)
    return np.vstack(out)


def _train(model, X, X_val, args, callbacks) -> list[dict]:
    hist = fit(
        model,
        X,
        X_val=X_val,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        device="cpu",
        callbacks=callbacks,
    )
    return hist.records


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small smoke run")
    p.add_argument("--units", type=int, default=2000)
    p.add_argument("--rate", type=float, default=0.05, help="lifetime sparsity")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--C", type=float, nargs="+", default=[0.001, 0.003, 0.01, 0.03])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "wta.json"))
    p.add_argument("--figures", default=None, help="folder for the filters figure")
    p.add_argument("--save", help="write the model here after every epoch (.safetensors)")
    p.add_argument("--load", help="probe this saved model instead of training one")
    p.add_argument("--conv", action="store_true", help="convolutional WTA (spatial + lifetime)")
    p.add_argument("--channels", type=int, nargs="+", default=[32], help="conv feature maps")
    p.add_argument("--n-train", type=int, default=None, help="train on the first N images")
    args = p.parse_args(argv)

    train = load_dataset("mnist", "train", data_dir=args.data_dir)
    val = load_dataset("mnist", "validation", data_dir=args.data_dir)
    test = load_dataset("mnist", "test", data_dir=args.data_dir)
    Xtr, ytr = train.X, train.y
    if args.quick:
        Xtr, ytr = Xtr[:5000], ytr[:5000]
        args.epochs = min(args.epochs, 2)
        args.C = args.C[:1]
    if args.n_train:
        Xtr, ytr = Xtr[: args.n_train], ytr[: args.n_train]

    t0 = time.perf_counter()
    shape = dict(conv=True, channels=args.channels) if args.conv else dict(hidden=[args.units])
    model = build("wta", n_features=784, rate=args.rate, seed=args.seed, **shape)
    callbacks = [_log]
    if args.save:
        callbacks.append(lambda epoch, record, m: save(m, args.save) and None)
    if args.load:
        model, records = load(args.load), []
    else:
        records = _train(model, Xtr, val.X, args, callbacks)
    train_s = time.perf_counter() - t0
    val_mse = float(reconstruction_errors(model, val.X).mean())

    t1 = time.perf_counter()
    Ztr, Zv, Zte = (_features(model, X, args) for X in (Xtr, val.X, test.X))
    sparsity = float((Zte > 0).mean())
    by_c = {c: linear_probe(Ztr, ytr, Zv, val.y, C=c) for c in args.C}
    best_c = max(by_c, key=by_c.get)
    # The chosen C, refitted on train + validation, scored once on the test split.
    Zfull, yfull = np.vstack([Ztr, Zv]), np.concatenate([ytr, val.y])
    test_acc = linear_probe(Zfull, yfull, Zte, test.y, C=best_c)
    pixels_acc = linear_probe(
        np.vstack([Xtr, val.X]), yfull, test.X, test.y, C=best_c, max_iter=300
    )
    probe_s = time.perf_counter() - t1

    result = {
        "units": args.units if not args.conv else None,
        "conv_channels": args.channels if args.conv else None,
        "rate": args.rate,
        "epochs": len(records),
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "quick": args.quick,
        "n_train": len(Xtr),
        "val_mse": val_mse,
        "val_accuracy_by_C": {str(c): a for c, a in by_c.items()},
        "C": best_c,
        "test_accuracy": test_acc,
        "pixels_test_accuracy": pixels_acc,
        "test_active_fraction": sparsity,
        "paper_test_accuracy": None if args.conv else 0.988,
        "train_seconds": train_s,
        "probe_seconds": probe_s,
        "history": records,
        "loaded": args.load,
    }
    if args.figures:
        from codings.plots import filters

        result["figure"] = str(filters(model, (28, 28), Path(args.figures) / "wta_filters.png"))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print("| model | codings | epochs | val MSE | linear probe test acc. | pixels | paper |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {'Conv' if args.conv else 'FC'}-WTA, {args.rate:.0%} lifetime | "
        f"{_describe(args)} | {len(records) or 'saved'} | "
        f"{val_mse:.5f} | "
        f"{test_acc:.4f} (C={best_c:g}) | {pixels_acc:.4f} | {'-' if args.conv else 0.988} |"
    )
    print(f"\ntrain {train_s:.0f} s, probe {probe_s:.0f} s; results in {out}")
    return result


if __name__ == "__main__":
    main()
