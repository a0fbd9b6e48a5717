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

from fastdl.nn.rnn import GRU, GRUCell

__all__ += ["GRU", "GRUCell"]
# Convolution family, padding, resizing, channel dropout, group/instance norm.
from fastdl.nn.channel_dropout import Dropout1d, Dropout2d
from fastdl.nn.conv_family import Conv1d, ConvTranspose1d, ConvTranspose2d
from fastdl.nn.group_norm import GroupNorm, InstanceNorm1d, InstanceNorm2d
from fastdl.nn.padding import (
    CircularPad1d,
    CircularPad2d,
    ConstantPad1d,
    ConstantPad2d,
    ReflectionPad1d,
    ReflectionPad2d,
    ReplicationPad1d,
    ReplicationPad2d,
    ZeroPad1d,
    ZeroPad2d,
)
from fastdl.nn.resize import (
    PixelShuffle,
    PixelUnshuffle,
    Upsample,
    UpsamplingBilinear2d,
    UpsamplingNearest2d,
)
from fastdl.nn.unflatten import Unflatten

__all__ += [
    "Conv1d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ZeroPad1d",
    "ZeroPad2d",
    "ConstantPad1d",
    "ConstantPad2d",
    "ReflectionPad1d",
    "ReflectionPad2d",
    "ReplicationPad1d",
    "ReplicationPad2d",
    "CircularPad1d",
    "CircularPad2d",
    "Upsample",
    "UpsamplingNearest2d",
    "UpsamplingBilinear2d",
    "PixelShuffle",
    "PixelUnshuffle",
    "Unflatten",
    "Dropout1d",
    "Dropout2d",
    "GroupNorm",
    "InstanceNorm1d",
    "InstanceNorm2d",
from fastdl.nn.activation import (
    CELU,
    ELU,
    GELU,
    GLU,
    SELU,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LogSigmoid,
    Mish,
    PReLU,
    ReLU6,
    SiLU,
    Softplus,
    Softsign,
    Tanhshrink,
)
from fastdl.nn.loss import (
    CosineEmbeddingLoss,
    GaussianNLLLoss,
    HuberLoss,
    KLDivLoss,
    MarginRankingLoss,
    MultiMarginLoss,
    PoissonNLLLoss,
    SmoothL1Loss,
    TripletMarginLoss,
)

__all__ += [
    "CELU",
    "ELU",
    "GELU",
    "GLU",
    "SELU",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "LogSigmoid",
    "Mish",
    "PReLU",
    "ReLU6",
    "SiLU",
    "Softplus",
    "Softsign",
    "Tanhshrink",
    "CosineEmbeddingLoss",
    "GaussianNLLLoss",
    "HuberLoss",
    "KLDivLoss",
    "MarginRankingLoss",
    "MultiMarginLoss",
    "PoissonNLLLoss",
    "SmoothL1Loss",
    "TripletMarginLoss",
]
