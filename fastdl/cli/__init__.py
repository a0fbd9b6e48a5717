"""The ``fastdl`` command: ``fastdl train``, ``fastdl lab`` and ``fastdl info``.

One module per subcommand (:mod:`~fastdl.cli.train`, with
:mod:`~fastdl.cli.generative` for ``--model vae|gan``; :mod:`~fastdl.cli.lab`;
:mod:`~fastdl.cli.info`), each with ``add_parser(sub)`` and ``run(args)``; what they
share (argument types, data, the optimizer and scheduler builders, the one-line
:class:`~fastdl.cli.common.UsageError`) is in :mod:`~fastdl.cli.common`. Errors in
flags, paths or files print one line and exit with status 2.

Example::

    fastdl.cli.main(["train", "--epochs", "3", "--no-progress"])   # 0
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fastdl.cli import info, lab, train
from fastdl.cli.common import Parser, UsageError

__all__ = ["UsageError", "build_parser", "main"]

_COMMANDS = {"train": train, "lab": lab, "info": info}


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``fastdl`` and its subcommands."""
    parser = Parser(prog="fastdl", description="fastdl: train neural networks fast.")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    sub.required = True
    for command in _COMMANDS.values():
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``fastdl`` with ``argv`` (default: the command line); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return _COMMANDS[args.command].run(args)
    except UsageError as error:
        print(str(error), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fastdl: interrupted", file=sys.stderr)
        return 130
