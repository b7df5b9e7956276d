"""Detection rates: how often each raftkv bug is found, and how often the correct system passes.

Runs the real CLI N times per case (default 10 runs of 60 s, as the core issue asks) and prints,
per case, how many runs ended with the expected exit code. Example:

    python bench/detection/run.py --runs 10 --time-limit 60
    python bench/detection/run.py --runs 3 --time-limit 20 --case early-ack
    python bench/detection/run.py --env netns --runs 5 --time-limit 20 \
        --case stale-leader-reads-partition

Each run's store is kept under bench/out/detection/ so any surprising verdict can be opened.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# case name -> (splitbrain run arguments, the exit code that counts as "as expected")
CASES = {
    "correct": (["--nemesis", "kill,pause"], 0),
    "follower-reads": (["--bug", "follower-reads", "--nemesis", "none"], 1),
    # Four workers per node, so the paused leader finds fresh reads waiting when it resumes.
    "stale-leader-reads": (["--bug", "stale-leader-reads", "--nemesis", "pause:leader",
                            "--concurrency", "12"], 1),
    "stale-leader-reads-no-faults": (["--bug", "stale-leader-reads", "--nemesis", "none"], 0),
    "early-ack": (["--bug", "early-ack", "--nemesis", "kill:leader"], 1),
    # The leader cut off from its peers keeps answering reads while the majority moves on; the
    # short op timeout brings its clients back from their stuck writes within that window.
    "stale-leader-reads-partition": (["--bug", "stale-leader-reads", "--nemesis",
                                      "partition:leader:duration=2", "--nemesis-interval", "3",
                                      "--concurrency", "15", "--rate", "300",
                                      "--op-timeout", "0.5"], 1),
    "correct-partition": (["--nemesis", "partition", "--nodes", "5"], 0),
    # Transactions (the elle checker): one micro-op per log entry, found without faults; the
    # correct system's list-append and rw-register runs under every process fault.
    "nonatomic-txn": (["--workload", "append", "--bug", "nonatomic-txn", "--nemesis", "none"], 1),
    "nonatomic-txn-wr": (["--workload", "wr", "--bug", "nonatomic-txn", "--nemesis", "none"], 1),
    "correct-append": (["--workload", "append", "--nemesis", "partition,kill,pause"], 0),
}
NEEDS_NETWORK = {"stale-leader-reads-partition", "correct-partition",  # partitions: env netns
                 "correct-append"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--time-limit", type=float, default=60)
    ap.add_argument("--case", action="append", choices=sorted(CASES))
    ap.add_argument("--env", default=None, choices=("local", "netns"),
                    help="where nodes run (default: splitbrain's default, netns as root)")
    args = ap.parse_args()
    store = ROOT / "bench" / "out" / "detection"
    rows = []
    for case in args.case or list(CASES):
        extra, expected = CASES[case]
        if case in NEEDS_NETWORK and args.env == "local":
            print(f"{case}: skipped (partitions need --env netns)", flush=True)
            continue
        if args.env:
            extra = [*extra, "--env", args.env]
        hits, codes, started = 0, [], time.monotonic()
        for i in range(args.runs):
            argv = [sys.executable, "-m", "harness", "run", "raftkv", *extra,
                    "--time-limit", str(args.time_limit), "--seed", str(1000 + i),
                    "--store", str(store / case), "--quiet"]
            p = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
            codes.append(p.returncode)
            hits += p.returncode == expected
            print(f"{case} run {i + 1}/{args.runs}: exit {p.returncode}", flush=True)
        rows.append((case, hits, args.runs, expected, codes, time.monotonic() - started))
    print()
    print(f"{'case':<30} {'as expected':>12}  expected exit  exits")
    for case, hits, runs, expected, codes, secs in rows:
        print(f"{case:<30} {hits:>5}/{runs:<6}  {expected:^13}  {codes}  ({secs:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
