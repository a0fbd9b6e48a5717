"""Data sets and batching: :class:`Dataset`, :class:`TensorDataset`, :class:`DataLoader`,
and the built-in data (:func:`load_digits`, :func:`load_idx`, :func:`make_spirals`,
:func:`make_moons`).

Example:
    >>> from fastdl.data import DataLoader, TensorDataset, load_digits
    >>> X_train, y_train, X_test, y_test = load_digits()
    >>> loader = DataLoader(TensorDataset(X_train, y_train), batch_size=64, shuffle=True)
    >>> len(loader)
    22
"""

from fastdl.data.dataset import Dataset, TensorDataset
from fastdl.data.datasets import (
    Split,
    load_digits,
    load_idx,
    make_moons,
    make_spirals,
    read_idx,
)
from fastdl.data.loader import DataLoader, default_collate

__all__ = [
    "DataLoader",
    "Dataset",
    "Split",
    "TensorDataset",
    "default_collate",
    "load_digits",
    "load_idx",
    "make_moons",
    "make_spirals",
    "read_idx",
]
