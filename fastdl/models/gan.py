"""A generative adversarial network (Goodfellow et al., 2014) and MLP builders for it.

Shapes: ``N`` samples, ``D`` = ``data_dim`` features, ``L`` = ``latent_dim``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from fastdl import nn
from fastdl.autograd import no_grad
from fastdl.models._checks import positive_int
from fastdl.nn import functional as F
from fastdl.random import Generator
from fastdl.tensor import Tensor, full, randn

OUTPUTS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


def _latent_dim_of(generator: nn.Module) -> int:
    for module in generator.modules():
        if isinstance(module, nn.Linear):
            return module.in_features
    raise ValueError(
        "GAN: cannot infer latent_dim from the generator (no Linear layer); pass latent_dim="
    )


@contextmanager
def _frozen(module: nn.Module) -> Iterator[None]:
    """Parameters of ``module`` take no gradient inside the block."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad = False
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad = flag


def _optimizer_params(optimizer: Any, name: str) -> set[int]:
    groups = getattr(optimizer, "param_groups", None)
    if groups is None:
        raise TypeError(
            f"GAN.train_step: {name} must be an optimizer, got {type(optimizer).__name__}"
        )
    return {id(p) for group in groups for p in group["params"]}


def _d_loss(real_logits: Tensor, fake_logits: Tensor, label_smoothing: float) -> Tensor:
    real_target = full(
        real_logits.shape, 1.0 - label_smoothing, dtype=real_logits.dtype, device=real_logits.device
    )
    fake_target = full(fake_logits.shape, 0.0, dtype=fake_logits.dtype, device=fake_logits.device)
    real_loss = F.binary_cross_entropy_with_logits(real_logits, real_target)
    return real_loss + F.binary_cross_entropy_with_logits(fake_logits, fake_target)


class GAN(nn.Module):
    """A generator ``G: z -> x`` and a discriminator ``D: x -> logit`` trained adversarially.

    :meth:`train_step` alternates one discriminator update and one generator update
    per batch; the generator uses the non-saturating loss ``-log D(G(z))``. The
    discriminator outputs one logit per sample (shape ``(N, 1)`` or ``(N,)``), and
    the losses are binary cross-entropy with logits. The noise ``z ~ N(0, I)`` comes
    from ``rng`` (default: the generator :func:`fastdl.manual_seed` seeds).

    Example::

        gan = fastdl.models.gan_mlp(data_dim=64, latent_dim=16)
        opt_g = fastdl.optim.Adam(gan.generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_d = fastdl.optim.Adam(gan.discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
        losses = gan.train_step(real_batch, opt_g, opt_d, label_smoothing=0.1)
        images = gan.sample(16)            # (16, 64)
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        latent_dim: int | None = None,
        rng: Generator | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("generator", generator), ("discriminator", discriminator)):
            if not isinstance(value, nn.Module):
                raise TypeError(f"GAN: {name} must be an nn.Module, got {type(value).__name__}")
        if rng is not None and not isinstance(rng, Generator):
            raise TypeError(f"GAN: rng must be a fastdl.Generator, got {type(rng).__name__}")
        self.generator, self.discriminator = generator, discriminator
        if latent_dim is None:
            latent_dim = _latent_dim_of(generator)
        self.latent_dim = positive_int("GAN", "latent_dim", latent_dim)
        self.rng = rng

    def extra_repr(self) -> str:
        return f"latent_dim={self.latent_dim}"

    def _dtype(self) -> Any:
        return next(iter(self.generator.parameters())).dtype

    def noise(self, n: int, rng: Generator | None = None) -> Tensor:
        """``n`` latent vectors ``z ~ N(0, I)``: ``(n, latent_dim)``."""
        positive_int("GAN", "n", n)
        weight = next(iter(self.generator.parameters()))
        return randn(
            n, self.latent_dim, dtype=weight.dtype, device=weight.device, generator=rng or self.rng
        )

    def forward(self, z: Tensor) -> Tensor:
        """``G(z)``."""
        return self.generator(z)

    def _logits(self, x: Tensor) -> Tensor:
        logits = self.discriminator(x)
        if logits.ndim == 2 and logits.shape[1] == 1:
            logits = logits.reshape(logits.shape[0])
        if logits.shape != (x.shape[0],):
            raise ValueError(
                f"GAN: the discriminator must output one logit per sample, (N, 1) or (N,), "
                f"got {logits.shape} for N = {x.shape[0]}"
            )
        return logits

    def _check_step(self, real: Any, opt_g: Any, opt_d: Any, label_smoothing: Any) -> None:
        if not isinstance(real, Tensor):
            raise TypeError(f"GAN.train_step: real must be a Tensor, got {type(real).__name__}")
        if real.ndim < 2 or real.shape[0] < 1:
            raise ValueError(f"GAN.train_step: real must be a batch (N, ...), got {real.shape}")
        if real.dtype != self._dtype():
            raise TypeError(
                f"GAN.train_step: real must be {self._dtype()} like the parameters, "
                f"got {real.dtype}"
            )
        if not isinstance(label_smoothing, int | float) or not 0.0 <= label_smoothing < 1.0:
            raise ValueError(
                f"GAN.train_step: label_smoothing must be in [0, 1), got {label_smoothing!r}"
            )
        in_g, in_d = _optimizer_params(opt_g, "opt_g"), _optimizer_params(opt_d, "opt_d")
        g_params = {id(p) for p in self.generator.parameters()}
        d_params = {id(p) for p in self.discriminator.parameters()}
        if in_g & d_params or not in_g <= g_params:
            raise ValueError("GAN.train_step: opt_g must hold generator parameters only")
        if in_d & g_params or not in_d <= d_params:
            raise ValueError("GAN.train_step: opt_d must hold discriminator parameters only")

    def discriminator_loss(
        self, real: Tensor, fake: Tensor, label_smoothing: float = 0.0
    ) -> Tensor:
        """``BCE(D(real), 1 - label_smoothing) + BCE(D(fake), 0)``, each a batch mean.

        One-sided label smoothing (Salimans et al., 2016): only the real targets move.
        """
        return _d_loss(self._logits(real), self._logits(fake), label_smoothing)

    def generator_loss(self, fake: Tensor) -> Tensor:
        """The non-saturating loss ``mean(-log D(fake))``: BCE with logits against 1."""
        logits = self._logits(fake)
        return F.binary_cross_entropy_with_logits(
            logits, full(logits.shape, 1.0, dtype=logits.dtype, device=logits.device)
        )

    def train_step(
        self, real: Tensor, opt_g: Any, opt_d: Any, label_smoothing: float = 0.0
    ) -> dict[str, float]:
        """One discriminator update then one generator update on the batch ``real``.

        The discriminator sees ``real`` (targets ``1 - label_smoothing``) and
        ``G(z).detach()`` (targets 0); then the generator, with the discriminator's
        parameters frozen, minimises ``-log D(G(z))`` for the same ``z``, scored by
        the updated discriminator. Only ``opt_d`` steps in the first update and only
        ``opt_g`` in the second.

        Returns ``{"d_loss", "g_loss", "d_real", "d_fake"}``: the two losses and the
        discriminator's mean probability on the real and fake batch (before its update).
        """
        self._check_step(real, opt_g, opt_d, label_smoothing)
        self.train()
        fake = self.generator(self.noise(real.shape[0]))

        opt_d.zero_grad()
        real_logits, fake_logits = self._logits(real), self._logits(fake.detach())
        d_loss = _d_loss(real_logits, fake_logits, label_smoothing)
        d_loss.backward()
        opt_d.step()

        opt_g.zero_grad()
        with _frozen(self.discriminator):
            g_loss = self.generator_loss(fake)
            g_loss.backward()
        opt_g.step()
        return {
            "d_loss": d_loss.item(),
            "g_loss": g_loss.item(),
            "d_real": float(real_logits.detach().sigmoid().mean().item()),
            "d_fake": float(fake_logits.detach().sigmoid().mean().item()),
        }

    def sample(self, n: int, rng: Generator | None = None) -> Tensor:
        """``n`` samples ``G(z)``, ``z ~ N(0, I)``, in eval mode without gradients: ``(n, D)``."""
        z = self.noise(n, rng)
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                return self.generator(z)
        finally:
            self.train(was_training)


def _check_sizes(builder: str, hidden: Sequence[int]) -> tuple[int, ...]:
    hidden = tuple(hidden)
    if not hidden:
        raise ValueError(f"{builder}: hidden must name at least one layer size, got ()")
    for size in hidden:
        positive_int(builder, "hidden sizes", size)
    return hidden


def mlp_generator(
    latent_dim: int = 16,
    data_dim: int = 64,
    hidden: Sequence[int] = (256, 512),
    output: str = "sigmoid",
) -> nn.Sequential:
    """``z -> [Linear -> BatchNorm1d -> ReLU] per hidden size -> Linear -> output``.

    ``output="sigmoid"`` gives pixels in [0, 1] (the digits), ``"tanh"`` in [-1, 1].

    Example::

        G = mlp_generator(16, 64)
        G(fastdl.randn(8, 16)).shape           # (8, 64)
    """
    positive_int("mlp_generator", "latent_dim", latent_dim)
    positive_int("mlp_generator", "data_dim", data_dim)
    hidden = _check_sizes("mlp_generator", hidden)
    if output not in OUTPUTS:
        raise ValueError(f"mlp_generator: output must be one of {sorted(OUTPUTS)}, got {output!r}")
    layers: list[nn.Module] = []
    sizes = (latent_dim, *hidden)
    for a, b in zip(sizes, sizes[1:]):
        layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU()]
    layers += [nn.Linear(sizes[-1], data_dim), OUTPUTS[output]()]
    return nn.Sequential(*layers)


def mlp_discriminator(
    data_dim: int = 64, hidden: Sequence[int] = (512, 256), negative_slope: float = 0.2
) -> nn.Sequential:
    """``x -> [Linear -> LeakyReLU(negative_slope)] per hidden size -> Linear -> 1 logit``.

    Example::

        D = mlp_discriminator(64)
        D(fastdl.rand(8, 64)).shape            # (8, 1)
    """
    positive_int("mlp_discriminator", "data_dim", data_dim)
    hidden = _check_sizes("mlp_discriminator", hidden)
    if not 0.0 < negative_slope < 1.0:
        raise ValueError(
            f"mlp_discriminator: negative_slope must be in (0, 1), got {negative_slope!r}"
        )
    layers: list[nn.Module] = []
    sizes = (data_dim, *hidden)
    for a, b in zip(sizes, sizes[1:]):
        layers += [nn.Linear(a, b), nn.LeakyReLU(negative_slope)]
    layers.append(nn.Linear(sizes[-1], 1))
    return nn.Sequential(*layers)


def gan_mlp(
    data_dim: int = 64,
    latent_dim: int = 16,
    hidden: Sequence[int] = (256, 512),
    output: str = "sigmoid",
    rng: Generator | None = None,
) -> GAN:
    """A :class:`GAN` of :func:`mlp_generator` (``hidden``) and :func:`mlp_discriminator`
    (``hidden`` reversed), sized for the 8x8 digits by default.

    Example::

        gan = gan_mlp(data_dim=64, latent_dim=16)
        gan.sample(4).shape                     # (4, 64)
    """
    generator = mlp_generator(latent_dim, data_dim, hidden, output)
    discriminator = mlp_discriminator(data_dim, tuple(hidden)[::-1])
    return GAN(generator, discriminator, latent_dim, rng)
