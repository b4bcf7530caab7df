"""Where the detector's fitting time goes: the same 640-step training, built up part by part.

The speed comparison with pyod (``pyod_anomaly.py --suites ""``) fits 1,000 MNIST images with
a 784-300-150-300-784 network for 20 epochs at batch 32. This script times that work in one
process, in interleaved rounds (rotating order, one untimed warm-up of each), as:

- ``floor``: ``floor.py``'s matrix products and fused Adam updates (each in a loop of its own);
- ``fused step only``: codings' hand-written training step (:mod:`codings.fused`) on the
  batches, no optimiser;
- ``+ fused Adam``, ``+ FusedNAdam``: the same with an update after every step;
- ``codings.fit``: :func:`codings.fit` with the detector's settings (NAdam), on scaled data;
- ``detector``: ``AutoencoderOutlierDetector(epochs=20).fit`` (scaling, checks, threshold).

    OMP_NUM_THREADS=1 PYTHONPATH=src CODINGS_DATA_DIR=../shared/data \\
        python benchmarks/peers/fit_parts.py

Each row's time is reported as the median over rounds and as the median of its per-round
ratio to the floor: the differences between rows are what each part costs.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from codings import AutoencoderOutlierDetector, build, fit
from codings import fused as fused_step
from codings.datasets import load_dataset
from codings.optimizers import FusedNAdam

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor import mlp_layers, time_floor  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EPOCHS, BATCH = 20, 32


def contenders(X: np.ndarray) -> dict:
    """name -> a function that does the whole training once."""
    Xs = torch.as_tensor(((X - X.mean(0)) / (X.std(0) + 1e-8)).astype(np.float32))
    n = len(Xs)

    def model():
        return build("stacked", seed=0, n_features=X.shape[1], hidden=(300, 150), init="xavier")

    def loop(optimizer):
        def run():
            m = model()
            step = fused_step.plan(m)
            opt = optimizer(m.parameters()) if optimizer else None
            g = torch.Generator().manual_seed(0)
            m.train()
            for _ in range(EPOCHS):
                perm = torch.randperm(n, generator=g)
                for i in range(0, n, BATCH):
                    step(Xs.index_select(0, perm[i : i + BATCH]))
                    if opt is not None:
                        opt.step()

        return run

    steps = EPOCHS * -(-n // BATCH)
    layers = mlp_layers([X.shape[1], 300, 150, 300, X.shape[1]], BATCH)
    return {
        "floor": lambda: time_floor(layers, steps),
        "fused step only": loop(None),
        "+ fused Adam": loop(lambda ps: torch.optim.Adam(ps, lr=1e-3, fused=True)),
        "+ FusedNAdam": loop(lambda ps: FusedNAdam(ps, lr=1e-3)),
        "codings.fit": lambda: fit(
            model(),
            Xs,
            epochs=EPOCHS,
            batch_size=BATCH,
            optimizer="nadam",
            device="cpu",
            threads=1,
            seed=0,
        ),  # fmt: skip
        "detector": lambda: AutoencoderOutlierDetector(
            epochs=EPOCHS, random_state=0, device="cpu", threads=1
        ).fit(X),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default=str(ROOT / "results" / "peers_fit_parts.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # the detector's notes on a 20-epoch model
    X = load_dataset("mnist", "train+validation", data_dir=args.data_dir).X
    X = X[:: max(1, len(X) // args.images)][: args.images]
    runs = contenders(X)
    for f in runs.values():  # warm-up: one-off imports and allocations, not timed
        f()
    times = {k: [] for k in runs}
    parts = []
    for r in range(args.rounds):
        names = list(runs)
        for k in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            out = runs[k]()
            times[k].append(time.perf_counter() - t0)
            if k == "floor":
                parts.append(out)
        print(f"round {r + 1}: " + ", ".join(f"{k} {times[k][-1]:.2f} s" for k in names))
    floor = times["floor"]
    rows = {
        k: {
            "median_s": statistics.median(v),
            "over_floor": statistics.median(t / f for t, f in zip(v, floor, strict=True)),
        }
        for k, v in times.items()
    }
    for k in ("matmul_s", "update_s"):
        rows["floor"][k] = statistics.median(q[k] for q in parts)
    print("\n| part | median (s) | / floor (median of rounds) |\n|---|---:|---:|")
    for k, row in rows.items():
        print(f"| {k} | {row['median_s']:.2f} | {row['over_floor']:.2f}x |")
    f = rows["floor"]
    print(f"(floor: matrix products {f['matmul_s']:.2f} s + updates {f['update_s']:.2f} s)")
    meta = {"torch": torch.__version__, "threads": torch.get_num_threads(),
            "machine": platform.platform()}  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "meta": meta, "times": times,
                               "rows": rows}, indent=1))  # fmt: skip
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
