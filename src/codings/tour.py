"""``codings tour``: a short walk through what the library does, with numbers and figures.

Each step is a function registered with :func:`step`; it receives a :class:`Tour` and returns
rows ``(step, measure, value, reference)`` for the closing table. Steps run in registration
order; a capability adds its step in its own module (imported at the bottom of this file).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

Row = tuple[str, str, float, str]


@dataclass
class Tour:
    out: Path
    dataset: str = "digits"  # the image data set for the image steps: digits (quick) or mnist
    data_dir: str | None = None
    seed: int = 0
    log: Callable[[str], None] | None = print
    figures: list[str] = field(default_factory=list)
    full: bool = False  # the full budgets on digits (``codings tour --full``), not the demo's

    heading: str = ""  # the step's number, put before the first line it says
    said: list[str] = field(default_factory=list)  # every line, for the page (index.html)

    def say(self, text: str) -> None:
        self.said.append(self.heading + text)
        if self.log is not None:
            self.log(self.heading + text)
        self.heading = ""

    @property
    def quick(self) -> bool:
        return self.dataset == "digits"

    @property
    def demo(self) -> bool:
        """The quick tour of ``make demo``: digits with cut budgets (fewer epochs, smaller
        models), the same steps and measures; ``full=True`` restores the budgets."""
        return self.quick and not self.full

    def data(self, split: str):
        from .datasets import load_dataset

        return load_dataset(self.dataset, split, data_dir=self.data_dir)

    def figure(self, path) -> str:
        self.figures.append(str(path))
        return str(path)


STEPS: list[Callable[[Tour], list[Row]]] = []


def step(fn: Callable[[Tour], list[Row]]) -> Callable[[Tour], list[Row]]:
    STEPS.append(fn)
    return fn


def pca_check(
    dataset: str = "iris",
    *,
    latent_dim: int = 2,
    epochs: int = 1500,
    seed: int = 0,
    out: Path | None = None,
    data_dir: str | None = None,
    rtol: float = 1e-4,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Train the linear autoencoder on standardised data and compare it with PCA.

    ``dataset`` is a data set's name or a user's .npy, .npz or .csv file. A linear
    autoencoder's best reconstruction is PCA's (Baldi & Hornik 1989), so ``converged`` is
    whether its MSE came within ``rtol`` (relative) of PCA's; until it does, the principal
    angles say little. Training is full-batch Adam at rates 1e-2, 1e-3 and 1e-4, each stage at
    most ``epochs // 3`` epochs and ending early once the loss stops improving. ``log`` gets a
    line as each stage starts and ends.
    """
    from sklearn.decomposition import PCA

    from . import build, fit
    from .datasets import Scaling, load_dataset, read_user_file
    from .metrics import align, encode, pca_comparison, reconstruction_errors
    from .plots import projections

    say = log or (lambda text: None)
    if Path(str(dataset)).suffix.lower() in (".npy", ".npz", ".csv"):
        user = read_user_file(dataset)
        if user.note:
            say(f"{dataset}: {user.note}")
        X, y, name = user.X, None, Path(dataset).name
    else:
        ds = load_dataset(dataset, "all", data_dir=data_dir)
        X, y, name = ds.X, ds.y, dataset
    X = Scaling.fit(X).forward(X)
    n, d = X.shape
    if not 1 <= latent_dim < d:
        raise ValueError(f"latent_dim={latent_dim} must be between 1 and {d - 1} for {name}")
    pca = PCA(latent_dim).fit(X)
    pca_mse = float(((pca.inverse_transform(pca.transform(X)) - X) ** 2).mean())
    model = build("linear", n_features=d, latent_dim=latent_dim, seed=seed)
    per_stage = max(1, epochs // 3)
    say(
        f"pca-check: a linear autoencoder {d}-{latent_dim}-{d} on {name} ({n} rows, "
        f"standardised), full-batch Adam at rates 1e-2, 1e-3, 1e-4 (at most {per_stage} epochs "
        f"each), against PCA's MSE {pca_mse:.6f}"
    )
    t0 = time.perf_counter()
    run = 0
    # Full batches (up to 4096 rows) and a falling rate reach the optimum itself, where a fixed
    # rate stalls a little above it (digits, 10 codings: 2e-4 above PCA, angle 3.6 degrees).
    batch = min(n, 4096)
    for lr in (1e-2, 1e-3, 1e-4):
        history = fit(
            model,
            X,
            epochs=per_stage,
            batch_size=batch,
            lr=lr,
            seed=seed,
            device="cpu",
            callbacks=[_stops_improving()],
        )
        run += len(history)
        mse = float(reconstruction_errors(model, X).mean())
        seconds = time.perf_counter() - t0
        say(f"  rate {lr:g}: {len(history)} epochs, MSE {mse:.6f} ({seconds:.1f} s)")
    result = pca_comparison(model, X, latent_dim)
    result["dataset"] = name
    result["epochs"] = run
    result["seconds"] = time.perf_counter() - t0
    result["rtol"] = rtol
    result["converged"] = bool(result["ae_mse"] <= result["pca_mse"] * (1 + rtol))
    # How far apart PCA's k-th and (k+1)-th variances are: when close, the best subspace is
    # nearly not unique and a converged autoencoder may still sit at a wide angle to PCA's.
    var = PCA(latent_dim + 1).fit(X).explained_variance_
    result["eigenvalue_gap"] = float((var[-2] - var[-1]) / var[-2])
    if out is not None and latent_dim >= 2:
        Zp = PCA(n_components=latent_dim).fit_transform(X)
        Za = align(encode(model, X), Zp)  # the autoencoder's codings, mapped onto PCA's axes
        path = projections(
            [("PCA", Zp[:, :2]), ("linear autoencoder (aligned)", Za[:, :2])],
            y if y is not None else np.zeros(n),  # a file has no labels: one colour
            Path(out) / "pca_vs_autoencoder.png",
        )
        result["figure"] = str(path)
    return result


def _stops_improving(window: int = 50, rel: float = 1e-6):
    """A fit callback: stop once the loss has not fallen by ``rel`` (relative) in ``window``
    epochs."""
    best = [float("inf"), 0]

    def callback(epoch: int, record: dict, model) -> bool:
        if record["train_loss"] < best[0] * (1 - rel):
            best[:] = [record["train_loss"], epoch]
        return epoch - best[1] >= window

    return callback


@step
def tour_pca(t: Tour) -> list[Row]:
    t.say("A linear autoencoder finds the PCA subspace (iris, standardised, 2 codings)")
    # Full-batch Adam reaches PCA's optimum to 4 digits in 500 epochs (0.04 deg apart).
    r = pca_check("iris", latent_dim=2, epochs=500 if t.demo else 1500, seed=t.seed, out=t.out)
    t.figure(r["figure"])
    t.say(
        f"   MSE autoencoder {r['ae_mse']:.5f} vs PCA {r['pca_mse']:.5f} "
        f"(ratio {r['mse_ratio']:.4f}); "
        f"largest principal angle {r['max_principal_angle_deg']:.3f} deg"
    )
    return [
        ("linear AE vs PCA (iris)", "MSE ratio", r["mse_ratio"], "1 = PCA's optimum"),
        ("linear AE vs PCA (iris)", "max angle (deg)", r["max_principal_angle_deg"], "0 = same"),
    ]


@step
def tour_stacked(t: Tour) -> list[Row]:
    from . import build, evaluate, fit
    from .metrics import reconstruct
    from .plots import reconstructions, training_curves

    train, val = t.data("train"), t.data("validation")
    hidden = (32, 16) if t.quick else (300, 150)
    # The small digits set wants more epochs, a higher rate and a Bernoulli (cross-entropy)
    # output; MNIST gets the seed's own set-up (squared error, 10 epochs).
    output, epochs, lr, batch = (
        ("bernoulli", 150, 1e-2, 64) if t.quick else ("linear", 10, 1e-3, 256)
    )
    if t.demo:  # a quarter of the steps: 40 epochs of batch 128 still beat PCA by a quarter
        epochs, batch = 40, 128
    name = "-".join(str(s) for s in (train.X.shape[1], *hidden, *hidden[-2::-1], train.X.shape[1]))
    t.say(f"A tied stacked autoencoder {name} (ELU, He init, L2, {output} output) on {t.dataset}")
    model = build(
        "stacked",
        n_features=train.X.shape[1],
        hidden=hidden,
        activation="elu",
        init="he",
        l2=1e-4,
        tied=True,
        output=output,
        seed=t.seed,
    )
    hist = fit(model, train.X, X_val=val.X, epochs=epochs, batch_size=batch, lr=lr, seed=t.seed)
    mse = evaluate(model, val.X)["mse"]
    t.figure(training_curves(hist.records, t.out / "stacked_curves.png"))
    R = reconstruct(model, val.X[:10])
    t.figure(reconstructions(val.X[:10], R, val.image_shape, t.out / "stacked_reconstructions.png"))
    baseline = _pca_mse(train.X, val.X, hidden[-1])
    t.say(
        f"   validation per-pixel MSE {mse:.5f} (PCA with {hidden[-1]} components: {baseline:.5f})"
    )
    return [
        (
            f"tied stacked AE ({t.dataset})",
            "val per-pixel MSE",
            mse,
            f"PCA-{hidden[-1]}: {baseline:.4f}" + ("; 40 epochs (--full: 150)" if t.demo else ""),
        )
    ]


def _pca_mse(X: np.ndarray, Xv: np.ndarray, k: int) -> float:
    from sklearn.decomposition import PCA

    pca = PCA(n_components=k).fit(X)
    return float(((pca.inverse_transform(pca.transform(Xv)) - Xv) ** 2).mean())


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
    t = Tour(out=Path(out), dataset=dataset, data_dir=data_dir, seed=seed, log=log, full=full)
    t.out.mkdir(parents=True, exist_ok=True)
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
    # Registration follows import order, which other imports can change; the walk-through's
    # order is fixed here (steps of unknown modules come last, in registration order).
    order = ["tour", "layerwise", "classify", "regularised", "generative", "estimators"]
    rank = {f"codings.{m}": i for i, m in enumerate(order)}
    steps = sorted(STEPS, key=lambda f: rank.get(f.__module__, len(order)))
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

    One self-contained file beside the figures (relative links, no scripts), written atomically.
    """
    import html
    import os

    def rel(path: str) -> str:
        p = Path(path)
        return p.relative_to(t.out).as_posix() if p.is_relative_to(t.out) else p.as_posix()

    budget = "quick budgets" if t.demo else "full budgets"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>codings tour: {html.escape(t.dataset)}</title>",
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
        "pre{white-space:pre-wrap}img{max-width:100%;border:1px solid #ddd;margin:.5em 0}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em}"
        "td.n{text-align:right;font-family:monospace}</style></head><body>",
        f"<h1>The tour of codings on {html.escape(t.dataset)}</h1>",
        f"<p>{len(sections)} steps, {budget}, {seconds:.0f} s in all, seed {t.seed}.</p>",
    ]
    for said, figures in sections:
        title, *rest = said or ["(a step)"]
        parts.append(f"<h2>{html.escape(title)}</h2>")
        if rest:
            parts.append("<pre>" + html.escape("\n".join(line.strip() for line in rest)) + "</pre>")
        for fig in figures:
            src = html.escape(rel(fig), quote=True)
            parts.append(f'<p><img src="{src}" alt="{src}"></p>')
    parts.append("<h2>Results</h2><table><tr><th>step</th><th>measure</th><th>value</th>")
    parts.append("<th>reference</th></tr>")
    for name, measure, value, ref in rows:
        cells = (html.escape(name), html.escape(measure), f"{value:.4f}", html.escape(ref))
        parts.append(
            f'<tr><td>{cells[0]}</td><td>{cells[1]}</td><td class="n">{cells[2]}</td>'
            f"<td>{cells[3]}</td></tr>"
        )
    parts.append("</table>")
    if t.demo:
        parts.append(
            "<p>These are the quick budgets; <code>codings tour --full</code> runs each "
            "step at its full one.</p>"
        )
    parts.append("</body></html>\n")
    path = t.out / "index.html"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    os.replace(tmp, path)
    return path


# Steps of later capabilities register themselves on import, in this order.
# isort: off
from . import classify as _classify  # noqa: E402,F401  layer-wise training, then pretraining
from . import regularised as _regularised  # noqa: E402,F401  denoising and sparse codings
from . import generative as _generative  # noqa: E402,F401  VAE and AAE: samples, latents
from . import estimators as _estimators  # noqa: E402,F401  one-class anomaly detection
# isort: on
