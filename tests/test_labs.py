"""The labs (`fastdl lab`): each runs in --quick mode and shows its effect.

Every assertion is on a measured quantity that is not a wall-clock time (losses,
gradient norms, iteration counts, accuracies, variances), so a regression in the
library shows up here as a lab whose effect went missing. Each lab runs once per
session (the `lab` fixture caches its result); all are seeded.
"""

import math

import numpy as np
import pytest

from fastdl import labs
from fastdl.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    results = {}

    def get(name):
        if name not in results:
            out = tmp_path_factory.mktemp(name)
            results[name] = labs.run(name, quick=True, out=out, seed=0, verbose=False)
        return results[name]

    return get


@pytest.mark.parametrize("name", labs.names())
def test_every_lab_writes_a_figure_a_table_and_one_sentence(lab, name):
    result = lab(name)
    with open(result["figure"], "rb") as f:
        assert f.read(8) == PNG
    headers, rows = result["table"]
    assert rows and all(len(row) == len(headers) for row in rows)
    sentence = result["conclusion"]
    assert "\n" not in sentence and sentence.endswith(".")
    assert any(ch.isdigit() for ch in sentence)


def test_linear_collapse(lab):
    r = lab("linear-collapse")
    # The stack of Linears and its composed matrix give the same outputs...
    assert r["max_abs_diff"] < 1e-4
    assert r["same_predictions"] == 1.0
    assert r["composed_weight"].shape == (3, 2)
    # ...so depth buys nothing: no better than one Linear, far below the ReLU net.
    assert r["linear_accuracy"] < 0.7
    assert r["relu_accuracy"] > 0.9
    assert r["relu_accuracy"] - r["linear_accuracy"] > 0.3
    assert abs(r["linear_accuracy"] - r["single_linear_accuracy"]) < 0.1


def test_compose_matches_the_network_on_new_inputs():
    import fastdl
    from fastdl.autograd import no_grad
    from fastdl.labs.linear_collapse import compose, deep_net

    fastdl.manual_seed(3)
    net = deep_net(activation=False)
    x = np.random.default_rng(0).standard_normal((20, 2)).astype(np.float32)
    W, b = compose(net)
    with no_grad():
        expected = net(fastdl.from_numpy(x)).numpy()
    np.testing.assert_allclose(x @ W.T + b, expected, rtol=1e-4, atol=1e-5)


def test_vanishing_gradients(lab):
    r = lab("vanishing-gradients")
    first = r["first_layer_norm"]
    assert first["relu"] > 10 * first["sigmoid"]
    assert first["leaky_relu"] > 10 * first["sigmoid"]
    assert first["tanh"] > 10 * first["sigmoid"]
    sigmoid = r["grad_norms"]["sigmoid"]
    assert len(sigmoid) == 15
    assert sigmoid[-1] > 1e3 * sigmoid[0]  # shrinks on the way back to layer 1
    relu = r["grad_norms"]["relu"]
    assert 0.1 < relu[0] / relu[-1] < 10  # with ReLU (and He-like gain) it does not


def test_exploding_gradients(lab):
    r = lab("exploding-gradients")
    plain, clipped = (r["stats"][k] for k in r["stats"])
    assert clipped["finite"]
    assert clipped["final_loss"] < clipped["first_loss"]
    assert not plain["finite"] or plain["final_loss"] > 10 * clipped["final_loss"]
    assert plain["max_grad_norm"] > 1e3


def test_gd_sgd_minibatch(lab):
    r = lab("gd-sgd-minibatch")
    gd, sgd, mini = r["final_loss"]  # full batch, per sample, mini-batch
    updates = r["updates"]
    epochs = updates[gd]
    assert updates[sgd] == 1347 * epochs
    assert updates[mini] == math.ceil(1347 / 32) * epochs
    # Same epochs, same learning rate: more updates made more progress.
    assert r["final_loss"][mini] < r["final_loss"][gd] - 0.3
    assert r["final_loss"][sgd] < r["final_loss"][mini]


def test_momentum(lab):
    r = lab("momentum")
    steps = r["steps_to_target"]
    assert steps["Nesterov 0.9"] < steps["momentum 0.9"] < steps["SGD"]
    assert all(np.isfinite(v) for v in r["final_value"].values())


def test_optimizers(lab):
    r = lab("optimizers")
    best = r["best_loss"]
    for name in ("AdaGrad", "RMSprop", "Adam", "AdamW"):
        assert best[name] < best["SGD"] / 2, name
    assert r["test_accuracy"]["Adam"] > r["test_accuracy"]["SGD"]


def test_batch_size(lab):
    r = lab("batch-size")
    accuracy = r["test_accuracy"]
    sizes = sorted(accuracy)
    assert accuracy[sizes[0]] > accuracy[sizes[-1]] + 0.3  # same epochs, more updates
    assert all(v > 0 for v in r["seconds_per_epoch"].values())


def test_initialization(lab):
    r = lab("initialization")
    low, high = r["band"]
    relu, tanh = r["variances"]["relu"], r["variances"]["tanh"]
    assert all(low <= v <= high for v in relu["He (Kaiming)"])
    assert all(low <= v <= high for v in tanh["Xavier, gain 5/3"])
    assert relu["naive N(0, 1)"][-1] > 1e6  # explodes
    assert relu["small N(0, 0.01²)"][-1] < 1e-6  # vanishes
    assert tanh["small N(0, 0.01²)"][-1] < 1e-6
    assert relu["Xavier, gain 1"][-1] < 1e-3  # ReLU halves it per layer
    assert r["saturation"]["tanh"]["naive N(0, 1)"][-1] > 0.5


def test_dead_relu(lab):
    r = lab("dead-relu")
    frozen, dead = r["frozen_fraction"], r["dead_fraction"]
    normal, large, leaky = frozen
    assert frozen[large] > 0.5
    assert frozen[large] > frozen[normal] + 0.3
    assert frozen[leaky] == 0.0
    assert dead[leaky] < dead[large] - 0.2
    # Test accuracy is printed but not asserted: at lr 0.1 both runs are noisy, and the
    # 20% of ReLU units that survive can be enough for the digits.


def test_regularization(lab):
    stats = lab("regularization")["stats"]
    none = stats["none"]
    assert none["train_accuracy"] > 0.95
    for method, s in stats.items():
        if method == "none":
            continue
        assert s["accuracy_gap"] < none["accuracy_gap"], method
        assert s["loss_gap"] < none["loss_gap"], method


def test_normalization(lab):
    epochs = lab("normalization")["epochs_to_target"]
    assert epochs["BatchNorm1d"] < epochs["none"]
    assert epochs["LayerNorm"] < epochs["none"]


def test_residual(lab):
    r = lab("residual")
    assert r["first_to_last"]["residual"] > 1e3 * r["first_to_last"]["plain"]
    assert r["test_accuracy"]["residual"] > r["test_accuracy"]["plain"] + 0.2


def test_newton(lab):
    iterations = lab("newton")["iterations"]
    assert iterations["newton"] <= 10
    assert iterations["gd"] > 10 * iterations["newton"]


def test_curse_of_dimensionality(lab):
    r = lab("curse-of-dimensionality")
    for key in ("contrast", "per_query_contrast", "relative_spread"):
        values = [r[key][d] for d in r["dims"]]
        assert all(a > b for a, b in zip(values, values[1:])), key
    assert r["contrast"][r["dims"][-1]] < 0.01 * r["contrast"][r["dims"][0]]


def test_same_seed_same_numbers(tmp_path):
    a = labs.run("momentum", quick=True, out=tmp_path, seed=1, verbose=False)
    b = labs.run("momentum", quick=True, out=tmp_path, seed=1, verbose=False)
    assert a["steps_to_target"] == b["steps_to_target"]
    assert a["final_value"] == b["final_value"]


def test_cli_runs_a_lab(tmp_path, capsys):
    assert main(["lab", "curse-of-dimensionality", "--quick", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("lab curse-of-dimensionality:")
    assert lines[-1].startswith("From d=2 to d=1000") and lines[-1].endswith(".")
    assert (tmp_path / "curse-of-dimensionality.png").read_bytes()[:8] == PNG


def test_cli_lab_list(capsys):
    assert main(["lab", "list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == labs.names()
    assert len(labs.names()) == 14


def test_cli_unknown_lab_is_a_one_line_usage_error(capsys):
    assert main(["lab", "no-such-lab"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1
    assert "no-such-lab" in err and "linear-collapse" in err
    assert captured.out == ""


def test_unknown_lab_from_python():
    with pytest.raises(ValueError, match="unknown lab"):
        labs.run("no-such-lab")
