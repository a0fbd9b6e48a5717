"""``torchvision.utils.save_image``: a grid of images written as a PNG."""

from __future__ import annotations

import numpy as np


def save_image(tensor, fp, nrow: int = 8, padding: int = 2) -> None:
    import matplotlib.pyplot as plt

    x = np.asarray(tensor.detach().cpu().numpy(), dtype=np.float32)
    n, _, h, w = x.shape
    rows = -(-n // nrow)
    grid = np.zeros((rows * (h + padding) + padding, nrow * (w + padding) + padding))
    for i in range(n):
        r, c = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + c * (w + padding)
        grid[top : top + h, left : left + w] = x[i, 0]
    plt.imsave(fp, np.clip(grid, 0, 1), cmap="gray")
