"""DataFrames at the scikit-learn estimators' edge: output containers and per-column scores.

The estimators compute on arrays; this module hands their results back in the container
scikit-learn's ``set_output`` asks for (pandas or polars, with the input's index and the
column names) and spreads a detector's per-sample score over the columns. pandas and
scikit-learn are imported inside the functions, so importing codings loads neither.
"""

from __future__ import annotations

import numpy as np

__all__ = ["column_names", "contributions", "is_frame", "output"]


def is_frame(X) -> bool:
    """Whether ``X`` is a pandas DataFrame (without importing pandas when it is not loaded)."""
    return type(X).__name__ == "DataFrame" and type(X).__module__.split(".")[0] == "pandas"


def column_names(est) -> np.ndarray:
    """The estimator's input column names: ``feature_names_in_``, else ``x0 .. x{n-1}``."""
    from sklearn.utils.validation import _check_feature_names_in

    return np.asarray(_check_feature_names_in(est, None), dtype=object)


def output(est, values: np.ndarray, original, columns):
    """``values`` in the container that ``est.set_output(transform=...)`` (or scikit-learn's
    global ``transform_output``) asks for, with ``original``'s index when it is a DataFrame;
    ``values`` as they are for the default container."""
    from sklearn.utils._set_output import _get_container_adapter

    adapter = _get_container_adapter("transform", est)
    if adapter is None:  # "default": NumPy arrays
        return values
    return adapter.create_container(values, original, columns, inplace=False)


def contributions(est, parts: np.ndarray, original):
    """Per-column contributions ``parts`` (n_samples, n_columns) as the caller gets them: a
    DataFrame (the input's index, its column names) when ``X`` was one or pandas output is set,
    else the array."""
    if is_frame(original):
        import pandas as pd

        return pd.DataFrame(parts, index=original.index, columns=column_names(est))
    return output(est, parts, original, column_names(est))
