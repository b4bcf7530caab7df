"""The same checks for every registered model, generated from the registry.

Each model is built small (from ``SMALL``, falling back to ``n_features`` alone) and must give
outputs of the right shapes, a finite loss for each of its objectives, a gradient on every
parameter, and bit-identical weights, codings and reconstructions after a save and reload.
A model added to ``codings.MODELS`` is checked here without any change to this file; a model
that needs small sizes or particular arguments gets an entry in ``SMALL``.
"""

from __future__ import annotations

import inspect

import pytest
import torch

import codings
from codings import MODELS, build

N_FEATURES = 64  # an 8 x 8 image, so that image models fit too
IMAGE_SHAPE = [8, 8]
BATCH = 16

# Small sizes per model (a list of argument sets: each is a case of its own).
SMALL: dict[str, list[dict]] = {
    "linear": [{"latent_dim": 3}],
    "stacked": [{"hidden": [12, 6]}, {"hidden": [12, 6], "tied": True, "l2": 0.01}],
    "denoising": [
        {"hidden": [12, 6]},
        {"hidden": [12, 6], "noise": "masking", "sparsity": "kl", "tied": True},
    ],
    "sparse": [{"hidden": [12]}, {"hidden": [12, 6], "sparsity": "l1", "noise": "dropout"}],
    "contractive": [{"hidden": [10]}, {"hidden": [10, 4], "activation": "elu"}],
    "ksparse": [{"hidden": [20], "k": 4}],
    "wta": [{"hidden": [20]}, {"conv": True, "channels": [4], "decoder_kernel": 5}],
    "conv": [{"channels": [4, 6]}, {"channels": [4], "latent_dim": 3, "noise": "gaussian"}],
    "vae": [{"hidden": [16], "latent_dim": 2}],
    "aae": [{"hidden": [16], "latent_dim": 2, "discriminator": [8]}],
    "classifier": [{"hidden": [8], "encoder_kwargs": {"hidden": [12, 6]}}],
    "recurrent": [
        {"sequence_shape": [8, 8], "hidden": [6], "latent_dim": 3},
        {
            "sequence_shape": [16, 4],
            "cell": "gru",
            "hidden": [],
            "latent_dim": 5,
            "l2": 0.01,
            "noise": "masking",
            "sparsity": "l1",
        },
    ],
    "conv1d": [
        {"sequence_shape": [8, 8], "channels": [4, 6], "latent_dim": 3},
        {
            "channels": [4],
            "latent_dim": 4,
            "noise": "dropout",
            "sparsity": "kl",
            "contractive": 0.1,
            "l2": 0.01,
        },
    ],
    # 20 numeric columns (values and missing flags) and 24 of two categories: 64 wide
    "table": [
        {
            "hidden": [12],
            "schema": {
                "columns": [
                    {"name": f"n{i}", "kind": "numeric", "mean": 0.0, "std": 1.0} for i in range(20)
                ]
                + [
                    {"name": f"c{i}", "kind": "categorical", "categories": ["a", "b"]}
                    for i in range(24)
                ]
            },
        }
    ],
}


def _cases() -> list:
    cases = []
    for name in sorted(MODELS):
        for i, kw in enumerate(SMALL.get(name, [{}])):
            cases.append(pytest.param(name, kw, id=f"{name}-{i}"))
    return cases


def _build(name: str, kw: dict, seed: int = 0):
    kw = dict(kw)
    params = inspect.signature(MODELS[name]).parameters
    if "image_shape" in params and "image_shape" not in kw:
        kw["image_shape"] = IMAGE_SHAPE
    return build(name, n_features=N_FEATURES, seed=seed, **kw)


def _data(seed: int = 0) -> torch.Tensor:
    return torch.rand(BATCH, N_FEATURES, generator=torch.Generator().manual_seed(seed))


def _loss_input(model, x: torch.Tensor) -> torch.Tensor:
    """What ``model.loss`` takes: the rows, or labelled rows for a classifier."""
    n_classes = getattr(model, "n_classes", None)
    if n_classes is None:
        return x
    y = torch.arange(len(x)) % n_classes
    return torch.cat([x, y[:, None].float()], 1)


def _objectives(model) -> list[str | None]:
    return list(model.objectives()) if hasattr(model, "objectives") else [None]


def _loss(model, batch, objective):
    return model.loss(batch) if objective is None else model.loss(batch, objective=objective)


def test_the_registry_holds_the_regularised_models():
    assert {"denoising", "sparse", "contractive", "ksparse", "wta", "conv"} <= set(MODELS)
    assert set(SMALL) >= {"linear", "stacked"}


@pytest.mark.parametrize("name,kw", _cases())
def test_shapes(name, kw):
    model = _build(name, kw).eval()
    x = _data()
    with torch.no_grad():
        z = model.encode(x)
        out = model(x)
    assert z.ndim == 2 and z.shape[0] == BATCH
    if hasattr(model, "decode"):
        with torch.no_grad():
            assert model.decode(z).shape == x.shape
        assert out.shape == x.shape
    else:
        assert out.shape[0] == BATCH


@pytest.mark.parametrize("name,kw", _cases())
def test_finite_loss_and_a_gradient_on_every_parameter(name, kw):
    model = _build(name, kw).train()
    batch = _loss_input(model, _data())
    for objective in _objectives(model):
        total, parts = _loss(model, batch, objective)
        assert total.ndim == 0 and bool(torch.isfinite(total)), (objective, parts)
        assert all(bool(torch.isfinite(v)) for v in parts.values()), parts
        total.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{name}: no gradient reaches {pname}"
        assert bool(torch.isfinite(p.grad).all()), f"{name}: non-finite gradient on {pname}"
        assert bool((p.grad != 0).any()), f"{name}: the gradient on {pname} is zero"


@pytest.mark.parametrize("name,kw", _cases())
def test_bit_identical_reload(name, kw, tmp_path):
    model = _build(name, kw, seed=3)
    # one optimiser step, so that the reloaded weights differ from a fresh build's
    batch = _loss_input(model.train(), _data(1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for objective in _objectives(model):
        opt.zero_grad()
        _loss(model, batch, objective)[0].backward()
        opt.step()
    model.eval()
    path = codings.save(model, tmp_path / "model.safetensors")
    again = codings.load(path)
    assert again.config == model.config
    a, b = model.state_dict(), again.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    x = _data(2)
    with torch.no_grad():
        assert torch.equal(model.encode(x), again.encode(x))
        assert torch.equal(model(x), again(x))
    fresh = _build(name, kw, seed=4)
    assert not all(torch.equal(v, fresh.state_dict()[k]) for k, v in a.items())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_builder_has_a_docstring_and_defaults_beyond_n_features(name):
    fn = MODELS[name]
    assert (fn.__doc__ or "").strip(), f"{name} has no docstring (`codings list` shows it)"
    required = [
        k
        for k, p in inspect.signature(fn).parameters.items()
        if p.default is inspect.Parameter.empty
    ]
    assert required == ["n_features"], f"{name} requires {required}"


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("stacked", {}),
        ("denoising", {}),
        ("sparse", {}),
        ("wta", {}),
        ("wta", {"conv": True, "image_shape": (8, 8), "channels": (2,)}),
        ("conv", {"image_shape": (8, 8)}),
    ],
)
def test_every_builder_refuses_a_negative_l2(name, kwargs):
    # conv and conv-WTA used to drop a negative weight without a word.
    with pytest.raises(ValueError, match=r"l2=-0\.1 must be a number >= 0"):
        build(name, n_features=64, l2=-0.1, **kwargs)
    with pytest.raises(ValueError, match="l2=nan"):
        build(name, n_features=64, l2=float("nan"), **kwargs)


def test_one_rule_guesses_a_square_image_shape_for_the_builders_and_the_command_line():
    from codings.choices import square_image_shape
    from codings.cli import _guess_shape

    assert square_image_shape(784) == (28, 28) and square_image_shape(785) is None
    assert square_image_shape(9) == (3, 3) and _guess_shape(9) is None  # too small to show
    assert _guess_shape(64) == (8, 8)
    # conv, conv-WTA and the conv VAE take it when image_shape is None, and refuse a non-square
    for name, kw in [("conv", {}), ("wta", {"conv": True}), ("vae", {"body": "conv"})]:
        build(name, n_features=64, **kw)
        with pytest.raises(ValueError, match="n_features=65 is not a square number of pixels"):
            build(name, n_features=65, **kw)
