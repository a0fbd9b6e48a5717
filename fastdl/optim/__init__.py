"""Optimizers over flat parameter buffers, shaped like ``torch.optim``."""

from fastdl.optim import lr_scheduler
from fastdl.optim.adagrad import Adagrad
from fastdl.optim.adam import Adam, AdamW
from fastdl.optim.newton import Newton
from fastdl.optim.optimizer import Optimizer
from fastdl.optim.rmsprop import RMSprop
from fastdl.optim.sgd import SGD

__all__ = ["lr_scheduler", "Newton", "SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop"]
