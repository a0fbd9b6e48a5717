"""Ready-made models for the fundamentals: an MLP, LeNet-style CNNs, a small ResNet, an
LSTM sequence classifier, a character-level Transformer language model.

Example::

    from fastdl import models
    net = models.lenet((1, 28, 28))          # LeNet-5
    net = models.resnet((1, 8, 8), num_classes=10)
    net = models.lstm_classifier(input_size=8, num_classes=10)
    net = models.transformer_lm(vocab_size=65, context=128)
"""

from fastdl.models.gan import GAN, gan_mlp, mlp_discriminator, mlp_generator
from fastdl.models.lenet import lenet
from fastdl.models.mlp import mlp
from fastdl.models.resnet import ResNet, resnet
from fastdl.models.sequence import LSTMClassifier, lstm_classifier
from fastdl.models.transformer_lm import TransformerLM, transformer_lm
from fastdl.models.vae import VAE, kl_divergence, reconstruction_loss, vae_loss
from fastdl.nn.blocks import BasicBlock

__all__ = [
    "GAN",
    "VAE",
    "gan_mlp",
    "kl_divergence",
    "mlp_discriminator",
    "mlp_generator",
    "reconstruction_loss",
    "vae_loss",
    "BasicBlock",
    "LSTMClassifier",
    "ResNet",
    "lenet",
    "lstm_classifier",
    "mlp",
    "resnet",
    "TransformerLM",
    "transformer_lm",
]
