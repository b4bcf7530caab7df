"""Every registered autoencoder at one shared budget on MNIST, next to PCA of the same code size.

For each model in ``codings.MODELS`` that reconstructs (has ``decode``), built with its default
arguments (the image shape filled in, as the command line does), the script trains for the same
number of epochs with the same optimiser, batch size and seed, then reports

* the validation per-pixel MSE (evaluation mode: no corruption, no lifetime sparsity),
* the accuracy of a logistic regression on the frozen codings (a linear probe: trained on the
  codings of the first ``--probe-train`` training images, scored on the validation split),
* PCA with as many components as the model has codings: its validation MSE and probe accuracy.

Two checks reuse the trained models: the denoising model against the plain stacked model of the
same shape on test images corrupted with the training noise, and how close the KL-sparse model's
mean activations come to its target.

    python benchmarks/quality.py                 # full run (55k images, 3 epochs per model)
    python benchmarks/quality.py --quick         # smoke run (3k images, 1 epoch)
"""

from __future__ import annotations

import argparse
import inspect
import json
import time
from pathlib import Path

import numpy as np

from codings import MODELS, build, fit
from codings.datasets import load_dataset
from codings.metrics import (
    denoising_error,
    encode,
    linear_probe,
    mean_activations,
    reconstruction_errors,
    target_gap,
)


def _kwargs(name: str, image_shape) -> dict:
    params = inspect.signature(MODELS[name]).parameters
    return {"image_shape": list(image_shape)} if "image_shape" in params else {}


def _pca(Xtr, Xv, ytr_probe, yv, k: int, n_probe: int) -> dict:
    from sklearn.decomposition import PCA

    k = min(k, Xtr.shape[1])  # as many codings as pixels or more: PCA keeps every pixel
    pca = PCA(n_components=k, random_state=0).fit(Xtr)
    Zv = pca.transform(Xv)
    mse = float(((pca.inverse_transform(Zv) - Xv) ** 2).mean())
    acc = linear_probe(pca.transform(Xtr[:n_probe]), ytr_probe, Zv, yv)
    return {"pca_components": k, "pca_val_mse": mse, "pca_probe_accuracy": acc}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small smoke run")
    p.add_argument("--models", nargs="*", help="only these registered models")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--probe-train", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "quality.json"))
    args = p.parse_args(argv)

    train = load_dataset("mnist", "train", data_dir=args.data_dir)
    val = load_dataset("mnist", "validation", data_dir=args.data_dir)
    test = load_dataset("mnist", "test", data_dir=args.data_dir)
    Xtr, ytr = train.X, train.y
    if args.quick:
        Xtr, ytr = Xtr[:3000], ytr[:3000]
        args.epochs, args.probe_train = 1, 1000
    n_probe = min(args.probe_train, len(Xtr))
    names = args.models or sorted(MODELS)

    rows: list[dict] = []
    models = {}
    pca_cache: dict[int, dict] = {}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for name in names:
        kw = _kwargs(name, train.image_shape)
        model = build(name, n_features=Xtr.shape[1], seed=args.seed, **kw)
        if not hasattr(model, "decode"):
            continue  # not an autoencoder (e.g. the classifier)
        t0 = time.perf_counter()
        fit(
            model,
            Xtr,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            device="cpu",
        )
        seconds = time.perf_counter() - t0
        val_mse = float(reconstruction_errors(model, val.X).mean())
        Zp, Zv = encode(model, Xtr[:n_probe]), encode(model, val.X)
        k = Zv.shape[1]
        acc = linear_probe(Zp, ytr[:n_probe], Zv, val.y)
        if k not in pca_cache:
            pca_cache[k] = _pca(Xtr, val.X, ytr[:n_probe], val.y, k, n_probe)
        row = {
            "model": name,
            "codings": k,
            "parameters": sum(q.numel() for q in model.parameters()),
            "train_seconds": seconds,
            "val_mse": val_mse,
            "probe_accuracy": acc,
            **pca_cache[k],
        }
        rows.append(row)
        models[name] = model
        print(json.dumps(row), flush=True)
        out.write_text(json.dumps({"rows": rows, "args": vars(args)}, indent=1))

    checks = {}
    if "denoising" in models and "stacked" in models:
        level = models["denoising"].corruption.level
        d = denoising_error(models["denoising"], test.X, noise_level=level, seed=args.seed)
        s = denoising_error(models["stacked"], test.X, noise_level=level, seed=args.seed)
        checks["denoising"] = {
            "noise": "gaussian",
            "sigma": level,
            "denoising_test_mse": d,
            "stacked_test_mse": s,
            "ratio": d / s,
            "target": 0.8,
        }
    if "sparse" in models:
        target = models["sparse"].penalties[0].target
        acts = mean_activations(models["sparse"], val.X)
        checks["kl_sparse"] = {
            "target": target,
            "mean_relative_gap": target_gap(models["sparse"], val.X, target),
            "mean_activation": float(acts.mean()),
            "min_unit": float(acts.min()),
            "max_unit": float(acts.max()),
            "allowed_gap": 0.2,
        }
    result = {"rows": rows, "checks": checks, "args": vars(args)}
    out.write_text(json.dumps(result, indent=1))

    print(f"\nMNIST, {len(Xtr)} training images, {args.epochs} epochs, batch {args.batch_size}, ")
    print(f"Adam lr {args.lr}, seed {args.seed}; probe: {n_probe} codings -> validation\n")
    print("| model | codings | val MSE | PCA val MSE | probe acc. | PCA probe acc. | train s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['codings']} | {r['val_mse']:.5f} | {r['pca_val_mse']:.5f} | "
            f"{r['probe_accuracy']:.4f} | {r['pca_probe_accuracy']:.4f} | "
            f"{r['train_seconds']:.0f} |"
        )
    for name, c in checks.items():
        print(f"\n{name}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                         for k, v in c.items()))  # fmt: skip
    return result


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
