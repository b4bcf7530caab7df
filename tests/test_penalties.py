"""Known answers for the penalties (L1, KL, contractive) and the sparsifying layers."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from codings import build
from codings.penalties import (
    Contractive,
    KLSparsity,
    KSparse,
    L1Sparsity,
    LifetimeSparsity,
    SpatialSparsity,
    jacobian_norm,
    kl_bernoulli,
    lifetime_k,
    single_sigmoid_layer,
)


def val(t: torch.Tensor) -> float:
    return float(t.detach())


def brute_jacobian_norm(f, x: torch.Tensor) -> torch.Tensor:
    """Squared Frobenius norm of df/dx per example, one autograd call per output unit."""
    norms = []
    for xi in x:
        xi = xi.clone().requires_grad_(True)
        out = f(xi.unsqueeze(0))[0]
        total = torch.zeros(())
        for j in range(out.shape[0]):
            (g,) = torch.autograd.grad(out[j], xi, retain_graph=True)
            total = total + g.square().sum()
        norms.append(total)
    return torch.stack(norms)


def finite_difference_norm(f, x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """The same norm by central differences, in float64."""
    x = x.double()
    norms = []
    for xi in x:
        cols = []
        for i in range(xi.shape[0]):
            e = torch.zeros_like(xi)
            e[i] = eps
            cols.append((f(xi + e) - f(xi - e)) / (2 * eps))
        norms.append(torch.stack(cols).square().sum())
    return torch.stack(norms)


# --- sparsity penalties -----------------------------------------------------------------------


def test_l1_is_weighted_sum_of_absolute_codings_per_example():
    z = torch.tensor([[1.0, -2.0, 0.0], [0.5, 0.5, -1.0]])
    got = L1Sparsity(0.1)(None, None, z)
    assert val(got) == pytest.approx(0.1 * (3.0 + 2.0) / 2)


def test_kl_known_value_and_zero_at_target():
    target = 0.1
    # unit means: 0.1 (at target) and 0.5
    z = torch.tensor([[0.1, 0.2], [0.1, 0.8]])
    got = float(KLSparsity(target, 2.0)(None, None, z))
    expected = 2.0 * (0.1 * math.log(0.1 / 0.5) + 0.9 * math.log(0.9 / 0.5))
    assert got == pytest.approx(expected, rel=1e-5)
    assert float(kl_bernoulli(0.3, torch.tensor(0.3))) == pytest.approx(0.0, abs=1e-7)
    assert float(KLSparsity(0.3, 1.0)(None, None, torch.full((4, 5), 0.3))) < 1e-6


def test_kl_gradient_pushes_mean_towards_target():
    z = torch.full((8, 3), 0.5, requires_grad=True)
    KLSparsity(0.05, 1.0)(None, None, z).backward()
    assert bool((z.grad > 0).all())  # descending lowers activations above the target


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5])
def test_kl_rejects_targets_outside_the_open_interval(bad):
    with pytest.raises(ValueError, match="sparsity_target"):
        KLSparsity(bad, 1.0)


# --- contractive -----------------------------------------------------------------------------


def _x(n=5, d=7, seed=0):
    return torch.rand(n, d, generator=torch.Generator().manual_seed(seed))


def test_contractive_closed_form_equals_brute_force_autograd_and_finite_differences():
    model = build("contractive", n_features=7, hidden=[4], contractive=0.5, seed=0)
    assert single_sigmoid_layer(model) is not None
    x = _x()
    codes = model.encode(x)
    penalty = Contractive(0.5)(model, x, codes)
    brute = brute_jacobian_norm(model.encode, x)
    fd = finite_difference_norm(lambda v: model.double().encode(v.unsqueeze(0))[0], x)
    model.float()
    assert val(penalty) == pytest.approx(0.5 * float(brute.mean()), rel=1e-5)
    assert torch.allclose(brute.double(), fd, rtol=1e-5)


def test_general_path_equals_brute_force_for_a_deep_encoder():
    model = build("contractive", n_features=7, hidden=[6, 3], activation="elu", seed=1)
    assert single_sigmoid_layer(model) is None
    x = _x(seed=1)
    got = Contractive(2.0)(model, x, model.encode(x))
    brute = brute_jacobian_norm(model.encode, x)
    assert val(got) == pytest.approx(2.0 * float(brute.mean()), rel=1e-5)


def test_closed_form_and_autodiff_agree_in_value_and_parameter_gradient():
    model = build("contractive", n_features=7, hidden=[5], seed=2)
    x = _x(seed=2)
    closed = Contractive(1.0)(model, x, model.encode(x))
    general = jacobian_norm(model, x).mean()
    assert val(closed) == pytest.approx(val(general), rel=1e-5)
    w = model.encoder[0][0].weight
    (g_closed,) = torch.autograd.grad(closed, w)
    (g_general,) = torch.autograd.grad(general, w)
    assert torch.allclose(g_closed, g_general, rtol=1e-4, atol=1e-7)


def test_contractive_penalty_is_in_the_loss_and_weighted():
    model = build("contractive", n_features=7, hidden=[4], contractive=0.25, seed=0)
    x = _x()
    total, parts = model.loss(x)
    expected = 0.25 * brute_jacobian_norm(model.encode, x).mean()
    assert val(parts["contractive"]) == pytest.approx(val(expected), rel=1e-5)
    assert val(total) == pytest.approx(val(parts["reconstruction"] + parts["contractive"]))


# --- sparsifying layers ----------------------------------------------------------------------


def test_ksparse_keeps_exactly_the_k_largest_per_example():
    h = torch.randn(20, 30, generator=torch.Generator().manual_seed(0))
    out = KSparse(4)(h)
    assert ((out != 0).sum(1) == 4).all()
    kept = out != 0
    for row, mask in zip(h, kept, strict=True):
        assert set(torch.nonzero(mask).flatten().tolist()) == set(row.topk(4).indices.tolist())
    assert torch.equal(out[kept], h[kept])  # kept values are unchanged


def test_ksparse_gradient_flows_only_through_kept_units():
    h = torch.randn(3, 10, requires_grad=True)
    out = KSparse(2)(h)
    out.sum().backward()
    assert torch.equal(h.grad, (out != 0).float())


def test_ksparse_model_codings_have_exactly_k_active_in_eval_and_training():
    model = build("ksparse", n_features=16, hidden=[40], k=5, seed=0)
    x = torch.rand(12, 16)
    for mode in (True, False):
        model.train(mode)
        assert ((model.encode(x) != 0).sum(1) == 5).all()


@pytest.mark.parametrize("batch,rate", [(100, 0.05), (64, 0.1), (7, 0.05), (50, 0.5)])
def test_lifetime_sparsity_keeps_the_stated_fraction_per_unit(batch, rate):
    h = torch.rand(batch, 13, generator=torch.Generator().manual_seed(batch)) + 0.01
    layer = LifetimeSparsity(rate).train()
    out = layer(h)
    k = lifetime_k(rate, batch)
    assert k == max(1, round(rate * batch))
    assert ((out != 0).sum(0) == k).all()  # per unit, across the batch
    # the kept activations are each unit's k largest
    assert torch.equal((out != 0), (h >= h.topk(k, dim=0).values[-1]))


def test_lifetime_sparsity_is_off_in_evaluation_mode():
    h = torch.rand(10, 4)
    assert torch.equal(LifetimeSparsity(0.1).eval()(h), h)


def test_spatial_then_lifetime_sparsity_on_feature_maps():
    h = torch.rand(20, 3, 5, 6, generator=torch.Generator().manual_seed(0))
    s = SpatialSparsity()(h)
    assert ((s.flatten(2) != 0).sum(2) == 1).all()  # one winner per (example, map)
    assert torch.equal(s.flatten(2).amax(2), h.flatten(2).amax(2))
    out = LifetimeSparsity(0.1).train()(s)
    active = out.flatten(2).ne(0).any(2)  # (B, C)
    assert (active.sum(0) == 2).all()  # 10% of 20 examples per map


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: KSparse(0), "k=0"),
        (lambda: LifetimeSparsity(0.0), "rate"),
        (lambda: LifetimeSparsity(1.5), "rate"),
        (lambda: Contractive(-1.0), "contractive"),
        (lambda: L1Sparsity(float("nan")), "sparsity_weight"),
    ],
)
def test_bad_arguments_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_ksparse_larger_than_codings_is_an_error():
    with pytest.raises(ValueError, match="k=50"):
        KSparse(50)(torch.rand(2, 10))
    with pytest.raises(ValueError, match="k=50"):
        build("ksparse", n_features=8, hidden=[10], k=50)


def test_single_sigmoid_layer_detection():
    assert single_sigmoid_layer(build("contractive", n_features=4, hidden=[3])) is not None
    assert single_sigmoid_layer(build("contractive", n_features=4, hidden=[3, 2])) is None
    m = build("sparse", n_features=4, hidden=[3], activation="elu", sparsity="kl")
    assert single_sigmoid_layer(m) is not None  # elu hidden, but its only layer is sigmoid
    assert isinstance(m.encoder[0][1], nn.Sigmoid)
