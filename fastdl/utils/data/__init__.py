"""``fastdl.utils.data``: PyTorch's ``torch.utils.data``, so that
``from torch.utils.data import DataLoader, TensorDataset`` converts by renaming.

Data sets (:class:`Dataset`, :class:`IterableDataset`, :class:`TensorDataset`,
:class:`ConcatDataset`, :class:`ChainDataset`, :class:`Subset`,
:func:`random_split`), samplers (:class:`Sampler`, :class:`SequentialSampler`,
:class:`RandomSampler`, :class:`SubsetRandomSampler`,
:class:`WeightedRandomSampler`, :class:`BatchSampler`,
:class:`DistributedSampler`), the :class:`DataLoader` with worker processes
(:func:`get_worker_info`), and :func:`default_collate` / :func:`default_convert`.
The bundled data sets live in :mod:`fastdl.data`, which re-exports these classes.

Example:
    >>> import numpy as np
    >>> import fastdl
    >>> from fastdl.utils.data import DataLoader, TensorDataset, random_split
    >>> fastdl.manual_seed(0)  # doctest: +ELLIPSIS
    Generator(...)
    >>> data = TensorDataset(np.random.rand(100, 3).astype(np.float32), np.arange(100))
    >>> train, val = random_split(data, [0.8, 0.2])
    >>> loader = DataLoader(train, batch_size=32, shuffle=True)
    >>> [tuple(x.shape) for x, y in loader]
    [(32, 3), (32, 3), (16, 3)]
"""

from fastdl.utils.data.collate import default_collate, default_convert
from fastdl.utils.data.dataloader import DataLoader
from fastdl.utils.data.dataset import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
)
from fastdl.utils.data.sampler import (
    BatchSampler,
    DistributedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from fastdl.utils.data.worker import WorkerInfo, get_worker_info

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
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "WorkerInfo",
    "default_collate",
    "default_convert",
    "get_worker_info",
    "random_split",
]
