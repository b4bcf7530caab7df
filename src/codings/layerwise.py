"""Greedy layer-wise training of a stacked autoencoder, one shallow autoencoder at a time.

A stacked autoencoder with encoder blocks ``e_0 .. e_{n-1}`` and decoder blocks ``d_0 .. d_{n-1}``
(decoder block ``d_{n-1-k}`` mirrors encoder block ``e_k``) is trained in ``n`` phases
(Bengio et al. 2007, "Greedy layer-wise training of deep networks"):

* phase 1 trains the outer pair ``x -> e_0 -> d_{n-1}`` on the data, with the model's own
  output kind (squared error, or Bernoulli logits);
* phase k trains the pair ``h_{k-1} -> e_{k-1} -> d_{n-k}`` to reconstruct ``h_{k-1}``, the codings
  of the frozen blocks below, computed once and cached, with squared error.

Each phase's shallow model is an :class:`~codings.models.Autoencoder` made of the parent's own
block modules, so the stacked model is trained in place, and the parent's corruption and
penalties (the L2 penalty then sums only that pair's weights) apply in every phase. The shallow
model holds only its pair, so :func:`codings.fit` cannot touch the frozen blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import torch
from torch import nn

from .inference import batched
from .models import Autoencoder
from .options import UNSET, TrainOptions, refuse
from .options import resolve as resolve_options
from .progress import as_reporter
from .train import History, as_tensor, fit, resolve_device

__all__ = [
    "layer_pairs",
    "partial_autoencoder",
    "pretrain_layerwise",
    "shallow_autoencoder",
]


def layer_pairs(model: nn.Module) -> list[tuple[nn.Module, nn.Module]]:
    """``[(e_0, d_{n-1}), (e_1, d_{n-2}), ...]``: each encoder block with its mirror, outer first.

    The model must be an :class:`Autoencoder` whose encoder and decoder are ``nn.Sequential``s
    of the same number of blocks (as the ``stacked`` builder makes them).
    """
    enc, dec = getattr(model, "encoder", None), getattr(model, "decoder", None)
    if not isinstance(enc, nn.Sequential) or not isinstance(dec, nn.Sequential):
        raise ValueError(
            f"layer-wise training needs a model whose encoder and decoder are nn.Sequential "
            f"stacks of blocks; got encoder {type(enc).__name__} and decoder "
            f"{type(dec).__name__}. Build it with codings.build('stacked', ...)"
        )
    if getattr(model, "sequence_shape", None) is not None:  # recurrent, conv1d
        name = (getattr(model, "config", None) or {}).get("name", "a sequence model")
        raise ValueError(
            f"layer-wise training pairs mirrored dense blocks; {name!r} reads whole sequences "
            "(its blocks reshape and recur rather than mirror); train it end to end with "
            "codings.fit (without --layerwise)"
        )
    enc, dec = _blocks(enc), _blocks(dec)
    if len(enc) != len(dec) or len(enc) == 0:
        raise ValueError(
            f"layer-wise training pairs each encoder block with its mirror, but the encoder has "
            f"{len(enc)} blocks and the decoder {len(dec)}; use a mirrored (stacked) model"
        )
    n = len(enc)
    return [(enc[k], dec[n - 1 - k]) for k in range(n)]


def _blocks(stack: nn.Sequential) -> list[nn.Module]:
    """A stack's blocks as layer-wise training pairs them: each block with parameters, with the
    parameter-free modules around it (the reshapes of a convolutional model: ``Unflatten`` before
    its first convolution, ``Flatten`` after its last) joined to its neighbour, the first block
    or the one before. A stack whose every module holds parameters (``stacked``) is unchanged."""
    groups: list[list[nn.Module]] = []
    pending: list[nn.Module] = []
    for module in stack:
        if next(module.parameters(), None) is None:
            if groups:
                groups[-1].append(module)
            else:
                pending.append(module)
        else:
            groups.append([*pending, module])
            pending = []
    if pending:  # no block holds parameters: nothing to pair
        return []
    return [g[0] if len(g) == 1 else nn.Sequential(*g) for g in groups]


def shallow_autoencoder(model: Autoencoder, phase: int) -> Autoencoder:
    """The shallow autoencoder trained in ``phase`` (1 = the outer pair), sharing its modules.

    The outer phase reconstructs the data with the model's output kind; inner phases reconstruct
    hidden codings with squared error. The innermost phase includes the model's bottleneck, if
    any. Corruption and penalties are the model's own.
    """
    pairs = layer_pairs(model)
    _check_phase(phase, len(pairs))
    enc, dec = pairs[phase - 1]
    shallow = Autoencoder(
        enc,
        dec,
        output=model.output if phase == 1 else "linear",
        bottleneck=model.bottleneck if phase == len(pairs) else None,
        corruption=model.corruption,
        penalties=tuple(model.penalties),
        # A transform of the data (e.g. dynamic binarisation) belongs to the data's phase only.
        input_transform=getattr(model, "input_transform", None) if phase == 1 else None,
    )
    shallow.config = {"name": "shallow", "kwargs": {"phase": phase}}
    return shallow


def partial_autoencoder(model: Autoencoder, k: int) -> Autoencoder:
    """The first ``k`` pairs stacked: ``x -> e_0 .. e_{k-1} -> d_{n-k} .. d_{n-1}``.

    After phase ``k`` of layer-wise training this is what the model reconstructs with the pairs
    trained so far (``k = n`` is the whole model); it shares the model's modules.
    """
    n = len(layer_pairs(model))
    _check_phase(k, n, name="k")
    return Autoencoder(
        nn.Sequential(*_blocks(model.encoder)[:k]),
        nn.Sequential(*_blocks(model.decoder)[n - k :]),
        output=model.output,
        bottleneck=model.bottleneck if k == n else None,
    )


def _check_phase(phase: int, n: int, name: str = "phase") -> None:
    if not isinstance(phase, int) or not 1 <= phase <= n:
        raise ValueError(
            f"{name}={phase!r} must be a whole number from 1 to {n} (the model's depth)"
        )


def _codings(
    blocks: Sequence[nn.Module], X: torch.Tensor, batch_size: int | None = None
) -> torch.Tensor:
    """The output of the (frozen) ``blocks`` applied to ``X``, in evaluation mode, no gradients."""
    if not blocks:
        return X
    return batched(nn.Sequential(*blocks), X, batch_size=batch_size, numpy=False)  # on X's device


def _size(t: torch.Tensor) -> str:
    """A row's size as shown in the phase notes: '300', or '16x14x14' for feature maps."""
    return "x".join(str(d) for d in t.shape[1:])


def _per_phase(value, n: int, name: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name}={value!r} has {len(value)} entries; the model has {n} phases")
        return list(value)
    return [value] * n


def pretrain_layerwise(
    model: Autoencoder,
    X,
    *,
    X_val=None,
    options: TrainOptions | None = None,
    epochs: int | Sequence[int] = UNSET,
    finetune_epochs: int = 0,
    batch_size: int = UNSET,
    lr: float | Sequence[float] = UNSET,
    finetune_lr: float | None = None,
    optimizer: str = UNSET,
    seed: int = UNSET,
    patience: int | None = UNSET,
    on_phase_end: Callable[[int, Autoencoder], None] | None = None,
    device: str | torch.device | None = UNSET,
    progress=UNSET,
) -> dict[str, History]:
    """Train ``model`` greedily, one layer pair per phase, then optionally fine-tune end to end.

    Parameters
    ----------
    model : Autoencoder
        A mirrored stack (``codings.build("stacked", ...)``), trained in place.
    X, X_val : array or tensor, (n, d)
        Training and optional validation data; the validation data is passed through the frozen
        blocks like the training data, so each phase reports its own validation loss.
    options : codings.options.TrainOptions, optional
        Every phase's training options (each phase ``k`` seeded ``seed + k - 1``; a schedule
        runs over each phase's epochs). ``checkpoint``, ``resume`` and ``chunk_size`` are
        refused: the phases are separate runs on codings computed in memory. The keywords
        ``epochs`` (default 5), ``batch_size`` (256), ``lr`` (1e-3), ``optimizer``, ``seed``,
        ``patience``, ``device`` and ``progress`` are the same options, given one by one instead
        of ``options`` (not both).
    epochs, lr : int / float, or one per phase
        Epochs and learning rate of each phase.
    finetune_epochs, finetune_lr
        Epochs of end-to-end training afterwards (0: none) and its learning rate (default: the
        last phase's).
    on_phase_end : callable, optional
        Called as ``on_phase_end(phase, partial)`` after each phase, where ``partial`` is
        :func:`partial_autoencoder` of the pairs trained so far (e.g. to draw reconstructions).
    progress : bool or Reporter
        As in :func:`codings.fit`; each phase is announced (``phase 2/3: 300->150``).

    Returns
    -------
    dict
        ``{"phase 1": History, ..., "phase n": History[, "finetune": History]}``.
    """
    pairs = layer_pairs(model)
    n = len(pairs)
    o, epochs_k, lr_k = _phase_options(
        options, n, epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer, seed=seed,
        patience=patience, device=device, progress=progress,
    )  # fmt: skip
    dev = resolve_device(o.device)
    model.to(dev)
    X = as_tensor(X, dev)
    Xv = as_tensor(X_val, dev, name="X_val") if X_val is not None else None
    encoder = _blocks(model.encoder)
    histories: dict[str, History] = {}
    bar = as_reporter(o.progress)
    h, hv = X, Xv
    for k in range(1, n + 1):
        if k > 1:
            # Codings of the blocks frozen so far: computed once per phase, then cached.
            h = _codings(encoder[k - 2 : k - 1], h)  # (N, d_{k-2}) -> (N, d_{k-1})
            hv = _codings(encoder[k - 2 : k - 1], hv) if hv is not None else None
        shallow = shallow_autoencoder(model, k)
        if bar is not None:
            sizes = [_size(t) for t in (h, _codings(encoder[k - 1 : k], h[:1]))]
            bar.note(f"phase {k}/{n}: {sizes[0]}->{sizes[1]}")
        phase = replace(o, epochs=epochs_k[k - 1], lr=lr_k[k - 1], seed=o.seed + k - 1)
        histories[f"phase {k}"] = fit(
            shallow, h, X_val=hv, options=replace(phase, device=dev, progress=bar)
        )
        if on_phase_end is not None:
            on_phase_end(k, partial_autoencoder(model, k))
    if finetune_epochs:
        if bar is not None:
            bar.note(f"fine-tuning: all {n} layer pairs together")
        rate = finetune_lr if finetune_lr is not None else lr_k[-1]
        tune = replace(o, epochs=finetune_epochs, lr=rate, seed=o.seed + n)
        histories["finetune"] = fit(
            model, X, X_val=Xv, options=replace(tune, device=dev, progress=bar)
        )
    model.eval()
    return histories


#: What layer-wise training cannot honour, and why (it refuses them, never drops them).
REFUSED = {
    "checkpoint": "its phases are separate runs; save the model after it",
    "resume": "its phases are separate runs; train again",
    "chunk_size": "each phase trains on codings computed in memory",
}


def _phase_options(options, n: int, *, epochs, lr, **given):
    """(the options of every phase, epochs per phase, learning rate per phase)."""
    per_phase = {"epochs": epochs, "lr": lr}
    lists = {k: v for k, v in per_phase.items() if isinstance(v, (list, tuple))}
    given.update({k: v for k, v in per_phase.items() if k not in lists})
    if options is None and given.get("epochs") is UNSET:
        given["epochs"] = 5  # this function's own default (fit's is 10)
    elif options is not None and lists:
        name = next(iter(lists))
        raise ValueError(
            f"pretrain_layerwise got options and {name}={lists[name]!r}: give {name} once (one "
            "per phase as the keyword, without options, or one for all in options)"
        )
    o = resolve_options(options, "pretrain_layerwise", **given)
    refuse(o, "pretrain_layerwise", REFUSED)
    epochs_k = _per_phase(lists.get("epochs", o.epochs), n, "epochs")
    lr_k = _per_phase(lists.get("lr", o.lr), n, "lr")
    for e, r in zip(epochs_k, lr_k, strict=True):
        replace(o, epochs=e, lr=r)  # each phase's values checked now, before any training
    return o, epochs_k, lr_k


def flat_history(histories: dict[str, History]) -> list[dict]:
    """The phases' records one after another, numbered on, each with its ``stage``."""
    records = []
    for stage, hist in histories.items():
        for r in hist.records:
            records.append(
                {**r, "epoch": len(records) + 1, "stage_epoch": r["epoch"], "stage": stage}
            )
    return records
