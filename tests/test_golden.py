"""Whole models on each fast backend against the reference backend, from the same weights.

For each small model (an MLP; a LeNet-style stem of conv, batch norm and pooling feeding
a ResNet BasicBlock; an LSTM classifier; an Embedding + LayerNorm model) and each dtype, one
training step runs under the reference backend and under each fast backend ("numba" on
the CPU, "cuda" on a GPU or the CUDA simulator): forward, cross-entropy, backward, one
Adam step. The logits, the loss, every named parameter's gradient and the state after
the step (parameters and buffers) are compared with the dtype-tied tolerances of
``_tolerance``. A failure lists every tensor's largest absolute and relative difference,
worst first, so a regression points at its layer.

A kernel missing on a backend fails here (the registry's stand-in raises when called),
and so does a CUDA backend that cannot load; nothing is skipped. Shapes stay tiny: the
simulator runs a Python thread per CUDA thread.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from _tolerance import GRAD, VALUE

import fastdl
from fastdl import backends, models, nn, optim

DTYPES = (np.float32, np.float64)
FAST_BACKENDS = ("numba", "cuda")
BATCH = 3
CLASSES = 4


class EmbeddingClassifier(nn.Module):
    """Tokens ``(N, L)`` -> Embedding -> LayerNorm -> Flatten -> Linear logits."""

    def __init__(self, vocab: int = 7, dim: int = 5, steps: int = 2) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.norm = nn.LayerNorm(dim)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(steps * dim, CLASSES)

    def forward(self, tokens: fastdl.Tensor) -> fastdl.Tensor:
        return self.fc(self.flatten(self.norm(self.embedding(tokens))))


def _cnn() -> nn.Module:
    """LeNet-style stem (conv, batch norm, max pool) into a ResNet BasicBlock whose
    channel change and stride give it the 1x1-conv shortcut, then average pooling."""
    return nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1, bias=False),  # a bias before batch norm has zero grad
        nn.BatchNorm2d(2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.BasicBlock(2, 3, stride=2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(3, CLASSES),
    )


def _floats(shape: tuple[int, ...]) -> Callable[[np.random.Generator], np.ndarray]:
    return lambda rng: rng.standard_normal(shape)


@dataclass(frozen=True)
class Case:
    build: Callable[[], nn.Module]
    inputs: Callable[[np.random.Generator], np.ndarray]  # float64 or int64


CASES = {
    "mlp": Case(lambda: models.mlp(6, (8,), CLASSES, dropout=0.0), _floats((BATCH, 6))),
    "cnn_resnet_block": Case(_cnn, _floats((BATCH, 1, 4, 4))),
    "lstm": Case(lambda: models.lstm_classifier(3, 4, CLASSES), _floats((BATCH, 3, 3))),
    "embedding_layernorm": Case(
        EmbeddingClassifier, lambda rng: rng.integers(0, 7, size=(BATCH, 2))
    ),
}


@functools.cache
def _weights_and_data(case_name: str) -> tuple[dict, np.ndarray, np.ndarray]:
    """The seeded float64 weights, inputs and targets every run of a case starts from."""
    fastdl.manual_seed(0)
    model = CASES[case_name].build().to(fastdl.float64)
    rng = np.random.default_rng(1)
    x = CASES[case_name].inputs(rng)
    y = rng.integers(0, CLASSES, size=BATCH)
    return model.state_dict(), x, y


def _host(t: fastdl.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def _step(case_name: str, dtype: type, device: str) -> dict[str, np.ndarray]:
    """One training step on the current CPU backend (or on ``device="cuda"``); returns
    the logits, the loss, every gradient and the state after an Adam step, by name."""
    weights, x, y = _weights_and_data(case_name)
    model = CASES[case_name].build().to(dtype)
    model.load_state_dict(weights)
    model.to(device)
    inputs = fastdl.tensor(x.astype(dtype) if x.dtype.kind == "f" else x).to(device)
    targets = fastdl.tensor(y).to(device)
    optimizer = optim.Adam(model.parameters(), lr=0.01)

    logits = model(inputs)
    loss = nn.CrossEntropyLoss()(logits, targets)
    optimizer.zero_grad()
    loss.backward()
    results = {"logits": _host(logits), "loss": _host(loss)}
    for name, param in model.named_parameters():
        assert param.grad is not None, f"{name} got no gradient"
        assert param.grad.device == param.device, name
        results[f"grad {name}"] = _host(param.grad)
    optimizer.step()
    for name, array in model.state_dict().items():
        results[f"after adam {name}"] = _host(array)
    return results


@functools.cache
def _reference(case_name: str, dtype: type) -> dict[str, np.ndarray]:
    with fastdl.use_backend("reference"):
        return _step(case_name, dtype, "cpu")


def _run(case_name: str, dtype: type, backend: str) -> dict[str, np.ndarray]:
    if backend == "cuda":
        return _step(case_name, dtype, "cuda")
    with fastdl.use_backend(backend):
        assert backends.for_device("cpu").name == backend
        return _step(case_name, dtype, "cpu")


def _tolerance(name: str, dtype: type) -> dict:
    """Gradients and what they feed (Adam's update) get the gradient tolerance."""
    table = VALUE if name in ("logits", "loss") else GRAD
    return table[np.dtype(dtype)]


def differences(
    actual: dict[str, np.ndarray], expected: dict[str, np.ndarray], dtype: type
) -> tuple[bool, str]:
    """Whether every tensor of ``actual`` is within tolerance of ``expected``, and a
    report: per tensor, the largest absolute and relative difference and how far that
    is past the tolerance (``|a - e| / (atol + rtol |e|)``, above 1 fails), worst first.
    """
    assert actual.keys() == expected.keys(), (sorted(actual), sorted(expected))
    rows = []
    for name, want in expected.items():
        got = np.asarray(actual[name], dtype=np.float64)
        want = np.asarray(want, dtype=np.float64)
        assert got.shape == want.shape, f"{name}: shape {got.shape}, expected {want.shape}"
        tol = _tolerance(name, dtype)
        error = np.abs(got - want)
        error = np.where(np.isnan(got) != np.isnan(want), np.inf, np.nan_to_num(error))
        relative = error / np.maximum(np.abs(want), np.finfo(np.float64).tiny)
        ratio = error / (tol["atol"] + tol["rtol"] * np.abs(want))
        rows.append((float(ratio.max(initial=0.0)), name, error.max(initial=0.0), relative))
    rows.sort(key=lambda row: row[0], reverse=True)
    lines = [
        f"{'FAIL' if ratio > 1 else 'ok  '} {name:<40} max abs {abs_:.3e}  "
        f"max rel {rel.max(initial=0.0):.3e}  ({ratio:.3g}x tolerance)"
        for ratio, name, abs_, rel in rows
    ]
    return rows[0][0] <= 1, "\n".join(lines)


@pytest.mark.parametrize("backend", FAST_BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case_name", list(CASES))
def test_model_step_matches_reference(case_name, dtype, backend):
    expected = _reference(case_name, dtype)
    actual = _run(case_name, dtype, backend)
    ok, report = differences(actual, expected, dtype)
    assert ok, f"{case_name} on {backend} ({np.dtype(dtype).name}) vs reference:\n{report}"


def test_report_names_the_worst_tensor_first():
    expected = {
        "logits": np.zeros(3),
        "grad a.weight": np.ones(2),
        "grad b.bias": np.full(2, 2.0),
    }
    actual = {
        "logits": np.zeros(3),
        "grad a.weight": np.array([1.0, 1.5]),
        "grad b.bias": np.array([2.0, 2.0 + 1e-3]),
    }
    ok, report = differences(actual, expected, np.float32)
    lines = report.splitlines()
    assert not ok
    assert lines[0].startswith("FAIL grad a.weight") and "max abs 5.000e-01" in lines[0]
    assert "max rel 5.000e-01" in lines[0]
    assert lines[1].startswith("FAIL grad b.bias") and lines[2].startswith("ok   logits")
