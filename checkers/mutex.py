"""The `mutex` checker: no two processes held the same lock at the same time.

Inputs: the `lock` workload's `acquire` and `release` operations on a lock named by `key`.
Definitions (docs/checkers-set-mutex-queue-vip.md), all times on the harness clock:

* A hold is an acquire that completed ok. It starts at the acquire's ok completion and ends at the
  earliest of: the invoke of the same process's next release of that key (whatever its outcome:
  the client stopped relying on the lock when it began to release it); acquire-invoke + lease_ms
  (the lease the client's ok answer reports, else the one it asked for; a well-behaved client
  stops trusting the lock once its lease may have run out); acquire-ok + lost_after_ms (reported in
  the release's answer when the client learned it lost the lock, e.g. a ZooKeeper connection
  SUSPENDED or LOST). With no release: acquire-invoke + lease_ms, or the end of the history.
* Acquires that failed or ended info are never holds (a maybe-acquired lock was never relied on).
* Two holds of one key by different processes that overlap for any positive time are a violation;
  every such pair is listed with both operations, the overlap and why each hold ended.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from checkers.history import History, Operation
from checkers.units import NS_PER_S

NS_PER_MS = 1_000_000
MAX_LISTED = 200  # overlapping pairs described in full


@dataclass
class Hold:
    acquire: Operation
    release: Operation | None
    start: int
    end: float
    end_reason: str  # release | lease | lost | end-of-history
    lease_ms: float | None
    lost_after_ms: float | None

    def describe(self) -> dict[str, Any]:
        a = self.acquire
        token = a.value.get("token") if isinstance(a.value, dict) else None
        row = {"acquire": a.id, "process": a.process, "node": a.node,
               "acquire_invoke_index": a.invoke_index, "acquire_ok_index": a.complete_index,
               "token": token, "lease_ms": self.lease_ms,
               "start_s": _s(self.start), "end_s": _s(self.end), "ended_by": self.end_reason}
        if self.release is not None:
            row["release"] = self.release.id
            row["release_invoke_index"] = self.release.invoke_index
            row["release_type"] = self.release.type
        if self.lost_after_ms is not None:
            row["lost_after_ms"] = self.lost_after_ms
        return row


class MutexChecker:
    """Invalid when two processes' holds of one lock overlap."""

    name = "mutex"

    def check(self, history: History) -> dict[str, Any]:
        ops = history.operations()
        history_end = max((e.time for e in history.events), default=0)
        answers = {e.index: e.value for e in history.events if e.is_client and e.type != "invoke"}
        holds = find_holds(ops, history_end, answers)
        acquires = [op for op in ops if op.f == "acquire"]
        by_key: dict[Any, list[Hold]] = {}
        for hold in holds:
            by_key.setdefault(_hashable(hold.acquire.key), []).append(hold)

        overlaps: list[dict[str, Any]] = []
        overlap_count = 0
        for key in sorted(by_key, key=str):
            for first, second in overlapping_pairs(by_key[key]):
                overlap_count += 1
                if len(overlaps) < MAX_LISTED:
                    overlap_ns = min(first.end, second.end) - second.start
                    overlaps.append({"key": first.acquire.key,
                                     "overlap_ms": round(overlap_ns / NS_PER_MS, 3),
                                     "from_s": _s(second.start),
                                     "to_s": _s(min(first.end, second.end)),
                                     "first": first.describe(), "second": second.describe()})

        ended_by: dict[str, int] = {}
        for hold in holds:
            ended_by[hold.end_reason] = ended_by.get(hold.end_reason, 0) + 1
        result: dict[str, Any] = {
            "valid": overlap_count == 0,
            "keys": sorted({str(op.key) for op in acquires}),
            "acquires": {t: sum(1 for op in acquires if op.type == t)
                         for t in ("ok", "fail", "info")},
            "holds": len(holds),
            "holds_ended_by": ended_by,
            "overlap_count": overlap_count,
            "overlaps": overlaps,
        }
        if overlap_count:
            o = overlaps[0]
            result["error"] = (
                f"{overlap_count} overlapping hold(s); first: lock {o['key']!r} held by process "
                f"{o['first']['process']} (acquire op {o['first']['acquire']}) and process "
                f"{o['second']['process']} (acquire op {o['second']['acquire']}) at once for "
                f"{o['overlap_ms']} ms from {o['from_s']}s")
        elif not holds:
            result["note"] = "no acquire succeeded: nothing to judge"
        return result


def find_holds(ops: list[Operation], history_end: int,
               answers: dict[int, Any] | None = None) -> list[Hold]:
    """Every ok acquire as a Hold, ended as the module docstring says. `answers` maps history
    indexes to completion values: an info release keeps its answer there (the paired operation
    keeps only the invoke value for info), and that answer may still say when the lock was lost."""
    holds: list[Hold] = []
    open_by_process: dict[tuple[Any, Any], Hold] = {}
    for op in ops:  # invocation order; a process runs one op at a time
        slot = (op.process, _hashable(op.key))
        if op.f == "acquire":
            if op.type == "ok":
                hold = _new_hold(op, history_end)
                holds.append(hold)
                open_by_process[slot] = hold
        elif op.f == "release":
            hold = open_by_process.pop(slot, None)
            if hold is not None:
                answer = (answers or {}).get(op.complete_index, op.value)
                _end_by_release(hold, op, answer)
    return [h for h in holds if h.end > h.start]


def _new_hold(acquire: Operation, history_end: int) -> Hold:
    lease = _lease_ms(acquire)
    if lease is not None:
        end, reason = acquire.start + lease * NS_PER_MS, "lease"
        if end > history_end:
            end, reason = history_end, "end-of-history"
    else:
        end, reason = history_end, "end-of-history"
    return Hold(acquire, None, int(acquire.end), end, reason, lease, None)


def _end_by_release(hold: Hold, release: Operation, answer: Any) -> None:
    hold.release = release
    if release.start <= hold.end:
        hold.end, hold.end_reason = release.start, "release"
    lost = answer.get("lost_after_ms") if isinstance(answer, dict) else None
    if _is_number(lost):
        hold.lost_after_ms = float(lost)
        lost_at = hold.start + float(lost) * NS_PER_MS
        if lost_at < hold.end:
            hold.end, hold.end_reason = lost_at, "lost"


def overlapping_pairs(holds: list[Hold]):
    """(earlier, later) pairs of one key's holds by different processes that overlap in time."""
    ordered = sorted(holds, key=lambda h: (h.start, h.acquire.id))
    active: list[Hold] = []
    for hold in ordered:
        active = [a for a in active if a.end > hold.start]
        for other in active:
            if other.acquire.process != hold.acquire.process:
                yield other, hold
        active.append(hold)


def _lease_ms(acquire: Operation) -> float | None:
    """The lease the client's ok answer reports; the requested one if the answer says nothing."""
    for value in (acquire.value, acquire.invoke_value):
        if isinstance(value, dict) and "lease_ms" in value:
            lease = value["lease_ms"]
            return lease if _is_number(lease) and lease > 0 else None
    return None


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _s(t: float) -> float:
    return round(t / NS_PER_S, 6)
