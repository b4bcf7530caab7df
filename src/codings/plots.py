"""Figures, written to files (the Agg backend; nothing is ever shown on screen)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    _plt().close(fig)
    return path


def image_rows(
    rows: Sequence[np.ndarray],
    image_shape: tuple[int, int],
    path: str | Path,
    *,
    labels: Sequence[str] = (),
    title: str | None = None,
) -> Path:
    """One row of images per array (each (n, h*w)), e.g. originals above reconstructions."""
    plt = _plt()
    n = len(rows[0])
    fig, axes = plt.subplots(len(rows), n, figsize=(n * 1.0, len(rows) * 1.1), squeeze=False)
    for r, arr in enumerate(rows):
        for c in range(n):
            ax = axes[r][c]
            ax.imshow(np.asarray(arr[c]).reshape(image_shape), cmap="binary", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        if r < len(labels):
            axes[r][0].set_ylabel(labels[r], rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def reconstructions(
    X: np.ndarray, R: np.ndarray, image_shape: tuple[int, int], path: str | Path, n: int = 10
) -> Path:
    """Originals above their reconstructions."""
    return image_rows([X[:n], R[:n]], image_shape, path, labels=["original", "reconstruction"])


def feature_columns(X: np.ndarray, R: np.ndarray, path: str | Path, n: int = 8) -> Path:
    """For tabular data: each example's features, original vs reconstruction, as bars."""
    plt = _plt()
    n = min(n, len(X))
    fig, axes = plt.subplots(1, n, figsize=(2.0 * n, 2.2), squeeze=False, sharey=True)
    idx = np.arange(X.shape[1])
    for c in range(n):
        ax = axes[0][c]
        ax.bar(idx - 0.2, X[c], width=0.4, label="original")
        ax.bar(idx + 0.2, R[c], width=0.4, label="reconstruction")
        ax.set_xticks(idx)
    axes[0][0].legend(fontsize=7)
    return _save(fig, path)


def training_curves(records: Sequence[dict], path: str | Path) -> Path:
    """Every train_* and val_* loss part per epoch, log scale where all values are positive."""
    plt = _plt()
    keys = sorted({k for r in records for k in r if k.startswith(("train_", "val_"))})
    parts = sorted({k.split("_", 1)[1] for k in keys})
    fig, axes = plt.subplots(1, len(parts), figsize=(4 * len(parts), 3), squeeze=False)
    for ax, part in zip(axes[0], parts, strict=False):
        for split in ("train", "val"):
            key = f"{split}_{part}"
            pts = [(r["epoch"], r[key]) for r in records if key in r]
            if pts:
                ax.plot(*zip(*pts, strict=False), marker="o", label=split)
        vals = [r[k] for r in records for k in (f"train_{part}", f"val_{part}") if k in r]
        if vals and min(vals) > 0:
            ax.set_yscale("log")
        ax.set_title(part)
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    return _save(fig, path)


def projections(
    panels: Sequence[tuple[str, np.ndarray]], y: np.ndarray | None, path: str | Path
) -> Path:
    """Side-by-side 2-D scatters coloured by label (e.g. PCA's and the autoencoder's)."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4), squeeze=False)
    for ax, (title, Z) in zip(axes[0], panels, strict=False):
        ax.scatter(Z[:, 0], Z[:, 1], c=y, s=12, cmap="viridis")
        ax.set_title(title)
        ax.set_xlabel("1st coding")
        ax.set_ylabel("2nd coding")
    fig.tight_layout()
    return _save(fig, path)


def image_grid(
    X: np.ndarray,
    image_shape: tuple[int, int],
    path: str | Path,
    *,
    ncols: int | None = None,
    title: str | None = None,
) -> Path:
    """Images (n, h*w) with values in [0, 1] in a square-ish grid, e.g. samples from a model."""
    plt = _plt()
    X = np.asarray(X)
    ncols = ncols or int(np.ceil(np.sqrt(len(X))))
    nrows = int(np.ceil(len(X) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 0.8, nrows * 0.8), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < len(X):
            ax.imshow(X[i].reshape(image_shape), cmap="binary", vmin=0, vmax=1)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def latent_scatter(
    Z: np.ndarray,
    y: np.ndarray | None,
    path: str | Path,
    *,
    grid: np.ndarray | None = None,
    image_shape: tuple[int, int] | None = None,
    extent: float | None = None,
    title: str | None = None,
) -> Path:
    """Codings coloured by label; more than 2 codings are drawn on their first two principal
    axes. With ``grid`` ((n*n, h*w) images decoded over the square ``[-extent, extent]^2``, rows
    from top to bottom) a second panel shows the decoded latent plane on the same axes."""
    plt = _plt()
    Z = np.asarray(Z, dtype=np.float64)
    xlabel, ylabel = "1st coding", "2nd coding"
    if Z.shape[1] > 2:
        Zc = Z - Z.mean(0)
        _, _, vt = np.linalg.svd(Zc, full_matrices=False)
        Z = Zc @ vt[:2].T
        xlabel, ylabel = "1st principal axis of the codings", "2nd principal axis"
    elif Z.shape[1] == 1:
        Z = np.hstack([Z, np.zeros_like(Z)])
    panels = 1 if grid is None else 2
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4.6), squeeze=False)
    ax = axes[0][0]
    sc = ax.scatter(Z[:, 0], Z[:, 1], c=y, s=4, cmap="tab10", alpha=0.7)
    if y is not None:
        fig.colorbar(sc, ax=ax, label="label")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title or "codings")
    if grid is not None:
        if image_shape is None or extent is None:
            raise ValueError("latent_scatter: a grid needs image_shape and extent")
        n = int(round(np.sqrt(len(grid))))
        h, w = image_shape
        tiles = np.pad(np.asarray(grid).reshape(n, n, h, w), ((0, 0), (0, 0), (1, 1), (1, 1)))
        mosaic = tiles.transpose(0, 2, 1, 3).reshape(n * (h + 2), n * (w + 2))  # white gaps
        ax2 = axes[0][1]
        ax2.imshow(mosaic, cmap="binary", vmin=0, vmax=1, extent=(-extent, extent, -extent, extent))
        ax2.set_title("decoded over the latent plane")
        ax2.set_xlabel("1st coding")
        ax2.set_ylabel("2nd coding")
    fig.tight_layout()
    return _save(fig, path)


def feature_images(
    W: np.ndarray,
    image_shape: tuple[int, int],
    path: str | Path,
    *,
    n: int = 64,
    title: str | None = "first-layer features",
) -> Path:
    """What first-layer units respond to: row ``i`` of ``W`` (units, pixels) as an image.

    Each unit gets its own symmetric colour scale (white 0, red positive, blue negative), since
    only the pattern matters, not the scale. Draws the first ``n`` units in a square grid.
    """
    plt = _plt()
    W = np.asarray(W)
    n = min(n, len(W))
    side = int(np.ceil(np.sqrt(n)))
    fig, axes = plt.subplots(side, side, figsize=(side * 0.9, side * 0.9), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < n:
            img = W[i].reshape(image_shape)  # row-major, the same order the images were flattened
            lim = float(np.abs(img).max()) or 1.0
            ax.imshow(img, cmap="bwr", vmin=-lim, vmax=lim)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def layerwise_reconstructions(
    rows: Sequence[np.ndarray],
    labels: Sequence[str],
    image_shape: tuple[int, int],
    path: str | Path,
) -> Path:
    """Originals, then the reconstruction after each phase of layer-wise training, in rows."""
    return image_rows(rows, image_shape, path, labels=list(labels))


def filters(model, image_shape: tuple[int, ...], path: str | Path, *, n: int = 64) -> Path:
    """The first layer's filters as images: a dense layer's weight rows, or conv kernels.

    For a dense first layer each unit's weights are shown in the shape of the input images
    (``image_shape``, (H, W) or (C, H, W): the first channel is shown); for a convolutional one,
    each kernel's first input channel.
    """
    from torch import nn

    first = next(
        (m for m in model.encoder.modules() if isinstance(m, (nn.Linear, nn.Conv2d))), None
    )
    if first is None:
        raise ValueError("filters: the encoder has no Linear or Conv2d layer to draw")
    W = first.weight.detach().cpu().numpy()
    if isinstance(first, nn.Conv2d):
        return feature_images(W[:, 0], W.shape[2:], path, n=n, title="first-layer kernels")
    shape = tuple(image_shape)[-2:]
    W = W.reshape(len(W), -1, *shape)[:, 0]  # (units, C*H*W) -> first channel (units, H, W)
    return feature_images(W, shape, path, n=n)


def denoising(
    noisy: np.ndarray,
    clean: np.ndarray,
    R: np.ndarray,
    image_shape: tuple[int, ...],
    path: str | Path,
    n: int = 10,
) -> Path:
    """Corrupted inputs, the clean targets and the reconstructions from the corrupted inputs."""
    shape = tuple(image_shape)[-2:]
    rows = [np.clip(noisy[:n], 0, 1), clean[:n], R[:n]]
    return image_rows(rows, shape, path, labels=["noisy input", "clean target", "reconstruction"])


def activation_histogram(
    mean_activations: np.ndarray, target: float | None, path: str | Path
) -> Path:
    """Histogram of each coding unit's mean activation, with the sparsity target marked."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.hist(np.asarray(mean_activations), bins=40, color="tab:blue", alpha=0.8)
    if target is not None:
        ax.axvline(target, color="tab:red", linestyle="--", label=f"target {target:g}")
        ax.legend()
    ax.set_xlabel("mean activation of a coding unit")
    ax.set_ylabel("units")
    fig.tight_layout()
    return _save(fig, path)
