"""How a codings training epoch's cost grows with the number of examples and the layer width.

The seed's stacked autoencoder (784-W-W/2-W-784, ELU, tied, Adam, batch 256) on the first N
MNIST training images. Two sweeps, each round-robin over ``--rounds`` rounds (one warm-up
epoch, then ``--epochs`` timed epochs per point and round; the median is reported):

* examples: N in 6,875 ... 55,000 at W = 300. Expected shape: linear in N (the work per batch
  does not depend on N). Checked by a least-squares line t = a + b N: the largest relative
  deviation of a point from the line, and the intercept a as a share of the largest time.
* width: W in 75 ... 1,200 at N = 55,000. Expected shape: proportional to the matrix-product
  bound of ``roofline.py`` for that width (measured in the same run), so the ratio time/bound
  should stay near-constant; where it grows as W shrinks, the per-step overhead
  (activations, optimiser, Python) dominates small layers.

    python benchmarks/scaling.py --rounds 3 --epochs 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from roofline import epoch_bound, matmul_shapes  # noqa: E402

import codings  # noqa: E402
from codings.datasets import load_dataset  # noqa: E402

BATCH = 256


def epoch_times(X, width: int, epochs: int) -> list[float]:
    m = codings.build(
        "stacked", n_features=784, hidden=(width, width // 2), tied=True, init="he", seed=0
    )
    kw = {"batch_size": BATCH, "lr": 1e-3, "device": "cpu"}
    codings.fit(m, X, epochs=1, **kw)  # warm-up
    return [r["time"] for r in codings.fit(m, X, epochs=epochs, **kw).records]


def sweep(points, make, rounds: int, epochs: int) -> dict:
    times = {p: [] for p in points}
    for _ in range(rounds):
        for p in points:
            X, width = make(p)
            times[p] += epoch_times(X, width, epochs)
    return {p: statistics.median(t) for p, t in times.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="6875,13750,27500,55000")
    p.add_argument("--widths", default="75,150,300,600,1200")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=2, help="timed epochs per point and round")
    p.add_argument("--data-dir", default=os.environ.get("CODINGS_DATA_DIR"))
    p.add_argument("--quick", action="store_true", help="small sweeps, one round (smoke run)")
    p.add_argument("--out", default="benchmarks/results/scaling.json")
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.widths, args.rounds, args.epochs = "2000,4000", "50,100", 1, 1
    X = load_dataset("mnist", "train", data_dir=args.data_dir).X
    sizes = [int(s) for s in args.sizes.split(",")]
    widths = [int(w) for w in args.widths.split(",")]

    by_n = sweep(sizes, lambda n: (X[:n], 300), args.rounds, args.epochs)
    n = np.array(sizes, float)
    t = np.array([by_n[s] for s in sizes])
    b, a = np.polyfit(n, t, 1)
    deviation = float(np.max(np.abs(t - (a + b * n)) / t))

    n_width = sizes[-1]
    by_w = sweep(widths, lambda w: (X[:n_width], w), args.rounds, args.epochs)
    bounds = {w: epoch_bound(matmul_shapes(n_width, BATCH, (w, w // 2)), repeats=3) for w in widths}

    print(f"# scaling: batch {BATCH}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print("| examples | median epoch (s) | us per example | line a + bN (s) |")
    print("|---:|---:|---:|---:|")
    for s in sizes:
        print(f"| {s:,} | {by_n[s]:.3f} | {1e6 * by_n[s] / s:.1f} | {a + b * s:.3f} |")
    print(
        f"linear fit: a = {a:.3f} s, b = {1e6 * b:.2f} us/example; largest deviation "
        f"{100 * deviation:.1f}%; intercept {100 * a / t.max():.1f}% of the largest time"
    )
    print("| width W (784-W-W/2-W-784) | median epoch (s) | bound (s) | x bound |")
    print("|---:|---:|---:|---:|")
    for w in widths:
        print(f"| {w} | {by_w[w]:.3f} | {bounds[w]:.3f} | {by_w[w] / bounds[w]:.2f} |")
    result = {
        "batch_size": BATCH,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "examples": [{"n": s, "median_epoch_s": by_n[s]} for s in sizes],
        "linear_fit": {"a_s": a, "b_s_per_example": b, "max_relative_deviation": deviation},
        "width": [
            {"width": w, "n": n_width, "median_epoch_s": by_w[w], "bound_s": bounds[w]}
            for w in widths
        ],
        "command": "python benchmarks/scaling.py " + " ".join(argv or sys.argv[1:]),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
