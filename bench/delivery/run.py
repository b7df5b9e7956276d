"""Benchmark: the delivery checker on generated `group` workload histories, as a user runs it.

    python bench/delivery/run.py [--repeats 5] [--skip-million] [--out bench/out/delivery]

Cases (histories made by bench/delivery/generate.py, cached in --out):

- 100k: 100,000 messages to 8 partitions from 8 producers (a thousandth failed, a thousandth
  unknown), two consumer groups of 4 members under commit=after with a crash every ~5,000 polls
  (so a few hundred duplicates, each explained), the groups catching up, a final drain; about
  220,000 lines, 35 MB.
- 1M: the same with 1,000,000 messages (2.2 million lines, 370 MB); goal: under 30 s and
  3 GiB whole process.

Each case runs `python -m harness check --checker delivery FILE` (the `splitbrain check`
command) in a fresh process from a temporary directory outside the checkout: the whole-process
wall time and peak RSS include Python's start-up, imports, reading the file and checking. A
second column comes from a worker process that times reading (with pairing) and checking
separately. Each figure is the median of --repeats runs (the machine is shared: runs vary); the
range is printed beside it. No peer runs here: Jepsen's kafka checker is Clojure, published on
Clojars, which this machine cannot reach. Process handling (wait4 for the peak RSS) is the elle
benchmark's (bench/elle/run.py), loaded from its file.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
GENERATE = HERE / "generate.py"

CASES = {
    "100k": {"args": ["--messages", "100000"], "messages": 100_000, "exit": 0},
    "1M": {"args": ["--messages", "1000000"], "messages": 1_000_000, "exit": 0},
}


def _elle_bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("elle_bench", HERE.parent / "elle" / "run.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def history(out: Path, name: str) -> Path:
    path = out / f"{name}.jsonl"
    if not path.exists():
        print(f"generating {path} ...", flush=True)
        tmp = path.with_suffix(".tmp")
        subprocess.run([sys.executable, str(GENERATE), str(tmp), *CASES[name]["args"]],
                       check=True)
        tmp.rename(path)
    return path


def worker(path: str) -> None:
    """In a child: read, then check, timing each; print the figures as JSON."""
    sys.path.insert(0, str(ROOT))
    started = time.perf_counter()
    from checkers.delivery import DeliveryChecker
    from checkers.formats import read_history
    imported = time.perf_counter()
    history = read_history(path)
    history.operations()  # pairing invocations with completions is part of reading
    read = time.perf_counter()
    result = DeliveryChecker().check(history)
    checked = time.perf_counter()
    print(json.dumps({"import_s": imported - started, "read_s": read - imported,
                      "check_s": checked - read, "valid": result["valid"],
                      "anomaly_types": result["anomaly_types"],
                      "groups": {g: r["anomaly_counts"] for g, r in result["groups"].items()},
                      "result_bytes": len(json.dumps(result, default=str))}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--skip-million", action="store_true")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "delivery")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        worker(a.worker)
        return
    elle = _elle_bench()
    a.out.mkdir(parents=True, exist_ok=True)
    print(f"checker core: {elle.checker_core()}")
    print(f"{'case':6} {'messages':>9} {'wall (median)':>14} {'range':>11} {'msg/s':>9} "
          f"{'peak RSS':>9} | {'read':>6} {'check':>6} {'check msg/s':>11} | verdict")
    for name, case in CASES.items():
        if name == "1M" and a.skip_million:
            continue
        path = history(a.out, name)
        repeats = a.repeats if name != "1M" else max(1, min(a.repeats, 3))
        runs, parts = [], []
        with tempfile.TemporaryDirectory(prefix="delivery-bench-") as cwd:  # outside the checkout
            for _ in range(repeats):
                run = elle.run_one([sys.executable, "-m", "harness", "check", "--checker",
                                    "delivery", str(path)], cwd)
                if run["rc"] != case["exit"]:
                    print(f"{name}: exit {run['rc']}, expected {case['exit']}:\n{run['stdout']}"
                          f"{run['stderr'][-2000:]}")
                runs.append(run)
                part = elle.run_one([sys.executable, str(Path(__file__)), "--worker", str(path)],
                                    cwd)
                parts.append(json.loads(part["stdout"].strip().splitlines()[-1]))
        walls = [r["wall"] for r in runs]
        wall = statistics.median(walls)
        rss = statistics.median(r["rss_kib"] for r in runs)
        read_s = statistics.median(x["read_s"] for x in parts)
        check_s = statistics.median(x["check_s"] for x in parts)
        last = parts[-1]
        verdict = {True: "valid", False: "invalid"}.get(last["valid"], "unknown")
        found = "; ".join(f"{g}: {', '.join(f'{k} {n}' for k, n in counts.items()) or 'nothing'}"
                          for g, counts in last["groups"].items())
        print(f"{name:6} {case['messages']:9,d} {wall:13.2f}s {elle.spread(walls):>11} "
              f"{case['messages'] / wall:9,.0f} {rss / 1024:8.0f}M | {read_s:5.2f}s "
              f"{check_s:5.2f}s {case['messages'] / check_s:11,.0f} | {verdict} ({found}; "
              f"result {last['result_bytes'] / 1024:.0f} KiB)", flush=True)


if __name__ == "__main__":
    main()
