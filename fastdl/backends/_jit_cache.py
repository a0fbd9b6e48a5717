"""Numba's on-disk cache, keyed by every fastdl file a kernel can inline.

Numba checks a cached kernel against its own file only, but fastdl's kernels inline
bodies from other files (``cpu/optim.py`` compiles the rules of
:mod:`fastdl.backends.optim_rules`, ``cpu/random.py`` those of
:mod:`fastdl.backends.philox`, ``cpu/loss.py`` the helpers of ``cpu/softmax.py``), so
an edit there would leave the old body running from a warm cache. :func:`install`
puts a cache locator first in Numba's list (and numba-cuda's, once that is loaded)
which, for a function defined in a fastdl file, keeps Numba's own choice of folder
and file names and adds to the source stamp a digest of the contents of every fastdl
file the defining file imports, followed transitively. An edit to any of them
changes the stamp, so the index no longer matches and the kernel compiles afresh.

The imports are read from the source (``ast``), so files may move or be added
without a list to keep. Package ``__init__`` files are followed only when imported by
name; a module imported as ``from package import module`` counts as that module.
Every module that defines ``cache=True`` kernels calls :func:`install` after its
imports (``tests/test_numba_cache.py`` checks that each one does). A user who sets
``NUMBA_CACHE_LOCATOR_CLASSES`` replaces Numba's list, and this locator with it.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import os
import re
import sys
from pathlib import Path
from types import ModuleType

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the fastdl folder
_CACHING_MODULES = ("numba.core.caching", "numba.cuda.core.caching")
# A line that starts an import: to its end, or to the ")" closing a parenthesised list.
_IMPORT_LINE = re.compile(rb"^[ \t]*((?:from[ \t]+\S+[ \t]+)?import[ \t]+(?:\([^)]*\)|.*))", re.M)


def install() -> None:
    """Make Numba's (and numba-cuda's, when loaded) cache follow the files each fastdl
    kernel inlines; idempotent. Call it after a module's imports, before its
    ``cache=True`` decorators run.

    Example::

        from numba import njit

        from fastdl.backends import _jit_cache

        _jit_cache.install()
    """
    import numba.core.caching  # noqa: F401  (loads the list the locator joins)

    for name in _CACHING_MODULES:
        caching = sys.modules.get(name)
        if caching is not None and not getattr(caching, "_fastdl_locator", None):
            locator = _locator_class(caching)
            caching.CacheImpl._locator_classes.insert(0, locator)
            caching._fastdl_locator = locator


def _locator_class(caching: ModuleType) -> type:
    """A locator class for the caching module ``caching`` (Numba's or numba-cuda's)."""

    class FastdlSourcesLocator(caching._CacheLocator):
        """Numba's locator for the file, with a stamp that covers its imports too."""

        def __init__(self, inner, py_file: str) -> None:
            self._inner = inner
            self._py_file = py_file  # read by Numba's cache warnings

        @classmethod
        def from_function(cls, py_func, py_file: str):
            if not is_fastdl_file(py_file):
                return None
            for other in caching.CacheImpl._locator_classes:
                if other is not cls:
                    inner = other.from_function(py_func, py_file)
                    if inner is not None:
                        return cls(inner, py_file)
            return None

        def get_cache_path(self) -> str:
            return self._inner.get_cache_path()

        def get_disambiguator(self) -> str:
            return self._inner.get_disambiguator()

        def get_source_stamp(self):
            return self._inner.get_source_stamp(), sources_stamp(self._py_file)

    return FastdlSourcesLocator


def is_fastdl_file(py_file: str) -> bool:
    """Whether ``py_file`` is a ``.py`` file of this fastdl package."""
    return py_file.endswith(".py") and _resolve(py_file).is_relative_to(PACKAGE_ROOT)


def sources_stamp(py_file: str) -> str:
    """A digest of the contents of ``py_file`` and of every fastdl file it imports,
    transitively (each file read and parsed once per process while unchanged)."""
    digest = hashlib.sha256()
    for path in sorted(dependencies(_resolve(py_file))):
        digest.update(path.relative_to(PACKAGE_ROOT).as_posix().encode())
        digest.update(_read(*_stat_key(path))[0])
    return digest.hexdigest()


def dependencies(path: Path) -> set[Path]:
    """``path`` and the fastdl files it imports, transitively (resolved paths)."""
    found, todo = set(), [path]
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo.extend(_read(*_stat_key(current))[1])
    return found


@functools.cache
def _resolve(py_file: str) -> Path:
    return Path(os.path.realpath(py_file))


def _stat_key(path: Path) -> tuple[Path, int, int]:
    stat = path.stat()
    return path, stat.st_mtime_ns, stat.st_size


@functools.cache
def _read(path: Path, mtime_ns: int, size: int) -> tuple[bytes, tuple[Path, ...]]:
    """(content digest, fastdl files imported) of one file; the stat fields key the
    memo, so an edited file is read again."""
    source = path.read_bytes()
    return hashlib.sha256(source).digest(), tuple(_imported_files(path, source))


def _imported_files(path: Path, source: bytes) -> list[Path]:
    """The fastdl files an import statement anywhere in ``source`` names."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    files = []
    for node in _import_statements(path, source):
        if isinstance(node, ast.Import):
            names = [[alias.name] for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            # ``from package import name``: the submodule ``name`` if there is one
            names = [[f"{base}.{alias.name}", base] for alias in node.names]
        else:
            continue
        for candidates in names:
            found = next(filter(None, map(_module_file, candidates)), None)
            if found is not None:
                files.append(found)
    return files


def _import_statements(path: Path, source: bytes) -> list[ast.AST]:
    """The import statements of ``source``: the lines that start one, parsed on their
    own (a tenth of the time of the whole file), or every node of the whole file where
    those lines are not statements by themselves (an import continued by a backslash,
    a docstring line that starts with "import")."""
    lines = [match.group(1).rstrip() for match in _IMPORT_LINE.finditer(source)]
    if not any(line.endswith(b"\\") for line in lines):
        try:
            return ast.parse(b"\n".join(lines)).body
        except SyntaxError:
            pass
    return list(ast.walk(ast.parse(source, str(path))))


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((PACKAGE_ROOT.name, *parts))


def _module_file(name: str) -> Path | None:
    """The file of module ``name`` if it is a fastdl module, else None."""
    top, _, rest = name.partition(".")
    if top != PACKAGE_ROOT.name:
        return None
    base = PACKAGE_ROOT.joinpath(*rest.split(".")) if rest else PACKAGE_ROOT
    for candidate in (base.parent / f"{base.name}.py", base / "__init__.py"):
        if candidate.is_file():
            return _resolve(str(candidate))
    return None
