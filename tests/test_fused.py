"""The hand-written training step: autograd's gradients, and autograd wherever it does not apply."""

import numpy as np
import pytest
import torch
from torch import nn

from codings import build, fit, fused
from codings.layers import TiedLinear
from codings.layerwise import shallow_autoencoder
from codings.models import Autoencoder
from codings.noise import GaussianNoise


def _x(n=48, d=20, seed=0):
    return torch.rand(n, d, generator=torch.Generator().manual_seed(seed))


def _autograd(model, x, seed=0):
    model.train()
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    total, parts = model.loss(x)
    total.backward()
    grads = {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()}
    return float(total.detach()), {k: float(v.detach()) for k, v in parts.items()}, grads


def _fused(model, x, seed=0):
    model.train()
    step = fused.plan(model)
    assert step is not None
    torch.manual_seed(seed)
    total, parts = step(x)
    grads = {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()}
    return float(total.detach()), {k: float(v.detach()) for k, v in parts.items()}, grads


def _assert_same(model, x):
    total_a, parts_a, grads_a = _autograd(model, x)
    total_f, parts_f, grads_f = _fused(model, x)
    assert total_f == pytest.approx(total_a, rel=1e-5)
    assert parts_f.keys() == parts_a.keys()
    for k in parts_a:
        assert parts_f[k] == pytest.approx(parts_a[k], rel=1e-5)
    assert grads_f.keys() == grads_a.keys()
    for name, ga in grads_a.items():
        gf = grads_f[name]
        if ga is None:
            assert gf is None, name
        else:
            torch.testing.assert_close(gf, ga, rtol=1e-4, atol=1e-6 * ga.abs().max().item())


@pytest.mark.parametrize("activation", ["elu", "relu", "selu", "sigmoid", "tanh", "linear"])
@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("output", ["linear", "bernoulli"])
def test_gradients_equal_autograds(activation, tied, output):
    model = build(
        "stacked", n_features=20, hidden=(12, 6), activation=activation, tied=tied,
        output=output, seed=3,
    )  # fmt: skip
    _assert_same(model, _x())


def test_l2_penalty_and_its_gradient():
    model = build("stacked", n_features=20, hidden=(12, 6), tied=True, l2=0.3, seed=1)
    _assert_same(model, _x())


def test_input_corruption_draws_the_same_noise_as_the_model():
    model = build("denoising", n_features=20, hidden=(12, 6), seed=2)
    assert model.corruption is not None
    _assert_same(model, _x())


def test_frozen_layers_get_no_gradient_and_the_rest_match():
    model = build("stacked", n_features=20, hidden=(12, 6), tied=False, seed=4)
    for p in model.encoder[0].parameters():
        p.requires_grad_(False)
    _assert_same(model, _x())
    assert model.encoder[0][0].weight.grad is None


def test_a_layerwise_phase_matches():
    model = build("stacked", n_features=20, hidden=(12, 6), tied=True, seed=5)
    shallow = shallow_autoencoder(model, 2)
    codes = model.encoder[0](_x()).detach()
    _assert_same(shallow, codes)


def test_tied_layer_without_bias_and_a_bare_linear_layer():
    enc = nn.Sequential(nn.Linear(20, 8), nn.ELU(alpha=0.5))
    dec = nn.Sequential(TiedLinear(enc[0], bias=False))  # no activation after it
    _assert_same(Autoencoder(enc, dec), _x())


def _vae():
    return build("vae", n_features=20, hidden=(12,), latent_dim=4, seed=0)


@pytest.mark.parametrize(
    "make",
    [
        _vae,  # a stochastic bottleneck
        lambda: build("contractive", n_features=20, hidden=(12,), seed=0),  # a Jacobian penalty
        lambda: build("sparse", n_features=20, hidden=(12,), seed=0),  # penalty on codings
        lambda: Autoencoder(nn.Sequential(nn.Linear(20, 8), nn.Dropout(0.1)), nn.Linear(8, 20)),
        lambda: Autoencoder(nn.Sequential(nn.ELU(), nn.Linear(20, 8)), nn.Linear(8, 20)),
    ],
)
def test_anything_else_is_left_to_autograd(make):
    assert fused.plan(make()) is None


def test_a_forward_hook_is_left_to_autograd():
    model = build("stacked", n_features=20, hidden=(12, 6), seed=0)
    assert fused.plan(model) is not None
    model.encoder[1].register_forward_hook(lambda *a: None)
    assert fused.plan(model) is None


def test_fit_takes_the_fused_step_and_matches_autograd_training(monkeypatch):
    X = np.random.default_rng(0).random((200, 20), dtype=np.float32)
    calls = []
    real = fused.FusedStep.__call__

    def counted(self, x):
        calls.append(len(x))
        return real(self, x)

    monkeypatch.setattr(fused.FusedStep, "__call__", counted)
    runs = {}
    for flag in (True, False):
        model = build("stacked", n_features=20, hidden=(12, 6), tied=True, l2=0.01, seed=0)
        step = "fused" if flag else "autograd"
        h = fit(model, X, epochs=3, batch_size=32, lr=1e-2, seed=1, clip_norm=5.0, step=step)
        runs[flag] = (h, model.state_dict())
    assert len(calls) == 3 * 7  # every step of the fused run, none of the other
    assert runs[True][0]["step"] == ["fused"] * 3
    assert runs[False][0]["step"] == ["autograd"] * 3
    for key in ("train_loss", "train_reconstruction", "train_l2"):
        np.testing.assert_allclose(runs[True][0][key], runs[False][0][key], rtol=1e-4)
    for k, v in runs[False][1].items():
        torch.testing.assert_close(runs[True][1][k], v, rtol=1e-3, atol=1e-5)


def test_the_fused_step_is_deterministic():
    X = np.random.default_rng(1).random((100, 20), dtype=np.float32)
    states = []
    for _ in range(2):
        model = build("denoising", n_features=20, hidden=(12, 6), seed=0)
        fit(model, X, epochs=2, batch_size=16, seed=3)
        states.append(model.state_dict())
    for k in states[0]:
        assert torch.equal(states[0][k], states[1][k])


def test_gaussian_noise_module_has_no_parameters():
    # The fused step applies corruptions without differentiating through them.
    assert next(GaussianNoise(0.1).parameters(), None) is None


def test_a_squashed_output_under_squared_error():
    enc = nn.Sequential(nn.Linear(20, 8), nn.Tanh())
    dec = nn.Sequential(nn.Linear(8, 20), nn.Sigmoid())
    _assert_same(Autoencoder(enc, dec), _x())


def _fit_both(make, X, **kw):
    """The weights after ``fit`` with the fused step allowed and with autograd only."""
    states = {}
    for flag in (True, False):
        model = make()
        step = "auto" if flag else "autograd"
        fit(model, X, epochs=3, batch_size=16, lr=1e-2, seed=1, step=step, **kw)
        states[flag] = {k: v.clone() for k, v in model.state_dict().items()}
    for k, v in states[False].items():
        torch.testing.assert_close(states[True][k], v, rtol=1e-4, atol=1e-6, msg=k)
    return states


def test_a_linear_layer_used_twice_is_left_to_autograd():
    # Its bias gets a gradient from each use; the fused step would keep only one of them.
    def make():
        torch.manual_seed(0)
        lin = nn.Linear(20, 20)
        return Autoencoder(nn.Sequential(lin, nn.Tanh()), nn.Sequential(lin))

    assert fused.plan(make()) is None
    X = np.random.default_rng(2).random((64, 20), dtype=np.float32)
    _fit_both(make, X)
    assert fit(make(), X, epochs=2, batch_size=16)["step"] == ["autograd"] * 2
    with pytest.raises(ValueError, match="a layer is used more than once.*step='autograd'"):
        fit(make(), X, epochs=2, batch_size=16, step="fused")


def test_the_same_layer_twice_in_one_sequential_is_left_to_autograd():
    torch.manual_seed(0)
    lin = nn.Linear(20, 20)
    model = Autoencoder(nn.Sequential(lin, nn.Tanh(), lin, nn.Tanh()), nn.Linear(20, 20))
    assert fused.plan(model) is None


def test_a_layer_frozen_by_a_callback_stops_moving():
    # Its last gradient must not be applied again after it is frozen.
    def freeze_after_first(epoch, record, model):
        if epoch == 1:
            for p in model.encoder[0][0].parameters():
                p.requires_grad_(False)

    frozen = {}

    def watch(epoch, record, model):
        frozen.setdefault(record["step"], []).append(model.encoder[0][0].weight.detach().clone())

    def make():
        return build("stacked", n_features=20, hidden=(12, 6), tied=False, seed=4)

    X = np.random.default_rng(3).random((64, 20), dtype=np.float32)
    _fit_both(make, X, callbacks=[freeze_after_first, watch])
    assert sorted(frozen) == ["autograd", "fused"]  # the fused step ran, with the layer frozen
    for step, weights in frozen.items():
        first, *later = weights
        for w in later:
            assert torch.equal(w, first), step


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
def test_a_global_backward_pre_hook_is_seen():
    # A hook that halves every Linear layer's output gradient changes the weights.
    def halve(module, grad_output):
        if isinstance(module, nn.Linear):
            return tuple(None if g is None else g * 0.5 for g in grad_output)
        return None

    def make():
        return build("stacked", n_features=20, hidden=(12, 6), tied=False, seed=0)

    X = np.random.default_rng(4).random((64, 20), dtype=np.float32)
    handle = torch.nn.modules.module.register_module_full_backward_pre_hook(halve)
    try:
        assert fused.plan(make()) is None
        hooked = _fit_both(make, X, optimizer="sgd")  # Adam would undo the scale
    finally:
        handle.remove()
    plain = make()
    fit(plain, X, epochs=3, batch_size=16, lr=1e-2, seed=1, optimizer="sgd", step="autograd")
    assert fused.plan(plain) is not None  # the hook is gone again
    w = "encoder.0.0.weight"
    assert not torch.allclose(plain.state_dict()[w], hooked[True][w])


@pytest.mark.parametrize(
    "register",
    [
        lambda m: m.register_forward_pre_hook(lambda *a: None),
        lambda m: m.register_full_backward_hook(lambda *a: None),
        lambda m: m.register_full_backward_pre_hook(lambda *a: None),
        lambda m: torch.nn.modules.module.register_module_forward_hook(lambda *a: None),
        lambda m: torch.nn.modules.module.register_module_forward_pre_hook(lambda *a: None),
        lambda m: torch.nn.modules.module.register_module_full_backward_hook(lambda *a: None),
        lambda m: torch.nn.modules.module.register_module_full_backward_pre_hook(lambda *a: None),
    ],
)
def test_any_module_hook_is_left_to_autograd(register):
    model = build("stacked", n_features=20, hidden=(12, 6), seed=0)
    handle = register(model.decoder[0])
    try:
        assert fused.plan(model) is None
    finally:
        handle.remove()
    assert fused.plan(model) is not None


# --- more shapes, sizes and parts, against autograd ------------------------------------------


@pytest.mark.parametrize("hidden", [(12,), (12, 6), (12, 8, 4)])
@pytest.mark.parametrize("tied", [True, False])
def test_one_to_three_hidden_layers(hidden, tied):
    model = build("stacked", n_features=20, hidden=hidden, tied=tied, seed=6)
    _assert_same(model, _x())


@pytest.mark.parametrize("n", [1, 7])
@pytest.mark.parametrize("output", ["linear", "bernoulli"])
def test_a_batch_of_one_row_and_an_odd_one(n, output):
    model = build("stacked", n_features=20, hidden=(12, 6), output=output, seed=7)
    _assert_same(model, _x(n=n))


@pytest.mark.parametrize("noise", ["masking", "dropout", "gaussian"])
def test_masking_and_dropout_noise(noise):
    model = build("denoising", n_features=20, hidden=(12, 6), noise=noise, noise_level=0.4, seed=8)
    assert model.corruption is not None
    _assert_same(model, _x())


def test_l2_with_untied_layers():
    model = build("stacked", n_features=20, hidden=(12, 6), tied=False, l2=0.2, seed=9)
    _assert_same(model, _x())


@pytest.mark.parametrize("tied", [True, False])
def test_l2_with_layers_without_bias(tied):
    from codings.losses import L2Penalty

    torch.manual_seed(0)
    enc = nn.Sequential(nn.Linear(20, 10, bias=False), nn.ELU(), nn.Linear(10, 4, bias=False))
    if tied:
        dec = nn.Sequential(TiedLinear(enc[2], bias=False), nn.ELU(), TiedLinear(enc[0]))
    else:
        dec = nn.Sequential(nn.Linear(4, 10, bias=False), nn.ELU(), nn.Linear(10, 20))
    model = Autoencoder(enc, dec, penalties=(L2Penalty(0.3),))
    assert fused.plan(model) is not None
    _assert_same(model, _x())


def test_a_partial_last_batch_trains_as_autograd_does():
    # 50 rows in batches of 16: the last batch has 2 rows, and its mean is over those 2.
    X = np.random.default_rng(5).random((50, 20), dtype=np.float32)

    def make():
        return build("denoising", n_features=20, hidden=(12, 6), noise="masking", l2=0.01, seed=2)

    states = _fit_both(make, X, optimizer="sgd")
    assert not torch.equal(states[True]["encoder.0.0.weight"], make().encoder[0][0].weight)


# --- the step, asked for by name --------------------------------------------------------------


def test_the_step_asked_for_is_the_step_recorded():
    X = _x(n=32).numpy()
    for step, ran in [("auto", "fused"), ("fused", "fused"), ("autograd", "autograd")]:
        model = build("stacked", n_features=20, hidden=(12, 6), seed=0)
        assert fit(model, X, epochs=2, batch_size=8, step=step)["step"] == [ran] * 2


@pytest.mark.parametrize(
    "make, kw, why",
    [
        (_vae, {}, "not VariationalAutoencoder"),
        (lambda: build("sparse", n_features=20, hidden=(12,), seed=0), {}, "only penalty"),
        (lambda: build("stacked", n_features=20, hidden=(12,)), {"precision": "bf16"}, "float32"),
    ],
)
def test_step_fused_refuses_what_it_cannot_train_and_says_why(make, kw, why):
    model = make()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=f"step='fused' cannot train this model: .*{why}") as e:
        fit(model, _x(n=16).numpy(), epochs=1, batch_size=8, step="fused", **kw)
    assert "step='autograd'" in str(e.value)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k  # refused before any training
    # "auto" falls back to autograd on the same model, as before.
    assert fit(make(), _x(n=16).numpy(), epochs=1, batch_size=8, **kw)["step"] == ["autograd"]


def test_an_unknown_step_is_refused_with_the_choices():
    model = build("stacked", n_features=20, hidden=(12,), seed=0)
    with pytest.raises(ValueError, match="step='fast' is not known; choose auto"):
        fit(model, _x().numpy(), epochs=1, step="fast")


def test_why_not_is_none_exactly_where_plan_gives_a_step():
    models = [
        build("stacked", n_features=20, hidden=(12, 6), seed=0),
        build("denoising", n_features=20, hidden=(12, 6), seed=0),
        _vae(),
        build("contractive", n_features=20, hidden=(12,), seed=0),
    ]
    for m in models:
        assert (fused.why_not(m) is None) == (fused.plan(m) is not None)
