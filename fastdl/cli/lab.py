"""``fastdl lab``: list the labs or run one (see :mod:`fastdl.labs`)."""

from __future__ import annotations

import argparse
from typing import Any

from fastdl.cli.common import UsageError, output_folder, seed


def add_parser(sub: Any) -> None:
    """Add ``lab`` and its flags to the subparsers ``sub``."""
    lab = sub.add_parser("lab", help="run a small experiment that tests a fundamentals claim")
    lab.add_argument("name", help="the lab to run, or 'list' to list them")
    lab.add_argument("--quick", action="store_true", help="a smaller run (seconds)")
    lab.add_argument("--out", default=None, help="folder for the plot (default runs/lab-NAME)")
    lab.add_argument("--seed", type=seed, default=0)


def run(args: argparse.Namespace) -> int:
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
    out = output_folder(args, default=f"runs/lab-{args.name}", files=(f"{args.name}.png",))
    labs.run(args.name, quick=args.quick, out=out, seed=args.seed)
    return 0
