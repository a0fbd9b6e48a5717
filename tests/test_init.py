"""nn.init: gains and fans as PyTorch, sample statistics of every initialiser within
5-sigma confidence bounds on large tensors, bounds, determinism under manual_seed,
and orthogonality."""

import math

import numpy as np
import pytest

import fastdl
from fastdl import nn
from fastdl.nn import init

Z = 5.0  # confidence bounds in standard errors; the draws are seeded, so never flaky
LINEAR = (800, 500)  # (out_features, in_features): fan_in 500, fan_out 800
CONV = (128, 48, 5, 5)  # (out_channels, in_channels, kH, kW): fan_in 1200, fan_out 3200
FANS = {LINEAR: (500, 800), CONV: (48 * 25, 128 * 25)}


def _empty(shape, dtype=np.float32):
    return nn.Parameter(np.full(shape, np.nan, dtype))


def _check_moments(values, mean, var, fourth):
    """Sample mean and variance within Z standard errors of the true ones; ``fourth`` is
    the distribution's fourth central moment."""
    x = np.asarray(values, np.float64).reshape(-1)
    n = x.size
    assert not np.isnan(x).any()
    assert abs(x.mean() - mean) <= Z * math.sqrt(var / n), (x.mean(), mean)
    sample_var = x.var()
    assert abs(sample_var - var) <= Z * math.sqrt((fourth - var**2) / n), (sample_var, var)


def _check_uniform(values, bound):
    x = np.asarray(values, np.float64)
    assert np.abs(x).max() <= bound
    assert np.abs(x).max() >= 0.999 * bound
    _check_moments(x, 0.0, bound**2 / 3, bound**4 / 5)


def _check_normal(values, std):
    _check_moments(values, 0.0, std**2, 3 * std**4)


# -- gains and fans ------------------------------------------------------------------------------


def test_calculate_gain_matches_pytorch_table():
    for name in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose2d", "sigmoid"):
        assert init.calculate_gain(name) == 1.0
    assert init.calculate_gain("tanh") == 5.0 / 3
    assert init.calculate_gain("relu") == math.sqrt(2.0)
    assert init.calculate_gain("leaky_relu") == math.sqrt(2.0 / (1 + 0.01**2))
    assert init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2.0 / 1.04)
    assert init.calculate_gain("leaky_relu", 0) == math.sqrt(2.0)
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="negative_slope"):
        init.calculate_gain("leaky_relu", True)
    with pytest.raises(ValueError, match="unsupported"):
        init.calculate_gain("swish")


def test_fans_follow_pytorch_for_linear_and_conv():
    assert init._fans(_empty(LINEAR)) == (500, 800)
    assert init._fans(_empty(CONV)) == (1200, 3200)
    assert init._fans(_empty((6, 4, 3))) == (12, 18)  # Conv1d weight (out, in, k)
    assert init._fans(nn.Linear(7, 3).weight) == (7, 3)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init._fans(_empty((5,)))


# -- statistics ------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [LINEAR, CONV], ids=["linear", "conv"])
@pytest.mark.parametrize("gain", [1.0, 5.0 / 3])
def test_xavier(shape, gain):
    fan_in, fan_out = FANS[shape]
    fastdl.manual_seed(1)
    _check_uniform(init.xavier_uniform_(_empty(shape), gain).detach().numpy(),
                   gain * math.sqrt(6.0 / (fan_in + fan_out)))  # fmt: skip
    w = init.xavier_normal_(_empty(shape), gain).detach().numpy()
    _check_normal(w, gain * math.sqrt(2.0 / (fan_in + fan_out)))


@pytest.mark.parametrize("shape", [LINEAR, CONV], ids=["linear", "conv"])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize(
    "nonlinearity, a", [("relu", 0.0), ("leaky_relu", 0.0), ("leaky_relu", 0.2), ("tanh", 0.0)]
)
def test_kaiming(shape, mode, nonlinearity, a):
    fan = FANS[shape][0 if mode == "fan_in" else 1]
    gain = {"relu": math.sqrt(2.0), "tanh": 5.0 / 3}.get(nonlinearity, math.sqrt(2 / (1 + a * a)))
    fastdl.manual_seed(2)
    w = init.kaiming_uniform_(_empty(shape), a=a, mode=mode, nonlinearity=nonlinearity)
    _check_uniform(w.detach().numpy(), gain * math.sqrt(3.0 / fan))
    w = init.kaiming_normal_(_empty(shape), a=a, mode=mode, nonlinearity=nonlinearity)
    _check_normal(w.detach().numpy(), gain / math.sqrt(fan))


def test_kaiming_relu_is_he_variance():
    fastdl.manual_seed(3)
    w = init.kaiming_normal_(_empty(LINEAR), nonlinearity="relu").detach().numpy()
    _check_normal(w, math.sqrt(2.0 / 500))  # Var = 2 / fan_in


def test_linear_default_init_is_pytorchs():
    fastdl.manual_seed(4)
    layer = nn.Linear(500, 800)  # kaiming_uniform_(a=sqrt(5)) == U(-1/sqrt(in), 1/sqrt(in))
    _check_uniform(layer.weight.detach().numpy(), 1 / math.sqrt(500))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniform_normal_constant(dtype):
    fastdl.manual_seed(5)
    w = init.uniform_(_empty(LINEAR, dtype), -0.3, 0.5).detach().numpy()
    assert w.dtype == dtype and w.min() >= -0.3 and w.max() < 0.5
    _check_moments(w - 0.1, 0.0, 0.8**2 / 12, 0.4**4 / 5)
    w = init.normal_(_empty(LINEAR, dtype), 2.0, 0.5).detach().numpy()
    _check_moments(w, 2.0, 0.25, 3 * 0.5**4)
    assert (init.constant_(_empty((3, 2), dtype), 0.25).detach().numpy() == 0.25).all()
    assert (init.zeros_(_empty((3,), dtype)).detach().numpy() == 0).all()
    assert (init.ones_(_empty((2, 2), dtype)).detach().numpy() == 1).all()


def _truncated_moments(mean, std, a, b):
    alpha, beta = (a - mean) / std, (b - mean) / std
    pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda z: (1 + math.erf(z / math.sqrt(2))) / 2  # noqa: E731
    mass = cdf(beta) - cdf(alpha)
    m = mean + std * (pdf(alpha) - pdf(beta)) / mass
    var = std**2 * (
        1 + (alpha * pdf(alpha) - beta * pdf(beta)) / mass - ((pdf(alpha) - pdf(beta)) / mass) ** 2
    )
    return m, var


@pytest.mark.parametrize(
    "mean, std, a, b",
    [(0.0, 1.0, -2.0, 2.0), (0.0, 0.02, -0.04, 0.04), (0.5, 1.0, 0.0, 3.0), (0.0, 1.0, 2.0, 3.0)],
    ids=["default", "std0.02", "shifted", "tail"],  # "tail" takes the uniform-proposal route
)
def test_trunc_normal(mean, std, a, b):
    fastdl.manual_seed(6)
    w = init.trunc_normal_(_empty(LINEAR), mean, std, a, b).detach().numpy()
    assert w.min() >= np.float32(a) and w.max() <= np.float32(b)
    m, var = _truncated_moments(mean, std, a, b)
    x = w.astype(np.float64).reshape(-1)
    # The fourth moment is bounded by the interval's: (b - a)^4 is a safe stand-in.
    assert abs(x.mean() - m) <= Z * math.sqrt(var / x.size)
    assert abs(x.var() - var) <= Z * math.sqrt((b - a) ** 4 / x.size)
    with pytest.raises(ValueError, match="a < b"):
        init.trunc_normal_(_empty((2, 2)), a=1.0, b=-1.0)


# -- determinism ---------------------------------------------------------------------------------

INITS = {
    "uniform_": lambda w: init.uniform_(w, -1, 1),
    "normal_": lambda w: init.normal_(w),
    "trunc_normal_": lambda w: init.trunc_normal_(w, std=0.5),
    "xavier_uniform_": init.xavier_uniform_,
    "xavier_normal_": init.xavier_normal_,
    "kaiming_uniform_": init.kaiming_uniform_,
    "kaiming_normal_": init.kaiming_normal_,
    "orthogonal_": init.orthogonal_,
}


@pytest.mark.parametrize("name", sorted(INITS))
def test_same_seed_same_weights(name):
    fn = INITS[name]
    draws = []
    for seed in (7, 7, 8):
        fastdl.manual_seed(seed)
        draws.append(fn(_empty((30, 20))).detach().numpy().copy())
    np.testing.assert_array_equal(draws[0], draws[1])
    assert not np.array_equal(draws[0], draws[2])


def test_generator_argument_leaves_the_default_stream_alone():
    fastdl.manual_seed(9)
    expected = init.normal_(_empty((4, 5))).detach().numpy().copy()
    fastdl.manual_seed(9)
    gen = fastdl.Generator().manual_seed(10)
    own = init.orthogonal_(_empty((4, 5)), generator=gen).detach().numpy()
    np.testing.assert_array_equal(init.normal_(_empty((4, 5))).detach().numpy(), expected)
    again = init.orthogonal_(_empty((4, 5)), generator=fastdl.Generator().manual_seed(10))
    np.testing.assert_array_equal(again.detach().numpy(), own)


# -- orthogonal, eye, dirac ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(30, 50), (50, 30), (40, 40), (16, 4, 3, 3), (1, 7)])
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_orthogonal(shape, dtype, gain):
    fastdl.manual_seed(11)
    w = init.orthogonal_(_empty(shape, dtype), gain).detach().numpy()
    assert w.shape == shape and w.dtype == dtype
    rows = shape[0]
    m = w.reshape(rows, -1).astype(np.float64) / gain
    gram = m @ m.T if rows <= m.shape[1] else m.T @ m
    atol = 50 * np.finfo(dtype).eps
    np.testing.assert_allclose(gram, np.eye(gram.shape[0]), atol=atol, rtol=0)


def test_orthogonal_is_sign_corrected():
    """Without PyTorch's sign correction (Q times sign(diag R)), Householder QR makes
    Q[0, 0] = -|a00| / ||a0|| < 0 always; Haar-distributed Q has E[Q[0, 0]] = 0."""
    fastdl.manual_seed(12)
    corner = [init.orthogonal_(_empty((3, 3))).detach().numpy()[0, 0] for _ in range(400)]
    # Q[0, 0] of a Haar 3x3 matrix has variance 1/3.
    assert abs(np.mean(corner)) <= Z * math.sqrt(1 / 3 / 400)
    assert 0.3 < np.mean(np.greater(corner, 0)) < 0.7


def test_orthogonal_rejects_1d_and_skips_empty():
    with pytest.raises(ValueError, match="2 or more"):
        init.orthogonal_(_empty((4,)))
    assert init.orthogonal_(_empty((0, 3))).shape == (0, 3)


def test_eye_and_dirac():
    np.testing.assert_array_equal(init.eye_(_empty((3, 5))).detach().numpy(), np.eye(3, 5))
    with pytest.raises(ValueError):
        init.eye_(_empty((2, 2, 2)))
    w = init.dirac_(_empty((4, 3, 3, 3))).detach().numpy()
    expected = np.zeros((4, 3, 3, 3), np.float32)
    for d in range(3):
        expected[d, d, 1, 1] = 1
    np.testing.assert_array_equal(w, expected)
    w = init.dirac_(_empty((4, 2, 5)), groups=2).detach().numpy()
    expected = np.zeros((4, 2, 5), np.float32)
    for g in range(2):
        for d in range(2):
            expected[2 * g + d, d, 2] = 1
    np.testing.assert_array_equal(w, expected)
    with pytest.raises(ValueError, match="divisible"):
        init.dirac_(_empty((3, 2, 3)), groups=2)


# -- validation ----------------------------------------------------------------------------------


def test_bad_mode_and_zero_element_tensors():
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_uniform_(_empty((3, 4)), mode="fan_avg")
    empty = _empty((0, 4))
    for fn in (init.kaiming_uniform_, init.kaiming_normal_, init.xavier_uniform_):
        with pytest.warns(UserWarning, match="zero-element"):
            assert fn(empty) is empty


def test_init_under_grad_mode_on_a_parameter():
    w = nn.Parameter(fastdl.zeros(3, 4))
    assert fastdl.is_grad_enabled()
    init.orthogonal_(w)
    init.trunc_normal_(w)
    init.kaiming_normal_(w)
    assert w.requires_grad and w.is_leaf
