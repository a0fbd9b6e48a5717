"""The digits split ``fastdl train`` uses (``fastdl.data.load_digits``), without fastdl.

scikit-learn's 8x8 digits, pixels / 16 as float32, labels int64, split by
``train_test_split(test_size=0.25, random_state=0, stratify=y)``: 1347 training and
450 test samples, the same arrays fastdl gets.
"""

from __future__ import annotations

import numpy as np

EPOCHS = 30
BATCH_SIZE = 32
LR = 1e-3
HIDDEN = (128, 64)
SEED = 0


def load_digits_split(test_size: float = 0.25, random_state: int = 0):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    X = (np.asarray(bunch.data, dtype=np.float32) / np.float32(16.0)).astype(np.float32)
    y = np.asarray(bunch.target, dtype=np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=random_state, stratify=y
    )
    return (
        np.ascontiguousarray(X_train),
        np.ascontiguousarray(y_train),
        np.ascontiguousarray(X_test),
        np.ascontiguousarray(y_test),
    )
