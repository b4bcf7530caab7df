"""Per-step overhead on small data: codings.fit against a plain PyTorch loop and MLPRegressor.

A 64-64-32 autoencoder (64 inputs, ReLU hidden layers 64 and 32, mirrored decoder, linear
output) on scikit-learn's 1,797 digits scaled to [0, 1], at batch 32 and 256, one thread
everywhere. Each contender trains ``--epochs`` epochs from fresh weights per round:

- ``codings``: one call of ``codings.fit`` (its whole call: checks, optimiser, the loop);
- ``plain``: the loop a user writes from the PyTorch tutorials for the same model: Adam, a
  ``randperm`` per epoch, slices, ``loss.item()`` per step;
- ``sklearn``: ``MLPRegressor(hidden_layer_sizes=(64, 32, 64), solver="adam")``, X -> X, with
  ``max_iter=epochs`` (no early stopping, no L2).

Rounds interleave the contenders in a rotating order, so each round's ratio compares runs on
nearly the same machine; the table gives median seconds per epoch and the median of the
per-round ratios.

    python benchmarks/small_overhead.py            # 9 rounds of 10 epochs
    python benchmarks/small_overhead.py --quick    # 3 rounds of 3 epochs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import codings

HIDDEN = (64, 32)
LR = 1e-3


def digits() -> np.ndarray:
    from sklearn.datasets import load_digits

    return (load_digits().data / 16.0).astype(np.float32)  # (1797, 64) in [0, 1]


def model(seed: int):
    return codings.build("stacked", n_features=64, hidden=HIDDEN, activation="relu", seed=seed)


def run_codings(X, bs, epochs, seed):
    m = model(seed)
    t0 = time.perf_counter()
    h = codings.fit(m, X, epochs=epochs, batch_size=bs, lr=LR, seed=seed, device="cpu")
    return time.perf_counter() - t0, h["train_loss"][-1]


def run_plain(X, bs, epochs, seed):
    m = model(seed)
    Xt = torch.from_numpy(X)
    t0 = time.perf_counter()
    opt = torch.optim.Adam(m.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(Xt), generator=gen)
        total = 0.0
        for i in range(0, len(Xt), bs):
            xb = Xt[perm[i : i + bs]]
            loss = (m(xb) - xb).square().sum(1).mean()  # codings' reduction: sum, then mean
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item()
    return time.perf_counter() - t0, None


def run_sklearn(X, bs, epochs, seed):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    reg = MLPRegressor(
        hidden_layer_sizes=(*HIDDEN, HIDDEN[0]),
        activation="relu",
        solver="adam",
        alpha=0.0,
        batch_size=bs,
        learning_rate_init=LR,
        max_iter=epochs,
        tol=0.0,
        n_iter_no_change=10**9,
        shuffle=True,
        random_state=seed,
    )
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, X)
    return time.perf_counter() - t0, None


CONTENDERS = {"codings": run_codings, "plain": run_plain, "sklearn": run_sklearn}


def measure(X, batch_sizes, epochs, rounds) -> list[dict]:
    rows = []
    for bs in batch_sizes:
        for fn in CONTENDERS.values():  # warm-up: imports, allocator, kernels
            fn(X, bs, 1, 0)
        times: dict[str, list[float]] = {k: [] for k in CONTENDERS}
        names = list(CONTENDERS)
        for r in range(rounds):
            for name in names[r % 3 :] + names[: r % 3]:
                seconds, _ = CONTENDERS[name](X, bs, epochs, seed=r)
                times[name].append(seconds / epochs)
        row = {"batch_size": bs, "epochs": epochs, "rounds": rounds}
        for name, ts in times.items():
            row[f"{name}_s_per_epoch"] = statistics.median(ts)
        for other in ("plain", "sklearn"):
            ratios = [a / b for a, b in zip(times["codings"], times[other], strict=True)]
            row[f"codings_over_{other}"] = statistics.median(ratios)
        row["raw"] = times
        rows.append(row)
    return rows


def table(rows) -> str:
    lines = [
        "| batch | codings.fit s/epoch | plain loop s/epoch | MLPRegressor s/epoch "
        "| fit / plain | fit / MLPRegressor |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['batch_size']} | {r['codings_s_per_epoch']:.4f} | {r['plain_s_per_epoch']:.4f} "
            f"| {r['sklearn_s_per_epoch']:.4f} | {r['codings_over_plain']:.2f} "
            f"| {r['codings_over_sklearn']:.2f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-sizes", default="32,256")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--quick", action="store_true", help="3 rounds of 3 epochs")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "small_overhead.json"))
    args = ap.parse_args(argv)
    if args.quick:
        args.epochs, args.rounds = 3, 3
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    X = digits()
    with threadpool_limits(1):  # NumPy's BLAS under MLPRegressor
        rows = measure(X, [int(b) for b in args.batch_sizes.split(",")], args.epochs, args.rounds)
    print(table(rows))
    load = os.getloadavg()
    result = {
        "command": "python benchmarks/small_overhead.py"
        + (" --quick" if args.quick else f" --epochs {args.epochs} --rounds {args.rounds}"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "load_average_at_end": load,
        "torch": torch.__version__,
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
