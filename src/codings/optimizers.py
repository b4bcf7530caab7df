"""NAdam in one fused pass: torch's NAdam update, computed by torch's fused Adam kernel.

torch has a fused kernel for Adam but none for NAdam, whose single-tensor step makes about
eight passes over every parameter (2.4-4 ms a step on one CPU thread for a 784-300-150
autoencoder's 560k weights, about as long as its forward and backward pass). NAdam's update
(Dozat 2016, in torch's form) is

    m' = b1 m + (1 - b1) g                 (the first moment, kept in the state)
    p' = p - (a g + b m') / denom,  a = lr (1 - mu_t) / (1 - prod mu),
                                    b = lr mu_{t+1} / (1 - prod mu * mu_{t+1})

and the numerator is a moving average too, of the *old* first moment m:

    a g + b m' = (a + b) x,   x = beta m + (1 - beta) g,   beta = b1 b / (a + b).

So Adam's fused kernel, given beta as its beta1 and (a + b) (1 - beta^t) as its rate (undoing
its bias correction), updates the parameters and the second moment as NAdam does, and leaves x
where the first moment was; one more pass turns x into NAdam's m' = x + (a / b) (x - g). Two
passes instead of eight, no memory beyond NAdam's, and the same result up to float rounding
(the last pass scales x's rounding by 1 + a / b, under 3 at the default beta1 = 0.9; below
beta1 = 0.5 torch's step is kept). The state and its ``state_dict`` are torch's NAdam's
(``step``, ``mu_product``, ``exp_avg``, ``exp_avg_sq``), so checkpoints move freely between
the two classes.
"""

from __future__ import annotations

import torch


def _scalar_dtype():
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


class FusedNAdam(torch.optim.NAdam):
    """:class:`torch.optim.NAdam` whose step runs Adam's fused kernel (see the module's note).

    The same arguments, state and ``state_dict`` as torch's NAdam; a group the fused kernel
    cannot take (``maximize``, ``capturable``, ``differentiable``, a tensor learning rate,
    complex, sparse, half-precision or integer parameters, devices other than CPU and CUDA)
    takes torch's own step instead.
    """

    def _fusable(self, group, params) -> bool:
        if group["maximize"] or group["capturable"] or group["differentiable"]:
            return False
        if isinstance(group["lr"], torch.Tensor):
            return False
        beta1 = group["betas"][0]
        # The last pass scales x's rounding by 1 + a / b, which grows as beta1 shrinks (about
        # 2.8 at torch's 0.9, 4.8 at 0.5, 21 at 0.1); below 0.5 torch's step is kept.
        if isinstance(beta1, torch.Tensor) or 0 < beta1 < 0.5:
            return False
        return all(
            p.device.type in ("cpu", "cuda")
            # Half precision: the last pass's cancellation would cost bits it has few of.
            and p.dtype in (torch.float32, torch.float64)
            and not p.grad.is_sparse
            for p in params
        )

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            if not self._fusable(group, params):
                self._torch_step(group)
                continue
            self._fused_group(group, params)
        return loss

    def _torch_step(self, group) -> None:
        """torch's own step for this one group."""
        groups = self.param_groups
        try:
            self.param_groups = [group]
            torch.optim.NAdam.step(self)
        finally:
            self.param_groups = groups

    def _fused_group(self, group, params) -> None:
        beta1, beta2 = group["betas"]
        lr, wd, eps = float(group["lr"]), group["weight_decay"], group["eps"]
        decay = group["momentum_decay"]
        for p in params:
            state = self.state[p]
            if len(state) == 0:  # torch's NAdam's lazy initialisation, the same tensors
                state["step"] = torch.tensor(0.0, dtype=_scalar_dtype())
                state["mu_product"] = torch.tensor(1.0, dtype=_scalar_dtype())
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        # Parameters with the same step count and momentum product share one kernel call
        # (all of them, unless some were frozen for a while), and their step and momentum
        # product tensors one foreach update each: a step's bookkeeping is a few operations,
        # not four per parameter.
        buckets: dict[tuple, list[torch.Tensor]] = {}
        for p in params:
            state = self.state[p]
            step, prod = state["step"], state["mu_product"]
            key = (p.device, p.dtype, prod.dtype, float(step), float(prod))
            buckets.setdefault(key, []).append(p)
        for (device, _, _, _, _), ps in buckets.items():
            steps = [self.state[p]["step"] for p in ps]
            torch._foreach_add_(steps, 1.0)
            t = float(steps[0])
            mu = beta1 * (1.0 - 0.5 * (0.96 ** (t * decay)))
            mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * decay)))
            prods = [self.state[p]["mu_product"] for p in ps]
            torch._foreach_mul_(prods, mu)  # in its own dtype, as torch's step does
            prod = float(prods[0])
            a = lr * (1.0 - mu) / (1.0 - prod)  # the weight of the gradient
            b = lr * mu_next / (1.0 - prod * mu_next)  # the weight of the new first moment
            # lr = 0: a = b = 0, and beta1 leaves the kernel's first moment at NAdam's m'
            beta = b * beta1 / (a + b) if b > 0 else beta1
            grads = [p.grad for p in ps]
            if wd != 0:
                if group["decoupled_weight_decay"]:
                    torch._foreach_mul_(ps, 1.0 - lr * wd)
                else:
                    grads = torch._foreach_add(grads, ps, alpha=wd)
            exp_avgs = [self.state[p]["exp_avg"] for p in ps]
            kernel_step = torch.full((), t, dtype=torch.float32, device=device)
            torch._fused_adam_(
                ps,
                grads,
                exp_avgs,  # m becomes x = beta m + (1 - beta) g = (a g + b m') / (a + b)
                [self.state[p]["exp_avg_sq"] for p in ps],
                [],
                [kernel_step] * len(ps),
                lr=(a + b) * (1.0 - beta**t),  # the kernel divides by 1 - beta^t
                beta1=beta,
                beta2=beta2,
                weight_decay=0.0,  # already in grads
                eps=eps,
                amsgrad=False,
                maximize=False,
                grad_scale=None,
                found_inf=None,
            )
            # x back to NAdam's first moment: m' = b1 m + (1 - b1) g = x + (a / b) (x - g)
            if b > 0:
                torch._foreach_lerp_(exp_avgs, grads, -a / b)
