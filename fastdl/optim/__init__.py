"""Optimizers over flat parameter buffers, shaped like ``torch.optim``."""

from fastdl.optim import lr_scheduler
from fastdl.optim.adagrad import Adagrad
from fastdl.optim.adam import Adam, AdamW
from fastdl.optim.newton import Newton
from fastdl.optim.optimizer import Optimizer
from fastdl.optim.rmsprop import RMSprop
from fastdl.optim.sgd import SGD

__all__ = ["lr_scheduler", "Newton", "SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop"]

# Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop (fused kernels) and LBFGS
from fastdl.optim.adadelta import Adadelta
from fastdl.optim.adamax import Adamax
from fastdl.optim.asgd import ASGD
from fastdl.optim.lbfgs import LBFGS
from fastdl.optim.nadam import NAdam
from fastdl.optim.radam import RAdam
from fastdl.optim.rprop import Rprop

__all__ += ["Adadelta", "Adamax", "NAdam", "RAdam", "ASGD", "Rprop", "LBFGS"]
