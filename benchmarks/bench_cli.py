"""Whole-command timing of ``fastdl train`` (cold and warm Numba cache) and its peers.

The job: ``fastdl train`` with its defaults, an MLP 64-128-64-10 (ReLU, Adam lr 1e-3)
on the bundled digits, batch 32, 30 epochs, then a checkpoint and a history plot.
Peers for the same job on the same split: scikit-learn's ``MLPClassifier`` and a
plain PyTorch script (``benchmarks/peers/``). Each command is timed from process
start to exit (interpreter start-up and imports included), as a user sees it.

* cold: Numba's cache of fastdl's kernels is empty, so every kernel the job calls
  compiles. By default the cold run points ``NUMBA_CACHE_DIR`` at a fresh empty
  folder, which leaves the shared ``fastdl/**/__pycache__/*.nb[ic]`` files alone
  (other people's runs stay warm); ``--cache in-place`` deletes those files instead
  (``numba_cache.py`` finds them), exactly as a fresh install starts.
* warm: the same command again, the cache now filled.

``--model cnn|resnet|lstm`` times ``fastdl train --model ...`` instead (fastdl only; the
peers are MLP scripts); the CNN's target is 60 s from a cold cache.

Run (a script, not a pytest file)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_cli.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_cli.py --model cnn
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
        python benchmarks/bench_cli.py --repeats 3 --cache in-place
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _benchutil import busy_cpu_seconds, cpu_model  # noqa: E402
from numba_cache import delete_cache_files, find_cache_files  # noqa: E402

TARGETS = {"fastdl-numba cold": 30.0, "fastdl-numba warm": 5.0}
MODEL_TARGETS = {"cnn": {"fastdl-numba cold": 60.0}}


def fastdl_command() -> list[str]:
    """The ``fastdl`` console script next to this interpreter (not a pyenv shim)."""
    script = Path(sys.executable).parent / "fastdl"
    if script.exists():
        return [str(script)]
    found = shutil.which("fastdl")
    return [found] if found else [sys.executable, "-m", "fastdl.cli"]


def timed(cmd: list[str], env: dict[str, str]) -> dict:
    """Run ``cmd``; wall seconds, its printed key=value pairs and the neighbours' load."""
    busy0, own0, t0 = busy_cpu_seconds(), _children_cpu(), time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        sys.stdout.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"failed (exit {done.returncode}): {' '.join(cmd)}")
    own = _children_cpu() - own0
    foreign = None
    if busy0 is not None:
        foreign = max(busy_cpu_seconds() - busy0 - own, 0.0) / (wall * (os.cpu_count() or 1))
    line = done.stdout.strip().splitlines()[-1]
    fields = dict(re.findall(r"(\w+)=(\S+)", line))
    return {"wall_s": wall, "cpu_s": own, "foreign_load": foreign, "fields": fields, "line": line}


def _children_cpu() -> float:
    t = os.times()
    return t.children_user + t.children_system


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2, help="runs of each job (default 2)")
    parser.add_argument(
        "--cache",
        choices=("isolated", "in-place"),
        default="isolated",
        help="how to get a cold Numba cache (default isolated)",
    )
    parser.add_argument("--no-peers", action="store_true", help="skip sklearn and torch")
    parser.add_argument(
        "--model",
        choices=("mlp", "cnn", "resnet", "lstm"),
        default="mlp",
        help="fastdl train --model (default mlp; other models run without the MLP peers)",
    )
    parser.add_argument(
        "--out",
        default=str(ROOT / ".benchmarks" / "cli"),
        help="folder for the JSON results (default .benchmarks/cli)",
    )
    args = parser.parse_args(argv)

    pinned = [k for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ]
    if pinned:
        print(
            f"WARNING: {', '.join(pinned)} set; rerun under "
            "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE"
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="fastdl-bench-cli-"))
    train = [*fastdl_command(), "train", "--no-progress", "--model", args.model]
    targets = TARGETS if args.model == "mlp" else MODEL_TARGETS.get(args.model, {})
    if args.model != "mlp":
        args.no_peers = True
    peers = {
        "sklearn": [sys.executable, str(HERE / "peers" / "sklearn_digits.py")],
        "torch": [sys.executable, str(HERE / "peers" / "torch_digits.py")],
    }
    runs: dict[str, list[dict]] = {}

    def record(name: str, result: dict) -> None:
        runs.setdefault(name, []).append(result)
        load = result["foreign_load"]
        print(
            f"{name:24s} {result['wall_s']:6.2f} s  (others used "
            f"{'-' if load is None else f'{load:.0%}'})  {result['line']}",
            flush=True,
        )

    try:
        for repeat in range(args.repeats):
            env = dict(os.environ)
            if args.cache == "isolated":
                env["NUMBA_CACHE_DIR"] = str(scratch / f"numba-cache-{repeat}")
            else:
                removed = delete_cache_files()
                print(f"deleted {removed} Numba cache files under fastdl/")
            for state in ("cold", "warm"):
                cmd = [*train, "--out", str(scratch / f"run-{repeat}-{state}")]
                record(f"fastdl-numba {state}", timed(cmd, env))
            cmd = [*train, "--backend", "reference", "--out", str(scratch / f"ref-{repeat}")]
            record("fastdl-reference", timed(cmd, env))
            if not args.no_peers:
                for name, cmd in peers.items():
                    record(f"{name} peer", timed(cmd, dict(os.environ)))
        if args.cache == "isolated":
            left = len(find_cache_files(scratch / "numba-cache-0", anywhere=True))
            print(f"(cold run compiled and cached {left} Numba files)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print()
    print(f"cpu: {cpu_model()}, {os.cpu_count()} cores; cache mode: {args.cache}")
    header = f"{'job':24s} {'median s':>9s}  {'runs s':18s} {'in-process s':>12s}  accuracy  target"
    print(header)
    print("-" * len(header))
    summary = {}
    for name, results in runs.items():
        walls = [r["wall_s"] for r in results]
        inner = [float(r["fields"]["seconds"]) for r in results if "seconds" in r["fields"]]
        accs = sorted({r["fields"].get("test_accuracy", "-") for r in results})
        median = statistics.median(walls)
        target = targets.get(name)
        verdict = (
            "" if target is None else f"<= {target:g} s {'met' if median <= target else 'MISSED'}"
        )
        print(
            f"{name:24s} {median:9.2f}  {'/'.join(f'{w:.2f}' for w in walls):18s} "
            f"{statistics.median(inner) if inner else float('nan'):12.2f}  "
            f"{','.join(accs):8s}  {verdict}"
        )
        summary[name] = {
            "wall_s": walls,
            "median_wall_s": median,
            "inner_s": inner,
            "accuracy": accs,
            "target_s": target,
            "foreign_load": [r["foreign_load"] for r in results],
        }
    print("in-process s: what the command itself prints as seconds= (after imports)")
    path = out / f"cli-{args.model}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    report = {"cache": args.cache, "model": args.model, "runs": summary}
    path.write_text(json.dumps(report, indent=1))
    print(f"JSON: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
