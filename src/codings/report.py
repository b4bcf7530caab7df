"""A report page for a run: one self-contained HTML file (figures inlined, no scripts, no network).

``codings report RUN_DIR`` (and ``codings train``, at the end of every run) writes it: the run's
options and data fingerprints, its final and best metrics, the learning curves of every loss
part, every figure in the run's folder, and the model's layers and parameter count. The tour's
page (``codings tour``) is made by the same :func:`page`.
"""

from __future__ import annotations

import base64
import html
import json
import math
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from .checkpoint import atomic_write
from .runs import OPTIONS, Run

__all__ = ["page", "write_report"]

STYLE = (
    "body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em;color:#222}"
    "pre{white-space:pre-wrap;background:#f6f6f6;padding:.5em}"
    "img{max-width:100%;border:1px solid #ddd;margin:.5em 0}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;"
    "text-align:left}td.n{text-align:right;font-family:monospace}"
)


def image(path: str | Path, alt: str | None = None) -> str:
    """An ``<img>`` holding the PNG (or SVG, JPEG) at ``path`` as a data URI."""
    path = Path(path)
    kind = {".svg": "svg+xml", ".jpg": "jpeg", ".jpeg": "jpeg"}.get(path.suffix.lower(), "png")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    alt = html.escape(alt if alt is not None else path.name, quote=True)
    return f'<p><img src="data:image/{kind};base64,{data}" alt="{alt}"></p>'


def table(rows: Iterable[Sequence], header: Sequence[str], *, id: str | None = None) -> str:
    """A table; numbers right-aligned, floats to 6 significant digits."""

    def cell(v) -> str:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return f"<td>{html.escape(str(v))}</td>"
        text = f"{v:.6g}" if isinstance(v, float) and math.isfinite(v) else str(v)
        return f'<td class="n">{text}</td>'

    ident = f' id="{id}"' if id else ""
    out = [f"<table{ident}><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"]
    out += ["<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows]
    return "\n".join(out) + "\n</table>"


def page(title: str, body: Sequence[str], path: str | Path) -> Path:
    """Write ``<html>`` with ``title`` and the HTML fragments ``body`` to ``path``, atomically."""
    text = "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(title)}</title>",
            f"<style>{STYLE}</style></head><body>",
            f"<h1>{html.escape(title)}</h1>",
            *body,
            "</body></html>\n",
        ]
    )
    path = Path(path)
    atomic_write(path, text.encode("utf-8"))
    return path


def _best(history: list[dict]) -> list[tuple]:
    """Each loss part's lowest value over the epochs, and the epoch it was reached at."""
    rows = []
    keys = sorted({k for r in history for k in r if k.startswith(("train_", "val_"))})
    for key in keys:
        pts = [
            (r[key], r.get("epoch", i + 1))
            for i, r in enumerate(history)
            if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])
        ]
        if pts:
            value, epoch = (max if key.endswith("accuracy") else min)(pts)
            rows.append((key, float(value), epoch))
    return rows


def _flat(options: Mapping, prefix: str = "") -> list[tuple[str, str]]:
    rows = []
    for k, v in options.items():
        if isinstance(v, Mapping) and v:
            rows += _flat(v, f"{prefix}{k}.")
        else:
            rows.append((f"{prefix}{k}", json.dumps(v) if not isinstance(v, str) else v))
    return rows


def write_report(run: Run | str | Path, out: str | Path | None = None) -> Path:
    """The report page of ``run`` (a :class:`~codings.runs.Run` or its folder), written to
    ``out`` (default: ``report.html`` in the run's folder)."""
    from .plots import training_curves

    run = run if isinstance(run, Run) else Run.open(run)
    out = Path(out) if out is not None else run.path / "report.html"
    model = run.model
    name = (getattr(model, "config", None) or {}).get("name", type(model).__name__)
    n_params = sum(p.numel() for p in model.parameters())
    body = [f"<p>Run folder <code>{html.escape(str(run.path.resolve()))}</code>.</p>"]

    body.append("<h2>Metrics</h2>")
    metrics = [(k, v) for k, v in run.metrics.items() if not isinstance(v, (dict, list))]
    body.append(table(metrics, ("metric", "final"), id="metrics") if metrics else "<p>none</p>")
    history = run.history
    best = _best(history)
    if best:
        body.append(table(best, ("loss part", "best", "epoch"), id="best"))

    body.append("<h2>Learning curves</h2>")
    if history:
        with tempfile.TemporaryDirectory() as tmp:
            curves = training_curves(history, Path(tmp) / "curves.png")
            body.append(image(curves, "learning curves of every loss part"))
    else:
        body.append("<p>No history was written for this run.</p>")

    figures = sorted(p for p in run.path.glob("*.png") if p.name != "curves.png")
    if figures:
        body.append("<h2>Figures</h2>")
        for fig in figures:
            body.append(f"<h3>{html.escape(fig.stem.replace('_', ' '))}</h3>{image(fig)}")

    body.append("<h2>Options</h2>")
    options = _flat(run.options)
    body.append(table(options, ("option", "value"), id="options") if options else "<p>none</p>")
    training = _flat(run.training)
    if training:
        body.append("<h3>Training options, as resolved</h3>")
        body.append(table(training, ("option", "value"), id="training"))
    prints = {}
    if (run.path / OPTIONS).exists():
        prints = json.loads((run.path / OPTIONS).read_text()).get("data") or {}
    if prints:
        body.append(table(sorted(prints.items()), ("data", "fingerprint"), id="data"))

    body.append("<h2>Model</h2>")
    body.append(f"<p>{html.escape(name)}: {n_params:,} parameters.</p>")
    body.append(f"<pre>{html.escape(str(model))}</pre>")
    return page(f"codings run: {name} ({run.path.name})", body, out)
