"""Measurements: reconstruction error, codings, and the comparison with PCA."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .inference import batched


def encode(
    model: nn.Module, X, *, batch_size: int | None = None, threads=None, progress=False
) -> np.ndarray:
    """Codings of ``X`` as an array on the CPU, in the model's dtype (float32 unless the model
    is float64), computed on the model's device by :func:`codings.inference.batched`.

    ``batch_size``: rows per batch (None: :func:`codings.inference.rows_per_batch`'s rule).
    ``threads``: torch's CPU threads during the call (None: :func:`codings.threads.policy`).
    ``progress`` (as in :func:`codings.fit`) shows a bar over the rows.
    """
    return batched(
        model.encode,
        X,
        model=model,
        batch_size=batch_size,
        threads=threads,
        progress=progress,
        title="encode",
    )


def encode_to_npy(
    model: nn.Module,
    X,
    path,
    *,
    batch_size: int | None = None,
    transform=None,
    threads=None,
    progress=False,
) -> tuple:
    """Encode the rows of ``X`` (e.g. a memory map) straight into the ``.npy`` file ``path``.

    Neither the input nor the codings are ever held whole in memory; the file appears
    atomically (written under a temporary name, then renamed). Returns the output shape.
    ``threads`` and ``progress`` as in :func:`encode`.
    """
    import os
    import tempfile
    from pathlib import Path

    from .checkpoint import new_file_mode

    if np.iscomplexobj(X):  # converting a chunk to float32 would drop the imaginary part
        from .arrays import complex_message

        raise ValueError(complex_message("X", X.dtype))
    path = Path(path)
    n = len(X)
    first = batched(model.encode, X[:1], model=model, prepare=transform)
    shape = (n, *first.shape[1:])
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
        batched(
            model.encode,
            X,
            model=model,
            batch_size=batch_size,
            prepare=transform,
            threads=threads,
            progress=progress,
            title="encode",
            out=out,
        )
        out.flush()
        del out
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return shape


def decode(model: nn.Module, Z, *, batch_size: int | None = None, threads=None) -> np.ndarray:
    """Data-space outputs of the codings ``Z``, as :func:`encode` computes codings."""
    return batched(model.decode, Z, model=model, batch_size=batch_size, threads=threads, name="Z")


def reconstruct(
    model: nn.Module, X, *, batch_size: int | None = None, threads=None, progress=False
) -> np.ndarray:
    """``model(X)``, as :func:`encode` computes codings."""
    return batched(
        model, X, batch_size=batch_size, threads=threads, progress=progress, title="reconstruct"
    )


def reconstruction_errors(model: nn.Module, X, *, batch_size: int | None = None) -> np.ndarray:
    """Per-example mean squared error over features, shape (n,), computed batch by batch (a
    memory map is read in batches, never whole)."""

    def errors(xb):  # (B, ...) -> (B,)
        r = model(xb)
        d = (r - xb.reshape(r.shape)).cpu().numpy()
        # NumPy's row means, as this function always took them (torch's differ in the last bit)
        return torch.from_numpy((d**2).reshape(len(d), -1).mean(axis=1))

    return batched(errors, X, model=model, batch_size=batch_size)


def principal_angles(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Principal angles (degrees, ascending) between the column spaces of A and B (d, k)."""
    qa, _ = np.linalg.qr(np.asarray(A, dtype=np.float64))
    qb, _ = np.linalg.qr(np.asarray(B, dtype=np.float64))
    s = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return np.degrees(np.arccos(np.clip(s, -1.0, 1.0)))  # s descends, so angles ascend


def align(Z: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Affine map of codings ``Z`` onto ``target`` by least squares (to draw both side by side)."""
    Z1 = np.hstack([Z, np.ones((len(Z), 1))])
    coef, *_ = np.linalg.lstsq(Z1, target, rcond=None)
    return Z1 @ coef


def pca_comparison(model: nn.Module, X: np.ndarray, latent_dim: int) -> dict:
    """Compare a trained linear autoencoder with scikit-learn's PCA on the same data.

    Returns both reconstruction MSEs and their ratio, the variance each explains, and the
    principal angles between the decoder's column space and PCA's components.
    """
    from sklearn.decomposition import PCA

    X = np.asarray(X, dtype=np.float32)
    pca = PCA(n_components=latent_dim).fit(X)
    pca_rec = pca.inverse_transform(pca.transform(X))
    pca_mse = float(((pca_rec - X) ** 2).mean())
    ae_mse = float(reconstruction_errors(model, X).mean())
    total_var = float(((X - X.mean(0)) ** 2).sum())
    decoder_weight = _decoder_matrix(model)  # (d, k): the span of every reconstruction
    angles = principal_angles(decoder_weight, pca.components_.T)
    return {
        "latent_dim": latent_dim,
        "ae_mse": ae_mse,
        "pca_mse": pca_mse,
        "mse_ratio": ae_mse / pca_mse,
        "ae_explained_variance": 1.0 - ae_mse * X.size / total_var,
        "pca_explained_variance": float(pca.explained_variance_ratio_.sum()),
        "max_principal_angle_deg": float(angles.max()),
        "principal_angles_deg": [float(a) for a in angles],
    }


def _decoder_matrix(model: nn.Module) -> np.ndarray:
    linears = [m for m in model.decoder.modules() if isinstance(m, nn.Linear)]
    if len(linears) != 1:
        raise ValueError("the PCA comparison needs a model with a single linear decoder layer")
    return linears[0].weight.detach().cpu().numpy().astype(np.float64)


def linear_probe(
    Z_train, y_train, Z_test, y_test, *, C: float = 1.0, max_iter: int = 1000
) -> float:
    """Test accuracy of a logistic regression on frozen codings (standardised first).

    A linear probe measures how linearly separable the classes are in the codings, the usual
    yardstick for unsupervised features.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    clf.fit(np.asarray(Z_train), np.asarray(y_train))
    return float(clf.score(np.asarray(Z_test), np.asarray(y_test)))


# --- what the regularisers do ----------------------------------------------------------------


def denoising_error(
    model: nn.Module, X, *, noise: str = "gaussian", noise_level: float = 0.3, seed: int = 0
) -> float:
    """Per-pixel MSE between the reconstructions of corrupted ``X`` and ``X`` itself."""
    from .noise import corruption

    X = np.asarray(X, dtype=np.float32)
    gen = torch.Generator().manual_seed(seed)
    noisy = corruption(noise, noise_level)(torch.from_numpy(X), generator=gen).numpy()
    return float(((reconstruct(model, noisy) - X) ** 2).mean())


def mean_activations(model: nn.Module, X):
    """Each coding unit's mean activation over ``X`` (evaluation mode), shape (K,)."""
    return encode(model, X).mean(0)


def target_gap(model: nn.Module, X, target: float) -> float:
    """Mean over coding units of ``|mean activation - target| / target``."""
    return float((abs(mean_activations(model, X) - target) / target).mean())
