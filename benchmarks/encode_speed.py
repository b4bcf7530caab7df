"""Encoding throughput: codings.metrics.encode over all 70,000 MNIST images against its bound.

The bound is the time of the encoder's matrix products alone (784-300-150, batch 4,096), timed
in the same run by ``roofline.py``'s method; the ratio bound / measured is the share of the
machine's matrix-product speed that encoding reaches.

    python benchmarks/encode_speed.py --repeats 7
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from roofline import epoch_bound, matmul_shapes  # noqa: E402

import codings  # noqa: E402
from codings.datasets import load_dataset  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--data-dir", default=os.environ.get("CODINGS_DATA_DIR"))
    p.add_argument("--out", default="benchmarks/results/encode_speed.json")
    args = p.parse_args(argv)
    X = load_dataset("mnist", "all", data_dir=args.data_dir).X
    model = codings.build("stacked", n_features=784, hidden=(300, 150), tied=True, seed=0)
    codings.metrics.encode(model, X[:8192], batch_size=args.batch_size)  # warm-up
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        codings.metrics.encode(model, X, batch_size=args.batch_size)
        times.append(time.perf_counter() - t0)
    bound = epoch_bound(matmul_shapes(len(X), args.batch_size, training=False))
    t = statistics.median(times)
    row = {
        "images": len(X),
        "median_s": t,
        "bound_s": bound,
        "share_of_bound": bound / t,
        "images_per_s": len(X) / t,
    }
    print("| images | median encode (s) | bound (s) | share of bound | images/s |")
    print("|---|---|---|---|---|")
    print(f"| {len(X):,} | {t:.3f} | {bound:.3f} | {bound / t:.0%} | {len(X) / t:,.0f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(row, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
