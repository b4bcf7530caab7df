"""The small-table rule in AutoencoderClassifier: linear codings against ELU ones.

``StandardScaler -> AutoencoderClassifier(mode=..., latent_dim=k, random_state=seed)`` at its
defaults, with ``model_params={"coding_activation": "elu"}`` (the codings before the rule) and
without (the rule: linear codings), ``cross_val_score`` on five stratified folds, seeds 0 and 1:

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/small_tables_classifier.py
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from small_tables import load


def main() -> int:
    import torch
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from codings import AutoencoderClassifier

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    for name, k in (("iris", 3), ("wine", 4)):
        X, y = load(name)
        for mode in ("frozen", "finetune"):
            for label, extra in (("elu", {"coding_activation": "elu"}), ("rule", None)):
                t0, acc = time.perf_counter(), []
                for seed in (0, 1):
                    clf = AutoencoderClassifier(
                        mode=mode, latent_dim=k, model_params=extra, random_state=seed, device="cpu"
                    )
                    pipe = make_pipeline(StandardScaler(), clf)
                    acc.append(cross_val_score(pipe, X, y, cv=5).mean())
                print(
                    f"{name} {k} {mode} {label} {np.mean(acc):.3f} "
                    f"(seeds {acc[0]:.3f} {acc[1]:.3f}) {time.perf_counter() - t0:.0f}s",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
