"""``fastdl lab``: list the labs or run one (see :mod:`fastdl.labs`)."""

from __future__ import annotations

import argparse
import os

from fastdl.cli import UsageError


def run_lab(args: argparse.Namespace) -> int:
    """``fastdl lab list`` prints the labs; ``fastdl lab NAME [--quick] [--out DIR]
    [--seed N]`` runs one. An unknown name is a UsageError (one line, exit status 2)."""
    from fastdl import labs

    if args.name == "list":
        print(labs.listing())
        return 0
    if args.name not in labs.LABS:
        raise UsageError(
            f"fastdl lab: unknown lab {args.name!r}; choose one of: "
            f"{', '.join(labs.LABS)} (or 'list')"
        )
    out = args.out or os.path.join("runs", f"lab-{args.name}")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as error:
        raise UsageError(f"fastdl lab: --out {out!r}: {error.strerror}") from None
    labs.run(args.name, quick=args.quick, out=out, seed=args.seed)
    return 0
