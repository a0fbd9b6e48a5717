"""Counter-based random numbers: the Philox 4x32-10 stream, raw and as floats."""

from __future__ import annotations

import numpy as np

from fastdl.backends.spec.base import Kernel, Sampler, each, empty


def _philox_sample(kind: str) -> Sampler:
    def sample(rng, dtype, p=0.3):
        n = int(rng.choice((1, 3, 4, 5, 1001)))
        args = {"seed": int(rng.integers(0, 2**63)), "offset": int(rng.integers(0, 2**40))}
        if kind == "uint32":
            args["out"] = np.zeros(n, np.uint32)
        elif kind == "normal":
            args.update(mean=0.5, std=2.0, out=empty((n,), dtype))
        elif kind == "bernoulli":
            args.update(p=p, out=empty((n,), dtype))
        else:
            args["out"] = empty((n,), dtype)
        return args

    return sample


KERNELS: tuple[Kernel, ...] = (
    Kernel(
        "philox_uint32",
        "random",
        ("seed", "offset", "out"),
        ("out",),
        "out[k] = word (offset + k) of the Philox 4x32-10 stream keyed by seed "
        "(key = low, high 32 bits of seed). Word w is lane w % 4 of the block with "
        "128-bit counter c = w // 4 laid out as (c low 32, c high 32, 0, 0).",
        _philox_sample("uint32"),
        dtypes=(np.uint32,),
    ),
    Kernel(
        "philox_uniform",
        "random",
        ("seed", "offset", "out"),
        ("out",),
        "Uniform [0, 1). float32: out[k] = (word[offset+k] >> 8) * 2^-24. float64: "
        "out[k] = ((word[offset+2k] >> 5) * 2^26 + (word[offset+2k+1] >> 6)) * 2^-53.",
        _philox_sample("uniform"),
    ),
    Kernel(
        "philox_normal",
        "random",
        ("seed", "offset", "mean", "std", "out"),
        ("out",),
        "Normal(mean, std) by Box-Muller on float64 uniforms u1, u2 taken from words "
        "offset + 4j .. offset + 4j + 3 (as philox_uniform float64; u1 is replaced by 1 - u1 "
        "so that it lies in (0, 1]): z0 = r cos(2 pi u2), z1 = r sin(2 pi u2), "
        "r = sqrt(-2 log u1); out[2j + i] = mean + std * zi computed in float64 and rounded "
        "once to out's dtype. Backends may differ in the last bits.",
        _philox_sample("normal"),
    ),
    Kernel(
        "philox_bernoulli",
        "random",
        ("seed", "offset", "p", "out"),
        ("out",),
        "out[k] = 1 if (word[offset+k] >> 8) * 2^-24 < p else 0, the comparison made in "
        "float64 with p as given (not rounded to float32), in out's float dtype. "
        "Bit-identical on every backend.",
        _philox_sample("bernoulli"),
        options=each(p=(0.3, 0.0, 0.75, 1.0)),
    ),
)
