"""Write the small offline data the ported examples read (nothing is downloaded).

``word_language_model/data/tiny/{train,valid,test}.txt``: a synthetic corpus of short
sentences over a 40-word vocabulary, in wikitext-2's one-sentence-per-line format.
(The MNIST examples need no files: the offline ``torchvision`` stand-in in
``offline/`` serves scikit-learn's bundled digits.)

    python prepare_data.py
"""

from __future__ import annotations

import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
WORDS = (
    "the a cat dog bird fish sees eats likes runs jumps sleeps big small red blue "
    "green old young fast slow happy sad tree house river hill road car boat "
    "and but then quickly slowly near under over with"
).split()


def write_corpus(folder: str, lines: dict[str, int], seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    for split, count in lines.items():
        with open(os.path.join(folder, f"{split}.txt"), "w", encoding="utf8") as f:
            for _ in range(count):
                n = int(rng.integers(4, 12))
                f.write(" " + " ".join(rng.choice(WORDS, n)) + " . \n")


if __name__ == "__main__":
    write_corpus(
        os.path.join(HERE, "word_language_model", "data", "tiny"),
        {"train": 400, "valid": 60, "test": 60},
    )
    print("wrote word_language_model/data/tiny")
