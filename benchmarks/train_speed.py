"""Training speed: codings.fit against the loops and libraries users would otherwise run.

The seed's stacked autoencoder (784-300-150-300-784, ELU, He init, tied weights, Adam) on
MNIST's 55,000 training images. All contenders run in this session (Keras in a child process
of its own environment, ``.venv-keras``, see ``keras_worker.py``), round-robin over
``--rounds`` rounds (each call: one warm-up epoch, then ``--epochs`` timed epochs), so a drift
of a shared machine's speed touches all of them alike. The table gives the median epoch time,
its ratio to codings and to the matrix-product bound from ``roofline.py``.

    python benchmarks/train_speed.py --batch-sizes 150,256 --rounds 3 --epochs 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from roofline import epoch_bound, matmul_shapes  # noqa: E402

import codings  # noqa: E402
from codings.datasets import load_dataset  # noqa: E402

HIDDEN = (300, 150)
LR = 1e-3


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def model(seed: int = 0):
    return codings.build("stacked", n_features=784, hidden=HIDDEN, tied=True, seed=seed)


def time_codings(X, bs, epochs, precision="fp32"):
    m = model()
    kw = {"batch_size": bs, "lr": LR, "device": "cpu", "precision": precision}
    codings.fit(m, X, epochs=1, **kw)  # warm-up
    h = codings.fit(m, X, epochs=epochs, **kw)
    times = [r["time"] for r in h.records]
    return times, h["train_loss"][-1] / 784


def time_codings_autograd(X, bs, epochs):
    """codings with its hand-written step turned off: every step through autograd."""
    from codings import train

    train.FUSED = False
    try:
        return time_codings(X, bs, epochs)
    finally:
        train.FUSED = True


def time_codings_bf16(X, bs, epochs):
    """codings with bf16 autocast (weights and Adam state stay float32)."""
    return time_codings(X, bs, epochs, precision="bf16")


def time_dataloader(X, bs, epochs):
    """The loop a user would write from the PyTorch tutorials."""
    from torch.utils.data import DataLoader, TensorDataset

    m = model()
    opt = torch.optim.Adam(m.parameters(), lr=LR)
    loader = DataLoader(TensorDataset(torch.from_numpy(X)), batch_size=bs, shuffle=True)
    times = []
    for epoch in range(epochs + 1):
        t0 = time.perf_counter()
        for (xb,) in loader:
            loss = nn.functional.mse_loss(m(xb), xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if epoch:
            times.append(time.perf_counter() - t0)
    return times, float(loss.detach())


def time_stock_fast(X, bs, epochs):
    """The best stock loop: no DataLoader, slices of a permutation, fused Adam."""
    m = model()
    opt = torch.optim.Adam(m.parameters(), lr=LR, fused=True)
    Xt = torch.from_numpy(X)
    times = []
    for epoch in range(epochs + 1):
        t0 = time.perf_counter()
        perm = torch.randperm(len(Xt))
        for i in range(0, len(Xt), bs):
            xb = Xt[perm[i : i + bs]]
            loss = nn.functional.mse_loss(m(xb), xb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if epoch:
            times.append(time.perf_counter() - t0)
    return times, float(loss.detach())


def time_sklearn(X, bs, epochs):
    from sklearn.neural_network import MLPRegressor

    reg = MLPRegressor(
        hidden_layer_sizes=(300, 150, 300),
        batch_size=bs,
        learning_rate_init=LR,
        max_iter=1,
        warm_start=True,
        shuffle=True,
        random_state=0,
    )
    times = []
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in range(epochs + 1):
            t0 = time.perf_counter()
            reg.fit(X, X)
            if epoch:
                times.append(time.perf_counter() - t0)
    return times, float(reg.loss_)


KERAS_PYTHON = Path(__file__).resolve().parents[1] / ".venv-keras" / "bin" / "python"


def keras_python() -> str:
    """The Keras environment's interpreter: $KERAS_PYTHON, else the one ``make bench`` makes."""
    return os.environ.get("KERAS_PYTHON", str(KERAS_PYTHON))


def _time_keras(X, bs, epochs, xla: bool):
    """Keras 3 on TensorFlow in its own environment, in a child process (keras_worker.py)."""
    import subprocess
    import tempfile

    import numpy as np

    python = keras_python()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "X.npy"
        np.save(path, X)
        cmd = [python, str(Path(__file__).with_name("keras_worker.py")), str(path)]
        cmd += ["--batch-size", str(bs), "--epochs", str(epochs)] + (["--xla"] if xla else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["times"], result["loss"]


def time_keras(X, bs, epochs):
    return _time_keras(X, bs, epochs, xla=False)


def time_keras_xla(X, bs, epochs):
    return _time_keras(X, bs, epochs, xla=True)


CONTENDERS = {
    "codings": time_codings,
    "codings-autograd": time_codings_autograd,
    "codings-bf16": time_codings_bf16,
    "torch-dataloader": time_dataloader,
    "torch-fused-loop": time_stock_fast,
    "keras-tf": time_keras,
    "keras-tf-xla": time_keras_xla,
    "sklearn-mlp": time_sklearn,
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-sizes", default="150,256")
    p.add_argument("--epochs", type=int, default=2, help="timed epochs per contender and round")
    p.add_argument("--rounds", type=int, default=3, help="rounds over all contenders")
    p.add_argument("--only", default=",".join(CONTENDERS), help="comma-separated contenders")
    p.add_argument("--data-dir", default=os.environ.get("CODINGS_DATA_DIR"))
    p.add_argument("--n", type=int, default=55000, help="training images")
    p.add_argument("--quick", action="store_true", help="5,000 images, 2 epochs (smoke run)")
    p.add_argument("--out", default="benchmarks/results/train_speed.json")
    args = p.parse_args(argv)
    if "keras" in args.only and not Path(keras_python()).exists():
        print(
            f"# no Keras environment at {keras_python()} (make bench creates it); Keras skipped",
            file=sys.stderr,
        )
        args.only = ",".join(n for n in args.only.split(",") if not n.startswith("keras"))
    if args.quick:
        args.n, args.epochs, args.rounds = 5000, 1, 1
    X = load_dataset("mnist", "train", data_dir=args.data_dir).X[: args.n]
    rows = []
    for bs in [int(b) for b in args.batch_sizes.split(",")]:
        bound = epoch_bound(matmul_shapes(len(X), bs, HIDDEN), repeats=3)
        # Round-robin: each round runs every contender once, so slow drifts of a shared
        # machine's speed touch all of them alike.
        names = args.only.split(",")
        times: dict[str, list[float]] = {name: [] for name in names}
        losses: dict[str, float] = {}
        for _ in range(args.rounds):
            for name in names:
                t, losses[name] = CONTENDERS[name](X, bs, args.epochs)
                times[name] += t
        results = {name: (statistics.median(times[name]), losses[name]) for name in names}
        base = results.get("codings", (float("nan"),))[0]
        for name, (t, loss) in results.items():
            rows.append(
                {
                    "batch_size": bs,
                    "contender": name,
                    "median_epoch_s": t,
                    "vs_codings": t / base,
                    "vs_bound": t / bound,
                    "bound_s": bound,
                    "final_loss_per_pixel": loss,
                    "peak_rss_mb": peak_rss_mb(),
                }
            )
    print(
        f"# train speed: {len(X)} images, {torch.get_num_threads()} threads, "
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}"
    )
    print("| batch | contender | median epoch (s) | x codings | x bound | bound (s) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['batch_size']} | {r['contender']} | {r['median_epoch_s']:.3f} | "
            f"{r['vs_codings']:.2f} | {r['vs_bound']:.2f} | {r['bound_s']:.3f} |"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
