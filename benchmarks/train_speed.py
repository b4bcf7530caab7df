"""Training speed: codings.fit against the loops and libraries users would otherwise run.

The seed's stacked autoencoder (784-300-150-300-784, ELU, He init, tied weights, Adam) on
MNIST's 55,000 training images. Every contender is set up once and then trained one epoch at a
time, interleaved: each round runs one epoch of every contender, in an order that rotates from
round to round (Keras runs as a persistent child process of its own environment,
``.venv-keras``, see ``keras_worker.py``). A shared machine's speed drifts from minute to
minute; an epoch of codings and an epoch of a contender in the same round see nearly the same
machine, so the table's ratio to codings is the median over rounds of the per-round ratio.
It also gives each contender's median epoch and its ratio to the matrix-product bound from
``roofline.py`` (measured at the start, in the same process).

    python benchmarks/train_speed.py --batch-sizes 150,256 --rounds 12
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
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


# Each contender: setup(X, batch_size) -> epoch(), which trains one epoch and returns
# (seconds, training loss per pixel).


def setup_codings(X, bs, precision="fp32", fused=True):
    m = model()
    # Each call trains one more epoch of the same run, resumed from the last call's checkpoint
    # (weights, Adam's state, RNG), so the losses compare with the other contenders' runs.
    tmp = tempfile.TemporaryDirectory(prefix="codings-speed-")
    ckpt = Path(tmp.name) / "run.pt"
    done = [0]

    def epoch():
        h = codings.fit(
            m, X, epochs=done[0] + 1, batch_size=bs, lr=LR, device="cpu",
            precision=precision, checkpoint=ckpt, resume=ckpt if done[0] else None,
            step="auto" if fused else "autograd",
        )  # fmt: skip
        done[0] += 1
        # fit's own epoch time: the loop, not loading, checks or the checkpoint after it.
        return h.records[-1]["time"], h["train_loss"][-1] / 784

    epoch.workdir = tmp  # the directory goes when the contender does
    return epoch


def setup_codings_autograd(X, bs):
    """codings with its hand-written step turned off: every step through autograd."""
    return setup_codings(X, bs, fused=False)


def setup_codings_bf16(X, bs):
    """codings with bf16 autocast (weights and Adam state stay float32)."""
    return setup_codings(X, bs, precision="bf16")


def setup_dataloader(X, bs):
    """The loop a user would write from the PyTorch tutorials."""
    from torch.utils.data import DataLoader, TensorDataset

    m = model()
    opt = torch.optim.Adam(m.parameters(), lr=LR)
    loader = DataLoader(TensorDataset(torch.from_numpy(X)), batch_size=bs, shuffle=True)

    def epoch():
        t0 = time.perf_counter()
        for (xb,) in loader:
            loss = nn.functional.mse_loss(m(xb), xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return time.perf_counter() - t0, float(loss.detach())

    return epoch


def setup_stock_fast(X, bs):
    """The best stock loop: no DataLoader, slices of a permutation, fused Adam."""
    m = model()
    opt = torch.optim.Adam(m.parameters(), lr=LR, fused=True)
    Xt = torch.from_numpy(X)

    def epoch():
        t0 = time.perf_counter()
        perm = torch.randperm(len(Xt))
        for i in range(0, len(Xt), bs):
            xb = Xt[perm[i : i + bs]]
            loss = nn.functional.mse_loss(m(xb), xb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return time.perf_counter() - t0, float(loss.detach())

    return epoch


def setup_sklearn(X, bs):
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

    def epoch():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            reg.fit(X, X)
            return time.perf_counter() - t0, float(reg.loss_)

    return epoch


KERAS_PYTHON = Path(__file__).resolve().parents[1] / ".venv-keras" / "bin" / "python"


def keras_python() -> str:
    """The Keras environment's interpreter: $KERAS_PYTHON, else the one ``make bench`` makes."""
    return os.environ.get("KERAS_PYTHON", str(KERAS_PYTHON))


_CHILDREN: list[subprocess.Popen] = []


def _setup_keras(X, bs, xla: bool):
    """Keras 3 on TensorFlow in its own environment: a child process that trains on request."""
    tmp = tempfile.TemporaryDirectory(prefix="codings-keras-")
    path = Path(tmp.name) / "X.npy"
    np.save(path, X)
    cmd = [python := keras_python(), str(Path(__file__).with_name("keras_worker.py")), str(path)]
    cmd += ["--batch-size", str(bs), "--serve"] + (["--xla"] if xla else [])
    child = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    _CHILDREN.append(child)
    if child.stdout.readline().strip() != "ready":  # after its warm-up epoch
        raise RuntimeError(f"the Keras worker ({python}) did not start")
    tmp.cleanup()  # the worker has read the data

    def epoch():
        child.stdin.write("epoch\n")
        child.stdin.flush()
        result = json.loads(child.stdout.readline())
        return result["time"], result["loss"]

    return epoch


def setup_keras(X, bs):
    return _setup_keras(X, bs, xla=False)


def setup_keras_xla(X, bs):
    return _setup_keras(X, bs, xla=True)


CONTENDERS = {
    "codings": setup_codings,
    "codings-autograd": setup_codings_autograd,
    "codings-bf16": setup_codings_bf16,
    "torch-dataloader": setup_dataloader,
    "torch-fused-loop": setup_stock_fast,
    "keras-tf": setup_keras,
    "keras-tf-xla": setup_keras_xla,
    "sklearn-mlp": setup_sklearn,
}


def run(X, bs: int, names: list[str], rounds: int) -> dict[str, dict]:
    """Interleaved epochs; per contender its epoch times and per-round ratios to codings."""
    epochs = {}
    for name in names:
        epochs[name] = CONTENDERS[name](X, bs)
        epochs[name]()  # warm-up (Keras's came before "ready")
    times: dict[str, list[float]] = {name: [] for name in names}
    ratios: dict[str, list[float]] = {name: [] for name in names}
    losses: dict[str, float] = {}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        got = {}
        for name in order:
            got[name], losses[name] = epochs[name]()
            times[name].append(got[name])
        for name in names:
            ratios[name].append(got[name] / got["codings"])
    for child in _CHILDREN:
        child.stdin.close()
        child.wait(timeout=60)
    _CHILDREN.clear()
    return {
        name: {"times": times[name], "ratios": ratios[name], "loss": losses[name]} for name in names
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-sizes", default="150,256")
    p.add_argument("--rounds", type=int, default=12, help="interleaved epochs per contender")
    p.add_argument("--only", default=",".join(CONTENDERS), help="comma-separated contenders")
    p.add_argument("--data-dir", default=os.environ.get("CODINGS_DATA_DIR"))
    p.add_argument("--n", type=int, default=55000, help="training images")
    p.add_argument("--quick", action="store_true", help="5,000 images, 2 rounds (smoke run)")
    p.add_argument("--out", default="benchmarks/results/train_speed.json")
    args = p.parse_args(argv)
    names = args.only.split(",")
    unknown = [n for n in names if n not in CONTENDERS]
    if unknown:
        p.error(f"unknown contender(s) {', '.join(unknown)}; choose from {', '.join(CONTENDERS)}")
    if "codings" not in names:
        names.insert(0, "codings")  # the reference of every ratio
    if any(n.startswith("keras") for n in names) and not Path(keras_python()).exists():
        print(
            f"# no Keras environment at {keras_python()} (make bench creates it); Keras skipped",
            file=sys.stderr,
        )
        names = [n for n in names if not n.startswith("keras")]
    if args.quick:
        args.n, args.rounds = 5000, 2
    X = load_dataset("mnist", "train", data_dir=args.data_dir).X[: args.n]
    rows = []
    for bs in [int(b) for b in args.batch_sizes.split(",")]:
        bound = epoch_bound(matmul_shapes(len(X), bs, HIDDEN), repeats=3)
        results = run(X, bs, names, args.rounds)
        for name, res in results.items():
            t = statistics.median(res["times"])
            rows.append(
                {
                    "batch_size": bs,
                    "contender": name,
                    "median_epoch_s": t,
                    "vs_codings": statistics.median(res["ratios"]),
                    "vs_bound": t / bound,
                    "bound_s": bound,
                    "epoch_times_s": res["times"],
                    "final_loss_per_pixel": res["loss"],
                    "peak_rss_mb": peak_rss_mb(),
                }
            )
    print(
        f"# train speed: {len(X)} images, {args.rounds} interleaved rounds, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}"
    )
    print("| batch | contender | median epoch (s) | x codings (paired) | x bound | bound (s) |")
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
