"""``codings pca-check``: the linear autoencoder against PCA (Baldi & Hornik 1989)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def pca_check(
    dataset: str = "iris",
    *,
    latent_dim: int = 2,
    epochs: int = 1500,
    seed: int = 0,
    out: Path | None = None,
    data_dir: str | None = None,
    rtol: float = 1e-4,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Train the linear autoencoder on standardised data and compare it with PCA.

    ``dataset`` is a data set's name or a user's .npy, .npz or .csv file. A linear
    autoencoder's best reconstruction is PCA's (Baldi & Hornik 1989), so ``converged`` is
    whether its MSE came within ``rtol`` (relative) of PCA's; until it does, the principal
    angles say little. Training is full-batch Adam at rates 1e-2, 1e-3 and 1e-4, each stage at
    most ``epochs // 3`` epochs and ending early once the loss stops improving. ``log`` gets a
    line as each stage starts and ends.
    """
    from sklearn.decomposition import PCA

    from ..datasets import Scaling, load_dataset, read_user_file
    from ..metrics import align, encode, pca_comparison, reconstruction_errors
    from ..models import build
    from ..plots import projections
    from ..train import fit

    say = log or (lambda text: None)
    if Path(str(dataset)).suffix.lower() in (".npy", ".npz", ".csv"):
        user = read_user_file(dataset)
        if user.note:
            say(f"{dataset}: {user.note}")
        X, y, name = user.X, None, Path(dataset).name
    else:
        ds = load_dataset(dataset, "all", data_dir=data_dir)
        X, y, name = ds.X, ds.y, dataset
    X = Scaling.fit(X).forward(X)
    n, d = X.shape
    if not 1 <= latent_dim < d:
        raise ValueError(f"latent_dim={latent_dim} must be between 1 and {d - 1} for {name}")
    pca = PCA(latent_dim).fit(X)
    pca_mse = float(((pca.inverse_transform(pca.transform(X)) - X) ** 2).mean())
    model = build("linear", n_features=d, latent_dim=latent_dim, seed=seed)
    per_stage = max(1, epochs // 3)
    say(
        f"pca-check: a linear autoencoder {d}-{latent_dim}-{d} on {name} ({n} rows, "
        f"standardised), full-batch Adam at rates 1e-2, 1e-3, 1e-4 (at most {per_stage} epochs "
        f"each), against PCA's MSE {pca_mse:.6f}"
    )
    t0 = time.perf_counter()
    run = 0
    # Full batches (up to 4096 rows) and a falling rate reach the optimum itself, where a fixed
    # rate stalls a little above it (digits, 10 codings: 2e-4 above PCA, angle 3.6 degrees).
    batch = min(n, 4096)
    for lr in (1e-2, 1e-3, 1e-4):
        history = fit(
            model,
            X,
            epochs=per_stage,
            batch_size=batch,
            lr=lr,
            seed=seed,
            device="cpu",
            callbacks=[_stops_improving()],
        )
        run += len(history)
        mse = float(reconstruction_errors(model, X).mean())
        seconds = time.perf_counter() - t0
        say(f"  rate {lr:g}: {len(history)} epochs, MSE {mse:.6f} ({seconds:.1f} s)")
    result = pca_comparison(model, X, latent_dim)
    result["dataset"] = name
    result["epochs"] = run
    result["seconds"] = time.perf_counter() - t0
    result["rtol"] = rtol
    result["converged"] = bool(result["ae_mse"] <= result["pca_mse"] * (1 + rtol))
    # How far apart PCA's k-th and (k+1)-th variances are: when close, the best subspace is
    # nearly not unique and a converged autoencoder may still sit at a wide angle to PCA's.
    var = PCA(latent_dim + 1).fit(X).explained_variance_
    result["eigenvalue_gap"] = float((var[-2] - var[-1]) / var[-2])
    if out is not None and latent_dim >= 2:
        Zp = PCA(n_components=latent_dim).fit_transform(X)
        Za = align(encode(model, X), Zp)  # the autoencoder's codings, mapped onto PCA's axes
        path = projections(
            [("PCA", Zp[:, :2]), ("linear autoencoder (aligned)", Za[:, :2])],
            y if y is not None else np.zeros(n),  # a file has no labels: one colour
            Path(out) / "pca_vs_autoencoder.png",
        )
        result["figure"] = str(path)
    return result


def _stops_improving(window: int = 50, rel: float = 1e-6):
    """A fit callback: stop once the loss has not fallen by ``rel`` (relative) in ``window``
    epochs."""
    best = [float("inf"), 0]

    def callback(epoch: int, record: dict, model) -> bool:
        if record["train_loss"] < best[0] * (1 - rel):
            best[:] = [record["train_loss"], epoch]
        return epoch - best[1] >= window

    return callback
