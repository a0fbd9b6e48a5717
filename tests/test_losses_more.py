"""Cross-entropy and NLL with weight / ignore_index / label_smoothing / K-dim inputs, BCE
weights, the other losses, the distances, one_hot and Embedding.from_pretrained: values
against NumPy formulas, gradients by float64 finite differences on the CPU backends,
one CUDA (simulator) run against the CPU, bad input refused by name."""

import math

import numpy as np
import pytest
from _tolerance import assert_close
from test_double_backward import _grad_dot

import fastdl
import fastdl.nn.functional as F
from fastdl import nn
from fastdl.autograd import gradcheck

RNG = np.random.default_rng(0)
X = RNG.standard_normal((5, 4)) * 2
Y = RNG.standard_normal((5, 4))
Z = RNG.standard_normal((5, 4))
LABELS = np.array([0, 3, -100, 2, 1])
CLASS_WEIGHT = np.array([0.5, 2.0, 1.0, 1.5])
XK = RNG.standard_normal((2, 4, 3))
LABELS_K = np.array([[1, 0, -100], [3, 3, 2]])


def _log_softmax(x, axis):
    return (
        x
        - np.log(np.exp(x - x.max(axis, keepdims=True)).sum(axis, keepdims=True))
        - x.max(axis, keepdims=True)
    )


def _reduce(losses, reduction, denominator=None):
    if reduction == "none":
        return losses
    total = losses.sum()
    return (
        total / (losses.size if denominator is None else denominator)
        if reduction == "mean"
        else total
    )


def _np_cross_entropy(x, t, weight, reduction, smoothing, ignore=-100):
    """PyTorch's cross-entropy on class indices, written out on rows (N, C)."""
    c = x.shape[1]
    lp = _log_softmax(x, 1)
    w = np.ones(c) if weight is None else weight
    keep = t != ignore
    clean = np.where(keep, t, 0)
    row_w = w[clean] * keep
    nll = -lp[np.arange(len(t)), clean] * row_w
    smooth = -(lp * w).sum(1) * keep
    per = (1 - smoothing) * nll + smoothing / c * smooth
    return _reduce(per, reduction, row_w.sum())


def _tensor(a, grad=True):
    return fastdl.tensor(a, requires_grad=grad and a.dtype.kind == "f")


@pytest.mark.parametrize("backend", ["numba", "reference"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_matches_numpy(backend, reduction, weighted, smoothing):
    weight = CLASS_WEIGHT if weighted else None
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    if weighted:
        kw["weight"] = fastdl.tensor(weight)
    with fastdl.use_backend(backend):
        got = F.cross_entropy(fastdl.tensor(X), fastdl.tensor(LABELS), **kw)
        got_k = F.cross_entropy(fastdl.tensor(XK), fastdl.tensor(LABELS_K), **kw)
    assert_close(got.numpy(), _np_cross_entropy(X, LABELS, weight, reduction, smoothing))
    rows, labels = np.moveaxis(XK, 1, -1).reshape(-1, 4), LABELS_K.reshape(-1)
    expected = _np_cross_entropy(rows, labels, weight, reduction, smoothing)
    assert_close(got_k.numpy(), expected.reshape(2, 3) if reduction == "none" else expected)


@pytest.mark.parametrize("backend", ["numba", "reference"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_probability_targets_and_nll(backend, reduction):
    probs = RNG.dirichlet(np.ones(4), 5)
    smoothed = probs * 0.9 + 0.1 / 4
    with fastdl.use_backend(backend):
        got = F.cross_entropy(
            fastdl.tensor(X),
            fastdl.tensor(probs),
            weight=fastdl.tensor(CLASS_WEIGHT),
            reduction=reduction,
            label_smoothing=0.1,
        )
        nll = F.nll_loss(
            fastdl.tensor(X),
            fastdl.tensor(LABELS),
            fastdl.tensor(CLASS_WEIGHT),
            reduction=reduction,
        )
    per = -(_log_softmax(X, 1) * smoothed * CLASS_WEIGHT).sum(1)
    assert_close(got.numpy(), _reduce(per, reduction, 5))
    keep = LABELS != -100
    clean = np.where(keep, LABELS, 0)
    row_w = CLASS_WEIGHT[clean] * keep
    assert_close(nll.numpy(), _reduce(-X[np.arange(5), clean] * row_w, reduction, row_w.sum()))


@pytest.mark.parametrize("backend", ["numba", "reference"])
def test_class_losses_gradcheck(backend):
    w = fastdl.tensor(CLASS_WEIGHT)
    t, tk = fastdl.tensor(LABELS), fastdl.tensor(LABELS_K)
    probs = fastdl.tensor(RNG.dirichlet(np.ones(4), 5))
    with fastdl.use_backend(backend):
        for fn in (
            lambda x: F.cross_entropy(x, t, weight=w, label_smoothing=0.3),
            lambda x: F.cross_entropy(x, t, reduction="none"),
            lambda x: F.cross_entropy(x, probs, weight=w, label_smoothing=0.3),
            lambda x: F.nll_loss(x, t, weight=w, reduction="sum"),
            lambda x: F.multi_margin_loss(x, fastdl.tensor([0, 3, 1, 2, 1]), p=2, weight=w),
        ):
            assert gradcheck(fn, [_tensor(X)])
        assert gradcheck(lambda x: F.cross_entropy(x, tk, weight=w), [_tensor(XK)])


def test_cross_entropy_double_backward():
    w, t = fastdl.tensor(CLASS_WEIGHT), fastdl.tensor(LABELS)
    v = fastdl.tensor(RNG.standard_normal(X.shape))
    fn = _grad_dot(lambda x: F.cross_entropy(x, t, weight=w, label_smoothing=0.2), 1, [v])
    assert gradcheck(fn, [_tensor(X)])


@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_all_targets_ignored_gives_nan_mean():
    assert math.isnan(F.cross_entropy(fastdl.tensor(X[:1]), fastdl.tensor([-100])).item())
    assert F.cross_entropy(fastdl.tensor(X[:1]), fastdl.tensor([-100]), reduction="sum").item() == 0


def test_unweighted_cross_entropy_is_the_fused_kernel():
    t = fastdl.tensor(np.array([0, 3, 1, 2, 1]))
    loss = F.cross_entropy(_tensor(X), t)
    assert repr(loss.grad_fn) == "<CrossEntropyBackward>"
    assert_close(loss.detach().numpy(), _np_cross_entropy(X, t.numpy(), None, "mean", 0.0))


def _bce(p, t):
    return -(t * np.maximum(np.log(p), -100) + (1 - t) * np.maximum(np.log(1 - p), -100))


# name -> (fastdl call on tensors, NumPy formula of the per-element losses, inputs)
P = RNG.uniform(0.05, 0.95, (5, 4))
T01 = RNG.uniform(0, 1, (5, 4))
SIGNS = np.array([1.0, -1.0, 1.0, -1.0, -1.0])
POS_WEIGHT = np.array([1.0, 3.0, 0.5, 2.0])


def _stirling(t):
    safe = np.where(t > 1, t, 2.0)
    return np.where(t > 1, safe * np.log(safe) - safe + 0.5 * np.log(2 * np.pi * safe), 0.0)


def _cos(a, b):
    return (a * b).sum(-1) / np.sqrt(((a * a).sum(-1) + 1e-12) * ((b * b).sum(-1) + 1e-12))


def _dist(a, b, p):
    return (np.abs(a - b + 1e-6) ** p).sum(-1) ** (1 / p)


def _multi_margin(x, y, p, margin, w):
    picked = x[np.arange(len(y)), y][:, None]
    h = np.maximum(margin - picked + x, 0) ** p
    h[np.arange(len(y)), y] = 0
    return h.sum(1) * w[y] / x.shape[1]


LABELS_OK = np.array([0, 3, 1, 2, 1])
VAR = RNG.uniform(0.1, 2.0, (5, 4))
COUNTS = RNG.poisson(3, (5, 4)).astype(np.float64)
CASES = {
    "bce_weight": (
        lambda a, r: F.binary_cross_entropy(a[0], a[1], fastdl.tensor(CLASS_WEIGHT), reduction=r),
        lambda: _bce(P, T01) * CLASS_WEIGHT,
        (P, T01),
    ),
    "bce_logits_pos_weight": (
        lambda a, r: F.binary_cross_entropy_with_logits(
            a[0], a[1], fastdl.tensor(CLASS_WEIGHT), reduction=r,
            pos_weight=fastdl.tensor(POS_WEIGHT),
        ),
        lambda: CLASS_WEIGHT
        * ((1 - T01) * X + (1 + (POS_WEIGHT - 1) * T01) * np.logaddexp(0, -X)),
        (X, T01),
    ),
    "smooth_l1": (
        lambda a, r: F.smooth_l1_loss(a[0], a[1], reduction=r, beta=0.7),
        lambda: np.where(np.abs(X - Y) < 0.7, 0.5 * (X - Y) ** 2 / 0.7, np.abs(X - Y) - 0.35),
        (X, Y),
    ),
    "huber": (
        lambda a, r: F.huber_loss(a[0], a[1], reduction=r, delta=1.5),
        lambda: np.where(np.abs(X - Y) <= 1.5, 0.5 * (X - Y) ** 2, 1.5 * (np.abs(X - Y) - 0.75)),
        (X, Y),
    ),
    "kl_div": (
        lambda a, r: F.kl_div(a[0], a[1], reduction=r),
        lambda: np.where(T01 > 0, T01 * (np.log(T01) - X), 0.0),
        (X, T01),
    ),
    "kl_div_log_target": (
        lambda a, r: F.kl_div(a[0], a[1], reduction=r, log_target=True),
        lambda: np.exp(Y) * (Y - X),
        (X, Y),
    ),
    "poisson_nll": (
        lambda a, r: F.poisson_nll_loss(a[0], a[1], reduction=r),
        lambda: np.exp(X) - COUNTS * X,
        (X, COUNTS),
    ),
    "poisson_nll_full": (
        lambda a, r: F.poisson_nll_loss(a[0], a[1], log_input=False, full=True, reduction=r),
        lambda: P - COUNTS * np.log(P + 1e-8) + _stirling(COUNTS),
        (P, COUNTS),
    ),
    "gaussian_nll": (
        lambda a, r: F.gaussian_nll_loss(a[0], a[1], a[2], full=True, reduction=r),
        lambda: 0.5 * (np.log(VAR) + (X - Y) ** 2 / VAR) + 0.5 * np.log(2 * np.pi),
        (X, Y, VAR),
    ),
    "cosine_embedding": (
        lambda a, r: F.cosine_embedding_loss(a[0], a[1], fastdl.tensor(SIGNS), 0.1, reduction=r),
        lambda: np.where(SIGNS == 1, 1 - _cos(X, Y), np.maximum(_cos(X, Y) - 0.1, 0)),
        (X, Y),
    ),
    "margin_ranking": (
        lambda a, r: F.margin_ranking_loss(a[0], a[1], fastdl.tensor(SIGNS), 0.3, reduction=r),
        lambda: np.maximum(-SIGNS * (X[:, 0] - Y[:, 0]) + 0.3, 0),
        (X[:, 0].copy(), Y[:, 0].copy()),
    ),
    "triplet_swap": (
        lambda a, r: F.triplet_margin_loss(a[0], a[1], a[2], 2.0, p=3, swap=True, reduction=r),
        lambda: np.maximum(
            _dist(X, Y, 3) - np.minimum(_dist(X, Z, 3), _dist(Y, Z, 3)) + 2.0, 0
        ),
        (X, Y, Z),
    ),
    "multi_margin": (
        lambda a, r: F.multi_margin_loss(
            a[0], fastdl.tensor(LABELS_OK), p=2, margin=0.8,
            weight=fastdl.tensor(CLASS_WEIGHT), reduction=r,
        ),
        lambda: _multi_margin(X, LABELS_OK, 2, 0.8, CLASS_WEIGHT),
        (X,),
    ),
}  # fmt: skip
# The target-like arguments that take no gradient (as PyTorch's kernels).
NO_TARGET_GRAD = {"bce_weight", "bce_logits_pos_weight", "poisson_nll", "poisson_nll_full"}


@pytest.mark.parametrize("backend", ["numba", "reference"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_loss_values_match_numpy(name, reduction, backend):
    call, formula, inputs = CASES[name]
    with fastdl.use_backend(backend):
        got = call([fastdl.tensor(a) for a in inputs], reduction).numpy()
    assert_close(got, _reduce(formula(), reduction))


@pytest.mark.parametrize("backend", ["numba", "reference"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_loss_gradcheck(name, backend):
    call, _, inputs = CASES[name]
    tensors = [_tensor(a, i == 0 or name not in NO_TARGET_GRAD) for i, a in enumerate(inputs)]
    with fastdl.use_backend(backend):
        assert gradcheck(lambda *a: call(a, "sum"), tensors)


def test_kl_div_batchmean_divides_by_the_batch():
    got = F.kl_div(fastdl.tensor(X), fastdl.tensor(T01), reduction="batchmean")
    assert_close(got.numpy(), np.where(T01 > 0, T01 * (np.log(T01) - X), 0).sum() / 5)


def test_distances_and_normalize_match_numpy():
    a, b = _tensor(X), _tensor(Y)
    n1 = np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-8)
    n2 = np.maximum(np.linalg.norm(Y, axis=1, keepdims=True), 1e-8)
    assert_close(F.cosine_similarity(a, b).detach().numpy(), ((X / n1) * (Y / n2)).sum(1))
    assert_close(F.pairwise_distance(a, b, p=3.0).detach().numpy(), _dist(X, Y, 3))
    assert F.pairwise_distance(a, b, keepdim=True).shape == (5, 1)
    norm0 = np.abs(X).sum(0, keepdims=True)
    assert_close(F.normalize(a, p=1.0, dim=0).detach().numpy(), X / norm0)
    for fn in (
        lambda u, v: F.cosine_similarity(u, v, dim=0),
        lambda u, v: F.pairwise_distance(u, v, p=1.5),
        lambda u, v: F.normalize(u * v, dim=-1),
    ):
        assert gradcheck(fn, [_tensor(X), _tensor(Y)])
    broadcast = F.cosine_similarity(fastdl.tensor(X[:, None]), fastdl.tensor(Y[None]), dim=-1)
    assert broadcast.shape == (5, 5)
    assert_close(broadcast.numpy()[1, 2], _cos(X[1], Y[2]))


def test_zero_vectors_give_finite_gradients():
    a = fastdl.zeros(2, 3, dtype=fastdl.float64, requires_grad=True)
    (F.cosine_similarity(a, fastdl.tensor(Y[:2, :3])).sum() + F.normalize(a).sum()).backward()
    assert np.isfinite(a.grad.numpy()).all()


def test_one_hot():
    got = F.one_hot(fastdl.tensor([[0, 2], [1, 1]]))
    assert got.dtype == fastdl.int64
    np.testing.assert_array_equal(got.numpy(), np.eye(3, dtype=np.int64)[[[0, 2], [1, 1]]])
    assert F.one_hot(fastdl.tensor([1]), num_classes=4).shape == (1, 4)
    with pytest.raises(ValueError, match="num_classes"):
        F.one_hot(fastdl.tensor([4]), 3)
    with pytest.raises(TypeError, match="int64"):
        F.one_hot(fastdl.tensor([1.0]))


def test_embedding_padding_max_norm_and_from_pretrained():
    table = fastdl.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 10.0]])
    frozen = nn.Embedding.from_pretrained(table)
    assert not frozen.weight.requires_grad
    assert_close(frozen(fastdl.tensor([2, 0])).numpy(), np.array([[0, 10], [3, 4]], np.float32))
    emb = nn.Embedding.from_pretrained(table.clone(), freeze=False, padding_idx=1, max_norm=2.0)
    assert emb.weight.requires_grad and emb.padding_idx == 1
    out = emb(fastdl.tensor([2, 0, 1]))
    expected = np.array([[0, 2], [1.2, 1.6], [1, 0]], np.float32)
    assert_close(out.detach().numpy(), expected, np.float32, kind="grad")  # 1e-7 in the scale
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy()[1], [0.0, 0.0])
    weight = fastdl.tensor(RNG.standard_normal((4, 3)), requires_grad=True)
    idx = fastdl.tensor([[0, 2], [2, 3]])
    assert gradcheck(lambda w: F.embedding(idx, w), [weight])
    fresh = weight.detach().clone().requires_grad_()
    F.embedding(idx, fresh, padding_idx=2).sum().backward()
    np.testing.assert_array_equal(fresh.grad.numpy(), [[1, 1, 1], [0, 0, 0], [0, 0, 0], [1, 1, 1]])
    with pytest.raises(ValueError, match="2-dimensional"):
        nn.Embedding.from_pretrained(fastdl.ones(3))


def test_loss_modules_carry_arguments_and_buffers():
    w = fastdl.tensor(CLASS_WEIGHT)
    ce = nn.CrossEntropyLoss(weight=w, ignore_index=3, label_smoothing=0.1, reduction="sum")
    assert list(ce.state_dict()) == ["weight"]
    assert list(nn.CrossEntropyLoss().state_dict()) == []
    got = ce(fastdl.tensor(X), fastdl.tensor(LABELS_OK))
    assert_close(got.numpy(), _np_cross_entropy(X, LABELS_OK, CLASS_WEIGHT, "sum", 0.1, 3))
    assert nn.NLLLoss(reduce=False)(fastdl.tensor(X), fastdl.tensor(LABELS_OK)).shape == (5,)
    assert list(nn.BCEWithLogitsLoss(pos_weight=w).state_dict()) == ["pos_weight"]
    x, y = fastdl.tensor(X), fastdl.tensor(Y)
    for module, call in [
        (nn.SmoothL1Loss(beta=0.5), lambda: F.smooth_l1_loss(x, y, beta=0.5)),
        (nn.HuberLoss(delta=2.0), lambda: F.huber_loss(x, y, delta=2.0)),
        (nn.KLDivLoss(reduction="batchmean", log_target=True),
         lambda: F.kl_div(x, y, reduction="batchmean", log_target=True)),
    ]:  # fmt: skip
        assert_close(module(x, y).numpy(), call().numpy())
    assert nn.KLDivLoss(reduction="batchmean").reduction == "batchmean"
    triplet = nn.TripletMarginLoss(margin=0.5, p=1.0, swap=True)
    expected = F.triplet_margin_loss(x, y, fastdl.tensor(Z), 0.5, 1.0, swap=True)
    assert_close(triplet(x, y, fastdl.tensor(Z)).numpy(), expected.numpy())
    assert nn.GaussianNLLLoss(full=True)(x, y, fastdl.tensor(VAR[:, 0])).shape == ()
    assert nn.MultiMarginLoss(weight=w)(x, fastdl.tensor(LABELS_OK)).shape == ()
    assert nn.CosineEmbeddingLoss(0.2)(x, y, fastdl.tensor(SIGNS)).shape == ()
    assert nn.MarginRankingLoss(0.2, reduction="none")(
        x[:, 0], y[:, 0], fastdl.tensor(SIGNS)
    ).shape == (5,)
    assert nn.PoissonNLLLoss(full=True)(x, fastdl.tensor(COUNTS)).shape == ()


def test_cuda_matches_cpu():
    pytest.importorskip("numba.cuda")
    x = X[:3].astype(np.float32)
    cases = [
        lambda a, t, w: F.cross_entropy(a, t, weight=w, label_smoothing=0.2),
        lambda a, t, w: F.nll_loss(a, t, reduction="none"),
        lambda a, t, w: F.binary_cross_entropy_with_logits(a, a.detach().sigmoid(), pos_weight=w),
        lambda a, t, w: F.smooth_l1_loss(a, a.detach() * 0.5),
    ]
    labels, w = fastdl.tensor([0, -100, 2]), fastdl.tensor(CLASS_WEIGHT.astype(np.float32))
    for i, fn in enumerate(cases):
        host = fastdl.tensor(x, requires_grad=True)
        expected = fn(host, labels, w)
        expected.sum().backward()
        device = fastdl.tensor(x).to("cuda").requires_grad_()
        out = fn(device, labels.to("cuda"), w.to("cuda"))
        out.sum().backward()
        assert_close(out.detach().cpu().numpy(), expected.detach().numpy(), where=str(i))
        assert_close(device.grad.cpu().numpy(), host.grad.numpy(), kind="grad", where=str(i))


def test_bad_input_is_refused_by_name():
    x, t = fastdl.tensor(X), fastdl.tensor(LABELS_OK)
    with pytest.raises(ValueError, match=r"weight .*4 classes.*\(3,\)"):
        F.cross_entropy(x, t, weight=fastdl.ones(3, dtype=fastdl.float64))
    with pytest.raises(IndexError, match="target 7 is out of bounds"):
        F.cross_entropy(x, fastdl.tensor([0, 1, 7, 2, 1]))
    with pytest.raises(IndexError, match="target -3"):
        F.nll_loss(x, fastdl.tensor([0, 1, -3, 2, 1]), ignore_index=-1)
    with pytest.raises(ValueError, match=r"\(5,\).*got \(4,\)"):
        F.cross_entropy(x, fastdl.tensor([0, 1, 2, 1]))
    with pytest.raises(ValueError, match=r"\(2, 3\).*got \(2, 4\)"):
        F.cross_entropy(fastdl.tensor(XK), fastdl.tensor(np.zeros((2, 4), np.int64)))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, t, label_smoothing=1.5)
    with pytest.raises(TypeError, match="int64"):
        F.nll_loss(x, fastdl.tensor([0.0, 1.0, 2.0, 1.0, 0.0]))
    with pytest.raises(ValueError, match=r"pos_weight of shape \(3,\)"):
        F.binary_cross_entropy_with_logits(x, fastdl.tensor(T01), pos_weight=fastdl.ones(3))
    with pytest.raises(ValueError, match=r"target shape \(5,\) must match input shape \(5, 4\)"):
        F.smooth_l1_loss(x, fastdl.tensor(Y[:, 0]))
    with pytest.raises(ValueError, match="reduction"):
        F.kl_div(x, x, reduction="average")
    with pytest.raises(ValueError, match="var"):
        F.gaussian_nll_loss(x, x, fastdl.ones(5, 3, dtype=fastdl.float64))
    with pytest.raises(ValueError, match="margin"):
        F.triplet_margin_loss(x, x, x, margin=0.0)
    with pytest.raises(ValueError, match="p == 1"):
        F.multi_margin_loss(x, t, p=3)
    with pytest.raises(ValueError, match=r"target shape \(4,\)"):
        F.margin_ranking_loss(x[:, 0], x[:, 0], fastdl.ones(4))


TORCH_BCE = {
    "bce_weight": "binary_cross_entropy",
    "bce_logits_pos_weight": "binary_cross_entropy_with_logits",
}


def test_matches_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    w = torch.tensor(CLASS_WEIGHT)
    for reduction in ("mean", "sum", "none"):
        for smoothing in (0.0, 0.2):
            ours = F.cross_entropy(fastdl.tensor(XK), fastdl.tensor(LABELS_K), weight=fastdl.tensor(
                CLASS_WEIGHT), reduction=reduction, label_smoothing=smoothing)  # fmt: skip
            theirs = tf.cross_entropy(torch.tensor(XK), torch.tensor(LABELS_K), weight=w,
                                      reduction=reduction, label_smoothing=smoothing)  # fmt: skip
            np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12, atol=1e-12)
        for name, (call, _, inputs) in CASES.items():
            torch_name = TORCH_BCE.get(name)
            if torch_name is None:
                continue
            kw = {"weight": w, "reduction": reduction}
            if name == "bce_logits_pos_weight":
                kw["pos_weight"] = torch.tensor(POS_WEIGHT)
            theirs = getattr(tf, torch_name)(*[torch.tensor(a) for a in inputs], **kw)
            ours = call([fastdl.tensor(a) for a in inputs], reduction)
            np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12, atol=1e-12)
