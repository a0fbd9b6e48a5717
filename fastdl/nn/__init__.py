"""Neural-network building blocks, shaped like ``torch.nn``."""

from fastdl.nn import functional, init, regularizers, utils
from fastdl.nn.blocks import BasicBlock
from fastdl.nn.containers import ModuleDict, ModuleList, Residual, Sequential
from fastdl.nn.conv import Conv2d
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
from fastdl.nn.pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d
from fastdl.nn.rnn import LSTM, RNN, LSTMCell, RNNCell

__all__ = [
    "LSTM",
    "LSTMCell",
    "RNN",
    "RNNCell",
    "Conv2d",
    "BCELoss",
    "BasicBlock",
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
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool2d",
    "AvgPool2d",
    "MaxPool2d",
]

from fastdl.nn.attention import MultiheadAttention
from fastdl.nn.transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ += [
    "MultiheadAttention",
    "Transformer",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
]
