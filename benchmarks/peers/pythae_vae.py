"""codings' VAE and IWAE against pythae's on dynamically binarised MNIST, in the same run.

Run it in pythae's own environment (``make peers`` makes ``.venv-pythae``), with codings from
this tree on the path:

    OMP_NUM_THREADS=1 PYTHONPATH=src CODINGS_DATA_DIR=../shared/data \
        .venv-pythae/bin/python benchmarks/peers/pythae_vae.py --epochs 3

Same work on both sides: codings' ``vae`` builder (784-500-500-20, ELU, Bernoulli decoder)
gives the architecture and the initial weights of all four models; pythae's ``VAE`` and ``IWAE``
(``n_samples=k``) get that very network through an encoder and a decoder that call the codings
modules (pythae adds the sigmoid its ``"bce"`` loss expects). Adam, learning rate 1e-3, batch
100, the same training images, a fresh binarisation of every image at every use (codings:
``Binarize``; pythae: a ``BaseDataset`` that draws in ``__getitem__``, the way pythae's trainer
takes data). pythae trains through its own ``BaseTrainer`` one epoch at a time
(``train_step``), codings through ``codings.fit`` resumed from a checkpoint.

Times: each round trains one epoch of every contender, in an order that rotates from round to
round; the ratio is the median over rounds of pythae's epoch / codings' epoch (the loop only:
codings' recorded epoch time, pythae's ``train_step``). The test NLL is codings' importance-
sampled estimate (``nll_report``, ``--k-eval`` samples) on the same fixed binarisation of the
first ``--nll-examples`` test images for all four models: since pythae's trained network *is*
a codings model's modules, the estimator reads it unchanged.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from pythae.data.datasets import BaseDataset, DatasetOutput
from pythae.models import IWAE, VAE, IWAEConfig, VAEConfig
from pythae.models.base.base_utils import ModelOutput
from pythae.models.nn import BaseDecoder, BaseEncoder
from pythae.trainers import BaseTrainer, BaseTrainerConfig

import codings
from codings.datasets import load_dataset
from codings.generative import Binarize, binarize, nll_report

ROOT = Path(__file__).resolve().parents[1]


class CodingsEncoder(BaseEncoder):
    """pythae's encoder interface over a codings VAE's encoder and Gaussian head."""

    def __init__(self, model):
        super().__init__()
        self.body, self.head = model.encoder, model.bottleneck

    def forward(self, x):
        mu, logvar = self.head.params(self.body(x))  # (B, 784) -> 2 x (B, L)
        return ModelOutput(embedding=mu, log_covariance=logvar)


class CodingsDecoder(BaseDecoder):
    """pythae's decoder interface over a codings decoder (logits -> probabilities for "bce")."""

    def __init__(self, model):
        super().__init__()
        self.body = model.decoder

    def forward(self, z):
        return ModelOutput(reconstruction=torch.sigmoid(self.body(z)))


class DynamicBinarized(BaseDataset):
    """Grey levels in, a fresh Bernoulli draw of each image at every use out."""

    def __getitem__(self, index):
        return DatasetOutput(data=torch.bernoulli(self.data[index]))


def build_codings(args, k: int):
    m = codings.build(
        "vae",
        n_features=784,
        hidden=args.hidden,
        latent_dim=args.latent_dim,
        activation="elu",
        iwae_k=k,
        seed=args.seed,
    )
    m.input_transform = Binarize()
    return m


def setup_codings(args, X, k: int):
    m = build_codings(args, k)
    tmp = tempfile.TemporaryDirectory(prefix="peers-codings-")
    ckpt = Path(tmp.name) / "run.pt"
    done = [0]

    def epoch() -> float:
        h = codings.fit(
            m, X, epochs=done[0] + 1, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
            device="cpu", checkpoint=ckpt, resume=ckpt if done[0] else None,
        )  # fmt: skip
        done[0] += 1
        return h.records[-1]["time"]

    epoch.model, epoch.workdir = m, tmp
    return epoch


def setup_pythae(args, X, k: int):
    m = build_codings(args, k)  # the same architecture and initial weights as codings' run
    m.input_transform = None
    enc, dec = CodingsEncoder(m), CodingsDecoder(m)
    shape = dict(input_dim=(784,), latent_dim=args.latent_dim, reconstruction_loss="bce")
    if k == 1:
        peer = VAE(VAEConfig(**shape), encoder=enc, decoder=dec)
    else:
        peer = IWAE(IWAEConfig(**shape, number_samples=k), encoder=enc, decoder=dec)
    tmp = tempfile.TemporaryDirectory(prefix="peers-pythae-")
    config = BaseTrainerConfig(
        output_dir=tmp.name,
        learning_rate=args.lr,
        per_device_train_batch_size=args.batch_size,
        num_epochs=args.epochs,
        optimizer_cls="Adam",
        seed=args.seed,
        no_cuda=True,
    )
    data = torch.from_numpy(X)
    trainer = BaseTrainer(peer, DynamicBinarized(data, torch.zeros(len(data))), None, config)
    trainer.prepare_training()
    done = [0]

    def epoch() -> float:
        done[0] += 1
        t0 = time.perf_counter()
        trainer.train_step(done[0])
        return time.perf_counter() - t0

    epoch.model, epoch.workdir = m, tmp
    return epoch


def setup_floor(args, n: int, k: int):
    """One epoch's floor: its matrix products and fused Adam updates alone (``floor.py``)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from floor import time_floor, vae_layers

    layers = vae_layers(784, args.hidden, args.latent_dim, args.batch_size, k)
    parts = []

    def epoch() -> float:
        parts.append(time_floor(layers, -(-n // args.batch_size)))
        return parts[-1]["floor_s"]

    epoch.parts = parts
    return epoch


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iwae-k", type=int, default=5, help="the IWAE's samples per image")
    p.add_argument("--epochs", type=int, default=3, help="also the number of timed rounds")
    p.add_argument("--hidden", default="500,500")
    p.add_argument("--latent-dim", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--train-images", type=int, default=10_000, help="first N training images")
    p.add_argument("--k-eval", type=int, default=1000, help="importance samples for the NLL")
    p.add_argument("--nll-examples", type=int, default=500, help="the first N test images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default=str(ROOT / "results" / "peers_pythae_vae.json"))
    args = p.parse_args(argv)
    args.hidden = [int(h) for h in args.hidden.split(",")]
    torch.set_num_threads(1)

    X = load_dataset("mnist", "train", data_dir=args.data_dir).X[: args.train_images]
    Xt = binarize(load_dataset("mnist", "test", data_dir=args.data_dir).X, seed=0)
    Xt = Xt[: args.nll_examples]
    kinds = {"VAE": 1, f"IWAE k={args.iwae_k}": args.iwae_k}
    runs = {}
    for kind, k in kinds.items():
        runs[("codings", kind)] = setup_codings(args, X, k)
        runs[("pythae", kind)] = setup_pythae(args, X, k)
        runs[("floor", kind)] = setup_floor(args, len(X), k)
    names = list(runs)
    times = {n: [] for n in names}
    for r in range(args.epochs):
        order = names[r % len(names) :] + names[: r % len(names)]
        for n in order:
            times[n].append(runs[n]())
        print(f"round {r + 1}: " + ", ".join(f"{a} {b} {times[(a, b)][-1]:.1f} s"
                                             for a, b in names), flush=True)  # fmt: skip

    rows = []
    for kind in kinds:
        c, q = ("codings", kind), ("pythae", kind)
        ratios = [tp / tc for tc, tp in zip(times[c], times[q], strict=True)]
        for lib in ("codings", "pythae"):
            rep = nll_report(runs[(lib, kind)].model, Xt, k=args.k_eval, seed=0)
            rows.append(
                {
                    "library": lib,
                    "model": kind,
                    "epoch_s_median": statistics.median(times[(lib, kind)]),
                    "epoch_s": times[(lib, kind)],
                    "pythae_over_codings": statistics.median(ratios),
                    "elbo": rep["elbo"],
                    "nll": rep["nll"],
                    "nll_sem": rep["nll_sem"],
                }
            )
    for kind in kinds:
        f, q = ("floor", kind), ("pythae", kind)
        parts = runs[f].parts
        rows.append(
            {
                "library": "floor",
                "model": kind,
                "epoch_s_median": statistics.median(times[f]),
                "epoch_s": times[f],
                "pythae_over_floor": statistics.median(
                    tp / tf for tf, tp in zip(times[f], times[q], strict=True)
                ),
                "matmul_s_median": statistics.median(p["matmul_s"] for p in parts),
                "update_s_median": statistics.median(p["update_s"] for p in parts),
            }
        )
    print(f"\n| model | library | epoch (s, median) | pythae / codings | test ELBO | "
          f"test NLL (k={args.k_eval}) |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        if r["library"] == "floor":
            print(
                f"| {r['model']} | floor (matmuls {r['matmul_s_median']:.1f} s + fused Adam "
                f"{r['update_s_median']:.2f} s) | {r['epoch_s_median']:.1f} | "
                f"pythae / floor {r['pythae_over_floor']:.2f}x | | |"
            )
            continue
        print(
            f"| {r['model']} | {r['library']} | {r['epoch_s_median']:.1f} | "
            f"{r['pythae_over_codings']:.2f}x | {r['elbo']:.2f} | "
            f"{r['nll']:.2f} ± {r['nll_sem']:.2f} |"
        )
    import pythae

    meta = {
        "args": vars(args),
        "torch": torch.__version__,
        "pythae": getattr(pythae, "__version__", "0.1.2"),
        "numpy": np.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.platform(),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
