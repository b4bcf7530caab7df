"""Exported models: one graph a service runs with onnxruntime (or TorchScript) alone.

:func:`export` writes one *part* of a trained model as a file:

* ``encoder``: data -> codings (a variational model gives the mean of q(z|x));
* ``decoder``: codings -> data;
* ``autoencoder``: data -> reconstruction;
* ``score``: data -> the outlier score, each row's mean squared reconstruction error over its
  (scaled) features: higher is more unusual. It ranks rows as
  :meth:`~codings.AutoencoderOutlierDetector.score_samples` does (that is its negative);
* ``classifier`` (classifier models only): data -> class probabilities.

The batch axis is dynamic. A run's data scaling is folded into the graph (inputs in the data's
own units, outputs too), so a service needs no codings and no NumPy pre-processing. Training-only
parts (input corruption, dynamic binarisation, sampling of a variational bottleneck) are not in
the graph: an exported model is the model in evaluation mode. Drawing new data is not a part: it
is random by nature; export the ``decoder`` and give it draws from the prior (for ``vae`` and
``aae`` with a Gaussian prior, standard normal codings).
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .errors import suggest

__all__ = ["FORMATS", "PARTS", "export", "parts_of"]

PARTS = ("encoder", "decoder", "autoencoder", "score", "classifier")
FORMATS = ("onnx", "torchscript")


def _is_classifier(model: nn.Module) -> bool:
    return hasattr(model, "head") and hasattr(model, "n_classes")


def parts_of(model: nn.Module) -> dict[str, str | None]:
    """Each part's name -> None if ``model`` can export it, else why it cannot."""
    if _is_classifier(model):
        why = "a classifier has no decoder: export its encoder or the classifier"
        return {
            "encoder": None,
            "decoder": why,
            "autoencoder": why,
            "score": why,
            "classifier": None,
        }
    no = "only classifier models (codings classify) have a classifier part"
    score = None
    if getattr(model, "output", None) == "table":  # rows of codes and flags: no MSE to score
        score = "a table model scores by each cell's loss (codings.tables.column_errors)"
    return {"encoder": None, "decoder": None, "autoencoder": None, "score": score, "classifier": no}


class _Part(nn.Module):
    """One part of a model with the data scaling folded in: (B, D) float32 in, (B, ...) out."""

    def __init__(self, model: nn.Module, part: str, mean: np.ndarray | None, scale):
        super().__init__()
        self.model = model
        self.part = part
        d = _n_features(model)
        mean = np.zeros(d, np.float32) if mean is None else np.asarray(mean, np.float32)
        scale = np.ones(d, np.float32) if scale is None else np.asarray(scale, np.float32)
        self.register_buffer("mean", torch.from_numpy(mean.reshape(1, -1).copy()))
        self.register_buffer("scale", torch.from_numpy(scale.reshape(1, -1).copy()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.part == "decoder":
            return self.model.decode(x).reshape(x.shape[0], -1) * self.scale + self.mean
        xs = (x - self.mean) / self.scale
        if self.part == "encoder":
            return self.model.encode(xs)
        if self.part == "classifier":
            return torch.softmax(self.model(xs), dim=1)
        r = self.model(xs).reshape(x.shape[0], -1)
        if self.part == "score":
            return (r - xs).square().mean(dim=1)
        return r * self.scale + self.mean  # autoencoder


def _n_features(model: nn.Module) -> int:
    config = getattr(model, "config", None) or {}
    d = config.get("kwargs", {}).get("n_features") or getattr(model, "n_features", None)
    if not d:
        raise ValueError(
            "the model must come from codings.build() or codings.load() (its config names "
            "n_features, the width of the graph's input)"
        )
    return int(d)


def _n_codings(model: nn.Module, d: int) -> int:
    with torch.no_grad():
        return int(model.encode(torch.zeros(1, d)).shape[1])


def _unwrap(model, scaling):
    """A fitted estimator -> its model and scaling; a model -> itself and ``scaling``."""
    if not isinstance(model, nn.Module):
        fitted = getattr(model, "model_", None) or getattr(model, "classifier_", None)
        if fitted is None:
            raise TypeError(
                f"export takes a codings model or a fitted codings estimator; got "
                f"{type(model).__name__} (fit the estimator first)"
            )
        return fitted, scaling if scaling is not None else getattr(model, "scaling_", None)
    return model, scaling


def export(
    model,
    path: str | Path,
    *,
    part: str = "encoder",
    format: str = "onnx",
    scaling=None,
    opset: int = 18,
) -> Path:
    """Write ``part`` of ``model`` (a codings model, or a fitted estimator) to ``path``.

    ``scaling`` (a :class:`codings.datasets.Scaling`; an estimator's own by default) is folded
    into the graph: inputs and outputs are in the data's units. ``format="onnx"`` writes an ONNX
    graph (opset ``opset``) with input ``x`` and output ``y``, batch axis dynamic; needs the
    ``onnx`` extra (``pip install codings[onnx]``). ``format="torchscript"`` writes a TorchScript
    module for ``torch.jit.load``. The file is written atomically.
    """
    if format not in FORMATS:
        raise ValueError(f"format={format!r}: choose one of {', '.join(FORMATS)}")
    if part not in PARTS:
        raise ValueError(f"part={part!r}: choose one of {', '.join(PARTS)}" + suggest(part, PARTS))
    model, scaling = _unwrap(model, scaling)
    why = parts_of(model)[part]
    if why is not None:
        raise ValueError(f"cannot export part={part!r} of this model: {why}")
    d = _n_features(model)
    mean = getattr(scaling, "mean", None)
    scale = getattr(scaling, "scale", None)
    wrapped = _Part(_cpu_copy(model), part, mean, scale).eval()
    n_in = _n_codings(wrapped.model, d) if part == "decoder" else d
    example = torch.zeros(2, n_in)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if format == "onnx":
            _onnx(wrapped, example, tmp, opset)
        else:
            # TorchScript: deprecated by torch 2.13 in favour of torch.export, still what
            # services without Python (libtorch) load.
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                # nn.LSTM/GRU compare their input's and zero state's sizes in Python; the trace
                # keeps the outcome and torch warns that it might not hold. It always does: the
                # zero state is made from the batch's own size.
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                traced = torch.jit.trace(wrapped, example, check_trace=False)
                torch.jit.save(traced, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _cpu_copy(model: nn.Module) -> nn.Module:
    import copy

    copied = copy.deepcopy(model).to("cpu", torch.float32)
    for p in copied.parameters():
        p.requires_grad_(False)
    return copied.eval()


def _onnx(wrapped: nn.Module, example: torch.Tensor, path: Path, opset: int) -> None:
    try:
        import onnx  # noqa: F401  (the exporter needs it; say so before torch does)
    except ImportError as e:
        raise ImportError(
            "exporting to ONNX needs the onnx package: pip install 'codings[onnx]' (or pip "
            "install onnx onnxruntime); format='torchscript' needs nothing more"
        ) from e
    # The TorchScript-based exporter: one pass, no graph rewriting, a second or two per model
    # (the torch.export-based one takes several); torch 2.13 warns that it is deprecated.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapped,
            (example,),
            str(path),
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
