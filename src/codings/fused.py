"""A hand-written training step for dense autoencoders, used by ``fit`` where it applies.

Most models people train are stacks of ``Linear`` (or tied) layers and pointwise activations
with a squared-error or cross-entropy loss. For those, the gradients have a short closed form,
and computing them directly saves what autograd spends on recording a graph and on temporary
tensors: activations are applied in place, the loss's gradient scale rides along in the matrix
products (their ``alpha``), and the two gradient contributions of a tied weight are summed
inside the second product (``addmm_``) instead of in a separate pass; for a linear output the
residual is formed as ``(b - x) + a @ W`` in one product. The gradients are the same as
autograd's up to float rounding (tests compare them), written to each parameter's ``.grad``
(buffers kept from step to step); the optimiser step is the usual one.

:func:`plan` returns ``None`` for anything else (a bottleneck, penalties other than L2, hooks,
layers other than Linear/TiedLinear and the activations below; :func:`why_not` says which), and
``fit`` then uses autograd, or refuses with that reason when asked for ``step="fused"``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import TiedLinear
from .losses import L2Penalty
from .models import Autoencoder

_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


class _Layer:
    """``act(x @ W_op + b)``, with ``W_op`` the weight as stored (tied) or its transpose."""

    __slots__ = ("weight", "tied", "bias", "act", "alpha")

    def __init__(self, linear: nn.Module, act: nn.Module | None):
        if type(linear) is TiedLinear:
            self.weight, self.tied = linear.source.weight, True
        else:
            self.weight, self.tied = linear.weight, False
        self.bias = linear.bias
        self.act = "linear" if act is None or type(act) is nn.Identity else type(act).__name__
        self.alpha = float(act.alpha) if type(act) is nn.ELU else 1.0

    def weight_op(self) -> torch.Tensor:
        return self.weight if self.tied else self.weight.t()

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        w = self.weight_op()
        z = torch.mm(a, w) if self.bias is None else torch.addmm(self.bias, a, w)
        act = self.act
        if act == "ELU":
            F.elu_(z, self.alpha)
        elif act == "ReLU":
            z.relu_()
        elif act == "SELU":
            torch.selu_(z)
        elif act == "Sigmoid":
            z.sigmoid_()
        elif act == "Tanh":
            z.tanh_()
        return z

    def act_backward(self, g: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The gradient before the activation, from the one after it and the output ``y``."""
        act = self.act
        aten = torch.ops.aten
        if act == "ELU":
            return aten.elu_backward.grad_input(g, self.alpha, 1.0, 1.0, True, y, grad_input=g)
        if act == "SELU":
            return aten.elu_backward.grad_input(
                g, _SELU_ALPHA, _SELU_SCALE, 1.0, True, y, grad_input=g
            )
        if act == "ReLU":
            return aten.threshold_backward.grad_input(g, y, 0.0, grad_input=g)
        if act == "Sigmoid":
            return aten.sigmoid_backward.grad_input(g, y, grad_input=g)
        if act == "Tanh":
            return aten.tanh_backward.grad_input(g, y, grad_input=g)
        return g


_ACTIVATIONS = (nn.ELU, nn.ReLU, nn.SELU, nn.Sigmoid, nn.Tanh, nn.Identity)


def _leaves(module: nn.Module):
    if type(module) is nn.Sequential:
        for m in module:
            yield from _leaves(m)
    else:
        yield module


def _hooked(module: nn.Module) -> bool:
    from torch.nn.modules import module as torch_module

    globals_ = (
        "_global_forward_hooks",
        "_global_forward_pre_hooks",
        "_global_backward_hooks",
        "_global_backward_pre_hooks",  # register_module_full_backward_pre_hook
    )
    if any(getattr(torch_module, name, None) for name in globals_):
        return True
    for m in module.modules():
        if m._forward_hooks or m._forward_pre_hooks or m._backward_hooks:
            return True
        if getattr(m, "_backward_pre_hooks", None):
            return True
    return False


def _layers(stack: nn.Module) -> list[_Layer] | None:
    layers: list[_Layer] = []
    pending = None
    for m in _leaves(stack):
        if type(m) in (nn.Linear, TiedLinear):
            if pending is not None:
                layers.append(_Layer(pending, None))
            pending = m
        elif type(m) in _ACTIVATIONS:
            if pending is None:
                if type(m) is nn.Identity:
                    continue
                return None  # an activation of the input itself, or two in a row
            layers.append(_Layer(pending, m))
            pending = None
        else:
            return None
    if pending is not None:
        layers.append(_Layer(pending, None))
    return layers


def _shared(layers: list[_Layer]) -> bool:
    """Whether a layer module is used twice (its bias reached twice, or its weight untied twice).

    A weight reached once as stored and again through ``TiedLinear`` is the usual tie and is
    summed correctly; anything else shared is left to autograd.
    """
    biases = [id(L.bias) for L in layers if L.bias is not None]
    untied = [id(L.weight) for L in layers if not L.tied]
    return len(set(biases)) < len(biases) or len(set(untied)) < len(untied)


def _parameterless(module: nn.Module | None) -> bool:
    return module is None or next(module.parameters(), None) is None


def plan(model: nn.Module) -> FusedStep | None:
    """A fused training step for ``model``, or ``None`` if its loss is not of the kind handled."""
    if why_not(model) is not None:
        return None
    return FusedStep(model, _layers(model.encoder) + _layers(model.decoder))


def why_not(model: nn.Module) -> str | None:
    """Why the fused step cannot train ``model`` (None: it can), in words for an error."""
    if type(model) is not Autoencoder:
        return f"it trains codings.Autoencoder only, not {type(model).__name__}"
    if model.bottleneck is not None:
        return "the model has a bottleneck (e.g. a VAE's sampling)"
    if not (_parameterless(model.corruption) and _parameterless(model.input_transform)):
        return "the input corruption or transform has parameters"
    if len(model.penalties) > 1 or any(type(p) is not L2Penalty for p in model.penalties):
        return "its only penalty can be L2; the model has " + ", ".join(
            type(p).__name__ for p in model.penalties
        )
    if _hooked(model):
        return "a forward or backward hook is registered (on the model or globally)"
    enc, dec = _layers(model.encoder), _layers(model.decoder)
    if not enc or not dec:
        return (
            "the encoder and decoder must be Linear or TiedLinear layers, each followed by at "
            "most one ELU, ReLU, SELU, Sigmoid, Tanh or Identity"
        )
    layers = enc + dec
    if _shared(layers):
        return "a layer is used more than once (its gradients would have to be summed)"
    params = {id(p) for p in model.parameters()}
    for L in layers:
        for p in (L.weight, L.bias):
            if p is None:
                continue
            if id(p) not in params:
                return "a layer is tied to a weight outside the model"
            if p.dtype != torch.float32:
                return f"it computes in float32 only; a parameter is {p.dtype}"
            if getattr(p, "_post_accumulate_grad_hooks", None) or p._backward_hooks:
                return "a parameter has a gradient hook"
    return None


class FusedStep:
    """``step(x) -> (total, parts)`` like ``model.loss(x)``, with the gradients in ``.grad``."""

    def __init__(self, model: Autoencoder, layers: list[_Layer]):
        self.model = model
        self.layers = layers
        trains = [
            L.weight.requires_grad or (L.bias is not None and L.bias.requires_grad) for L in layers
        ]
        # The backward pass stops at the lowest layer that trains.
        self.lowest = trains.index(True) if any(trains) else len(layers)
        self.grads: dict[int, torch.Tensor] = {}
        # Walked once here, not per step (fit plans again each epoch, after the callbacks).
        self.params = list(model.parameters())

    def _grad(self, p: torch.Tensor) -> torch.Tensor:
        buf = self.grads.get(id(p))
        if buf is None or buf.shape != p.shape or buf.device != p.device:
            buf = self.grads[id(p)] = torch.empty_like(p, memory_format=torch.contiguous_format)
        return buf

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        model = self.model
        if x.dim() != 2:
            raise ValueError(f"the fused step needs 2-D batches; got shape {tuple(x.shape)}")
        if model.input_transform is not None and model.training:
            x = model.input_transform(x)
        x_in = model.corruption(x) if (model.corruption is not None and model.training) else x
        layers = self.layers
        acts = [x_in]
        last = layers[-1]
        direct = model.output == "linear" and last.act == "linear" and last.bias is not None
        for L in layers[:-1] if direct else layers:
            acts.append(L.forward(acts[-1]))
        n = x.shape[0]
        if direct:
            # The residual in one product: (b - x) + a @ W_op, with no separate pass for the
            # bias or for the subtraction.
            diff = torch.sub(last.bias, x).addmm_(acts[-1], last.weight_op())
            acts.append(diff)  # not read again: a linear output needs no activation backward
        else:
            out = acts[-1]
        if model.output == "linear":
            if not direct:
                diff = out - x
            flat = diff.reshape(-1)
            rec = torch.dot(flat, flat) / n
            g, scale = diff, 2.0 / n
        else:
            rec = F.binary_cross_entropy_with_logits(out, x, reduction="sum") / n
            g, scale = torch.sigmoid(out).sub_(x), 1.0 / n
        written: set[int] = set()
        for i in range(len(layers) - 1, self.lowest - 1, -1):
            L = layers[i]
            g = L.act_backward(g, acts[i + 1])
            a_in = acts[i]
            w = L.weight
            if w.requires_grad:
                buf = self._grad(w)
                m1, m2 = (a_in.t(), g) if L.tied else (g.t(), a_in)
                if id(w) in written:
                    buf.addmm_(m1, m2, alpha=scale)
                else:
                    torch.addmm(buf, m1, m2, beta=0, alpha=scale, out=buf)
                    written.add(id(w))
            b = L.bias
            if b is not None and b.requires_grad:
                buf = self._grad(b)
                torch.sum(g, 0, out=buf)
                if scale != 1.0:
                    buf.mul_(scale)
                written.add(id(b))
            if i > self.lowest:
                w_in = w.t() if L.tied else w
                g = torch.mm(g, w_in)
                if scale != 1.0:
                    g.mul_(scale)
                scale = 1.0
        parts = {"reconstruction": rec}
        for penalty in model.penalties:  # plan() admits one L2Penalty at most
            value = 0.0
            for w in penalty.weights(model):
                flat = w.reshape(-1)
                value = value + torch.dot(flat, flat)
                if w.requires_grad and penalty.weight and id(w) in written:
                    self._grad(w).add_(w, alpha=2.0 * penalty.weight)
            parts[penalty.name] = penalty.weight * value
        for p in self.params:
            if p.requires_grad:
                p.grad = self.grads[id(p)] if id(p) in written else None
            elif p.grad is not None:
                p.grad = None  # frozen since its last step: as zero_grad(set_to_none=True)
        total = sum(parts.values())
        return total, parts
