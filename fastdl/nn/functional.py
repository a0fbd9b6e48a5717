"""Functional forms of the layers, activations and losses (``fastdl.nn.functional``)."""

from fastdl.ops.activation import leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from fastdl.ops.conv import conv2d
from fastdl.ops.dropout import dropout
from fastdl.ops.embedding import embedding
from fastdl.ops.linear import linear
from fastdl.ops.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    l1_loss,
    mse_loss,
    nll_loss,
)
from fastdl.ops.norm import batch_norm, layer_norm
from fastdl.ops.pool import adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d, max_pool2d

__all__ = [
    "conv2d",
    "batch_norm",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "dropout",
    "embedding",
    "l1_loss",
    "layer_norm",
    "leaky_relu",
    "linear",
    "log_softmax",
    "mse_loss",
    "nll_loss",
    "relu",
    "sigmoid",
    "softmax",
    "tanh",
    "adaptive_avg_pool2d",
    "adaptive_max_pool2d",
    "avg_pool2d",
    "max_pool2d",
]

# Convolution family, padding, resizing, channel dropout, group/instance norm.
from fastdl.ops.channel_dropout import dropout1d, dropout2d
from fastdl.ops.conv_family import conv1d, conv_transpose1d, conv_transpose2d
from fastdl.ops.group_norm import group_norm, instance_norm
from fastdl.ops.padding import pad
from fastdl.ops.resize import interpolate, pixel_shuffle, pixel_unshuffle

__all__ += [
    "conv1d",
    "conv_transpose1d",
    "conv_transpose2d",
    "pad",
    "interpolate",
    "pixel_shuffle",
    "pixel_unshuffle",
    "dropout1d",
    "dropout2d",
    "group_norm",
    "instance_norm",
]
from fastdl.nn._functional_extra import *  # noqa: F403
from fastdl.nn._functional_extra import __all__ as _extra

__all__ += _extra
