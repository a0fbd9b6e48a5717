"""curse-of-dimensionality: pairwise distances concentrate as the dimension grows.

``n`` points drawn uniformly from the unit cube ``[0, 1]^d``; all pairwise Euclidean
distances (from the Gram matrix, ``fastdl.matmul``). As ``d`` grows every distance
approaches ``sqrt(d / 6)`` and their relative spread shrinks like ``1 / sqrt(d)``,
so the nearest and the farthest neighbour of a point become almost equally far and
distance-based methods (nearest neighbours, kernels, clustering) lose their
contrast. Measured: ``(max - min) / min`` over all pairs, the same ratio per query
point (nearest vs farthest neighbour, averaged), and std / mean of the distances.
"""

from __future__ import annotations

import numpy as np

import fastdl
from fastdl import plot
from fastdl.labs import _common as C


def pairwise_distances(X: np.ndarray) -> np.ndarray:
    """The distances between all distinct pairs of rows of X (float64)."""
    t = fastdl.from_numpy(X)
    gram = fastdl.matmul(t, t.transpose(0, 1)).numpy()
    sq = np.diag(gram)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * gram, 0.0)
    return np.sqrt(d2)


def run(quick: bool = False, out: str = "runs/lab-curse-of-dimensionality", seed: int = 0) -> dict:
    n = 200 if quick else 500
    dims = (2, 10, 100, 1000) if quick else (2, 5, 10, 30, 100, 300, 1000, 3000, 10000)
    rng = np.random.default_rng(seed)
    contrast, per_query, spread, samples, rows = {}, {}, {}, {}, []
    for d in dims:
        D = pairwise_distances(rng.random((n, d)))
        pairs = D[np.triu_indices(n, k=1)]
        others = D + np.diag(np.full(n, np.nan))
        nearest, farthest = np.nanmin(others, axis=1), np.nanmax(others, axis=1)
        contrast[d] = float((pairs.max() - pairs.min()) / pairs.min())
        per_query[d] = float(np.mean((farthest - nearest) / nearest))
        spread[d] = float(pairs.std() / pairs.mean())
        samples[d] = pairs / pairs.mean()
        rows.append(
            [d, float(pairs.mean()), float(np.sqrt(d / 6)), contrast[d], per_query[d], spread[d]]
        )

    fig, (ax_c, ax_h) = plot.figure(2, 1, (12, 4.6))
    ds = np.array(dims, dtype=float)
    ax_c.plot(ds, [contrast[d] for d in dims], marker="o", label="(max - min) / min, all pairs")
    ax_c.plot(
        ds,
        [per_query[d] for d in dims],
        marker="o",
        label="(farthest - nearest) / nearest, per point",
    )
    ax_c.plot(ds, [spread[d] for d in dims], marker="o", label="std / mean of distances")
    ax_c.plot(ds, spread[dims[-1]] * np.sqrt(ds[-1] / ds), "k:", label="∝ 1/sqrt(d)")
    ax_c.set_xscale("log")
    ax_c.set_yscale("log")
    plot.style_axes(
        ax_c,
        f"distance contrast, {n} uniform points in [0, 1]^d",
        "dimension d",
        "ratio (log scale)",
    )
    shown = [d for d in dims if d in (2, 10, 100, 1000)]
    for d in shown:
        ax_h.hist(
            samples[d],
            bins=200,
            range=(0, 2.5),
            density=True,
            histtype="step",
            linewidth=1.5,
            label=f"d = {d}",
        )
    plot.style_axes(ax_h, "distances divided by their mean", "distance / mean distance", "density")
    path = plot.save_figure(
        fig,
        out,
        "curse-of-dimensionality.png",
        "Curse of dimensionality: pairwise distances concentrate",
    )

    low, high = dims[0], dims[-1]
    conclusion = (
        f"From d={low} to d={high} the pairwise-distance contrast (max - min) / min fell from "
        f"{contrast[low]:.3g} to {contrast[high]:.3g}, and a point's farthest neighbour went from "
        f"{1 + per_query[low]:.3g}x to {1 + per_query[high]:.3g}x as far as its nearest."
    )
    return C.result(
        "curse-of-dimensionality",
        (["d", "mean dist", "sqrt(d/6)", "(max-min)/min", "per-point ratio", "std/mean"], rows),
        path,
        conclusion,
        dims=list(dims),
        contrast=contrast,
        per_query_contrast=per_query,
        relative_spread=spread,
    )
