"""The ``fastdl`` command: ``fastdl train``, ``fastdl lab`` and ``fastdl info``.

One module per subcommand (:mod:`~fastdl.cli.train`, with
:mod:`~fastdl.cli.generative` for ``--model vae|gan``; :mod:`~fastdl.cli.lab`;
:mod:`~fastdl.cli.info`), each with ``add_parser(sub)`` and ``run(args)``; what they
share (argument types, data, the optimizer and scheduler builders, the one-line
:class:`~fastdl.cli.common.UsageError`) is in :mod:`~fastdl.cli.common`. Errors in
flags, paths or files print one line and exit with status 2, and so do an
OSError or MemoryError met while running (the line names the path or the size);
a closed pipe on stdout (``fastdl info | head``) ends the command quietly.

Example::

    fastdl.cli.main(["train", "--epochs", "3", "--no-progress"])   # 0
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from fastdl.cli import info, lab, train
from fastdl.cli.common import Parser, UsageError, check_backend

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
        check_backend(args)
        status = _COMMANDS[args.command].run(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return status
    except UsageError as error:
        return _fail(str(error))
    except BrokenPipeError:
        _silence_stdout()
        return 2
    except OSError as error:
        where = f"{error.filename}: " if error.filename is not None else ""
        return _fail(f"fastdl: {where}{error.strerror or error}")
    except MemoryError as error:
        return _fail(f"fastdl: out of memory{f': {error}' if str(error) else ''}")
    except KeyboardInterrupt:
        print("fastdl: interrupted", file=sys.stderr)
        return 130


def _fail(message: str) -> int:
    """Print ``message`` as one line on stderr; the exit status 2."""
    print(" ".join(message.split()), file=sys.stderr)
    return 2


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush of a closed pipe
    stays quiet (the recipe of Python's ``signal`` documentation)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        pass  # stdout is no file descriptor (a test's capture): nothing to silence
