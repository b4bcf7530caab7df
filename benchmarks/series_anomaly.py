"""Time-series anomaly detection on the series that ship inside aeon: codings' detectors on
windows (recurrent, conv1d and the dense stacked autoencoder) beside PCA on windows,
IsolationForest on windows and a moving z-score, in one run.

Protocol. Every detector sees the same windows (``--window`` steps, stride 1, each channel
standardised on the training part) and gives one score per time step, higher = more anomalous:
the window-based ones spread their per-window scores to the steps as
``codings.datasets.unwindow`` does (the mean over the windows covering a step; the
autoencoders through ``score_steps``, each step's own reconstruction error); the moving
z-score is per step already. Metrics are point-wise over the steps after the training part:
ROC AUC and the best F1 over all thresholds.

- KDD-TSAD_135 (UCR anomaly archive, InternalBleeding16, one channel, 7,501 steps): train on
  the archive's normal start (its first 1,200 steps, aeon's TRAIN file), score the whole series;
  the labelled anomaly is steps 4187-4198.
- Daphnet_S06R02E0 (9 acceleration channels, 7,040 steps): aeon's excerpt holds no labelled
  anomaly (every label is 0), so anomalies are injected into its second half with a fixed seed
  (a level shift, a stuck sensor, a noise burst, an amplitude change and a spike, on one
  channel each; see ``inject``), and the detectors train on the first half. These are
  synthetic anomalies on real signals: they say which detector sees such changes, not how it
  does on freezing-of-gait episodes.

    python benchmarks/series_anomaly.py                # the table in BENCHMARKS.md
    python benchmarks/series_anomaly.py --quick        # a smoke run: 3 epochs, small windows

The autoencoders train for ``--epochs`` epochs (the same for each), and ``conv1d`` and
``stacked`` once more at the estimator's defaults (``epochs=None``: until the validation loss
stops improving); every other setting is the estimator's default (window scaling, 30 codings or
fewer, NAdam, batch 32).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import precision_recall_curve, roc_auc_score

from codings import AutoencoderOutlierDetector, CodingsWarning
from codings.datasets import load_series, unwindow, windows

ROOT = Path(__file__).resolve().parent
# NAME: --epochs epochs; NAME:auto: the estimator's default stopping rule (epochs=None)
MODELS = ("recurrent", "conv1d", "stacked", "conv1d:auto", "stacked:auto")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--series", default="KDD-TSAD_135,Daphnet_S06R02E0")
    p.add_argument(
        "--models", default=",".join(MODELS), help="codings models to run (NAME or NAME:auto)"
    )
    p.add_argument("--window", type=int, default=64)
    p.add_argument("--epochs", type=int, default=20, help="epochs of every autoencoder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="3 epochs, windows of 32")
    p.add_argument("--out", default=str(ROOT / "results" / "series_anomaly.json"))
    return p.parse_args(argv)


KINDS = ("level shift", "stuck sensor", "noise burst", "amplitude x3", "spike")


def injected_segments(n_steps: int, start: int) -> list[tuple[str, slice]]:
    """Where :func:`inject` puts each kind of anomaly in a series of ``n_steps`` steps."""
    slots = np.linspace(start + 200, n_steps - 300, len(KINDS)).astype(int)
    return [
        (kind, slice(int(t0), int(t0) + (1 if kind == "spike" else 100)))
        for kind, t0 in zip(KINDS, slots, strict=True)
    ]


def inject(X: np.ndarray, start: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Five anomalies in X[start:], each on one channel, in units of that channel's standard
    deviation; returns the changed copy and the labels (1 on the changed steps)."""
    rng = np.random.default_rng(seed)
    X = X.copy()
    y = np.zeros(len(X), dtype=np.int8)
    std = X[:start].std(0)
    for kind, seg in injected_segments(len(X), start):
        c = int(rng.integers(X.shape[1]))
        t0, n = seg.start, seg.stop - seg.start
        if kind == "level shift":
            X[seg, c] += 3 * std[c]
        elif kind == "stuck sensor":
            X[seg, c] = X[t0, c]
        elif kind == "noise burst":
            X[seg, c] += 2 * std[c] * rng.normal(size=n)
        elif kind == "amplitude x3":
            mean = X[:start, c].mean()
            X[seg, c] = mean + 3 * (X[seg, c] - mean)
        else:
            X[seg, c] += 8 * std[c]
        y[seg] = 1
    return X, y


def load(name: str, seed: int) -> tuple[np.ndarray, np.ndarray, int, str]:
    """The whole series, its labels, where the training part ends, and how they were made."""
    X, y = load_series(name)
    if name == "KDD-TSAD_135":
        return X, y, len(load_series(name, "train")[0]), "labelled anomaly (archive)"
    start = len(X) // 2
    X, y = inject(X, start, seed)
    return X, y, start, "5 injected anomalies (aeon's excerpt has no labels)"


def best_f1(y: np.ndarray, score: np.ndarray) -> float:
    precision, recall, _ = precision_recall_curve(y, score)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(f1.max())


def moving_zscore(X: np.ndarray, window: int) -> np.ndarray:
    """|x_t - mean of the previous ``window`` steps| / their standard deviation, the largest
    over the channels (the first ``window`` steps use the steps they have)."""
    X = X.astype(np.float64)
    csum = np.vstack([np.zeros((1, X.shape[1])), np.cumsum(X, 0)])
    csq = np.vstack([np.zeros((1, X.shape[1])), np.cumsum(X**2, 0)])
    t = np.arange(len(X))
    lo = np.maximum(t - window, 0)
    n = np.maximum(t - lo, 1)[:, None]
    mean = (csum[t] - csum[lo]) / n
    var = np.maximum((csq[t] - csq[lo]) / n - mean**2, 0)
    z = np.abs(X - mean) / np.sqrt(var + 1e-12)
    z[0] = 0
    return z.max(1)


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run_series(name: str, args: argparse.Namespace, save=lambda part: None) -> dict:
    X, y, start, how = load(name, args.seed)
    L = args.window
    train = X[:start]
    W_train, scaling = windows(train, L)  # (n, L, C), each channel standardised on train
    W_all, _ = windows(X, L, scaling=scaling)
    flat_train, flat_all = W_train.reshape(len(W_train), -1), W_all.reshape(len(W_all), -1)
    test = slice(start, None)
    rows = {}
    part = {
        "steps": len(X),
        "channels": X.shape[1],
        "train_steps": start,
        "anomalous_test_steps": int(y[test].sum()),
        "labels": how,
        "detectors": rows,
    }

    def record(label, score, fit_s, score_s, extra=None):
        s = np.asarray(score, dtype=np.float64)[test]
        rows[label] = {
            "roc_auc": float(roc_auc_score(y[test], s)),
            "best_f1": best_f1(y[test], s),
            "fit_s": fit_s,
            "score_s": score_s,
            **(extra or {}),
        }
        print(
            f"  {label:28s} {rows[label]['roc_auc']:.3f} {rows[label]['best_f1']:.3f}", flush=True
        )
        save(part)  # after each detector: a run cut short keeps what it measured

    k = min(30, flat_train.shape[1] // 2)  # the autoencoders' default code size
    pca, fit_s = timed(lambda: PCA(k, random_state=args.seed).fit(flat_train))

    def pca_steps():
        R = pca.inverse_transform(pca.transform(flat_all))
        err = ((R - flat_all) ** 2).reshape(W_all.shape).mean(2)  # (n, L): per window step
        return unwindow(err, len(X), L)

    steps, score_s = timed(pca_steps)
    record(f"PCA on windows ({k} comp.)", steps, fit_s, score_s)
    forest, fit_s = timed(lambda: IsolationForest(random_state=args.seed).fit(flat_train))
    steps, score_s = timed(lambda: unwindow(-forest.score_samples(flat_all), len(X), L))
    record("IsolationForest on windows", steps, fit_s, score_s)
    steps, score_s = timed(lambda: moving_zscore(X, L))
    record(f"moving z-score ({L} steps)", steps, 0.0, score_s)
    for spec in args.models.split(","):
        model, _, auto = spec.partition(":")
        epochs = None if auto == "auto" else args.epochs
        det = AutoencoderOutlierDetector(
            model, window=L, epochs=epochs, random_state=args.seed, device="cpu"
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CodingsWarning)
            _, fit_s = timed(lambda det=det: det.fit(train))
        steps, score_s = timed(lambda det=det: -det.score_steps(X))
        notes = [str(w.message)[:120] for w in caught if issubclass(w.category, CodingsWarning)]
        label = f"codings {model}, " + (
            f"{len(det.history_)} epochs (auto)" if auto else f"{epochs} epochs"
        )
        record(label, steps, fit_s, score_s, {"warnings": notes, "epochs": len(det.history_)})
    return part


def table(result: dict) -> str:
    lines = []
    for name, r in result["series"].items():
        lines.append(
            f"\n{name}: {r['steps']} steps x {r['channels']} channels, trained on the first "
            f"{r['train_steps']}, {r['anomalous_test_steps']} anomalous test steps ({r['labels']})"
        )
        lines.append("| detector | ROC AUC | best F1 | fit (s) | score (s) |")
        lines.append("|---|---:|---:|---:|---:|")
        for label, d in r["detectors"].items():
            lines.append(
                f"| {label} | {d['roc_auc']:.3f} | {d['best_f1']:.3f} | {d['fit_s']:.1f} | "
                f"{d['score_s']:.2f} |"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.quick:
        args.epochs, args.window = 3, 32
    torch.set_num_threads(1)
    result = {"args": vars(args), "series": {}}
    out = Path(args.out)
    if args.quick:
        out = out.with_name(out.stem + "_quick.json")
    out.parent.mkdir(parents=True, exist_ok=True)

    def save(name, part):
        result["series"][name] = part
        result["machine"] = {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "load_average": os.getloadavg(),
        }
        out.write_text(json.dumps(result, indent=2))

    for name in args.series.split(","):
        print(name, flush=True)
        run_series(name, args, save=lambda part, name=name: save(name, part))
    print(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
