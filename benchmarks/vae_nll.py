"""Test NLL of the VAE (and its IWAE-trained twin) on dynamically binarised MNIST.

Each model is trained with fresh Bernoulli draws of every training image at every use (dynamic
binarisation) and evaluated on one fixed binarisation of the test set (seed 0), with the
negative log-likelihood estimated by importance sampling with ``--k-eval`` draws per image.

    python benchmarks/vae_nll.py --iwae-k 1,5 --epochs 20 --nll-examples 2000
    python benchmarks/vae_nll.py --quick

Prints a markdown table and writes benchmarks/results/vae_nll.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from codings import build, fit
from codings.datasets import load_dataset
from codings.generative import Binarize, binarize, nll_report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iwae-k", default="1,5", help="training samples per image, one run each")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--hidden", default="500,500")
    p.add_argument("--latent-dim", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--k-eval", type=int, default=1000, help="importance samples for the NLL")
    p.add_argument("--nll-examples", type=int, help="the NLL on the first N test images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=os.environ.get("CODINGS_DATA_DIR"))
    p.add_argument("--quick", action="store_true", help="a smoke run: 2,000 images, 1 epoch")
    p.add_argument("--out", default="benchmarks/results/vae_nll.json")
    args = p.parse_args(argv)

    train = load_dataset("mnist", "train", data_dir=args.data_dir)
    test = load_dataset("mnist", "test", data_dir=args.data_dir)
    X, Xt = train.X, binarize(test.X, seed=0)
    epochs, k_eval, n_test = args.epochs, args.k_eval, args.nll_examples or len(Xt)
    if args.quick:
        X, epochs, k_eval, n_test = X[:2000], 1, 50, 200
    Xt = Xt[:n_test]
    hidden = [int(h) for h in args.hidden.split(",")]

    rows = []
    for k in [int(v) for v in args.iwae_k.split(",")]:
        model = build(
            "vae",
            n_features=784,
            hidden=hidden,
            latent_dim=args.latent_dim,
            activation="elu",
            iwae_k=k,
            seed=args.seed,
        )
        model.input_transform = Binarize()
        t0 = time.perf_counter()
        fit(
            model,
            X,
            epochs=epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            device="cpu",
        )
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        r = nll_report(model, Xt, k=k_eval, seed=0)
        rows.append(
            {
                "iwae_k": k,
                "epochs": epochs,
                "train_images": len(X),
                "test_images": len(Xt),
                "k_eval": k_eval,
                "elbo": r["elbo"],
                "nll": r["nll"],
                "nll_sem": r["nll_sem"],
                "train_seconds": train_s,
                "eval_seconds": time.perf_counter() - t0,
            }
        )

    print(f"| training | epochs | test images | test ELBO | test NLL (k={k_eval}) | train s |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        kind = "VAE (ELBO)" if r["iwae_k"] == 1 else f"IWAE, k={r['iwae_k']}"
        print(
            f"| {kind} | {r['epochs']} | {r['test_images']} | {r['elbo']:.2f} | "
            f"{r['nll']:.2f} ± {r['nll_sem']:.2f} | {r['train_seconds']:.0f} |"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "args": vars(args),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
    }
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
