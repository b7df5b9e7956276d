"""Generated list-append histories for the elle benchmark (and anyone who wants a big one).

    python bench/elle/generate.py OUT.jsonl --txns 100000 [--seed 7] [--processes 10]
        [--active-keys 10] [--appends-per-key 100] [--max-mops 5] [--info-rate 0.01]
        [--stale-reads 0.0] [--format jsonl|edn]

The history is that of a strict-serializable store: every transaction takes effect atomically
at one moment between its invocation and its completion, and its reads see every effect before
that moment. Ten processes (by default) each run one transaction at a time; which process moves
next is random, so transactions overlap as much as ten concurrent clients' would. A transaction
has 1..max-mops micro-ops, each a read (`["r", k, null]`, answered with the whole list) or an
append of the key's next value (`["append", k, v]`) on one of the active keys; a key that has
taken appends-per-key appends retires and a fresh key takes its place, as Elle's generator does.
A fraction info-rate of transactions end `info` (half of them took effect), after which the
process retires and a fresh process number continues, as in splitbrain's own runs.

`--stale-reads F` makes a fraction F of reads see the list as it was some random number of
transactions earlier: the history is then not serializable, and with enough such reads its
dependency graph becomes one huge strongly connected component.

`--snapshot-isolation` runs the store as snapshot isolation instead: a transaction reads the
state as of its invocation (plus its own appends) and fails at commit when another transaction
appended to one of its keys since (first committer wins). That is valid snapshot isolation, not
serializable: write skew makes one huge component of G2-item cycles, with no G-single or
G-nonadjacent cycle anywhere, which a checker can only learn by searching all of it (the
pathological case for the cycle search). `--snapshot-lag N` takes each snapshot as of up to N
commits earlier (first committer wins still judged from the snapshot: generalized snapshot
isolation): the stale snapshots tie the transactions into one component thousands strong.
"""

from __future__ import annotations

import argparse
import bisect
import json
import random
from pathlib import Path
from typing import Any, TextIO


def generate(out: TextIO, txns: int, seed: int = 7, processes: int = 10, active_keys: int = 10,
             appends_per_key: int = 100, max_mops: int = 5, info_rate: float = 0.01,
             stale_reads: float = 0.0, fmt: str = "jsonl",
             snapshot_isolation: bool = False, snapshot_lag: int = 0) -> None:
    rng = random.Random(seed)
    lists: dict[int, list[int]] = {}  # key -> its current list
    commits = 0
    last_commit: dict[int, int] = {}  # key -> number of the last commit that appended to it
    lengths: dict[int, list[tuple[int, int]]] = {}  # key -> (commit, list length after it)
    active = list(range(active_keys))
    next_key = active_keys
    for k in active:
        lists[k] = []
    appended: dict[int, int] = {k: 0 for k in active}  # appends handed out per key
    # per process slot: None (idle) or [process number, txn mops, stage]; stage 0 = invoked,
    # 1 = applied (or decided not to), then completed
    slots: list[Any] = [None] * processes
    process_of = list(range(processes))
    next_process = processes
    started = 0
    index = 0
    time = 0
    write = out.write
    emit = _edn_line if fmt == "edn" else _json_line

    def new_txn() -> list[list[Any]]:
        nonlocal next_key
        mops: list[list[Any]] = []
        for _ in range(rng.randint(1, max_mops)):
            slot = rng.randrange(active_keys)
            k = active[slot]
            if rng.random() < 0.5:
                mops.append(["r", k, None])
            else:
                appended[k] += 1
                mops.append(["append", k, appended[k]])
                if appended[k] >= appends_per_key:  # retire the key; a fresh one takes its slot
                    active[slot] = next_key
                    lists[next_key] = []
                    appended[next_key] = 0
                    next_key += 1
        return mops

    def apply_snapshot(mops: list[list[Any]], snapshot: tuple[int, dict[int, list[int]]]) -> Any:
        """Reads from the snapshot (and own appends); False when first committer wins."""
        nonlocal commits
        taken_at, state = snapshot
        if any(f == "append" and last_commit.get(k, -1) > taken_at for f, k, _v in mops):
            return False
        own: dict[int, list[int]] = {}
        done = []
        for f, k, v in mops:
            if f == "append":
                own.setdefault(k, []).append(v)
                done.append([f, k, v])
            else:
                done.append([f, k, state.get(k, []) + own.get(k, [])])
        commits += 1
        for k, appended in own.items():
            lists[k].extend(appended)
            last_commit[k] = commits
            if snapshot_lag:
                lengths.setdefault(k, []).append((commits, len(lists[k])))
        return done

    def snapshot(keys: set[int]) -> tuple[int, dict[int, list[int]]]:
        at = max(0, commits - rng.randint(0, snapshot_lag)) if snapshot_lag else commits
        state = {}
        for k in keys:
            n = len(lists[k])
            if snapshot_lag:
                steps = lengths.get(k, [])
                i = bisect.bisect_right(steps, (at, n + 1))
                n = steps[i - 1][1] if i else 0
            state[k] = lists[k][:n]
        return at, state

    def apply(mops: list[list[Any]]) -> list[list[Any]]:
        done = []
        for f, k, v in mops:
            if f == "append":
                lists[k].append(v)
                done.append([f, k, v])
            else:
                current = lists[k]
                if stale_reads and rng.random() < stale_reads and current:
                    current = current[:rng.randint(0, len(current))]
                done.append([f, k, list(current)])
        return done

    finished = 0
    while finished < txns or any(slots):
        p = rng.randrange(processes)
        slot = slots[p]
        time += rng.randint(1000, 50000)
        if slot is None:
            if started >= txns:
                continue
            mops = new_txn()
            started += 1
            taken = snapshot({k for _f, k, _v in mops}) if snapshot_isolation else None
            slots[p] = [process_of[p], mops, None, rng.random() < info_rate, taken]
            write(emit(index, time, process_of[p], "invoke", mops))
            index += 1
        elif slot[2] is None:
            # the moment it takes effect (an info txn: half of them never do)
            if slot[3] and rng.random() < 0.5:
                slot[2] = False
            elif snapshot_isolation:
                slot[2] = apply_snapshot(slot[1], slot[4])
            else:
                slot[2] = apply(slot[1])
        else:
            process, mops, done, info, _snapshot = slot
            if done is False and not info:  # first committer won: certainly not applied
                write(emit(index, time, process, "fail", mops))
            elif info:
                write(emit(index, time, process, "info", mops))
                process_of[p] = next_process
                next_process += 1
            else:
                write(emit(index, time, process, "ok", done))
            index += 1
            slots[p] = None
            finished += 1


def _json_line(index: int, time: int, process: int, type_: str, value: Any) -> str:
    return json.dumps({"index": index, "time": time, "process": process, "type": type_,
                       "f": "txn", "value": value}, separators=(",", ":")) + "\n"


def _edn_value(x: Any) -> str:
    if x is None:
        return "nil"
    if isinstance(x, list):
        return "[" + " ".join(_edn_value(v) for v in x) + "]"
    if isinstance(x, str):
        return ":" + x
    return str(x)


def _edn_line(index: int, time: int, process: int, type_: str, value: Any) -> str:
    return (f"{{:index {index}, :time {time}, :process {process}, :type :{type_}, :f :txn, "
            f":value {_edn_value(value)}}}\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--txns", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--processes", type=int, default=10)
    p.add_argument("--active-keys", type=int, default=10)
    p.add_argument("--appends-per-key", type=int, default=100)
    p.add_argument("--max-mops", type=int, default=5)
    p.add_argument("--info-rate", type=float, default=0.01)
    p.add_argument("--stale-reads", type=float, default=0.0)
    p.add_argument("--snapshot-isolation", action="store_true")
    p.add_argument("--snapshot-lag", type=int, default=0)
    p.add_argument("--format", choices=("jsonl", "edn"), default="jsonl")
    a = p.parse_args()
    with open(a.out, "w") as fh:
        generate(fh, a.txns, a.seed, a.processes, a.active_keys, a.appends_per_key, a.max_mops,
                 a.info_rate, a.stale_reads, a.format, a.snapshot_isolation, a.snapshot_lag)


if __name__ == "__main__":
    main()
