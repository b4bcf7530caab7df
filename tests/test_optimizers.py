"""FusedNAdam: torch's NAdam update, state and state_dict, by Adam's fused kernel."""

import copy

import pytest
import torch

from codings.optimizers import FusedNAdam

SHAPES = [(30, 78), (30,), (15, 30), (15,)]


def _params(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=g) * 0.05) for s in SHAPES]


def _grads(steps, seed=1):
    """Per step, per parameter: gradients whose scale jumps (1 or 1e-3) from step to step."""
    g = torch.Generator().manual_seed(seed)
    return [
        [torch.randn(s, generator=g) * (1.0 if i % 3 else 1e-3) for s in SHAPES]
        for i in range(steps)
    ]


def _run(cls, grads, params=None, opt_state=None, skip=(), **kw):
    ps = params if params is not None else _params()
    opt = cls(ps, lr=1e-2, **kw)
    if opt_state is not None:  # a copy, as a checkpoint holds (loading shares the tensors)
        opt.load_state_dict(copy.deepcopy(opt_state))
    for i, gs in enumerate(grads):
        for j, (p, g) in enumerate(zip(ps, gs, strict=True)):
            p.grad = None if (i, j) in skip else g.clone()
        opt.step()
    return ps, opt


def _close(a, b):
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x.detach(), y.detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kw",
    [{}, {"weight_decay": 1e-2}, {"weight_decay": 1e-2, "decoupled_weight_decay": True},
     {"betas": (0.8, 0.99), "eps": 1e-6, "momentum_decay": 0.01},
     {"betas": (0.5, 0.999)}, {"betas": (0.0, 0.999)}],
)  # fmt: skip
def test_thirty_steps_equal_torchs_nadam(kw):
    grads = _grads(30)
    ref, ref_opt = _run(torch.optim.NAdam, grads, **kw)
    got, opt = _run(FusedNAdam, grads, **kw)
    _close(got, ref)
    start = _params()
    assert (got[0] - start[0]).abs().max() > 1e-2  # it moved, far more than the tolerance
    a, b = ref_opt.state_dict(), opt.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for i in a["state"]:
        assert a["state"][i].keys() == b["state"][i].keys()
        for k, v in a["state"][i].items():
            assert v.dtype == b["state"][i][k].dtype and v.shape == b["state"][i][k].shape
            if k in ("step", "mu_product"):  # bookkeeping, one foreach op: torch's bit for bit
                assert torch.equal(b["state"][i][k], v), (k, b["state"][i][k], v)
            # exp_avg is recovered from the kernel's mix (x + (a/b)(x - g)): a few float32
            # roundings of the gradients' scale (1 here), far below what one step moves it
            torch.testing.assert_close(b["state"][i][k], v, rtol=1e-5, atol=1e-6)


def test_the_kernel_is_not_torchs_nadam_by_accident():
    """The other fused update (plain Adam) is not within the tolerance the test above uses."""
    grads = _grads(30)
    ref, _ = _run(torch.optim.NAdam, grads)
    adam, _ = _run(torch.optim.Adam, grads)
    with pytest.raises(AssertionError):
        _close(adam, ref)


def test_resume_equals_uninterrupted_and_crosses_with_torchs_state():
    grads = _grads(20)
    full, _ = _run(FusedNAdam, grads)
    part, opt = _run(FusedNAdam, grads[:8])
    saved = opt.state_dict()
    params = [torch.nn.Parameter(p.detach().clone()) for p in part]
    resumed, _ = _run(FusedNAdam, grads[8:], params=params, opt_state=saved)
    for a, b in zip(full, resumed, strict=True):
        assert torch.equal(a, b)
    # torch's NAdam state, resumed by FusedNAdam (and the other way): torch's result
    ref, _ = _run(torch.optim.NAdam, grads)
    tpart, topt = _run(torch.optim.NAdam, grads[:8])
    params = [torch.nn.Parameter(p.detach().clone()) for p in tpart]
    crossed, _ = _run(FusedNAdam, grads[8:], params=params, opt_state=topt.state_dict())
    _close(crossed, ref)
    params = [torch.nn.Parameter(p.detach().clone()) for p in part]
    back, _ = _run(torch.optim.NAdam, grads[8:], params=params, opt_state=saved)
    _close(back, ref)


def test_parameters_without_a_gradient_keep_their_own_step_counts():
    """A parameter skipped on some steps has fewer steps and another momentum product: it
    goes to a kernel call of its own, with its own coefficients, as in torch's step."""
    grads = _grads(12)
    skip = {(i, 0) for i in range(3)} | {(5, 2)}
    ref, ref_opt = _run(torch.optim.NAdam, grads, skip=skip)
    got, opt = _run(FusedNAdam, grads, skip=skip)
    _close(got, ref)
    steps = [float(opt.state[p]["step"]) for p in got]
    assert steps == [9.0, 12.0, 11.0, 12.0]


def test_groups_the_kernel_cannot_take_run_torchs_step_exactly():
    grads = _grads(10)
    ref, _ = _run(torch.optim.NAdam, grads, maximize=True)
    got, _ = _run(FusedNAdam, grads, maximize=True)
    for a, b in zip(got, ref, strict=True):
        assert torch.equal(a, b)
    # a small beta1 (the last pass would scale rounding by 1 + a/b, about 21 at 0.1)
    ref, _ = _run(torch.optim.NAdam, grads, betas=(0.1, 0.999))
    got, _ = _run(FusedNAdam, grads, betas=(0.1, 0.999))
    for a, b in zip(got, ref, strict=True):
        assert torch.equal(a, b)
    # bfloat16: 8 bits of mantissa would not survive the pass that recovers the first moment
    half = [[g.bfloat16() for g in gs] for gs in grads]
    ref, _ = _run(torch.optim.NAdam, half, params=_half_params())
    got, _ = _run(FusedNAdam, half, params=_half_params())
    for a, b in zip(got, ref, strict=True):
        assert a.dtype == torch.bfloat16 and torch.equal(a, b)


def _half_params():
    return [torch.nn.Parameter(p.detach().bfloat16()) for p in _params()]


def test_float64_parameters():
    grads = [[g.double() for g in gs] for gs in _grads(10)]
    ref, _ = _run(
        torch.optim.NAdam,
        grads,
        params=[torch.nn.Parameter(p.detach().double()) for p in _params()],
    )
    ref = [p.detach() for p in ref]
    got, _ = _run(
        FusedNAdam, grads, params=[torch.nn.Parameter(p.detach().double()) for p in _params()]
    )
    for a, b in zip(got, ref, strict=True):
        torch.testing.assert_close(a.detach(), b, rtol=1e-12, atol=1e-14)
