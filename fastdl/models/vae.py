"""A variational autoencoder (Kingma & Welling, 2014) built from MLPs.

Shapes: ``N`` samples, ``D`` = ``input_dim`` features, ``L`` = ``latent_dim``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fastdl import nn
from fastdl.autograd import no_grad
from fastdl.models._checks import positive_int
from fastdl.nn import functional as F
from fastdl.random import Generator
from fastdl.tensor import Tensor, randn

LIKELIHOODS = ("bernoulli", "gaussian")


def _check_likelihood(likelihood: Any, where: str) -> str:
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"{where}: likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
    return likelihood


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """``KL(N(mu, exp(logvar)) || N(0, I))`` per sample, in closed form: shape ``(N,)``.

    ``-0.5 * sum_j (1 + logvar_j - mu_j**2 - exp(logvar_j))``.

    Example::

        kl = kl_divergence(fastdl.zeros(4, 2), fastdl.zeros(4, 2))   # zeros: q equals the prior
    """
    return ((mu * mu + logvar.exp() - logvar - 1.0) * 0.5).sum(dim=1)


def reconstruction_loss(recon: Tensor, x: Tensor, likelihood: str = "bernoulli") -> Tensor:
    """``-log p(x | z)`` per sample, summed over features: shape ``(N,)``.

    ``"bernoulli"``: ``recon`` holds logits and ``x`` values in [0, 1]; the loss is
    binary cross-entropy with logits. ``"gaussian"``: ``recon`` holds means and the
    loss is the sum of squared errors, the negative log-likelihood of a Gaussian
    with variance 1/2 less its constant ``(D / 2) log(pi)``.

    Example::

        nll = reconstruction_loss(logits, x)          # (N,)
    """
    _check_likelihood(likelihood, "reconstruction_loss")
    if not isinstance(recon, Tensor) or not isinstance(x, Tensor):
        raise TypeError(
            "reconstruction_loss: recon and x must be Tensors, got "
            f"{type(recon).__name__} and {type(x).__name__}"
        )
    if recon.ndim != 2 or recon.shape != x.shape:
        raise ValueError(
            f"reconstruction_loss: recon and x must both be (N, D), got {recon.shape} and {x.shape}"
        )
    if likelihood == "bernoulli":
        # Checked on the host only: on a GPU the check would copy every batch back.
        raw = x.detach()._data
        if x.device == "cpu" and raw.size and not (raw.min() >= 0 and raw.max() <= 1):
            raise ValueError(
                "reconstruction_loss: the bernoulli likelihood needs x in [0, 1], got values "
                f"in [{raw.min():g}, {raw.max():g}]; scale the data or use likelihood='gaussian'"
            )
        losses = F.binary_cross_entropy_with_logits(recon, x.detach(), reduction="none")
    else:
        diff = recon - x
        losses = diff * diff
    return losses.sum(dim=1)


def vae_loss(
    recon: Tensor, x: Tensor, mu: Tensor, logvar: Tensor, likelihood: str = "bernoulli"
) -> Tensor:
    """The negative ELBO per sample, averaged over the batch (a scalar).

    ``mean_n [ -log p(x_n | z_n) + KL(q(z | x_n) || N(0, I)) ]``: the reconstruction
    term is summed over the ``D`` features (see :func:`reconstruction_loss`), the KL
    over the ``L`` latent dimensions, and neither is divided by ``D`` or ``L``; the
    mean runs over the batch only. ``-vae_loss`` estimates the ELBO in nats per
    sample (with one draw of ``z`` per sample).

    Example::

        recon, mu, logvar = vae(x)
        loss = vae_loss(recon, x, mu, logvar)
        loss.backward()
    """
    for name, t in (("mu", mu), ("logvar", logvar)):
        if not isinstance(t, Tensor) or t.ndim != 2 or t.shape[0] != x.shape[0]:
            shape = getattr(t, "shape", type(t).__name__)
            raise ValueError(f"vae_loss: {name} must be (N, L) with N = {x.shape[0]}, got {shape}")
    if mu.shape != logvar.shape:
        raise ValueError(f"vae_loss: mu {mu.shape} and logvar {logvar.shape} must match")
    per_sample = reconstruction_loss(recon, x, likelihood) + kl_divergence(mu, logvar)
    return per_sample.mean()


def _mlp_body(sizes: Sequence[int]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in zip(sizes, sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return layers


class VAE(nn.Module):
    """A variational autoencoder with MLP encoder and decoder.

    The encoder maps ``x`` (``(N, input_dim)``) through ``hidden`` ReLU layers to two
    heads, ``fc_mu`` and ``fc_logvar``, the mean and log-variance of the diagonal
    Gaussian ``q(z | x)``. The decoder mirrors the encoder (``hidden`` reversed) and
    outputs, per feature, a logit (``likelihood="bernoulli"``, for data in [0, 1])
    or a mean (``"gaussian"``). ``latent_dim=2`` gives a latent space you can plot.

    The noise of the reparameterisation ``z = mu + exp(logvar / 2) * eps`` comes
    from ``generator`` (default: the one :func:`fastdl.manual_seed` seeds), so the
    same seed draws the same ``eps``.

    Example::

        vae = fastdl.models.VAE(64, latent_dim=2)
        loss = vae.loss(x)                 # negative ELBO per sample, batch mean
        loss.backward()
        images = vae.sample(16)            # (16, 64) pixel means in [0, 1]
    """

    def __init__(
        self,
        input_dim: int,
        latent_dim: int = 8,
        hidden: Sequence[int] = (256, 128),
        likelihood: str = "bernoulli",
        generator: Generator | None = None,
    ) -> None:
        super().__init__()
        positive_int("VAE", "input_dim", input_dim)
        positive_int("VAE", "latent_dim", latent_dim)
        hidden = tuple(hidden)
        if not hidden:
            raise ValueError("VAE: hidden must name at least one layer size, got ()")
        for size in hidden:
            positive_int("VAE", "hidden sizes", size)
        self.likelihood = _check_likelihood(likelihood, "VAE")
        if generator is not None and not isinstance(generator, Generator):
            raise TypeError(
                f"VAE: generator must be a fastdl.Generator, got {type(generator).__name__}"
            )
        self.input_dim, self.latent_dim, self.hidden = input_dim, latent_dim, hidden
        self.generator = generator
        self.encoder = nn.Sequential(*_mlp_body((input_dim, *hidden)))
        self.fc_mu = nn.Linear(hidden[-1], latent_dim)
        self.fc_logvar = nn.Linear(hidden[-1], latent_dim)
        self.decoder = nn.Sequential(
            *_mlp_body((latent_dim, *hidden[::-1])), nn.Linear(hidden[0], input_dim)
        )

    def extra_repr(self) -> str:
        return f"latent_dim={self.latent_dim}, likelihood={self.likelihood!r}"

    def _check_input(self, x: Any, name: str, width: int) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"VAE: {name} must be a Tensor, got {type(x).__name__}")
        if x.ndim != 2 or x.shape[1] != width:
            raise ValueError(f"VAE: {name} must have shape (N, {width}), got {x.shape}")
        dtype = self.fc_mu.weight.dtype
        if x.dtype != dtype:
            raise TypeError(f"VAE: {name} must be {dtype} like the parameters, got {x.dtype}")
        return x

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(mu, logvar)`` of ``q(z | x)``, each ``(N, latent_dim)``."""
        h = self.encoder(self._check_input(x, "x", self.input_dim))
        return self.fc_mu(h), self.fc_logvar(h)

    def reparameterize(self, mu: Tensor, logvar: Tensor, eps: Tensor | None = None) -> Tensor:
        """``mu + exp(logvar / 2) * eps``; ``eps`` is drawn from N(0, I) when not given."""
        if eps is None:
            eps = randn(*mu.shape, dtype=mu.dtype, device=mu.device, generator=self.generator)
        elif eps.shape != mu.shape:
            raise ValueError(f"VAE: eps must have shape {mu.shape} like mu, got {eps.shape}")
        return mu + (logvar * 0.5).exp() * eps

    def decode(self, z: Tensor) -> Tensor:
        """The decoder output for ``z``: logits (bernoulli) or means (gaussian), ``(N, D)``."""
        return self.decoder(self._check_input(z, "z", self.latent_dim))

    def forward(self, x: Tensor, eps: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """``(decoder output, mu, logvar)`` for one draw of ``z`` per sample (``eps`` fixes it)."""
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar, eps)), mu, logvar

    def loss(self, x: Tensor, eps: Tensor | None = None) -> Tensor:
        """The negative ELBO per sample, averaged over the batch (see :func:`vae_loss`)."""
        recon, mu, logvar = self(x, eps)
        return vae_loss(recon, x, mu, logvar, self.likelihood)

    def _mean(self, out: Tensor) -> Tensor:
        return out.sigmoid() if self.likelihood == "bernoulli" else out

    def _eval(self, fn: Any) -> Tensor:
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                return fn()
        finally:
            self.train(was_training)

    def sample(self, n: int, generator: Generator | None = None) -> Tensor:
        """``n`` draws of the data mean ``E[x | z]`` with ``z ~ N(0, I)``: ``(n, D)``,
        pixel probabilities in [0, 1] for the bernoulli likelihood. No gradients."""
        positive_int("VAE.sample", "n", n)
        weight = self.fc_mu.weight
        z = randn(
            n,
            self.latent_dim,
            dtype=weight.dtype,
            device=weight.device,
            generator=generator or self.generator,
        )
        return self._eval(lambda: self._mean(self.decode(z)))

    def reconstruct(self, x: Tensor) -> Tensor:
        """``E[x | z = mu(x)]`` in eval mode, without noise: ``(N, D)``. No gradients."""
        return self._eval(lambda: self._mean(self.decode(self.encode(x)[0])))

    def elbo(self, x: Tensor, generator: Generator | None = None) -> np.ndarray:
        """The ELBO per sample, ``(N,)`` float64, in eval mode without gradients: one
        draw of ``z`` each, its noise from ``generator`` (default: the model's)."""

        def per_sample() -> Tensor:
            mu, logvar = self.encode(x)
            eps = randn(
                *mu.shape, dtype=mu.dtype, device=mu.device, generator=generator or self.generator
            )
            recon = self.decode(self.reparameterize(mu, logvar, eps))
            return reconstruction_loss(recon, x, self.likelihood) + kl_divergence(mu, logvar)

        return -self._eval(per_sample).cpu().numpy().astype(np.float64)
