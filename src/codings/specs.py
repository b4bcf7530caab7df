"""A model's builder arguments from what a user chose: one rule for the command line's flags
(``--hidden``, ``--set KEY=VALUE``) and the estimators' parameters (``hidden=``,
``model_params=``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from . import defaults
from .errors import suggest
from .models import MODELS, builder_params

#: The builder arguments that are options of their own: estimator parameters and command-line
#: flags. Any other argument goes in ``extra`` (``model_params``, ``--set``).
BUILDER_ARGS = ("hidden", "latent_dim", "activation", "init", "output", "l2", "tied")

CLI = "cli"  # the ``owner`` whose errors are said in the command line's words


def builder_kwargs(
    name: str,
    n_features: int,
    given: Mapping[str, object],
    extra: Mapping[str, object] | None = None,
    *,
    image_shape: Sequence[int] | None = None,
    owner: str = CLI,
) -> dict:
    """The keyword arguments of ``build(name, ...)``.

    ``given`` holds the :data:`BUILDER_ARGS` (None: the builder's default); each must be an
    argument of the model. ``extra`` holds any other argument of the model, but never
    ``n_features``, which comes from the data. A builder with an ``image_shape`` argument gets
    ``image_shape`` (the data's) unless ``extra`` sets it, and one with ``sequence_shape`` gets
    it as its (time steps, channels); one with an ``init`` argument gets the defaults study's
    :data:`codings.defaults.INIT` unless it is chosen.

    ``owner`` says who asks, for the wording of the errors: ``"cli"`` (flags), or the name of
    an estimator class, whose ``extra`` is ``model_params`` and may not repeat one of its own
    parameters (``clone`` and ``set_params`` would see two values).
    """
    if not isinstance(name, str):
        raise ValueError(f"model={name!r} is not a model's name; choose one of {sorted(MODELS)}")
    params = builder_params(name)
    own = ", ".join(p for p in params if p != "n_features")
    cli = owner == CLI
    kwargs: dict = {"n_features": n_features}
    for key in BUILDER_ARGS:
        value = given.get(key)
        if value is None:
            continue  # the builder's default
        if key not in params:
            if cli:
                raise ValueError(
                    f"model {name!r} has no {key.replace('_', '-')} option; its arguments are {own}"
                )
            raise ValueError(
                f"{key}={value!r} does not apply to model={name!r}, whose arguments are {own}; "
                f"leave {key}=None"
            )
        hidden = key == "hidden" and not isinstance(value, (str, int))
        kwargs[key] = tuple(value) if hidden else value
    for key, value in (extra or {}).items():
        where = f"--set {key}={value}" if cli else f"model_params[{key!r}]"
        if key == "n_features":
            if cli:
                raise ValueError(
                    f"n_features comes from the data (X has {n_features} columns); "
                    "remove --set n_features"
                )
            raise ValueError(
                f"model_params has 'n_features', which model {name!r} does not take (n_features "
                f"comes from X); its arguments are {own}"
            )
        if key in BUILDER_ARGS and not cli:
            raise ValueError(
                f"{where}: {key} is a parameter of {owner} itself; pass {key}={value!r} directly"
            )
        if key not in params:
            raise ValueError(
                f"{where}: model {name!r} does not take {key!r}; its arguments are {own}"
                + suggest(key, params)
            )
        if isinstance(params[key].default, bool) and not isinstance(value, bool):
            raise ValueError(f"{where}: {key} is true or false, not {value!r}")
        kwargs[key] = value
    if image_shape is not None and "image_shape" in params and "image_shape" not in kwargs:
        kwargs["image_shape"] = list(image_shape)
    if image_shape is not None and "sequence_shape" in params and "sequence_shape" not in kwargs:
        kwargs["sequence_shape"] = list(image_shape)  # (time steps, channels): a 3-D file's
    if name == "stacked" and "hidden" not in kwargs and "latent_dim" not in kwargs:
        small = defaults.small_input_code(n_features, params["hidden"].default)
        if small is not None:  # the default would give no fewer codings than features
            kwargs["hidden"], kwargs["latent_dim"] = small
    if "init" in params and "init" not in kwargs:
        kwargs["init"] = defaults.INIT  # the defaults study's (the builders keep the chapter's he)
    return kwargs
