"""What `import codings` and its first uses cost: time, peak memory, and the libraries loaded.

Each measure runs in a fresh interpreter (median of --rounds). With --before SRC (another
checkout's src folder), both trees run in interleaved rounds on the same machine, and the table
gives their medians side by side, so a busy machine slows both alike.

    python benchmarks/import_cost.py --rounds 7 [--before /path/to/old/src]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

USES = {
    "import codings": "import codings",
    "codings.build, codings.fit": "import codings; codings.build; codings.fit",
    "every builder (codings.MODELS)": "import codings; codings.MODELS",
    "build('vae', ...)": "import codings; codings.build('vae', n_features=784)",
    "codings.AutoencoderTransformer": "import codings; codings.AutoencoderTransformer",
    "import codings.cli": "import codings.cli",
}

PROBE = """
import resource, sys, time
t = time.perf_counter()
{code}
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
mods = sys.modules
print(seconds, peak, int('sklearn' in mods), int('matplotlib' in mods))
"""


def measure(src: Path, code: str) -> tuple[float, float, bool, bool]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(code=code)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[0]), float(out[1]), out[2] == "1", out[3] == "1"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--before", type=Path, help="another checkout's src folder, for a comparison")
    args = p.parse_args()
    trees = {"now": SRC} | ({"before": args.before} if args.before else {})
    results = {(t, u): [] for t in trees for u in USES}
    for _ in range(args.rounds):
        for use, code in USES.items():
            for tree, src in trees.items():
                results[tree, use].append(measure(src, code))
    print(
        f"{'use':34s}"
        + "".join(f" {t + ' ms':>10s} {t + ' MiB':>9s} {'loads':>18s}" for t in trees)
    )
    for use in USES:
        row = f"{use:34s}"
        for tree in trees:
            r = results[tree, use]
            ms = 1000 * statistics.median(x[0] for x in r)
            mib = statistics.median(x[1] for x in r)
            libs = "+".join(n for n, i in (("sklearn", 2), ("matplotlib", 3)) if r[0][i]) or "-"
            row += f" {ms:10.0f} {mib:9.0f} {libs:>18s}"
        print(row)


if __name__ == "__main__":
    main()
