"""The sequence autoencoders: one model for (B, T, C) and flat (B, T*C) input, the coding
repeated over time, the recurrent model against the LSTM equations written out, gradients
against finite differences, and the library's verbs on 3-D arrays."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import codings
from codings import build
from codings.metrics import encode, reconstruct, reconstruction_errors

T, C = 6, 3


def _x(n: int = 5, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    return torch.rand(n, T, C, generator=torch.Generator().manual_seed(seed), dtype=dtype)


CASES = [
    ("recurrent", {"hidden": [5], "latent_dim": 4}),
    ("recurrent", {"cell": "gru", "hidden": [5, 4], "latent_dim": 2}),
    ("conv1d", {"channels": [4, 5], "latent_dim": 4}),
    ("conv1d", {"channels": [4], "latent_dim": 2, "stride": 1, "kernel_size": 5}),
]


def _build(name, kw, seed=0, **more):
    return build(name, n_features=T * C, sequence_shape=[T, C], seed=seed, **kw, **more)


@pytest.mark.parametrize("name,kw", CASES)
def test_flat_rows_and_sequences_give_the_same_codings_reconstructions_and_loss(name, kw):
    model = _build(name, kw).eval()
    x3 = _x()
    x2 = x3.reshape(len(x3), T * C)  # time step by time step, as NumPy's reshape
    with torch.no_grad():
        assert torch.equal(model.encode(x3), model.encode(x2))
        r3, r2 = model(x3), model(x2)
        assert r3.shape == x3.shape and r2.shape == x2.shape  # the shape given comes back
        assert torch.equal(r3.reshape(r2.shape), r2)
        assert torch.equal(model.loss(x3)[0], model.loss(x2)[0])
        total, parts, logits = model.loss_and_logits(x3)
        assert logits.shape == x3.shape and torch.equal(model.to_data(logits), r3)
    assert model.sequence_shape == (T, C)


@pytest.mark.parametrize("name,kw", CASES)
def test_the_decoder_sees_only_the_coding(name, kw):
    model = _build(name, kw).eval()
    # With the coding layer's input weights at zero, every sequence gets the same coding,
    # and then the same reconstruction, however different the sequences are.
    with torch.no_grad():
        if name == "recurrent":
            last = model.encoder[1].layers[-1]
            last.weight_ih_l0.zero_()
        else:
            model.encoder[-1][0].weight.zero_()
        a, b = _x(seed=1), _x(seed=2) * 5 - 2
        assert not torch.equal(a, b)
        za, zb = model.encode(a), model.encode(b)
        assert torch.equal(za, zb)
        assert torch.equal(model(a), model(b))


def test_the_recurrent_decoder_reads_the_coding_at_every_time_step():
    model = _build("recurrent", {"hidden": [5], "latent_dim": 4}).eval()
    seen = []
    model.decoder[1].register_forward_hook(lambda m, args, out: seen.append(args[0]))
    x = _x()
    with torch.no_grad():
        z = model.encode(x)
        model(x)
    (steps,) = seen
    assert steps.shape == (len(x), T, 4)
    for t in range(T):
        assert torch.equal(steps[:, t], z)


def _lstm_by_hand(layer: torch.nn.LSTM, x: torch.Tensor) -> torch.Tensor:
    """Every step's h of one LSTM layer, from its equations (PyTorch's gate order i, f, g, o)."""
    n, steps, _ = x.shape
    size = layer.hidden_size
    h = x.new_zeros(n, size)
    c = x.new_zeros(n, size)
    out = []
    for t in range(steps):
        gates = x[:, t] @ layer.weight_ih_l0.T + layer.bias_ih_l0
        gates = gates + h @ layer.weight_hh_l0.T + layer.bias_hh_l0
        i, f, g, o = gates.split(size, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        out.append(h)
    return torch.stack(out, 1)  # (n, T, H)


def test_the_recurrent_model_is_the_chapters_network_written_out():
    # LSTM(5) -> LSTM(4), its last state the coding; repeated; LSTM(5); Dense(C) per step.
    model = _build("recurrent", {"hidden": [5], "latent_dim": 4}, output="bernoulli")
    model = model.double().eval()
    x = _x(dtype=torch.float64)
    enc1, enc2 = model.encoder[1].layers
    (dec,) = model.decoder[1].layers
    readout = model.decoder[2]
    z = _lstm_by_hand(enc2, _lstm_by_hand(enc1, x))[:, -1]  # (n, 4)
    h = _lstm_by_hand(dec, z[:, None, :].expand(-1, T, -1))  # (n, T, 5)
    want = torch.sigmoid(h @ readout.weight.T + readout.bias)  # (n, T, C), Bernoulli means
    with torch.no_grad():
        torch.testing.assert_close(model.encode(x), z, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(model(x), want, rtol=1e-12, atol=1e-12)
        loss = torch.nn.functional.binary_cross_entropy(want, x, reduction="sum") / len(x)
        torch.testing.assert_close(model.loss(x)[0], loss, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name,kw", CASES)
def test_gradients_match_finite_differences(name, kw):
    model = _build(name, kw, l2=0.01).double().eval()
    x = _x(n=2, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: model.loss(v)[0], (x,))
    # and with respect to the first and last weights (the encoder's input, the read-out)
    names = [n for n, _ in model.named_parameters()]
    first, last = names[0], names[-1]
    wrapped = _Loss(model)

    def loss_of(a, b):
        return torch.func.functional_call(wrapped, {f"m.{first}": a, f"m.{last}": b}, (x,))

    params = dict(model.named_parameters())
    a = params[first].detach().clone().requires_grad_()
    b = params[last].detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(loss_of, (a, b))


class _Loss(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m.loss(x.detach())[0]


@pytest.mark.parametrize("name,kw", CASES[::2])
def test_fit_encode_reconstruct_and_reload_on_3d_arrays(name, kw, tmp_path):
    rng = np.random.default_rng(0)
    phase = rng.uniform(0, 2 * np.pi, size=(64, 1, 1))
    steps = np.arange(T)[None, :, None]
    X = (np.sin(steps * 0.8 + phase + np.arange(C)) * 0.5).astype(np.float32)  # (64, T, C)
    model = _build(name, kw)
    history = codings.fit(model, X, X_val=X[:16], epochs=15, batch_size=16, lr=3e-3)
    assert history.records[-1]["train_loss"] < history.records[0]["train_loss"]
    flat = X.reshape(len(X), -1)
    Z = encode(model, X)
    assert Z.shape == (64, kw["latent_dim"]) and np.array_equal(Z, encode(model, flat))
    R = reconstruct(model, X)
    assert R.shape == X.shape and np.array_equal(R.reshape(len(X), -1), reconstruct(model, flat))
    err = reconstruction_errors(model, X)
    np.testing.assert_allclose(err, ((R - X) ** 2).reshape(len(X), -1).mean(1), rtol=1e-6)
    again = codings.load(codings.save(model, tmp_path / "m.safetensors"))
    assert again.sequence_shape == (T, C)
    assert np.array_equal(encode(again, X), Z) and np.array_equal(reconstruct(again, X), R)
    val = codings.evaluate(model, X[:16])
    np.testing.assert_allclose(val["mse"], ((R[:16] - X[:16]) ** 2).mean(), rtol=1e-5)


def test_without_a_shape_a_row_is_one_series_and_the_coding_is_smaller_than_it():
    model = build("recurrent", n_features=16)
    assert model.sequence_shape == (16, 1)
    assert model.encode(torch.rand(2, 16)).shape == (2, 8)  # 30, at most half the values
    assert build("conv1d", n_features=784, sequence_shape=[28, 28]).encode(
        torch.rand(2, 784)
    ).shape == (2, 30)
    assert build("recurrent", n_features=64, sequence_shape=64).sequence_shape == (64, 1)


@pytest.mark.parametrize(
    "name, kw, error, match",
    [
        ("recurrent", {"sequence_shape": [7, 3]}, ValueError, r"has 21 values but n_features=18"),
        ("conv1d", {"sequence_shape": [6, 3, 1]}, ValueError, r"must be \[time steps, channels\]"),
        ("recurrent", {"cell": "lstn"}, ValueError, "did you mean 'lstm'"),
        ("recurrent", {"latent_dim": 18}, ValueError, "can copy its input.*latent_dim < 18"),
        ("recurrent", {"sparsity": "kl"}, ValueError, "sparsity='kl' needs codings in \\(0, 1\\)"),
        ("conv1d", {"sparsity": "kl", "coding_activation": "relu"}, ValueError, "coding_activ"),
        ("recurrent", {"contractive": 0.1}, TypeError, "takes no argument 'contractive'"),
        ("recurrent", {"tied": True}, TypeError, "takes no argument 'tied'"),
        ("conv1d", {"kernel_size": 4}, ValueError, "kernel_size=4 must be an odd"),
        ("conv1d", {"noise": "salt"}, ValueError, "noise='salt' is not known"),
        ("conv1d", {"l2": -1.0}, ValueError, "l2=-1.0 must be a number >= 0"),
    ],
)
def test_bad_arguments_are_refused_by_name(name, kw, error, match):
    kw = {"sequence_shape": [T, C], **kw}
    with pytest.raises(error, match=match):
        build(name, n_features=T * C, **kw)


def test_regularisers_combine_as_with_the_dense_builders():
    model = _build(
        "conv1d",
        {"channels": [4], "latent_dim": 4},
        noise="masking",
        noise_level=0.5,
        sparsity="kl",
        contractive=0.1,
    )
    assert model.corruption.name == "masking" and model.corruption.level == 0.5
    assert [p.name for p in model.penalties] == ["kl_sparsity", "contractive"]
    rec = _build("recurrent", {"latent_dim": 4}, noise="gaussian", sparsity="l1", l2=0.1)
    assert [p.name for p in rec.penalties] == ["l2", "l1"]
    # the corruption is applied in training only: in evaluation the loss is deterministic
    x = _x()
    rec.eval()
    with torch.no_grad():
        assert torch.equal(rec.loss(x)[0], rec.loss(x)[0])
        rec.train()
        assert not torch.equal(rec.loss(x)[0], rec.loss(x)[0])


def test_recurrent_layers_start_as_keras_does_unless_init_is_torch():
    model = _build("recurrent", {"hidden": [5], "latent_dim": 4})
    for layer in (*model.encoder[1].layers, *model.decoder[1].layers):
        h = layer.hidden_size
        w_hh = layer.weight_hh_l0.detach()  # (4H, H): orthonormal columns
        torch.testing.assert_close(w_hh.T @ w_hh, torch.eye(h), rtol=0, atol=1e-5)
        forget = torch.zeros(4 * h)
        forget[h : 2 * h] = 1.0
        assert torch.equal(layer.bias_ih_l0.detach(), forget)
        assert torch.equal(layer.bias_hh_l0.detach(), torch.zeros(4 * h))
        bound = (6 / sum(layer.weight_ih_l0.shape)) ** 0.5  # Glorot uniform
        assert layer.weight_ih_l0.abs().max() <= bound
    gru = _build("recurrent", {"cell": "gru", "latent_dim": 4})
    assert torch.equal(gru.encoder[1].layers[0].bias_ih_l0.detach(), torch.zeros(3 * 100))
    torch_init = _build("recurrent", {"latent_dim": 4}, init="torch")
    bias = torch_init.encoder[1].layers[0].bias_ih_l0.detach()
    assert bias.abs().max() <= 100**-0.5 and bias.abs().min() > 0  # PyTorch's uniform
    with pytest.raises(ValueError, match="init='glorot' is not known"):
        _build("recurrent", {}, init="glorot")


@pytest.mark.parametrize("name,kw", [CASES[1], CASES[3]])
def test_onnx_export_of_a_gru_and_a_conv1d_model_takes_any_batch(name, kw, tmp_path):
    ort = pytest.importorskip("onnxruntime")  # the onnx extra; `make test` installs it
    model = _build(name, kw).eval()
    path = codings.export(model, tmp_path / "ae.onnx", part="autoencoder")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n in (1, 7, 300):
        x = _x(n=n, seed=n).reshape(n, T * C).numpy()  # a service sends flat rows
        got = session.run(None, {"x": x})[0]
        np.testing.assert_allclose(got, reconstruct(model, x), rtol=1e-5, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no TracerWarning from the recurrent layers
        path = codings.export(model, tmp_path / "ae.pt", part="autoencoder", format="torchscript")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 deprecates jit
        traced = torch.jit.load(str(path))
    x = _x(n=9, seed=3).reshape(9, T * C)
    with torch.no_grad():
        np.testing.assert_allclose(traced(x).numpy(), reconstruct(model, x.numpy()), rtol=1e-5)
