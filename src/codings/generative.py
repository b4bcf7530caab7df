"""Generative autoencoders: the variational autoencoder, the adversarial autoencoder, and
sampling from a denoising autoencoder as a Markov chain.

Both generative models are :class:`~codings.models.Autoencoder` s with one extra part:

* ``vae`` (Kingma & Welling 2014): a :class:`GaussianBottleneck` turns the encoder's last
  hidden layer into ``q(z|x) = N(mu, diag(sigma^2))``, samples it with the reparameterisation
  trick and adds ``beta * KL(q(z|x) || N(0, I))`` to the loss. With ``iwae_k > 1`` the training
  loss is the negative importance-weighted bound of Burda et al. (2016) instead.
* ``aae`` (Makhzani et al. 2015): a deterministic encoder, and an :class:`AdversarialPrior`
  penalty whose discriminator tells codings from draws of a prior; the encoder learns to fool
  it. The discriminator is trained as a second objective (see ``train.fit``).

The measures (ELBO, importance-sampled negative log-likelihood) work on any model with a
Gaussian bottleneck and take the decoder's likelihood from ``model.output``: Bernoulli for
``"bernoulli"``, and for ``"linear"`` the Gaussian of variance 1/2 whose negative log-density is
the summed squared error plus ``d/2 log(pi)`` (so the squared-error loss is its ELBO up to that
constant).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .arrays import as_tensor
from .errors import suggest
from .inference import batches, evaluating
from .layers import activation as _act
from .layers import dense_stack, init_linear, parse_sizes
from .models import Autoencoder, _check_positive, register

LOG_2PI = math.log(2 * math.pi)
PRIORS = ("gaussian", "mixture")


# --- parts ------------------------------------------------------------------------------------


class Binarize(nn.Module):
    """Dynamic binarisation: each pixel becomes 1 with probability its grey level.

    A fresh draw from torch's global RNG at every call (``fit`` seeds it), so every epoch sees
    new binary images. Set as ``model.input_transform``: it is then applied in training only,
    to the input and the target alike. Evaluate on a fixed draw (:func:`binarize`).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.bernoulli(x.clamp(0.0, 1.0))


def binarize(X, seed: int = 0) -> np.ndarray:
    """A fixed binarisation of ``X`` (values in [0, 1]) drawn once with ``seed``: the test set
    for likelihoods on binarised MNIST."""
    X = np.asarray(X, dtype=np.float32)
    if X.size and (X.min() < 0 or X.max() > 1):
        raise ValueError(
            f"binarize needs values in [0, 1] (grey levels as probabilities); got the range "
            f"[{X.min():g}, {X.max():g}]; use --scale none and image data"
        )
    u = np.random.default_rng(seed).random(X.shape, dtype=np.float32)
    return (u < X).astype(np.float32)


def gaussian_log_prob(z: torch.Tensor, mu=None, logvar=None) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last axis; N(0, I) by default."""
    if mu is None:
        return -0.5 * (z.square() + LOG_2PI).sum(-1)
    return -0.5 * ((z - mu).square() * torch.exp(-logvar) + logvar + LOG_2PI).sum(-1)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per example, (B, L) -> (B,).

    Kingma & Welling (2014), appendix B."""
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(-1)


class GaussianBottleneck(nn.Module):
    """``h -> q(z|x) = N(mu, diag(sigma^2))`` by one linear layer to ``2 * latent_dim`` outputs.

    ``bottleneck(h) -> (z, {"kl": beta * KL})`` draws ``z = mu + sigma * eps`` (the
    reparameterisation trick); ``encode(h)`` gives the mean.
    """

    def __init__(self, n_in: int, latent_dim: int, beta: float = 1.0):
        super().__init__()
        self.linear = nn.Linear(n_in, 2 * latent_dim)
        init_linear(self.linear, "xavier")
        self.latent_dim = latent_dim
        self.beta = float(beta)

    def params(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.linear(h).chunk(2, dim=-1)  # (B, H) -> 2 x (B, L)
        return mu, logvar

    def encode(self, h: torch.Tensor) -> torch.Tensor:
        return self.params(h)[0]

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        mu, logvar = self.params(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return z, {"kl": self.beta * gaussian_kl(mu, logvar).mean()}


class GaussianPrior(nn.Module):
    """N(0, I) in ``latent_dim`` dimensions."""

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, generator=generator)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return gaussian_log_prob(z)


class MixturePrior(nn.Module):
    """An equal mixture of ``n_components`` isotropic Gaussians (std ``scale``) whose means sit
    on a circle of ``radius`` in the first two coordinates (Makhzani et al.'s 10-component prior,
    with round rather than elongated components)."""

    def __init__(self, latent_dim: int, n_components: int = 10, radius: float = 3.0, scale=0.5):
        super().__init__()
        if latent_dim < 2:
            raise ValueError(f"prior='mixture' needs latent_dim >= 2; got {latent_dim}")
        angle = torch.arange(n_components) * (2 * math.pi / n_components)
        means = torch.zeros(n_components, latent_dim)
        means[:, 0], means[:, 1] = radius * torch.cos(angle), radius * torch.sin(angle)
        self.register_buffer("means", means, persistent=False)
        self.latent_dim = latent_dim
        self.scale = float(scale)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        c = torch.randint(len(self.means), (n,), generator=generator, device=self.means.device)
        eps = torch.randn(n, self.latent_dim, generator=generator, device=self.means.device)
        return self.means[c] + self.scale * eps

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        logvar = torch.full_like(self.means, 2 * math.log(self.scale))
        per = gaussian_log_prob(z.unsqueeze(-2), self.means, logvar)  # (..., C)
        return torch.logsumexp(per, -1) - math.log(len(self.means))


def make_prior(prior: str, latent_dim: int, n_components: int = 10) -> nn.Module:
    if prior == "gaussian":
        return GaussianPrior(latent_dim)
    if prior == "mixture":
        return MixturePrior(latent_dim, n_components)
    raise ValueError(
        f"prior={prior!r} is not known; choose 'gaussian' (N(0, I)) or 'mixture' (a ring of "
        "Gaussians)" + suggest(prior, PRIORS)
    )


def _draw(prior: nn.Module, n: int, like: torch.Tensor) -> torch.Tensor:
    """``n`` prior draws from torch's global RNG (seeded by ``fit``), on ``like``'s device."""
    return prior.sample(n).to(device=like.device, dtype=like.dtype)


class AdversarialPrior(nn.Module):
    """The adversarial regulariser: ``weight * BCE(D(z), 1)`` (the non-saturating generator
    loss) on the codings ``z``; ``discriminator_loss`` trains ``D`` to tell prior draws (1) from
    codings (0). ``D`` is an MLP on the codings that returns a logit."""

    name = "adversarial"

    def __init__(self, prior: nn.Module, hidden: Sequence[int], activation: str, weight: float):
        super().__init__()
        self.prior = prior
        self.discriminator = nn.Sequential(
            dense_stack((prior.latent_dim, *hidden, 1), activation, last_activation="linear"),
            nn.Flatten(0),  # (B, 1) -> (B,)
        )
        self.weight = float(weight)

    def forward(self, model: nn.Module, x: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        logits = self.discriminator(codes)
        return self.weight * F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))

    def discriminator_loss(self, codes: torch.Tensor) -> torch.Tensor:
        z = _draw(self.prior, codes.shape[0], codes)
        real, fake = self.discriminator(z), self.discriminator(codes.detach())
        return F.binary_cross_entropy_with_logits(
            real, torch.ones_like(real)
        ) + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))


# --- the models -------------------------------------------------------------------------------


class VariationalAutoencoder(Autoencoder):
    """An :class:`~codings.models.Autoencoder` with a :class:`GaussianBottleneck`.

    Why a subclass: the importance-weighted bound does not split into a reconstruction and a KL
    term, so with ``iwae_k > 1`` the model needs its own loss over ``k`` samples per example.
    With ``iwae_k = 1`` the loss is the Autoencoder's (reconstruction + ``beta`` KL, the KL in
    closed form). Everything else (encode, decode, input transform, checkpoints) is inherited.
    """

    def __init__(self, encoder, decoder, *, bottleneck: GaussianBottleneck, iwae_k=1, **kw):
        super().__init__(encoder, decoder, bottleneck=bottleneck, **kw)
        self.prior = GaussianPrior(bottleneck.latent_dim)
        self.iwae_k = int(iwae_k)

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if self.iwae_k == 1:
            return super().loss(x)
        if self.input_transform is not None and self.training:
            x = self.input_transform(x)
        x_in = self.corruption(x) if (self.corruption is not None and self.training) else x
        w = log_weights(self, x, self.iwae_k, x_in=x_in)  # (k, B)
        bound = torch.logsumexp(w, 0) - math.log(self.iwae_k)  # (B,)
        nll = -bound.mean()
        return nll, {"iwae": nll}


class AdversarialAutoencoder(Autoencoder):
    """An :class:`~codings.models.Autoencoder` whose codings a discriminator pushes towards a
    prior (Makhzani et al. 2015).

    The generator's term is an ordinary penalty (:class:`AdversarialPrior`), so ``loss(x)`` is
    the Autoencoder's: reconstruction + adversarial. The subclass only adds the second
    objective for ``train.fit``: ``objectives()`` splits the parameters into the autoencoder's
    and the discriminator's, and ``loss(x, objective="discriminator")`` is the discriminator's
    cross-entropy on prior draws against (detached) codings.
    """

    def __init__(self, encoder, decoder, *, adversary: AdversarialPrior, **kw):
        super().__init__(encoder, decoder, penalties=[adversary], **kw)
        self.prior = adversary.prior  # the same module: shared, stored once

    @property
    def adversary(self) -> AdversarialPrior:
        return self.penalties[0]

    def objectives(self) -> dict[str, list[nn.Parameter]]:
        disc = list(self.adversary.discriminator.parameters())
        ids = {id(p) for p in disc}
        return {"loss": [p for p in self.parameters() if id(p) not in ids], "discriminator": disc}

    def loss(self, x: torch.Tensor, objective: str = "loss"):
        if objective == "loss":
            return super().loss(x)
        if objective != "discriminator":
            raise ValueError(f"objective={objective!r}: choose 'loss' or 'discriminator'")
        if self.input_transform is not None and self.training:
            x = self.input_transform(x)
        x_in = self.corruption(x) if (self.corruption is not None and self.training) else x
        with torch.no_grad():  # the encoder is not trained by this objective
            codes = self.encode(x_in)
        d = self.adversary.discriminator_loss(codes)
        return d, {"bce": d}


def _check_output(output: str) -> str:
    if output not in ("bernoulli", "linear"):
        raise ValueError(
            f"output={output!r} is not known; choose 'bernoulli' (data in [0, 1], e.g. images) "
            "or 'linear' (a Gaussian decoder)" + suggest(output, ("bernoulli", "linear"))
        )
    return output


BODIES = ("mlp", "conv")


def _bodies(
    n_features, body, hidden, channels, image_shape, latent_in, latent_out, activation, init
) -> tuple[nn.Module, nn.Module, int]:
    """Encoder and decoder bodies: ``(encoder, decoder, width of the encoder's output)``.

    'mlp': dense layers ``hidden``, mirrored. 'conv': the stride-2 convolutions of
    :mod:`codings.conv` with ``channels``, flattened, mirrored by a dense layer and transposed
    convolutions. ``latent_in`` adds a linear coding layer to the encoder (deterministic
    codings); ``latent_out`` is the decoder's input width.
    """
    if body == "mlp":
        sizes = parse_sizes(hidden)
        encoder = dense_stack((n_features, *sizes), activation, init=init)
        decoder = dense_stack(
            (latent_out, *reversed(sizes), n_features), activation, init=init,
            last_activation="linear",
        )  # fmt: skip
        width = sizes[-1]
    elif body == "conv":
        from .conv import chw, conv_decoder, conv_encoder, resolve_image_shape

        shape = chw(resolve_image_shape(image_shape, n_features), n_features)
        encoder, shapes = conv_encoder(shape, channels, act=activation, init=init)
        encoder.append(nn.Flatten())  # (B, C, H, W) -> (B, C*H*W)
        width = math.prod(shapes[-1])
        up = nn.Linear(latent_out, width)
        init_linear(up, init)
        decoder = nn.Sequential(
            nn.Sequential(up, _act(activation)),
            nn.Unflatten(1, shapes[-1]),
            conv_decoder(shapes, act=activation, init=init),
        )
    else:
        raise ValueError(
            f"body={body!r} is not known; choose 'mlp' (dense layers, hidden=...) or 'conv' "
            "(convolutions, channels=...)" + suggest(body, BODIES)
        )
    if latent_in is not None:  # a deterministic, linear coding layer
        coding = nn.Linear(width, latent_in)
        init_linear(coding, "xavier")
        encoder.append(coding)
        width = latent_in
    return encoder, decoder, width


@register("vae")
def vae(
    n_features: int,
    hidden: Sequence[int] = (500, 500),
    latent_dim: int = 20,
    activation: str = "elu",
    init: str = "he",
    output: str = "bernoulli",
    beta: float = 1.0,
    iwae_k: int = 1,
    body: str = "mlp",
    channels: Sequence[int] = (32, 64),
    image_shape: Sequence[int] | None = None,
) -> VariationalAutoencoder:
    """Variational autoencoder: Gaussian codings, KL to N(0, I); iwae_k > 1 trains the IWAE bound.

    The encoder is ``n_features -> hidden`` (``activation``), then a linear layer to the mean
    and log-variance of ``latent_dim`` codings; the decoder mirrors it to Bernoulli logits
    (``output="bernoulli"``) or a Gaussian mean (``"linear"``). ``beta`` weighs the KL term
    (beta-VAE, Higgins et al. 2017). ``body="conv"`` replaces the dense layers by stride-2
    convolutions with ``channels`` on images of ``image_shape`` (square grey images when None).
    """
    _check_positive("n_features", n_features)
    _check_positive("latent_dim", latent_dim)
    _check_positive("iwae_k", iwae_k)
    _check_output(output)
    if not (isinstance(beta, (int, float)) and beta >= 0):
        raise ValueError(f"beta={beta!r} must be a number >= 0 (1 is the ELBO)")
    if iwae_k > 1 and beta != 1:
        raise ValueError(
            f"beta={beta!r} with iwae_k={iwae_k}: the IWAE bound has no separate KL term to "
            "weigh; use beta=1 with iwae_k > 1, or iwae_k=1 for a beta-VAE"
        )
    encoder, decoder, width = _bodies(
        n_features, body, hidden, channels, image_shape, None, latent_dim, activation, init
    )
    bottleneck = GaussianBottleneck(width, latent_dim, beta)
    return VariationalAutoencoder(
        encoder, decoder, bottleneck=bottleneck, iwae_k=iwae_k, output=output
    )


@register("aae")
def aae(
    n_features: int,
    hidden: Sequence[int] = (500, 500),
    latent_dim: int = 2,
    activation: str = "elu",
    init: str = "he",
    output: str = "bernoulli",
    prior: str = "gaussian",
    n_components: int = 10,
    discriminator: Sequence[int] = (256, 256),
    adversarial_weight: float = 1.0,
    body: str = "mlp",
    channels: Sequence[int] = (32, 64),
    image_shape: Sequence[int] | None = None,
) -> AdversarialAutoencoder:
    """Adversarial autoencoder: a discriminator drives the codings towards a prior.

    ``prior`` is 'gaussian' (N(0, I)) or 'mixture' (``n_components`` Gaussians on a ring).
    ``discriminator`` gives its hidden sizes (ReLU); ``adversarial_weight`` weighs the
    encoder's fooling term against the reconstruction (summed over features). ``body``,
    ``channels`` and ``image_shape`` are as for ``vae``.
    """
    _check_positive("n_features", n_features)
    _check_positive("latent_dim", latent_dim)
    _check_positive("n_components", n_components)
    _check_output(output)
    if not (isinstance(adversarial_weight, (int, float)) and adversarial_weight > 0):
        raise ValueError(f"adversarial_weight={adversarial_weight!r} must be a number > 0")
    encoder, decoder, _ = _bodies(
        n_features, body, hidden, channels, image_shape, latent_dim, latent_dim, activation, init
    )
    adversary = AdversarialPrior(
        make_prior(prior, latent_dim, n_components),
        parse_sizes(discriminator, "discriminator"),
        "relu",
        adversarial_weight,
    )
    return AdversarialAutoencoder(encoder, decoder, adversary=adversary, output=output)


# --- likelihoods ------------------------------------------------------------------------------


def _check_variational(model: nn.Module) -> GaussianBottleneck:
    b = getattr(model, "bottleneck", None)
    if not isinstance(b, GaussianBottleneck):
        name = getattr(model, "config", {}).get("name", type(model).__name__)
        raise ValueError(
            f"model {name!r} has no Gaussian bottleneck, so it defines no likelihood bound; "
            "the ELBO and the importance-sampled NLL need a variational model such as 'vae'"
        )
    return b


def log_likelihood(model: nn.Module, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x|z) per example from the decoder's output, summed over features: (..., D) -> (...)."""
    if model.output == "bernoulli":
        return -F.binary_cross_entropy_with_logits(out, x.expand_as(out), reduction="none").sum(-1)
    # The Gaussian of variance 1/2: -log p = squared error + d/2 log(pi).
    return -((out - x).square().sum(-1) + 0.5 * x.shape[-1] * math.log(math.pi))


def log_weights(
    model: nn.Module,
    x: torch.Tensor,
    k: int,
    *,
    x_in: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Importance log-weights ``log p(x|z) + log p(z) - log q(z|x)`` for ``k`` draws of
    ``q(z|x)`` per example: (B, D) -> (k, B). ``x_in`` is what the encoder sees (default ``x``)."""
    b = _check_variational(model)
    mu, logvar = b.params(model.encoder(x if x_in is None else x_in))  # (B, L) each
    eps = torch.randn((k, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)
    z = mu + torch.exp(0.5 * logvar) * eps  # (k, B, L)
    out = model.decoder(z.reshape(-1, mu.shape[-1])).reshape(k, x.shape[0], -1)  # (k, B, D)
    x = x.reshape(x.shape[0], -1)
    return log_likelihood(model, out, x) + gaussian_log_prob(z) - gaussian_log_prob(z, mu, logvar)


@torch.no_grad()
def likelihood_bounds(
    model: nn.Module,
    X,
    *,
    k: int = 1000,
    batch_size: int | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress=False,
) -> dict[str, np.ndarray]:
    """Per-example ELBO and importance-sampled log-likelihood estimate, in nats.

    ``log p(x) ~ log (1/k) sum_i p(x, z_i) / q(z_i|x)`` with ``z_i ~ q(z|x)`` (Burda et al.
    2016, eq. 8): a lower bound in expectation that tightens as ``k`` grows; with ``k = 1`` it
    is the ELBO's one-sample estimate. The ELBO returned is
    ``mean_i log p(x|z_i) - KL(q(z|x) || p(z))`` over the same draws (the KL in closed form).
    Examples are batched so that about 20,000 decoder rows run at once; ``seed`` fixes the
    draws without touching the global RNG. ``progress`` (as in :func:`codings.fit`) shows a
    bar over the examples.

    Returns ``{"log_likelihood": (n,), "elbo": (n,)}``.
    """
    b = _check_variational(model)
    _check_positive("k", k)
    dev = next(model.parameters()).device if device is None else torch.device(device)
    gen = torch.Generator(device=dev).manual_seed(seed)
    chunk = min(k, 20_000)  # draws per example per pass
    batch_size = batch_size or max(1, 20_000 // chunk)
    ll, elbo = [], []
    rows = batches(
        X,
        model,
        batch_size=batch_size,
        device=dev,
        progress=progress,
        title=f"NLL, {k} samples",
        unit="examples",
    )  # each batch read and moved on its own
    with evaluating(model, rows=batch_size * chunk):  # the decoder runs B x chunk rows
        for _, _, xb in rows:
            xb = xb.reshape(xb.shape[0], -1)
            mu, logvar = b.params(model.encoder(xb))
            std = torch.exp(0.5 * logvar)
            ws, recs = [], []
            for done in range(0, k, chunk):
                m = min(chunk, k - done)
                z = mu + std * torch.randn((m, *mu.shape), generator=gen, device=dev)  # (m, B, L)
                out = model.decoder(z.reshape(-1, mu.shape[-1])).reshape(m, xb.shape[0], -1)
                rec = log_likelihood(model, out, xb)  # (m, B)
                ws.append(rec + gaussian_log_prob(z) - gaussian_log_prob(z, mu, logvar))
                recs.append(rec.sum(0))
            w = torch.cat(ws)  # (k, B)
            ll.append(torch.logsumexp(w, 0) - math.log(k))
            elbo.append(torch.stack(recs).sum(0) / k - gaussian_kl(mu, logvar))
    return {
        "log_likelihood": torch.cat(ll).cpu().numpy().astype(np.float64),
        "elbo": torch.cat(elbo).cpu().numpy().astype(np.float64),
    }


def nll_report(
    model: nn.Module, X, *, k: int = 1000, seed: int = 0, progress=False
) -> dict[str, float]:
    """Mean ELBO and importance-sampled NLL over ``X`` (nats), as ``eval`` reports them."""
    r = likelihood_bounds(model, X, k=k, seed=seed, progress=progress)
    ll = r["log_likelihood"]
    return {
        "elbo": float(r["elbo"].mean()),
        "nll": float(-ll.mean()),
        "nll_sem": float(ll.std(ddof=1) / math.sqrt(len(ll))) if len(ll) > 1 else 0.0,
        "nll_samples": k,
    }


# --- sampling and the latent space ------------------------------------------------------------


def _prior(model: nn.Module) -> nn.Module:
    prior = getattr(model, "prior", None)
    if prior is None:
        name = getattr(model, "config", {}).get("name", type(model).__name__)
        raise ValueError(
            f"model {name!r} has no prior over its codings to sample from; sample a generative "
            "model ('vae', 'aae'), or run a Markov chain on a denoising one (sample_chain)"
        )
    return prior


@torch.no_grad()
def sample(model: nn.Module, n: int = 64, *, seed: int = 0, mean: bool = True) -> np.ndarray:
    """``n`` new examples: codings drawn from the model's prior, decoded.

    ``mean=True`` returns the decoder's mean (grey levels for a Bernoulli decoder); ``False``
    draws binary pixels from it. The caller's global RNG is left alone.
    """
    _check_positive("n", n)
    prior = _prior(model)
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    z = prior.sample(n, generator=gen).to(next(model.parameters()).device)
    x = model.decode(z)
    if not mean and model.output == "bernoulli":
        x = torch.bernoulli(x, generator=gen)
    return x.cpu().numpy()


@torch.no_grad()
def interpolate(model: nn.Module, a, b, steps: int = 10) -> np.ndarray:
    """Decode ``steps`` codings on the segment from ``encode(a)`` to ``encode(b)``: (steps, D)."""
    _check_positive("steps", steps)
    if steps < 2:
        raise ValueError(f"steps={steps} must be >= 2 (the two ends)")
    model.eval()
    dev = next(model.parameters()).device
    ends = as_tensor(np.stack([np.asarray(a).ravel(), np.asarray(b).ravel()]), dev)
    za, zb = model.encode(ends)
    t = torch.linspace(0, 1, steps, device=dev)[:, None]
    return model.decode((1 - t) * za + t * zb).cpu().numpy()


@torch.no_grad()
def latent_plane(
    model: nn.Module, n: int = 15, *, span: float = 0.95, codings=None
) -> tuple[np.ndarray, float]:
    """Decode an ``n x n`` grid over a 2-D latent plane: ((n*n, D) images, half-width).

    With ``codings`` ((N, 2), e.g. a test set's), the square covers their 1st to 99th
    percentiles on both axes, since an AAE's codings may spread wider than its prior. Without,
    for a Gaussian prior the grid is at the quantiles ``(1 - span)/2 .. (1 + span)/2`` of N(0,1)
    (as in Kingma & Welling's figure 4); for a mixture it covers its ring. Rows go from high to
    low second coding, so the picture has the usual axes.
    """
    prior = _prior(model)
    if prior.latent_dim != 2:
        raise ValueError(
            f"the decoded latent plane needs 2 codings; the model has "
            f"{prior.latent_dim}; draw the latent scatter instead"
        )
    if codings is not None:
        half = float(np.abs(np.percentile(np.asarray(codings)[:, :2], [1, 99], axis=0)).max())
    elif isinstance(prior, MixturePrior):
        half = float(prior.means.abs().max()) + 2 * prior.scale
    else:
        half = float(torch.distributions.Normal(0, 1).icdf(torch.tensor(0.5 + span / 2)))
    g = torch.linspace(-half, half, n)
    zy, zx = torch.meshgrid(g.flip(0), g, indexing="ij")
    z = torch.stack([zx.reshape(-1), zy.reshape(-1)], 1).to(next(model.parameters()).device)
    model.eval()
    return model.decode(z).cpu().numpy(), half


def mmd(a, b, *, bandwidths: Sequence[float] = (0.2, 0.5, 1.0, 2.0, 5.0)) -> float:
    """Squared maximum mean discrepancy between two samples (rows), with a sum of Gaussian
    kernels of the given bandwidths (the unbiased U-statistic of Gretton et al. 2012)."""
    a = torch.as_tensor(np.asarray(a), dtype=torch.float64)
    b = torch.as_tensor(np.asarray(b), dtype=torch.float64)

    def k(u, v):
        d2 = torch.cdist(u, v).square()
        return sum(torch.exp(-d2 / (2 * s * s)) for s in bandwidths)

    m, n = len(a), len(b)
    kaa, kbb = k(a, a), k(b, b)
    saa = (kaa.sum() - kaa.diagonal().sum()) / (m * (m - 1))
    sbb = (kbb.sum() - kbb.diagonal().sum()) / (n * (n - 1))
    return float(saa + sbb - 2 * k(a, b).mean())


# --- a denoising autoencoder as a generative Markov chain ------------------------------------


@torch.no_grad()
def sample_chain(
    model: nn.Module,
    x0,
    steps: int = 100,
    *,
    noise: nn.Module | None = None,
    draw: bool = True,
    seed: int = 0,
) -> np.ndarray:
    """Run the generative stochastic network chain of a denoising autoencoder.

    Each step corrupts the current state with ``noise`` (default: the model's own
    ``corruption``), reconstructs it, and, with ``draw=True`` and a Bernoulli decoder, draws the
    next state from the reconstruction distribution ``P(X | X~)`` (Bengio et al. 2013,
    "Generalized denoising auto-encoders as generative models"); otherwise the next state is
    the reconstruction's mean. Returns every state, ``(steps + 1, n, D)``, the first being
    ``x0``. The caller's global RNG is left alone.
    """
    noise = noise if noise is not None else getattr(model, "corruption", None)
    if noise is None:
        raise ValueError(
            "sample_chain needs a corruption: the model has none, so pass noise=... (e.g. "
            "codings.noise.GaussianNoise(0.3)) or use a denoising model"
        )
    _check_positive("steps", steps)
    model.eval()
    dev = next(model.parameters()).device
    x = as_tensor(x0, dev, name="x0")
    states = [x]
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        for _ in range(steps):
            out = model.decode(model.encode(noise(x)))
            if draw and model.output == "bernoulli":
                out = torch.bernoulli(out)
            x = out
            states.append(x)
    return torch.stack(states).cpu().numpy()
