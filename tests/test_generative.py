"""fastdl.models.VAE and GAN: the ELBO's terms against NumPy, gradients against finite
differences, seeded noise, the alternating GAN updates, short trainings that must
learn, and ``fastdl train --model vae|gan``."""

import numpy as np
import pytest

import fastdl
from fastdl import data, models, nn, optim
from fastdl.autograd import gradcheck
from fastdl.cli import main
from fastdl.cli.generative import quality_classifier, sample_quality
from fastdl.models.vae import kl_divergence, reconstruction_loss, vae_loss

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def digits():
    return data.load_digits()


def _small_vae(likelihood="bernoulli", dtype=fastdl.float64):
    fastdl.manual_seed(0)
    return models.VAE(5, latent_dim=2, hidden=(4, 3), likelihood=likelihood).to(dtype=dtype)


# -- VAE: the loss against NumPy ---------------------------------------------------------


def test_kl_matches_formula_and_monte_carlo():
    rng = np.random.default_rng(0)
    mu, logvar = rng.normal(size=(3, 4)), rng.normal(scale=0.5, size=(3, 4))
    kl = kl_divergence(fastdl.tensor(mu), fastdl.tensor(logvar)).numpy()
    var = np.exp(logvar)
    formula = 0.5 * (mu**2 + var - logvar - 1).sum(axis=1)
    np.testing.assert_allclose(kl, formula, rtol=1e-12)
    # E_q[log q(z) - log p(z)] from 200k draws of z ~ q, per sample.
    z = mu + np.sqrt(var) * rng.standard_normal((200_000, 3, 4))
    log_q = -0.5 * (((z - mu) ** 2) / var + logvar + np.log(2 * np.pi))
    log_p = -0.5 * (z**2 + np.log(2 * np.pi))
    terms = (log_q - log_p).sum(axis=2)
    stderr = terms.std(axis=0) / np.sqrt(len(terms))
    assert np.all(np.abs(terms.mean(axis=0) - kl) < 5 * stderr)
    zeros = fastdl.zeros(2, 3, dtype=fastdl.float64)
    assert np.all(kl_divergence(zeros, zeros).numpy() == 0)  # q equals the prior


def test_reconstruction_loss_and_vae_loss_match_numpy():
    rng = np.random.default_rng(1)
    logits, x = rng.normal(scale=3, size=(4, 6)), rng.uniform(size=(4, 6))
    mu, logvar = rng.normal(size=(4, 2)), rng.normal(size=(4, 2))
    bce = np.maximum(logits, 0) - logits * x + np.log1p(np.exp(-np.abs(logits)))
    t = fastdl.tensor
    got = reconstruction_loss(t(logits), t(x)).numpy()
    np.testing.assert_allclose(got, bce.sum(axis=1), rtol=1e-12)
    got = reconstruction_loss(t(logits), t(x), "gaussian").numpy()
    np.testing.assert_allclose(got, ((logits - x) ** 2).sum(axis=1), rtol=1e-12)
    kl = 0.5 * (mu**2 + np.exp(logvar) - logvar - 1).sum(axis=1)
    loss = vae_loss(t(logits), t(x), t(mu), t(logvar)).item()
    np.testing.assert_allclose(loss, (bce.sum(axis=1) + kl).mean(), rtol=1e-12)


@pytest.mark.parametrize("backend", ["reference", "numba"])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_vae_loss_gradcheck(backend, likelihood):
    vae = _small_vae(likelihood)
    rng = np.random.default_rng(2)
    x = fastdl.tensor(rng.uniform(size=(3, 5)), requires_grad=likelihood == "gaussian")
    eps = fastdl.tensor(rng.standard_normal((3, 2)))
    with fastdl.use_backend(backend):
        assert gradcheck(
            lambda x, *params: vae.loss(x, eps), [x, *vae.parameters()], atol=1e-6, rtol=1e-4
        )


# -- VAE: structure, noise, training -----------------------------------------------------


def test_vae_shapes_and_state_dict():
    fastdl.manual_seed(0)
    vae = models.VAE(64, latent_dim=3)
    names = {k: tuple(v.shape) for k, v in vae.state_dict().items()}
    assert names["encoder.0.weight"] == (256, 64)
    assert names["encoder.2.weight"] == (128, 256)
    assert names["fc_mu.weight"] == names["fc_logvar.weight"] == (3, 128)
    assert names["decoder.0.weight"] == (128, 3)
    assert names["decoder.4.weight"] == (64, 256)
    x = fastdl.rand(5, 64)
    mu, logvar = vae.encode(x)
    assert mu.shape == logvar.shape == (5, 3)
    recon, mu2, _ = vae(x)
    assert recon.shape == (5, 64) and np.array_equal(mu.detach().numpy(), mu2.detach().numpy())
    assert vae.decode(fastdl.randn(7, 3)).shape == (7, 64)
    for images, n in ((vae.sample(6), 6), (vae.reconstruct(x), 5)):
        assert images.shape == (n, 64) and not images.requires_grad
        assert images.numpy().min() >= 0 and images.numpy().max() <= 1
    assert vae.elbo(x).shape == (5,)
    assert vae.training  # sample and reconstruct restore the mode


def test_reconstruct_uses_the_mean_and_is_deterministic():
    vae = _small_vae()
    x = fastdl.tensor(np.random.default_rng(3).uniform(size=(4, 5)))
    with fastdl.no_grad():
        expected = 1 / (1 + np.exp(-vae.decode(vae.encode(x)[0]).numpy()))
    np.testing.assert_allclose(vae.reconstruct(x).numpy(), expected, rtol=1e-12)
    np.testing.assert_array_equal(vae.reconstruct(x).numpy(), vae.reconstruct(x).numpy())


def test_reparameterization_is_seeded():
    vae = _small_vae()
    x = fastdl.tensor(np.random.default_rng(4).uniform(size=(3, 5)))
    mu, logvar = (t.detach().numpy() for t in vae.encode(x))
    eps = fastdl.Generator().manual_seed(7).normal((3, 2), np.float64)
    vae.generator = fastdl.Generator().manual_seed(7)
    z = vae.reparameterize(*vae.encode(x)).detach().numpy()
    np.testing.assert_allclose(z, mu + np.exp(logvar / 2) * eps, rtol=1e-12)
    # The default generator: the same seed gives the same forward pass, another seed not.
    vae.generator = None
    outputs = []
    for seed in (11, 11, 12):
        fastdl.manual_seed(seed)
        outputs.append(vae(x)[0].detach().numpy())
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert not np.allclose(outputs[0], outputs[2])
    g = fastdl.Generator
    np.testing.assert_array_equal(
        vae.sample(4, g().manual_seed(1)).numpy(), vae.sample(4, g().manual_seed(1)).numpy()
    )


def test_vae_elbo_improves(digits):
    fastdl.manual_seed(0)
    vae = models.VAE(64, latent_dim=4, hidden=(64, 32))
    opt = optim.Adam(vae.parameters(), lr=3e-3)
    loader = data.DataLoader(
        data.TensorDataset(digits.X_train), batch_size=64, shuffle=True, seed=0
    )
    x_test = fastdl.tensor(digits.X_test)
    before = vae.elbo(x_test, fastdl.Generator().manual_seed(0)).mean()
    for _ in range(4):
        for (x,) in loader:
            opt.zero_grad()
            vae.loss(x).backward()
            opt.step()
    after = vae.elbo(x_test, fastdl.Generator().manual_seed(0)).mean()
    # About -44 nats (64 pixels at p = 1/2) before; about -28 after four epochs.
    assert before < -40 and after > before + 10


@pytest.mark.parametrize(
    "make, error, fragment",
    [
        (lambda: models.VAE(0), ValueError, "VAE: input_dim"),
        (lambda: models.VAE(8, latent_dim=-1), ValueError, "VAE: latent_dim"),
        (lambda: models.VAE(8, hidden=()), ValueError, "VAE: hidden"),
        (lambda: models.VAE(8, likelihood="poisson"), ValueError, "likelihood"),
        (lambda: models.VAE(8).encode(fastdl.rand(2, 9)), ValueError, r"\(N, 8\)"),
        (lambda: models.VAE(8).decode(fastdl.rand(2, 3)), ValueError, "z must have shape"),
        (lambda: models.VAE(8).loss(fastdl.rand(2, 8) * 2), ValueError, r"x in \[0, 1\]"),
        (lambda: models.VAE(8).encode(fastdl.rand(2, 8).double()), TypeError, "float32"),
        (lambda: models.VAE(8).sample(0), ValueError, "VAE.sample: n"),
        (
            lambda: vae_loss(fastdl.rand(2, 4), fastdl.rand(2, 4), fastdl.rand(3, 2), None),
            ValueError,
            "vae_loss: mu",
        ),
    ],
)
def test_vae_bad_arguments(make, error, fragment):
    with pytest.raises(error, match=fragment):
        make()


# -- GAN ---------------------------------------------------------------------------------


def _small_gan(seed=0):
    fastdl.manual_seed(seed)
    gan = models.gan_mlp(data_dim=6, latent_dim=3, hidden=(8, 8))
    opt_g = optim.Adam(gan.generator.parameters(), lr=1e-2)
    opt_d = optim.Adam(gan.discriminator.parameters(), lr=1e-2)
    return gan, opt_g, opt_d


def _snapshot(module):
    return [p.detach().numpy().copy() for p in module.parameters()]


def _same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def test_train_step_updates_d_then_g_only():
    gan, opt_g, opt_d = _small_gan()
    real = fastdl.rand(4, 6)
    g0, d0 = _snapshot(gan.generator), _snapshot(gan.discriminator)
    seen = {}
    step_d = opt_d.step

    def spy():  # the state right after the discriminator's update
        step_d()
        seen["g"], seen["d"] = _snapshot(gan.generator), _snapshot(gan.discriminator)
        seen["d_grad"] = [p.grad.numpy().copy() for p in gan.discriminator.parameters()]

    opt_d.step = spy
    stats = gan.train_step(real, opt_g, opt_d)
    assert set(stats) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert _same(seen["g"], g0) and not _same(seen["d"], d0)  # D's update left G alone
    assert _same(_snapshot(gan.discriminator), seen["d"])  # G's update left D alone...
    d_grads = [p.grad.numpy() for p in gan.discriminator.parameters()]
    assert _same(d_grads, seen["d_grad"])  # ...and wrote no gradient into it
    assert not _same(_snapshot(gan.generator), g0)
    assert all(p.requires_grad for p in gan.discriminator.parameters())


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_discriminator_targets_and_generator_loss(smoothing):
    gan, opt_g, opt_d = _small_gan()
    real, fake = fastdl.rand(5, 6), fastdl.rand(5, 6)

    def bce(logit, target):
        return np.maximum(logit, 0) - logit * target + np.log1p(np.exp(-np.abs(logit)))

    with fastdl.no_grad():
        real_logits = gan.discriminator(real).numpy()[:, 0].astype(np.float64)
        fake_logits = gan.discriminator(fake).numpy()[:, 0].astype(np.float64)
    expected = bce(real_logits, 1 - smoothing).mean() + bce(fake_logits, 0).mean()
    got = gan.discriminator_loss(real, fake, smoothing).item()
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    non_saturating = -np.log(1 / (1 + np.exp(-fake_logits))).mean()
    np.testing.assert_allclose(gan.generator_loss(fake).item(), non_saturating, rtol=1e-5)
    # train_step scores the same targets: replay its noise to rebuild its first loss.
    fastdl.manual_seed(5)
    fake = gan.generator(gan.noise(5))
    before = gan.discriminator_loss(real, fake, smoothing).item()
    fastdl.manual_seed(5)
    assert gan.train_step(real, opt_g, opt_d, smoothing)["d_loss"] == pytest.approx(before, 1e-5)


def test_gan_sample_shapes_and_seed():
    gan, _, _ = _small_gan()
    g = fastdl.Generator
    a, b = gan.sample(7, g().manual_seed(3)), gan.sample(7, g().manual_seed(3))
    assert a.shape == (7, 6) and not a.requires_grad and gan.training
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert a.numpy().min() >= 0 and a.numpy().max() <= 1  # sigmoid output
    assert gan.latent_dim == 3


def test_short_gan_run_covers_every_class(digits):
    """A seeded GAN, 12 epochs on the digits: a classifier (>= 0.97) finds all ten digits
    among 1,000 samples, with confidence. (Seeds 0-7 all give 10/10 at 0.86-0.90.)"""
    fastdl.manual_seed(0)
    gan = models.gan_mlp(64, 16, hidden=(128, 256))
    opt_g = optim.Adam(gan.generator.parameters(), lr=5e-4, betas=(0.5, 0.999))
    opt_d = optim.Adam(gan.discriminator.parameters(), lr=5e-4, betas=(0.5, 0.999))
    loader = data.DataLoader(
        data.TensorDataset(digits.X_train), batch_size=32, shuffle=True, seed=0
    )
    for _ in range(12):
        for (x,) in loader:
            gan.train_step(x, opt_g, opt_d)
    classifier, accuracy = quality_classifier(*digits, seed=0)
    assert accuracy >= 0.97
    quality = sample_quality(classifier, gan.sample(1000, fastdl.Generator()).numpy(), 10)
    assert quality["classes_covered"] == 10, quality["histogram"]
    assert quality["mean_confidence"] > 0.75


def test_gan_bad_arguments():
    gan, opt_g, opt_d = _small_gan()
    real = fastdl.rand(4, 6)
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        gan.train_step(real, opt_g, opt_d, label_smoothing=1.0)
    with pytest.raises(ValueError, match="opt_g must hold generator parameters only"):
        gan.train_step(real, opt_d, opt_d)
    with pytest.raises(TypeError, match="real must be float32"):
        gan.train_step(real.double(), opt_g, opt_d)
    with pytest.raises(TypeError, match="opt_d must be an optimizer"):
        gan.train_step(real, opt_g, None)
    with pytest.raises(ValueError, match="one logit per sample"):
        models.GAN(nn.Linear(3, 6), nn.Linear(6, 2)).discriminator_loss(real, real)
    with pytest.raises(TypeError, match="GAN: discriminator must be an nn.Module"):
        models.GAN(nn.Linear(3, 6), lambda x: x)
    with pytest.raises(ValueError, match="cannot infer latent_dim"):
        models.GAN(nn.ReLU(), nn.Linear(6, 1))
    with pytest.raises(ValueError, match="mlp_generator: output"):
        models.gan_mlp(output="relu")
    with pytest.raises(ValueError, match="mlp_discriminator: data_dim"):
        models.mlp_discriminator(0)


# -- the command line --------------------------------------------------------------------


def _last_line(capsys):
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_cli_vae(tmp_path, capsys):
    out = tmp_path / "vae"
    argv = ["train", "--model", "vae", "--epochs", "2", "--latent-dim", "2", "--no-progress"]
    assert main([*argv, "--hidden", "32,16", "--out", str(out)]) == 0
    last = _last_line(capsys)
    assert last.startswith("test_elbo=-") and "model=vae" in last and "latent_dim=2" in last
    assert " seconds=" in last and f"out={out}" in last
    for name in ("samples/epoch_001.png", "samples/epoch_002.png", "reconstructions/epoch_002.png"):
        assert (out / name).read_bytes()[:8] == PNG
    assert (out / "elbo.png").read_bytes()[:8] == PNG
    assert (out / "latent.png").read_bytes()[:8] == PNG  # latent_dim 2: the scatter
    checkpoint = fastdl.load(out / "checkpoint.fdl")
    assert checkpoint["model"]["fc_mu.weight"].shape == (2, 16)
    epochs = checkpoint["history"]["epochs"]
    assert len(epochs) == 2 and checkpoint["test"]["elbo"] == pytest.approx(
        float(last.split("test_elbo=")[1].split()[0]), abs=1e-3
    )
    assert epochs[-1]["val_elbo"] == pytest.approx(
        float(last.split("val_elbo=")[1].split()[0]), abs=1e-3
    )
    assert "test_elbo" not in epochs[-1]  # the test split is measured once, after training


@pytest.mark.parametrize(
    "flags",
    [
        ["--likelihood", "gaussian", "--scheduler", "onecycle", "--clip-grad-norm", "5"],
        ["--scheduler", "plateau", "--early-stopping", "1", "--optimizer", "sgd", "--lr", "0"],
    ],
)
def test_cli_vae_flags(flags, tmp_path, capsys):
    argv = ["train", "--model", "vae", "--epochs", "3", "--hidden", "16", "--no-progress"]
    assert main([*argv, *flags, "--out", str(tmp_path)]) == 0
    last = _last_line(capsys)
    checkpoint = fastdl.load(tmp_path / "checkpoint.fdl")
    assert checkpoint["config"]["likelihood"] in last and "scheduler" in checkpoint
    if "--early-stopping" in flags:  # lr 0: the validation ELBO cannot improve after epoch 1
        assert "stopped_early=true" in last and len(checkpoint["history"]["epochs"]) == 2


def test_cli_gan(tmp_path, capsys):
    out = tmp_path / "gan"
    argv = ["train", "--model", "gan", "--epochs", "2", "--hidden", "32,64", "--no-progress"]
    assert main([*argv, "--label-smoothing", "0.1", "--out", str(out)]) == 0
    last = _last_line(capsys)
    assert last.startswith("mean_confidence=0.") and "model=gan" in last
    histogram = [int(v) for v in last.split("class_histogram=")[1].split()[0].split(",")]
    assert len(histogram) == 10 and sum(histogram) == 1000
    accuracy = float(last.split("classifier_accuracy=")[1].split()[0])
    assert accuracy >= 0.97 and "label_smoothing=0.1" in last
    for name in ("samples/epoch_001.png", "samples/epoch_002.png", "losses.png", "quality.png"):
        assert (out / name).read_bytes()[:8] == PNG
    checkpoint = fastdl.load(out / "checkpoint.fdl")
    assert checkpoint["quality"]["histogram"] == histogram
    assert len(checkpoint["history"]["epochs"]) == 2


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--model", "vae", "--activation", "tanh"], "--activation applies to --model mlp"),
        (["--model", "vae", "--label-smoothing", "0.1"], "--label-smoothing applies to"),
        (["--model", "gan", "--label-smoothing", "1"], "--label-smoothing must be in [0, 1)"),
        (["--model", "gan", "--scheduler", "step"], "--scheduler applies to --model vae"),
        (["--model", "gan", "--likelihood", "gaussian"], "--likelihood applies to"),
        (["--model", "vae", "--data", "spirals"], "learns images"),
        (["--model", "vae", "--latent-dim", "0"], "--latent-dim"),
    ],
)
def test_cli_bad_flags(flags, fragment, tmp_path, capsys):
    assert main(["train", *flags, "--epochs", "1", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err
