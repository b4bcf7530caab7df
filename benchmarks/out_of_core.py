"""Training on a memory-mapped array several times larger than a memory cap.

Writes a synthetic float32 ``.npy`` of ``--gb`` gigabytes (rows of 784 values in [0, 1] from a
low-rank model plus noise), then trains a small stacked autoencoder on it for one epoch in a
child process whose memory is capped at ``--cap-gb`` by a cgroup (v1 memory controller, needs
root; without one the run is uncapped and says so). Reports the child's peak resident memory,
the cgroup's peak usage, the epoch time and the training loss.

    python benchmarks/out_of_core.py --gb 3 --cap-gb 1.5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CHILD = """
import json, resource, sys, time
import numpy as np
import codings
X = np.load(sys.argv[1], mmap_mode="r")
m = codings.build("stacked", n_features=X.shape[1], hidden=[64, 16], seed=0)
t0 = time.perf_counter()
h = codings.fit(m, X, epochs=1, batch_size=512, lr=1e-3, seed=0, device="cpu",
                chunk_size=int(sys.argv[2]))
print(json.dumps({"seconds": time.perf_counter() - t0, "rows": int(X.shape[0]),
                  "train_loss_per_feature": h["train_reconstruction"][-1] / X.shape[1],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CGROUP = Path("/sys/fs/cgroup/memory")


def make_array(path: Path, gb: float, d: int = 784, seed: int = 0) -> int:
    n = int(gb * 1e9 // (4 * d))
    if path.exists() and np.load(path, mmap_mode="r").shape == (n, d):
        return n
    rng = np.random.default_rng(seed)
    basis = rng.random((8, d), dtype=np.float32) / 8
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    step = 100_000
    for i in range(0, n, step):
        k = min(step, n - i)
        block = rng.random((k, 8), dtype=np.float32) @ basis
        block += 0.05 * rng.random((k, d), dtype=np.float32)
        out[i : i + k] = np.clip(block, 0, 1)
    out.flush()
    del out
    return n


def capped_cgroup(cap_bytes: int) -> Path | None:
    if not (CGROUP / "memory.limit_in_bytes").exists():
        return None
    group = CGROUP / f"codings-bench-{os.getpid()}"
    try:
        group.mkdir()
        (group / "memory.limit_in_bytes").write_text(str(cap_bytes))
        return group
    except OSError:
        return None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gb", type=float, default=3.0)
    p.add_argument("--cap-gb", type=float, default=1.5)
    p.add_argument("--chunk-rows", type=int, default=32768)
    p.add_argument("--path", default="/tmp/codings_out_of_core.npy")
    p.add_argument("--keep", action="store_true", help="keep the synthetic file")
    p.add_argument("--quick", action="store_true", help="1 GB under a 0.6 GB cap")
    p.add_argument("--out", default="benchmarks/results/out_of_core.json")
    args = p.parse_args(argv)
    if args.quick:
        args.gb, args.cap_gb = 1.0, 0.6  # importing torch alone takes about 0.3 GB
    path = Path(args.path)
    t0 = time.perf_counter()
    make_array(path, args.gb)
    made = time.perf_counter() - t0
    group = capped_cgroup(int(args.cap_gb * 2**30))

    def enter():
        if group is not None:
            (group / "cgroup.procs").write_text(str(os.getpid()))

    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    r = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(args.chunk_rows)],
        capture_output=True,
        text=True,
        preexec_fn=enter,
        env=env,
    )
    try:
        if r.returncode != 0:
            print(
                f"training failed (exit {r.returncode}; -9 means killed at the memory cap)\n"
                + r.stderr[-2000:],
                file=sys.stderr,
            )
            return 1
        res = json.loads(r.stdout.strip().splitlines()[-1])
        res.update(
            {
                "file_gb": path.stat().st_size / 1e9,
                "cap_gb": args.cap_gb if group else None,
                "capped_by": "cgroup v1 memory.limit_in_bytes" if group else "none (no cgroup)",
                "cgroup_peak_mb": int((group / "memory.max_usage_in_bytes").read_text()) / 2**20
                if group
                else None,
                "write_seconds": made,
            }
        )
    finally:
        if group is not None:
            group.rmdir()
        if not args.keep:
            path.unlink(missing_ok=True)
    print("| file (GB) | cap (GB) | rows | epoch (s) | rows/s | peak RSS (MB) | cgroup peak (MB) |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {res['file_gb']:.2f} | {res['cap_gb']} | {res['rows']:,} | {res['seconds']:.1f} | "
        f"{res['rows'] / res['seconds']:,.0f} | {res['peak_rss_mb']:.0f} | "
        f"{res['cgroup_peak_mb'] or float('nan'):.0f} |"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
