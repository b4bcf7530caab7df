"""Input corruptions: their statistics, and that a model applies them in training only."""

from __future__ import annotations

import pytest
import torch

from codings import build, evaluate, fit
from codings.losses import mse
from codings.noise import GaussianNoise, MaskingNoise, corruption


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_gaussian_noise_has_the_stated_standard_deviation():
    x = torch.full((200, 500), 0.5)
    out = GaussianNoise(0.3)(x, generator=_gen())
    noise = out - x
    assert float(noise.mean()) == pytest.approx(0.0, abs=3e-3)
    assert float(noise.std()) == pytest.approx(0.3, rel=1e-2)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_masking_zeroes_a_fraction_p_and_keeps_the_rest(p):
    x = torch.rand(200, 500, generator=_gen(1)) + 1.0  # no zeros to begin with
    out = MaskingNoise(p)(x, generator=_gen(2))
    zero = out == 0
    assert float(zero.float().mean()) == pytest.approx(p, abs=5e-3)
    assert torch.equal(out[~zero], x[~zero])


def test_dropout_rescales_the_kept_inputs():
    x = torch.ones(100, 400)
    out = corruption("dropout", 0.25)(x, generator=_gen())
    assert out.unique().tolist() == pytest.approx([0.0, 1 / 0.75])
    assert float(out.mean()) == pytest.approx(1.0, abs=0.02)  # the expected input is unchanged


def test_a_generator_makes_corruption_reproducible_without_the_global_rng():
    x = torch.rand(4, 9)
    state = torch.get_rng_state()
    a = GaussianNoise(0.5)(x, generator=_gen(7))
    b = GaussianNoise(0.5)(x, generator=_gen(7))
    assert torch.equal(a, b)
    assert torch.equal(torch.get_rng_state(), state)


def test_corruption_factory_names_and_defaults():
    assert corruption(None) is None
    assert corruption("none") is None
    g = corruption("gaussian")
    assert isinstance(g, GaussianNoise) and g.level == 0.3
    m = corruption("masking", 0.4)
    assert isinstance(m, MaskingNoise) and not m.rescale and m.level == 0.4


@pytest.mark.parametrize(
    "kind,level,match",
    [
        ("gausian", None, "did you mean 'gaussian'"),
        ("gaussian", -1.0, "noise_level=-1.0"),
        ("masking", 1.0, "probability"),
        ("dropout", 0.0, "probability"),
    ],
)
def test_bad_corruptions_say_what_is_allowed(kind, level, match):
    with pytest.raises(ValueError, match=match):
        corruption(kind, level)


class _Spy(torch.nn.Module):
    """Records what the encoder is given."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.inner(x)


@pytest.mark.parametrize("noise", ["gaussian", "masking", "dropout"])
def test_corruption_is_applied_in_training_and_never_in_evaluation(noise):
    model = build("denoising", n_features=12, hidden=[8, 4], noise=noise, noise_level=0.5, seed=0)
    model.encoder = _Spy(model.encoder)
    x = torch.rand(32, 12, generator=_gen(3)) + 0.1

    model.train()
    total, parts = model.loss(x)
    x_in = model.encoder.seen[-1]
    assert not torch.equal(x_in, x)  # corrupted
    # ... while the target stays clean: the loss compares the reconstruction with x itself
    expected = mse(model.decoder(model.encoder.inner(x_in)), x)
    assert float(parts["reconstruction"].detach()) == pytest.approx(float(expected.detach()))

    model.eval()
    model.encoder.seen.clear()
    model.loss(x)
    model.encode(x)
    model(x)
    evaluate(model, x)
    assert model.encoder.seen and all(torch.equal(s, x) for s in model.encoder.seen)


def test_evaluation_of_a_denoising_model_is_deterministic_and_fit_uses_noise():
    model = build("denoising", n_features=10, hidden=[6], noise_level=0.4, seed=0)
    x = torch.rand(64, 10, generator=_gen(4))
    assert evaluate(model, x) == evaluate(model, x)
    model.train()
    a = float(model.loss(x)[0].detach())
    b = float(model.loss(x)[0].detach())
    assert a != b  # a fresh corruption per call
    hist = fit(model, x, epochs=2, batch_size=16, seed=0, device="cpu")
    assert len(hist) == 2


def test_evaluate_reports_the_clean_reconstruction_error_over_several_batches():
    # 3000 rows: two evaluation batches of unequal size; a corruption in evaluation, or a mean
    # taken over the wrong count, would both move the figure away from the clean error.
    model = build("denoising", n_features=10, hidden=[6], noise_level=0.5, seed=0)
    x = torch.rand(3000, 10, generator=_gen(5))
    with torch.no_grad():
        clean = float((model.eval()(x) - x).square().mean())
        recon = float(mse(model(x), x))
    got = evaluate(model, x)
    assert got["mse"] == pytest.approx(clean, rel=1e-5)
    assert got["reconstruction"] == pytest.approx(recon, rel=1e-5)
