"""Measurements: reconstruction error, codings, and the comparison with PCA."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .arrays import as_tensor
from .progress import as_reporter
from .threads import step_flops, thread_count


@torch.no_grad()
def _batched(
    fn, X, batch_size: int, model: nn.Module, threads=None, progress=False, title: str = ""
) -> np.ndarray:
    flops = step_flops(model, min(batch_size, X.shape[0]), training=False)
    bar = as_reporter(progress)
    if bar is not None:
        bar.begin(title, X.shape[0], "rows", task=True)
    out = []
    with thread_count(threads, flops):
        for i in range(0, X.shape[0], batch_size):
            out.append(fn(X[i : i + batch_size]))
            if bar is not None:
                bar.update(min(i + batch_size, X.shape[0]))
    if bar is not None:
        bar.end()
    return torch.cat(out).numpy()


def encode(
    model: nn.Module, X, *, batch_size: int = 4096, threads=None, progress=False
) -> np.ndarray:
    """Codings of ``X`` as a float32 array (evaluation mode, batched, on the CPU).

    ``threads``: torch's CPU threads during the call (None: :func:`codings.threads.policy`).
    ``progress`` (as in :func:`codings.fit`) shows a bar over the rows.
    """
    model.eval()
    X = as_tensor(X, torch.device("cpu"))
    return _batched(model.encode, X, batch_size, model, threads, progress, "encode")


def encode_to_npy(
    model: nn.Module,
    X,
    path,
    *,
    batch_size: int = 4096,
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
    model.eval()
    n = len(X)
    with torch.no_grad():
        first = model.encode(as_tensor(_prep(X[:1], transform), torch.device("cpu")))
    shape = (n, *first.shape[1:])
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
        bar = as_reporter(progress)
        if bar is not None:
            bar.begin("encode", n, "rows", task=True)
        flops = step_flops(model, min(batch_size, max(n, 1)), training=False)
        with torch.no_grad(), thread_count(threads, flops):
            for i in range(0, n, batch_size):
                xb = as_tensor(_prep(X[i : i + batch_size], transform), torch.device("cpu"))
                out[i : i + batch_size] = model.encode(xb).numpy()
                if bar is not None:
                    bar.update(min(i + batch_size, n))
        if bar is not None:
            bar.end()
        out.flush()
        del out
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return shape


def _prep(X, transform):
    X = np.asarray(X, dtype=np.float32)
    return transform(X) if transform is not None else X


def decode(model: nn.Module, Z, *, batch_size: int = 4096, threads=None) -> np.ndarray:
    model.eval()
    Z = as_tensor(Z, torch.device("cpu"), name="Z")
    return _batched(model.decode, Z, batch_size, model, threads)


def reconstruct(
    model: nn.Module, X, *, batch_size: int = 4096, threads=None, progress=False
) -> np.ndarray:
    model.eval()
    X = as_tensor(X, torch.device("cpu"))
    return _batched(model, X, batch_size, model, threads, progress, "reconstruct")


def reconstruction_errors(model: nn.Module, X, *, batch_size: int = 4096) -> np.ndarray:
    """Per-example mean squared error over features, shape (n,)."""
    X = np.asarray(X, dtype=np.float32)
    R = reconstruct(model, X, batch_size=batch_size)
    return ((R - X.reshape(R.shape)) ** 2).reshape(len(X), -1).mean(axis=1)


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
