"""Benchmark: the elle checker on generated list-append histories, as a user runs it.

    python bench/elle/run.py [--repeats 5] [--skip-million] [--out bench/out/elle]
                             [--python VENV_PYTHON]

Cases (histories made by bench/elle/generate.py, cached in --out):

- 100k: 100,000 transactions of 1-5 micro-ops, 10 active keys of up to 100 appends, 10
  processes, 1% info, from a strict-serializable store; goal >= 150,000 txn/s whole process.
- 1M: the same with 1,000,000 transactions; goal < 15 s and < 3 GiB whole process.
- pathological: a generalized-snapshot-isolation store (stale snapshots, first committer wins)
  whose dependency graph is one component of about 10,000 transactions with G2-item cycles but
  no G-single or G-nonadjacent one, so the search must cover all of it; goal: done inside the
  cycle search's time budget (10 s by default) with a result of bounded size.

First it installs splitbrain from this checkout into a new virtualenv, as a user's first install
does (bench/linearizability/run.py's fresh_install; `--python` measures the interpreter of an
existing install instead). Each case runs that install's `python -m harness check --checker elle
FILE` (the `splitbrain check` command) in a fresh process from a temporary directory outside the
checkout: the whole-process wall time and peak RSS include Python's start-up, imports, reading
the file and checking. A second column comes
from a worker process that times reading and checking separately. Each figure is the median of
--repeats runs (the machine is shared: runs vary); the range is printed beside it.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
GENERATE = HERE / "generate.py"

CASES = {
    "100k": {"args": ["--txns", "100000"], "txns": 100_000, "exit": 0},
    "1M": {"args": ["--txns", "1000000"], "txns": 1_000_000, "exit": 0},
    "pathological": {"args": ["--txns", "45000", "--snapshot-isolation", "--snapshot-lag", "1000"],
                     "txns": 45_000, "exit": 1},
}


def history(out: Path, name: str) -> Path:
    return generated(out, name, GENERATE, CASES[name]["args"])


def generated(out: Path, name: str, generator: Path, args: list[str]) -> Path:
    """out/NAME.jsonl, written by `generator OUT ARGS...` unless it is there already. Shared
    with bench/delivery/run.py."""
    path = out / f"{name}.jsonl"
    if not path.exists():
        print(f"generating {path} ...", flush=True)
        tmp = path.with_suffix(".tmp")
        subprocess.run([sys.executable, str(generator), str(tmp), *args], check=True)
        tmp.rename(path)
    return path


def run_one(cmd: list[str], cwd: str) -> dict:
    """Wall time, peak RSS (KiB, from wait4) and output of one process (which prints little),
    which imports splitbrain from its interpreter's install, never from PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_kib": usage.ru_maxrss,
            "rc": os.waitstatus_to_exitcode(status), "stdout": out, "stderr": err}


def read_and_check(path: str, checker: str) -> tuple[dict, dict]:
    """Import the checker ("module:Class"), read the history (with pairing), check it, timing
    each step: the figures and the checker's result (splitbrain as installed for this
    interpreter). Shared with bench/delivery/run.py."""
    started = time.perf_counter()
    module, _, name = checker.partition(":")
    cls = getattr(importlib.import_module(module), name)
    from checkers.formats import read_history
    imported = time.perf_counter()
    history = read_history(path)
    history.operations()  # pairing invocations with completions is part of reading
    read = time.perf_counter()
    result = cls().check(history)
    checked = time.perf_counter()
    return {"import_s": imported - started, "read_s": read - imported,
            "check_s": checked - read}, result


def worker(path: str) -> None:
    """In a child: read, then check, timing each; print the figures as JSON."""
    figures, result = read_and_check(path, "checkers.elle:ElleChecker")
    print(json.dumps({**figures, "valid": result["valid"],
                      "anomaly_types": result["anomaly_types"],
                      "search": {k: v for k, v in result["cycle_search"].items()
                                 if k != "listed"},
                      "result_bytes": len(json.dumps(result, default=str)),
                      "txns": result.get("txns")}))


def measure(name: str, path: Path, checker: str, worker_script: Path, repeats: int,
            expected: int, python: Path) -> tuple[list[float], float, float, float, float, float,
                                                  dict]:
    """`splitbrain check --checker CHECKER PATH` (as `python -m harness` of the install of
    `python`) and the worker script,
    `repeats` times each, from a temporary directory outside the checkout: every wall time, and
    the medians of wall time, CPU time (user + system: what the process itself used, which
    other processes' load on a shared machine inflates less than wall time), peak RSS (KiB),
    read and check seconds, and the last worker's figures. Shared with bench/delivery/run.py."""
    runs, parts = [], []
    with tempfile.TemporaryDirectory(prefix=f"{checker}-bench-") as cwd:
        for _ in range(repeats):
            run = run_one([str(python), "-m", "harness", "check", "--checker", checker,
                           str(path)], cwd)
            if run["rc"] != expected:
                print(f"{name}: exit {run['rc']}, expected {expected}:\n{run['stdout']}"
                      f"{run['stderr'][-2000:]}")
            runs.append(run)
            part = run_one([str(python), str(worker_script), "--worker", str(path)], cwd)
            parts.append(json.loads(part["stdout"].strip().splitlines()[-1]))
    walls = [r["wall"] for r in runs]
    return (walls, statistics.median(walls), statistics.median(r["cpu"] for r in runs),
            statistics.median(r["rss_kib"] for r in runs),
            statistics.median(x["read_s"] for x in parts),
            statistics.median(x["check_s"] for x in parts), parts[-1])


def _linearizability_bench():  # type: ignore[no-untyped-def]
    """bench/linearizability/run.py, for its fresh_install and checker_core."""
    spec = importlib.util.spec_from_file_location("linearizability_bench",
                                                  HERE.parent / "linearizability" / "run.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    return f"{fmt.format(min(values))}-{fmt.format(max(values))}" if len(values) > 1 else "1 run"


def arguments(doc: str, out: str) -> argparse.Namespace:
    """The options every checker benchmark takes (bench/elle, bench/delivery)."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--skip-million", action="store_true")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / out)
    p.add_argument("--python", default=None,
                   help="the interpreter of an existing install of splitbrain to measure "
                        "(default: a new virtualenv with this checkout installed)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    return p.parse_args()


def run_cases(a: argparse.Namespace, cases: dict[str, dict], checker: str,
              unit: tuple[str, str], history_of: Callable[[Path, str], Path],
              worker_script: Path, describe: Callable[[dict], str]) -> None:
    """Measure every case (`measure`) and print a row each: `unit` names what a case counts,
    as case[unit[0]], and its rate (unit[1] per second); `describe` adds to the verdict from
    the last worker's figures. Shared with bench/delivery/run.py."""
    a.out.mkdir(parents=True, exist_ok=True)
    count, per = unit
    install = _linearizability_bench()
    python, how = install.fresh_install(a.python)
    print(f"splitbrain: {how}; checker core: {install.checker_core(python)}")
    print(f"load average at start: {os.getloadavg()[0]:.2f} (runs on {os.cpu_count()} cores)")
    print(f"{'case':13} {count:>9} {'wall (median)':>14} {'range':>11} {per + '/s':>9} "
          f"{'cpu':>6} {'peak RSS':>9} | {'read':>6} {'check':>6} {'check ' + per + '/s':>11} | "
          f"verdict")
    for name, case in cases.items():
        if name == "1M" and a.skip_million:
            continue
        path = history_of(a.out, name)
        repeats = a.repeats if name != "1M" else max(1, min(a.repeats, 3))
        walls, wall, cpu, rss, read_s, check_s, last = measure(
            name, path, checker, worker_script, repeats, case["exit"], python)
        verdict = {True: "valid", False: "invalid"}.get(last["valid"], "unknown")
        n = case[count]
        print(f"{name:13} {n:9,d} {wall:13.2f}s {spread(walls):>11} {n / wall:9,.0f} "
              f"{cpu:5.2f}s {rss / 1024:8.0f}M | {read_s:5.2f}s {check_s:5.2f}s "
              f"{n / check_s:11,.0f} | {verdict}{describe(last)} "
              f"(load {os.getloadavg()[0]:.2f})", flush=True)


def _search(last: dict) -> str:
    if not last["anomaly_types"]:
        return ""
    s = last["search"]
    return (f" {','.join(last['anomaly_types'])}; largest component {s['largest']}, "
            f"search {s['seconds']:.2f} s of {s['timeout_s']:g} s"
            f"{' (timed out)' if s['timed_out'] else ''}, result "
            f"{last['result_bytes'] / 1024:.0f} KiB")


def main() -> None:
    a = arguments(__doc__, "elle")
    if a.worker:
        worker(a.worker)
        return
    run_cases(a, CASES, "elle", ("txns", "txn"), history, Path(__file__), _search)


if __name__ == "__main__":
    main()
