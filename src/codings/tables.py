"""Tables: an autoencoder for DataFrames with numeric, categorical and missing cells.

The public API (pandas is imported inside the functions that need it, never on import):

``TableSchema.infer(df, kinds=None)``
    The columns' names, kinds (``"numeric"`` or ``"categorical"``), the categories of each
    categorical column and the mean and standard deviation of each numeric one, learned from a
    training table (missing cells ignored). ``kinds={"col": "categorical"}`` overrides the
    inferred kind. ``to_dict()`` / ``TableSchema.from_dict(d)`` round-trip it through JSON.
``schema.encode(df) -> np.ndarray``
    The float32 array the rest of the library trains on and moves, ``schema.width`` columns::

        [ numeric values (standardised, 0 where missing) | category codes | numeric missing flags ]

    A category code is the category's index, ``-1`` where the cell is missing and ``k`` (the
    number of known categories) for a category the training table did not have ("unknown"; one
    :class:`UnknownCategoryWarning` names the column and the values). Every value is finite, so
    ``codings.fit`` and the inference path take it as they take any array. ``check(df)`` refuses
    a table with missing, extra or renamed columns, naming the column.
``schema.decode(array) -> DataFrame``
    The way back (de-standardised numbers, categories; missing cells are NaN).
``build("table", n_features=schema.width, schema=schema.to_dict())``
    The model (:class:`TableAutoencoder`): the schema is a JSON builder argument, so checkpoints
    (``codings.save`` / ``codings.load``) carry it in their header and rebuild it.
    ``model.loss(x)`` returns the total and the parts ``numeric`` (squared error of the
    standardised values) and ``categorical`` (cross-entropy per column), each summed over the
    observed cells of a row and averaged over the rows; missing cells are left out.
``impute(model, df) -> DataFrame``
    ``df`` with its missing cells filled by the reconstruction; observed cells, index, columns
    and dtypes as they were.
``column_errors(model, df, held_out=False) -> DataFrame``
    Each cell's contribution to its row's reconstruction error (squared error of the
    standardised value, or the cross-entropy of the category; 0 where the cell is missing): the
    per-column contributions of an outlier score. A row's sum is its reconstruction loss.
    ``held_out=True`` predicts each cell with its column hidden (one pass per column), which
    points at a corrupted cell more reliably (a far-off value also moves the other columns'
    reconstructions through the codings).
``reconstruct_table(model, df) -> DataFrame``
    Every cell as the model predicts it (numbers de-standardised, the most likely category).
``model_schema(model) -> TableSchema``
    The schema a table model was built with.
``is_table_model(model) -> bool``
    Whether a model is a table model.
``model.cell_errors(x)`` / ``model.held_out_errors(x)``
    The same errors as ``column_errors`` on encoded rows, as tensors (B, n_columns).

Why embeddings rather than one-hot: an embedding of ``min(50, (k + 1) // 2)`` numbers (fast.ai's
rule of thumb for tabular models) keeps the input narrow for a column of many categories, and
two extra rows hold "unknown" and "missing", so a missing category is told apart from any value.
The decoder gives ``k + 1`` logits per categorical column: the known categories and "unknown",
which training never targets, so an unseen category costs a large but finite cross-entropy (an
outlier's sign) while imputation takes the argmax over the known categories only.

In training, ``mask_rate`` of the observed cells are hidden from the encoder (filled as missing)
while the loss still asks for them: a denoising autoencoder that learns to fill a cell from the
others, which is what imputation needs (Gondara & Wang 2018, "MIDA").

The module sits with the model families (``regularised``, ``generative``): it registers a
builder and uses the parts below it; the inference path and the clients above call it.
"""

from __future__ import annotations

import difflib
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import suggest
from .layers import dense_stack, init_linear, parse_sizes
from .losses import l2_penalties
from .models import register

__all__ = [
    "KINDS",
    "UNKNOWN",
    "Column",
    "TableAutoencoder",
    "TableSchema",
    "UnknownCategoryWarning",
    "baseline_losses",
    "column_errors",
    "impute",
    "model_schema",
    "reconstruct_table",
]

KINDS = ("numeric", "categorical")
#: How :meth:`TableSchema.decode` shows a category the training table did not have.
UNKNOWN = "<unknown>"
SCHEMA_VERSION = 1
EXTRA = "pip install 'codings[tables]'"
TABLE = "table"  # the model's name in the registry, and its ``output``: rows of codes and flags


def is_table_model(model) -> bool:
    """Whether ``model`` is a table model (its ``output`` is ``"table"``, as the library's
    generic code reads it: no scaling, no MSE of its rows)."""
    return getattr(model, "output", None) == TABLE


class UnknownCategoryWarning(UserWarning):
    """A categorical column holds values its schema does not know; they were read as unknown."""


def _pandas():
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - the tables extra installs it
        raise ImportError(f"tables need pandas; install it with {EXTRA}") from None
    return pd


def _plain(value):
    """A category as a JSON value: numpy scalars become Python ones; other objects strings."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return str(value)


@dataclass(frozen=True)
class Column:
    """One column: its name, kind, categories (categorical) and scaling (numeric)."""

    name: str
    kind: str
    categories: tuple = ()
    mean: float = 0.0
    std: float = 1.0

    def to_dict(self) -> dict:
        if self.kind == "numeric":
            return {"name": self.name, "kind": self.kind, "mean": self.mean, "std": self.std}
        return {"name": self.name, "kind": self.kind, "categories": list(self.categories)}


class TableSchema:
    """The columns of a table: names, kinds, categories and numeric scaling (see the module)."""

    def __init__(self, columns: Sequence[Column]):
        columns = tuple(columns)
        if not columns:
            raise ValueError("a table schema needs at least one column")
        names = [c.name for c in columns]
        dup = sorted({n for n in names if names.count(n) > 1}, key=str)
        if dup:
            raise ValueError(f"column names must be unique; {dup} appear more than once")
        for c in columns:
            if c.kind not in KINDS:
                raise ValueError(
                    f"column {c.name!r}: kind {c.kind!r} is not known; choose 'numeric' or "
                    "'categorical'" + suggest(c.kind, KINDS)
                )
            if c.kind == "numeric" and not (math.isfinite(c.mean) and c.std > 0):
                raise ValueError(
                    f"column {c.name!r}: mean={c.mean!r} and std={c.std!r} must be finite, std > 0"
                )
        self.columns = columns
        self.numeric = tuple(c for c in columns if c.kind == "numeric")
        self.categorical = tuple(c for c in columns if c.kind == "categorical")

    # --- shape of the encoded array -------------------------------------------------------
    @property
    def names(self) -> list:
        return [c.name for c in self.columns]

    @property
    def kinds(self) -> dict:
        return {c.name: c.kind for c in self.columns}

    @property
    def width(self) -> int:
        """Columns of the encoded array: values, codes, then the numeric missing flags."""
        return 2 * len(self.numeric) + len(self.categorical)

    @property
    def sizes(self) -> list[int]:
        """The number of known categories of each categorical column."""
        return [len(c.categories) for c in self.categorical]

    def __eq__(self, other) -> bool:
        return isinstance(other, TableSchema) and self.columns == other.columns

    def __repr__(self) -> str:
        return f"TableSchema({self.describe()})"

    def describe(self) -> str:
        """One line per column: name, kind and categories or scaling (for a command's output)."""
        lines = []
        for c in self.columns:
            if c.kind == "numeric":
                lines.append(f"{c.name}: numeric (mean {c.mean:.4g}, std {c.std:.4g})")
            else:
                shown = ", ".join(map(str, c.categories[:5]))
                more = f", ... ({len(c.categories)} in all)" if len(c.categories) > 5 else ""
                lines.append(f"{c.name}: categorical ({shown}{more})")
        return "\n".join(lines)

    # --- JSON ----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"version": SCHEMA_VERSION, "columns": [c.to_dict() for c in self.columns]}

    @classmethod
    def from_dict(cls, d: Mapping) -> TableSchema:
        if isinstance(d, TableSchema):
            return d
        if not isinstance(d, Mapping) or not isinstance(d.get("columns"), list):
            raise ValueError(
                f"a table schema is a dict with a 'columns' list (TableSchema.to_dict()); got "
                f"{str(d)[:80]}"
            )
        if d.get("version", SCHEMA_VERSION) != SCHEMA_VERSION:
            raise ValueError(
                f"table schema version {d.get('version')!r} is not {SCHEMA_VERSION}; it was "
                "written by another codings version"
            )
        columns = []
        for c in d["columns"]:
            if not isinstance(c, Mapping) or "name" not in c or "kind" not in c:
                raise ValueError(f"a schema column needs a name and a kind; got {c!r}")
            if c["kind"] == "numeric":
                columns.append(
                    Column(c["name"], "numeric", mean=float(c["mean"]), std=float(c["std"]))
                )
            else:
                cats = c.get("categories")
                if not isinstance(cats, list):
                    raise ValueError(f"column {c['name']!r}: 'categories' must be a list")
                columns.append(Column(c["name"], c["kind"], categories=tuple(cats)))
        return cls(columns)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    # --- learning it from a table -----------------------------------------------------------
    @classmethod
    def infer(cls, df, kinds: Mapping[str, str] | None = None) -> TableSchema:
        """The schema of ``df``, fitted on it: bool, object, string and category columns are
        categorical, other numeric dtypes numeric (a column of a few whole numbers stays
        numeric: override it with ``kinds={"col": "categorical"}``)."""
        pd = _pandas()
        if not isinstance(df, pd.DataFrame):
            raise TypeError(
                f"TableSchema.infer takes a pandas DataFrame; got {type(df).__name__} "
                "(read a CSV with pandas.read_csv)"
            )
        if df.shape[0] == 0 or df.shape[1] == 0:
            raise ValueError(f"the table is empty ({df.shape[0]} rows, {df.shape[1]} columns)")
        kinds = dict(kinds or {})
        names = list(df.columns)
        twice = sorted({str(n) for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"the table has more than one column named {', '.join(twice)}")
        for name, kind in kinds.items():
            if name not in names:
                raise ValueError(
                    f"kinds names column {name!r}, which the table does not have; its columns "
                    f"are {', '.join(map(str, names))}" + suggest(name, map(str, names))
                )
            if kind not in KINDS:
                raise ValueError(
                    f"kinds[{name!r}]={kind!r} is not known; choose 'numeric' or 'categorical'"
                    + suggest(kind, KINDS)
                )
        columns = []
        for name in names:
            if not isinstance(name, (str, int)) or isinstance(name, bool):
                raise ValueError(f"column name {name!r} must be a string (or an integer)")
            s = df[name]
            kind = kinds.get(name) or _infer_kind(s, pd)
            if kind == "numeric":
                v = _numbers(s, name, pd)
                seen = v[~np.isnan(v)]
                mean = float(seen.mean()) if seen.size else 0.0
                std = float(seen.std()) if seen.size > 1 else 0.0
                std = std if math.isfinite(std) and std > 1e-12 * max(1.0, abs(mean)) else 1.0
                columns.append(Column(name, "numeric", mean=mean, std=std))
            else:
                values = s[s.notna()].unique()
                cats = sorted({_plain(v) for v in values}, key=lambda v: (type(v).__name__, v))
                seen = int(s.notna().sum())
                if len(cats) > 50 and len(cats) > seen / 2:
                    warnings.warn(
                        f"column {name!r} has {len(cats)} different values in {seen} rows: an "
                        "identifier or free text? The model cannot reconstruct such a column "
                        "and reads each new value as unknown; drop it (or, if it holds "
                        f"numbers, kinds={{{name!r}: 'numeric'}})",
                        UserWarning,
                        stacklevel=2,
                    )
                columns.append(Column(name, "categorical", categories=tuple(cats)))
        return cls(columns)

    # --- reading tables -------------------------------------------------------------------
    def check(self, df) -> None:
        """Refuse a table whose columns are not the schema's, naming the column."""
        pd = _pandas()
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"a table model takes a pandas DataFrame; got {type(df).__name__}")
        have = list(df.columns)
        want = self.names
        missing = [n for n in want if n not in have]
        extra = [n for n in have if n not in want]
        if missing:
            n = missing[0]
            close = difflib.get_close_matches(str(n), [str(e) for e in extra], n=1, cutoff=0.6)
            raise ValueError(
                f"the table has no column {n!r}, which the model was trained with"
                + (f" (renamed to {close[0]!r}?)" if close else "")
                + f"; its columns must be {', '.join(map(str, want))}"
            )
        if extra:
            raise ValueError(
                f"the table has a column {extra[0]!r} the model was not trained with; drop it "
                f"(the model's columns are {', '.join(map(str, want))})"
            )
        if len(set(have)) != len(have):
            raise ValueError("the table has two columns of the same name")

    def encode(self, df) -> np.ndarray:
        """``df`` as the model's float32 array (layout in the module's docstring)."""
        pd = _pandas()
        self.check(df)
        n = len(df)
        values = np.zeros((n, len(self.numeric)), np.float32)
        flags = np.zeros((n, len(self.numeric)), np.float32)
        for j, c in enumerate(self.numeric):
            v = _numbers(df[c.name], c.name, pd)
            miss = np.isnan(v)
            values[:, j] = np.where(miss, 0.0, (v - c.mean) / c.std)
            flags[:, j] = miss
        codes = np.zeros((n, len(self.categorical)), np.float32)
        for j, c in enumerate(self.categorical):
            codes[:, j] = self._codes(df[c.name], c, pd)
        return np.ascontiguousarray(np.concatenate([values, codes, flags], axis=1))

    def _codes(self, s, c: Column, pd) -> np.ndarray:
        miss = s.isna().to_numpy()
        values = s.to_numpy(dtype=object)
        codes = pd.Index(list(c.categories), dtype=object).get_indexer(values)  # -1: not found
        new = (codes < 0) & ~miss
        if new.any():  # numpy scalars and their Python values are the same keys; else as _plain
            again = pd.Index(list(c.categories), dtype=object).get_indexer(
                [_plain(v) for v in values[new]]
            )
            codes[new] = again
            new = (codes < 0) & ~miss
        out = np.where(miss, -1, np.where(new, len(c.categories), codes)).astype(np.float32)
        unseen = list(dict.fromkeys(_plain(v) for v in values[new][:1000]))[:6]
        if unseen:
            shown = ", ".join(map(repr, unseen[:5])) + (", ..." if len(unseen) > 5 else "")
            warnings.warn(
                f"column {c.name!r} holds categories the model was not trained with ({shown}); "
                f"they are read as {UNKNOWN!r}",
                UnknownCategoryWarning,
                stacklevel=3,
            )
        return out

    def decode(self, array, index=None):
        """An encoded array (or a reconstruction) as a DataFrame of the schema's columns."""
        pd = _pandas()
        a = np.asarray(array, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != self.width:
            raise ValueError(
                f"the array has shape {a.shape}; this schema reads (n_rows, {self.width})"
            )
        n_num, n_cat = len(self.numeric), len(self.categorical)
        out = {}
        num = {c.name: j for j, c in enumerate(self.numeric)}
        cat = {c.name: j for j, c in enumerate(self.categorical)}
        for c in self.columns:
            if c.kind == "numeric":
                j = num[c.name]
                v = a[:, j] * c.std + c.mean
                out[c.name] = np.where(a[:, n_num + n_cat + j] > 0.5, np.nan, v)
            else:
                codes = np.rint(a[:, n_num + cat[c.name]]).astype(np.int64)
                k = len(c.categories)
                labels = np.array(list(c.categories) + [UNKNOWN, None], dtype=object)
                out[c.name] = labels[np.where(codes < 0, k + 1, np.minimum(codes, k))]
        return pd.DataFrame(out, index=index)


def _infer_kind(s, pd) -> str:
    t = s.dtype
    if pd.api.types.is_bool_dtype(t):
        return "categorical"
    if pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_complex_dtype(t):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(t) or pd.api.types.is_timedelta64_dtype(t):
        raise ValueError(
            f"column {s.name!r} holds dates or durations ({t}); convert it to numbers "
            "(e.g. days since a date) or strings, or drop it"
        )
    if pd.api.types.is_complex_dtype(t):
        raise ValueError(f"column {s.name!r} holds complex numbers; give real columns")
    return "categorical"


def _numbers(s, name, pd) -> np.ndarray:
    """A numeric column as float64, NaN where missing; text or infinities are refused."""
    try:
        v = pd.to_numeric(s, errors="raise")
    except (ValueError, TypeError):
        bad = s[pd.to_numeric(s, errors="coerce").isna() & s.notna()]
        raise ValueError(
            f"column {name!r} is numeric but holds {bad.iloc[0]!r} (row {bad.index[0]!r}); "
            f"fix the value or declare the column categorical (kinds={{{name!r}: "
            "'categorical'}, or --kinds on the command line)"
        ) from None
    v = np.asarray(v.astype("float64"), dtype=np.float64)
    if np.isinf(v).any():
        row = s.index[int(np.flatnonzero(np.isinf(v))[0])]
        raise ValueError(f"column {name!r} holds an infinite value (row {row!r}); remove it")
    return v


# --- the model --------------------------------------------------------------------------------


def embedding_dim(k: int) -> int:
    """Embedding width for a column of ``k`` known categories: min(50, (k + 1) // 2), >= 1."""
    return max(1, min(50, (k + 1) // 2))


class TableAutoencoder(nn.Module):
    """Numeric values and missing flags, and an embedding per categorical column -> a dense
    encoder -> codings -> a dense decoder -> a value per numeric column and ``k + 1`` logits
    per categorical column. Reads and reconstructs the layout of :meth:`TableSchema.encode`."""

    def __init__(
        self,
        schema: TableSchema,
        hidden: Sequence[int],
        latent_dim: int,
        activation: str,
        init: str,
        mask_rate: float,
        l2: float,
    ):
        super().__init__()
        self.schema = schema
        self.n_numeric = len(schema.numeric)
        self.sizes = schema.sizes
        self.mask_rate = float(mask_rate)
        # each schema column's place in [numeric block, categorical block]
        blocks = [c.name for c in schema.numeric] + [c.name for c in schema.categorical]
        where = {name: i for i, name in enumerate(blocks)}
        self.order = [where[c.name] for c in schema.columns]
        # moves with the model, not saved: the schema (the builder's argument) holds it
        self.register_buffer("unknown_codes", torch.tensor(self.sizes), persistent=False)
        self.embeddings = nn.ModuleList(nn.Embedding(k + 2, embedding_dim(k)) for k in self.sizes)
        n_in = 2 * self.n_numeric + sum(embedding_dim(k) for k in self.sizes)
        n_out = self.n_numeric + sum(k + 1 for k in self.sizes)
        self.encoder = dense_stack((n_in, *hidden, latent_dim), activation, init=init)
        back = (latent_dim, *reversed(hidden))
        head = nn.Linear(back[-1], n_out)
        init_linear(head, "xavier" if init == "torch" else init)
        self.decoder = nn.Sequential(*dense_stack(back, activation, init=init), head)
        # The attributes the library's generic code reads from an autoencoder.
        self.bottleneck = None
        self.corruption = None
        self.input_transform = None
        self.output = TABLE  # not "linear": the rows hold codes and flags, scaled by nothing
        self.penalties = nn.ModuleList(l2_penalties(l2))
        self.config: dict = {}

    # --- the encoded layout -------------------------------------------------------------------
    def split(self, x: torch.Tensor):
        """(B, width) -> values (B, n_num), numeric missing (B, n_num) bool, codes
        (B, n_cat) long: -1 missing, 0..k-1 known, k unknown (clipped into that range)."""
        n, m = self.n_numeric, len(self.sizes)
        miss = x[:, n + m : 2 * n + m] > 0.5
        values = torch.where(miss, torch.zeros_like(x[:, :n]), x[:, :n])
        codes = torch.round(x[:, n : n + m]).long()
        if m:
            k = self.unknown_codes  # (n_cat,): each column's code for "unknown"
            codes = torch.where(codes < 0, torch.full_like(codes, -1), torch.minimum(codes, k))
        return values, miss, codes

    def _inputs(self, values, miss, codes) -> torch.Tensor:
        parts = [values.masked_fill(miss, 0.0), miss.to(values.dtype)]
        for j, (emb, k) in enumerate(zip(self.embeddings, self.sizes, strict=True)):
            c = codes[:, j]
            parts.append(emb(torch.where(c < 0, torch.full_like(c, k + 1), c)))  # k+1: missing
        return torch.cat(parts, 1)  # (B, 2 n_num + sum of embedding widths)

    def _heads(self, out: torch.Tensor):
        """Decoder output -> numeric predictions (B, n_num) and a list of (B, k + 1) logits."""
        logits = torch.split(out[:, self.n_numeric :], [k + 1 for k in self.sizes], dim=1)
        return out[:, : self.n_numeric], list(logits)

    def _hide(self, values, miss, codes):
        """Training only: hide ``mask_rate`` of the cells from the encoder (the target keeps
        them), so the model learns to fill cells from the rest of the row."""
        if not (self.training and self.mask_rate > 0):
            return values, miss, codes
        n = self.n_numeric
        hide = torch.rand(values.shape[0], n + codes.shape[1], device=values.device)
        hide = hide < self.mask_rate
        codes = codes.masked_fill(hide[:, n:], -1)
        return values, miss | hide[:, :n], codes

    # --- the verbs ------------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(self._inputs(*self.split(x)))

    def _decode_heads(self, z: torch.Tensor):
        return self._heads(self.decoder(z))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codings -> the encoded layout: predicted values, the most likely known category of
        each categorical column (never "unknown"), and no missing flags."""
        pred, logits = self._decode_heads(z)
        codes = [lg[:, :-1].argmax(1, keepdim=True).to(pred.dtype) for lg in logits]
        return torch.cat([pred, *codes, torch.zeros_like(pred)], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction of ``x`` in the encoded layout (every cell predicted)."""
        return self.decode(self.encode(x))

    def cell_errors(self, x: torch.Tensor) -> torch.Tensor:
        """(B, width) -> (B, n_columns) in the schema's column order: each observed cell's
        squared error (standardised) or cross-entropy (nats); 0 where the cell is missing."""
        return self._cell_errors(x)[0]

    def held_out_errors(self, x: torch.Tensor) -> torch.Tensor:
        """Like :meth:`cell_errors`, but each column's error is that of its cell predicted
        with the column hidden from the encoder (one pass per column): a corrupted cell then
        shows in its own column rather than through the codings in every column."""
        values, miss, codes = self.split(x)
        n = self.n_numeric
        out = []
        for j in range(n + codes.shape[1]):
            m, c = miss.clone(), codes.clone()
            if j < n:
                m[:, j] = True
            else:
                c[:, j - n] = -1
            out.append(self._errors(self.encoder(self._inputs(values, m, c)), values, miss, codes))
        blocks = torch.stack([e[:, j] for j, e in enumerate(out)], 1) if out else x[:, :0]
        return blocks[:, self.order]

    def _errors(self, z, values, miss, codes) -> torch.Tensor:
        pred, logits = self._decode_heads(z)
        num = (pred - values).square().masked_fill(miss, 0.0)
        cats = [
            F.cross_entropy(lg, codes[:, j].clamp(min=0), reduction="none").masked_fill(
                codes[:, j] < 0, 0.0
            )
            for j, lg in enumerate(logits)
        ]
        return torch.cat([num, *[c[:, None] for c in cats]], 1)  # (B, n_num + n_cat)

    def _cell_errors(self, x: torch.Tensor):
        values, miss, codes = self.split(x)
        z = self.encoder(self._inputs(*self._hide(values, miss, codes)))
        pred, logits = self._decode_heads(z)
        num = (pred - values).square().masked_fill(miss, 0.0)  # (B, n_num)
        cats = []
        for j, lg in enumerate(logits):
            c = codes[:, j]
            ce = F.cross_entropy(lg, c.clamp(min=0), reduction="none")  # (B,)
            cats.append(ce.masked_fill(c < 0, 0.0))
        cat = torch.stack(cats, 1) if cats else pred.new_zeros(pred.shape[0], 0)
        return torch.cat([num, cat], 1)[:, self.order], num, cat, z

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total and parts: ``numeric`` (squared error) and ``categorical`` (cross-entropy),
        each summed over a row's observed cells and averaged over the rows, then penalties."""
        _, num, cat, z = self._cell_errors(x)
        parts = {"numeric": num.sum(1).mean(), "categorical": cat.sum(1).mean()}
        for penalty in self.penalties:
            parts[penalty.name] = penalty(self, x, z)
        return sum(parts.values()), parts


@register(TABLE)
def table(
    n_features: int,
    schema: dict | None = None,
    hidden: Sequence[int] = (64,),
    latent_dim: int | None = None,
    activation: str = "elu",
    init: str = "he",
    mask_rate: float = 0.2,
    l2: float = 0.0,
) -> TableAutoencoder:
    """An autoencoder for tables of numeric and categorical columns with missing cells.

    ``schema``: ``TableSchema.infer(df).to_dict()`` (``n_features`` is then its ``width``);
    without one the model reads ``n_features // 2`` numeric columns and their missing flags.
    Categorical columns are embedded (min(50, (k+1)//2) numbers) and reconstructed with
    cross-entropy, numeric ones with squared error; missing cells are left out of the loss.
    ``latent_dim`` defaults to half the columns, between 2 and 16. In training ``mask_rate``
    of the cells are hidden from the encoder and still reconstructed (for imputation).
    """
    if not isinstance(n_features, int) or isinstance(n_features, bool) or n_features <= 0:
        raise ValueError(f"n_features={n_features!r} must be a positive integer")
    if schema is None:
        if n_features % 2:
            raise ValueError(
                f"n_features={n_features!r}: without a schema a table model reads numeric "
                "columns and their missing flags (an even width); pass "
                "schema=TableSchema.infer(df).to_dict()"
            )
        cols = [Column(f"x{i}", "numeric") for i in range(n_features // 2)]
        spec = TableSchema(cols)
    else:
        spec = TableSchema.from_dict(schema)
    if spec.width != n_features:
        raise ValueError(
            f"n_features={n_features} but the schema's encoded width is {spec.width} "
            f"(2 x {len(spec.numeric)} numeric + {len(spec.categorical)} categorical columns); "
            "pass n_features=schema.width"
        )
    n_cols = len(spec.columns)
    if latent_dim is None:
        latent_dim = max(2, min(16, (n_cols + 1) // 2))
    latent_dim = parse_sizes([latent_dim], "latent_dim")[0]
    sizes = parse_sizes([hidden] if isinstance(hidden, int) else hidden) if hidden else ()
    if isinstance(mask_rate, bool) or not isinstance(mask_rate, (int, float)):
        raise ValueError(f"mask_rate={mask_rate!r} must be a number in [0, 1)")
    if not 0 <= mask_rate < 1:
        raise ValueError(f"mask_rate={mask_rate!r} must be in [0, 1) (0 hides no cell)")
    return TableAutoencoder(spec, sizes, latent_dim, activation, init, mask_rate, l2)


# --- DataFrames in and out ------------------------------------------------------------------


def model_schema(model: nn.Module) -> TableSchema:
    """The schema of a table model (from ``build("table", ...)`` or ``codings.load``)."""
    schema = getattr(model, "schema", None)
    if not isinstance(schema, TableSchema):
        raise TypeError(
            f"{type(model).__name__} is not a table model; build one with "
            "codings.build('table', n_features=schema.width, schema=schema.to_dict())"
        )
    return schema


def baseline_losses(model: nn.Module, X_train, X_eval=None) -> dict[str, float]:
    """The loss parts of a table model's yardstick: a guess that ignores the rest of the row,
    each numeric column's training mean and each categorical column's training frequencies
    (add-one smoothed over its known categories and "unknown").

    ``X_train``, ``X_eval``: rows in the schema's encoded layout (:meth:`TableSchema.encode`);
    the parts are measured on ``X_eval`` (default ``X_train``) the way the model's loss is:
    ``numeric`` the squared error (standardised units) summed over a row's observed cells,
    ``categorical`` the cross-entropy (nats) likewise, both averaged over the rows. A model
    whose parts are not well below these has learnt nothing from the other columns.
    """
    schema = model_schema(model)
    n, sizes = len(schema.numeric), schema.sizes
    m = len(sizes)

    def split(X):
        X = np.asarray(X, dtype=np.float64)
        miss = X[:, n + m : 2 * n + m] > 0.5
        codes = np.rint(X[:, n : n + m]).astype(np.int64)
        codes = np.where(codes < 0, -1, np.minimum(codes, sizes))  # -1 missing, k unknown
        return X[:, :n], miss, codes

    values, miss, codes = split(X_train)
    seen = (~miss).sum(0)
    means = np.where(seen > 0, np.where(miss, 0.0, values).sum(0) / np.maximum(seen, 1), 0.0)
    logp = []
    for j, k in enumerate(sizes):
        counts = np.bincount(codes[:, j][codes[:, j] >= 0], minlength=k + 1)[: k + 1] + 1.0
        logp.append(np.log(counts / counts.sum()))
    values, miss, codes = split(X_train if X_eval is None else X_eval)
    numeric = np.where(miss, 0.0, (values - means) ** 2).sum(1)
    categorical = np.zeros(len(values))
    for j, lp in enumerate(logp):
        c = codes[:, j]
        categorical -= np.where(c >= 0, lp[np.maximum(c, 0)], 0.0)
    return {"numeric": float(numeric.mean()), "categorical": float(categorical.mean())}


def column_errors(model: nn.Module, df, *, held_out: bool = False, batch_size: int | None = None):
    """Per row and column, the cell's part of the row's reconstruction error (see module).

    ``held_out=True``: each cell's error when its column is hidden from the encoder (one pass
    per column), which points at a corrupted cell more reliably, since a far-off value
    otherwise shifts the codings and with them every column's reconstruction.
    """
    from .inference import batched

    schema = model_schema(model)
    X = schema.encode(df)
    fn = model.held_out_errors if held_out else model.cell_errors
    E = batched(fn, X, model=model, batch_size=batch_size)
    pd = _pandas()
    out = pd.DataFrame(E.astype(np.float64), index=df.index, columns=schema.names)
    return out[list(df.columns)]


def reconstruct_table(model: nn.Module, df, *, batch_size: int | None = None):
    """Every cell of ``df`` as the model predicts it (a DataFrame of the schema's columns)."""
    from .inference import batched

    schema = model_schema(model)
    R = batched(model, schema.encode(df), model=model, batch_size=batch_size)
    return schema.decode(R, index=df.index)[list(df.columns)]


def impute(model: nn.Module, df, *, batch_size: int | None = None):
    """``df`` with each missing cell filled by the model's reconstruction (numbers
    de-standardised, categories by the most likely known one); the rest unchanged."""
    pd = _pandas()
    schema = model_schema(model)
    filled = reconstruct_table(model, df, batch_size=batch_size)
    out = df.copy()
    for name in df.columns:
        miss = df[name].isna().to_numpy()
        if not miss.any():
            continue
        col = out[name]
        new = filled[name].to_numpy()[miss]
        if schema.kinds[name] == "numeric" and pd.api.types.is_integer_dtype(col.dtype):
            new = np.rint(new)  # a nullable integer column takes whole numbers
        if isinstance(col.dtype, pd.CategoricalDtype):
            out[name] = col.where(~miss, pd.Series(filled[name].to_numpy(), index=df.index))
            continue
        values = col.to_numpy(dtype=object, copy=True)
        values[miss] = new
        out[name] = pd.Series(values, index=df.index, name=name).astype(col.dtype)
    return out
