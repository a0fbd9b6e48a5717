"""Optimizers over flat parameter buffers, shaped like ``torch.optim``."""

from fastdl.optim.adam import Adam, AdamW
from fastdl.optim.newton import Newton
from fastdl.optim.optimizer import Optimizer
from fastdl.optim.sgd import SGD

__all__ = ["Newton", "SGD", "Adam", "AdamW", "Optimizer"]
