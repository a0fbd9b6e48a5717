"""Run the fastdl and the PyTorch side of a benchmark file in separate processes and
print one table: median per implementation and the ratio fastdl-numba / torch.

Torch's OpenMP runtime and OpenBLAS's threads disturb each other in one process, so
each side gets its own ``python -m pytest <file> -k fastdl|torch --benchmark-json``.
Each side runs ``--repeats`` times (alternating which goes first); the table shows
the median over repeats of each run's median, and the highest share of the machine
that other processes used during any of those runs (``foreign``: on a shared
2-core machine a busy neighbour stalls every 2-thread BLAS or OpenMP region).

Run as a user's machine runs, without this environment's OpenBLAS pinning::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/compare_train_step.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/compare_train_step.py \\
        --file benchmarks/bench_kernels.py            # the kernels, same treatment

Arguments after ``--`` go to pytest (e.g. ``-- --benchmark-min-rounds=30``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _benchutil import wait_until_quiet  # noqa: E402

# Goals for the ratio fastdl-numba / torch, per batch size of the training step.
TRAIN_STEP_TARGETS = {32: 0.9, 128: 0.75, 1024: 0.7}
SIDES = ("fastdl", "torch")
DEFAULT_PYTEST_ARGS = ("--benchmark-min-rounds=15", "--benchmark-max-time=2.0")


def run_side(file: Path, side: str, json_path: Path, pytest_args: list[str]) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        str(file),
        "-k",
        side,
        "-q",
        "-p",
        "no:cacheprovider",
        f"--benchmark-json={json_path}",
        *pytest_args,
    ]
    print("$", " ".join(cmd), flush=True)
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode not in (0, 5):  # 5: nothing collected (e.g. torch absent: skipped)
        sys.stdout.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"pytest failed for -k {side} (exit {done.returncode})")
    if not json_path.exists():
        return {}
    return json.loads(json_path.read_text())


def collect(results: list[dict]) -> dict[tuple[str, str], dict]:
    """(group, impl) -> medians over runs, the highest foreign load, and the BLAS line."""
    rows: dict[tuple[str, str], dict] = {}
    for data in results:
        for bench in data.get("benchmarks", []):
            impl = bench["params"].get("impl", bench["name"])
            row = rows.setdefault((bench["group"], impl), {"medians": [], "mins": [], "load": []})
            row["medians"].append(bench["stats"]["median"])
            row["mins"].append(bench["stats"]["min"])
            row["load"].append(bench["extra_info"].get("foreign_cpu_load") or 0.0)
            row["blas"] = bench["extra_info"].get("blas", "")
    return rows


def print_table(rows: dict[tuple[str, str], dict], train_step: bool) -> list[dict]:
    groups = sorted({g for g, _ in rows}, key=_group_key)
    impls = sorted({i for _, i in rows}, key=lambda i: (i == "torch", i))
    header = ["group", *impls, "numba/torch"] + (["target", "met"] if train_step else [])
    table, summary = [header], []
    for group in groups:
        medians = {
            i: statistics.median(rows[(group, i)]["medians"]) for i in impls if (group, i) in rows
        }
        numba, torch = medians.get("fastdl-numba"), medians.get("torch")
        ratio = numba / torch if numba and torch else None
        line = [group] + [_cell(rows.get((group, i))) for i in impls]
        line.append(f"{ratio:.2f}" if ratio is not None else "-")
        entry = {"group": group, "medians_s": medians, "ratio_numba_torch": ratio}
        if train_step:
            target = TRAIN_STEP_TARGETS.get(int(group.rsplit("b", 1)[1]))
            met = ratio is not None and target is not None and ratio <= target
            line += [f"<= {target}", "yes" if met else "NO"]
            entry.update(target=target, met=met)
        table.append(line)
        summary.append(entry)
    widths = [max(len(r[c]) for r in table) for c in range(len(header))]
    for k, r in enumerate(table):
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)))
        if k == 0:
            print("  ".join("-" * w for w in widths))
    print("cells: median over runs of each run's median [each run's median] (foreign load max)")
    return summary


def _cell(row: dict | None) -> str:
    if row is None:
        return "-"
    median = statistics.median(row["medians"])
    scale, unit = (1e3, "ms") if median >= 1e-3 else (1e6, "us")
    runs = "/".join(f"{m * scale:.3g}" for m in row["medians"])
    return f"{median * scale:.3g} {unit} [{runs}] ({max(row['load']):.2f})"


def _group_key(group: str):
    name, _, size = group.rpartition("-")
    digits = "".join(ch for ch in size if ch.isdigit())
    return (name, int(digits) if digits else 0, size)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", default=str(HERE / "bench_train_step.py"))
    parser.add_argument("--repeats", type=int, default=2, help="runs per side (default 2)")
    parser.add_argument(
        "--out",
        default=str(ROOT / ".benchmarks" / "compare"),
        help="folder for the JSON files (default .benchmarks/compare)",
    )
    parser.add_argument(
        "--quiet-threshold",
        type=float,
        default=0.15,
        help="wait before each run until the machine is below this busy share",
    )
    parser.add_argument(
        "--quiet-timeout",
        type=float,
        default=60.0,
        help="longest wait for a quiet machine, seconds (0: do not wait)",
    )
    parser.add_argument(
        "--max-foreign",
        type=float,
        default=0.1,
        help="rerun a side when other processes used more than this share",
    )
    parser.add_argument(
        "--retries", type=int, default=2, help="reruns allowed per side and repeat (default 2)"
    )
    args = parser.parse_args(argv)

    pinned = [k for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ]
    if pinned:
        print(
            f"WARNING: {', '.join(pinned)} set: OpenBLAS's kernel is pinned, unlike on a "
            "user's machine. Rerun under: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE"
        )
    file = Path(args.file).resolve()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pytest_args = list(DEFAULT_PYTEST_ARGS) + extra
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results = []
    for repeat in range(args.repeats):
        order = SIDES if repeat % 2 == 0 else SIDES[::-1]
        for side in order:
            if args.quiet_timeout > 0:
                busy = wait_until_quiet(args.quiet_threshold, args.quiet_timeout)
                if busy >= args.quiet_threshold:
                    print(f"note: machine still {busy:.0%} busy after {args.quiet_timeout:.0f} s")
            for attempt in range(args.retries + 1):
                if args.quiet_timeout > 0 and attempt > 0:
                    wait_until_quiet(args.quiet_threshold, args.quiet_timeout)
                path = out / f"{file.stem}-{stamp}-{side}-{repeat}-{attempt}.json"
                data = run_side(file, side, path, pytest_args)
                load = max(
                    (
                        b["extra_info"].get("foreign_cpu_load") or 0.0
                        for b in data.get("benchmarks", [])
                    ),
                    default=0.0,
                )
                if load <= args.max_foreign or attempt == args.retries:
                    break
                print(
                    f"note: other processes used {load:.0%} of the machine during that run; "
                    "running it again"
                )
            results.append(data)
    rows = collect(results)
    if not rows:
        print("no benchmark results")
        return 1
    print()
    info = next(r["machine_info"] for r in results if r)
    print(
        f"cpu: {info.get('cpu_model')}, {info.get('cores')} cores, "
        f"{info.get('memory_gib')} GiB; python {info['versions']['python']}, numpy "
        f"{info['versions']['numpy']}, numba {info['versions']['numba']}"
    )
    print(
        "BLAS (fastdl side):",
        next((r["blas"] for (g, i), r in rows.items() if i.startswith("fastdl")), "-"),
    )
    summary = print_table(rows, train_step="train_step" in file.stem)
    summary_path = out / f"{file.stem}-{stamp}-summary.json"
    summary_path.write_text(
        json.dumps({"file": str(file), "repeats": args.repeats, "rows": summary}, indent=1)
    )
    print(f"JSON: {out}/{file.stem}-{stamp}-*.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
