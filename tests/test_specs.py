"""One rule for a model's builder arguments, from the command line's flags or an estimator's
parameters; one tuple of classifier modes."""

from __future__ import annotations

import argparse

import pytest

from codings import defaults
from codings.specs import builder_kwargs


def test_the_command_line_and_the_estimators_build_the_same_model():
    from codings import AutoencoderTransformer
    from codings.cli import build_parser, model_kwargs

    flags = "--hidden 6,4 --activation tanh --l2 1e-3 --tied --set noise_level=0.3".split()
    args = build_parser().parse_args(["train", "denoising", "--dataset", "d", "--out", "o", *flags])
    est = AutoencoderTransformer(
        model="denoising",
        hidden=[6, 4],
        activation="tanh",
        l2=1e-3,
        tied=True,
        model_params={"noise_level": 0.3},
    )
    expected = {
        "n_features": 7, "hidden": (6, 4), "activation": "tanh", "l2": 1e-3, "tied": True,
        "noise_level": 0.3, "init": defaults.INIT,
    }  # fmt: skip
    assert model_kwargs(args, 7) == est._builder_kwargs(7) == expected


def test_defaults_fill_init_and_image_shape_only_where_the_builder_takes_them():
    assert builder_kwargs("linear", 4, {}) == {"n_features": 4}
    kw = builder_kwargs("conv", 64, {}, image_shape=(8, 8))
    assert kw["image_shape"] == [8, 8] and kw["init"] == defaults.INIT
    kw = builder_kwargs("conv", 64, {"init": "he"}, {"image_shape": [4, 16]}, image_shape=(8, 8))
    assert kw["image_shape"] == [4, 16] and kw["init"] == "he"


@pytest.mark.parametrize(
    ("given", "extra", "cli", "python"),
    [
        (
            {"hidden": (4,)},
            {},
            "model 'linear' has no hidden option",
            "hidden=(4,) does not apply to model='linear', whose arguments are latent_dim, output",
        ),
        (
            {},
            {"n_features": 3},
            "n_features comes from the data (X has 4 columns); remove --set n_features",
            "model_params has 'n_features', which model 'linear' does not take (n_features comes "
            "from X)",
        ),
        (
            {},
            {"latnt_dim": 3},
            "--set latnt_dim=3: model 'linear' does not take 'latnt_dim'",
            "model_params['latnt_dim']: model 'linear' does not take 'latnt_dim'; its arguments "
            "are latent_dim, output; did you mean 'latent_dim'?",
        ),
    ],
)
def test_errors_are_worded_for_whoever_asks(given, extra, cli, python):
    with pytest.raises(ValueError) as e:
        builder_kwargs("linear", 4, given, extra)
    assert cli in str(e.value)
    with pytest.raises(ValueError) as e:
        builder_kwargs("linear", 4, given, extra, owner="AutoencoderTransformer")
    assert python in str(e.value)


def test_a_flag_may_come_through_set_but_not_through_model_params():
    assert builder_kwargs("stacked", 4, {}, {"hidden": 3})["hidden"] == 3  # --set hidden=3
    with pytest.raises(ValueError, match=r"hidden is a parameter of Est itself; pass hidden=3"):
        builder_kwargs("stacked", 4, {}, {"hidden": 3}, owner="Est")


@pytest.mark.parametrize("owner", ["cli", "Est"])
def test_a_boolean_argument_takes_only_true_or_false(owner):
    with pytest.raises(ValueError, match="conv is true or false, not 'yes'"):
        builder_kwargs("wta", 4, {}, {"conv": "yes"}, owner=owner)
    assert builder_kwargs("wta", 4, {}, {"conv": False}, owner=owner)["conv"] is False


def test_a_model_name_that_is_not_a_string_is_refused():
    with pytest.raises(ValueError, match=r"model=3 is not a model's name; choose one of"):
        builder_kwargs(3, 4, {})


def test_the_classifier_modes_come_from_one_tuple():
    from codings import AutoencoderClassifier
    from codings.choices import CLASSIFIER_MODES
    from codings.classify import MODES
    from codings.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    [mode] = [a for a in sub.choices["classify"]._actions if a.dest == "mode"]
    assert tuple(mode.choices) == MODES == CLASSIFIER_MODES == ("frozen", "finetune", "scratch")
    for m in CLASSIFIER_MODES:
        AutoencoderClassifier(mode=m)._check_mode()
    with pytest.raises(ValueError, match="did you mean 'frozen'"):
        AutoencoderClassifier(mode="frozn")._check_mode()


def test_a_sequence_model_gets_the_datas_shape_as_time_steps_and_channels():
    # fashion-mnist's (28, 28) images: 28 steps of 28 pixels; --set wins; dense models unchanged
    got = builder_kwargs("recurrent", 784, {}, image_shape=(28, 28))
    assert got["sequence_shape"] == [28, 28]
    got = builder_kwargs("conv1d", 784, {}, {"sequence_shape": [784, 1]}, image_shape=(28, 28))
    assert got["sequence_shape"] == [784, 1]
    assert "sequence_shape" not in builder_kwargs("stacked", 784, {}, image_shape=(28, 28))
    assert "sequence_shape" not in builder_kwargs("recurrent", 784, {})
