"""The floor of a training run: only its matrix products and its optimiser update.

A multilayer perceptron's training step cannot take less time than the matrix products it
must compute: per layer (B, i) x (i, o) forward, (B, o) x (o, i) for the gradient of the
layer's input (not for the first layer, whose input needs none) and (o, B) x (B, i) for the
weight gradient, and the bias gradient, a sum over the batch. Then the optimiser reads and
writes every parameter once: the floor takes torch's fused Adam kernel, the cheapest update
there is (one pass). No activation, loss, data slicing or bookkeeping: whatever a library
adds on top of this is what it can save; a library twice as fast as another needs the other
to spend at least half its time above this floor.

``layers`` are (in, out, rows): ``rows`` is the batch the layer sees (an IWAE's decoder sees
k times the batch). Every product writes into a buffer made once, as a perfect library would.
"""

from __future__ import annotations

import time

import torch


def mlp_layers(sizes, batch: int) -> list[tuple[int, int, int]]:
    """(in, out, rows) of the dense layers of ``sizes``, e.g. 784-300-150-300-784."""
    return [(i, o, batch) for i, o in zip(sizes[:-1], sizes[1:], strict=False)]


def vae_layers(n_in, hidden, latent, batch, k=1) -> list[tuple[int, int, int]]:
    """A VAE's layers: the encoder to the Gaussian head (mean and log-variance: 2 * latent
    outputs) on the batch, the decoder from the latent on k draws per example."""
    enc = mlp_layers([n_in, *hidden, 2 * latent], batch)
    dec = mlp_layers([latent, *reversed(hidden), n_in], batch * k)
    return enc + dec


def floor_step(layers, *, seed: int = 0):
    """(matmuls, update): two closures, one training step's matrix products and its update."""
    g = torch.Generator().manual_seed(seed)
    ws = [torch.nn.Parameter(torch.randn(o, i, generator=g) * 0.01) for i, o, _ in layers]
    bs = [torch.nn.Parameter(torch.zeros(o)) for _, o, _ in layers]
    xs = [torch.randn(r, i, generator=g) for i, _, r in layers]  # each layer's input
    gs = [torch.randn(r, o, generator=g) for _, o, r in layers]  # the gradient at its output
    ys = [torch.empty(r, o) for _, o, r in layers]
    dxs = [torch.empty(r, i) for i, _, r in layers]
    for w, b in zip(ws, bs, strict=True):
        w.grad, b.grad = torch.empty_like(w), torch.empty_like(b)

    @torch.no_grad()
    def matmuls():
        for x, w, b, y in zip(xs, ws, bs, ys, strict=True):
            torch.addmm(b, x, w.t(), out=y)  # (B, i) x (i, o) -> (B, o)
        for n in reversed(range(len(layers))):
            if n:  # the first layer's input is data: no gradient for it
                torch.mm(gs[n], ws[n], out=dxs[n])  # (B, o) x (o, i) -> (B, i)
            torch.mm(gs[n].t(), xs[n], out=ws[n].grad)  # (o, B) x (B, i) -> (o, i)
            torch.sum(gs[n], 0, out=bs[n].grad)

    opt = torch.optim.Adam([*ws, *bs], lr=1e-3, fused=True)

    def update():
        opt.step()

    matmuls.weights, matmuls.inputs, matmuls.out_grads = ws, xs, gs  # for a test to read
    return matmuls, update


def time_floor(layers, steps: int, *, seed: int = 0) -> dict[str, float]:
    """Seconds of ``steps`` training steps' matrix products, and of their updates."""
    matmuls, update = floor_step(layers, seed=seed)
    matmuls()
    update()  # warm: the first calls allocate and import
    out = {}
    for name, f in (("matmul_s", matmuls), ("update_s", update)):
        t0 = time.perf_counter()
        for _ in range(steps):
            f()
        out[name] = time.perf_counter() - t0
    out["floor_s"] = out["matmul_s"] + out["update_s"]
    return out


def flops(layers) -> int:
    """Multiply-adds x 2 of one step's matrix products (for a sanity check against the time)."""
    total = 0
    for n, (i, o, r) in enumerate(layers):
        total += 2 * r * i * o * (3 if n else 2)
    return total
