"""The command line's table verbs: ``codings train table --data file.csv`` and a table run's
``eval``, ``encode``, ``reconstruct`` and ``impute`` on a CSV file.

A CSV file is read with its header by pandas (the ``tables`` extra); the run's schema (in the
model's checkpoint header) turns it into the rows the model takes, and refuses a file whose
columns differ. The schema standardises the numeric columns itself, so the run keeps no other
scaling. :mod:`codings.cli` calls these with a few lines; errors are ``ValueError`` lines.
A client, it sits in the layer below the command line, beside the tour.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .tables import TABLE, TableSchema, is_table_model, model_schema


def is_table(model) -> bool:
    """Whether ``model`` (a name on the command line, or a module) is a table model."""
    return model == TABLE if isinstance(model, str) else is_table_model(model)


def parse_kinds(text: str | None) -> dict[str, str]:
    """``"col=categorical,col2=numeric"`` -> ``{"col": "categorical", "col2": "numeric"}``."""
    kinds: dict[str, str] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        if "=" not in item:
            raise ValueError(
                f"--kinds {item!r} must look like COLUMN=KIND, e.g. --kinds zip=categorical"
            )
        name, kind = (t.strip() for t in item.rsplit("=", 1))
        kinds[name] = kind
    return kinds


def read_csv(path: str | Path):
    """A CSV file with a header line as a DataFrame (blank cells are missing)."""
    from .tables import _pandas

    pd = _pandas()
    path = Path(path)
    if path.suffix.lower() != ".csv":
        raise ValueError(f"{path}: a table model reads a .csv file with a header line")
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a readable CSV file ({e})") from None
    if len(df) == 0:
        raise ValueError(f"{path}: the file has a header but no rows")
    first = df.columns[0]
    if str(first).startswith("Unnamed: 0") and len(df.columns) > 1:
        from .datasets import ROW_INDEX_NOTE, is_row_index

        col = df[first]
        if pd.api.types.is_numeric_dtype(col) and is_row_index(col.to_numpy(np.float64)):
            print(f"codings: note: {path}: {ROW_INDEX_NOTE}", file=sys.stderr)
            df = df.drop(columns=first)
    return df


def training_table(path: str, kinds_text: str | None, quiet: bool):
    """``train table``: the file's rows encoded by the schema inferred from them, the schema,
    and a :class:`~codings.datasets.Dataset` for the command (no image shape, no scaling)."""
    from .datasets import Dataset

    df = read_csv(path)
    schema = TableSchema.infer(df, kinds=parse_kinds(kinds_text))
    if not quiet:
        n_cat = len(schema.categorical)
        print(
            f"codings: {path}: {len(df)} rows, {len(schema.numeric)} numeric and {n_cat} "
            f"categorical columns (--kinds COLUMN=KIND to change one):",
            file=sys.stderr,
        )
        for line in schema.describe().splitlines():
            print(f"  {line}", file=sys.stderr)
    ds = Dataset(
        X=schema.encode(df),
        y=None,
        image_shape=None,
        name=Path(path).name,
        split="all",
        n_classes=None,
        feature_names=tuple(encoded_names(schema)),
    )
    return ds, schema


def encoded_names(schema: TableSchema) -> list[str]:
    """A name for each column of the encoded rows (for figures)."""
    return (
        [str(c.name) for c in schema.numeric]
        + [f"{c.name} (code)" for c in schema.categorical]
        + [f"{c.name} (missing)" for c in schema.numeric]
    )


def run_table(path: str, run):
    """A CSV file for a table run: the DataFrame and its rows encoded by the run's schema
    (a file with other columns is refused, naming the column)."""
    schema = model_schema(run.model)
    df = read_csv(path)
    try:
        return df, schema.encode(df)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def write_table(df, path: str, *, force: bool = True) -> None:
    """Write a DataFrame as CSV, atomically; refuse to replace a file unless ``force``."""
    from .checkpoint import atomic_write

    p = Path(path)
    if p.suffix.lower() != ".csv":
        raise ValueError(f"output {path!r} must end in .csv")
    if p.exists() and not force:
        raise ValueError(f"{path} exists; use --force to replace it, or another --out")
    atomic_write(p, df.to_csv(index=False).encode())


def cmd_impute(args, run, emit) -> int:
    """``codings impute RUN --data file.csv --out filled.csv``."""
    from .tables import impute

    if not is_table(run.model):
        raise ValueError(
            f"{args.dir} holds a {run.model.config.get('name')!r} model; impute needs a table "
            "model (codings train table --data file.csv)"
        )
    if Path(args.out).resolve() == Path(args.data).resolve():
        raise ValueError(f"--out {args.out} is the input file; write the result elsewhere")
    if Path(args.out).exists() and not args.force:
        raise ValueError(f"{args.out} exists; use --force to replace it, or another --out")
    df, _ = run_table(args.data, run)
    filled = impute(run.model, df)
    write_table(filled, args.out, force=args.force)
    n = int(df.isna().to_numpy().sum())
    per_column = {str(k): int(v) for k, v in df.isna().sum().items() if v}
    emit(
        args,
        {"output": args.out, "rows": len(df), "filled": n, "per_column": per_column},
        [f"filled {n} missing cells of {len(df)} rows -> {args.out}"]
        + [f"  {k:20s} {v}" for k, v in per_column.items()],
    )
    return 0


def _not_for_tables(args, what: str) -> None:
    if getattr(args, what, None):
        flag = "--" + what.replace("_", "-")
        raise ValueError(f"{flag} does not apply to a table model")


def cmd_eval(args, run, emit) -> int:
    """``codings eval RUN --data file.csv`` for a table run: the loss and its parts."""
    from . import evaluate

    _not_for_tables(args, "binarize")
    _not_for_tables(args, "nll_samples")
    _, X = run_table(args.dataset, run)
    metrics = evaluate(run.model, X, seed=args.seed)
    name = Path(args.dataset).name
    result = {"dataset": name, "split": "all", "n": len(X), **metrics}
    lines = [f"table on {name} (the whole file, {len(X)} rows)"]
    lines += [f"  {k:16s} {v:.6g}" for k, v in metrics.items()]
    emit(args, result, lines)
    return 0


def cmd_encode(args, run, emit, write_array) -> int:
    """``codings encode RUN file.csv codings.(csv|npy)`` for a table run."""
    from .metrics import encode

    _, X = run_table(args.input, run)
    Z = encode(run.model, X)
    write_array(args.output, Z, header=[f"z{i}" for i in range(Z.shape[1])])
    emit(
        args,
        {"output": args.output, "shape": list(Z.shape)},
        [f"wrote codings {tuple(Z.shape)} -> {args.output}"],
    )
    return 0


def cmd_reconstruct(args, run, emit) -> int:
    """``codings reconstruct RUN file.csv recon.csv`` for a table run: every cell as the model
    predicts it, and the loss parts on the file."""
    from . import evaluate
    from .tables import reconstruct_table

    _not_for_tables(args, "plot")
    df, X = run_table(args.input, run)
    R = reconstruct_table(run.model, df)
    write_table(R, args.output)
    metrics = evaluate(run.model, X)
    result = {"output": args.output, "shape": list(R.shape), **metrics}
    lines = [f"wrote reconstructions {R.shape} -> {args.output}"]
    lines += [f"  {k:16s} {v:.6g}" for k, v in metrics.items()]
    emit(args, result, lines)
    return 0
