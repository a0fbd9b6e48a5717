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

from fastdl.ops.attention import scaled_dot_product_attention

__all__ += ["scaled_dot_product_attention"]
