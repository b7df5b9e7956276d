"""Seeded random histories for the queue, set and kafka-txn checkers, anomalies included.

Each generator takes a `random.Random` and returns a History whose ops run on a few processes,
each process one op at a time (random durations, processes overlapping), so the pairing of
invocations and completions is the real one. Values are drawn so that every branch of the
checkers is reached: lost, duplicated, unexpected and skipped records, failed and unknown
outcomes, malformed values, final drains and reads with and without their phase marks.
`tests/checkers/test_checker_results.py` replays them against results recorded before the
checkers were split into one function per anomaly kind.
"""

from __future__ import annotations

import random
from typing import Any

from checkers.history import Event, History

OUTCOMES = ("ok", "ok", "ok", "ok", "fail", "info")


class Timeline:
    """Ops on processes: each process runs its ops one after another; a never-completed op
    (outcome None) is its process's last."""

    def __init__(self, rng: random.Random, processes: int) -> None:
        self.rng = rng
        self.clock = {p: rng.randrange(0, 5_000_000) for p in range(processes)}
        self.closed: set[int] = set()
        self.rows: list[tuple[int, int, int, Event]] = []

    def op(self, f: str, invoke: Any, outcome: str | None, value: Any = None, key: Any = None,
           extra: dict[str, Any] | None = None, error: Any = None,
           process: int | None = None) -> None:
        open_ = [p for p in self.clock if p not in self.closed]
        if not open_:
            return
        p = process if process in open_ else self.rng.choice(open_)
        start = self.clock[p] + self.rng.randrange(0, 3_000_000)
        end = start + self.rng.randrange(1, 8_000_000)
        self.clock[p] = end
        node = self.rng.choice(["n1", "n2", None])
        x = dict(extra or {})
        self.rows.append((start, 0, len(self.rows),
                          Event(0, start, p, "invoke", f, invoke, key, node, None, dict(x))))
        if outcome is None:
            self.closed.add(p)
            return
        self.rows.append((end, 1, len(self.rows),
                          Event(0, end, p, outcome, f, value, key, node,
                                error if outcome != "ok" else None, dict(x))))

    def history(self) -> History:
        events = [row[3] for row in sorted(self.rows, key=lambda r: r[:3])]
        for i, e in enumerate(events):
            e.index = i
        return History(events)


def _length(rng: random.Random, usual: int) -> int:
    """Mostly short histories; one in twelve long enough to overflow the listed examples."""
    return rng.randint(0, usual) if rng.random() > 1 / 12 else rng.randint(250, 500)


def _outcome(rng: random.Random) -> str | None:
    return rng.choice(OUTCOMES) if rng.random() > 0.04 else None


def _value(rng: random.Random, n: int) -> Any:
    roll = rng.random()
    if roll < 0.05:
        return f"v{n}"
    if roll < 0.08:
        return [n, n + 1]
    return n


def queue_history(rng: random.Random) -> History:
    """Sends to partitioned logs and polls of them; bugs: lost, duplicated, rewritten,
    unexpected and skipped records, consumers that go back, malformed replies."""
    partitions = rng.randint(1, 3)
    t = Timeline(rng, rng.randint(1, 5))
    logs: dict[int, list[Any]] = {p: [] for p in range(partitions)}
    positions: dict[tuple[int, int], int] = {}
    n = 0
    send_share = rng.choice([0.5, 0.5, 0.5, 0.9])
    for _ in range(_length(rng, 40)):
        if rng.random() < send_share:
            p, n = rng.randrange(partitions), n + 1
            v = _value(rng, n)
            outcome = _outcome(rng)
            written = outcome in ("ok", "info", None) and rng.random() > 0.1
            if written or (outcome == "fail" and rng.random() < 0.1):
                logs[p].append(v)
                if rng.random() < 0.05:
                    logs[p].append(v)  # written twice
            done: Any = None
            if outcome == "ok":
                offset = len(logs[p]) - 1 if logs[p] else rng.randint(0, 3)
                done = {"partition": p, "value": v, "offset": offset}
                if rng.random() < 0.04:
                    done = rng.choice([{"partition": p, "value": v}, None, {"partition": p,
                                       "offset": True, "value": v}])
            t.op("send", {"partition": p, "value": v}, outcome, done)
        else:
            p = rng.randrange(partitions)
            final = rng.random() < 0.15
            consumer = rng.randrange(3)
            at = 0 if final else positions.get((consumer, p), 0)
            count = rng.randint(0, 6)
            records: Any = []
            for o in range(at, min(len(logs[p]), at + count)):
                if rng.random() < 0.06:
                    continue  # skipped
                v = logs[p][o]
                if rng.random() < 0.03:
                    v = f"other{o}"  # unexpected, and inconsistent at o
                records.append([p, o, v])
            if records and rng.random() < 0.05:
                records.insert(0, records[-1])  # went back
            if rng.random() < 0.03:
                records.append(rng.choice([[p, "x", 1], [p, 1], "junk"]))
            if rng.random() < 0.02:
                records = {"not": "a list"}
            positions[(consumer, p)] = at + count if rng.random() > 0.1 else max(0, at - 2)
            key = (str(p) if rng.random() < 0.3 else p) if final else None
            t.op("poll", None, "ok" if final or rng.random() > 0.1 else rng.choice(["fail",
                 "info"]), records, key=key, extra={"phase": "final"} if final else None,
                 process=consumer)
    return t.history()


def set_history(rng: random.Random) -> History:
    """Adds of unique elements and reads of the set; bugs: lost and unexpected elements."""
    t = Timeline(rng, rng.randint(1, 5))
    present: list[Any] = []
    n = 0
    marks = rng.random() < 0.6
    kept = rng.choice([0.96, 0.96, 0.96, 0.3])
    for _ in range(_length(rng, 40)):
        if rng.random() < 0.75:
            n += 1
            e = n if rng.random() > 0.03 else rng.randint(1, n)  # sometimes added twice
            e = [e, 0] if rng.random() < 0.02 else e
            outcome = _outcome(rng)
            if outcome in ("ok", "info", None) and rng.random() > 0.08:
                present.append(e)
            t.op("add", e, outcome, e)
        else:
            final = marks and rng.random() < 0.4
            seen: Any = [x for x in present if rng.random() < kept]
            for _ in range(rng.choice([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 150])):
                seen.append(rng.choice([n + 1000 + len(seen), f"ghost{len(seen)}"]))
            if rng.random() < 0.04:
                seen = None
            t.op("read", None, "ok" if rng.random() > 0.1 else "fail", seen,
                 extra={"phase": "final"} if final else None)
    return t.history()


def kafka_txn_history(rng: random.Random) -> History:
    """Sends, consume-transform-produce transactions, read_committed reads, final drains and
    committed offsets; bugs: aborted reads, duplicates, missing outputs, wrong values."""
    partitions = rng.randint(1, 2)
    t = Timeline(rng, rng.randint(2, 5))
    inputs: dict[int, list[int]] = {p: [] for p in range(partitions)}
    out: dict[int, list[list[Any]]] = {p: [] for p in range(partitions)}
    cursor = {p: 0 for p in range(partitions)}
    n = 0
    for _ in range(_length(rng, 30)):
        roll = rng.random()
        if roll < 0.35:
            p, n = rng.randrange(partitions), n + 1
            inputs[p].append(n)
            ok = rng.random() > 0.1
            t.op("send", {"partition": p, "value": n}, "ok" if ok else "info",
                 {"partition": p, "value": n, "offset": len(inputs[p]) - 1} if ok else None)
        elif roll < 0.7:
            p = rng.randrange(partitions)
            txn = f"t{rng.randrange(3)}-{n}-{len(t.rows)}"
            if rng.random() < 0.03 and out[p]:
                txn = out[p][-1][2]["txn"]  # a transaction id used twice
            lo = cursor[p] if rng.random() > 0.1 else max(0, cursor[p] - 1)
            consumed = [[o, inputs[p][o]] for o in range(lo, min(len(inputs[p]),
                                                                 lo + rng.randint(0, 3)))]
            abort = rng.random() < 0.15
            outcome = _outcome(rng)
            commits = (outcome == "ok" and not abort) or (outcome in ("info", None)
                                                          and rng.random() < 0.5)
            leaks = outcome in ("fail",) or abort
            produced = []
            if commits or (leaks and rng.random() < 0.1):
                for o, v in consumed:
                    if commits and rng.random() < 0.05:
                        continue  # output lost
                    value = v if rng.random() > 0.04 else v + 1000
                    out[p].append([p, len(out[p]), {"txn": txn, "in": [p, o], "value": value}])
                    produced.append([p, len(out[p]) - 1, o])
            if commits and consumed:
                cursor[p] = consumed[-1][0] + 1
            res = {"partition": p, "txn": txn, "abort": abort, "consumed": consumed,
                   "produced": produced,
                   "next_offset": consumed[-1][0] + 1 if consumed else None}
            t.op("transform", {"partition": p, "txn": txn, "abort": abort}, outcome,
                 res if outcome == "ok" else None, error="timeout" if outcome != "ok" else None)
        else:
            p = rng.randrange(partitions)
            records: list[Any] = [r for r in out[p] if rng.random() > 0.1]
            if rng.random() < 0.04:
                records.append([p, 99, {"txn": "nobody", "in": [p, 0], "value": 0}])
            if rng.random() < 0.04:
                records.append([p, "x", {}])
            t.op("read", None, "ok", records)
    for p in range(partitions):
        if rng.random() < 0.8:
            t.op("read", None, "ok", [r for r in out[p] if rng.random() > 0.03],
                 key=p if rng.random() > 0.05 else str(p),
                 extra={"phase": "final", "complete": rng.random() > 0.15})
        if rng.random() < 0.7:
            t.op("committed", None, "ok", {"partition": p, "offset": cursor[p]}, key=p,
                 extra={"phase": "final"})
    return t.history()
