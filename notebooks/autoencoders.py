# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Autoencoders, told with codings
#
# The chapter the library started from, from start to end: a linear autoencoder against PCA,
# a stacked autoencoder with tied weights, greedy layer-wise training, unsupervised pretraining
# for a classifier with few labels, then the regularised autoencoders (denoising, sparse,
# contractive, convolutional, winner-take-all) and the generative ones (variational,
# adversarial, and a denoising autoencoder run as a Markov chain).
#
# **Quick by default.** The notebook runs on scikit-learn's embedded 8x8 digits (1,797 images,
# no download) in one to two minutes on two CPU cores; the numbers it prints are small-budget
# ones. Set `DATASET = "mnist"` in the next cell for the full chapter on MNIST (28x28, 55,000
# training images; tens of minutes on a CPU). MNIST is read from the project's data directory
# (the environment variable `CODINGS_DATA_DIR`, a folder holding `mnist/`), or downloaded.
#
# **Saved without outputs.** `autoencoders.ipynb` is paired with `autoencoders.py` (jupytext,
# percent format): the `.py` is the source that reviews read, and the `.ipynb` holds the same
# cells and no outputs, so that its diffs stay readable and no stale figure is ever committed.
# CI runs the notebook from top to bottom (`make test`, through nbmake) and fails if a cell
# raises; `make notebook` writes an executed copy with every figure to `notebooks/out/`.

# %%
DATASET = "digits"  # "mnist" for the full chapter
SEED = 0

# %%
# %matplotlib inline
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Image, display
from sklearn.decomposition import PCA

import codings
from codings import metrics, plots
from codings.datasets import load_dataset
from codings.generative import Binarize, interpolate, latent_plane, sample, sample_chain

QUICK = DATASET == "digits"
train = load_dataset(DATASET, "train")
val = load_dataset(DATASET, "validation")
test = load_dataset(DATASET, "test")
D, SHAPE = train.X.shape[1], train.image_shape
FIGURES = Path(tempfile.mkdtemp(prefix="codings-notebook-"))  # codings.plots writes files


def show(path):
    """Show a figure that a codings.plots function wrote to a file."""
    display(Image(filename=str(path)))


def draw(fig):
    """Show a figure drawn here. (codings.plots switches matplotlib to its file-only Agg
    backend, after which plt.show() would show nothing; display() always does.)"""
    display(fig)
    plt.close(fig)


def rows_of_images(rows, labels, title=None):
    """Rows of images (each an (n, D) array) with a label on the left of each row."""
    fig, axes = plt.subplots(len(rows), 1, figsize=(len(rows[0]) * 0.9, len(rows) * 1.0))
    for ax, row, label in zip(np.atleast_1d(axes), rows, labels, strict=True):
        strip = np.concatenate([np.pad(r.reshape(SHAPE), 1) for r in row], axis=1)
        ax.imshow(strip, cmap="binary", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    draw(fig)


def pca_mse(k):
    """Validation per-pixel MSE of PCA with k components fitted on the training set."""
    pca = PCA(n_components=k).fit(train.X)
    return float(((pca.inverse_transform(pca.transform(val.X)) - val.X) ** 2).mean())


print(train)
print(f"figures written by codings.plots go to {FIGURES}")

# %% [markdown]
# ## 1. A linear autoencoder performs PCA
#
# With linear activations, no more codings than inputs and the squared error, an autoencoder
# can do no better than PCA, and at its optimum its codings span the same subspace as the
# first principal components (Baldi & Hornik 1989). Here: 2 codings of the images, trained
# with Adam (full batches on the digits), against scikit-learn's PCA with 2 components. Its MSE
# should come within a fraction of a percent of PCA's, and the largest principal angle between
# the two subspaces should be near 0.

# %%
linear = codings.build("linear", n_features=D, latent_dim=2, seed=SEED)
codings.fit(
    linear,
    train.X,
    epochs=500 if QUICK else 100,
    batch_size=len(train.X) if QUICK else 256,
    lr=3e-2 if QUICK else 1e-3,
    seed=SEED,
)
r = metrics.pca_comparison(linear, train.X, latent_dim=2)
print(
    f"training MSE: autoencoder {r['ae_mse']:.5f}, PCA {r['pca_mse']:.5f} "
    f"(ratio {r['mse_ratio']:.4f}); largest principal angle {r['max_principal_angle_deg']:.2f} deg"
)

# %% [markdown]
# The autoencoder finds the subspace but not PCA's axes: any invertible 2x2 map of its codings
# (a rotation, a flip, a stretch) reconstructs equally well, so its raw projection is PCA's seen
# at an arbitrary angle. `codings.metrics.align` finds the affine map of the codings onto PCA's
# by least squares; after it the two projections should coincide, columns the right way round.

# %%
Z_pca = PCA(n_components=2).fit(train.X).transform(train.X)
Z_ae = metrics.encode(linear, train.X)
panels = [
    ("PCA", Z_pca),
    ("autoencoder: raw codings", Z_ae),
    ("autoencoder, aligned to PCA", metrics.align(Z_ae, Z_pca)),
]
fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), layout="constrained")
for ax, (title, Z) in zip(axes, panels, strict=True):
    points = ax.scatter(Z[:, 0], Z[:, 1], c=train.y, cmap="tab10", s=4)
    ax.set_title(title)
    ax.set_xlabel("1st coding")
    ax.set_ylabel("2nd coding")
fig.colorbar(points, ax=axes, label="digit")
draw(fig)

# %% [markdown]
# ## 2. A stacked autoencoder with tied weights
#
# More layers and a non-linearity (ELU, He initialisation) let the codings bend with the data.
# Each decoder layer reuses the transpose of its mirror encoder layer's weights (`tied=True`),
# which halves the parameters; a little L2 regularisation keeps the weights small. Compare its
# validation error with PCA's with as many components as it has codings: on the digits the
# autoencoder is ahead; on MNIST, 150 codings after 10 epochs come close to PCA-150 but not
# past it (0.0040 against 0.0035 per pixel in our run).

# %%
hidden = (32, 16) if QUICK else (300, 150)
stacked = codings.build(
    "stacked",
    n_features=D,
    hidden=hidden,
    activation="elu",
    init="he",
    l2=1e-4,
    tied=True,
    output="bernoulli" if QUICK else "linear",
    seed=SEED,
)
history = codings.fit(
    stacked,
    train.X,
    X_val=val.X,
    epochs=40 if QUICK else 10,
    batch_size=128 if QUICK else 256,
    lr=1e-2 if QUICK else 1e-3,
    seed=SEED,
)
mse = codings.evaluate(stacked, val.X)["mse"]
baseline = pca_mse(hidden[-1])
print(f"validation per-pixel MSE {mse:.5f}; PCA with {hidden[-1]} components {baseline:.5f}")
print(f"parameters: {sum(p.numel() for p in stacked.parameters()):,}")

fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(history["epoch"], history["train_loss"], label="training")
ax.plot(history["epoch"], history["val_loss"], label="validation")
ax.set_xlabel("epoch")
ax.set_ylabel("loss per example")
ax.legend()
draw(fig)
rows_of_images(
    [val.X[:10], metrics.reconstruct(stacked, val.X[:10])], ["original", "reconstruction"]
)

# %% [markdown]
# ## 3. Greedy layer-wise training
#
# Before deep networks trained well end to end, stacked autoencoders were trained one layer
# pair at a time: phase 1 trains the outer layers as a shallow autoencoder of the images,
# phase 2 a shallow autoencoder of phase 1's (frozen) codings, and so on
# (`codings.pretrain_layerwise`). The reconstructions after each phase show the model growing;
# the feature images show each first-layer unit's weights in the shape of the input image,
# red where a pixel excites the unit and blue where it inhibits it (coarse on 8x8 digits; on
# MNIST they look like pieces of strokes). On MNIST the autoencoder is a denoising one (masking
# noise), the recipe of BENCHMARKS.md ("How many labels does pretraining save?"), whose codings
# carry more for the classifier of the next section than a plain one's.

# %%
recipe = {} if QUICK else dict(noise="masking", noise_level=0.3, output="bernoulli")
layerwise = codings.build(
    "stacked" if QUICK else "denoising",
    n_features=D,
    hidden=hidden,
    l2=1e-4 if QUICK else 0.0784,
    tied=True,
    seed=SEED,
    **recipe,
)
shown = val.X[:8]
phase_rows, phase_labels = [shown], ["original"]


def snapshot(phase, partial):
    phase_rows.append(metrics.reconstruct(partial, shown))
    phase_labels.append(f"after phase {phase}")
    err = float(((metrics.reconstruct(partial, test.X) - test.X) ** 2).mean())
    print(f"phase {phase}: test per-pixel MSE {err:.5f}")


codings.pretrain_layerwise(
    layerwise,
    train.X,
    X_val=val.X,
    epochs=40 if QUICK else 4,
    batch_size=64 if QUICK else 150,
    lr=3e-3 if QUICK else 1e-3,
    seed=SEED,
    on_phase_end=snapshot,
)
rows_of_images(phase_rows, phase_labels)
show(plots.filters(layerwise, SHAPE, FIGURES / "layerwise_features.png", n=32))

# %% [markdown]
# ## 4. Unsupervised pretraining, then a classifier with few labels
#
# The layer-wise autoencoder above saw every training image but no label. Its encoder is now
# the first layers of a classifier trained on only a handful of labelled images per class:
# `frozen` trains only a small head on the fixed codings, `finetune` then trains everything,
# and `scratch` trains the same network from random weights on the same few labels. With this
# few labels the pretrained encoder should help: on the digits (5 labels a class), fine-tuned
# is ahead of scratch for each of 3 draws of the labels we tried; on MNIST (100 a class),
# BENCHMARKS.md reports 92.5% fine-tuned against 88.9% from scratch (3 seeds).

# %%
per_class = 5 if QUICK else 100
rng = np.random.default_rng(SEED)
few = np.concatenate(
    [rng.choice(np.flatnonzero(train.y == c), per_class, replace=False) for c in range(10)]
)
print(f"{len(few)} labelled training images ({per_class} per class)")
for mode in ("frozen", "finetune", "scratch"):
    clf, _ = codings.train_classifier(
        layerwise,
        train.X[few],
        train.y[few],
        X_val=val.X,
        y_val=val.y,
        mode=mode,
        hidden=(32,) if QUICK else (100, 50),
        dropout=0.0 if QUICK else 0.3,
        epochs=150 if QUICK else 30,
        batch_size=32,
        patience=15 if QUICK else 4,
        seed=SEED,
    )
    with torch.no_grad():
        predicted = clf(torch.as_tensor(test.X)).argmax(1).numpy()
    print(f"{mode:9s} test accuracy {np.mean(predicted == test.y):.3f}")

# %% [markdown]
# ## 5. Denoising
#
# A denoising autoencoder sees a corrupted input (here Gaussian noise of standard deviation
# 0.3, drawn afresh at every step of training) and must rebuild the clean one (Vincent et al.
# 2008). It learns what digits look like rather than the identity. Against a plain autoencoder
# of the same shape, its reconstructions of noisy images should be closer to the clean ones.

# %%
sigma = 0.3
dense_hidden = (32,) if QUICK else (300,)
budget = dict(
    epochs=30 if QUICK else 10, batch_size=64 if QUICK else 256, lr=3e-3 if QUICK else 1e-3
)
denoising = codings.build(
    "denoising", n_features=D, hidden=dense_hidden, noise="gaussian", noise_level=sigma, seed=SEED
)
plain = codings.build("stacked", n_features=D, hidden=dense_hidden, seed=SEED)
for model in (denoising, plain):
    codings.fit(model, train.X, X_val=val.X, seed=SEED, **budget)
err = metrics.denoising_error(denoising, val.X, noise_level=sigma, seed=SEED)
err_plain = metrics.denoising_error(plain, val.X, noise_level=sigma, seed=SEED)
print(f"noisy input -> clean image, per-pixel MSE: denoising {err:.5f}, plain {err_plain:.5f}")

noisy = val.X[:10] + sigma * np.random.default_rng(SEED).standard_normal(val.X[:10].shape)
noisy = noisy.astype(np.float32)
rows_of_images(
    [
        np.clip(noisy, 0, 1),
        metrics.reconstruct(plain, noisy),
        metrics.reconstruct(denoising, noisy),
    ],
    ["noisy input", "plain", "denoising"],
)

# %% [markdown]
# ## 6. Sparse codings (KL divergence)
#
# A sparse autoencoder may have many codings but keeps each one mostly off: a penalty, the KL
# divergence between a target activation (here 0.1) and each sigmoid unit's mean activation
# over a batch, pushes every unit to fire for about one image in ten. The histogram shows each
# unit's mean activation on the validation set; it should gather around the target line.

# %%
target = 0.1
sparse = codings.build(
    "sparse", n_features=D, hidden=(64,) if QUICK else (300,), sparsity_target=target, seed=SEED
)
codings.fit(sparse, train.X, X_val=val.X, seed=SEED, **budget)
acts = metrics.mean_activations(sparse, val.X)
print(
    f"mean activation over units {acts.mean():.3f} (target {target}); each unit off the target "
    f"by {metrics.target_gap(sparse, val.X, target):.0%} of it on average"
)
fig, ax = plt.subplots(figsize=(5, 3))
ax.hist(acts, bins=30)
ax.axvline(target, color="tab:red", linestyle="--", label=f"target {target}")
ax.set_xlabel("mean activation of a coding unit")
ax.set_ylabel("units")
ax.legend()
draw(fig)

# %% [markdown]
# ## 7. A variational autoencoder
#
# A VAE's encoder gives a Gaussian over the codings rather than a point; the loss adds the KL
# divergence from that Gaussian to the prior N(0, I) (Kingma & Welling 2014). Its decoder then
# turns any draw from the prior into an image: new digits. With 2 codings the whole latent
# space can be drawn: the test codings coloured by digit, and the images decoded over a grid
# of the same plane. The pixels are binarised afresh at every step (a Bernoulli likelihood).

# %%
gen_hidden = (128, 64) if QUICK else (500, 500)
gen_budget = dict(
    epochs=40 if QUICK else 30, batch_size=64 if QUICK else 128, lr=3e-3 if QUICK else 1e-3
)
vae = codings.build("vae", n_features=D, hidden=gen_hidden, latent_dim=2, seed=SEED)
vae.input_transform = Binarize()
codings.fit(vae, train.X, X_val=val.X, seed=SEED, **gen_budget)

new = sample(vae, 32, seed=SEED)
rows_of_images([new[:16], new[16:]], ["new digits", ""], title="decoded draws from the prior")

a, b = int(np.flatnonzero(test.y == 0)[0]), int(np.flatnonzero(test.y == 1)[0])
rows_of_images([interpolate(vae, test.X[a], test.X[b], steps=10)], ["0 to 1"])

Z = metrics.encode(vae, train.X)  # the means of the codings, (n, 2)
plane, half = latent_plane(vae, 12, codings=Z)
show(
    plots.latent_scatter(
        Z,
        train.y,
        FIGURES / "vae_latent.png",
        grid=plane,
        image_shape=SHAPE,
        extent=half,
        title="VAE: codings of the training images",
    )
)

# %% [markdown]
# ## 8. A contractive autoencoder
#
# A contractive autoencoder penalises the squared Frobenius norm of the encoder's Jacobian
# (Rifai et al. 2011): its codings change little when the input moves, except along the
# directions the data varies in. Measured directly on validation images, its Jacobian should
# be much smaller than that of the same sigmoid autoencoder trained without the penalty.

# %%
shape_kw = dict(n_features=D, hidden=(32,) if QUICK else (256,), seed=SEED)
contractive = codings.build("contractive", contractive=0.1, **shape_kw)
no_penalty = codings.build("stacked", activation="sigmoid", init="xavier", **shape_kw)
for model in (contractive, no_penalty):
    codings.fit(model, train.X, X_val=val.X, seed=SEED, **budget)


def jacobian_norm(model, X):
    """Mean over examples of the squared Frobenius norm of d(codings)/d(input)."""
    model.eval()
    norms = [
        torch.autograd.functional.jacobian(model.encode, torch.as_tensor(x[None])).square().sum()
        for x in X
    ]
    return float(torch.stack(norms).mean())


for name, model in (("contractive", contractive), ("no penalty", no_penalty)):
    print(
        f"{name:12s} squared Jacobian norm {jacobian_norm(model, val.X[:100]):8.3f}, "
        f"validation MSE {codings.evaluate(model, val.X)['mse']:.5f}"
    )

# %% [markdown]
# ## 9. A convolutional autoencoder
#
# For images, convolutions share each filter across positions: stride-2 convolutions halve the
# feature maps, and transposed convolutions mirror them back up. The first-layer kernels are
# shown below the reconstructions.

# %%
conv = codings.build(
    "conv", n_features=D, image_shape=SHAPE, channels=(16, 32), output="bernoulli", seed=SEED
)
codings.fit(conv, train.X, X_val=val.X, seed=SEED, **budget)
print(f"validation per-pixel MSE {codings.evaluate(conv, val.X)['mse']:.5f}")
rows_of_images([val.X[:10], metrics.reconstruct(conv, val.X[:10])], ["original", "conv"])
show(plots.filters(conv, SHAPE, FIGURES / "conv_kernels.png"))

# %% [markdown]
# ## 10. Winner-take-all
#
# A winner-take-all autoencoder (Makhzani & Frey 2015) enforces lifetime sparsity: in each
# training batch, every coding unit keeps only its 5% largest activations and passes zero for
# the rest (at test time all pass). Each unit then has to specialise on a few images. In
# training mode a unit is active for at most round(0.05 x 128) = 6 images of a batch of 128
# (0.047; fewer where its ReLU is zero, and 0 for a unit that has died). The images show what
# each unit adds to a reconstruction (its column of the decoder's weights): on 8x8 digits,
# coarse pieces of digits.

# %%
wta = codings.build("wta", n_features=D, hidden=(128,) if QUICK else (2000,), rate=0.05, seed=SEED)
codings.fit(
    wta,
    train.X,
    X_val=val.X,
    epochs=60 if QUICK else 10,
    batch_size=128,
    lr=1e-2 if QUICK else 1e-3,
    seed=SEED,
)
print(f"validation per-pixel MSE {codings.evaluate(wta, val.X)['mse']:.5f}")
wta.train()  # lifetime sparsity acts in training mode only
with torch.no_grad():
    active = (wta.encode(torch.as_tensor(train.X[:128])) != 0).float().mean(0)
wta.eval()
print(f"share of a batch of 128 each unit is active for: {active.min():.3f} to {active.max():.3f}")
decoder_weight = [m for m in wta.decoder.modules() if isinstance(m, torch.nn.Linear)][-1].weight
show(
    plots.feature_images(
        decoder_weight.detach().numpy().T,
        SHAPE,
        FIGURES / "wta_features.png",
        n=32,
        title="what each unit draws (decoder columns)",
    )
)

# %% [markdown]
# ## 11. An adversarial autoencoder
#
# An adversarial autoencoder (Makhzani et al. 2016) replaces the VAE's KL term by a
# discriminator that tells codings from draws of the prior; the encoder learns to fool it, so
# its codings come to look like the prior, here N(0, I) in 2 dimensions. Then, as for the VAE,
# decoded draws from the prior are new digits.

# %%
aae = codings.build("aae", n_features=D, hidden=gen_hidden, latent_dim=2, seed=SEED)
aae.input_transform = Binarize()
codings.fit(aae, train.X, X_val=val.X, seed=SEED, **gen_budget)
Z = metrics.encode(aae, train.X)
print(
    f"training codings: mean {np.round(Z.mean(0), 2)}, standard deviation {np.round(Z.std(0), 2)}"
)
plane, half = latent_plane(aae, 12, codings=Z)
show(
    plots.latent_scatter(
        Z,
        train.y,
        FIGURES / "aae_latent.png",
        grid=plane,
        image_shape=SHAPE,
        extent=half,
        title="AAE: codings of the training images",
    )
)
new = sample(aae, 16, seed=SEED)
rows_of_images([new], ["new digits"])

# %% [markdown]
# ## 12. Sampling from a denoising autoencoder
#
# A denoising autoencoder is a generative model too (Bengio et al. 2013): corrupt an image,
# reconstruct it, draw the next image from the reconstruction's distribution, and repeat. The
# chain wanders among digit-like images. Here a denoising autoencoder with masking noise and a
# Bernoulli output starts from pure noise; every row shows the chain a few steps later.

# %%
chain_model = codings.build(
    "denoising",
    n_features=D,
    hidden=(64,) if QUICK else (500,),
    noise="masking",
    noise_level=0.3,
    output="bernoulli",
    seed=SEED,
)
codings.fit(chain_model, train.X, X_val=val.X, seed=SEED, **budget)
start = np.random.default_rng(SEED).random((10, D)).astype(np.float32)
states = sample_chain(chain_model, start, steps=40, seed=SEED)  # (steps + 1, n, D)
rows_of_images(
    [states[s] for s in (0, 1, 5, 20, 40)], ["start", "step 1", "step 5", "step 20", "step 40"]
)

# %% [markdown]
# That is the chapter. Each model above is a `codings.build(...)` away, and each trains with
# the same `codings.fit`; `codings list` on the command line shows every model's arguments.
