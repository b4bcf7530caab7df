"""Why the autoencoder's codings lost to PCA's on small tables: the codings' scale and shape.

At one code size per table, on GridSearchCV's five folds (StratifiedKFold(5)), the data
standardised on each training fold: a logistic regression (``max_iter=1000``, C=1) on PCA's
components and on the codings of ``AutoencoderTransformer(random_state=seed, latent_dim=k,
**params)``, as given, standardised, and with a weaker penalty (C=100); and the codings'
standard deviation per dimension on the training rows (PCA's beside). Mean accuracy over folds
and seeds, with its standard error over the 15 fits.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/small_tables_codings.py \\
        --params '{"model_params": {"coding_activation": "elu"}}'      # the ELU codings
    ... --params '{"model_params": {"coding_activation": "linear"}}'    # linear codings
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
from small_tables import load

SIZES = {"iris": 3, "penguins": 3, "wine": 4, "digits-500": 16, "iris2": 2}


def main(argv=None) -> int:
    import torch
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    from codings import AutoencoderTransformer

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sets", default="iris,penguins,wine,digits-500")
    p.add_argument("--params", default="{}", help="AutoencoderTransformer parameters, as JSON")
    p.add_argument("--seeds", default="0,1,2")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    params = json.loads(args.params)
    for name in args.sets.split(","):
        X, y = load(name.removesuffix("2") if name == "iris2" else name)
        k, t0 = SIZES[name], time.perf_counter()
        acc = {"pca": [], "codings": [], "standardised": [], "C=100": []}
        sd, pca_sd = [], []
        for seed in (int(s) for s in args.seeds.split(",")):
            for tr, te in StratifiedKFold(5).split(X, y):
                scaler = StandardScaler().fit(X[tr])
                Xtr, Xte = scaler.transform(X[tr]), scaler.transform(X[te])

                def score(Ztr, Zte, C=1.0, ytr=y[tr], yte=y[te]):
                    return LogisticRegression(max_iter=1000, C=C).fit(Ztr, ytr).score(Zte, yte)

                pca = PCA(k, random_state=0).fit(Xtr)
                Ptr = pca.transform(Xtr)
                acc["pca"].append(score(Ptr, pca.transform(Xte)))
                pca_sd.append(Ptr.std(0))
                ae = AutoencoderTransformer(random_state=seed, device="cpu", latent_dim=k, **params)
                Ztr, Zte = ae.fit(Xtr).transform(Xtr), ae.transform(Xte)
                sd.append(Ztr.std(0))
                acc["codings"].append(score(Ztr, Zte))
                acc["C=100"].append(score(Ztr, Zte, C=100.0))
                s2 = StandardScaler().fit(Ztr)
                acc["standardised"].append(score(s2.transform(Ztr), s2.transform(Zte)))
        cells = " ".join(
            f"{m} {np.mean(v):.3f}+-{np.std(v, ddof=1) / np.sqrt(len(v)):.3f}"
            for m, v in acc.items()
        )
        sds = [np.round(np.mean(v, 0), 2).tolist() for v in (sd, pca_sd)]
        print(
            f"{name} k={k} ({time.perf_counter() - t0:.0f} s): {cells}; codings' sd "
            f"{sds[0]}, PCA's {sds[1]}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
