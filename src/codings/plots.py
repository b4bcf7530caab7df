"""Figures, written to files (the Agg backend; nothing is ever shown on screen)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from torch import nn


def _plt():
    import sys

    import matplotlib

    # Files only: the Agg backend, unless pyplot is already in use (a notebook's inline
    # backend, say), whose figures switching would silently stop showing.
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    _plt().close(fig)
    return path


def _mosaic(tiles: np.ndarray, ncols: int, fill: float = 0.0) -> np.ndarray:
    """Images (n, h, w) as one (rows*(h+2), ncols*(w+2)) array, each framed by ``fill``.

    One ``imshow`` of a mosaic draws in a fraction of the time of one axes per image.
    """
    tiles = np.asarray(tiles, dtype=np.float64)
    n, h, w = tiles.shape
    nrows = int(np.ceil(n / ncols))
    full = np.full((nrows * ncols, h + 2, w + 2), fill)
    full[:n, 1:-1, 1:-1] = tiles
    return (
        full.reshape(nrows, ncols, h + 2, w + 2)
        .transpose(0, 2, 1, 3)
        .reshape(nrows * (h + 2), ncols * (w + 2))
    )


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
    fig, axes = plt.subplots(len(rows), 1, figsize=(n * 1.0, len(rows) * 1.1), squeeze=False)
    for r, arr in enumerate(rows):
        ax = axes[r][0]
        strip = _mosaic(np.asarray(arr[:n]).reshape(n, *image_shape), ncols=n)  # one row
        ax.imshow(strip, cmap="binary", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        if r < len(labels):
            ax.set_ylabel(labels[r], rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def reconstructions(
    X: np.ndarray, R: np.ndarray, image_shape: tuple[int, int], path: str | Path, n: int = 10
) -> Path:
    """Originals above their reconstructions."""
    return image_rows([X[:n], R[:n]], image_shape, path, labels=["original", "reconstruction"])


def feature_columns(
    X: np.ndarray,
    R: np.ndarray,
    path: str | Path,
    n: int = 8,
    *,
    names: Sequence[str] | None = None,
    max_ticks: int = 12,
) -> Path:
    """For tabular data: each example's features, original vs reconstruction, as bars.

    The features are labelled by ``names`` (e.g. a CSV file's header) where given, else by
    column number; labels are turned upright and, beyond ``max_ticks`` features, only every
    k-th is labelled, so that they never overlap.
    """
    plt = _plt()
    n = min(n, len(X))
    d = X.shape[1]
    if names is not None and len(names) != d:
        raise ValueError(f"feature_columns: {len(names)} names for {d} features")
    labels = [str(s) for s in names] if names is not None else [str(j) for j in range(d)]
    every = int(np.ceil(d / max_ticks))
    width = max(2.0, 0.15 * min(d, max_ticks * 2))  # inches a panel
    ncols = min(n, max(1, int(16 // width)))  # rows of panels at most 16 inches wide
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width * ncols, 3.2 * nrows), squeeze=False, sharey=True
    )
    for ax in axes.flat[n:]:
        ax.set_axis_off()
    idx = np.arange(d)
    for c in range(n):
        ax = axes.flat[c]
        ax.bar(idx - 0.2, X[c], width=0.4, label="original")
        ax.bar(idx + 0.2, R[c], width=0.4, label="reconstruction")
        ax.set_xticks(idx[::every], labels[::every], rotation=90, fontsize=7)
        ax.set_title(f"example {c}", fontsize=9)
    axes[0][0].set_xlabel("feature" if names is None else "")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def training_curves(records: Sequence[dict], path: str | Path) -> Path:
    """Every train_* and val_* loss part per epoch, log scale where all values are positive.

    Records of several stages (layer-wise phases, fine-tuning: a ``stage`` key, as
    :func:`codings.layerwise.flat_history` writes them) are separate runs: each stage is drawn
    as its own line, with a dotted separator and the stage's name above it.
    """
    plt = _plt()
    keys = sorted({k for r in records for k in r if k.startswith(("train_", "val_"))})
    parts = sorted({k.split("_", 1)[1] for k in keys})
    if not parts:  # no epoch was trained (epochs=0): an empty figure that says so
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.text(0.5, 0.5, "no epochs trained", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return _save(fig, path)
    stages = list(dict.fromkeys(r.get("stage") for r in records))
    fig, axes = plt.subplots(1, len(parts), figsize=(4 * len(parts), 3), squeeze=False)
    for ax, part in zip(axes[0], parts, strict=False):
        for split, colour in (("train", "tab:blue"), ("val", "tab:orange")):
            key = f"{split}_{part}"
            label = split  # in the legend once, whatever the number of stages
            for stage in stages:
                pts = [
                    (r["epoch"], r[key]) for r in records if key in r and r.get("stage") == stage
                ]
                if pts:
                    ax.plot(*zip(*pts, strict=False), marker="o", color=colour, label=label)
                    label = None
        vals = [r[k] for r in records for k in (f"train_{part}", f"val_{part}") if k in r]
        if vals and min(vals) > 0:
            ax.set_yscale("log")
        if len(stages) > 1:
            for stage in stages:
                first = min(r["epoch"] for r in records if r.get("stage") == stage)
                if first > records[0]["epoch"]:
                    ax.axvline(first - 0.5, color="0.5", linestyle=":", linewidth=1)
                ax.text(
                    first - 0.5,
                    1.0,
                    f" {stage}",
                    transform=ax.get_xaxis_transform(),
                    va="top",
                    fontsize=8,
                    color="0.3",
                )
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
        if y is None:
            ax.scatter(Z[:, 0], Z[:, 1], s=12)
        else:
            classes = np.unique(y)
            colours = plt.get_cmap("viridis")(np.linspace(0, 1, len(classes)))
            for c, colour in zip(classes, colours, strict=True):
                ax.scatter(*Z[y == c, :2].T, s=12, color=colour, label=str(c))
            ax.legend(title="class", fontsize=8)
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
    fig, ax = plt.subplots(figsize=(ncols * 0.8, nrows * 0.8))
    ax.set_axis_off()
    ax.imshow(_mosaic(X.reshape(len(X), *image_shape), ncols), cmap="binary", vmin=0, vmax=1)
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

    All units share one colour scale, symmetric around 0 (white 0, red positive, blue negative),
    shown by a colour bar, so that strong and weak units can be told apart. Draws the first
    ``n`` units in a square grid.
    """
    plt = _plt()
    W = np.asarray(W)
    n = min(n, len(W))
    side = int(np.ceil(np.sqrt(n)))
    tiles = W[:n].reshape(n, *image_shape)  # row-major, the order the images were flattened
    lim = float(np.abs(tiles).max()) or 1.0
    fig, ax = plt.subplots(figsize=(side * 0.9 + 1.2, side * 0.9))
    ax.set_axis_off()
    cmap = plt.get_cmap("bwr").with_extremes(bad="0.8")  # grey frames (NaN) between units
    im = ax.imshow(_mosaic(tiles, side, fill=np.nan), cmap=cmap, vmin=-lim, vmax=lim)
    fig.colorbar(im, ax=ax, label="weight", shrink=0.8)
    if title:
        ax.set_title(title)
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


def model_figures(model: nn.Module, X, image_shape, out) -> list:
    """Figures of what a model's regularisers do, for image rows ``X`` (written under ``out``).

    The first layer's filters (dense or convolutional); noisy inputs, clean targets and
    reconstructions when the model corrupts its input; the histogram of the codings' mean
    activations when it has a sparsity penalty.
    """
    import math

    import torch
    from torch import nn  # noqa: F811  (the annotation's import is for type checkers only)

    from .metrics import mean_activations, reconstruct
    from .penalties import KLSparsity, L1Sparsity

    out = Path(out)
    paths = []
    encoder = getattr(model, "encoder", None)
    first = (
        next((m for m in encoder.modules() if isinstance(m, (nn.Linear, nn.Conv2d))), None)
        if encoder is not None
        else None
    )
    n_pixels = math.prod(image_shape)
    if isinstance(first, nn.Conv2d) or (
        isinstance(first, nn.Linear) and first.in_features == n_pixels
    ):
        paths.append(filters(model, image_shape, out / "filters.png"))
    noise = getattr(model, "corruption", None)
    X = np.asarray(X, dtype=np.float32)
    if noise is not None:
        gen = torch.Generator().manual_seed(0)
        noisy = noise(torch.from_numpy(X[:10]), generator=gen).numpy()
        R = reconstruct(model, noisy)
        paths.append(denoising(noisy, X[:10], R, image_shape, out / "denoising.png"))
    penalties = list(getattr(model, "penalties", ()))
    sparse = [p for p in penalties if isinstance(p, (KLSparsity, L1Sparsity))]
    if sparse:
        target = getattr(sparse[0], "target", None)
        acts = mean_activations(model, X[:5000])
        paths.append(activation_histogram(acts, target, out / "mean_activations.png"))
    return paths


def window_lines(X: np.ndarray, R: np.ndarray, channels: int, path: str | Path, n: int = 4) -> Path:
    """For windows of a series (flat rows, step-major): each channel over the window's steps,
    the original solid and the reconstruction dashed, one panel per window."""
    plt = _plt()
    n = min(n, len(X))
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 2.6), squeeze=False, sharey=True)
    for i, ax in enumerate(axes[0]):
        x, r = X[i].reshape(-1, channels), R[i].reshape(-1, channels)
        for c in range(channels):
            (line,) = ax.plot(x[:, c], lw=1)
            ax.plot(r[:, c], lw=1, ls="--", color=line.get_color())
        ax.set_title(f"window {i}", fontsize=9)
        ax.set_xlabel("step")
    fig.suptitle("windows (solid) and reconstructions (dashed), one colour per channel", fontsize=9)
    return _save(fig, path)
