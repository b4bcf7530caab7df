"""The regularised builders: parts, combinations, conv shapes, the command line, and results."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from codings import build, fit, load
from codings.metrics import denoising_error, target_gap
from codings.noise import GaussianNoise, MaskingNoise
from codings.penalties import Contractive, KLSparsity, KSparse, L1Sparsity, LifetimeSparsity

_ENV_DATA = os.environ.get("CODINGS_DATA_DIR")
_SIBLING_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DATA_DIR = _ENV_DATA or (str(_SIBLING_DATA) if _SIBLING_DATA.exists() else None)
needs_mnist = pytest.mark.skipif(DATA_DIR is None, reason="no MNIST (set CODINGS_DATA_DIR)")

DENSE = ["denoising", "sparse", "contractive", "ksparse", "wta"]


@pytest.mark.parametrize("name", DENSE)
def test_dense_models_keep_the_block_structure_layerwise_training_needs(name):
    kw = {"k": 3} if name == "ksparse" else {}
    model = build(name, n_features=20, hidden=[10, 6], **kw)
    for stack in (model.encoder, model.decoder):
        assert isinstance(stack, nn.Sequential)
        for block in stack:
            assert isinstance(block, nn.Sequential) and isinstance(block[0], nn.Linear)
    assert len(model.encoder) == len(model.decoder) == 2
    assert model.decoder[0][0].in_features == 6 and model.decoder[-1][0].out_features == 20


def test_each_builder_assembles_its_parts():
    m = build("denoising", n_features=9, hidden=[5])
    assert isinstance(m.corruption, GaussianNoise) and m.corruption.level == 0.3
    assert list(m.penalties) == []
    m = build("sparse", n_features=9, hidden=[5])
    assert isinstance(m.penalties[0], KLSparsity) and isinstance(m.encoder[-1][1], nn.Sigmoid)
    m = build("sparse", n_features=9, hidden=[5], sparsity="l1", sparsity_weight=0.5)
    assert isinstance(m.penalties[0], L1Sparsity) and m.penalties[0].weight == 0.5
    assert isinstance(m.encoder[-1][1], nn.ELU)
    m = build("contractive", n_features=9, hidden=[5], contractive=0.2)
    assert isinstance(m.penalties[0], Contractive) and m.penalties[0].weight == 0.2
    m = build("ksparse", n_features=9, hidden=[8], k=2)
    assert isinstance(m.encoder[-1][-1], KSparse) and m.encoder[-1][-1].k == 2
    m = build("wta", n_features=9, hidden=[8], rate=0.1)
    assert isinstance(m.encoder[-1][-1], LifetimeSparsity) and m.corruption is None


def test_regularisers_combine_freely():
    m = build(
        "denoising",
        n_features=16,
        hidden=[8],
        noise="masking",
        noise_level=0.2,
        sparsity="kl",
        sparsity_target=0.1,
        contractive=0.05,
        tied=True,
    )
    assert isinstance(m.corruption, MaskingNoise) and m.corruption.level == 0.2
    assert [p.name for p in m.penalties] == ["kl_sparsity", "contractive"]
    assert isinstance(m.encoder[-1][1], nn.Sigmoid)  # KL implies sigmoid codings
    m.train()
    _, parts = m.loss(torch.rand(8, 16))
    assert set(parts) == {"reconstruction", "kl_sparsity", "contractive"}
    k = build("ksparse", n_features=16, hidden=[12], k=3, noise="gaussian", sparsity="l1")
    assert isinstance(k.corruption, GaussianNoise) and k.penalties[0].name == "l1"
    c = build("conv", n_features=64, image_shape=[8, 8], noise="dropout", sparsity="l1")
    assert c.corruption.name == "dropout" and c.penalties[0].name == "l1"


@pytest.mark.parametrize(
    "name,kw,match",
    [
        ("denoising", {"sparsity": "kl", "coding_activation": "elu"}, "coding_activation"),
        ("sparse", {"sparsity": "kll"}, "did you mean 'kl'"),
        ("sparse", {"sparsity": None}, "sparsity=None"),
        ("denoising", {"noise": "salt"}, "noise='salt'"),
        ("contractive", {"contractive": 0.0}, "contractive=0.0"),
        ("wta", {"rate": 0.0}, "rate=0.0"),
        ("wta", {"conv": True, "kernel_size": 4}, "kernel_size=4"),
        ("conv", {"image_shape": [9, 9]}, "n_features=64"),
        ("conv", {"image_shape": [8]}, "image_shape"),
        ("conv", {"channels": [4, 0]}, "channels"),
        ("conv", {"coding_activation": "sigmoid"}, "latent_dim"),
    ],
)
def test_bad_arguments_name_the_argument_and_the_fix(name, kw, match):
    with pytest.raises(ValueError, match=match):
        build(name, n_features=64, **kw)


def test_conv_needs_an_image_shape_for_non_square_rows():
    with pytest.raises(ValueError, match="image_shape"):
        build("conv", n_features=60)


@pytest.mark.parametrize(
    "shape,channels,stride",
    [([1, 7, 9], [4, 6], 2), ([3, 5, 5], [4], 2), ([2, 13, 11], [3, 4, 5], 2), ([28, 28], [8], 1)],
)
def test_conv_reconstructs_images_of_any_shape(shape, channels, stride):
    d = int(np.prod(shape))
    model = build("conv", n_features=d, image_shape=shape, channels=channels, stride=stride)
    x = torch.rand(3, d)
    assert model(x).shape == (3, d)
    with_latent = build("conv", n_features=d, image_shape=shape, channels=channels, latent_dim=5)
    assert with_latent.encode(x).shape == (3, 5)
    assert with_latent(x).shape == (3, d)


def test_conv_wta_codings_have_one_winner_per_map_and_lifetime_in_training():
    model = build("wta", n_features=64, conv=True, channels=[3], rate=0.25, image_shape=[8, 8])
    x = torch.rand(8, 64) + 0.1
    model.eval()
    maps = model.encode(x).reshape(8, 3, 64)
    assert ((maps != 0).sum(2) <= 1).all()
    model.train()
    maps = model.encode(x).reshape(8, 3, 64)
    assert ((maps != 0).any(2).sum(0) <= 2).all()  # 25% of 8 examples per map


def test_wta_lets_every_activation_pass_at_test_time():
    model = build("wta", n_features=16, hidden=[30], rate=0.05, seed=0)
    x = torch.rand(40, 16)
    model.train()
    assert ((model.encode(x) != 0).sum(0) <= 2).all()
    model.eval()
    relu = torch.relu(model.encoder[0][0](x))
    assert torch.equal(model.encode(x), relu)


def test_layerwise_training_runs_on_a_denoising_model():
    from codings import pretrain_layerwise

    model = build("denoising", n_features=16, hidden=[8, 4], seed=0)
    x = torch.rand(64, 16, generator=torch.Generator().manual_seed(0))
    pretrain_layerwise(model, x, epochs=1, batch_size=32, device="cpu")
    assert model(x).shape == x.shape


def test_kl_sparse_codings_reach_the_target_on_digits():
    from codings.datasets import load_dataset

    train, val = load_dataset("digits", "train"), load_dataset("digits", "validation")
    model = build(
        "sparse", n_features=64, hidden=[24], sparsity_target=0.1, sparsity_weight=3.0, seed=0
    )
    fit(model, train.X, epochs=40, batch_size=64, lr=3e-3, seed=0, device="cpu")
    assert target_gap(model, val.X, 0.1) < 0.2


def test_cli_train_fills_the_image_shape_and_the_model_reloads(tmp_path):
    from codings.cli import main

    out = tmp_path / "run"
    argv = ["train", "conv", "--dataset", "digits", "--out", str(out), "--epochs", "1"]
    assert main([*argv, "--set", "channels=4", "--no-progress"]) == 0
    model = load(out)
    assert model.config["kwargs"]["image_shape"] == [8, 8]
    assert model.config["kwargs"]["channels"] == 4 or model.config["kwargs"]["channels"] == [4]
    assert main(["eval", str(out), "--dataset", "digits", "--split", "test"]) == 0
    assert (out / "filters.png").stat().st_size > 0  # conv kernels


def test_model_figures_show_noise_sparsity_and_filters(tmp_path):
    from codings.plots import model_figures

    model = build("denoising", n_features=64, hidden=[16], sparsity="kl", seed=0)
    paths = model_figures(model, np.random.rand(20, 64), (8, 8), tmp_path)
    assert sorted(p.name for p in paths) == ["denoising.png", "filters.png", "mean_activations.png"]
    assert all(p.stat().st_size > 0 for p in paths)
    assert [
        p.name
        for p in model_figures(build("linear", n_features=64), np.zeros((4, 64)), (8, 8), tmp_path)
    ] == ["filters.png"]


@needs_mnist
def test_denoising_beats_a_plain_model_of_the_same_shape_on_noisy_mnist():
    from codings.datasets import load_dataset

    train = load_dataset("mnist", "train", data_dir=DATA_DIR)
    test = load_dataset("mnist", "test", data_dir=DATA_DIR)
    X, Xt = train.X[:3000], test.X[:500]
    kw = dict(n_features=784, hidden=[64], seed=0)
    dae = build("denoising", **kw, noise_level=0.5)
    plain = build("stacked", **kw)
    for m in (dae, plain):
        fit(m, X, epochs=4, batch_size=64, lr=2e-3, seed=0, device="cpu")
    ratio = denoising_error(dae, Xt, noise_level=0.5) / denoising_error(plain, Xt, noise_level=0.5)
    assert ratio < 0.8
