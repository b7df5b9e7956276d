"""The `stats` checker: how many operations of each kind ran, how fast, and whether each kind ever worked.

Like Jepsen's stats checker it is a sanity check rather than a correctness proof: a run in which
some operation (say every `cas`) never succeeded proves nothing about that operation, so the
verdict is False and names it. Counts are per `f` and outcome (ok / fail / info), throughput is ok
operations per second over the span of the client history, and latency percentiles (milliseconds)
come from operations that completed with ok or fail (an info operation has no known end).
Nemesis events are not operations and are left out.
"""

from __future__ import annotations

import math
from typing import Any

from checkers.history import History, Operation
from checkers.units import NS_PER_S

OUTCOMES = ("ok", "fail", "info")
PERCENTILES = (("p50", 50.0), ("p95", 95.0), ("p99", 99.0))
NS_PER_MS = 1_000_000


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending, non-empty list (the value some op really had)."""
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_summary(latencies_ns: list[int]) -> dict[str, Any]:
    """count, p50/p95/p99/max and mean in ms for a list of latencies in ns."""
    if not latencies_ns:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    ordered = sorted(latencies_ns)
    summary: dict[str, Any] = {"count": len(ordered)}
    for name, pct in PERCENTILES:
        summary[name] = round(percentile(ordered, pct) / NS_PER_MS, 3)
    summary["max"] = round(ordered[-1] / NS_PER_MS, 3)
    summary["mean"] = round(sum(ordered) / len(ordered) / NS_PER_MS, 3)
    return summary


def _empty_counts() -> dict[str, int]:
    return {"ok": 0, "fail": 0, "info": 0, "total": 0}


class StatsChecker:
    """Counts, throughput and latency per operation; invalid if some `f` never succeeded."""

    name = "stats"

    def check(self, history: History) -> dict[str, Any]:
        ops = history.operations()
        if not ops:
            return {"valid": True, "note": "no client operations in the history", "count": 0,
                    "counts": {}, "totals": _empty_counts(), "throughput": None,
                    "duration_s": 0.0, "latency_ms": {}, "never_succeeded": []}

        counts: dict[str, dict[str, int]] = {}
        totals = _empty_counts()
        latencies: dict[str, list[int]] = {}
        all_latencies: list[int] = []
        for op in ops:
            row = counts.setdefault(op.f, _empty_counts())
            row[op.type] += 1
            row["total"] += 1
            totals[op.type] += 1
            totals["total"] += 1
            latency = _latency_ns(op)
            if latency is not None:
                latencies.setdefault(op.f, []).append(latency)
                all_latencies.append(latency)

        duration_ns = _client_span_ns(history)
        throughput = (round(totals["ok"] / (duration_ns / NS_PER_S), 3)
                      if duration_ns > 0 else None)
        latency_ms = {f: latency_summary(latencies.get(f, [])) for f in sorted(counts)}
        latency_ms["all"] = latency_summary(all_latencies)
        never = sorted(f for f, row in counts.items() if row["ok"] == 0)

        result: dict[str, Any] = {
            "valid": not never,
            "count": totals["total"],
            "counts": {f: counts[f] for f in sorted(counts)},
            "totals": totals,
            "duration_s": round(duration_ns / NS_PER_S, 3),
            "throughput": throughput,  # ok operations per second
            "latency_ms": latency_ms,
            "never_succeeded": never,
        }
        if never:
            result["error"] = ("no " + ", ".join(repr(f) for f in never) + " operation ever "
                               "succeeded, so the run says nothing about "
                               + ("it" if len(never) == 1 else "them"))
        return result


def _latency_ns(op: Operation) -> int | None:
    if op.type not in ("ok", "fail") or not math.isfinite(op.end):
        return None
    return max(0, int(op.end) - op.start)


def _client_span_ns(history: History) -> int:
    times = [e.time for e in history.events if e.is_client]
    return max(times) - min(times) if times else 0
