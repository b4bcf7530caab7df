"""Known answers for the generative autoencoders: KL in closed form, exact likelihoods of a
linear Gaussian model, bounds that tighten with k, samples, the adversarial prior, Markov chains."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from codings import build, fit, load, save
from codings.cli import main
from codings.generative import (
    Binarize,
    GaussianBottleneck,
    MixturePrior,
    VariationalAutoencoder,
    binarize,
    gaussian_kl,
    interpolate,
    latent_plane,
    likelihood_bounds,
    log_weights,
    mmd,
    nll_report,
    sample,
    sample_chain,
)
from codings.models import Autoencoder
from codings.noise import GaussianNoise

# --- the KL term ------------------------------------------------------------------------------


def test_kl_of_the_prior_to_itself_is_zero():
    mu, logvar = torch.zeros(3, 7), torch.zeros(3, 7)
    assert torch.equal(gaussian_kl(mu, logvar), torch.zeros(3))


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros(4), torch.ones(4))
    expected = torch.distributions.kl_divergence(q, p).sum(-1)
    torch.testing.assert_close(gaussian_kl(mu, logvar), expected, rtol=1e-5, atol=1e-6)


def test_bottleneck_reports_beta_times_the_closed_form_kl():
    torch.manual_seed(0)
    b = GaussianBottleneck(6, 3, beta=2.5)
    h = torch.randn(10, 6)
    z, parts = b(h)
    mu, logvar = b.params(h)
    assert z.shape == (10, 3)
    torch.testing.assert_close(parts["kl"], 2.5 * gaussian_kl(mu, logvar).mean())
    assert torch.equal(b.encode(h), mu)


# --- likelihoods of a linear Gaussian model, where log p(x) is known ----------------------------

D, L, SIGMA2 = 5, 2, 0.5  # output="linear" is the Gaussian decoder of variance 1/2


def _linear_gaussian(shift: float = 0.0, iwae_k: int = 1) -> tuple[VariationalAutoencoder, tuple]:
    """x = W z + b + N(0, 1/2), z ~ N(0, I), with W's columns orthogonal so that the exact
    posterior is a diagonal Gaussian; the encoder computes it exactly (plus ``shift``)."""
    q, _ = torch.linalg.qr(torch.randn(D, L, generator=torch.Generator().manual_seed(1)))
    W = q * torch.tensor([1.5, 0.7])  # (D, L), W^T W = diag(a)
    b = torch.linspace(-0.5, 0.5, D)
    a = (W * W).sum(0)
    var = 1.0 / (1.0 + a / SIGMA2)  # posterior variances
    A = var[:, None] * W.T / SIGMA2  # mean = A (x - b)
    bottleneck = GaussianBottleneck(D, L)
    decoder = nn.Linear(L, D)
    with torch.no_grad():
        bottleneck.linear.weight.copy_(torch.cat([A, torch.zeros(L, D)]))
        bottleneck.linear.bias.copy_(torch.cat([-A @ b + shift, var.log()]))
        decoder.weight.copy_(W)
        decoder.bias.copy_(b)
    model = VariationalAutoencoder(
        nn.Identity(), decoder, bottleneck=bottleneck, iwae_k=iwae_k, output="linear"
    )
    return model, (W, b)


def _exact_log_px(X, W, b):
    cov = W @ W.T + SIGMA2 * torch.eye(D)
    return torch.distributions.MultivariateNormal(b, cov).log_prob(X).double().numpy()


def _data(n=64):
    return torch.randn(n, D, generator=torch.Generator().manual_seed(2))


def test_exact_posterior_makes_every_bound_the_log_likelihood():
    model, (W, b) = _linear_gaussian()
    X = _data()
    exact = _exact_log_px(X, W, b)
    for k in (1, 7):  # every importance weight is p(x): no variance at all
        r = likelihood_bounds(model, X, k=k, seed=k)
        np.testing.assert_allclose(r["log_likelihood"], exact, atol=2e-4)
    # The closed-form-KL ELBO equals log p(x) in expectation (its reconstruction term varies).
    elbo = likelihood_bounds(model, X, k=4000, seed=0)["elbo"]
    np.testing.assert_allclose(elbo, exact, atol=0.15)
    assert elbo.mean() == pytest.approx(exact.mean(), abs=0.02)


def test_iwae_training_loss_is_the_negative_log_likelihood_with_the_exact_posterior():
    model, (W, b) = _linear_gaussian(iwae_k=5)
    X = _data()
    total, parts = model.train().loss(X)
    assert set(parts) == {"iwae"}
    assert float(total.detach()) == pytest.approx(-_exact_log_px(X, W, b).mean(), abs=1e-3)


def test_importance_sampling_tightens_with_k_and_k1_is_the_elbo_in_expectation():
    model, (W, b) = _linear_gaussian(shift=0.8)  # a wrong posterior: bounds are strict
    X = _data(32)
    exact = _exact_log_px(X, W, b).mean()
    # k = 1, averaged over many independent draws, is the ELBO (closed-form KL) in expectation.
    w1 = log_weights(model, X, 4000, generator=torch.Generator().manual_seed(0))  # (4000, B)
    elbo = likelihood_bounds(model, X, k=4000, seed=1)["elbo"].mean()
    assert float(w1.detach().mean()) == pytest.approx(elbo, abs=0.02)
    # The expected bound rises with k towards log p(x) and stays below it.
    means = []
    for k in (1, 10, 100, 1000):
        runs = [likelihood_bounds(model, X, k=k, seed=s)["log_likelihood"].mean() for s in range(8)]
        means.append(float(np.mean(runs)))
    assert means == sorted(means)
    assert elbo < means[1] and means[-1] < exact + 1e-3
    assert exact - means[-1] < 0.1 * (exact - elbo)  # k=1000 closes most of the gap


def test_nll_needs_a_variational_model():
    ae = build("stacked", n_features=8, hidden=[4])
    with pytest.raises(ValueError, match="no Gaussian bottleneck"):
        nll_report(ae, np.zeros((2, 8), np.float32), k=3)


# --- builders, checkpoints, samples -----------------------------------------------------------


@pytest.mark.parametrize(
    "name, kw",
    [
        ("vae", {"iwae_k": 3, "output": "linear", "hidden": [16, 8]}),
        ("aae", {"prior": "mixture", "latent_dim": 2}),
    ],
)
def test_reload_gives_identical_codings_and_samples(tmp_path, name, kw):
    model = build(name, n_features=12, seed=0, **kw)
    X = np.random.default_rng(0).random((9, 12), dtype=np.float32)
    save(model, tmp_path / "m.safetensors")
    again = load(tmp_path / "m.safetensors")
    assert type(again) is type(model)
    assert torch.equal(again.encode(torch.from_numpy(X)), model.eval().encode(torch.from_numpy(X)))
    assert np.array_equal(sample(again, 5, seed=3), sample(model, 5, seed=3))


@pytest.mark.parametrize("name", ["vae", "aae"])
def test_convolutional_bodies_train_every_parameter_and_keep_the_image_size(name):
    model = build(name, n_features=64, body="conv", channels=[4, 8], latent_dim=3, seed=0)
    x = torch.rand(5, 64)
    total, _ = model.train().loss(x)
    total.backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []
    assert model.eval()(x).shape == (5, 64) and model.encode(x).shape == (5, 3)
    with pytest.raises(ValueError, match="body='dense'"):
        build(name, n_features=64, body="dense")


def test_samples_have_the_data_shape_and_range():
    for name in ("vae", "aae"):
        model = build(name, n_features=64, hidden=[16], latent_dim=2, seed=0)
        state = torch.get_rng_state()
        S = sample(model, 10, seed=0)
        assert torch.equal(state, torch.get_rng_state())  # the caller's RNG is untouched
        assert S.shape == (10, 64) and S.dtype == np.float32
        assert S.min() >= 0 and S.max() <= 1
        B = sample(model, 10, seed=0, mean=False)
        assert set(np.unique(B)) <= {0.0, 1.0}
        assert interpolate(model, S[0], S[1], steps=6).shape == (6, 64)
        grid, half = latent_plane(model, 4)
        assert grid.shape == (16, 64) and half > 0


def test_interpolation_ends_decode_the_two_codings():
    model = build("vae", n_features=10, hidden=[8], latent_dim=3, seed=0).eval()
    a, b = np.random.default_rng(0).random((2, 10), dtype=np.float32)
    R = interpolate(model, a, b, steps=5)
    with torch.no_grad():
        ends = model(torch.from_numpy(np.stack([a, b]))).numpy()
    np.testing.assert_allclose(R[[0, -1]], ends, atol=1e-6)


def test_mixture_prior_draws_have_its_log_density():
    prior = MixturePrior(3, n_components=4)
    z = prior.sample(20000, generator=torch.Generator().manual_seed(0))
    assert z.shape == (20000, 3)
    # Its density integrates to 1: E_p[1/p] over a box would be awkward; check the entropy
    # instead against the well-separated limit log(C) + Gaussian entropy.
    entropy = float(-prior.log_prob(z).mean())
    gauss = 0.5 * 3 * (1 + math.log(2 * math.pi * prior.scale**2))
    assert entropy == pytest.approx(gauss + math.log(4), abs=0.03)


def test_builder_errors_name_the_argument():
    with pytest.raises(ValueError, match="prior='cauchy'"):
        build("aae", n_features=4, prior="cauchy")
    with pytest.raises(ValueError, match="beta=0.5 with iwae_k=4"):
        build("vae", n_features=4, beta=0.5, iwae_k=4)
    with pytest.raises(ValueError, match="output='softmax'"):
        build("vae", n_features=4, output="softmax")


# --- the adversarial prior --------------------------------------------------------------------


def test_aae_codings_are_closer_to_the_prior_than_a_plain_autoencoders(digits):
    X = digits.X
    aae = build("aae", n_features=64, hidden=[64], latent_dim=2, discriminator=[32], seed=0)
    plain = Autoencoder(
        build("aae", n_features=64, hidden=[64], latent_dim=2, seed=0).encoder,
        build("aae", n_features=64, hidden=[64], latent_dim=2, seed=0).decoder,
        output="bernoulli",
    )
    hist = fit(aae, X, epochs=20, batch_size=64, lr=3e-3, seed=0, device="cpu")
    assert "train_discriminator_loss" in hist.records[-1]
    fit(plain, X, epochs=20, batch_size=64, lr=3e-3, seed=0, device="cpu")
    prior = aae.prior.sample(600, generator=torch.Generator().manual_seed(0)).numpy()
    with torch.no_grad():
        za = aae.encode(torch.from_numpy(X[:600])).numpy()
        zp = plain.encode(torch.from_numpy(X[:600])).numpy()
    gap_aae, gap_plain = mmd(za, prior), mmd(zp, prior)
    assert gap_aae < 0.25 * gap_plain, (gap_aae, gap_plain)
    # The reconstruction still works: far better than predicting the mean image.
    base = float(((X - X.mean(0)) ** 2).mean())
    with torch.no_grad():
        err = float(((aae(torch.from_numpy(X)).numpy() - X) ** 2).mean())
    assert err < 0.75 * base


def test_mmd_is_zero_in_expectation_for_one_distribution():
    rng = np.random.default_rng(0)
    same = mmd(rng.normal(size=(400, 2)), rng.normal(size=(400, 2)))
    shifted = mmd(rng.normal(size=(400, 2)), rng.normal(size=(400, 2)) + 1.0)
    assert abs(same) < 0.01 < shifted


# --- dynamic binarisation ---------------------------------------------------------------------


def test_fixed_binarisation_is_reproducible_and_unbiased():
    X = np.full((200, 50), 0.3, np.float32)
    B = binarize(X, seed=0)
    assert np.array_equal(B, binarize(X, seed=0)) and not np.array_equal(B, binarize(X, seed=1))
    assert set(np.unique(B)) == {0.0, 1.0}
    assert B.mean() == pytest.approx(0.3, abs=0.01)
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        binarize(X * 4)


def test_dynamic_binarisation_draws_afresh_for_input_and_target_in_training_only():
    model = build("vae", n_features=20, hidden=[8], latent_dim=2, seed=0)
    model.input_transform = Binarize()
    seen = []

    def record(module, args):
        seen.append(args[0].clone())

    model.encoder.register_forward_pre_hook(record)
    x = torch.full((4, 20), 0.5)
    model.train().loss(x)
    model.train().loss(x)
    model.eval().loss(x)
    assert set(seen[0].unique().tolist()) == {0.0, 1.0}
    assert not torch.equal(seen[0], seen[1])  # a fresh draw at each use
    assert torch.equal(seen[2], x)  # evaluation sees the data as given
    # Training is reproducible: fit seeds the draws.
    X = np.random.default_rng(0).random((64, 20), dtype=np.float32)
    weights = []
    for _ in range(2):
        m = build("vae", n_features=20, hidden=[8], latent_dim=2, seed=0)
        m.input_transform = Binarize()
        fit(m, X, epochs=2, batch_size=16, seed=3, device="cpu")
        weights.append(m.decoder[0][0].weight.detach().clone())
    assert torch.equal(*weights)


# --- the denoising Markov chain ---------------------------------------------------------------


def test_markov_chain_of_a_denoising_autoencoder_moves_towards_the_data(digits):
    X = digits.X
    dae = build("stacked", n_features=64, hidden=[64, 16], output="bernoulli", seed=0)
    dae.corruption = GaussianNoise(0.3)
    fit(dae, X, epochs=20, batch_size=64, lr=3e-3, seed=0, device="cpu")
    x0 = np.random.default_rng(0).random((50, 64), dtype=np.float32)
    state = torch.get_rng_state()
    chain = sample_chain(dae, x0, steps=20, draw=False, seed=0)
    assert torch.equal(state, torch.get_rng_state())
    assert chain.shape == (21, 50, 64) and np.array_equal(chain[0], x0)
    assert np.array_equal(chain, sample_chain(dae, x0, steps=20, draw=False, seed=0))

    def nearest(A):  # mean distance to the nearest training image
        return float(np.sqrt(((A[:, None] - X[None]) ** 2).sum(-1)).min(1).mean())

    assert nearest(chain[-1]) < 0.5 * nearest(x0)
    binary = sample_chain(dae, x0, steps=3, seed=0)
    assert set(np.unique(binary[1:])) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="needs a corruption"):
        sample_chain(build("stacked", n_features=64, hidden=[8]), x0, steps=2)


# --- MNIST and the command line ---------------------------------------------------------------


def test_vae_on_binarised_mnist_beats_independent_pixels(data_dir):
    from codings.datasets import load_dataset

    X = load_dataset("mnist", "test", data_dir=data_dir).X[:1500]
    model = build("vae", n_features=784, hidden=[100], latent_dim=8, seed=0)
    model.input_transform = Binarize()
    fit(model, X[:1200], epochs=4, batch_size=50, seed=0, device="cpu")
    r = nll_report(model, binarize(X[1200:]), k=20)
    # Independent Bernoulli(1/2) pixels cost 784 log 2 = 543.4 nats; the bound holds.
    assert r["nll"] < 300 and -r["elbo"] >= r["nll"]


def test_cli_train_eval_sample_interpolate_latent(tmp_path, capsys):
    import json

    run = tmp_path / "vae"
    train = "train vae --dataset digits --hidden 32 --latent-dim 2 --epochs 3 --binarize"
    assert main([*train.split(), "--out", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    evaluate = "--dataset digits --binarize --nll-samples 20 --json"
    assert main(["eval", str(run), *evaluate.split()]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["nll_samples"] == 20 and r["nll_examples"] == r["n"]
    assert -r["elbo"] >= r["nll"] > 0
    assert main(["sample", str(run), "--n", "9", "--out", str(tmp_path / "s.npy")]) == 0
    S = np.load(tmp_path / "s.npy")
    assert S.shape == (9, 64) and 0 <= S.min() and S.max() <= 1
    for args in (
        ["sample", str(run), "--out", str(tmp_path / "s.png")],
        ["interpolate", str(run), "--from", "0", "--to", "5", "--out", str(tmp_path / "i.png")],
        ["latent", str(run), "--out", str(tmp_path / "l.png"), "--grid", "5"],
    ):
        assert main(args) == 0
    assert all((tmp_path / f).stat().st_size > 1000 for f in ("s.png", "i.png", "l.png"))
    assert main(["eval", str(run), "--dataset", "iris", "--nll-samples", "5"]) == 1
    assert main(["sample", str(tmp_path / "nothing")]) == 1
    # A denoising model has no prior: `sample` runs its Markov chain instead.
    dae = tmp_path / "dae"
    train = "train denoising --dataset digits --hidden 16 --output bernoulli --epochs 2"
    assert main([*train.split(), "--out", str(dae), "--no-progress"]) == 0
    capsys.readouterr()
    out = tmp_path / "chain.npy"
    assert main(["sample", str(dae), "--n", "4", "--steps", "5", "--out", str(out), "--json"]) == 0
    assert "Markov chains" in json.loads(capsys.readouterr().out)["how"]
    assert np.load(out).shape == (4, 64)
    assert main(["eval", str(dae), "--dataset", "digits", "--nll-samples", "5"]) == 1


def test_the_latent_plane_covers_the_codings_not_only_the_prior():
    model = build("aae", n_features=64, hidden=[16], latent_dim=2, seed=0)
    _, prior_half = latent_plane(model, 3)
    assert prior_half == pytest.approx(1.96, abs=0.01)  # N(0, 1)'s central 95%
    Z = np.random.default_rng(0).normal(0, 3, size=(2000, 2)) + [1.0, 0.0]
    grid, half = latent_plane(model, 3, codings=Z)
    q = np.percentile(Z, [1, 99], axis=0)
    assert half == pytest.approx(np.abs(q).max()) and half > 7  # about 1 + 2.33 * 3
    assert grid.shape == (9, 64)
