import pytest
import torch

import codings
from codings.layers import TiedLinear
from codings.models import build


def test_stacked_architecture_is_data():
    m = build("stacked", n_features=20, hidden=(8, 4), seed=0)
    enc = [b[0] for b in m.encoder]
    dec = [b[0] for b in m.decoder]
    assert [(l.in_features, l.out_features) for l in enc] == [(20, 8), (8, 4)]
    assert [(l.in_features, l.out_features) for l in dec] == [(4, 8), (8, 20)]
    x = torch.rand(5, 20)
    assert m.encode(x).shape == (5, 4)
    assert m(x).shape == (5, 20)


def test_latent_dim_appends_the_coding_layer():
    m = build("stacked", n_features=10, hidden=(6,), latent_dim=3)
    assert m.encode(torch.zeros(2, 10)).shape == (2, 3)


def test_coding_activation_is_the_coding_layers_alone():
    # None (the default): every encoder layer has `activation`, as before; "linear": the coding
    # layer is linear (its codings equal the last Linear's output, negatives below -1 too) and
    # nothing else changes: the same seed gives the same weights.
    elu = build("stacked", n_features=6, hidden=(5,), latent_dim=3, seed=0)
    lin = build(
        "stacked", n_features=6, hidden=(5,), latent_dim=3, seed=0, coding_activation="linear"
    )
    assert [type(b[1]).__name__ for b in elu.encoder] == ["ELU", "ELU"]
    assert [type(b[1]).__name__ for b in lin.encoder] == ["ELU", "Identity"]
    assert [type(b[1]).__name__ for b in lin.decoder] == ["ELU", "Identity"]
    for a, b in zip(elu.state_dict().values(), lin.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    x = 3 * torch.randn(50, 6, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        pre = lin.encoder[1][0](lin.encoder[0](x))  # the coding layer's Linear output
        assert torch.equal(lin.encode(x), pre)
        assert torch.equal(elu.encode(x), torch.nn.functional.elu(pre))
    assert lin.config["kwargs"]["coding_activation"] == "linear"


def test_tied_weights_are_one_parameter_optimised_once():
    m = build("stacked", n_features=12, hidden=(6, 3), tied=True, seed=0)
    enc_w = [b[0].weight for b in m.encoder]
    tied = [b[0] for b in m.decoder]
    assert all(isinstance(t, TiedLinear) for t in tied)
    assert tied[0].source.weight is enc_w[1] and tied[1].source.weight is enc_w[0]
    # Weights counted once: 2 encoder weights + 2 encoder biases + 2 decoder biases.
    assert len(list(m.parameters())) == 6
    assert not any(k.startswith("decoder") and k.endswith("weight") for k in m.state_dict())
    untied = build("stacked", n_features=12, hidden=(6, 3), tied=False)
    assert len(list(untied.parameters())) == 8
    # One optimiser step moves the decoder exactly as the transposed encoder weight.
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    loss, _ = m.loss(torch.rand(4, 12))
    loss.backward()
    opt.step()
    assert torch.equal(tied[1].weight, enc_w[0].t())


def test_loss_parts_and_one_reduction_rule():
    m = build("stacked", n_features=6, hidden=(4,), l2=0.5, seed=0)
    x = torch.rand(3, 6)
    total, parts = m.loss(x)
    assert set(parts) == {"reconstruction", "l2"}
    # reconstruction: squared error summed over features, averaged over the batch
    expected = ((m(x) - x) ** 2).sum(1).mean()
    assert torch.allclose(parts["reconstruction"], expected)
    weights = [m.encoder[0][0].weight, m.decoder[0][0].weight]
    assert torch.allclose(parts["l2"], 0.5 * sum((w**2).sum() for w in weights))
    assert torch.allclose(total, parts["reconstruction"] + parts["l2"])


def test_bernoulli_output_decodes_through_sigmoid():
    m = build("stacked", n_features=6, hidden=(4,), output="bernoulli", seed=0)
    x = torch.rand(3, 6)
    logits = m.decode_logits(m.encode(x))
    assert torch.allclose(m(x), torch.sigmoid(logits))
    _, parts = m.loss(x)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 3
    assert torch.allclose(parts["reconstruction"], bce)


def test_he_init_has_the_he_variance():
    m = build("stacked", n_features=784, hidden=(300,), init="he", seed=0)
    w = m.encoder[0][0].weight
    assert abs(w.var().item() * 784 / 2 - 1) < 0.05
    x = build("stacked", n_features=784, hidden=(300,), init="xavier", seed=0).encoder[0][0].weight
    assert abs(x.var().item() * (784 + 300) / 2 - 1) < 0.05


def test_seed_makes_init_reproducible_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = build("stacked", n_features=8, hidden=(4,), seed=7)
    assert torch.equal(torch.get_rng_state(), before)
    b = build("stacked", n_features=8, hidden=(4,), seed=7)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("stackd", {"n_features": 4}, "did you mean 'stacked'"),
        ("stacked", {"n_features": 4, "hiden": [3]}, "did you mean 'hidden'"),
        ("stacked", {"n_features": 4, "activation": "eluu"}, "did you mean 'elu'"),
        (
            "stacked",
            {"n_features": 4, "coding_activation": "linaer"},
            "coding_activation=.*'linear'",
        ),
        ("stacked", {"n_features": 4, "init": "kaiming"}, "he, xavier"),
        ("stacked", {"n_features": 4, "hidden": "3,x"}, "comma-separated"),
        ("stacked", {"n_features": 4, "output": "sigmoid"}, "bernoulli"),
        ("stacked", {"n_features": 4, "l2": -1.0}, "l2=-1.0"),
        ("stacked", {"n_features": 0}, "n_features=0"),
        ("stacked", {}, "needs n_features"),
    ],
)
def test_bad_arguments_are_named_with_the_fix(name, kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        build(name, **kwargs)


def test_registry_lists_the_core_models():
    assert {"linear", "stacked"} <= set(codings.MODELS)
