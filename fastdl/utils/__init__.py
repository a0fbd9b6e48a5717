"""``fastdl.utils``: PyTorch's ``torch.utils`` namespace (:mod:`fastdl.utils.data`)."""

from fastdl.utils import data

__all__ = ["data"]
