"""The defaults study: which optimiser, learning rate and batch size to train with by default.

Every recipe (optimiser x learning rate x batch size) trains the same stacked autoencoder per
data set with the "auto" stopping rule of :mod:`codings.defaults` (patience on the validation
loss, best weights kept), seed 0, one thread. Reported: the validation reconstruction MSE on the
scaled data (tables standardised on the training rows, images -- digits included -- in
[0, 1]), beside PCA with the same code size and predicting the training mean. The recipe whose
worst ratio to the best MSE over the data sets is smallest is the candidate default.

Images use a subset (``--image-rows`` training rows, 2,000 validation rows) and an equal epoch
budget for every batch size (``--image-epochs``: equal computation) to keep the study affordable
on a small machine (BENCHMARKS.md gives the times measured).

    CODINGS_DATA_DIR=/work/shared/data python benchmarks/defaults_study.py --json out.json
    python benchmarks/defaults_study.py --sets iris,wine --optimizers adam   # a quick look
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn import datasets as skd
from sklearn.decomposition import PCA

from codings import build, fit
from codings.datasets import Scaling, load_array, load_dataset
from codings.defaults import INIT, EarlyStopping, auto_epochs, auto_patience

# name: (code size, hidden layers before the code)
SETS = {
    "iris": (2, (16,)),
    "wine": (4, (32,)),
    "breast-cancer": (8, (32,)),
    "diabetes-csv": (4, (32,)),
    "digits": (8, (64,)),
    "mnist": (32, (256,)),
    "fashion-mnist": (32, (256,)),
}


def _split(X: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    idx = np.random.default_rng(seed).permutation(len(X))
    n_val = len(X) // 5
    return X[idx[n_val:]], X[idx[:n_val]]


def _table(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X, Xv = _split(np.asarray(X, dtype=np.float32))
    s = Scaling.fit(X)
    return s.forward(X), s.forward(Xv)


def load(name: str, image_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, validation rows), scaled as the command line scales them."""
    if name == "iris":
        return _table(skd.load_iris().data)
    if name == "wine":
        return _table(skd.load_wine().data)
    if name == "breast-cancer":
        return _table(skd.load_breast_cancer().data)
    if name == "digits":  # 8x8 images, in [0, 1] as `codings train --dataset digits` has them
        return load_dataset(name, "train").X, load_dataset(name, "validation").X
    if name == "diabetes-csv":  # a user's CSV file, with a header, read as `codings train` reads it
        d = skd.load_diabetes()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "diabetes.csv"
            np.savetxt(path, d.data, delimiter=",", header=",".join(d.feature_names), comments="")
            return _table(load_array(path))
    train, val = load_dataset(name, "train"), load_dataset(name, "validation")  # MNIST-like
    rng = np.random.default_rng(0)
    X = train.X[rng.choice(len(train.X), image_rows, replace=False)]
    return X, val.X[:2000]


def run(X, Xv, code, hidden, optimizer, lr, batch, max_epochs, init=None):
    init = init or INIT  # what the command line and the estimators give the builder
    model = build(
        "stacked", n_features=X.shape[1], hidden=hidden, latent_dim=code, init=init, seed=0
    )
    stopper = EarlyStopping(auto_patience(len(X), batch))
    t0 = time.perf_counter()
    history = fit(
        model,
        X,
        X_val=Xv,
        epochs=auto_epochs(len(X), batch, max_epochs=max_epochs),
        batch_size=batch,
        lr=lr,
        optimizer=optimizer,
        callbacks=[stopper],
        device="cpu",
    )
    stopper.restore(model)
    model.eval()
    with torch.no_grad():
        R = model.decode(model.encode(torch.as_tensor(Xv))).numpy()  # (N, D)
    return {
        "mse": float(np.mean((R - Xv) ** 2)),
        "epochs": len(history),
        "best_epoch": stopper.best_epoch,
        "seconds": time.perf_counter() - t0,
    }


def baselines(X, Xv, code) -> dict:
    p = PCA(n_components=code, random_state=0).fit(X)
    pca = float(np.mean((p.inverse_transform(p.transform(Xv)) - Xv) ** 2))
    return {"pca": pca, "mean": float(np.mean((Xv - X.mean(0)) ** 2))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--optimizers", default="adam,nadam")
    ap.add_argument("--lrs", default="1e-3,3e-3")
    ap.add_argument("--batches", default="32,64,256")
    ap.add_argument(
        "--inits",
        help="weight initialisations to compare, e.g. he,xavier (default: codings.defaults.INIT)",
    )
    ap.add_argument("--image-rows", type=int, default=10_000)
    ap.add_argument("--image-epochs", type=int, default=30)
    ap.add_argument("--json", help="write every result here")
    ap.add_argument("--report", nargs="+", help="only print the table of these --json files")
    args = ap.parse_args(argv)
    if args.report:
        merged: dict = {}
        for path in args.report:
            merged.update(json.loads(Path(path).read_text()))
        print(markdown(merged))
        return 0
    torch.set_num_threads(1)
    recipes = list(
        itertools.product(
            args.optimizers.split(","),
            [float(v) for v in args.lrs.split(",")],
            [int(v) for v in args.batches.split(",")],
            args.inits.split(",") if args.inits else [None],
        )
    )
    results: dict = {}
    t_start = time.perf_counter()
    for name in args.sets.split(","):
        code, hidden = SETS[name]
        X, Xv = load(name, args.image_rows)
        image = name in ("mnist", "fashion-mnist")
        res = {"n_train": len(X), "n_val": len(Xv), "code": code, "hidden": list(hidden)}
        res.update(baselines(X, Xv, code))
        res["recipes"] = {}
        for opt, lr, batch, init in recipes:
            max_epochs = args.image_epochs if image else 2_000
            r = run(X, Xv, code, hidden, opt, lr, batch, max_epochs, init)
            label = f"{opt} lr={lr:g} batch={batch}" + ("" if init is None else f" init={init}")
            res["recipes"][label] = r
            print(
                f"{name:14s} {label:36s} mse={r['mse']:.5f} "
                f"epochs={r['epochs']:4d} (best {r['best_epoch']}) {r['seconds']:6.1f}s",
                flush=True,
            )
        results[name] = res
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
    print(f"total {time.perf_counter() - t_start:.0f}s")
    print(markdown(results))
    return 0


def markdown(results: dict) -> str:
    """Validation MSE per recipe and data set ("-": not run there), each recipe's worst ratio to
    the best MSE of each data set, and the two baselines."""
    names = list(results)
    keys = list(dict.fromkeys(k for n in names for k in results[n]["recipes"]))
    best = {n: min(r["mse"] for r in results[n]["recipes"].values()) for n in names}
    head = [f"{n} (code {results[n]['code']})" for n in names]
    lines = ["| recipe | " + " | ".join(head) + " | worst ratio to best |"]
    lines.append("|---" * (len(names) + 2) + "|")
    for k in keys:
        runs = {n: results[n]["recipes"].get(k) for n in names}
        cells = [f"{r['mse']:.4g}" if r else "-" for r in runs.values()]
        worst = max(r["mse"] / best[n] for n, r in runs.items() if r)
        lines.append(f"| {k} | " + " | ".join(cells) + f" | {worst:.3f} |")
    for label, key in (("PCA, same code size", "pca"), ("predict the training mean", "mean")):
        lines.append(f"| {label} | " + " | ".join(f"{results[n][key]:.4g}" for n in names) + " | |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
