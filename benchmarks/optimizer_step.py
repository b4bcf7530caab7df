"""The optimiser step alone: torch's NAdam (single-tensor and foreach), codings' FusedNAdam and
torch's fused Adam, on the parameters of the 784-300-150 mirrored autoencoder, in one process.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/optimizer_step.py

Gradients are given (random, fixed); each round times ``--steps`` steps of every optimiser in a
rotating order and keeps the median step; the table gives the median over rounds and the
median of the per-round ratios torch NAdam / this.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from codings.optimizers import FusedNAdam

ROOT = Path(__file__).resolve().parent
SIZES = (784, 300, 150, 300, 784)


def parameters(seed: int = 0) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    ps = []
    for i, o in zip(SIZES[:-1], SIZES[1:], strict=False):
        for shape in ((o, i), (o,)):
            p = torch.nn.Parameter(torch.randn(shape, generator=g) * 0.05)
            p.grad = torch.randn(shape, generator=g) * 1e-3
            ps.append(p)
    return ps


OPTIMIZERS = {
    "torch.optim.NAdam": lambda ps: torch.optim.NAdam(ps, lr=1e-3),
    "torch.optim.NAdam(foreach=True)": lambda ps: torch.optim.NAdam(ps, lr=1e-3, foreach=True),
    "codings.optimizers.FusedNAdam": lambda ps: FusedNAdam(ps, lr=1e-3),
    "torch.optim.Adam(fused=True)": lambda ps: torch.optim.Adam(ps, lr=1e-3, fused=True),
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--out", default=str(ROOT / "results" / "optimizer_step.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)  # as fit does
    opts = {k: make(parameters()) for k, make in OPTIMIZERS.items()}
    for opt in opts.values():
        opt.step()  # warm: the state is made on the first step
    ms = {k: [] for k in opts}
    for r in range(args.rounds):
        names = list(opts)
        for k in names[r % len(names) :] + names[: r % len(names)]:
            t = []
            for _ in range(args.steps):
                t0 = time.perf_counter()
                opts[k].step()
                t.append(time.perf_counter() - t0)
            ms[k].append(1e3 * statistics.median(t))
    base = "torch.optim.NAdam"
    rows = [
        {"optimizer": k, "ms_per_step": statistics.median(v),
         "torch_nadam_over_this": statistics.median(
             a / b for a, b in zip(ms[base], v, strict=True))}
        for k, v in ms.items()
    ]  # fmt: skip
    print("| step | ms per step (median) | torch NAdam / this |\n|---|---:|---:|")
    for r in rows:
        print(
            f"| `{r['optimizer']}` | {r['ms_per_step']:.2f} | {r['torch_nadam_over_this']:.2f}x |"
        )
    meta = {"torch": torch.__version__, "threads": 1, "machine": platform.platform()}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "meta": meta, "rows": rows, "ms": ms}, indent=1))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
