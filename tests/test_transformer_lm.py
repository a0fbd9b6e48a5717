"""The character-level Transformer language model, its text data and its CLI."""

import math
import os

import numpy as np
import pytest

import fastdl
from fastdl.cli import language, main
from fastdl.data.text import CharVocab, CharWindows, char_blocks, read_text, shakespeare
from fastdl.models import transformer_lm
from fastdl.nn import functional as F


def test_shakespeare_is_bundled_without_its_header():
    text = shakespeare()
    assert text.startswith("First Citizen:")
    assert len(text) > 1_000_000 and len(set(text)) == 65
    assert not any(line.startswith("#") for line in text.splitlines()[:10])


def test_vocab_round_trip_and_unknown_character():
    vocab = CharVocab("hello world")
    ids = vocab.encode("low")
    assert ids.dtype == np.int64 and vocab.decode(ids) == "low"
    assert len(vocab) == len(set("hello world"))
    with pytest.raises(KeyError, match="'z'"):
        vocab.encode("z")


def test_read_text_refuses_what_is_not_utf8(tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("café".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.txt: not UTF-8 text \(byte 3"):
        read_text(bad)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        read_text(empty)
    good = tmp_path / "good.txt"
    good.write_text("\ufeffna\u00efve", encoding="utf-8")
    assert read_text(good) == "na\u00efve"


def test_windows_are_shifted_by_one_and_repeat_with_the_seed():
    ids = np.arange(100)
    a = list(CharWindows(ids, context=8, batch_size=4, steps=3, seed=1))
    b = list(CharWindows(ids, context=8, batch_size=4, steps=3, seed=1))
    assert len(a) == 3
    for (x, y), (x2, _) in zip(a, b):
        assert x.shape == y.shape == (4, 8)
        np.testing.assert_array_equal(y, x + 1)  # ids are positions here
        np.testing.assert_array_equal(x, x2)
    x, y = char_blocks(ids, 8)
    assert x.shape == (12, 8)
    np.testing.assert_array_equal(y, x + 1)
    with pytest.raises(ValueError, match="context 8 needs at least 9"):
        CharWindows(np.arange(5), 8, 1, 1)


def test_model_is_causal_and_starts_near_the_uniform_loss():
    fastdl.manual_seed(0)
    model = transformer_lm(vocab_size=11, context=16, d_model=32, nhead=4, num_layers=2)
    ids = fastdl.randint(0, 5, (3, 16))
    logits = model(ids).detach()
    assert logits.shape == (3, 16, 11)
    loss = F.cross_entropy(logits.reshape(-1, 11), ids.reshape(-1))
    assert abs(loss.item() - math.log(11)) < 0.1  # small initial weights: near uniform
    changed = ids.clone()
    changed[:, 10:] = 10 - changed[:, 10:]  # a different token wherever ids != 5
    with fastdl.no_grad():
        after = model(changed)
    np.testing.assert_allclose(after[:, :10].numpy(), logits[:, :10].numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(after[:, 10:].numpy(), logits[:, 10:].numpy())


def test_model_learns_a_repeating_text():
    fastdl.manual_seed(0)
    vocab = CharVocab("abcd")
    ids = vocab.encode("abcd" * 40)
    model = transformer_lm(len(vocab), context=8, d_model=16, nhead=2, num_layers=1)
    opt = fastdl.optim.Adam(model.parameters(), lr=1e-2)
    for x, y in CharWindows(ids, 8, 16, 60, seed=0):
        opt.zero_grad()
        logits = model(fastdl.from_numpy(x))
        loss = F.cross_entropy(logits.reshape(-1, 4), fastdl.from_numpy(y).reshape(-1))
        loss.backward()
        opt.step()
    assert loss.item() < 0.3
    out = model.generate(fastdl.tensor([vocab.encode("ab")]), 6, temperature=0.5)
    assert vocab.decode(out[0]) == "abcdabcd"


def test_model_refuses_bad_input():
    model = transformer_lm(vocab_size=5, context=4, d_model=8, nhead=2, num_layers=1)
    with pytest.raises(ValueError, match="exceeds the context 4"):
        model(fastdl.zeros(1, 5, dtype=fastdl.int64))
    with pytest.raises(ValueError, match=r"\(batch, length\)"):
        model(fastdl.zeros(5, dtype=fastdl.int64))
    with pytest.raises(ValueError, match="divisible"):
        transformer_lm(vocab_size=5, d_model=10, nhead=4)


@pytest.fixture
def short_run(monkeypatch):
    monkeypatch.setattr(language, "STEPS_PER_EPOCH", 2)
    monkeypatch.setattr(language, "SAMPLE_LENGTH", 20)


def test_cli_trains_on_a_text_file(tmp_path, short_run, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("to be or not to be, that is the question. " * 20, encoding="utf-8")
    out = tmp_path / "run"
    args = ["train", "--model", "transformer", "--data", f"text:{corpus}", "--context", "16"]
    assert main([*args, "--epochs", "2", "--out", str(out), "--batch-size", "4"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("epoch 1: train_loss=") and "val_loss=" in lines[0]
    assert lines[-1].startswith("val_loss=") and "epochs=2" in lines[-1]
    for name in ("loss.png", "sample.txt", "model.fdl"):
        assert os.path.getsize(out / name) > 0
    state = fastdl.load(out / "model.fdl")["model"]
    assert "".join(chr(c) for c in state["vocab"].tolist()) == "".join(
        sorted(set(corpus.read_text()))
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--data", "text:{bad}"], "not UTF-8"),
        (["--data", "text:{tmp}/missing.txt"], "is not a file"),
        (["--data", "spirals"], "shakespeare or text:FILE"),
        (["--hidden", "8"], "--hidden does not apply"),
        (["--context", "4000", "--data", "text:{small}"], "--context 4000 needs 4001"),
        (["--context", "400", "--data", "text:{small}", "--val-fraction", "0"], "at least 401"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, capsys, extra, message):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe abc")
    small = tmp_path / "small.txt"
    small.write_text("abc" * 100, encoding="utf-8")
    extra = [e.format(bad=bad, tmp=tmp_path, small=small) for e in extra]
    argv = ["train", "--model", "transformer", *extra, "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_context_applies_only_to_the_transformer(tmp_path, capsys):
    assert main(["train", "--context", "8", "--out", str(tmp_path / "o")]) == 2
    assert "--context applies to --model transformer" in capsys.readouterr().err
