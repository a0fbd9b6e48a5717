"""Functional forms of the layers, activations and losses (``fastdl.nn.functional``)."""

from fastdl.ops.activation import leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from fastdl.ops.activation_more import (
    celu,
    elu,
    gelu,
    glu,
    hardsigmoid,
    hardswish,
    hardtanh,
    logsigmoid,
    mish,
    prelu,
    relu6,
    selu,
    silu,
    softplus,
    softsign,
    tanhshrink,
)
from fastdl.ops.attention import scaled_dot_product_attention
from fastdl.ops.channel_dropout import dropout1d, dropout2d
from fastdl.ops.conv import conv2d
from fastdl.ops.conv_family import conv1d, conv_transpose1d, conv_transpose2d
from fastdl.ops.distance import cosine_similarity, normalize, pairwise_distance
from fastdl.ops.dropout import dropout
from fastdl.ops.embedding import embedding
from fastdl.ops.group_norm import group_norm, instance_norm
from fastdl.ops.linear import linear
from fastdl.ops.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    l1_loss,
    mse_loss,
    nll_loss,
)
from fastdl.ops.loss_more import (
    cosine_embedding_loss,
    gaussian_nll_loss,
    huber_loss,
    kl_div,
    margin_ranking_loss,
    multi_margin_loss,
    one_hot,
    poisson_nll_loss,
    smooth_l1_loss,
    triplet_margin_loss,
)
from fastdl.ops.norm import batch_norm, layer_norm
from fastdl.ops.padding import pad
from fastdl.ops.pool import adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d, max_pool2d
from fastdl.ops.resize import interpolate, pixel_shuffle, pixel_unshuffle

__all__ = [
    "adaptive_avg_pool2d",
    "adaptive_max_pool2d",
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "celu",
    "conv1d",
    "conv2d",
    "conv_transpose1d",
    "conv_transpose2d",
    "cosine_embedding_loss",
    "cosine_similarity",
    "cross_entropy",
    "dropout",
    "dropout1d",
    "dropout2d",
    "elu",
    "embedding",
    "gaussian_nll_loss",
    "gelu",
    "glu",
    "group_norm",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "huber_loss",
    "instance_norm",
    "interpolate",
    "kl_div",
    "l1_loss",
    "layer_norm",
    "leaky_relu",
    "linear",
    "log_softmax",
    "logsigmoid",
    "margin_ranking_loss",
    "max_pool2d",
    "mish",
    "mse_loss",
    "multi_margin_loss",
    "nll_loss",
    "normalize",
    "one_hot",
    "pad",
    "pairwise_distance",
    "pixel_shuffle",
    "pixel_unshuffle",
    "poisson_nll_loss",
    "prelu",
    "relu",
    "relu6",
    "scaled_dot_product_attention",
    "selu",
    "sigmoid",
    "silu",
    "smooth_l1_loss",
    "softmax",
    "softplus",
    "softsign",
    "tanh",
    "tanhshrink",
    "triplet_margin_loss",
]
