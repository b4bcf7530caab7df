"""The thread policy against every fixed thread count, on an idle and on a loaded machine.

Three workloads: a 64-64-32 autoencoder on scikit-learn's 1,797 digits at batch 32 and 256,
and the 784-300-150 stacked autoencoder on the first ``--mnist-rows`` MNIST training images at
batch 256. Each setting (every fixed count from 1 to the usable CPUs, and the policy,
``threads=None``) trains from the same fresh weights with one call of ``codings.fit``, for
``--epochs`` epochs or, where one epoch of that setting takes less, as many as make the call
last ``--min-seconds`` (at most ``--max-epochs``); the time is the call's wall time per epoch.
Rounds run the settings in a rotating order, so a round compares them on nearly the same
machine.

Two phases in one run: "idle" (the machine as it is), then "loaded": ``--load-procs`` busy
processes of this script's own (pure-Python spin loops, each ending by itself after at most
``--load-seconds``, and killed when the phase ends, on Ctrl-C or on an error) started
``--settle`` seconds before measuring, so that the 1-minute load average the policy reads has
risen. The table gives each setting's median seconds per epoch, the count the policy chose,
the median over rounds of policy / best fixed count (the per-round ratio to the fixed count
with the lowest median), and the ratio of the two medians. Target: at most 1.10.

    CODINGS_DATA_DIR=/work/shared/data python benchmarks/threads.py
    python benchmarks/threads.py --quick

OMP_NUM_THREADS and MKL_NUM_THREADS are removed from this process's environment at the
start: they cap the policy (as joblib's workers should be capped), which here would hide it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.pop(_name, None)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import codings  # noqa: E402
from codings import threads as policy_module  # noqa: E402

SPIN = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"


def digits() -> np.ndarray:
    from sklearn.datasets import load_digits

    return (load_digits().data / 16.0).astype(np.float32)  # (1797, 64)


def mnist(rows: int, data_dir) -> np.ndarray:
    from codings.datasets import load_dataset

    return load_dataset("mnist", "train", data_dir=data_dir, download=False).X[:rows]


def workloads(args) -> list[dict]:
    small = {"n_features": 64, "hidden": (64, 32), "activation": "relu"}
    X = digits()
    out = [
        {"name": "digits 64-64-32, batch 32", "X": X, "model": small, "batch_size": 32},
        {"name": "digits 64-64-32, batch 256", "X": X, "model": small, "batch_size": 256},
    ]
    try:
        Xm = mnist(args.mnist_rows, args.data_dir)
    except Exception as e:  # no MNIST here: say so and measure the rest
        print(f"MNIST skipped: {e}", file=sys.stderr)
    else:
        big = {"n_features": 784, "hidden": (300, 150)}
        name = f"MNIST 784-300-150 ({len(Xm)} rows), batch 256"
        out.append({"name": name, "X": Xm, "model": big, "batch_size": 256})
    return out


def one_fit(w: dict, threads, epochs: int) -> tuple[float, int]:
    """(seconds per epoch, threads torch ran with) of one fit from fresh weights."""
    model = codings.build("stacked", seed=0, **w["model"])
    seen = []

    def record(epoch, rec, m):
        seen.append(torch.get_num_threads())

    t0 = time.perf_counter()
    codings.fit(
        model, w["X"], epochs=epochs, batch_size=w["batch_size"], seed=0, device="cpu",
        threads=threads, callbacks=[record],
    )  # fmt: skip
    return (time.perf_counter() - t0) / epochs, seen[0]


def measure_phase(ws, settings, args, phase: str, done=lambda row: None) -> list[dict]:
    rows = []
    for w in ws:
        # Warm-up (kernels, allocator, thread pools), which also sizes each setting's fits:
        # at least --epochs, more for fast settings until a fit lasts --min-seconds, since
        # fits of a few milliseconds vary 2x from one to the next on a busy machine.
        epochs = {}
        for s in settings:
            first, _ = one_fit(w, s, 1)
            more = math.ceil(args.min_seconds / max(first, 1e-6))
            epochs[str(s)] = min(max(args.epochs, more), args.max_epochs)
        times: dict[str, list[float]] = {str(s): [] for s in settings}
        chosen = []
        loads = []
        for r in range(args.rounds):
            order = settings[r % len(settings) :] + settings[: r % len(settings)]
            for s in order:
                if s is None:
                    loads.append(policy_module.load_average())
                seconds, n = one_fit(w, s, epochs[str(s)])
                times[str(s)].append(seconds)
                if s is None:
                    chosen.append(n)
        medians = {k: statistics.median(v) for k, v in times.items()}
        fixed = [str(s) for s in settings if s is not None]
        best = min(fixed, key=medians.get)
        ratio = statistics.median([p / b for p, b in zip(times["None"], times[best], strict=True)])
        rows.append(
            {
                "phase": phase,
                "workload": w["name"],
                "epochs": {("policy" if k == "None" else k): v for k, v in epochs.items()},
                "rounds": args.rounds,
                "s_per_epoch": {("policy" if k == "None" else k): v for k, v in medians.items()},
                "best_fixed": int(best),
                "policy_over_best": ratio,
                "policy_over_best_of_medians": medians["None"] / medians[best],
                "policy_chose": chosen,
                "load_average_seen_by_policy": loads,
                "raw": times,
            }
        )
        print(_row(rows[-1], fixed), flush=True)
        done(rows[-1])
    return rows


def start_load(n: int, seconds: float) -> list[subprocess.Popen]:
    code = SPIN.format(seconds=float(seconds))
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]


def stop_load(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        p.wait()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _header(fixed) -> str:
    cols = " | ".join(f"{k} thread{'s' if k != '1' else ''}" for k in fixed)
    line = "|---|---|" + "---:|" * (len(fixed) + 4)
    return (
        f"| phase | workload | {cols} | policy | policy chose | policy / best fixed "
        f"| ratio of medians |\n{line}"
    )


def _row(r, fixed) -> str:
    s = r["s_per_epoch"]
    cells = " | ".join(f"{s[k]:.4f}" for k in fixed)
    chose = ",".join(str(c) for c in sorted(set(r["policy_chose"])))
    return (
        f"| {r['phase']} | {r['workload']} | {cells} | {s['policy']:.4f} | {chose} "
        f"| {r['policy_over_best']:.2f} | {r['policy_over_best_of_medians']:.2f} |"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3, help="epochs per fit, at least")
    ap.add_argument("--min-seconds", type=float, default=0.5, help="fast settings fit longer")
    ap.add_argument("--max-epochs", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--mnist-rows", type=int, default=5000)
    ap.add_argument("--data-dir", default=os.environ.get("CODINGS_DATA_DIR"))
    ap.add_argument("--load-procs", type=int, help="busy processes (default: the usable CPUs)")
    ap.add_argument("--settle", type=float, default=60.0, help="seconds of load before measuring")
    ap.add_argument("--load-seconds", type=float, default=1800.0, help="upper bound of the load")
    ap.add_argument("--phases", default="idle,loaded")
    ap.add_argument("--counts", help="fixed thread counts, e.g. 1,2,4 (default: 1 to the CPUs)")
    ap.add_argument("--quick", action="store_true", help="2 epochs, 3 rounds, 2,000 MNIST rows")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "threads.json"))
    args = ap.parse_args(argv)
    if args.quick:
        args.epochs, args.rounds, args.mnist_rows = 2, 3, 2000
        args.settle, args.load_seconds = min(args.settle, 20.0), min(args.load_seconds, 600.0)
    cpus = policy_module.usable_cpus()
    n_load = args.load_procs if args.load_procs is not None else cpus
    counts = [int(c) for c in args.counts.split(",")] if args.counts else range(1, cpus + 1)
    torch.set_num_threads(max(counts))  # the policy never goes above torch's current count
    settings: list = [*counts, None]
    fixed = [str(s) for s in settings if s is not None]
    ws = workloads(args)
    signal.signal(signal.SIGTERM, _interrupt)  # ends the run like Ctrl-C, through the finally
    rows: list[dict] = []

    def save(row=None) -> dict:
        """Write the JSON after every row: a run cut short keeps what it measured."""
        if row is not None:
            rows.append(row)
        result = {
            "command": "python benchmarks/threads.py " + " ".join(argv or sys.argv[1:]),
            "machine": f"{platform.processor() or platform.machine()}, {cpus} usable CPUs",
            "load_procs": n_load,
            "flops_per_thread": policy_module.FLOPS_PER_THREAD,
            "torch": torch.__version__,
            "rows": rows,
            "worst_policy_over_best": max((r["policy_over_best"] for r in rows), default=None),
        }
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1))
        return result

    print(_header(fixed), flush=True)
    for phase in args.phases.split(","):
        procs: list[subprocess.Popen] = []
        try:
            if phase == "loaded":
                procs = start_load(n_load, args.settle + args.load_seconds)
                time.sleep(args.settle)
            measure_phase(ws, settings, args, phase, done=save)
        finally:
            stop_load(procs)
    result = save()
    print(f"worst policy / best fixed: {result['worst_policy_over_best']:.2f}; written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
