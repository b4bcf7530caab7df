"""Reliability: hostile files, careless commands and faults tried against the installed codings.

Each row of issue 16 is tried for real, in a temporary directory, in a child process (the
command line as `python -m codings ...`, or a few lines that call the library), with a time
limit so that a regression cannot hang the script. The outcome printed is what the child did:
its exit status or the exception's class, the first words of its message, whether the files
involved were left untouched, and for the hostile checkpoints the wall time and the child's
peak resident memory (ru_maxrss from wait4). A row whose outcome is not what the issue wants
says UNEXPECTED, and the script then exits 1.

    python benchmarks/reliability.py [--out FILE] [--only 1a,3]

No network: the data are the embedded digits or small .npy files written here.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PY = sys.executable
SMALL = ["stacked", "--dataset", "digits", "--hidden", "8", "--batch-size", "128", "--quiet"]


@dataclass
class Child:
    rc: int | None  # None: killed by the time limit
    out: str
    err: str
    wall: float
    rss_mb: float


def child(argv, *, timeout=120.0, env=None, umask=None) -> Child:
    """Run ``argv``; its exit status, output, wall time and peak memory (wait4's rusage)."""
    e = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    pre = (lambda: os.umask(umask)) if umask is not None else None
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        p = subprocess.Popen([str(a) for a in argv], env=e, stdout=fo, stderr=fe, preexec_fn=pre)
        deadline = t0 + timeout
        status = ru = None
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                p.send_signal(signal.SIGKILL)
                _, status, ru = os.wait4(p.pid, 0)
                status = None
                break
            time.sleep(0.005)
        p.returncode = 0  # reaped here; keep Popen from waiting again
        wall = time.perf_counter() - t0
        fo.seek(0)
        fe.seek(0)
        out, err = fo.read().decode(errors="replace"), fe.read().decode(errors="replace")
    rc = None if status is None else os.waitstatus_to_exitcode(status)
    return Child(rc, out, err, wall, ru.ru_maxrss / 1024)


def cli(*argv, **kw) -> Child:
    return child([PY, "-m", "codings", *argv], **kw)


LOAD = """
import re, sys, time
from pathlib import Path
import codings
kind, path = sys.argv[1], Path(sys.argv[2])


def hwm():  # this process's peak resident memory since exec, in kB
    return re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1)


fn = {"model": codings.load, "detector": codings.AutoencoderOutlierDetector.load}[kind]
t = time.perf_counter()
try:
    fn(path)
except Exception as e:
    secs = time.perf_counter() - t
    print(f"{type(e).__name__}|{secs:.4f}|{hwm()}|{e}")
    sys.exit(3)
print(f"loaded|{time.perf_counter() - t:.4f}|{hwm()}|")
"""


def load_child(path, kind="model", timeout=60.0):
    """Load ``path`` in a child: (child, exception class or 'loaded', seconds, message).

    The memory is the child's VmHWM (its own peak since exec) where it answered: on Linux
    ru_maxrss from wait4 starts at the parent's peak at fork, so it is only an upper bound
    (and the only figure when the child was killed)."""
    c = child([PY, "-c", LOAD, kind, path], timeout=timeout)
    parts = c.out.strip().split("|", 3) if c.out else []
    name, secs, hwm, msg = (parts + ["", "", "", ""])[:4]
    if hwm:
        c.rss_mb = int(hwm) / 1024
    return c, name, float(secs or "nan"), msg


def first_words(text: str, n=14) -> str:
    text = text.strip().splitlines()[0] if text.strip() else ""
    text = text.removeprefix("codings: error: ")
    words = text.split()
    s = " ".join(words[:n]) + (" ..." if len(words) > n else "")
    return s.replace("|", "\\|").replace(str(TMP), "D") if TMP else s


TMP: Path | None = None
ROWS: list[tuple[str, str, str, str, str, bool]] = []  # id, tried, outcome, files, cost, ok


def row(rid, tried, outcome, files="", cost="", ok=True):
    ROWS.append((rid, tried, outcome, files, cost, ok))
    print(f"  {rid}: {'ok' if ok else 'UNEXPECTED'} ({outcome})", file=sys.stderr)


def snapshot(*paths):
    return [(p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode) for p in paths]


# --------------------------------------------------------------------------- the cases


def small_checkpoint(d: Path):
    from codings import build, save

    m = build("stacked", n_features=6, hidden=(4,), latent_dim=2, seed=0)
    return m, save(m, d / "m.safetensors")


def rewrite(path, header, tensors):
    from safetensors.torch import save_file

    tensors = {k: v.contiguous() for k, v in tensors.items()}
    save_file(tensors, str(path), metadata={"codings": json.dumps(header)})


def hostile_row(rid, tried, path, kind="model", want="CheckpointError", timeout=60.0):
    c, name, secs, msg = load_child(path, kind, timeout)
    size = path.stat().st_size if path.is_file() and not path.is_symlink() else None
    if c.rc is None:
        outcome = f"no answer within {timeout:.0f} s (killed)"
    else:
        outcome = f"{name or 'exit ' + str(c.rc)}: {first_words(msg or c.err)}"
    ok = c.rc == 3 and name == want and str(path) in msg
    cost = f"{secs * 1000:.1f} ms, {c.rss_mb:.0f} MB" if secs == secs else f"{c.wall:.1f} s"
    tried = tried + (f" ({size / 1024:.1f} KB)" if size else "")
    row(rid, tried, outcome, "", cost, ok)


def item_1_2(d: Path):
    import math

    import torch

    import codings
    from codings.checkpoint import read_metadata

    m, path = small_checkpoint(d)
    c, name, secs, _ = load_child(path)
    row(
        "base",
        "a valid 6-4-2 checkpoint (the baseline: import torch + load)",
        name,
        "",
        f"{secs * 1000:.1f} ms, {c.rss_mb:.0f} MB",
        name == "loaded",
    )
    for rid, width in (("1a", 100_000_000), ("1b", 10**9)):
        p = d / f"huge{rid}.safetensors"
        header = read_metadata(path)
        header["kwargs"]["hidden"] = [width]
        rewrite(p, header, m.state_dict())
        hostile_row(rid, f"checkpoint saying hidden=[{width}]", p)
    # The detector's load on a file with the same huge header.
    X = np.random.default_rng(0).random((40, 6), dtype=np.float32)
    det = codings.AutoencoderOutlierDetector(hidden=(4,), epochs=1, random_state=0).fit(X)
    dpath = det.save(d / "det.safetensors")
    header = read_metadata(dpath)
    header["kwargs"]["hidden"] = [100_000_000]
    p = d / "huge_det.safetensors"
    rewrite(p, header, codings.load(dpath).state_dict())
    hostile_row("1c", "detector checkpoint saying hidden=[100000000]", p, "detector")
    link = d / "zero.safetensors"
    os.symlink("/dev/zero", link)
    hostile_row("1d", "a .safetensors that is a symlink to /dev/zero", link)
    fifo = d / "fifo.safetensors"
    os.mkfifo(fifo)
    hostile_row("1e", "a FIFO named .safetensors (30 s guard)", fifo, timeout=30.0)

    cases = [
        ("2a", 'format_version "1"', {"format_version": "1"}),
        ("2b", "format_version null", {"format_version": None}),
        ("2c", "model missing", "del model"),
        ("2d", "kwargs missing", "del kwargs"),
        ("2e", "metadata a list", [1, 2]),
        ("2f", "hidden=[8.7]", "hidden87"),
    ]
    for rid, tried, change in cases:
        header = read_metadata(path)
        if isinstance(change, dict):
            header.update(change)
        elif change == "hidden87":
            header["kwargs"]["hidden"] = [8.7]
        elif isinstance(change, str):
            header.pop(change.split()[1])
        else:
            header = change
        p = d / f"meta{rid}.safetensors"
        rewrite(p, header, m.state_dict())
        hostile_row(rid, f"metadata: {tried}", p)
    for rid, tried, tensors in (
        ("2g", "weights stored as bool", {k: v.bool() for k, v in m.state_dict().items()}),
        ("2h", "weights stored as float64", {k: v.double() for k, v in m.state_dict().items()}),
    ):
        p = d / f"w{rid}.safetensors"
        rewrite(p, read_metadata(path), tensors)
        hostile_row(rid, tried, p)
    t = {k: v.clone() for k, v in m.state_dict().items()}
    t["encoder.0.0.weight"][1, 2] = math.nan
    p = d / "nan.safetensors"
    rewrite(p, read_metadata(path), t)
    hostile_row("2i", "one NaN weight", p)
    for rid, tried, change in (
        ("2j", 'detector JSON: params predict="x"', lambda e: e["params"].update(predict="x")),
        ("2k", "detector JSON: contamination=5", lambda e: e["params"].update(contamination=5)),
    ):
        header = read_metadata(dpath)
        change(header["estimator"])
        p = d / f"det{rid}.safetensors"
        rewrite(p, header, codings.load(dpath).state_dict())
        hostile_row(rid, tried, p, "detector")
    del torch


def train_digits(out: Path, *extra, **kw) -> Child:
    return cli("train", *SMALL, "--out", out, *extra, **kw)


def item_3(d: Path, run: Path):
    for rid, suffix in (("3a", ".npy"), ("3b", ".csv")):
        src = d / f"in{suffix}"
        X = np.random.default_rng(0).random((6, 64))
        np.save(src, X) if suffix == ".npy" else np.savetxt(src, X, delimiter=",")
        before = snapshot(src)
        c = cli("encode", run, src, src)
        same = snapshot(src) == before
        row(
            rid,
            f"`codings encode RUN in{suffix} in{suffix}`",
            f"exit {c.rc}: {first_words(c.err)}",
            "bytes, mtime, mode unchanged" if same else "INPUT CHANGED",
            ok=c.rc == 1 and same and "is the input file" in c.err,
        )


def item_4_5(d: Path):
    out = d / "together"
    argv = [PY, "-m", "codings", "train", *SMALL, "--epochs", "6", "--out", out]
    e = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([str(a) for a in argv], env=e, stderr=subprocess.PIPE) for _ in "ab"]
    res = [(p.wait(timeout=180), p.stderr.read().decode()) for p in procs]
    codes = sorted(r[0] for r in res)
    loser = next((err for rc, err in res if rc != 0), "")
    whole = (out / "model.safetensors").is_file() and bool(_history(out))
    whole = whole and not any(out.glob("*.tmp"))
    row(
        "4a",
        "two `codings train ... --out D` started at once",
        f"exits {codes}; the other: {first_words(loser, 12)}",
        "model and history.json present, lock free" if whole else "RUN INCOMPLETE",
        ok=codes == [0, 1]
        and whole
        and ("another codings train is writing" in loser or "already holds" in loser),
    )
    model = out / "model.safetensors"
    before = snapshot(model)
    c = train_digits(out, "--epochs", "1", "--seed", "1")
    same = snapshot(model) == before
    row(
        "4b",
        "train again into a finished run without --overwrite",
        f"exit {c.rc}: {first_words(c.err)}",
        "model unchanged" if same else "MODEL REPLACED",
        ok=c.rc == 1 and same,
    )
    out = d / "stale"
    out.mkdir()
    ours = [".model.safetensors.k2j_x9a1.tmp", ".train_state.safetensors.abcdefgh.tmp"]
    for name in [*ours, "notes.tmp"]:
        (out / name).write_bytes(b"x" * 1_200_000)
    c = train_digits(out, "--epochs", "1")
    left = sorted(p.name for p in out.iterdir() if p.name.endswith(".tmp"))
    row(
        "5a",
        "train into a directory holding 2 stale checkpoint .tmp files (1.2 MB each) + notes.tmp",
        f"exit {c.rc}; .tmp left: {', '.join(left) or 'none'}",
        "stale files removed, the user's notes.tmp kept",
        ok=c.rc == 0 and left == ["notes.tmp"],
    )
    out = d / "modes"
    c = train_digits(out, "--epochs", "1", umask=0o022)
    modes = {oct(p.stat().st_mode & 0o777) for p in out.iterdir() if p.is_file()}
    row(
        "5b",
        "file modes of a run under umask 022",
        f"exit {c.rc}; modes {sorted(modes)}",
        "",
        ok=c.rc == 0 and modes == {"0o644"},
    )


def item_6_to_10(d: Path):
    out = d / "diverge"
    c = cli("train", *SMALL, "--batch-size", "2000", "--lr", "1e30", "--epochs", "1", "--out", out)
    written = sorted(p.name for p in out.iterdir()) if out.exists() else []
    row(
        "6",
        "`--lr 1e30 --epochs 1` (one batch an epoch)",
        f"exit {c.rc}: {first_words(c.err, 12)}",
        f"written: {', '.join(written) or 'nothing'}",
        ok=c.rc == 1 and written in ([], [".lock"]) and "diverged" in c.err,
    )
    last = c.err.strip().splitlines()[-1] if c.err.strip() else ""
    row(
        "7",
        "the divergence message names what exists",
        first_words(last[last.find("No checkpoint") :] if "No checkpoint" in last else last, 14),
        "",
        ok="No checkpoint was written" in last and "train_state" not in c.err,
    )
    # 8, 9 and the fault: kill -9 once after the first state is saved, then resume.
    argv = ["--epochs", "8", "--patience", "2", "--lr", "0.03"]
    full = train_digits(d / "full", *argv)
    out = d / "killed"
    cmd = [PY, "-m", "codings", "train", *SMALL, "--out", out, *argv]
    e = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen([str(a) for a in cmd], env=e, stderr=subprocess.DEVNULL)
    state = out / "train_state.safetensors"
    deadline = time.monotonic() + 120
    while p.poll() is None and time.monotonic() < deadline and not state.exists():
        time.sleep(0.0005)
    killed = p.poll() is None
    p.send_signal(signal.SIGKILL) if killed else None
    p.wait()
    saved = state.read_bytes() if state.exists() else b""
    c = train_digits(out, *argv[:-1], "0.01", "--resume")
    kept = state.exists() and state.read_bytes() == saved
    row(
        "9",
        "`--resume` with another `--lr` (0.01 for 0.03)",
        f"exit {c.rc}: {first_words(c.err, 14)}",
        "state unchanged" if kept else "STATE CHANGED",
        ok=c.rc == 1 and kept and "differs from the run's" in c.err,
    )
    t0 = time.perf_counter()
    c = train_digits(out, *argv, "--resume")
    secs = time.perf_counter() - t0
    same = _same_weights(d / "full", out) and _history(d / "full") == _history(out)
    tmp_left = list(out.glob("*.tmp")) + list(out.glob(".*.tmp"))
    row(
        "8",
        "kill -9 after the first saved epoch (`--patience 2`), then `--resume`",
        f"killed: {killed}; resume exit {c.rc}; weights and history "
        + ("bit-identical" if same else "DIFFER")
        + f" to the uninterrupted run (exit {full.rc})",
        f".tmp left: {len(tmp_left)}",
        f"resume {secs:.1f} s",
        ok=killed and c.rc == 0 and full.rc == 0 and same and not tmp_left,
    )
    for rid, opts, code, words in (
        ("10a", ["--clip-norm", "-1"], 2, "must be a positive number"),
        ("10b", ["--val-fraction", "2"], 2, "strictly between 0 and 1"),
        ("10c", ["--set", "tied=yes"], 1, "true or false"),
        ("10d", ["--clip-norm", "nan"], 2, "must be a positive number"),
    ):
        out = d / f"opt{rid}"
        c = train_digits(out, "--epochs", "1", *opts)
        model = (out / "model.safetensors").exists()
        row(
            rid,
            f"`{' '.join(opts)}`",
            f"exit {c.rc}: {first_words(c.err.splitlines()[-1] if c.err else '', 12)}",
            "no model written" if not model else "MODEL WRITTEN",
            ok=c.rc == code and words in c.err and not model,
        )


def _same_weights(a: Path, b: Path) -> bool:
    from safetensors.torch import load_file

    x, y = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    return x.keys() == y.keys() and all(bool((x[k] == y[k]).all()) for k in x)


def _history(run: Path):
    return [r["train_loss"] for r in json.loads((run / "history.json").read_text())]


def npy_train(d: Path, name, X, *extra, json_out=False) -> tuple[Child, Path]:
    path = d / f"{name}.npy"
    np.save(path, X)
    out = d / f"run_{name}"
    argv = ["train", "stacked", "--dataset", path, "--hidden", "3", "--epochs", "1"]
    c = cli(*argv, "--out", out, "--no-progress", *extra, *(["--json"] if json_out else []))
    return c, out


def item_11_to_14(d: Path, run: Path):
    rng = np.random.default_rng(0)
    c, out = npy_train(
        d, "huge", (rng.normal(size=(40, 5)) * 1e30).astype(np.float32), json_out=True
    )
    val = json.loads(c.out).get("val_loss") if c.rc == 0 else None
    row(
        "11a",
        "values near 1e30 (float32), default scaling",
        f"exit {c.rc}; val_loss {val if val is None else f'{val:.3g}'}",
        "",
        ok=c.rc == 0 and val is not None and val > 0.1,
    )
    X = rng.integers(0, 256, size=(40, 16)).astype(np.float32)
    c, out = npy_train(d, "pixels", X, "--output", "bernoulli", "--scale", "none")
    row(
        "11b",
        "0-255 values with `--output bernoulli --scale none`",
        f"exit {c.rc}: {first_words(c.err, 16)}",
        "no model written" if not (out / "model.safetensors").exists() else "MODEL WRITTEN",
        ok=c.rc == 1 and "--scale minmax, or divide by 255" in c.err,
    )
    out = d / "epochs0"
    c = train_digits(out, "--epochs", "0")
    row(
        "12a",
        "`--epochs 0`",
        f"exit {c.rc}: {first_words(c.err.splitlines()[-1] if c.err else '', 12)}",
        "nothing written" if not out.exists() or not any(out.iterdir()) else "FILES WRITTEN",
        ok=c.rc == 2 and "at least 1" in c.err and not (out.exists() and any(out.iterdir())),
    )
    c, out = npy_train(d, "onerow", rng.random((1, 4), dtype=np.float32), json_out=True)
    keys = sorted(json.loads(c.out)) if c.rc == 0 else []
    val_keys = [k for k in keys if k.startswith("val_")]
    row(
        "12b",
        "a single-row .npy file",
        f"exit {c.rc}: "
        + (f"metrics {', '.join(k for k in keys if 'mse' in k or 'loss' in k)}" if keys else "")
        + first_words(c.err, 14),
        "",
        ok=(c.rc == 0 and not val_keys) or (c.rc == 1 and "Traceback" not in c.err),
    )
    src, dst = d / "complex.npy", d / "complex_out.npy"
    np.save(src, np.ones((3, 64), dtype=np.complex64))
    c = cli("encode", run, src, dst)
    row(
        "13a",
        "complex64 .npy to `codings encode` (streaming path)",
        f"exit {c.rc}: {first_words(c.err, 12)}",
        "no output written" if not dst.exists() else "OUTPUT WRITTEN",
        ok=c.rc == 1 and "complex numbers" in c.err and not dst.exists(),
    )

    def refuse(name):
        raise ValueError(name)

    code = (
        "import json, math, sys; from codings.train import History; "
        "h = History([{'epoch': 1, 'train_loss': math.nan, 'val_loss': math.inf}]); "
        "sys.stdout.write(h.to_json())"
    )
    c = child([PY, "-c", code])
    try:
        json.loads(c.out, parse_constant=refuse)
        parsed = "strict JSON: " + c.out.replace("\n", " ")[:60]
        ok = c.rc == 0 and "null" in c.out
    except ValueError as e:
        parsed, ok = f"not strict JSON ({e})", False
    try:
        json.loads((run / "history.json").read_text(), parse_constant=refuse)
        ok_run = True
    except ValueError:
        ok_run = False
    row(
        "13b",
        "history.json with NaN/inf losses read by a strict parser",
        parsed.replace("|", "\\|"),
        "a trained run's history.json parses strictly" if ok_run else "RUN HISTORY NOT STRICT",
        ok=ok and ok_run,
    )
    txt = d / "text.npy"
    txt.write_text("1,2,3\n4,5,6\n")
    c = cli("encode", run, txt, d / "text_out.npy")
    row(
        "14a",
        "a text file named .npy to `codings encode`",
        f"exit {c.rc}: {first_words(c.err, 16)}",
        "",
        ok=c.rc == 1 and "pickle" not in c.err and "Traceback" not in c.err,
    )
    c, out = npy_train(d, "nf", rng.random((40, 5), dtype=np.float32), "--set", "n_features=7")
    row(
        "14b",
        "`--set n_features=7` on a 5-column file",
        f"exit {c.rc}: {first_words(c.err, 16)}",
        "",
        ok=c.rc == 1 and "comes from the data" in c.err and "mat1" not in c.err,
    )
    missing = Path("/nonexistent")
    existed = missing.exists()
    c = cli(
        "train", *SMALL[:2], "mnist", "--hidden", "8", "--epochs", "1", "--out", d / "mn",
        env={"CODINGS_DATA_DIR": str(missing), "XDG_CACHE_HOME": str(d / "xdg")},
    )  # fmt: skip
    created = missing.exists() and not existed
    row(
        "14c",
        "`CODINGS_DATA_DIR=/nonexistent codings train ... --dataset mnist`",
        f"exit {c.rc}: {first_words(c.err[c.err.find('CODINGS_DATA_DIR=') :], 14)}",
        "/nonexistent not created" if not created else "/nonexistent CREATED",
        ok=c.rc == 1 and not created and "does not exist" in c.err,
    )
    (d / "afile").write_text("not a folder")
    c = cli("train", *SMALL, "--epochs", "1", "--out", d / "afile" / "run")
    row(
        "14d",
        "`--out` below a regular file (cannot be written)",
        f"exit {c.rc}: {first_words(c.err, 14)}",
        "",
        f"refused after {c.wall:.1f} s (process start included)",
        ok=c.rc == 1 and "cannot be written" in c.err and ".tmp" not in c.err,
    )
    import codings

    dd = d / "clf"
    X, y = rng.random((60, 6), dtype=np.float32), np.arange(60) % 3
    clf = codings.AutoencoderClassifier(hidden=(4,), epochs=1, random_state=0)
    try:
        clf.fit(X, y).save(dd)
        c = child(
            [PY, "-c", "import sys, codings; codings.AutoencoderClassifier.load(sys.argv[1])", dd]
        )
        row(
            "14e",
            "`AutoencoderClassifier.load` of the directory it saved",
            f"exit {c.rc}" + (f": {first_words(c.err.splitlines()[-1])}" if c.rc else ": loaded"),
            "",
            ok=c.rc == 0,
        )
    except Exception as e:  # the estimator's own API changed: report it, do not crash
        row(
            "14e",
            "`AutoencoderClassifier.load` of a directory",
            f"{type(e).__name__}: {e}",
            ok=False,
        )


def main(argv=None) -> int:
    global TMP
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, help="also write the table to this file")
    ap.add_argument("--only", help="comma-separated groups: 1-2, 3, 4-5, 6-10, 11-14")
    args = ap.parse_args(argv)
    groups = set(args.only.split(",")) if args.only else {"1-2", "3", "4-5", "6-10", "11-14"}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="codings-rel-") as tmp:
        TMP = Path(tmp)
        run = None
        if groups & {"3", "11-14"}:
            run = TMP / "digits_run"
            c = train_digits(run, "--epochs", "1")
            assert c.rc == 0, c.err
        for name, fn in (
            ("1-2", lambda: item_1_2(TMP)),
            ("3", lambda: item_3(TMP, run)),
            ("4-5", lambda: item_4_5(TMP)),
            ("6-10", lambda: item_6_to_10(TMP)),
            ("11-14", lambda: item_11_to_14(TMP, run)),
        ):
            if name in groups:
                print(f"items {name} ...", file=sys.stderr)
                fn()
    lines = [
        "| # | tried | outcome | files | load time, peak memory (child) | as wanted |",
        "|---|---|---|---|---|---|",
    ]

    def order(r):
        m = re.match(r"\d+", r[0])
        return int(m.group()) if m else 0

    for rid, tried, outcome, files, cost, ok in sorted(ROWS, key=order):
        lines.append(f"| {rid} | {tried} | {outcome} | {files} | {cost} | "
                     f"{'yes' if ok else '**UNEXPECTED**'} |")  # fmt: skip
    bad = [r[0] for r in ROWS if not r[5]]
    lines.append("")
    lines.append(
        f"{len(ROWS)} rows in {time.perf_counter() - t0:.0f} s; "
        + (f"UNEXPECTED: {', '.join(bad)}" if bad else "every outcome as the issue wants.")
    )
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
