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

import importlib.util
import json
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


def worker(path: str) -> None:
    """In a child: read, then check, timing each; print the figures as JSON."""
    figures, result = _elle_bench().read_and_check(path, "checkers.delivery:DeliveryChecker")
    print(json.dumps({**figures, "valid": result["valid"],
                      "anomaly_types": result["anomaly_types"],
                      "groups": {g: r["anomaly_counts"] for g, r in result["groups"].items()},
                      "result_bytes": len(json.dumps(result, default=str))}))


def _groups(last: dict) -> str:
    found = "; ".join(f"{g}: {', '.join(f'{k} {n}' for k, n in counts.items()) or 'nothing'}"
                      for g, counts in last["groups"].items())
    return f" ({found}; result {last['result_bytes'] / 1024:.0f} KiB)"


def main() -> None:
    elle = _elle_bench()
    a = elle.arguments(__doc__, "delivery")
    if a.worker:
        worker(a.worker)
        return
    elle.run_cases(a, CASES, "delivery", ("messages", "msg"),
                   lambda out, name: elle.generated(out, name, GENERATE, CASES[name]["args"]),
                   Path(__file__), _groups)


if __name__ == "__main__":
    main()
