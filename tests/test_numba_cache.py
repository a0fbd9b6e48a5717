"""Numba's on-disk cache follows every file a kernel inlines (fastdl.backends._jit_cache).

The end-to-end test copies the package to a temporary folder and runs an SGD momentum
step there in fresh processes: cold (compiles), after an edit to the update rule in
``optim_rules.py`` (a file the kernel inlines but does not live in: the result must
follow the edit), and again unedited (loads from the cache, no compile).
"""

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastdl.backends import _jit_cache

ROOT = _jit_cache.PACKAGE_ROOT

# One SGD step with momentum through the Numba kernel module; prints the new
# parameter and the step loop's cache statistics.
STEP = """
import json
import numpy as np
import fastdl
from fastdl.backends.cpu import optim

param, grad, buf = np.ones(4), np.full(4, 0.5), np.full(4, 2.0)
optim.sgd_step(param, grad, buf, lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.0,
               nesterov=False, first_step=False, maximize=False)
stats = optim._sgd_loop.stats
print(json.dumps({"package": fastdl.__file__, "param": param.tolist(),
                  "hits": sum(stats.cache_hits.values()),
                  "misses": sum(stats.cache_misses.values())}))
"""
RULE = "buf = momentum * buf + one_minus_dampening * g"
EDITED = "buf = momentum * buf - one_minus_dampening * g"  # same size


def _sgd_param(sign: float) -> list[float]:
    """The parameter after :data:`STEP`, with ``sign`` the sign of the gradient term
    in the momentum update."""
    buf = 0.9 * 2.0 + sign * 0.5
    return (np.ones(4) - 0.1 * buf).tolist()


def _run_step(copy_root: Path, cache_dir: Path | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env["PYTHONPATH"] = str(copy_root)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = str(cache_dir)
    done = subprocess.run(
        [sys.executable, "-c", STEP],
        cwd=copy_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("cache_dir", [None, "numba_cache"], ids=["in-tree", "NUMBA_CACHE_DIR"])
def test_an_edit_to_an_inlined_file_recompiles_and_an_unedited_run_loads(tmp_path, cache_dir):
    copy = tmp_path / "fastdl"
    cache_dir = None if cache_dir is None else tmp_path / cache_dir
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))

    cold = _run_step(tmp_path, cache_dir)
    assert Path(cold["package"]).resolve().is_relative_to(copy.resolve())
    assert cold["param"] == _sgd_param(+1.0)
    assert cold["misses"] == 1 and cold["hits"] == 0
    cache_files = list((cache_dir or copy).rglob("optim._sgd_loop-*.nbi"))
    assert len(cache_files) == 1, cache_files

    # The edit keeps the file's size and modification time: only its content tells.
    rules = copy / "backends" / "optim_rules.py"
    source = rules.read_text()
    assert source.count(RULE) == 1
    stat = rules.stat()
    rules.write_text(source.replace(RULE, EDITED))
    os.utime(rules, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert rules.stat().st_size == stat.st_size

    edited = _run_step(tmp_path, cache_dir)
    assert edited["param"] == _sgd_param(-1.0)
    assert edited["misses"] == 1 and edited["hits"] == 0

    warm = _run_step(tmp_path, cache_dir)
    assert warm["param"] == _sgd_param(-1.0)
    assert warm["hits"] == 1 and warm["misses"] == 0


def _decorator_lines(tree: ast.Module) -> list[int]:
    """Lines of the calls with ``cache=True`` (a cached jit decorator)."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and any(
            k.arg == "cache" and isinstance(k.value, ast.Constant) and k.value.value is True
            for k in node.keywords
        )
    ]


def _install_line(tree: ast.Module) -> int | None:
    """Line of a module-level ``_jit_cache.install()`` call, if any."""
    for node in tree.body:
        if isinstance(node, ast.Expr) and ast.unparse(node.value) == "_jit_cache.install()":
            return node.lineno
    return None


CACHED_MODULES = [
    path
    for path in sorted(ROOT.rglob("*.py"))
    if path.name != "_jit_cache.py" and _decorator_lines(ast.parse(path.read_bytes()))
]


def test_the_cached_kernel_modules_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in CACHED_MODULES}
    assert {"backends/cpu/optim.py", "backends/cpu/random.py", "backends/cpu/loss.py"} <= names


@pytest.mark.parametrize("path", CACHED_MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_module_with_cached_kernels_installs_the_locator_first(path):
    tree = ast.parse(path.read_bytes())
    line = _install_line(tree)
    assert line is not None, f"{path} has cache=True kernels but never calls _jit_cache.install()"
    assert line < min(_decorator_lines(tree))


@pytest.mark.parametrize(
    "kernel_file, inlined",
    [
        ("backends/cpu/optim.py", {"backends/optim_rules.py"}),
        ("backends/cpu/random.py", {"backends/philox.py"}),
        ("backends/cpu/loss.py", {"backends/cpu/activation.py", "backends/cpu/softmax.py"}),
    ],
)
def test_dependencies_follow_imports(kernel_file, inlined):
    found = {p.relative_to(ROOT).as_posix() for p in _jit_cache.dependencies(ROOT / kernel_file)}
    assert {kernel_file, *inlined} <= found
    assert "backends/spec.py" not in found  # contracts and samplers are not kernel code


def test_the_stamp_follows_an_imported_file(tmp_path, monkeypatch):
    package = tmp_path / "fastdl"
    (package / "backends").mkdir(parents=True)
    for name in ("__init__.py", "backends/__init__.py", "unrelated.py"):
        (package / name).write_text("")
    rule = package / "backends" / "rule.py"
    rule.write_text("def f(x):\n    return x + 1\n")
    kernel = package / "backends" / "kernel.py"
    kernel.write_text("from fastdl.backends import rule\n")
    monkeypatch.setattr(_jit_cache, "PACKAGE_ROOT", package.resolve())

    before = _jit_cache.sources_stamp(str(kernel))
    (package / "unrelated.py").write_text("x = 1\n")
    assert _jit_cache.sources_stamp(str(kernel)) == before
    rule.write_text("def f(x):\n    return x + 10\n")  # a new size: a new memo entry
    assert _jit_cache.sources_stamp(str(kernel)) != before


def test_imports_of_every_form_are_followed(tmp_path, monkeypatch):
    backends = tmp_path / "fastdl" / "backends"
    backends.mkdir(parents=True)
    files = ["__init__.py", "backends/__init__.py", "backends/a.py", "backends/b.py"]
    files += ["backends/c.py", "backends/d.py", "backends/unused.py"]
    for name in files:
        (tmp_path / "fastdl" / name).write_text("")
    kernel = backends / "kernel.py"
    kernel.write_text(
        "from . import (\n    a,  # parenthesised, relative\n)\n"
        "from fastdl.backends import \\\n    b\n"
        "def f():\n    from fastdl.backends.c import g  # a name from a module\n"
        "    import numpy\n"
    )
    (backends / "a.py").write_text("import fastdl.backends.d\n")  # followed transitively
    monkeypatch.setattr(_jit_cache, "PACKAGE_ROOT", (tmp_path / "fastdl").resolve())

    found = {p.name for p in _jit_cache.dependencies(kernel.resolve())}
    assert found == {"kernel.py", "a.py", "b.py", "c.py", "d.py"}


CUDA_STAMP = """
import json, sys
from fastdl.backends import _jit_cache
from fastdl.backends.cuda import optim
from numba.cuda.core import caching
from numba.cuda.dispatcher import CUDACacheImpl

locator = CUDACacheImpl(optim.sgd_step).locator
print(json.dumps({"first": caching.CacheImpl._locator_classes[0].__name__,
                  "stamp": locator.get_source_stamp()[1],
                  "expected": _jit_cache.sources_stamp(optim.__file__)}))
"""


def test_numba_cuda_cache_follows_the_inlined_files_too():
    """numba-cuda keeps its own locator list (used on a GPU, not by the simulator)."""
    pytest.importorskip("numba.cuda")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    done = subprocess.run(
        [sys.executable, "-c", CUDA_STAMP], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["first"] == "FastdlSourcesLocator"
    assert found["stamp"] == found["expected"]
    cuda_optim = ROOT / "backends" / "cuda" / "optim.py"
    assert ROOT / "backends" / "optim_rules.py" in _jit_cache.dependencies(cuda_optim)
