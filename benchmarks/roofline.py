"""The fp32 matrix-multiply bound for one training epoch and one encoding pass.

For the benchmark model (784-300-150-300-784) every training step needs, per dense layer
(n_in -> n_out, batch B): the forward product (B, n_in) @ (n_in, n_out), the weight gradient
(n_out, B) @ (B, n_in) and, except for the first layer whose input needs no gradient, the input
gradient (B, n_out) @ (n_out, n_in). Each product is timed on this machine with torch's own
kernel (best of several runs), and an epoch's bound is the sum over its steps. Nothing else an
epoch must do (activations, the optimiser, the loss) is counted, so no loop can beat the bound.

    python benchmarks/roofline.py --batch-sizes 150,256
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch


def layer_sizes(hidden=(300, 150), n_in=784) -> list[tuple[int, int]]:
    enc = [n_in, *hidden]
    sizes = enc + enc[-2::-1]
    return list(zip(sizes[:-1], sizes[1:], strict=False))


def matmul_shapes(n: int, batch: int, hidden=(300, 150), training: bool = True):
    """[(m, k, n, count)] products per epoch of ``n`` examples in batches of ``batch``."""
    steps = [(batch, n // batch)] + ([(n % batch, 1)] if n % batch else [])
    layers = layer_sizes(hidden) if training else layer_sizes(hidden)[: len(hidden)]
    shapes = []
    for b, count in steps:
        for i, (a, c) in enumerate(layers):
            shapes.append((b, a, c, count))  # forward
            if training:
                shapes.append((c, b, a, count))  # weight gradient
                if i > 0:
                    shapes.append((b, c, a, count))  # input gradient
    return shapes


def time_product(m: int, k: int, n: int, repeats: int = 5, inner: int = 20) -> float:
    a, b = torch.randn(m, k), torch.randn(k, n)
    out = torch.empty(m, n)
    torch.mm(a, b, out=out)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            torch.mm(a, b, out=out)
        best = min(best, (time.perf_counter() - t0) / inner)
    return best


def epoch_bound(shapes, repeats: int = 5) -> float:
    cache: dict = {}
    total = 0.0
    for m, k, n, count in shapes:
        if (m, k, n) not in cache:
            cache[(m, k, n)] = time_product(m, k, n, repeats)
        total += cache[(m, k, n)] * count
    return total


def machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy

    return {
        "cpu": cpu,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "isa": torch.backends.cpu.get_cpu_capability(),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-sizes", default="150,256")
    p.add_argument("--n", type=int, default=55000)
    p.add_argument("--encode-n", type=int, default=70000)
    p.add_argument("--out", default="benchmarks/results/roofline.json")
    args = p.parse_args(argv)
    info = machine()
    print(f"# {info}")
    print("| batch | product (m x k x n) | GFLOP/s |")
    print("|---|---|---|")
    rows = []
    for bs in [int(b) for b in args.batch_sizes.split(",")]:
        for m, k, n, _ in matmul_shapes(bs * 10, bs):
            t = time_product(m, k, n)
            print(f"| {bs} | {m} x {k} x {n} | {2 * m * k * n / t / 1e9:.1f} |")
        train = epoch_bound(matmul_shapes(args.n, bs))
        enc = epoch_bound(matmul_shapes(args.encode_n, 4096 if bs == 256 else bs, training=False))
        rows.append({"batch_size": bs, "epoch_bound_s": train, **info})
        print(f"| {bs} | epoch bound ({args.n} examples) | {train:.3f} s |")
    enc = epoch_bound(matmul_shapes(args.encode_n, 4096, training=False))
    print(f"| 4096 | encoding bound ({args.encode_n} examples) | {enc:.3f} s |")
    rows.append({"encode_batch": 4096, "encode_bound_s": enc, **info})
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count()))
    sys.exit(main())
