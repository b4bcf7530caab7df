"""``codings tour``: a short walk through what the library does, with numbers and figures.

The steps (:data:`STEPS`, in :mod:`codings.tour.steps`, in the order they run) each receive a
:class:`Tour` and return rows ``(step, measure, value, reference)`` for the closing table; the
tour then writes ``index.html``, a page of every step's text and figures. The tour is a client of
the library: nothing in the library imports it.
"""

from __future__ import annotations

import time
from pathlib import Path

from .core import Row, Tour
from .pca import pca_check
from .steps import STEPS

__all__ = ["STEPS", "Row", "Tour", "pca_check", "run_tour", "write_page"]


def run_tour(
    out: Path,
    *,
    dataset: str = "digits",
    data_dir=None,
    seed: int = 0,
    log=print,
    full: bool = False,
) -> dict:
    """Run every step, print a table of results, and return the rows and figures.

    On digits the quick budgets apply unless ``full``; every model and matrix of the tour is
    small, so torch and the BLAS under NumPy and SciPy run single-threaded for its duration (on
    a busy 2-core machine, 2 threads made the tour several times slower, and a 144 x 64 SVD took
    0.46 s), and the caller's thread counts are restored after.
    """
    import torch
    from threadpoolctl import threadpool_limits

    if dataset not in ("digits", "mnist", "fashion-mnist"):
        raise ValueError(f"tour dataset {dataset!r}: choose digits (quick), mnist or fashion-mnist")
    from ..runs import Run

    t = Tour(out=Path(out), dataset=dataset, data_dir=data_dir, seed=seed, log=log, full=full)
    # A run folder like any other (locked while written, a killed tour's temporary files
    # removed), holding the tour's options, its measures as metrics, its figures and its page.
    with Run.create(t.out, exist_ok=True) as t.run:
        t.run.write_options({"dataset": dataset, "seed": seed, "full": full, "data_dir": data_dir})
        if not t.quick:
            return _run_steps(t)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with threadpool_limits(limits=1):
                return _run_steps(t)
        finally:
            torch.set_num_threads(threads)


def _run_steps(t: Tour) -> dict:
    rows: list[Row] = []
    t0 = time.perf_counter()
    steps = list(STEPS)
    budget = "quick budgets" if t.demo else "full budgets"
    t.say(f"The tour of codings on {t.dataset}: {len(steps)} steps, {budget}, figures in {t.out}/")
    sections = []  # (lines said, figures drawn) of each step, for the page
    for i, fn in enumerate(steps, 1):
        t.heading = f"{i}/{len(steps)}. "  # before the step's first line, said as it starts
        s0 = time.perf_counter()
        said, drawn = len(t.said), len(t.figures)
        rows += fn(t)
        t.say(f"   step {i} done in {time.perf_counter() - s0:.1f} s")
        sections.append((t.said[said:], t.figures[drawn:]))
    elapsed = time.perf_counter() - t0
    t.say("")
    t.say(f"{'step':40s} {'measure':22s} {'value':>10s}  reference")
    for name, measure, value, ref in rows:
        t.say(f"{name:40s} {measure:22s} {value:10.4f}  {ref}")
    if t.run is not None:
        t.run.write_metrics({f"{name}: {measure}": value for name, measure, value, _ in rows})
    page = write_page(t, sections, rows, elapsed)
    t.say(f"\n{len(t.figures)} figures in {t.out}/ ({elapsed:.0f} s in all); open {page}")
    if t.demo:
        t.say("These are the quick budgets; `codings tour --full` runs each step at its full one.")
    return {
        "page": str(page),
        "rows": [
            dict(zip(("step", "measure", "value", "reference"), r, strict=True)) for r in rows
        ],
        "figures": t.figures,
        "seconds": elapsed,
        "budgets": "quick" if t.demo else "full",
    }


def write_page(t: Tour, sections, rows: list[Row], seconds: float) -> Path:
    """``index.html`` in the tour's folder: each step's text and figures, then the table.

    Made like a run's report (:func:`codings.report.page`): one self-contained file, figures
    inlined, no scripts, written atomically.
    """
    import html

    from ..report import image, page, table

    budget = "quick budgets" if t.demo else "full budgets"
    body = [f"<p>{len(sections)} steps, {budget}, {seconds:.0f} s in all, seed {t.seed}.</p>"]
    for said, figures in sections:
        title, *rest = said or ["(a step)"]
        body.append(f"<h2>{html.escape(title)}</h2>")
        if rest:
            body.append("<pre>" + html.escape("\n".join(line.strip() for line in rest)) + "</pre>")
        body += [image(fig) for fig in figures]
    body.append("<h2>Results</h2>")
    body.append(table(rows, ("step", "measure", "value", "reference"), id="metrics"))
    if t.demo:
        body.append(
            "<p>These are the quick budgets; <code>codings tour --full</code> runs each "
            "step at its full one.</p>"
        )
    return page(f"The tour of codings on {t.dataset}", body, t.out / "index.html")
