"""Kernels of the linear, activation, softmax and loss families, both CPU backends.

Three kinds of check:

* the Numba backend against the NumPy reference on the spec's samplers;
* the reference against independent formulas (forward) and float64 central
  differences of its own forward kernels (backward);
* stability at +-1e4, the BCE log clamp, and NaN propagation, on both backends.
"""

from __future__ import annotations

import copy
import importlib
import itertools
import math

import numpy as np
import pytest

from fastdl.backends import spec

FAMILIES = ("linear", "activation", "softmax", "loss")
NAMES = [k.name for k in spec.KERNELS if k.family in FAMILIES]
DTYPES = (np.float32, np.float64)
SEEDS = range(8)
# Value tolerance relative to the output's scale; results differ by a few ulps.
TOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


def kernel(backend: str, name: str):
    family = spec.BY_NAME[name].family
    package = "reference" if backend == "reference" else "cpu"
    return getattr(importlib.import_module(f"fastdl.backends.{package}.{family}"), name)


def ref(name):
    return kernel("reference", name)


def both(name):
    return [kernel("reference", name), kernel("numba", name)]


def assert_close(actual, expected, tol, what=""):
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-30)
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale, err_msg=what)


def call(fn, args: dict) -> dict:
    """Call fn on a deep copy of args (in spec order); return the copy, outputs written."""
    args = copy.deepcopy(args)
    result = fn(*[args[a] for a in spec.BY_NAME[fn.__name__].args])
    assert result is None, f"{fn.__name__} returned {result!r}, expected None"
    return args


# -- Numba against the reference ----------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", NAMES)
def test_numba_matches_reference(name, dtype):
    k = spec.BY_NAME[name]
    dtype = np.dtype(dtype)
    for seed in SEEDS:
        args = k.sample(np.random.default_rng(seed), dtype)
        want = call(ref(name), args)
        got = call(kernel("numba", name), args)
        for a in k.args:
            if a in k.writes or not isinstance(args[a], np.ndarray):
                continue
            np.testing.assert_array_equal(want[a], args[a], err_msg=f"reference changed {a}")
            np.testing.assert_array_equal(got[a], args[a], err_msg=f"numba changed {a}")
        for w in k.writes:
            if args[w] is None:
                assert got[w] is None
                continue
            assert want[w].dtype == dtype and got[w].dtype == dtype
            # The samplers' inputs all give finite results; NaN left means unwritten.
            assert np.isfinite(want[w]).all(), f"reference left {w} unwritten (seed {seed})"
            assert_close(got[w], want[w], TOL[dtype], f"{name}.{w} seed {seed}")


@pytest.mark.parametrize("name", NAMES)
def test_numba_accepts_non_contiguous_inputs(name):
    k = spec.BY_NAME[name]
    args = k.sample(np.random.default_rng(100), np.dtype(np.float64))
    strided = dict(args)
    for a in k.args:
        value = args[a]
        if a not in k.writes and isinstance(value, np.ndarray) and value.ndim == 2:
            strided[a] = np.asfortranarray(value)
    want = call(ref(name), args)
    got = call(kernel("numba", name), strided)
    for w in k.writes:
        if args[w] is not None:
            assert_close(got[w], want[w], 1e-12, f"{name}.{w}")


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4), (1, 1)])
@pytest.mark.parametrize("act", spec.ACTIVATIONS)
def test_activation_any_shape(act, shape):
    rng = np.random.default_rng(3)
    x = 3 * rng.standard_normal(shape)
    g = rng.standard_normal(shape)
    outs = []
    for fwd, bwd in zip(both("act_forward"), both("act_backward")):
        y = np.full(shape, np.nan)
        gx = np.full(shape, np.nan)
        fwd(x, act, 0.01, y)
        bwd(y, g, act, 0.01, gx)
        outs.append((y, gx))
    assert_close(outs[1][0], outs[0][0], 1e-12)
    assert_close(outs[1][1], outs[0][1], 1e-12)


@pytest.mark.parametrize("shape", [(7,), (3, 1), (2, 3, 4)])
def test_binary_losses_any_shape(shape):
    rng = np.random.default_rng(4)
    p = rng.uniform(0.01, 0.99, shape)
    z = 4 * rng.standard_normal(shape)
    t = rng.uniform(0, 1, shape)
    g = rng.standard_normal(shape)
    for name, args in [
        ("bce", (p, t)),
        ("bce_backward", (p, t, g)),
        ("bce_with_logits", (z, t)),
        ("bce_with_logits_backward", (z, t, g)),
    ]:
        results = []
        for fn in both(name):
            out = np.full(shape, np.nan)
            fn(*args, out)
            results.append(out)
        assert_close(results[1], results[0], 1e-12, name)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize(
    "wanted", list(itertools.product((False, True), repeat=3)), ids=lambda w: str(w)
)
def test_linear_backward_skips_none(wanted, dtype):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 3)).astype(dtype)
    w = rng.standard_normal((2, 3)).astype(dtype)
    g = rng.standard_normal((4, 2)).astype(dtype)
    expected = (g @ w, g.T @ x, g.sum(axis=0))
    for fn in both("linear_backward"):
        grads = [np.full(e.shape, np.nan, dtype) if on else None for e, on in zip(expected, wanted)]
        fn(x, w, g, *grads)
        for grad, e in zip(grads, expected):
            if grad is not None:
                assert_close(grad, e, TOL[np.dtype(dtype)])


@pytest.mark.parametrize("act", spec.ACTIVATIONS)
def test_linear_act_without_bias(act):
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((5, 4)), rng.standard_normal((3, 4))
    results = []
    for fn in both("linear_act"):
        out = np.full((5, 3), np.nan)
        fn(x, w, None, act, 0.01, out)
        results.append(out)
    assert_close(results[1], results[0], 1e-12)
    assert_close(results[0], _act(x @ w.T, act), 1e-12)


# -- the reference against independent formulas ---------------------------------


def _act(x, act, slope=0.01):
    """Activations from the textbook formulas, float64, moderate |x| only."""
    if act == "relu":
        return np.where(x > 0, x, 0.0)
    if act == "leaky_relu":
        return np.where(x > 0, x, slope * x)
    if act == "sigmoid":
        return 0.5 * (1 + np.tanh(x / 2))
    return np.vectorize(math.tanh)(x)


def _softmax(x):
    e = np.exp(x)  # no max shift: the inputs here are moderate
    return e / e.sum(axis=1, keepdims=True)


def _sample64(name, seed):
    return spec.BY_NAME[name].sample(np.random.default_rng(seed), np.dtype(np.float64))


@pytest.mark.parametrize("seed", range(4))
def test_reference_forward_formulas(seed):
    a = call(ref("linear"), _sample64("linear", seed))
    b = 0 if a["bias"] is None else a["bias"]
    assert_close(a["out"], np.einsum("nk,mk->nm", a["x"], a["weight"]) + b, 1e-12)

    a = call(ref("linear_act"), _sample64("linear_act", seed))
    b = 0 if a["bias"] is None else a["bias"]
    assert_close(a["out"], _act(a["x"] @ a["weight"].T + b, a["act"]), 1e-12)

    for act in spec.ACTIVATIONS:
        args = _sample64("act_forward", seed) | {"act": act}
        a = call(ref("act_forward"), args)
        assert_close(a["out"], _act(a["x"], act), 1e-12, act)

    a = call(ref("softmax"), _sample64("softmax", seed))
    assert_close(a["out"], _softmax(a["x"]), 1e-12)
    a = call(ref("log_softmax"), _sample64("log_softmax", seed))
    assert_close(a["out"], np.log(_softmax(a["x"])), 1e-12)

    a = call(ref("cross_entropy"), _sample64("cross_entropy", seed))
    rows = np.arange(len(a["target"]))
    assert_close(a["probs"], _softmax(a["logits"]), 1e-12)
    assert_close(a["losses"], -np.log(_softmax(a["logits"])[rows, a["target"]]), 1e-12)

    a = call(ref("soft_cross_entropy"), _sample64("soft_cross_entropy", seed))
    log_p = np.log(_softmax(a["logits"]))
    assert_close(a["log_probs"], log_p, 1e-12)
    assert_close(a["losses"], -(a["target"] * log_p).sum(axis=1), 1e-12)

    a = call(ref("nll_loss"), _sample64("nll_loss", seed))
    expected = [-a["log_probs"][i, t] for i, t in enumerate(a["target"])]
    assert_close(a["losses"], np.array(expected), 0)

    a = call(ref("bce"), _sample64("bce", seed))
    p, t = a["p"].ravel()[1:], a["target"].ravel()[1:]  # element 0 is the clamp case
    assert_close(a["losses"].ravel()[1:], -(t * np.log(p) + (1 - t) * np.log1p(-p)), 1e-12)

    a = call(ref("bce_with_logits"), _sample64("bce_with_logits", seed))
    z, t = a["z"], a["target"]  # -log(sigmoid(z)) = log1p(exp(-z)), fine for moderate z
    assert_close(a["losses"], t * np.log1p(np.exp(-z)) + (1 - t) * np.log1p(np.exp(z)), 1e-12)


# -- the reference's backward kernels against central differences -----------------

H = 1e-6


def numerical_vjp(f, x, weights):
    """d/dx sum(weights * f(x)) by float64 central differences, element by element."""
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[idx] += H
        minus[idx] -= H
        grad[idx] = (np.sum(weights * f(plus)) - np.sum(weights * f(minus))) / (2 * H)
    return grad


def assert_grad(analytic, numeric, what=""):
    scale = max(float(np.max(np.abs(numeric))), 1.0)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-7 * scale, err_msg=what)


def forward(name, **args):
    """Run the reference forward kernel ``name``; return its first written output."""
    k = spec.BY_NAME[name]
    a = call(ref(name), args)
    return a[k.writes[0]]


@pytest.mark.parametrize("seed", range(3))
def test_reference_linear_backward_by_differences(seed):
    rng = np.random.default_rng(seed)
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((2, 4)), rng.standard_normal(2)
    g = rng.standard_normal((3, 2))
    gx, gw, gb = np.empty((3, 4)), np.empty((2, 4)), np.empty(2)
    ref("linear_backward")(x, w, g, gx, gw, gb)

    def lin(x_, w_, b_):
        return forward("linear", x=x_, weight=w_, bias=b_, out=np.empty((3, 2)))

    assert_grad(gx, numerical_vjp(lambda v: lin(v, w, b), x, g), "grad_x")
    assert_grad(gw, numerical_vjp(lambda v: lin(x, v, b), w, g), "grad_weight")
    assert_grad(gb, numerical_vjp(lambda v: lin(x, w, v), b, g), "grad_bias")


@pytest.mark.parametrize("act", spec.ACTIVATIONS)
def test_reference_act_backward_by_differences(act):
    rng = np.random.default_rng(7)
    x = 3 * rng.standard_normal((3, 5))
    x[np.abs(x) < 1e-3] = 0.5  # keep clear of the relu kink
    g = rng.standard_normal(x.shape)

    def f(v):
        return forward("act_forward", x=v, act=act, negative_slope=0.01, out=np.empty(v.shape))

    gx = np.empty(x.shape)
    ref("act_backward")(f(x), g, act, 0.01, gx)
    assert_grad(gx, numerical_vjp(f, x, g), act)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_reference_softmax_backward_by_differences(name):
    rng = np.random.default_rng(8)
    x = 3 * rng.standard_normal((3, 5))
    g = rng.standard_normal(x.shape)

    def f(v):
        return forward(name, x=v, out=np.empty(v.shape))

    gx = np.empty(x.shape)
    ref(name + "_backward")(f(x), g, gx)
    assert_grad(gx, numerical_vjp(f, x, g), name)


def test_reference_loss_backward_by_differences():
    rng = np.random.default_rng(9)
    n, c = 4, 5
    logits = 3 * rng.standard_normal((n, c))
    target = rng.integers(0, c, n)
    soft_target = rng.uniform(0, 1, (n, c))  # rows need not sum to 1
    g = rng.standard_normal(n)
    probs, log_probs, grad = np.empty((n, c)), np.empty((n, c)), np.empty((n, c))

    def ce(v):
        return forward(
            "cross_entropy", logits=v, target=target, losses=np.empty(n), probs=np.empty((n, c))
        )

    ref("cross_entropy")(logits, target, np.empty(n), probs)
    ref("cross_entropy_backward")(probs, target, g, grad)
    assert_grad(grad, numerical_vjp(ce, logits, g), "cross_entropy")

    def soft(v):
        return forward(
            "soft_cross_entropy",
            logits=v,
            target=soft_target,
            losses=np.empty(n),
            log_probs=np.empty((n, c)),
        )

    ref("soft_cross_entropy")(logits, soft_target, np.empty(n), log_probs)
    ref("soft_cross_entropy_backward")(log_probs, soft_target, g, grad)
    assert_grad(grad, numerical_vjp(soft, logits, g), "soft_cross_entropy")

    def nll(v):
        return forward("nll_loss", log_probs=v, target=target, losses=np.empty(n))

    ref("nll_loss_backward")(target, g, grad)
    assert_grad(grad, numerical_vjp(nll, log_probs, g), "nll_loss")


def test_reference_binary_loss_backward_by_differences():
    rng = np.random.default_rng(10)
    shape = (3, 4)
    p = rng.uniform(0.05, 0.95, shape)
    z = 4 * rng.standard_normal(shape)
    t = rng.uniform(0, 1, shape)
    g = rng.standard_normal(shape)
    grad = np.empty(shape)

    ref("bce_backward")(p, t, g, grad)
    f = lambda v: forward("bce", p=v, target=t, losses=np.empty(shape))  # noqa: E731
    assert_grad(grad, numerical_vjp(f, p, g), "bce")

    ref("bce_with_logits_backward")(z, t, g, grad)
    f = lambda v: forward("bce_with_logits", z=v, target=t, losses=np.empty(shape))  # noqa: E731
    assert_grad(grad, numerical_vjp(f, z, g), "bce_with_logits")


# -- stability, clamps and NaN on both backends --------------------------------------

BIG = 1e4
BACKENDS = ("reference", "numba")


def run(backend, name, *args):
    k = spec.BY_NAME[name]
    fn = kernel(backend, name)
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        fn(*args)
    return [args[k.args.index(w)] for w in k.writes]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("backend", BACKENDS)
def test_activations_stable_at_1e4(backend, dtype):
    x = np.array([[-BIG, -100.0, -1.0, 0.0, 1.0, 100.0, BIG]], dtype)
    g = np.ones_like(x)
    expected = {
        "relu": np.maximum(x, 0),
        "leaky_relu": np.where(x > 0, x, 0.01 * x),
        "sigmoid": np.array([[0, 0, 0.2689414213699951, 0.5, 0.7310585786300049, 1, 1]]),
        "tanh": np.array([[-1, -1, -0.7615941559557649, 0, 0.7615941559557649, 1, 1]]),
    }
    for act, want in expected.items():
        (y,) = run(backend, "act_forward", x, act, 0.01, np.empty_like(x))
        assert_close(y, want, TOL[np.dtype(dtype)], act)
        (gx,) = run(backend, "act_backward", y, g, act, 0.01, np.empty_like(x))
        assert np.isfinite(gx).all(), act
        if act in ("sigmoid", "tanh"):
            assert gx[0, 0] == 0 and gx[0, -1] == 0, act
    w = np.array([[1.0], [-1.0]], dtype)
    for act in spec.ACTIVATIONS:
        (out,) = run(backend, "linear_act", x.T.copy(), w, None, act, 0.01, np.empty((7, 2), dtype))
        assert np.isfinite(out).all(), act


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("backend", BACKENDS)
def test_softmax_family_stable_at_1e4(backend, dtype):
    x = np.array([[BIG, -BIG, 0.0], [-BIG, -BIG, -BIG], [BIG, BIG, -BIG]], dtype)
    g = np.array([[1.0, -2.0, 0.5]] * 3, dtype)
    tol = TOL[np.dtype(dtype)]
    (y,) = run(backend, "softmax", x, np.empty_like(x))
    assert_close(y, np.array([[1, 0, 0], [1 / 3] * 3, [0.5, 0.5, 0]]), tol)
    (gx,) = run(backend, "softmax_backward", y, g, np.empty_like(x))
    assert np.isfinite(gx).all()
    (ly,) = run(backend, "log_softmax", x, np.empty_like(x))
    log2, log3 = math.log(2), math.log(3)
    assert_close(
        ly, np.array([[0, -2 * BIG, -BIG], [-log3] * 3, [-log2, -log2, -2 * BIG - log2]]), tol
    )
    (gx,) = run(backend, "log_softmax_backward", ly, g, np.empty_like(x))
    assert np.isfinite(gx).all()

    target = np.array([1, 0, 2])
    losses, probs = run(backend, "cross_entropy", x, target, np.empty(3, dtype), np.empty_like(x))
    assert_close(losses, np.array([2 * BIG, log3, 2 * BIG + log2]), tol)
    assert_close(probs, y, tol)
    (gl,) = run(
        backend, "cross_entropy_backward", probs, target, np.ones(3, dtype), np.empty_like(x)
    )
    assert np.isfinite(gl).all()

    soft = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype)
    losses, log_probs = run(
        backend, "soft_cross_entropy", x, soft, np.empty(3, dtype), np.empty_like(x)
    )
    assert_close(losses, np.array([2 * BIG, log3, 2 * BIG + log2]), tol)
    (gl,) = run(
        backend, "soft_cross_entropy_backward", log_probs, soft, np.ones(3, dtype), np.empty_like(x)
    )
    assert np.isfinite(gl).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("backend", BACKENDS)
def test_binary_losses_stable_and_clamped(backend, dtype):
    tol = TOL[np.dtype(dtype)]
    z = np.array([BIG, BIG, -BIG, -BIG, 0.0], dtype)
    t = np.array([0.0, 1.0, 0.0, 1.0, 0.5], dtype)
    (losses,) = run(backend, "bce_with_logits", z, t, np.empty_like(z))
    assert_close(losses, np.array([BIG, 0, 0, BIG, math.log(2)]), tol)
    (gz,) = run(backend, "bce_with_logits_backward", z, t, np.ones_like(z), np.empty_like(z))
    assert_close(gz, np.array([1, 0, 0, -1, 0]), tol)

    p = np.array([0.0, 1.0, 0.0, 1.0, 0.5], dtype)
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0], dtype)
    (losses,) = run(backend, "bce", p, t, np.empty_like(p))
    assert_close(losses, np.array([100, 100, 0, 0, math.log(2)]), tol)
    (gp,) = run(backend, "bce_backward", p, t, np.ones_like(p), np.empty_like(p))
    assert_close(gp, np.array([-1e12, 1e12, 0, 0, -2]), tol)


def run_unchecked(backend, name, *args):
    k = spec.BY_NAME[name]
    kernel(backend, name)(*args)
    return [args[k.args.index(w)] for w in k.writes]


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_propagates(backend):
    x = np.array([[1.0, np.nan, -2.0], [0.5, -1.0, 2.0]])
    with np.errstate(invalid="ignore"):
        for act in spec.ACTIVATIONS:
            (y,) = run_unchecked(backend, "act_forward", x, act, 0.01, np.empty_like(x))
            assert np.isnan(y[0, 1]) and np.isfinite(np.delete(y.ravel(), 1)).all(), act
        for name in ("softmax", "log_softmax"):
            (y,) = run_unchecked(backend, name, x, np.empty_like(x))
            assert np.isnan(y[0]).all() and np.isfinite(y[1]).all(), name
        losses, _ = run_unchecked(
            backend, "cross_entropy", x, np.array([0, 1]), np.empty(2), np.empty_like(x)
        )
        assert np.isnan(losses[0]) and np.isfinite(losses[1])
        for name in ("bce", "bce_with_logits"):
            (losses,) = run_unchecked(
                backend, name, np.array([np.nan, 0.5]), np.array([1.0, 1.0]), np.empty(2)
            )
            assert np.isnan(losses[0]) and np.isfinite(losses[1]), name


@pytest.mark.parametrize("name", ["act_forward", "bce_with_logits"])
def test_numba_refuses_non_contiguous_elementwise_output(name):
    x = np.ones((3, 4))
    out = np.empty((4, 3)).T  # a transposed view: flattening it would write into a copy
    args = (x, "relu", 0.01, out) if name == "act_forward" else (x, x, out)
    with pytest.raises(ValueError, match="C-contiguous"):
        kernel("numba", name)(*args)


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_batch(backend):
    x = np.empty((0, 4))
    for name in ("softmax", "log_softmax"):
        kernel(backend, name)(x, np.empty((0, 4)))
    target = np.empty(0, np.int64)
    kernel(backend, "cross_entropy")(x, target, np.empty(0), np.empty((0, 4)))
    kernel(backend, "soft_cross_entropy")(x, x, np.empty(0), np.empty((0, 4)))
    grad_bias = np.full(3, np.nan)
    kernel(backend, "linear_backward")(x, np.ones((3, 4)), np.empty((0, 3)), None, None, grad_bias)
    np.testing.assert_array_equal(grad_bias, 0)
