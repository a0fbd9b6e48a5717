"""Data: the bundled data sets (:func:`load_digits`, :func:`load_idx`,
:func:`make_spirals`, :func:`make_moons`) and, re-exported from
:mod:`fastdl.utils.data`, :class:`Dataset`, :class:`TensorDataset`,
:class:`DataLoader` and the rest of PyTorch's ``torch.utils.data``.

Example:
    >>> from fastdl.data import DataLoader, TensorDataset, load_digits
    >>> X_train, y_train, X_test, y_test = load_digits()
    >>> loader = DataLoader(TensorDataset(X_train, y_train), batch_size=64, shuffle=True)
    >>> len(loader)
    22
"""

from fastdl.data.datasets import (
    Split,
    load_digits,
    load_idx,
    make_moons,
    make_spirals,
    read_idx,
)
from fastdl.utils.data import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    DataLoader,
    Dataset,
    DistributedSampler,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    WorkerInfo,
    default_collate,
    default_convert,
    get_worker_info,
    random_split,
)

__all__ = [
    "BatchSampler",
    "ChainDataset",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "DistributedSampler",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "Split",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "WorkerInfo",
    "default_collate",
    "default_convert",
    "get_worker_info",
    "load_digits",
    "load_idx",
    "make_moons",
    "make_spirals",
    "random_split",
    "read_idx",
]
