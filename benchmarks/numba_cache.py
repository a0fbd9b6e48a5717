"""Find (and optionally delete) Numba's on-disk cache of fastdl's kernels.

With ``@njit(cache=True)`` Numba writes an index (``*.nbi``) and compiled code
(``*.nbc``) next to each source file, in its ``__pycache__/`` folder, or under
``NUMBA_CACHE_DIR`` when that is set. Each index records a stamp of the kernel's
file and of every fastdl file it imports (``fastdl/backends/_jit_cache.py``), so an
edit recompiles what depends on it without deleting anything. Deleting the files
gives a cold start: the next run compiles every kernel it calls.

Usage::

    python benchmarks/numba_cache.py            # list the files and their total size
    python benchmarks/numba_cache.py --delete   # delete them (a cold cache)
    python benchmarks/numba_cache.py --root DIR # another tree (e.g. a NUMBA_CACHE_DIR)
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

SUFFIXES = (".nbi", ".nbc")


def package_root() -> Path:
    """The fastdl package folder this interpreter imports (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("fastdl")
    if spec is None or spec.origin is None:
        raise SystemExit("fastdl is not importable here")
    return Path(spec.origin).resolve().parent


def find_cache_files(root: Path | None = None, anywhere: bool = False) -> list[Path]:
    """Numba cache files under ``root`` (default: the fastdl package).

    Only files in ``__pycache__`` folders count, unless ``anywhere`` (a
    ``NUMBA_CACHE_DIR`` tree, which has no ``__pycache__`` level).
    """
    root = package_root() if root is None else Path(root)
    found = []
    for folder, _dirs, files in os.walk(root):
        if not anywhere and Path(folder).name != "__pycache__":
            continue
        found += [Path(folder) / f for f in files if f.endswith(SUFFIXES)]
    return sorted(found)


def delete_cache_files(root: Path | None = None, anywhere: bool = False) -> int:
    """Delete the cache files :func:`find_cache_files` finds; returns how many."""
    files = find_cache_files(root, anywhere)
    for path in files:
        path.unlink(missing_ok=True)
    return len(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Find or delete fastdl's Numba cache files.")
    parser.add_argument("--root", default=None, help="tree to search (default: fastdl package)")
    parser.add_argument(
        "--anywhere",
        action="store_true",
        help="not only in __pycache__ folders (for a NUMBA_CACHE_DIR tree)",
    )
    parser.add_argument("--delete", action="store_true", help="delete the files found")
    args = parser.parse_args(argv)
    root = Path(args.root) if args.root else package_root()
    files = find_cache_files(root, args.anywhere)
    size = sum(p.stat().st_size for p in files if p.exists())
    for path in files:
        print(path)
    print(f"{len(files)} Numba cache files, {size / 1024:.0f} KiB, under {root}")
    if args.delete:
        print(f"deleted {delete_cache_files(root, args.anywhere)} files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
