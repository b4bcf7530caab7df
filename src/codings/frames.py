"""DataFrames at the scikit-learn estimators' edge: tables in, containers out, per-column scores.

The estimators compute on arrays; this module decides which DataFrames are tables (categorical
or missing cells: the ``table`` model of :mod:`codings.tables`, its schema kept as ``schema_``),
encodes them, hands results back in the container scikit-learn's ``set_output`` asks for (pandas
or polars, with the input's index and the column names) and spreads a detector's per-sample
score over the columns. pandas and scikit-learn are imported inside the functions, so importing
codings loads neither.

Which model a DataFrame trains: one with a non-numeric column or a missing cell trains the
``table`` model (with ``model="stacked"``, the default, or ``model="table"``); a complete
numeric DataFrame trains ``model`` as an array of its values would (the same numbers give the
same model, whichever container holds them, as scikit-learn's checks expect), unless
``model="table"``. A table model scores a row by its mean cell error over the observed cells:
squared error of the standardised value, cross-entropy (nats) of the category.
"""

from __future__ import annotations

import numpy as np

from .tables import TABLE, is_table_model

__all__ = [
    "column_names",
    "contributions",
    "impute",
    "inverse_table",
    "is_frame",
    "is_table_model",
    "model_kwargs",
    "model_name",
    "needs_table",
    "output",
    "table_contributions",
    "table_parts",
    "validate",
]


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


# --- tables ---------------------------------------------------------------------------------


def needs_table(df) -> bool:
    """Whether a DataFrame has a non-numeric column or a missing cell (the table model's)."""
    import pandas as pd

    numeric = all(
        pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t) for t in df.dtypes
    )
    return not numeric or bool(df.isna().to_numpy().any())


def validate(est, X, *, reset: bool, dense):
    """``X`` as the array the estimator's model reads: a table's encoding (see the module), or
    ``dense(X)`` (scikit-learn's validation) for anything else. ``reset`` (in ``fit``) learns
    the schema, ``feature_names_in_`` and ``n_features_in_``; later calls check the columns."""
    if reset:
        if not (is_frame(X) and (est.model == TABLE or needs_table(X))):
            est.__dict__.pop("schema_", None)  # a refit on an array forgets an earlier table
            return dense(X)
        from .tables import TableSchema

        schema = TableSchema.infer(X)
        est.schema_ = schema
        est.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        est.n_features_in_ = len(schema.columns)
        return schema.encode(X)
    schema = getattr(est, "schema_", None)
    if schema is None:
        return dense(X)
    if not is_frame(X):
        raise ValueError(
            f"{type(est).__name__} was fitted on a table (a DataFrame with categorical or "
            f"missing cells) and reads DataFrames with its columns "
            f"({', '.join(map(str, schema.names))}); got {type(X).__name__}"
        )
    return schema.encode(X)  # refuses missing, extra or renamed columns, naming the column


def model_name(est) -> str:
    """The builder the estimator trains: ``table`` for a table (``schema_``), else ``model``."""
    schema = getattr(est, "schema_", None)
    if schema is None:
        return est.model
    if est.model not in ("stacked", TABLE):
        kinds = [c.name for c in schema.categorical]
        why = f"categorical column {kinds[0]!r}" if kinds else "missing cells"
        raise ValueError(
            f"model={est.model!r} reads numbers only, and this table has {why}; a table trains "
            f"model='table' (as the default model='stacked' does), or encode the table yourself "
            "(e.g. one-hot and impute) and pass an array"
        )
    return TABLE


def model_kwargs(est, kwargs: dict) -> dict:
    """The builder's arguments with the table's schema, for a table."""
    schema = getattr(est, "schema_", None)
    return kwargs if schema is None else {**kwargs, "schema": schema.to_dict()}


def _observed(schema, X: np.ndarray) -> np.ndarray:
    """(n, n_columns) in the schema's order: whether each cell of the encoded ``X`` is there."""
    n_num, n_cat = len(schema.numeric), len(schema.categorical)
    seen = {}
    for j, c in enumerate(schema.numeric):
        seen[c.name] = X[:, n_num + n_cat + j] < 0.5  # the missing flag
    for j, c in enumerate(schema.categorical):
        seen[c.name] = X[:, n_num + j] >= 0  # code -1: missing
    return np.stack([seen[c.name] for c in schema.columns], axis=1)


def table_parts(model, X: np.ndarray, infer, *, held_out: bool = False) -> np.ndarray:
    """Each cell's share of its row's score (n, n_columns), in the schema's column order: the
    cell's error divided by the row's number of observed cells (0 for a missing cell), so that
    a row sums to its mean error over the observed cells. ``infer(fn, model, X)`` runs the
    model (the estimators' batching rule). ``held_out``: each cell predicted with its column
    hidden (:meth:`codings.tables.TableAutoencoder.held_out_errors`)."""
    fn = model.held_out_errors if held_out else model.cell_errors
    errors = infer(fn, model, X).astype(np.float64)  # (n, n_columns)
    count = _observed(model.schema, X).sum(axis=1, keepdims=True)
    return errors / np.maximum(count, 1)


def table_contributions(est, parts: np.ndarray, X):
    """Per-column shares as a DataFrame in ``X``'s column order."""
    import pandas as pd

    out = pd.DataFrame(parts, index=X.index, columns=est.schema_.names)
    return out[list(X.columns)]


def inverse_table(est, R: np.ndarray, Z):
    """Decoded rows in the encoded layout -> a DataFrame of the table's columns (numbers in
    their units, the most likely category), with ``Z``'s index when it is a DataFrame."""
    index = Z.index if is_frame(Z) else None
    return est.schema_.decode(R, index=index)


def impute(est, X):
    """``X`` with its missing cells filled by the fitted table model; the rest unchanged."""
    from .tables import impute as fill

    if getattr(est, "schema_", None) is None:
        raise ValueError(
            f"impute needs a model fitted on a table, and this {type(est).__name__} was fitted "
            "on complete numbers; fit it on a DataFrame with missing cells, or with "
            "model='table' on a complete one"
        )
    validate(est, X, reset=False, dense=None)  # the same columns, named when not
    return fill(est.model_, X)
