"""Checks that catch a useless model, before training and after it.

Training can finish, exit 0 and still leave a model worse than no model at all: reconstructions
further from the data than the training mean, codings that are the same for every example, or a
cross-entropy loss fed data outside [0, 1]. These checks find such cases and say what to do:

- :func:`check_data` (before training): data outside [0, 1] for a Bernoulli output, and large
  unscaled values for a squared-error output;
- :func:`check_model` (after training): the validation reconstruction error against two cheap
  baselines, predicting the training mean and PCA with the same code size, and codings whose
  units barely vary across examples.

Library code only returns :class:`Finding` objects; :func:`warn` issues them as
:class:`CodingsWarning` and the command line prints them. Nothing here prints.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from .inference import batched
from .penalties import LifetimeSparsity
from .train import evaluate

__all__ = ["CodingsWarning", "Finding", "check_data", "check_model", "pca_mse", "warn"]

# Above these, the squared error of raw features swamps the optimiser's step sizes and the
# initial weights' scale (both assume inputs of order 1).
UNSCALED_STD = 5.0
UNSCALED_MEAN = 10.0
# A model within 2% of the mean's error has learnt (next to) nothing.
MEAN_MARGIN = 0.98
# A linear autoencoder at best equals PCA; it is told to train longer only when this far above.
LINEAR_MARGIN = 1.05
# A coding unit whose standard deviation across examples is below this share of its size (its
# root mean square) gives every example the same value.
DEAD_RELATIVE = 1e-3
DEAD_ABSOLUTE = 1e-6
# Evenly spaced rows read from large data (a memory map reads only those).
MAX_ROWS_RANGE = 100_000  # for the minimum and maximum
MAX_ROWS_FIT = 10_000  # for the scale of the features, and PCA's fit
MAX_ROWS_CODES = 4_096  # rows whose codings are checked for collapse
_CHUNK = 8_192


class CodingsWarning(UserWarning):
    """A model or its data is probably not what was meant; training itself has finished."""


@dataclass(frozen=True)
class Finding:
    """One problem found: ``check`` names the test, ``message`` says what and what to do."""

    # "out_of_range", "unscaled", "worse_than_mean", "no_better_than_pca", "collapsed" or
    # "overcomplete"
    check: str
    message: str

    def __str__(self) -> str:
        return self.message


def warn(findings, *, stacklevel: int | None = None) -> None:
    """Issue each finding as a :class:`CodingsWarning`.

    ``stacklevel`` counts from the caller, as in ``warnings.warn``: 1 names the line that calls
    ``warn``, 2 the line that called that function, and so on. ``None`` (the default) names the
    first line outside this package: the user's call, however many wrappers lie between.
    """
    if stacklevel is None:
        stacklevel = _outside_package()
    for f in findings:
        warnings.warn(f.message, CodingsWarning, stacklevel=stacklevel + 1)


def _outside_package() -> int:
    """The ``stacklevel`` (from ``warn``'s caller) of the first frame outside ``codings``."""
    package = str(Path(__file__).resolve().parent)
    frame, level = sys._getframe(2), 1  # warn's caller
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


# --- before training ---------------------------------------------------------------------------


def check_data(model: nn.Module, X) -> list[Finding]:
    """Whether the data ``X`` (n, ...) suit the model's output, as the model will see them.

    A Bernoulli output (cross-entropy) needs targets in [0, 1]; a squared-error output trains
    badly on features with a standard deviation or mean far above 1 (raw pixel counts, prices).
    Large files are checked on an evenly spaced sample of rows.
    """
    if len(X) == 0:
        return []
    A = _rows(X, MAX_ROWS_RANGE)
    lo, hi = float(A.min()), float(A.max())
    output = getattr(model, "output", None)
    if output == "bernoulli":
        if lo < -1e-6 or hi > 1 + 1e-6:
            return [
                Finding(
                    "out_of_range",
                    f"the data range from {lo:.4g} to {hi:.4g}, outside [0, 1], but the model's "
                    "output is Bernoulli (cross-entropy needs targets in [0, 1]); min-max scale "
                    "the data to [0, 1] (e.g. sklearn's MinMaxScaler, or divide by the maximum "
                    "for counts such as pixel values), or use output='linear'",
                )
            ]
        return []
    if output != "linear":
        return []  # a model of another kind: nothing known about what it expects
    A = _rows(A, MAX_ROWS_FIT).reshape(min(len(A), MAX_ROWS_FIT), -1)  # (m, D)
    std, mean = float(A.std(axis=0).max()), float(np.abs(A.mean(axis=0)).max())
    if std > UNSCALED_STD or mean > UNSCALED_MEAN:
        return [
            Finding(
                "unscaled",
                f"the data are not scaled for a squared-error model: feature standard deviations "
                f"up to {std:.4g} and means up to {mean:.4g} in absolute value (values from "
                f"{lo:.4g} to {hi:.4g}); standardise the features (e.g. sklearn's "
                "StandardScaler, or the command line's --scale standard) or min-max scale them "
                "to [0, 1]",
            )
        ]
    return []


# --- after training ----------------------------------------------------------------------------


def check_model(
    model: nn.Module,
    X_train,
    X_val=None,
    *,
    model_mse: float | None = None,
    losses: dict[str, float] | None = None,
) -> tuple[dict[str, float], list[Finding]]:
    """Compare a trained model with the mean and PCA baselines; check its codings vary.

    Parameters
    ----------
    model : Autoencoder
        Trained; any module with ``encode`` and ``forward`` (reconstructions in data space).
    X_train : array (n, ...)
        The rows it was trained on, as it saw them (scaled): the baselines are fitted on them.
    X_val : array (m, ...), optional
        Held-out rows the errors are measured on (default: ``X_train``).
    model_mse : float, optional
        The model's per-feature MSE on ``X_val``, if already known (``evaluate(...)["mse"]``).
    losses : dict, optional
        ``evaluate(model, X_val)``, if already known: the model's MSE (when ``model_mse`` is
        not given) or a table model's loss parts are read from it.

    Returns
    -------
    metrics : dict
        ``model_mse``, ``baseline_mean_mse`` and, where PCA applies (a code smaller than the
        number of features), ``baseline_pca_mse`` and ``code_size``. A table model's are
        ``baseline_numeric`` and ``baseline_categorical``: its loss parts for a guess of each
        column's mean and category frequencies (:func:`codings.tables.baseline_losses`).
    findings : list of Finding
    """
    X_eval = X_train if X_val is None or len(X_val) == 0 else X_val
    if len(X_train) == 0 or len(X_eval) == 0:
        return {}, []
    if getattr(model, "output", None) == "table":  # rows of codes and flags: not their MSE
        return _table_baselines(model, X_train, X_eval, losses)
    if model_mse is None and losses is not None:
        model_mse = losses.get("mse")
    if model_mse is None:
        model_mse = evaluate(model, X_eval)["mse"]
    mu = _mean(X_train)  # (D,)
    mean_mse = _mse_about(X_eval, mu, None)
    metrics = {"model_mse": float(model_mse), "baseline_mean_mse": mean_mse}
    findings: list[Finding] = []
    codes = _codings(model, X_eval)  # (m, K)
    k, d = codes.shape[1], mu.shape[0]
    if 0 < k < d and len(X_train) > 1:
        metrics["code_size"] = k
        metrics["baseline_pca_mse"] = pca_mse(X_train, X_eval, k, mean=mu)
    if _reconstructs_differently_in_training(model):
        pass  # its test-time reconstructions are not what it learnt to make: no verdict on them
    elif mean_mse > 1e-12 and model_mse > MEAN_MARGIN * mean_mse:
        worse = "worse than" if model_mse > mean_mse else "no better than"
        findings.append(
            Finding(
                "worse_than_mean",
                f"the model reconstructs {worse} predicting the mean of the training data for "
                f"every example (per-feature MSE {model_mse:.4g} vs {mean_mse:.4g}); train for "
                "more epochs, check that the data are scaled, or try a lower learning rate",
            )
        )
    elif "baseline_pca_mse" in metrics and model_mse > 1e-6 * mean_mse:  # else: near perfect
        finding = _against_pca(model, model_mse, metrics["baseline_pca_mse"], k)
        findings += [finding] if finding is not None else []
    if _varies(X_eval):
        findings += _collapsed(codes, d)
    if k >= d and getattr(model, "config", {}).get("name") == "stacked":
        findings.append(
            Finding(
                "overcomplete",
                f"the codings have {k} units for {d} features, so nothing makes the model "
                "compress: it can learn to copy its input, and its low error says little about "
                f"its codings; give a code smaller than {d} (--hidden / --latent-dim on the "
                "command line, hidden= / latent_dim= in Python), or use a regularised model "
                "(denoising, sparse, contractive) for an overcomplete code",
            )
        )
    return metrics, findings


def _table_baselines(model: nn.Module, X_train, X_eval, parts) -> tuple[dict[str, float], list]:
    from .tables import baseline_losses

    base = baseline_losses(model, X_train, X_eval)
    metrics = {f"baseline_{k}": v for k, v in base.items()}
    parts = evaluate(model, X_eval) if parts is None else parts
    mine = sum(parts.get(k, 0.0) for k in base)
    guess = sum(base.values())
    if guess > 1e-12 and mine > MEAN_MARGIN * guess:
        worse = "worse than" if mine > guess else "no better than"
        message = (
            f"the model predicts the table's cells {worse} each column's mean and category "
            f"frequencies (numeric + categorical loss {mine:.4g} vs {guess:.4g}): it has learnt "
            "nothing from the other columns; train for more epochs, or check that the columns "
            "are related at all"
        )
        return metrics, [Finding("worse_than_mean", message)]
    return metrics, []


def _reconstructs_differently_in_training(model: nn.Module) -> bool:
    # Winner-take-all lifetime sparsity is on in training only (as in Makhzani & Frey 2015):
    # at test time the decoder sees dense codings it was never trained on, and its error is
    # then far above the mean's by design. Such a model is used for its codings.
    return any(isinstance(m, LifetimeSparsity) for m in model.modules())


def _against_pca(model: nn.Module, model_mse: float, pca: float, k: int) -> Finding | None:
    if getattr(model, "prior", None) is not None:
        return None  # a VAE or AAE trades reconstruction for codings that follow its prior
    linear = getattr(model, "config", {}).get("name") == "linear"
    if model_mse < pca or (linear and model_mse <= LINEAR_MARGIN * pca):
        return None
    n = f"{k} component{'s' if k != 1 else ''}"
    advice = (
        "the linear autoencoder has not reached PCA's optimum yet; train for more epochs"
        if linear
        else "a linear model would do (PCA, or the 'linear' model); train for more epochs or "
        "try a different architecture to gain from the non-linearity"
    )
    return Finding(
        "no_better_than_pca",
        f"the model reconstructs no better than PCA with the same {n} (per-feature MSE "
        f"{model_mse:.4g} vs {pca:.4g}); {advice}",
    )


def _collapsed(codes: np.ndarray, n_features: int) -> list[Finding]:
    if len(codes) < 2 or codes.shape[1] == 0:
        return []
    Z = codes.astype(np.float64)
    std = Z.std(axis=0)  # (K,)
    rms = np.sqrt((Z**2).mean(axis=0))
    k = Z.shape[1]
    live = k - int((std <= DEAD_RELATIVE * rms + DEAD_ABSOLUTE).sum())
    # Half the code's useful size or less: an overcomplete sparse code (k-sparse, WTA) leaves
    # many of its units unused by design, but not most of the first n_features.
    if live > min(k, n_features) / 2:
        return []
    what = (
        f"all {k} coding units are (nearly) constant across examples, so every example gets "
        "the same coding"
        if live == 0
        else f"only {live} of the {k} coding units vary across examples"
    )
    return [
        Finding(
            "collapsed",
            f"the codings have collapsed: {what}; scale the input (standardise, or min-max to "
            "[0, 1]), lower the learning rate, or check the coding layer's activation for "
            "saturated or dead units",
        )
    ]


def pca_mse(
    X_train, X_eval, k: int, *, max_rows: int = MAX_ROWS_FIT, mean: np.ndarray | None = None
) -> float:
    """Per-feature MSE on ``X_eval`` of PCA with ``k`` components fitted on ``X_train``.

    PCA is the best linear code of size ``k`` (Eckart-Young): on the rows it is fitted on its
    MSE is the sum of the discarded eigenvalues of the covariance divided by the number of
    features. It is fitted by an eigendecomposition of the (D, D) covariance, on at most
    ``max_rows`` evenly spaced training rows (exact below that), or by a randomized SVD where D
    is too large for one. ``mean``: X_train's per-feature mean, if already known.
    """
    mu = _mean(X_train) if mean is None else mean  # (D,)
    d = mu.shape[0]
    A = (_rows(X_train, max_rows).reshape(-1, d) - mu).astype(np.float32)  # (m, D)
    if d <= 2048:
        if X_eval is X_train and len(A) == len(X_train):
            # Measured on every row it is fitted on: the discarded eigenvalues are the error.
            # Eigenvalues alone take half the time of the directions and need no projection
            # after them (60 against 95 ms for 1,000 rows of 784). The small eigenvalues need
            # the Gram matrix in float64: float32's rounding of it is of their order.
            A64 = A.astype(np.float64)
            discarded = float(np.linalg.eigvalsh(A64.T @ A64)[: d - k].sum())  # ascending
            return max(discarded, 0.0) / (len(A) * d)
        # The Gram matrix in float32 (half the time of float64, and only the directions are
        # taken from it); the errors below are summed in float64.
        _, V = np.linalg.eigh((A.T @ A).astype(np.float64))  # ascending eigenvalues
        P = V[:, -k:]  # (D, k): the top k principal directions
    else:
        from sklearn.utils.extmath import randomized_svd

        _, _, Vt = randomized_svd(A, k, n_iter=4, random_state=0)
        P = Vt.T
    return _mse_about(X_eval, mu, P)


def _mse_about(X, mu: np.ndarray, P: np.ndarray | None) -> float:
    """Per-feature MSE of X's rows reconstructed as ``mu + P P^T (x - mu)`` (P None: ``mu``)."""
    n, d, total = len(X), mu.shape[0], 0.0
    for i in range(0, n, _CHUNK):
        C = np.asarray(X[i : i + _CHUNK], dtype=np.float64).reshape(-1, d) - mu  # (b, D)
        if P is not None:
            C = C - (C @ P) @ P.T
        total += float(np.square(C).sum())
    return total / (n * d)


def _mean(X) -> np.ndarray:
    """Per-feature mean (D,) of X's rows, in float64, read in chunks."""
    total = 0.0
    for i in range(0, len(X), _CHUNK):
        chunk = np.asarray(X[i : i + _CHUNK])
        total = total + chunk.reshape(len(chunk), -1).sum(axis=0, dtype=np.float64)
    return total / len(X)


def _rows(X, limit: int) -> np.ndarray:
    """All rows of X, or ``limit`` evenly spaced ones (a memory map reads only those)."""
    if len(X) <= limit:
        return np.asarray(X)
    return np.asarray(X[np.linspace(0, len(X) - 1, limit).astype(np.int64)])


def _varies(X) -> bool:
    A = _rows(X, MAX_ROWS_CODES)
    return len(A) > 1 and bool((A != A[:1]).any())


def _codings(model: nn.Module, X) -> np.ndarray:
    """Codings (m, K) of up to MAX_ROWS_CODES evenly spaced rows, flattened per example."""
    A = _rows(X, MAX_ROWS_CODES)
    # (B, ...) -> (B, K), 1024 rows at a time (as these statistics were always computed)
    Z = batched(lambda xb: model.encode(xb).reshape(len(xb), -1), A, model=model, batch_size=1024)
    return Z.astype(np.float32, copy=False)
