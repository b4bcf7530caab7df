"""Exported graphs against codings, on MNIST's 10,000 test images: differences and speed.

For every registered family (its builder's defaults, 784 inputs), each exportable part is
written to ONNX and run with onnxruntime; the table gives the largest absolute difference from
codings' own output. Then the time to encode the 10,000 test images with the default stacked
encoder: onnxruntime against codings.metrics.encode, in interleaved rounds (medians).

    CODINGS_DATA_DIR=../shared/data python benchmarks/export_check.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from codings import MODELS, build
from codings.datasets import load_dataset
from codings.exporting import export, parts_of
from codings.metrics import decode, encode, reconstruct

ARGS = {"classifier": {"hidden": [100]}}  # others: the builder's defaults


def codings_output(model, part: str, x: np.ndarray) -> np.ndarray:
    if part == "encoder":
        return encode(model, x)
    if part == "decoder":
        return decode(model, x).reshape(len(x), -1)
    if part == "classifier":
        with torch.no_grad():
            return torch.softmax(model.eval()(torch.from_numpy(x)), 1).numpy()
    r = reconstruct(model, x).reshape(len(x), -1)
    return ((r - x) ** 2).mean(1) if part == "score" else r


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--data-dir")
    args = p.parse_args()
    X = load_dataset("mnist", "test", data_dir=args.data_dir).X.astype(np.float32)
    tmp = Path(tempfile.mkdtemp())
    print(f"{'family':12s} {'part':12s} {'max |onnx - codings|':>22s}")
    for name in sorted(MODELS):
        model = build(name, n_features=X.shape[1], seed=0, **ARGS.get(name, {}))
        for part, why in parts_of(model).items():
            if why is not None:
                continue
            x = X
            if part == "decoder":
                k = encode(model, X[:1]).shape[1]
                x = np.random.default_rng(0).standard_normal((len(X), k)).astype(np.float32)
            path = export(model, tmp / f"{name}-{part}.onnx", part=part)
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            got = session.run(None, {"x": x})[0]
            diff = float(np.abs(got - codings_output(model, part, x)).max())
            print(f"{name:12s} {part:12s} {diff:22.2e}")
    model = build("stacked", n_features=X.shape[1], seed=0)
    session = ort.InferenceSession(
        str(export(model, tmp / "enc.onnx")), providers=["CPUExecutionProvider"]
    )
    times = {"onnxruntime": [], "codings.metrics.encode": []}
    for _ in range(args.rounds):
        t = time.perf_counter()
        session.run(None, {"x": X})
        times["onnxruntime"].append(time.perf_counter() - t)
        t = time.perf_counter()
        encode(model, X)
        times["codings.metrics.encode"].append(time.perf_counter() - t)
    print(
        f"\nencode the {len(X)} MNIST test images (stacked 784-300-150, medians of {args.rounds}):"
    )
    for k, v in times.items():
        print(f"  {k:24s} {1000 * statistics.median(v):8.1f} ms")


if __name__ == "__main__":
    main()
