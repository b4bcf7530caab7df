"""What every reproduction script shares: its arguments, the MNIST splits, the result file.

A script describes one published number. It parses the common arguments (:func:`parser`),
trains once per seed, and hands the per-seed values to :func:`write_result`, which writes
``results/<name>.json`` (``results/<name>.quick.json`` for a ``--quick`` smoke run, so that a
smoke run never overwrites a real result) in the schema ``make_results.py`` reads:

    name, title, paper, paper_value, metric, unit, better ("lower" | "higher"), target,
    mean, std, min, max, seeds, values, seconds, seconds_per_seed, command, full_command,
    budget, quick, device, threads, notes, extra
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RESULTS = HERE / "results"
SCHEMA_KEYS = (
    "name",
    "title",
    "paper",
    "paper_value",
    "metric",
    "unit",
    "better",
    "target",
    "mean",
    "std",
    "min",
    "max",
    "seeds",
    "values",
    "seconds",
    "command",
    "budget",
    "quick",
)


def parser(doc: str, *, seeds: str = "0,1,2", epochs: int) -> argparse.ArgumentParser:
    """The arguments every script takes (``--help`` prints the protocol, ``doc``); ``--quick``
    turns them into a tiny smoke run."""
    p = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: a tiny subset, 1 epoch, 1 seed; the row is marked as not a result",
    )
    p.add_argument("--seeds", default=None, help=f"comma-separated seeds (default {seeds})")
    p.add_argument("--epochs", type=int, default=None, help=f"training epochs (default {epochs})")
    p.add_argument("--train-size", type=int, default=None, help="first N training images")
    p.add_argument("--test-size", type=int, default=None, help="first N test images")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument(
        "--data-dir", default=os.environ.get("CODINGS_DATA_DIR"), help="folder holding mnist/"
    )
    p.add_argument("--out", default=str(RESULTS), help="folder for the result files")
    p.set_defaults(_default_seeds=seeds, _default_epochs=epochs)
    return p


def finish_args(args: argparse.Namespace, *, quick_train: int = 2000, quick_test: int = 2000):
    """Fill the defaults that depend on ``--quick`` and set the thread count."""
    if args.quick:
        args.seeds = args.seeds or "0"
        args.epochs = args.epochs or 1
        args.train_size = args.train_size or quick_train
        args.test_size = args.test_size or quick_test
    args.seeds = [int(s) for s in (args.seeds or args._default_seeds).split(",")]
    args.epochs = args.epochs if args.epochs is not None else args._default_epochs
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def mnist(args) -> tuple:
    """The train (55,000), validation (5,000) and test (10,000) splits, cut to the sizes asked."""
    from codings.datasets import load_dataset

    train, val, test = (load_dataset("mnist", s, data_dir=args.data_dir) for s in SPLITS)
    if args.train_size:
        train = _first(train, args.train_size)
        if args.quick:
            val = _first(val, max(500, args.train_size // 10))
    if args.test_size:
        test = _first(test, args.test_size)
    return train, val, test


def _first(data, n: int):
    return dataclasses.replace(data, X=data.X[:n], y=data.y[:n])


SPLITS = ("train", "validation", "test")


def command(script: str, argv: list[str] | None) -> str:
    """The command line that ran (or runs) a script, from the repository root."""
    args = sys.argv[1:] if argv is None else argv
    rel = Path(script).resolve().relative_to(REPO)
    return " ".join(["python", str(rel), *(shlex.quote(a) for a in args)])


def rel(path) -> str:
    """``path`` relative to the repository root where it lies inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


class Timer:
    def __init__(self):
        self.t0 = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.t0


def summary(values: list[float]) -> dict:
    v = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
        "min": float(v.min()),
        "max": float(v.max()),
    }


def write_result(
    args,
    *,
    name: str,
    title: str,
    paper: str,
    paper_value: float | None,
    metric: str,
    values: list[float],
    seconds: float,
    seconds_per_seed: list[float],
    script: str,
    argv: list[str] | None,
    budget: str,
    full_command: str,
    better: str = "lower",
    unit: str = "",
    target: float | None = None,
    notes: str = "",
    estimate: str = "",
    deterministic: bool = False,
    extra: dict | None = None,
) -> Path:
    """Write ``<out>/<name>.json`` (``<name>.quick.json`` for a smoke run) and print the row."""
    from codings.train import resolve_device

    if len(values) != len(args.seeds):
        raise ValueError(f"{len(values)} values for {len(args.seeds)} seeds {args.seeds}")
    result = {
        "name": name,
        "title": title,
        "paper": paper,
        "paper_value": paper_value,
        "metric": metric,
        "unit": unit,
        "better": better,
        "target": target,
        **summary(values),
        "seeds": list(args.seeds),
        "values": [float(v) for v in values],
        "seconds": float(seconds),
        "seconds_per_seed": [float(s) for s in seconds_per_seed],
        "command": command(script, argv),
        "full_command": full_command,
        "budget": budget,
        "estimate": estimate,
        "quick": bool(args.quick),
        "deterministic": deterministic,
        "epochs": args.epochs,
        "full_epochs": getattr(args, "_default_epochs", None),
        "train_size": args.train_size,
        "test_size": args.test_size,
        "device": str(resolve_device(args.device)),
        "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "torch": torch.__version__,
        "notes": notes,
        "extra": extra or {},
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}{'.quick' if args.quick else ''}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(path)
    spread = f" ± {result['std']:.4g}" if len(values) > 1 else ""
    print(
        f"{name}: {metric} {result['mean']:.4g}{spread} over seeds {args.seeds} "
        f"(paper {paper_value}); {seconds:.0f} s{'  [smoke run]' if args.quick else ''} -> {path}",
        flush=True,
    )
    return path


def load_benchmark(filename: str):
    """Import one of the scripts in benchmarks/ as a module (they are not a package)."""
    import importlib.util

    path = HERE.parent / filename
    spec = importlib.util.spec_from_file_location(f"_bench_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
