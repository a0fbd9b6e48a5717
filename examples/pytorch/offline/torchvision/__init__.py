"""An offline stand-in for the parts of torchvision the ported examples import.

It is put on ``PYTHONPATH`` only when running ``examples/pytorch`` (see the README
there). ``datasets.MNIST`` serves scikit-learn's bundled 8x8 digits, scaled to 28x28,
so nothing is downloaded; transforms and ``save_image`` produce fastdl Tensors.
"""

from . import datasets, transforms, utils

__all__ = ["datasets", "transforms", "utils"]
