"""The tour's steps, in the order they run (:data:`STEPS`).

Each step receives the :class:`~codings.tour.core.Tour` and returns rows ``(step, measure,
value, reference)`` for the closing table. Steps use the library as a user would, through its
public functions; the tour is a client of the library, never the other way round.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ..classify import MODES, score, stratified_subset, train_classifier
from ..diagnostics import CodingsWarning
from ..generative import (
    Binarize,
    _prior,
    binarize,
    interpolate,
    latent_plane,
    mmd,
    nll_report,
    sample,
)
from ..layerwise import pretrain_layerwise
from ..metrics import denoising_error, encode, mean_activations, reconstruct, target_gap
from ..models import Autoencoder, build
from ..noise import corruption
from ..plots import (
    activation_histogram,
    filters,
    image_grid,
    image_rows,
    latent_scatter,
    layerwise_reconstructions,
    reconstructions,
    training_curves,
)
from ..plots import denoising as denoising_figure
from ..train import evaluate, fit
from .core import Row, Tour
from .pca import pca_check


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


def tour_stacked(t: Tour) -> list[Row]:

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
    t.figure(training_curves(hist.records, t.figure_path("stacked_curves.png")))
    R = reconstruct(model, val.X[:10])
    t.figure(
        reconstructions(
            val.X[:10], R, val.image_shape, t.figure_path("stacked_reconstructions.png")
        )
    )
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


def tour_layerwise(t: Tour) -> list[Row]:

    train, val, test = t.data("train"), t.data("validation"), t.data("test")
    d = train.X.shape[1]
    hidden = (32, 16) if t.quick else (300, 150)
    name = "-".join(str(s) for s in (d, *hidden, *hidden[-2::-1], d))
    l2 = 1e-4
    t.say(f"Greedy layer-wise training of a tied {name} (ELU, l2={l2:g}), one pair per phase")
    model = build("stacked", n_features=d, hidden=hidden, l2=l2, tied=True, seed=t.seed)
    shown = val.X[:8]
    rows_shown, labels, test_mse = [shown], ["original"], []

    def snapshot(k: int, partial: Autoencoder) -> None:
        rows_shown.append(reconstruct(partial, shown))
        labels.append(f"after phase {k}")
        test_mse.append(float(((reconstruct(partial, test.X) - test.X) ** 2).mean()))

    pretrain_layerwise(
        model,
        train.X,
        X_val=val.X,
        epochs=(25 if t.demo else 40) if t.quick else 4,
        batch_size=64 if t.quick else 150,
        lr=3e-3 if t.quick else 1e-3,
        seed=t.seed,
        on_phase_end=snapshot,
    )
    t.pretrained = model  # the next step puts a classifier on its encoder
    t.figure(
        layerwise_reconstructions(
            rows_shown, labels, train.image_shape, t.figure_path("layerwise_reconstructions.png")
        )
    )
    t.figure(filters(model, train.image_shape, t.figure_path("layerwise_features.png")))
    per_phase = ", ".join(f"{m:.5f}" for m in test_mse)
    t.say(f"   test per-pixel MSE after each phase: {per_phase} (no fine-tuning)")
    return [
        (
            f"layer-wise {name} ({t.dataset})",
            f"test MSE after phase {k}",
            m,
            "per pixel" + ("; 25 epochs a phase (--full: 40)" if t.demo else ""),
        )
        for k, m in enumerate(test_mse, start=1)
    ]


def tour_pretraining(t: Tour) -> list[Row]:
    train, val, test = t.data("train"), t.data("validation"), t.data("test")
    d = train.X.shape[1]
    hidden = (32, 16) if t.quick else (300, 150)
    n_labels = 50 if t.quick else 1000
    ae = t.pretrained  # the layer-wise step's autoencoder, if it ran
    fresh = not t.quick or ae is None or ae.config["kwargs"].get("hidden") != list(hidden)
    if fresh:
        # On MNIST, the recipe of benchmarks/pretraining.py: a denoising autoencoder (masking
        # noise, the seed's L2), trained layer-wise; its codings carry more than section 1's.
        kw = {} if t.quick else dict(noise="masking", noise_level=0.3, output="bernoulli")
        ae = build(
            "stacked" if t.quick else "denoising",
            n_features=d,
            hidden=hidden,
            l2=1e-4 if t.quick else 0.0784,
            tied=True,
            seed=t.seed,
            **kw,
        )
    t.say(
        f"Unsupervised pretraining: the encoder of a layer-wise trained {ae.config['name']} "
        f"{d}-{'-'.join(map(str, hidden))} autoencoder (all {len(train.X)} training images, no "
        f"labels), then a classifier trained on {n_labels} labels"
    )
    if fresh:  # said first, as the step starts: on MNIST this pretraining takes minutes
        pretrain_layerwise(
            ae,
            train.X,
            X_val=val.X,
            epochs=40 if t.quick else 4,
            batch_size=64 if t.quick else 150,
            lr=3e-3 if t.quick else 1e-3,
            seed=t.seed,
        )
    idx = stratified_subset(train.y, n_labels, seed=t.seed)
    rows: list[Row] = []
    head = (32,) if t.quick else (100, 50)
    for mode in MODES:
        clf, hist = train_classifier(
            ae,
            train.X[idx],
            train.y[idx],
            X_val=val.X,
            y_val=val.y,
            mode=mode,
            hidden=head,
            dropout=0.0 if t.quick else 0.3,
            epochs=150 if t.quick else 30,
            batch_size=32,
            patience=15 if t.quick else 4,
            seed=t.seed,
        )
        acc = score(clf, test.X, test.y)["accuracy"]
        t.say(f"   {mode:9s} test accuracy {acc:.4f} ({len(hist)} epochs)")
        ref = "" if t.quick else "benchmark: 92.1/92.5/88.9 (3 seeds)"
        rows.append((f"classifier, {n_labels} labels ({t.dataset})", f"{mode} accuracy", acc, ref))
    return rows


def tour_regularised(t: Tour) -> list[Row]:

    train, val = t.data("train"), t.data("validation")
    d = train.X.shape[1]
    hidden, epochs, batch = ((32,), 50, 64) if t.quick else ((300,), 10, 256)
    if t.demo:
        epochs = 30
    target, sigma = 0.1, 0.3
    t.say(
        f"A denoising sparse autoencoder (Gaussian noise sigma={sigma}, KL sparsity towards "
        f"{target}, {hidden[0]} sigmoid codings) against a plain one of the same shape"
    )
    common = dict(n_features=d, hidden=hidden, seed=t.seed)
    model = build("denoising", **common, noise_level=sigma, sparsity="kl", sparsity_target=target)
    plain = build("stacked", **common)
    for m in (model, plain):
        fit(m, train.X, X_val=val.X, epochs=epochs, batch_size=batch, lr=3e-3, seed=t.seed)
    err = denoising_error(model, val.X, noise_level=sigma, seed=t.seed)
    err_plain = denoising_error(plain, val.X, noise_level=sigma, seed=t.seed)
    gap = target_gap(model, val.X, target)
    noisy = corruption("gaussian", sigma)(
        torch.from_numpy(val.X[:10]), generator=torch.Generator().manual_seed(t.seed)
    ).numpy()
    shape = val.image_shape
    t.figure(
        denoising_figure(
            noisy, val.X[:10], reconstruct(model, noisy), shape, t.figure_path("denoising.png")
        )
    )
    acts = mean_activations(model, val.X)
    t.figure(activation_histogram(acts, target, t.figure_path("sparse_activations.png")))
    t.figure(filters(model, shape, t.figure_path("denoising_filters.png")))
    t.say(
        f"   from noisy inputs: per-pixel MSE to the clean images {err:.5f}, plain {err_plain:.5f} "
        f"(ratio {err / err_plain:.3f}); mean activation {np.mean(acts):.3f}, "
        f"off the target by {gap:.1%} per unit on average"
    )
    name = f"denoising sparse AE ({t.dataset})"
    return [
        (
            name,
            "noisy MSE / plain",
            err / err_plain,
            "<= 0.8 (plain: same shape, no noise)" + ("; 30 epochs (--full: 50)" if t.demo else ""),
        ),
        (name, "mean act. gap (rel.)", gap, f"<= 0.2 (target {target})"),
    ]


def tour_generative(t: Tour) -> list[Row]:

    train, val = t.data("train"), t.data("validation")
    test = t.data("test")
    d = train.X.shape[1]
    quick = t.quick
    hidden = (128, 64) if quick else (500, 500)
    epochs = 80 if quick else 10
    # (epochs, batch, lr) of each model: on the demo's budget, a smaller net at a higher rate
    # matches the prior as well as the full one (MMD^2 0.014 and 0.034 against 0.028 and 0.037)
    # in a quarter of the epochs; the AAE's adversary wants the smaller batches.
    budget = {m: (epochs, 64 if quick else 128, 1e-3) for m in ("vae", "aae")}
    if t.demo:
        hidden, budget = (64, 32), {"vae": (20, 128, 5e-3), "aae": (20, 64, 5e-3)}
    rows: list[Row] = []
    t.say(f"Generative autoencoders on {t.dataset}: a VAE and an AAE with 2 codings")
    for name, kw in (("vae", {}), ("aae", {"prior": "gaussian"})):
        model = build(name, n_features=d, hidden=hidden, latent_dim=2, seed=t.seed, **kw)
        model.input_transform = Binarize()  # dynamic binarisation: likelihoods of binary data
        fit(
            model,
            train.X,
            X_val=val.X,
            epochs=budget[name][0],
            batch_size=budget[name][1],
            lr=budget[name][2],
            seed=t.seed,
        )
        S = sample(model, 64, seed=t.seed)
        t.figure(
            image_grid(
                S,
                train.image_shape,
                t.figure_path(f"{name}_samples.png"),
                title=f"{name}: samples from the prior",
            )
        )
        a, b = _two_classes(test.y)
        strip = interpolate(model, test.X[a], test.X[b], steps=10)
        t.figure(
            image_rows(
                [strip],
                train.image_shape,
                t.figure_path(f"{name}_interpolation.png"),
                title=f"{name}: from test #{a} to test #{b}",
            )
        )
        Z = encode(model, test.X)
        plane, half = latent_plane(model, 12, codings=Z)  # the square the codings spread over
        t.figure(
            latent_scatter(
                Z,
                test.y,
                t.figure_path(f"{name}_latent.png"),
                grid=plane,
                image_shape=train.image_shape,
                extent=half,
                title=f"{name}: test codings",
            )
        )
        prior_draws = _prior(model).sample(len(Z), generator=torch.Generator().manual_seed(0))
        gap = mmd(Z[:1000], prior_draws[:1000].numpy())
        rows.append((f"{name} ({t.dataset})", "MMD^2 codings-prior", gap, "0 = matches the prior"))
        if name == "vae":
            r = nll_report(model, binarize(test.X), k=100)
            t.say(f"   vae: test ELBO {r['elbo']:.2f}, NLL (k=100) {r['nll']:.2f} nats")
            note = "64-32, 20 epochs (--full: 128-64, 80)" if t.demo else ""
            rows.append((f"vae ({t.dataset}, binarised)", "test NLL k=100 (nats)", r["nll"], note))
        t.say(f"   {name}: MMD^2 between test codings and prior draws {gap:.4f}")
    return rows


def _two_classes(y) -> tuple[int, int]:
    if y is None:
        return 0, 1
    y = np.asarray(y)
    return int(np.flatnonzero(y == y[0])[0]), int(np.flatnonzero(y != y[0])[0])


def tour_anomaly(t: Tour) -> list[Row]:
    from sklearn.decomposition import PCA
    from sklearn.metrics import roc_auc_score

    from ..estimators import AutoencoderOutlierDetector  # scikit-learn: loaded when run

    train, val, test = t.data("train"), t.data("validation"), t.data("test")
    X_test = np.concatenate([val.X, test.X])
    y_test = np.concatenate([val.y, test.y])
    if t.quick:
        n_train, hidden, k, epochs, batch = None, (64,), 8, 20 if t.demo else 60, 32
    else:  # MNIST-sized images: a subset keeps the step short
        n_train, hidden, k, epochs, batch = 2000, (128,), 32, 10, 128
        X_test, y_test = X_test[:5000], y_test[:5000]
    d = train.X.shape[1]
    t.say(
        f"One-class anomaly detection ({t.dataset}): for each class, an "
        f"AutoencoderOutlierDetector {d}-{'-'.join(map(str, hidden))}-{k} trained on that class "
        f"only scores {len(X_test)} held-out images; ROC AUC, that class as the normal one"
    )
    ae, pca = [], []
    for digit in range(10):
        X = train.X[train.y == digit][:n_train]
        normal = y_test == digit
        det = AutoencoderOutlierDetector(
            hidden=hidden,
            latent_dim=k,
            output="bernoulli",
            epochs=epochs,
            batch_size=batch,
            lr=3e-3,
            random_state=t.seed,
        )
        with warnings.catch_warnings():
            # A few epochs on one class (about 145 images) reconstruct worse than PCA, as
            # fit warns; this step puts the two side by side on what counts here, the AUC.
            warnings.simplefilter("ignore", CodingsWarning)
            det.fit(X)
        ae.append(roc_auc_score(normal, det.score_samples(X_test)))
        p = PCA(n_components=k).fit(X)
        R = p.inverse_transform(p.transform(X_test))
        pca.append(roc_auc_score(normal, -((R - X_test) ** 2).mean(axis=1)))
    t.say(
        f"   mean AUC autoencoder {np.mean(ae):.4f}, PCA reconstruction error ({k} components) "
        f"{np.mean(pca):.4f}; worst class: {int(np.argmin(ae))} ({min(ae):.4f})"
    )
    return [
        (
            f"one-class anomaly AUC ({t.dataset})",
            "mean ROC AUC",
            float(np.mean(ae)),
            f"PCA-{k}: {np.mean(pca):.4f}" + ("; 20 epochs (--full: 60)" if t.demo else ""),
        )
    ]


STEPS = (
    tour_pca,
    tour_stacked,
    tour_layerwise,
    tour_pretraining,  # on the layer-wise step's autoencoder (Tour.pretrained)
    tour_regularised,
    tour_generative,
    tour_anomaly,
)
