"""Peak resident memory of training the seed's autoencoder on MNIST, in a fresh process.

Each measurement runs in a child process of its own, so nothing else this script has loaded
counts: (1) ``import torch`` alone, (2) ``import codings`` and load the 55,000 training images,
(3) the same and ``fit`` for one epoch (784-300-150-300-784, tied, batch 256, fp32 and bf16).

    python benchmarks/memory.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

LOAD = (
    "import codings\n"
    "from codings.datasets import load_dataset\n"
    "X = load_dataset('mnist', 'train', data_dir=DATA).X\n"
)
FIT = (
    "m = codings.build('stacked', n_features=784, hidden=(300, 150), tied=True, seed=0)\n"
    "codings.fit(m, X, epochs=1, batch_size=256, device='cpu', precision={precision!r})\n"
)
STEPS = {
    "import torch": "import torch",
    "import codings + load MNIST": LOAD,
    "... + fit 1 epoch (fp32)": LOAD + FIT.format(precision="fp32"),
    "... + fit 1 epoch (bf16)": LOAD + FIT.format(precision="bf16"),
}

REPORT = "\nimport resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"


def peak_mb(code: str, data_dir: str | None) -> float:
    prelude = f"DATA = {data_dir!r}\n"
    out = subprocess.run(
        [sys.executable, "-c", prelude + code + REPORT], capture_output=True, text=True, check=True
    ).stdout
    return float(out.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=os.environ.get("CODINGS_DATA_DIR"))
    p.add_argument("--out", default="benchmarks/results/memory.json")
    args = p.parse_args(argv)
    rows = [
        {"step": name, "peak_rss_mb": peak_mb(code, args.data_dir)} for name, code in STEPS.items()
    ]
    print("| process | peak RSS (MB) |\n|---|---|")
    for r in rows:
        print(f"| {r['step']} | {r['peak_rss_mb']:.0f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
