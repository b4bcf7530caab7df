"""The ``codings`` command line: it parses arguments, calls the library and writes files."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

# Only what building the parser needs: numpy, torch and the library load inside the commands,
# so `codings --help` and argument errors return at once.
from . import __version__, defaults
from .choices import CLASSIFIER_MODES, LR_SCHEDULES, OPTIMIZERS, PRECISIONS, STEPS

if TYPE_CHECKING:
    import numpy as np

    from .datasets import Scaling

EXIT_ERROR = 1


class CLIError(ValueError):
    """A problem with what the user asked for, reported as one line."""


# --- option values, checked when parsing ------------------------------------------------------


def _number(text: str, cast=float):
    try:
        return cast(text)
    except ValueError:
        what = "an integer" if cast is int else "a number"
        raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None


def _at_least(low: int):
    """An integer option's type: at least ``low``."""

    def check(text: str) -> int:
        value = _number(text, int)
        if value < low:
            raise argparse.ArgumentTypeError(f"at least {low} (got {text!r})")
        return value

    return check


def _positive(text: str) -> float:
    """A finite number above 0 (a learning rate, a clipping norm)."""
    value = _number(text)
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number (got {text!r})")
    return value


def _non_negative(text: str) -> float:
    value = _number(text)
    if not (0 <= value < float("inf")):
        raise argparse.ArgumentTypeError(f"a number >= 0 (got {text!r})")
    return value


def _fraction(text: str) -> float:
    """A share of the rows: strictly between 0 and 1."""
    value = _number(text)
    if not (0 < value < 1):
        raise argparse.ArgumentTypeError(f"strictly between 0 and 1 (got {text!r})")
    return value


def _rate(text: str) -> float:
    """A dropout rate: from 0 to below 1."""
    value = _number(text)
    if not (0 <= value < 1):
        raise argparse.ArgumentTypeError(f"from 0 to below 1 (got {text!r})")
    return value


# --- files the commands must not destroy ------------------------------------------------------

_RUN_LOCKS: list = []  # the runs this process writes, locked until main returns


def _create_run(out: Path, *, exist_ok: bool, holds: str, fix: str, command: str = "train"):
    """A locked run folder for --out (see codings.runs.Run.create), its refusals said in the
    command line's words. Under torchrun, rank 0 alone writes the run (and holds the lock)."""
    import os

    from .runs import Run, RunExists, RunLocked, RunNotWritable

    try:
        run = Run.create(out, exist_ok=exist_ok, lock=os.environ.get("RANK", "0") == "0")
    except RunNotWritable as e:
        raise CLIError(
            f"--out {out} cannot be written ({e.reason}); choose another --out"
        ) from None
    except RunLocked:
        raise CLIError(
            f"another codings {command} is writing to {out} (lock {out / '.lock'}); "
            "wait for it or choose another --out"
        ) from None
    except RunExists:
        raise CLIError(f"{out} already holds {holds}; {fix}") from None
    _RUN_LOCKS.append(run)
    return run


def _release_run_locks() -> None:
    while _RUN_LOCKS:
        _RUN_LOCKS.pop().close()


def _refuse_same_file(source: str, target: str) -> None:
    """Writing the output over the input would destroy the user's data."""
    import os

    same = Path(source).resolve() == Path(target).resolve()
    try:
        same = same or os.path.samefile(source, target)
    except OSError:  # the output does not exist yet
        pass
    if same:
        raise CLIError(
            f"the output {target} is the input file {source}; choose another output file "
            "(nothing was written)"
        )


# --- shared pieces ----------------------------------------------------------------------------


RUN_DIR_HELP = "a folder written by `codings train` (or the model.safetensors file in it)"
DATA_DIR_HELP = "where the data files are (default: $CODINGS_DATA_DIR, then the cache)"


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dataset",
        "--data",  # the exact word, else argparse finds it ambiguous with --data-dir
        required=True,
        help="iris, digits, mnist, fashion-mnist, or a .npy/.npz/.csv file",
    )
    p.add_argument("--data-dir", help=DATA_DIR_HELP)


def _add_json(p: argparse.ArgumentParser) -> None:
    """The output options every command has: --json and --quiet."""
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object on standard output (progress still goes to standard "
        "error, never into the JSON; add --quiet to silence it)",
    )
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress on standard error (warnings and errors still show)",
    )


def _progress(args):
    """The progress reporter for a command: a bar on standard error unless --quiet."""
    if getattr(args, "quiet", False) or getattr(args, "no_progress", False):
        return False
    from .progress import Progress

    return Progress()


def parse_value(text: str):
    """'3' -> 3, '0.5' -> 0.5, 'true' -> True, '300,150' -> [300, 150], else the string."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    if "," in text:
        return [parse_value(t) for t in text.split(",") if t]
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def load_data(name: str, split: str, data_dir: str | None, *, sequences: bool = False):
    """A Dataset for a dataset name, or a user file wrapped as one.

    ``sequences``: for a sequence model, a 3-D file's (time steps, channels) is the shape, and
    a 2-D file's rows are never guessed to be square images."""
    from .datasets import DATASETS, Dataset, load_dataset

    if name in DATASETS:
        from .datasets import DataError

        try:
            return load_dataset(name, split, data_dir=data_dir, progress=sys.stderr.isatty())
        except DataError as e:  # say it as a command-line user writes it
            text = str(e).replace("data_dir=DIR to load_dataset", "--data-dir DIR")
            text = text.replace("data_dir= to a directory", "--data-dir DIR, a directory")
            raise CLIError(text) from None
    path = Path(name)
    if path.suffix.lower() in (".npy", ".npz", ".csv"):
        user = _read_user_file(path, sequences=sequences)
        X = user.X
        return Dataset(
            X=X,
            y=None,
            image_shape=user.image_shape or (None if sequences else _guess_shape(X.shape[1])),
            name=path.name,
            split="all",
            n_classes=None,
            feature_names=tuple(user.columns) if user.columns else None,
        )
    raise CLIError(
        f"--dataset {name!r} is neither a known data set ({', '.join(DATASETS)}) nor a "
        ".npy, .npz or .csv file"
    )


def _sizes(text: str) -> tuple[int, ...]:
    from .choices import parse_sizes

    try:
        return parse_sizes(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _guess_shape(d: int) -> tuple[int, int] | None:
    from .choices import square_image_shape

    return square_image_shape(d, min_side=4)  # smaller squares are more likely tables


def user_split(X: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split of a user's array into training and validation rows."""
    import numpy as np

    idx = np.random.default_rng(seed).permutation(len(X))
    n_val = int(round(len(X) * fraction))
    if n_val < 1 or n_val >= len(X):
        return X, X[:0]
    return X[idx[n_val:]], X[idx[:n_val]]


def _scaling(kind: str, ds, X: np.ndarray, output: str) -> Scaling | None:
    from .datasets import fit_scaling

    images = ds.image_shape is not None
    if images and ds.split == "all":
        # A user's file: a square number of columns may be a table, not images; pixels in
        # [0, 1] are left alone, anything else is scaled as a table.
        images = bool(X.min() >= 0 and X.max() <= 1)
    return fit_scaling(kind, output, X, images=images)


def emit(args, result: dict, lines: list[str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(result, default=float))
    else:
        print("\n".join(lines))


def _open_run(path: str):
    """The run in ``path`` (a folder or its model file), its model loaded and checked now."""
    from .runs import Run

    run = Run.open(path)
    run.model  # noqa: B018 (the weights are read and checked before any data)
    return run


def _read_user_file(path, *, sequences: bool = False):
    """A user's file as rows (images flattened and scaled, with a note on standard error)."""
    from .datasets import read_user_file

    user = read_user_file(path)
    note = user.note
    if sequences and user.image_shape is not None:
        note = _sequence_note(len(user.X), user.image_shape, "divided by 255" in user.note)
    if note:
        print(f"codings: note: {path}: {note}", file=sys.stderr)
    return user


def _sequence_note(n: int, shape: tuple[int, int], divided: bool) -> str:
    """What reading a 3-D file did, said for a sequence model (the shape's (T, C))."""
    note = f"read {n} sequences of {shape[0]} time steps x {shape[1]} channels"
    return note + ("; uint8 values divided by 255" if divided else "")


def _read_model_input(path: str, run):
    """A user's file of rows for ``run``'s model: a UserFile whose rows have the model's width."""
    if run.metadata.get("window"):
        from .datasets import UserFile

        return UserFile(_series_rows(path, run)[0])
    user = _read_user_file(path, sequences=hasattr(run.model, "sequence_shape"))
    run.check_input(user.X, source=str(path), image_shape=user.image_shape)
    return user


def _write_array(path: str, arr: np.ndarray, header: list[str] | None = None) -> None:
    """Write ``arr`` to a .npy or .csv file; a CSV gets ``header`` as its first line."""
    import numpy as np

    from .checkpoint import atomic_write

    p = Path(path)
    if p.suffix == ".npy":
        import io

        buf = io.BytesIO()
        np.save(buf, arr)
        atomic_write(p, buf.getvalue())
    elif p.suffix == ".csv":
        import io

        buf = io.StringIO()
        if header is not None:
            import csv

            csv.writer(buf, lineterminator="\n").writerow(header)
        np.savetxt(buf, arr, delimiter=",", fmt="%.8g")
        atomic_write(p, buf.getvalue().encode())
    else:
        raise CLIError(f"output {path!r} must end in .npy or .csv")


# --- commands ---------------------------------------------------------------------------------


# Registered models that `codings train` does not train, and the command that does.
NOT_FOR_TRAIN = {"classifier": "classify"}


def cmd_list(args) -> int:
    from .models import builder_params, load_builders

    MODELS = load_builders()
    result = {}
    lines = []
    elsewhere = []
    for name in sorted(MODELS):
        params = {
            k: (None if p.default is p.empty else p.default)
            for k, p in builder_params(name).items()
            if k != "n_features"
        }
        doc = (MODELS[name].__doc__ or "").strip().splitlines()[0]
        command = NOT_FOR_TRAIN.get(name, "train")
        result[name] = {"doc": doc, "arguments": params, "command": command}
        args_txt = ", ".join(f"{k}={v!r}" for k, v in params.items())
        entry = f"{name:12s} {doc}\n{'':12s} ({args_txt})"
        (lines if command == "train" else elsewhere).append(entry)
    if elsewhere:
        lines.append("\ntrained on the encoder of a trained model with `codings classify DIR`:")
        lines += elsewhere
    emit(args, {"models": result}, lines)
    return 0


def model_kwargs(args, n_features: int, image_shape=None) -> dict:
    """Builder arguments from the command line's flags and --set KEY=VALUE pairs.

    A builder with an ``image_shape`` argument gets the data set's, unless --set gives one.
    """
    from .specs import BUILDER_ARGS, builder_kwargs

    extra = {}
    for item in args.set or ():
        if "=" not in item:
            raise CLIError(f"--set {item!r} must look like KEY=VALUE, e.g. --set sigma=0.3")
        key, value = item.split("=", 1)
        extra[key.replace("-", "_")] = parse_value(value)
    given = {key: getattr(args, key) for key in BUILDER_ARGS}
    given["tied"] = given["tied"] or None  # --tied absent: the builder's default
    try:
        return builder_kwargs(args.model, n_features, given, extra, image_shape=image_shape)
    except ValueError as e:
        raise CLIError(str(e)) from None


def cmd_train(args) -> int:
    from . import build, evaluate, fit
    from .diagnostics import check_data, check_model
    from .metrics import reconstruct
    from .models import builder_params, check_name
    from .plots import feature_columns, layerwise_reconstructions, model_figures, reconstructions
    from .tablecli import is_table, training_table

    if args.model in NOT_FOR_TRAIN:
        command = NOT_FOR_TRAIN[args.model]
        raise CLIError(
            f"a {args.model} is trained on the encoder of a trained autoencoder with "
            f"`codings {command} DIR --dataset NAME` (see `codings {command} --help`), "
            "not with `codings train`"
        )
    check_name(args.model)
    sequences = "sequence_shape" in builder_params(args.model)  # recurrent, conv1d
    out = Path(args.out)
    run = _create_run(  # before the checks below: two runs must not both find --out free
        out,
        exist_ok=args.resume or args.overwrite,
        holds="a trained model",
        fix="use --resume, --overwrite or another --out",
    )
    state_path = out / "train_state.safetensors"
    if args.resume and not state_path.exists():
        raise CLIError(f"--resume: {state_path} does not exist; start without --resume")

    table = is_table(args.model)  # a CSV read by pandas; its schema scales the numbers
    if table:
        ds, schema = training_table(args.dataset, args.kinds, args.quiet)
    elif not args.window:
        ds = load_data(args.dataset, "train", args.data_dir, sequences=sequences)
    if args.kinds and not table:
        raise CLIError("--kinds applies to `codings train table` only")
    if table and (args.layerwise or args.binarize):
        raise CLIError("--layerwise and --binarize do not apply to a table model")
    if table and args.window:
        raise CLIError("--window cuts a series into windows; it does not apply to a table model")
    if args.window:  # a series: windows of its first part, validation windows of its last
        ds, X, Xv, series_train = _series_split(args)
    elif ds.split == "all":  # a user's file: hold out a seeded validation share
        X, Xv = user_split(ds.X, args.val_fraction, args.seed)
    else:
        X = ds.X
        val = load_data(args.dataset, "validation", args.data_dir)
        Xv = val.X
    if X.shape[1] == 1 and not table:
        raise CLIError(
            f"{ds.name} has one value per row ({len(ds.X)} rows): an autoencoder needs several "
            "values per row to compress. If the rows are the time steps of a series, cut it into "
            "windows of several steps: --window 64 (and --stride to space them)"
        )
    kwargs = model_kwargs(args, X.shape[1], ds.image_shape)
    if table:
        kwargs["schema"] = schema.to_dict()
    model = build(args.model, seed=args.seed, **_sequence_kwargs(args, kwargs, X.shape[1]))
    if table and args.scale not in ("auto", "none"):
        raise CLIError(f"--scale {args.scale}: a table's schema standardises its numbers itself")
    scaling = None if table else _scaling(args.scale, ds, X, getattr(model, "output", "linear"))
    if args.window:  # one scaling per channel, fitted on the training part of the series
        scaling = _series_scaling(args, series_train, getattr(model, "output", "linear"))
    if scaling is not None:
        X, Xv = scaling.forward(X), scaling.forward(Xv)
    if args.binarize:
        Xv = _binarized(Xv, scaling, "train")
    if args.binarize:
        from .generative import Binarize

        model.input_transform = Binarize()  # a fresh binary draw of every batch, in training
    from .distributed import init_from_env, is_main_process

    device = init_from_env(args.device)  # joins the process group under torchrun
    findings = check_data(model, X) if is_main_process() else []
    _refuse_out_of_range(findings)
    _print_warnings(findings)  # now, not after a long training
    epochs = args.epochs
    if epochs is None and args.patience is None and not args.layerwise:
        # below SMALL_ROWS rows a fixed budget of steps, as the estimators do: a held-out share
        # of a few dozen rows is too few to stop on (it still gives the reported metrics)
        epochs = defaults.small_data_epochs(len(X), args.batch_size)
    epochs, patience, callbacks, stopper = defaults.stopping(
        epochs, args.patience, len(X), args.batch_size
    )
    options = train_options(args, epochs=epochs, patience=patience, device=device)
    loggers = _loggers(args, run)
    if args.layerwise:
        history, layerwise_rows = _fit_layerwise(args, model, X, Xv, options)
    else:
        resume = state_path if args.resume else None
        options = replace(options, checkpoint=state_path, resume=resume)
        X_val = Xv if len(Xv) else None
        history = _fit_for_cli(
            fit, model, X, X_val=X_val, options=options, callbacks=callbacks, loggers=loggers
        )
        if stopper is not None:
            stopper.restore(model)  # the best epoch's weights, also when the cap ended the run
    if not is_main_process():
        return 0  # rank 0 alone writes the model, history and figures, and reports
    final = evaluate(model, Xv if len(Xv) else X, seed=args.seed)  # a VAE's draws too
    _check_finite(final)
    baselines, late = check_model(model, X, Xv, losses=final)
    _print_warnings(late)
    findings += late
    meta = {
        "n_features": int(X.shape[1]),
        "image_shape": list(ds.image_shape) if ds.image_shape else None,
        "dataset": ds.name,
        # Without validation rows (a tiny file) the numbers are the training rows': say so.
        "metrics": {f"{'val' if len(Xv) else 'train'}_{k}": v for k, v in final.items()}
        | {k: v for k, v in baselines.items() if k.startswith("baseline_")},
    }
    if args.window:  # what eval, encode, reconstruct and score do to a series before the model
        channels = int(X.shape[1] // args.window)
        meta["window"] = {"length": args.window, "stride": args.stride, "channels": channels}
    data = {"train": X, "validation": Xv}
    figures = _write_run(run, args, model, scaling, meta, history, data, options)
    R = reconstruct(model, Xv[:10] if len(Xv) else X[:10])
    shown = Xv[:10] if len(Xv) else X[:10]
    recon = run.figure_path("reconstructions.png")
    if ds.image_shape is not None and scaling is None:
        figures.append(str(reconstructions(shown, R, ds.image_shape, recon)))
        figures += [str(f) for f in model_figures(model, Xv if len(Xv) else X, ds.image_shape, out)]
        if args.layerwise:
            rows, labels = layerwise_rows
            path = layerwise_reconstructions(
                rows, labels, ds.image_shape, run.figure_path("layerwise_reconstructions.png")
            )
            figures.append(str(path))
    elif args.window:
        from .plots import window_lines

        figures.append(str(window_lines(shown, R, meta["window"]["channels"], recon)))
    elif table:  # the numeric columns, standardised: codes and flags are no bars to compare
        k = len(schema.numeric)
        if k:
            names = [str(c.name) for c in schema.numeric]
            figures.append(str(feature_columns(shown[:, :k], R[:, :k], recon, names=names)))
    else:
        names = getattr(ds, "feature_names", None)  # iris's, or a CSV file's header
        figures.append(str(feature_columns(shown, R, recon, names=names)))
    for logger in loggers:  # the figures at the end (TensorBoard's images), then closed
        getattr(logger, "figures", lambda paths: None)(figures)
        getattr(logger, "close", lambda: None)()
    from .report import write_report

    report = write_report(run)  # last: it shows every figure above
    result = {"out": str(out), "epochs": len(history), **meta["metrics"], "figures": figures}
    result["report"] = str(report)
    if table:
        result["schema"] = schema.to_dict()
    result["warnings"] = [{"check": f.check, "message": f.message} for f in findings]
    lines = [f"trained {args.model} on {ds.name} for {len(history)} epochs -> {out}"]
    lines += [f"  {k:28s} {v:.6g}" for k, v in meta["metrics"].items()]
    lines += [f"  figure: {f}" for f in figures]
    lines.append(f"  report: {report} (open it in a browser)")
    emit(args, result, lines)
    return 0


def _write_run(run, args, model, scaling, meta: dict, history, data: dict, training) -> list[str]:
    """The model (its header: ``meta``, the scaling and the options), the history, the metrics,
    the options with the data's fingerprints, and the training curves; the figures drawn.
    ``options.json`` holds the command's flags and, under ``training``, the training options
    as resolved (the stopping rule's epochs and patience, the checkpoint, ...)."""
    from .plots import training_curves

    options = {k: v for k, v in vars(args).items() if k != "func"}
    run.write_model(model, scaling=scaling, **meta, train_args=options)
    run.write_history(history)
    run.write_metrics(meta["metrics"])
    run.write_options(options, data, training=training.to_dict())
    return [str(training_curves(history.records, run.figure_path("curves.png")))]


def _refuse_out_of_range(findings) -> None:
    """A Bernoulli loss on data outside [0, 1] is meaningless (negative): an error here."""
    for f in findings:
        if f.check == "out_of_range":
            raise CLIError(
                f"{f.message}; on the command line: --scale minmax, or divide by 255 for "
                "pixel values"
            )


#: The command line's name of each training argument a resume must keep (codings.fit's names).
_RESUME_OPTIONS = {
    "lr": "--lr",
    "batch_size": "--batch-size",
    "optimizer": "--optimizer",
    "clip_norm": "--clip-norm",
    "weight_decay": "--weight-decay",
    "seed": "--seed",
    "patience": "--patience",
    "lr_schedule": "--lr-schedule",
    "precision": "--precision",
    "epochs": "--epochs",
}


def _fit_for_cli(fit, *args, **kw):
    """``fit``, with a refused ``--resume`` told in the command line's words."""
    from .checkpoint import ResumeMismatch

    try:
        return fit(*args, **kw)
    except ResumeMismatch as e:
        fix = "resume with the same options or start a new --out"
        if e.key in ("data", "val_data"):
            raise CLIError(
                f"--resume: the data differ from the run's (another --dataset, file, --scale, "
                f"--val-fraction or --binarize); {fix}"
            ) from None

        def shown(v):
            return "unset" if v is None else str(v)

        option = _RESUME_OPTIONS.get(e.key, e.key)
        raise CLIError(
            f"{option} {shown(e.given)} differs from the run's {shown(e.saved)}; {fix}"
        ) from None


def _check_finite(metrics: dict) -> None:
    """A model whose final losses are not finite is never written as a result."""
    import math

    from .train import TrainingDiverged

    bad = [f"{k}={v}" for k, v in metrics.items() if not math.isfinite(v)]
    if bad:
        raise TrainingDiverged(
            f"the trained model's losses are not finite ({', '.join(bad)}); nothing was written. "
            "Try a smaller --lr, --clip-norm 1.0, or check how the data are scaled (--scale)"
        )


def _print_warnings(findings) -> None:
    for f in findings:
        print(f"warning: {f.message}", file=sys.stderr)


def _loggers(args, run) -> list:
    """`--log`: history.csv always (rewritten after every epoch, to follow a long run), and
    TensorBoard event files in RUN/tensorboard when asked."""
    from .distributed import is_main_process
    from .logs import CSVLogger, TensorBoardLogger

    if not is_main_process():
        return []
    if "tensorboard" in (args.log or ()) and args.layerwise:
        raise CLIError(
            "--log tensorboard does not apply to --layerwise training (each phase is a run of "
            "its own); train without --layerwise, or read the phases from history.json"
        )
    loggers: list = [CSVLogger(run.path / "history.csv")]
    if "tensorboard" in (args.log or ()):
        try:
            loggers.append(TensorBoardLogger(run.path / "tensorboard"))
        except ImportError as e:
            raise CLIError(str(e)) from None
    return loggers


def train_options(args, **run):
    """The training options of a command's flags: the one place they are read. Each flag
    named as an option (``--clip-norm`` for ``clip_norm``, ...) gives it; ``run`` sets what the
    command decides itself (the stopping rule's epochs and patience, the device)."""
    from .options import FIELDS, TrainOptions

    flags = {k: getattr(args, k) for k in FIELDS if hasattr(args, k) and k != "resume"}
    return TrainOptions(**{**flags, "progress": _progress(args), **run})


def _fit_layerwise(args, model, X, Xv, options):
    """`train --layerwise`: the phases' histories as one, and the figure's rows (after each
    phase, before any fine-tuning, the reconstructions of the first validation examples)."""
    from .layerwise import flat_history, pretrain_layerwise
    from .metrics import reconstruct
    from .train import History

    if args.resume:
        raise CLIError("--resume does not apply to --layerwise training; start it again")
    shown = Xv[:10] if len(Xv) else X[:10]
    rows, labels = [shown], ["original"]

    def snapshot(phase, partial):
        rows.append(reconstruct(partial, shown))
        labels.append(f"after phase {phase}")

    if args.phase_epochs is not None:
        options = replace(options, epochs=args.phase_epochs)
    histories = pretrain_layerwise(
        model,
        X,
        X_val=Xv if len(Xv) else None,
        options=options,
        finetune_epochs=args.finetune_epochs,
        on_phase_end=snapshot,
    )
    return History(flat_history(histories)), (rows, labels)


def cmd_classify(args) -> int:
    from .classify import score, stratified_subset, train_classifier

    source = _open_run(args.dir)
    ae = source.model
    if ae.metadata.get("model") == "classifier":
        raise CLIError(f"{args.dir} holds a classifier; give the folder of an autoencoder")
    out = Path(args.out) if args.out else Path(args.dir) / f"classifier-{args.mode}"
    run = _create_run(
        out,
        exist_ok=args.overwrite,
        holds="a model",
        fix="use --overwrite or another --out",
        command="classify",
    )
    train = load_data(args.dataset, "train", args.data_dir)
    if train.y is None:
        raise CLIError(
            f"--dataset {args.dataset!r} has no labels; classify needs a labelled data set "
            "(iris, digits, mnist, fashion-mnist)"
        )
    val = load_data(args.dataset, "validation", args.data_dir)
    test = load_data(args.dataset, "test", args.data_dir)
    source.check_input(train.X, source=train.name)
    X, Xv, Xt = (source.to_model(d.X) for d in (train, val, test))
    try:
        idx = stratified_subset(train.y, args.labels, seed=args.seed)
    except ValueError as e:
        raise CLIError(f"--labels: {e}") from None

    clf, history = train_classifier(
        ae,
        X[idx],
        train.y[idx],
        X_val=Xv,
        y_val=val.y,
        mode=args.mode,
        hidden=args.hidden,
        dropout=args.dropout,
        n_classes=train.n_classes,
        finetune_lr=args.finetune_lr,
        options=(training := train_options(args)),
    )
    test_metrics = score(clf, Xt, test.y)
    metrics = {
        "test_accuracy": test_metrics["accuracy"],
        "test_cross_entropy": test_metrics["cross_entropy"],
        **{k: v for k, v in history.last.items() if k.startswith("val_")},
    }
    meta = {
        "n_features": int(X.shape[1]),
        "image_shape": ae.metadata.get("image_shape"),
        "dataset": train.name,
        "autoencoder": str(args.dir),
        "mode": args.mode,
        "labels": int(len(idx)),
        "metrics": metrics,
    }
    data = {"train": X[idx], "validation": Xv}
    [figure] = _write_run(run, args, clf, source.scaling, meta, history, data, training)
    result = {
        "out": str(out),
        "mode": args.mode,
        "labels": int(len(idx)),
        "epochs": len(history),
        **metrics,
        "figures": [figure],
    }
    lines = [
        f"{args.mode} classifier on {args.dir}'s encoder, {len(idx)} labels of {train.name}, "
        f"{len(history)} epochs -> {out}",
        f"  test accuracy {metrics['test_accuracy']:.4f}   "
        f"test cross-entropy {metrics['test_cross_entropy']:.4f}",
        f"  figure: {figure}",
    ]
    emit(args, result, lines)
    return 0


def cmd_eval(args) -> int:
    from . import evaluate, tablecli

    run = _open_run(args.dir)
    model = run.model
    if tablecli.is_table(model):
        return tablecli.cmd_eval(args, run, emit)
    ds = _series_dataset(args.dataset, run) or load_data(args.dataset, args.split, args.data_dir)
    run.check_input(ds.X, source=ds.name)
    X = run.to_model(ds.X)
    if args.binarize:
        X = _binarized(X, run.scaling, "eval")
    metrics = evaluate(model, X, progress=_progress(args), seed=args.seed)  # same every run
    if args.nll_samples is not None:
        from .generative import nll_report

        n = len(X) if args.nll_examples is None else min(args.nll_examples, len(X))
        report = nll_report(
            model, X[:n], k=args.nll_samples, seed=args.seed, progress=_progress(args)
        )
        metrics.update(report)
        metrics["nll_examples"] = n
    # A user's file has no splits: it is evaluated whole, and called so.
    split = "all" if ds.split == "all" else args.split
    where = "the whole file" if ds.split == "all" else split
    result = {"dataset": ds.name, "split": split, "n": len(X), **metrics}
    lines = [f"{model.metadata['model']} on {ds.name} ({where}, {len(X)} examples)"]
    lines += [f"  {k:16s} {v:.6g}" for k, v in metrics.items()]
    emit(args, result, lines)
    return 0


BINARIZE_SEED = 0  # the one fixed binarisation of validation and test sets


def _binarized(X: np.ndarray, scaling, command: str) -> np.ndarray:
    from .generative import binarize

    if scaling is not None or X.min() < 0 or X.max() > 1:
        raise CLIError(
            f"{command} --binarize needs data in [0, 1] without standardisation (images, "
            "--scale none); these are not"
        )
    return binarize(X, seed=BINARIZE_SEED)


def _image_shape(run, d: int, what: str = "a figure") -> tuple[int, int]:
    shape = run.image_shape or _guess_shape(d)
    if shape is None:
        raise CLIError(f"{what} needs image data (the model was trained on non-image rows)")
    return tuple(shape)


def cmd_sample(args) -> int:
    import numpy as np

    from .generative import sample, sample_chain
    from .plots import image_grid

    run = _open_run(args.dir)
    model = run.model
    if getattr(model, "prior", None) is not None:
        how = "drawn from the prior and decoded"
        S = sample(model, args.n, seed=args.seed, mean=not args.binary)
    elif getattr(model, "corruption", None) is not None:
        how = f"the last states of {args.n} denoising Markov chains of {args.steps} steps"
        d = run.n_features
        x0 = np.random.default_rng(args.seed).random((args.n, d), dtype=np.float32)
        S = sample_chain(model, x0, args.steps, seed=args.seed, draw=args.binary)[-1]
    else:
        raise CLIError(
            f"model {model.metadata['model']!r} is neither generative (vae, aae) nor denoising, "
            "so it has nothing to sample from"
        )
    S = run.to_data(S)
    out = Path(args.out)
    if out.suffix.lower() == ".png":
        image_grid(S, _image_shape(run, S.shape[1]), out, title=f"{args.n} samples")
    else:
        _write_array(args.out, S)
    result = {"output": args.out, "shape": list(S.shape), "how": how}
    emit(args, result, [f"wrote {S.shape[0]} samples ({how}) -> {args.out}"])
    return 0


def _endpoint(text: str, run, X):
    """An index into ``X`` or a file holding one example."""
    if text.lstrip("-").isdigit():
        i = int(text)
        if X is None or not -len(X) <= i < len(X):
            raise CLIError(f"index {i} is outside the data ({0 if X is None else len(X)} rows)")
        return X[i]
    rows = _read_model_input(text, run).X
    if len(rows) != 1:
        raise CLIError(f"{text} has {len(rows)} rows; give a file with one example")
    return rows[0]


def cmd_interpolate(args) -> int:
    from .generative import interpolate
    from .plots import image_rows

    run = _open_run(args.dir)
    model = run.model
    X = None
    if args.source.lstrip("-").isdigit() or args.target.lstrip("-").isdigit():
        name = args.dataset or model.metadata.get("dataset")
        if not name:
            raise CLIError("indices need --dataset (the model does not record its data set)")
        X = load_data(name, args.split, args.data_dir).X
    a, b = _endpoint(args.source, run, X), _endpoint(args.target, run, X)
    a, b = run.to_model(a[None])[0], run.to_model(b[None])[0]
    R = run.to_data(interpolate(model, a, b, steps=args.steps))
    out = Path(args.out)
    if out.suffix.lower() == ".png":
        title = f"from {args.source} to {args.target}"
        image_rows([R], _image_shape(run, R.shape[1]), out, title=title)
    else:
        _write_array(args.out, R)
    line = f"wrote {len(R)} decoded codings from {args.source} to {args.target} -> {args.out}"
    emit(args, {"output": args.out, "shape": list(R.shape)}, [line])
    return 0


def cmd_latent(args) -> int:
    from .generative import latent_plane
    from .metrics import encode
    from .plots import latent_scatter

    run = _open_run(args.dir)
    model = run.model
    name = args.dataset or model.metadata.get("dataset")
    if not name:
        raise CLIError("give --dataset (the model does not record its data set)")
    ds = load_data(name, args.split, args.data_dir)
    X, y = ds.X[: args.n], (ds.y[: args.n] if ds.y is not None else None)
    run.check_input(X, source=ds.name)
    Z = encode(model, run.to_model(X))
    kw = {}
    if Z.shape[1] == 2 and getattr(model, "prior", None) is not None:
        grid, half = latent_plane(model, args.grid, codings=Z)
        shape = _image_shape(run, X.shape[1])
        kw = {"grid": run.to_data(grid), "extent": half, "image_shape": shape}
    latent_scatter(Z, y, args.out, title=f"{model.metadata['model']}: {name} codings", **kw)
    result = {"output": args.out, "n": len(Z), "latent_dim": int(Z.shape[1])}
    emit(args, result, [f"drew {len(Z)} codings ({Z.shape[1]}-D) -> {args.out}"])
    return 0


def cmd_encode(args) -> int:
    from . import tablecli
    from .metrics import encode

    _refuse_same_file(args.input, args.output)
    run = _open_run(args.dir)
    model = run.model
    if tablecli.is_table(model):
        return tablecli.cmd_encode(args, run, emit, _write_array)
    if args.input.endswith(".npy") and args.output.endswith(".npy") and not windowed(run):
        # .npy to .npy streams: the input is memory-mapped, the codings written as they come.
        from .metrics import encode_to_npy

        X, divisor = _mapped_input(args.input, run)
        transform = run.to_model if run.scaling else None
        if divisor != 1:  # uint8 images: pixels to [0, 1], a chunk at a time
            transform = _then(lambda b: b / divisor, transform)
        shape = encode_to_npy(model, X, args.output, transform=transform, progress=_progress(args))
    else:
        user = _read_model_input(args.input, run)
        Z = encode(model, run.to_model(user.X), progress=_progress(args))
        # A CSV with column names gets codings with names too: z0, z1, ...
        header = [f"z{i}" for i in range(Z.shape[1])] if user.columns else None
        _write_array(args.output, Z, header=header)
        shape = Z.shape
    emit(
        args,
        {"output": args.output, "shape": list(shape)},
        [f"wrote codings {tuple(shape)} -> {args.output}"],
    )
    return 0


def _then(first, second):
    return first if second is None else (lambda b: second(first(b)))


def _mapped_input(path: str, run) -> tuple[np.ndarray, int]:
    """A memory-mapped .npy file as rows (images flattened without reading them) and the
    divisor that brings its pixels to [0, 1]."""
    import numpy as np

    from .datasets import check_starts_like, image_note, image_rows

    check_starts_like(path, ".npy")
    try:
        X = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise CLIError(f"{path}: not a readable .npy file ({e})") from None
    if np.iscomplexobj(X):
        from .arrays import complex_message

        raise CLIError(f"{path}: {complex_message('the file', X.dtype)}")
    rows, image_shape, divisor = image_rows(X)
    run.check_input(rows, source=str(path), image_shape=image_shape)
    if image_shape is not None:
        note = image_note(X.shape, image_shape, divisor)
        if hasattr(run.model, "sequence_shape"):
            note = _sequence_note(len(rows), image_shape, divisor == 255)
        print(f"codings: note: {path}: {note}", file=sys.stderr)
    return rows, divisor


def cmd_reconstruct(args) -> int:
    from . import tablecli
    from .metrics import reconstruct
    from .plots import reconstructions

    _refuse_same_file(args.input, args.output)
    if args.plot:
        _refuse_same_file(args.input, args.plot)
    run = _open_run(args.dir)
    if tablecli.is_table(run.model):
        return tablecli.cmd_reconstruct(args, run, emit)
    user = _read_model_input(args.input, run)
    X = user.X
    scaling = run.scaling
    Xs = run.to_model(X)  # the data as the model sees it
    Rs = reconstruct(run.model, Xs, progress=_progress(args))
    R = run.to_data(Rs)
    written = _series_back(run, R, args.input)  # a windowed run's: the series (T, C)
    _write_array(args.output, written, header=user.columns)  # the input's columns, its units
    # The MSE on the model's data, as train and eval report it (standardised where the model
    # standardises), and in the file's own units.
    mse = float(((Rs - Xs) ** 2).mean())
    mse_raw = float(((R - X) ** 2).mean())
    R = written
    result = {"output": args.output, "shape": list(R.shape), "mse": mse, "mse_raw": mse_raw}
    basis = "as train and eval report it"
    if scaling:
        kind = "standardised" if scaling.kind == "standard" else "min-max scaled"
        basis = f"on the {kind} data, {basis}"
    lines = [f"wrote reconstructions {R.shape} -> {args.output}"]
    lines.append(f"  per-feature MSE {mse:.6g} ({basis})")
    if scaling:
        lines.append(f"  per-feature MSE {mse_raw:.6g} in the file's units")
    if args.plot:
        shape = _image_shape(run, X.shape[1], "--plot")
        result["plot"] = str(reconstructions(X, R, shape, args.plot))
        lines.append(f"figure: {args.plot}")
    emit(args, result, lines)
    return 0


# --- time series: `train --window` and the commands that read a windowed run's series ----------


def windowed(run) -> dict | None:
    """The run's windowing (length, stride, channels), None for a run trained on rows."""
    return run.metadata.get("window")


def _read_series(path: str, split: str = "test"):
    """A series file, or an anomaly series of aeon's by name (``split`` "train": its normal
    start where it has one, else the whole series)."""
    from .datasets import read_series
    from .series import ANOMALY_SERIES, load_series

    if path in ANOMALY_SERIES:
        try:
            return load_series(path, split)[0]
        except ValueError:  # no training part: the whole series
            return load_series(path)[0]
        except ImportError as e:
            raise CLIError(str(e)) from None
    if Path(path).suffix.lower() not in (".npy", ".npz", ".csv"):
        raise CLIError(
            f"{path}: a series is read from a .npy, .npz or .csv file (T, C) or (T,), or is one "
            f"of aeon's: {', '.join(ANOMALY_SERIES)}"
        )
    return read_series(path)


def _series_split(args):
    """`train --window`: the series' first steps as training windows and its last
    ``--val-fraction`` of steps as validation windows (in time order: overlapping windows on
    both sides of a random split would leak), flat rows (n, length * C) before scaling."""
    import numpy as np

    from .datasets import Dataset
    from .series import window_stack

    S = _read_series(args.dataset, "train")
    L = args.window
    if len(S) < L:
        raise CLIError(f"--window {L} is longer than the series in {args.dataset} ({len(S)} steps)")
    n_val = int(round(len(S) * args.val_fraction))
    if n_val < L or len(S) - n_val < L:
        n_val = 0  # too short for a window on each side: no validation, as for a tiny file
    train, val = S[: len(S) - n_val], S[len(S) - n_val :]
    X = window_stack([train], L, args.stride)
    X = X.reshape(len(X), -1)
    Xv = window_stack([val], L, args.stride).reshape(-1, X.shape[1]) if n_val else X[:0]
    ds = Dataset(np.asarray(X), None, None, Path(args.dataset).name, "series", None)
    return ds, X, Xv, train


def _sequence_kwargs(args, kwargs: dict, n_features: int) -> dict:
    """A sequence model (one with a ``sequence_shape``) gets the windows' (length, channels)."""
    from .models import builder_params

    if args.window and "sequence_shape" in builder_params(args.model):
        kwargs.setdefault("sequence_shape", [args.window, n_features // args.window])
    return kwargs


def _series_scaling(args, series, output: str):
    from .datasets import fit_scaling, flat_window_scaling

    kind = None if args.scale == "none" else args.scale
    return flat_window_scaling(fit_scaling(kind, output, series), args.window)


def _series_rows(path: str, run):
    """A windowed run's input file: the series cut as in training, as flat rows, and its
    number of steps."""
    from .series import window_stack

    w = windowed(run)
    S = _read_series(path)
    if S.shape[1] != w["channels"] or len(S) < w["length"]:
        raise CLIError(
            f"{path} holds a series of {len(S)} steps and {S.shape[1]} channels; the model "
            f"takes series of {w['channels']} channels and at least {w['length']} steps "
            f"(--window {w['length']})"
        )
    W = window_stack([S], w["length"], w["stride"])
    return W.reshape(len(W), -1), len(S)


def _series_back(run, R, path: str):
    """Reconstructed windows (flat rows) of a windowed run as the series (T, C): each step the
    mean of its windows' reconstructions; rows of another run as they are."""
    from .series import unwindow

    w = windowed(run)
    if not w:
        return R
    n_steps = len(_read_series(path))
    return unwindow(
        R.reshape(len(R), w["length"], w["channels"]), n_steps, w["length"], w["stride"]
    )


def _series_dataset(name: str, run):
    """`eval` on a windowed run: the series file's windows as a Dataset (None: not windowed)."""
    if not windowed(run):
        return None
    from .datasets import Dataset

    X, _ = _series_rows(name, run)
    return Dataset(X, None, None, Path(name).name, "all", None)


def cmd_score(args) -> int:
    """Anomaly scores: each row's mean squared reconstruction error (in the model's units); for
    a windowed run, each time step's (the mean over the windows covering it), or each
    window's with --per-window."""
    import numpy as np

    from . import tablecli
    from .inference import batched
    from .series import step_errors

    _refuse_same_file(args.input, args.output)
    run = _open_run(args.dir)
    model = run.model
    if tablecli.is_table(model):  # rows of category codes and missing flags: no MSE to score
        raise CLIError(
            "score does not apply to a table model: its rows' squared error mixes category "
            "codes and missing flags; use `codings eval`, which reports the table's losses"
        )
    w = windowed(run)
    if w:
        X, n_steps = _series_rows(args.input, run)
    else:
        X, n_steps = _read_model_input(args.input, run).X, None
    err = batched(lambda xb: (model(xb) - xb).square(), run.to_model(X), model=model)
    err = err.astype(np.float64)
    if w and not args.per_window:
        shape = w["length"], w["channels"]
        scores, what = step_errors(err, *shape, n_steps, w["stride"]), "time step"
    else:
        scores, what = err.mean(1), ("window" if w else "row")
    _write_array(args.output, scores[:, None] if args.output.endswith(".csv") else scores)
    top = int(np.argmax(scores))
    result = {"output": args.output, "shape": list(scores.shape), "per": what}
    result |= {"max": float(scores[top]), "argmax": top, "mean": float(scores.mean())}
    lines = [
        f"wrote {len(scores)} scores, one per {what} (higher: more anomalous) -> {args.output}"
    ]
    lines.append(f"  highest {scores[top]:.6g} at {what} {top}; mean {scores.mean():.6g}")
    emit(args, result, lines)
    return 0


def cmd_impute(args) -> int:
    from . import tablecli

    return tablecli.cmd_impute(args, _open_run(args.dir), emit)


def cmd_pca_check(args) -> int:
    from .tour import pca_check

    result = pca_check(
        args.dataset,
        latent_dim=args.latent_dim,
        epochs=args.epochs,
        seed=args.seed,
        out=Path(args.out),
        data_dir=args.data_dir,
        log=lambda text: print(text, file=sys.stderr, flush=True),
    )
    gap = result["ae_mse"] / result["pca_mse"] - 1
    if result["converged"]:
        verdict = (
            f"  converged: the autoencoder's MSE is within {result['rtol']:.2%} of PCA's, the "
            f"optimum ({result['epochs']} epochs, {result['seconds']:.1f} s)"
        )
        if result["max_principal_angle_deg"] > 5:
            verdict += (
                f"; the angle is wide because PCA's variances {args.latent_dim} and "
                f"{args.latent_dim + 1} differ by only {result['eigenvalue_gap']:.2%}, so the "
                "best subspace is nearly not unique"
            )
    else:
        verdict = (
            f"  NOT CONVERGED: the autoencoder's MSE is {gap:.3%} above PCA's (the optimum; "
            f"tolerance {result['rtol']:.2%}) after {result['epochs']} epochs, so the angle "
            f"above means little; run it with more --epochs (now {args.epochs})"
        )
    lines = [
        f"linear autoencoder vs PCA on {result['dataset']} (standardised), "
        f"{args.latent_dim} codings",
        f"  reconstruction MSE   autoencoder {result['ae_mse']:.6f}   PCA {result['pca_mse']:.6f}"
        f"   ratio {result['mse_ratio']:.5f}",
        f"  explained variance   autoencoder {result['ae_explained_variance']:.5f}   "
        f"PCA {result['pca_explained_variance']:.5f}",
        f"  largest principal angle between the subspaces: "
        f"{result['max_principal_angle_deg']:.4f} degrees",
        verdict,
    ]
    if "figure" in result:
        lines.append(f"  figure: {result['figure']}")
    emit(args, result, lines)
    return 0


def cmd_report(args) -> int:
    from .report import write_report
    from .runs import Run

    run = Run.open(args.run)
    if args.out:
        _refuse_same_file(str(run.model_path), args.out)
    path = write_report(run, args.out)
    emit(args, {"report": str(path), "bytes": path.stat().st_size}, [f"report -> {path}"])
    return 0


def cmd_export(args) -> int:
    from .exporting import export
    from .runs import Run

    run = Run.open(args.run)
    suffix = ".onnx" if args.format == "onnx" else ".pt"
    out = Path(args.out) if args.out else run.path / f"{args.part}{suffix}"
    _refuse_same_file(str(run.model_path), str(out))
    path = export(run.model, out, part=args.part, format=args.format, scaling=run.scaling)
    scaled = "with the run's scaling folded in" if run.scaling is not None else "no scaling"
    lines = [f"exported the {args.part} ({args.format}, {scaled}) -> {path}"]
    emit(args, {"output": str(path), "part": args.part, "format": args.format}, lines)
    return 0


def cmd_tour(args) -> int:
    from .tour import run_tour

    result = run_tour(
        Path(args.out),
        dataset=args.dataset,
        data_dir=args.data_dir,
        seed=args.seed,
        log=None if args.json else (lambda line: print(line, flush=True)),
        full=args.full,
    )
    if args.json:
        print(json.dumps(result, default=float))
    return 0


# --- the parser -------------------------------------------------------------------------------


def _add_fit_flags(p: argparse.ArgumentParser, optimizer: str) -> None:
    """The training options that `train` and `classify` take alike (read by train_options)."""
    p.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default=optimizer,
        help="the optimiser (default: %(default)s)",
    )
    p.add_argument(
        "--weight-decay",
        type=_non_negative,
        default=0.0,
        help="the optimiser's weight decay (default: %(default)s)",
    )
    p.add_argument(
        "--clip-norm",
        type=_positive,
        help="clip the gradient norm to this value (default: no clipping)",
    )
    p.add_argument(
        "--threads",
        type=_at_least(1),
        help="CPU threads for training (default: by model size and load)",
    )
    p.add_argument(
        "--precision",
        default="fp32",
        choices=PRECISIONS,
        help="autocast precision for training (fp16 needs CUDA; default: %(default)s)",
    )
    p.add_argument(
        "--step",
        default="auto",
        choices=STEPS,
        help="the training step: fused (hand-written, faster; plain dense autoencoders in fp32 "
        "only), autograd (any model), or auto: fused where it applies (default: %(default)s)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codings", description="Autoencoders on PyTorch: train, evaluate, encode, compare."
    )
    parser.add_argument("--version", action="version", version=f"codings {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="the models you can train, with their arguments")
    _add_json(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("train", help="train a model and write it, its history and figures")
    p.add_argument(
        "model", help="a model name from `codings list` (classifiers: `codings classify`)"
    )
    _add_data_args(p)
    p.add_argument(
        "--log",
        action="append",
        choices=("tensorboard", "csv"),
        help="experiment logs: tensorboard (event files in OUT/tensorboard, every loss part per "
        "epoch, the loss and rate every 10 steps, the figures; needs pip install "
        "'codings[tensorboard]'); csv: OUT/history.csv, always written, after every epoch",
    )
    p.add_argument("--out", required=True, help="folder for the model, history and figures")
    p.add_argument(
        "--kinds",
        metavar="COL=KIND,...",
        help="table models: a column's kind, numeric or categorical, where the one inferred "
        "from the CSV is not right (e.g. --kinds zip=categorical)",
    )
    p.add_argument(
        "--hidden", type=_sizes, help="encoder layer sizes, e.g. 300,150 (mirrored for the decoder)"
    )
    p.add_argument("--latent-dim", type=_at_least(1), help="size of the codings")
    p.add_argument("--activation", help="elu, relu, selu, sigmoid, tanh or linear")
    p.add_argument(
        "--init",
        help=f"he, xavier, lecun or torch (default: {defaults.INIT}, where the model has one)",
    )
    p.add_argument("--output", help="linear (squared error) or bernoulli (cross-entropy)")
    p.add_argument("--l2", type=_non_negative, help="weight of the L2 penalty on the weights")
    p.add_argument("--tied", action="store_true", help="decoder uses the encoder's weights")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="any other model argument (see `codings list`), repeatable",
    )
    p.add_argument(
        "--epochs",
        type=_at_least(1),
        help="train exactly N epochs (default: below "
        f"{defaults.SMALL_ROWS:,} training rows, {defaults.BUDGET_STEPS:,} optimiser steps; from "
        "there on, until the validation loss has not improved for --patience epochs, at most "
        f"{defaults.MAX_STEPS:,} steps, keeping the best weights)",
    )
    p.add_argument(
        "--batch-size",
        type=_at_least(1),
        default=defaults.BATCH_SIZE,
        help="rows per optimiser step (default: %(default)s)",
    )
    p.add_argument(
        "--lr", type=_positive, default=defaults.LR, help="learning rate (default: %(default)s)"
    )
    p.add_argument(
        "--lr-schedule",
        choices=LR_SCHEDULES,
        default="constant",
        help="cosine: lower the rate along half a cosine to 0 by the last epoch "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=_at_least(0),
        default=0,
        help="seed of the initial weights, the shuffling and a file's validation rows "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--patience",
        type=_at_least(1),
        help=f"stop after N epochs without improvement (default without --epochs: "
        f"{defaults.PATIENCE} epochs or {defaults.PATIENCE_STEPS:,} steps, whichever is longer; "
        "none with --epochs)",
    )
    p.add_argument(
        "--scale",
        choices=("auto", "standard", "minmax", "none"),
        default="auto",
        help="scale each feature: standard (mean 0, variance 1) or minmax (to [0, 1]); auto: "
        "images as they are, tables standard, or minmax for a bernoulli output "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--val-fraction",
        type=_fraction,
        default=0.1,
        help="validation share held out of a user's file (default: %(default)s)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: %(default)s)")
    _add_fit_flags(p, optimizer=defaults.OPTIMIZER)
    p.add_argument(
        "--binarize",
        action="store_true",
        help="dynamic binarisation: a fresh Bernoulli draw of every pixel each time a batch is "
        "used (validation: one fixed draw)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run in --out with the same options: a different --lr, "
        "--batch-size, --seed, data set, ... is refused, not applied (--epochs may grow)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace a model already in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress (as --quiet)")
    p.add_argument(
        "--layerwise",
        action="store_true",
        help="greedy layer-wise training: one encoder block and its mirror at a time (every "
        "phase takes the training options above; not --resume)",
    )
    p.add_argument(
        "--phase-epochs", type=_at_least(1), help="epochs per layer-wise phase (default: --epochs)"
    )
    p.add_argument(
        "--window",
        type=_at_least(1),
        help="--data is a series (T,) or (T, C): train on its windows of this many steps, "
        "scaled per channel; eval, encode, reconstruct and score then cut series alike",
    )
    p.add_argument(
        "--stride",
        type=_at_least(1),
        default=1,
        help="steps between the starts of windows (default: %(default)s)",
    )
    p.add_argument(
        "--finetune-epochs",
        type=_at_least(0),
        default=0,
        help="epochs of end-to-end training after the layer-wise phases (default: %(default)s)",
    )
    _add_json(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "classify", help="a classifier on a trained encoder: frozen, fine-tuned or from scratch"
    )
    p.add_argument("dir", help="a folder written by `codings train` (the encoder to use)")
    _add_data_args(p)
    p.add_argument("--labels", type=_at_least(1), help="labelled training examples (default: all)")
    p.add_argument(
        "--hidden", type=_sizes, default=(100, 50), help="the head's dense layers (default 100,50)"
    )
    p.add_argument("--dropout", type=_rate, default=0.0, help="dropout in the head (default 0)")
    p.add_argument(
        "--mode",
        choices=CLASSIFIER_MODES,
        default="frozen",
        help="frozen: train the head on fixed codings; finetune: the head first, then "
        "everything at --finetune-lr; scratch: the same network from random weights "
        "(default: %(default)s)",
    )
    p.add_argument("--epochs", type=_at_least(1), default=20, help="per stage (default 20)")
    p.add_argument(
        "--batch-size",
        type=_at_least(1),
        default=64,
        help="examples per step (default: %(default)s)",
    )
    p.add_argument(
        "--lr", type=_positive, default=1e-3, help="learning rate (default: %(default)s)"
    )
    p.add_argument(
        "--finetune-lr", type=_positive, help="rate of the finetune stage (default: --lr / 10)"
    )
    p.add_argument(
        "--lr-schedule",
        choices=LR_SCHEDULES,
        default="constant",
        help="cosine: lower each stage's rate along half a cosine to 0 by its last epoch "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--patience", type=_at_least(1), help="stop after N epochs without a better val loss"
    )
    p.add_argument(
        "--seed",
        type=_at_least(0),
        default=0,
        help="seed of the head's weights, the shuffling and the labelled subset "
        "(default: %(default)s)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: %(default)s)")
    _add_fit_flags(p, optimizer="adam")
    p.add_argument("--out", help="folder for the classifier (default: DIR/classifier-MODE)")
    p.add_argument("--overwrite", action="store_true", help="replace a model already in --out")
    _add_json(p)
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("eval", help="loss and reconstruction error of a trained model")
    p.add_argument("dir", help=RUN_DIR_HELP)
    _add_data_args(p)
    p.add_argument(
        "--split",
        default="test",
        help="train, validation, test or all (default: %(default)s; a file is used whole)",
    )
    p.add_argument(
        "--binarize", action="store_true", help="evaluate on one fixed binarisation (seed 0)"
    )
    p.add_argument(
        "--nll-samples",
        type=_at_least(1),
        metavar="K",
        help="variational models: also the ELBO and the NLL by importance sampling, K draws",
    )
    p.add_argument(
        "--nll-examples", type=_at_least(1), metavar="N", help="the NLL on the first N only"
    )
    p.add_argument(
        "--seed",
        type=_at_least(0),
        default=0,
        help="seed of a generative model's draws: the loss and the importance samples "
        "(default: %(default)s)",
    )
    _add_json(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("sample", help="new examples from a generative (or denoising) model")
    p.add_argument("dir", help=RUN_DIR_HELP)
    p.add_argument("--n", type=_at_least(1), default=64, help="how many (default: %(default)s)")
    p.add_argument(
        "--out", default="samples.png", help=".png (a grid), .npy or .csv (default: %(default)s)"
    )
    p.add_argument(
        "--seed", type=_at_least(0), default=0, help="seed of the draws (default: %(default)s)"
    )
    p.add_argument("--binary", action="store_true", help="draw binary pixels, not their means")
    p.add_argument(
        "--steps",
        type=_at_least(1),
        default=100,
        help="Markov chain steps (denoising models; default: %(default)s)",
    )
    _add_json(p)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("interpolate", help="decode codings on the segment between two examples")
    p.add_argument("dir", help=RUN_DIR_HELP)
    p.add_argument("--from", dest="source", required=True, help="a row index or a one-row file")
    p.add_argument("--to", dest="target", required=True, help="a row index or a one-row file")
    p.add_argument(
        "--steps",
        type=_at_least(2),
        default=10,
        help="decoded points on the segment (default: %(default)s)",
    )
    p.add_argument("--dataset", help="for indices (default: the model's training data set)")
    p.add_argument(
        "--split", default="test", help="the split indices point into (default: %(default)s)"
    )
    p.add_argument("--data-dir", help=DATA_DIR_HELP)
    p.add_argument(
        "--out", default="interpolation.png", help=".png, .npy or .csv (default: %(default)s)"
    )
    _add_json(p)
    p.set_defaults(func=cmd_interpolate)

    p = sub.add_parser("latent", help="codings coloured by label (+ the decoded plane in 2-D)")
    p.add_argument("dir", help=RUN_DIR_HELP)
    p.add_argument("--dataset", help="default: the model's training data set")
    p.add_argument(
        "--split", default="test", help="train, validation, test or all (default: %(default)s)"
    )
    p.add_argument("--data-dir", help=DATA_DIR_HELP)
    p.add_argument(
        "--n",
        type=_at_least(1),
        default=5000,
        help="how many examples to draw (default: %(default)s)",
    )
    p.add_argument(
        "--grid",
        type=_at_least(1),
        default=15,
        help="decoded images per side (2-D codings; default: %(default)s)",
    )
    p.add_argument("--out", default="latent.png", help="the figure (default: %(default)s)")
    _add_json(p)
    p.set_defaults(func=cmd_latent)

    p = sub.add_parser("encode", help="write the codings of the rows of a file")
    p.add_argument("dir", help=RUN_DIR_HELP)
    p.add_argument(
        "input", help=".npy, .npz or .csv with one example per row, or .npy/.npz images (n, h, w)"
    )
    p.add_argument("output", help=".npy or .csv")
    _add_json(p)
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("reconstruct", help="write the reconstructions of the rows of a file")
    p.add_argument("dir", help=RUN_DIR_HELP)
    p.add_argument(
        "input", help=".npy, .npz or .csv with one example per row, or .npy/.npz images (n, h, w)"
    )
    p.add_argument("output", help=".npy or .csv")
    p.add_argument("--plot", help="also draw originals above reconstructions to this PNG")
    _add_json(p)
    p.set_defaults(func=cmd_reconstruct)

    p = sub.add_parser("score", help="anomaly scores: reconstruction errors per row or time step")
    p.add_argument("dir", help=RUN_DIR_HELP)
    p.add_argument("input", help="rows (.npy, .npz, .csv), or a series for a --window run")
    p.add_argument("output", help=".npy or .csv: one score per row, time step or window")
    p.add_argument("--per-window", action="store_true", help="a windowed run: one score per window")
    _add_json(p)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("impute", help="fill the blank cells of a CSV file with a table model")
    p.add_argument("dir", help=RUN_DIR_HELP + ", trained with `codings train table`")
    p.add_argument("--data", required=True, help="a .csv file with the run's columns")
    p.add_argument("--out", required=True, help="the filled table (.csv)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    _add_json(p)
    p.set_defaults(func=cmd_impute)

    p = sub.add_parser("pca-check", help="train a linear autoencoder and compare it with PCA")
    p.add_argument(
        "--dataset",
        default="iris",
        help="iris, digits, mnist, fashion-mnist, or a .npy/.npz/.csv file (default: %(default)s)",
    )
    p.add_argument("--data-dir", help=DATA_DIR_HELP)
    p.add_argument(
        "--latent-dim",
        type=_at_least(1),
        default=2,
        help="codings and PCA components (default: %(default)s)",
    )
    p.add_argument(
        "--epochs",
        type=_at_least(1),
        default=1500,
        help="most epochs in all, over three stages of falling learning rate, each ending early "
        "once the loss stops improving (default: %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=_at_least(0),
        default=0,
        help="seed of the initial weights (default: %(default)s)",
    )
    p.add_argument(
        "--out", default="pca-check", help="folder for the figure (default: %(default)s)"
    )
    _add_json(p)
    p.set_defaults(func=cmd_pca_check)

    p = sub.add_parser("report", help="a run's report page: one HTML file, figures inlined")
    p.add_argument("run", help="a run folder (codings train --out)")
    p.add_argument("--out", help="the page to write (default: RUN/report.html)")
    _add_json(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "export", help="a run's encoder, decoder, autoencoder or outlier score as ONNX/TorchScript"
    )
    p.add_argument("run", help="a run folder (codings train --out)")
    p.add_argument(
        "--part",
        choices=("encoder", "decoder", "autoencoder", "score", "classifier"),
        default="encoder",
        help="what the graph computes; score: each row's reconstruction error, higher = more "
        "unusual (default: %(default)s)",
    )
    p.add_argument(
        "--format",
        choices=("onnx", "torchscript"),
        default="onnx",
        help="onnx (run with onnxruntime; needs pip install 'codings[onnx]') or torchscript "
        "(default: %(default)s)",
    )
    p.add_argument("--out", help="the file to write (default: RUN/PART.onnx or RUN/PART.pt)")
    _add_json(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("tour", help="a quick walk through what codings does, on embedded data")
    p.add_argument("--out", default="tour", help="folder for the figures (default: %(default)s)")
    p.add_argument(
        "--dataset", default="digits", help="digits (quick) or mnist (default: %(default)s)"
    )
    p.add_argument(
        "--full",
        action="store_true",
        help="on digits, every step at its full budget (minutes) rather than the quick one",
    )
    p.add_argument("--data-dir", help=DATA_DIR_HELP)
    p.add_argument(
        "--seed", type=_at_least(0), default=0, help="seed of every step (default: %(default)s)"
    )
    _add_json(p)
    p.set_defaults(func=cmd_tour)
    return parser


def _interrupted(args, argv: list[str], started: float) -> str:
    """What Ctrl-C leaves behind: for `train`, the last epoch saved and how to go on."""
    if getattr(args, "func", None) is not cmd_train:
        return "codings: interrupted"
    if args.layerwise:
        return (
            "codings: interrupted; layer-wise training keeps no checkpoint between epochs and "
            "cannot be resumed: run the same command again to start over"
        )
    state = Path(args.out) / "train_state.safetensors"
    # A file older than this run (left by an earlier one) is not what this run saved.
    saved = state.exists() and (args.resume or state.stat().st_mtime >= started - 2.0)
    if not saved:
        return (
            "codings: interrupted before the first epoch ended; nothing was saved. "
            "Run the same command again to start over."
        )
    from .checkpoint import read_metadata

    try:
        epoch = read_metadata(state)["train_state"]["epoch"]
    except (OSError, ValueError, KeyError):
        return f"codings: interrupted; {state} could not be read, so the run cannot be resumed"
    import shlex

    resume = argv if "--resume" in argv else [*argv, "--resume"]
    of = f" of {args.epochs}" if isinstance(args.epochs, int) else ""
    return (
        f"codings: interrupted; saved after epoch {epoch}{of}: {state}\n"
        f"To continue from there: codings {shlex.join(resume)}"
    )


def _finish_progress() -> None:
    """A bar left mid-line by an error or Ctrl-C ends its line before the message."""
    progress = sys.modules.get("codings.progress")
    if progress is not None:
        progress.finish_lines()


def main(argv: list[str] | None = None) -> int:
    import time

    started = time.time()
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        _finish_progress()
        print(_interrupted(args, argv, started), file=sys.stderr)
        return 130
    except Exception as e:  # one clear line, unless --debug
        _finish_progress()
        if args.debug:
            raise
        expected = isinstance(e, (ValueError, TypeError, OSError, FloatingPointError))
        kind = "" if expected else f"{type(e).__name__}: "
        hint = "" if expected else " (run with --debug for the traceback)"
        print(f"codings: error: {kind}{e}{hint}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        _release_run_locks()
        if "torch.distributed" in sys.modules:  # nothing to leave if torch never loaded
            from .distributed import shutdown

            shutdown()


if __name__ == "__main__":
    sys.exit(main())
