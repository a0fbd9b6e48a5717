"""Character-level text: the bundled Shakespeare, the user's UTF-8 files, a vocabulary
and the random windows a character language model trains on.

Example:
    >>> from fastdl.data.text import CharVocab, shakespeare
    >>> text = shakespeare()
    >>> vocab = CharVocab(text)
    >>> vocab.decode(vocab.encode("To be"))
    'To be'
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

SHAKESPEARE = Path(__file__).with_name("shakespeare.txt.gz")
MAX_TEXT_BYTES = 1 << 30  # a character model's corpus, not a whole disk


def shakespeare() -> str:
    """The bundled Tiny Shakespeare (about 1.1M characters, 65 distinct), without the
    provenance header of its data file (the leading ``#`` lines).

    Example::

        >>> shakespeare()[:14]
        'First Citizen:'
    """
    with gzip.open(SHAKESPEARE, "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    start = 0
    while start < len(lines) and lines[start].startswith("#"):
        start += 1
    return "\n".join(lines[start:])


def read_text(path: str | os.PathLike) -> str:
    """The text of a UTF-8 file: ``ValueError`` naming the file and the first bad byte's
    offset when it is not UTF-8, when it is empty, or when it is over 1 GiB.

    Example::

        >>> text = read_text("my_corpus.txt")
    """
    path = os.fspath(path)
    size = os.path.getsize(path)
    if size > MAX_TEXT_BYTES:
        raise ValueError(f"{path}: {size} bytes; a text corpus may have at most {MAX_TEXT_BYTES}")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path}: not UTF-8 text (byte {error.start}: {raw[error.start : error.start + 1]!r})"
        ) from None
    if not text:
        raise ValueError(f"{path}: the file is empty")
    return text.removeprefix("\ufeff")


class CharVocab:
    """The distinct characters of a text, sorted, as token ids ``0 .. len(vocab) - 1``.

    Example::

        >>> vocab = CharVocab("hello")
        >>> vocab.encode("hole").tolist(), len(vocab)
        ([1, 3, 2, 0], 4)
    """

    def __init__(self, text: str) -> None:
        if not text:
            raise ValueError("CharVocab: the text is empty")
        self.chars = sorted(set(text))
        self._index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """Token ids (int64) of ``text``; KeyError naming a character not in the vocabulary."""
        try:
            return np.fromiter((self._index[c] for c in text), np.int64, len(text))
        except KeyError as error:
            raise KeyError(
                f"CharVocab.encode: {error.args[0]!r} is not in the vocabulary"
            ) from None

    def decode(self, ids) -> str:
        """The text of token ids (any integer sequence or array)."""
        return "".join(self.chars[int(i)] for i in np.asarray(ids).reshape(-1))


class CharWindows:
    """Random windows of a token sequence for next-character prediction: each batch is
    ``(x, y)``, int64 arrays of shape ``(batch_size, context)`` where ``y`` is ``x``
    shifted by one character. An epoch is ``steps`` batches; the windows come from a
    NumPy generator seeded with ``seed``, so a run repeats exactly.

    Example::

        >>> windows = CharWindows(vocab.encode(text), context=64, batch_size=32, steps=100)
        >>> x, y = next(iter(windows))
    """

    def __init__(
        self, ids: np.ndarray, context: int, batch_size: int, steps: int, seed: int = 0
    ) -> None:
        ids = np.asarray(ids, np.int64).reshape(-1)
        if len(ids) < context + 1:
            raise ValueError(
                f"CharWindows: a window of context {context} needs at least {context + 1} "
                f"characters, got {len(ids)}"
            )
        self.ids, self.context, self.batch_size, self.steps = ids, context, batch_size, steps
        self._rng = np.random.default_rng(seed)
        self._offsets = np.arange(context + 1)

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for _ in range(self.steps):
            starts = self._rng.integers(0, len(self.ids) - self.context, self.batch_size)
            window = self.ids[starts[:, None] + self._offsets]
            yield window[:, :-1], window[:, 1:]


def char_blocks(ids: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive non-overlapping windows of ``ids`` (every full one): ``(x, y)`` of shape
    ``(n, context)``, for a deterministic validation loss over a whole split."""
    ids = np.asarray(ids, np.int64).reshape(-1)
    n = (len(ids) - 1) // context
    if n < 1:
        raise ValueError(
            f"char_blocks: a block of context {context} needs at least {context + 1} "
            f"characters, got {len(ids)}"
        )
    x = ids[: n * context].reshape(n, context)
    y = ids[1 : n * context + 1].reshape(n, context)
    return x, y
