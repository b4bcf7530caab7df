"""One-class anomaly detection: codings' detector against pyod's, on MNIST and Fashion-MNIST.

Run it in pyod's own environment (``make peers`` makes ``.venv-pyod``), with codings from this
tree on the path:

    OMP_NUM_THREADS=1 PYTHONPATH=src CODINGS_DATA_DIR=../shared/data \
        .venv-pyod/bin/python benchmarks/peers/pyod_anomaly.py

The protocol of ``benchmarks/anomaly.py`` (Ruff et al. 2018): for each class, fit on that
class's training images only (the first ``--train-images`` of them), score the first
``--test-images`` test images, and compute the ROC AUC (threshold-free, so the same with either
class as positive) and the average precision with the *outliers* as the positive class (pyod's
convention); then the mean over the classes. Every detector sees the same images.

Detectors: codings' ``AutoencoderOutlierDetector`` at its defaults; pyod's ``AutoEncoder``,
``VAE``, ``DeepSVDD``, ``IForest``, ``ECOD`` and ``PCA`` at their defaults; and the three
neural ones again at codings' default architecture (784-300-150 mirrored, ELU), ``--epochs``
epochs and batch 32 with no dropout or batch norm, beside codings' detector with that fixed
epoch count. One torch thread everywhere. Time is fit and scoring each; memory is the peak
resident set during fit+score above the resident set before it (Linux ``clear_refs``).

``--speed-rounds`` then times fitting alone (``--suites ""`` for that only), codings against
pyod's AutoEncoder at the same architecture, epochs and batch, codings again with pyod's
optimiser (Adam) and with torch's own NAdam (the default before ``FusedNAdam``), and the floor
of that training (``floor.py``: its matrix products and a fused Adam update alone), in
interleaved rounds whose order rotates, after one untimed warm-up of each; the ratio is the
median over rounds of pyod's fit time / the contender's.

``--unfused-check`` runs only codings' default detector, with ``FusedNAdam`` and with torch's
NAdam (its default and its ``foreach`` form), on ``--suites`` and ``--classes``: the same maths
in three implementations, so the same scores up to float rounding, and their fit times.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from codings import AutoencoderOutlierDetector
from codings.datasets import load_dataset

ROOT = Path(__file__).resolve().parents[1]
HIDDEN = [300, 150]  # codings' default stacked architecture


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def measured(fit, score):
    """Run ``fit()`` then ``score()``: (scores, fit seconds, score seconds, peak MB above start)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak resident set (VmHWM)
    except OSError:
        pass
    base = _rss_kb("VmRSS")
    t0 = time.perf_counter()
    fitted = fit()
    t1 = time.perf_counter()
    s = score(fitted)
    t2 = time.perf_counter()
    return s, t1 - t0, t2 - t1, max(0, _rss_kb("VmHWM") - base) / 1024


def detectors(args, n_features: int) -> dict:
    """name -> (make, outlier score of a fitted detector: higher = more anomalous)."""
    from pyod.models.auto_encoder import AutoEncoder
    from pyod.models.deep_svdd import DeepSVDD
    from pyod.models.ecod import ECOD
    from pyod.models.iforest import IForest
    from pyod.models.pca import PCA
    from pyod.models.vae import VAE

    s, e = args.seed, args.epochs
    neg = lambda X: lambda d: -d.score_samples(X)  # noqa: E731  codings: higher = more normal
    same = dict(epoch_num=e, batch_size=32, dropout_rate=0.0, hidden_activation_name="elu")
    return {
        "codings (defaults)": (
            lambda: AutoencoderOutlierDetector(random_state=s, device="cpu", threads=1),
            neg,
        ),
        "pyod AutoEncoder (defaults)": (lambda: AutoEncoder(random_state=s, verbose=0), None),
        "pyod VAE (defaults)": (lambda: VAE(random_state=s, verbose=0), None),
        "pyod DeepSVDD (defaults)": (
            lambda: DeepSVDD(n_features=n_features, random_state=s, verbose=0),
            None,
        ),
        "pyod IForest (defaults)": (lambda: IForest(random_state=s), None),
        "pyod ECOD (defaults)": (lambda: ECOD(), None),
        "pyod PCA (defaults)": (lambda: PCA(random_state=s), None),
        f"codings, {e} epochs": (
            lambda: AutoencoderOutlierDetector(epochs=e, random_state=s, device="cpu", threads=1),
            neg,
        ),
        f"pyod AutoEncoder, same net, {e} epochs": (
            lambda: AutoEncoder(
                random_state=s, verbose=0, hidden_neuron_list=HIDDEN, batch_norm=False, **same
            ),
            None,
        ),
        f"pyod VAE, same net, {e} epochs": (
            lambda: VAE(
                random_state=s,
                verbose=0,
                encoder_neuron_list=HIDDEN[:1],
                decoder_neuron_list=HIDDEN[:1],
                latent_dim=HIDDEN[-1],
                **same,
            ),  # fmt: skip
            None,
        ),
        f"pyod DeepSVDD, same net, {e} epochs": (
            lambda: DeepSVDD(
                n_features=n_features,
                hidden_neurons=HIDDEN,
                hidden_activation="elu",
                epochs=e,
                batch_size=32,
                dropout_rate=0.0,
                random_state=s,
                verbose=0,
            ),  # fmt: skip
            None,
        ),
    }


def run_suite(args, name: str, dets: dict) -> dict:
    train = load_dataset(name, "train+validation", data_dir=args.data_dir)
    test = load_dataset(name, "test", data_dir=args.data_dir)
    Xt, yt = test.X[: args.test_images], test.y[: args.test_images]
    rows = []
    for c in [int(v) for v in args.classes.split(",")]:
        X = train.X[train.y == c][: args.train_images]
        outlier = yt != c
        for det, (make, score) in dets.items():
            score = score or (lambda X: lambda d: d.decision_function(X))
            s, fit_s, score_s, mb = measured(lambda m=make, X=X: m().fit(X), score(Xt))
            rows.append(
                {
                    "class": c,
                    "detector": det,
                    "roc_auc": float(roc_auc_score(outlier, s)),
                    "ap": float(average_precision_score(outlier, s)),
                    "fit_s": fit_s,
                    "score_s": score_s,
                    "peak_mb": mb,
                }
            )
            r = rows[-1]
            print(
                f"{name} class {c} {det}: AUC {r['roc_auc']:.4f} AP {r['ap']:.4f} "
                f"fit {fit_s:.1f} s score {score_s:.2f} s +{mb:.0f} MB",
                flush=True,
            )
    summary = []
    for det in dets:
        rs = [r for r in rows if r["detector"] == det]
        summary.append(
            {
                "detector": det,
                **{
                    k: float(np.mean([r[k] for r in rs]))
                    for k in ("roc_auc", "ap", "fit_s", "score_s")
                },
                "peak_mb": float(max(r["peak_mb"] for r in rs)),
            }
        )
    return {"suite": name, "rows": rows, "summary": summary}


def torch_nadam(foreach: bool = False):
    """codings' detector with torch's own (unfused) NAdam: the default before FusedNAdam
    (``foreach``: torch's multi-tensor form, the same maths in another order)."""
    import functools

    import codings.train as train

    nadam = functools.partial(torch.optim.NAdam, foreach=True) if foreach else torch.optim.NAdam

    class Unfused(AutoencoderOutlierDetector):
        def fit(self, X, y=None):
            fused, train.FusedNAdam = train.FusedNAdam, nadam
            try:
                return super().fit(X, y)
            finally:
                train.FusedNAdam = fused

    return Unfused


def speed(args, dets: dict) -> dict:
    """Fitting time, codings against pyod's AutoEncoder, same net/epochs/batch, interleaved;
    and the floor of that training: its matrix products and a fused Adam update alone."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from floor import mlp_layers, time_floor

    e = args.epochs
    X = load_dataset("mnist", "train+validation", data_dir=args.data_dir).X
    X = X[:: max(1, len(X) // args.train_images)][: args.train_images]
    # pyod drops the last, partial batch: its steps are the fewer, so a floor for both
    steps = e * (len(X) // 32)
    layers = mlp_layers([784, *HIDDEN, *reversed(HIDDEN[:-1]), 784], 32)
    floor_parts = {}

    def floor_run():
        floor_parts.setdefault("parts", []).append(time_floor(layers, steps))
        return floor_parts["parts"][-1]["floor_s"]

    pair = {
        "codings": dets[f"codings, {e} epochs"][0],
        "pyod": dets[f"pyod AutoEncoder, same net, {e} epochs"][0],
        # pyod's optimiser (Adam; codings' estimators default to NAdam)
        "codings (adam)": lambda: AutoencoderOutlierDetector(
            epochs=e, optimizer="adam", random_state=args.seed, device="cpu", threads=1
        ),
        # the default optimiser as torch runs it (before FusedNAdam): the same maths
        "codings (torch's NAdam)": lambda: torch_nadam()(
            epochs=e, random_state=args.seed, device="cpu", threads=1
        ),
        "floor": None,
    }
    for make in pair.values():  # warm: one-off imports and allocations, not timed
        if make is None:
            floor_run()
        else:
            make().fit(X[:64])
    floor_parts.clear()
    times = {k: [] for k in pair}
    for r in range(args.speed_rounds):
        names = list(pair)
        for k in names[r % len(names) :] + names[: r % len(names)]:  # a rotating order
            if k == "floor":
                times[k].append(floor_run())
                continue
            t0 = time.perf_counter()
            pair[k]().fit(X)
            times[k].append(time.perf_counter() - t0)
        print(f"speed round {r + 1}: " + ", ".join(f"{k} {times[k][-1]:.1f} s" for k in names),
              flush=True)  # fmt: skip

    def ratio(k):
        return statistics.median(p / c for c, p in zip(times[k], times["pyod"], strict=True))

    parts = floor_parts["parts"]
    return {
        "images": len(X),
        "epochs": e,
        "batch_size": 32,
        "floor_steps": steps,
        "times": times,
        "median_s": {k: statistics.median(v) for k, v in times.items()},
        "pyod_over_codings": ratio("codings"),
        "pyod_over_codings_adam": ratio("codings (adam)"),
        "pyod_over_codings_torch_nadam": ratio("codings (torch's NAdam)"),
        "pyod_over_floor": ratio("floor"),
        "torch_nadam_over_codings": statistics.median(
            t / c for c, t in zip(times["codings"], times["codings (torch's NAdam)"], strict=True)
        ),
        "floor_matmul_s": statistics.median(p["matmul_s"] for p in parts),
        "floor_update_s": statistics.median(p["update_s"] for p in parts),
    }


def memory_of(args, det: str) -> float:
    """Peak resident MB of fitting and scoring ``det`` once (the first class of the first suite)
    in this fresh process, above what the imports and the data already hold."""
    dets = detectors(args, 784)  # imports pyod's modules before the baseline
    make, score = dets[det]
    score = score or (lambda X: lambda d: d.decision_function(X))
    name, c = args.suites.split(",")[0], int(args.classes.split(",")[0])
    train = load_dataset(name, "train+validation", data_dir=args.data_dir)
    X = train.X[train.y == c][: args.train_images]
    Xt = load_dataset(name, "test", data_dir=args.data_dir).X[: args.test_images]
    return measured(lambda: make().fit(X), score(Xt))[3]


def memory(args, dets: dict) -> dict:
    """Each detector's peak memory, each in its own process: a process's allocator keeps and
    reuses what an earlier detector freed, so in-process peaks after the first read low."""
    out = {}
    for det in dets:
        cmd = [sys.executable, __file__, "--memory-of", det, "--suites", args.suites,
               "--classes", args.classes, "--train-images", str(args.train_images),
               "--test-images", str(args.test_images), "--epochs", str(args.epochs),
               "--seed", str(args.seed)]  # fmt: skip
        if args.data_dir:
            cmd += ["--data-dir", args.data_dir]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=True)
        out[det] = float(proc.stdout.strip().splitlines()[-1])
        print(f"memory {det}: +{out[det]:.0f} MB", flush=True)
    return out


def table(suite: dict) -> str:
    lines = [
        "| detector | mean ROC AUC | mean AP | fit (s) | score (s) | peak memory (MB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for s in suite["summary"]:
        lines.append(
            f"| {s['detector']} | {s['roc_auc']:.4f} | {s['ap']:.4f} | {s['fit_s']:.1f} | "
            f"{s['score_s']:.2f} | {s['peak_mb']:.0f} |"
        )
    return "\n".join(lines)


def speed_table(sp: dict) -> str:
    """The paired speed rounds as a table: median seconds, and pyod's time over each."""
    lines = [
        "| fit | median (s) | pyod / this (median of rounds) |",
        "|---|---:|---:|",
    ]
    ratios = {
        "codings": sp["pyod_over_codings"],
        "codings (adam)": sp["pyod_over_codings_adam"],
        "codings (torch's NAdam)": sp.get("pyod_over_codings_torch_nadam"),
        "pyod": 1.0,
        "floor": sp.get("pyod_over_floor"),
    }
    for k, v in sp["median_s"].items():
        r = ratios.get(k)
        lines.append(f"| {k} | {v:.2f} | {'' if r is None else f'{r:.2f}x'} |")
    if "floor_matmul_s" in sp:
        lines.append(
            f"| (floor: matrix products / fused Adam update) | {sp['floor_matmul_s']:.2f} / "
            f"{sp['floor_update_s']:.2f} | |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suites", default="mnist,fashion-mnist")
    p.add_argument("--classes", default="0,1,2,3,4,5,6,7,8,9", help="normal classes, one each")
    p.add_argument("--train-images", type=int, default=1000, help="per normal class")
    p.add_argument("--test-images", type=int, default=2000, help="the first N test images")
    p.add_argument("--epochs", type=int, default=20, help="for the same-architecture runs")
    p.add_argument("--speed-rounds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--memory", action="store_true", help="peak memory only, a process each")
    p.add_argument("--memory-of", help=argparse.SUPPRESS)  # one detector, in a child process
    p.add_argument(
        "--unfused-check",
        action="store_true",
        help="only codings' default detector with FusedNAdam and with torch's NAdam, per class",
    )
    p.add_argument("--out", default=str(ROOT / "results" / "peers_pyod_anomaly.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.memory_of:
        print(memory_of(args, args.memory_of))
        return 0
    if args.memory:
        dets = detectors(args, 784)
        result = {"args": vars(args), "peak_mb": memory(args, dets)}
        out = Path(args.out).with_name(Path(args.out).stem + "_memory.json")
        out.write_text(json.dumps(result, indent=1))
        print(f"results: {out}")
        return 0
    if args.unfused_check:  # the same maths, two implementations: the same scores?
        s = args.seed
        dets = {
            "codings (defaults)": (
                lambda: AutoencoderOutlierDetector(random_state=s, device="cpu", threads=1),
                lambda X: lambda d: -d.score_samples(X),
            ),
            "codings (defaults), torch's NAdam": (
                lambda: torch_nadam()(random_state=s, device="cpu", threads=1),
                lambda X: lambda d: -d.score_samples(X),
            ),
            "codings (defaults), torch's NAdam, foreach": (
                lambda: torch_nadam(foreach=True)(random_state=s, device="cpu", threads=1),
                lambda X: lambda d: -d.score_samples(X),
            ),
        }
        suites = [run_suite(args, name, dets) for name in args.suites.split(",") if name]
        for suite in suites:
            print(f"\n{suite['suite']}:\n{table(suite)}")
        out = Path(args.out).with_name(Path(args.out).stem + "_unfused_check.json")
        out.write_text(json.dumps({"args": vars(args), "suites": suites}, indent=1))
        print(f"results: {out}")
        return 0
    dets = detectors(args, 784)
    suites = [run_suite(args, name, dets) for name in args.suites.split(",") if name]
    result = {"args": vars(args), "suites": suites}
    if args.speed_rounds:
        result["speed"] = speed(args, dets)
    for s in suites:
        print(f"\n{s['suite']}:\n{table(s)}")
    if "speed" in result:
        sp = result["speed"]
        print(
            f"\nfit, {sp['images']} images, {sp['epochs']} epochs, batch 32: codings "
            f"{sp['median_s']['codings']:.1f} s, pyod AutoEncoder {sp['median_s']['pyod']:.1f} s "
            f"(median ratio pyod/codings {sp['pyod_over_codings']:.2f}x), codings with Adam "
            f"{sp['median_s']['codings (adam)']:.1f} s ({sp['pyod_over_codings_adam']:.2f}x)"
        )
        print(speed_table(sp))
    import pyod

    result["meta"] = {
        "pyod": pyod.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.platform(),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
