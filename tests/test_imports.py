"""The import graph of fastdl has no cycle.

Every module's top-level imports (those under ``if TYPE_CHECKING:`` excepted) are read
from its source. Importing ``a.b.c`` also runs the ``__init__`` of ``a.b``, so a module
outside a package that imports from it depends on that package too (a module inside
its own package does not: Python hands it the package while it initialises). A cycle
means some import order fails with a half-initialised module.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _modules(root: Path, package: str) -> dict[str, Path]:
    found = {}
    for path in (root / package).rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    found = []
    pending = list(tree.body)
    while pending:
        node = pending.pop(0)
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
            pending += node.body + node.orelse
        elif isinstance(node, ast.Try):
            pending += node.body + node.orelse + node.finalbody
    return found


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """module -> the modules its top-level imports run (package __init__s included)."""
    modules = _modules(root, package)

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in _top_level_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
                continue
            base = node.module or ""
            if node.level:
                parts = here.split(".")[: len(here.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            targets |= {f"{base}.{a.name}" for a in node.names} | {base}
        deps = set()
        for target in targets:
            if not target.startswith(package):
                continue
            module = target if target in modules else known(target)
            # The target and, first, the __init__ of each package above it run, except
            # the packages the importer lives in.
            while module and module != package:
                if not name.startswith(module + "."):
                    deps.add(module)
                module = module.rpartition(".")[0]
        deps.discard(name)
        deps.discard(package)  # the root package's own __init__ imports the public surface
        graph[name] = deps
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first == last), or None; iterative."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            following = next(stack[-1], None)
            if following is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(following) == 1:
                return path[path.index(following) :] + [following]
            elif not state.get(following):
                state[following] = 1
                path.append(following)
                stack.append(iter(sorted(graph.get(following, ()))))
    return None


def test_fastdl_has_no_import_cycle():
    graph = import_graph(ROOT, "fastdl")
    assert "fastdl.autograd.engine" in graph and "fastdl.tensor" in graph
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_engine_imports_tensor_and_tensor_imports_neither_autograd_nor_ops():
    graph = import_graph(ROOT, "fastdl")
    assert "fastdl.tensor" in graph["fastdl.autograd.engine"]
    assert not {
        d for d in graph["fastdl.tensor"] if d.startswith(("fastdl.autograd", "fastdl.ops"))
    }


def test_a_cycle_is_found(tmp_path: Path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.sub import b\n")
    (package / "sub" / "__init__.py").write_text("from pkg.sub.b import thing\n")
    (package / "sub" / "b.py").write_text("import numpy\nthing = 1\n")
    assert find_cycle(import_graph(tmp_path, "pkg")) is None
    # b imports a at the top: a -> pkg.sub (its __init__) -> b -> a.
    (package / "sub" / "b.py").write_text("from pkg import a\nthing = 1\n")
    cycle = find_cycle(import_graph(tmp_path, "pkg"))
    assert cycle is not None and set(cycle) == {"pkg.a", "pkg.sub", "pkg.sub.b"}


@pytest.mark.parametrize(
    "module",
    ["fastdl.tensor", "fastdl.autograd.engine", "fastdl.second_order", "fastdl.cuda"],
)
def test_module_imports_first_in_a_fresh_interpreter(module):
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
