"""Neural-network building blocks, shaped like ``torch.nn``."""

from fastdl.nn import functional, init, regularizers, utils
from fastdl.nn.containers import ModuleDict, ModuleList, Residual, Sequential
from fastdl.nn.layers import (
    Dropout,
    Embedding,
    Flatten,
    Identity,
    LeakyReLU,
    Linear,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from fastdl.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
)
from fastdl.nn.module import Module
from fastdl.nn.norm import BatchNorm1d, BatchNorm2d, LayerNorm
from fastdl.nn.parameter import Parameter

__all__ = [
    "BCELoss",
    "BatchNorm1d",
    "BatchNorm2d",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "Dropout",
    "Embedding",
    "Flatten",
    "Identity",
    "L1Loss",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "Module",
    "ModuleDict",
    "ModuleList",
    "NLLLoss",
    "Parameter",
    "ReLU",
    "Residual",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "functional",
    "init",
    "regularizers",
    "utils",
]
