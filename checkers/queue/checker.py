"""The queue checker: its cases composed into counts, listed examples and a verdict."""

from __future__ import annotations

from typing import Any

from checkers.history import History, gc_paused
from checkers.queue.cases import CASES
from checkers.queue.index import QueueIndex, hashable, index_queue

MAX_LISTED = 100  # entries described per anomaly list; counts are always complete
INVALIDATING = ("lost-write", "truncated", "duplicate", "inconsistent-offsets", "unexpected",
                "nonmonotonic-poll", "poll-skip")


class QueueChecker:
    """Invalid on lost, duplicated, inconsistent or unexpected records, or consumers that went back
    or skipped; unseen acknowledged records are a loss once a final drain proves the log ends
    before them."""

    name = "queue"

    def check(self, history: History) -> dict[str, Any]:
        with gc_paused():  # the index and cases are up to millions of acyclic containers
            ix = index_queue(history)
            anomalies = {name: cases(ix) for name, cases in CASES.items()}
        result = _summary(ix, anomalies)
        for name, rows in anomalies.items():
            if rows:
                result[name] = rows[:MAX_LISTED]
        if ix.blind:  # acks=0: kept out of results that have none, so those read as before
            result["acknowledged_without_offset"] = len(ix.blind)
        if ix.malformed:
            result["malformed"] = ix.malformed[:MAX_LISTED]
            result["malformed_count"] = len(ix.malformed)
        _judge(result, ix, anomalies)
        return result


def _summary(ix: QueueIndex, anomalies: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    info_values = {hashable(op.invoke_value.get("value")) for op in ix.sends
                   if op.type == "info" and isinstance(op.invoke_value, dict)}
    return {
        "valid": True,
        "counts": {name: len(rows) for name, rows in anomalies.items()},
        "sends": {t: sum(1 for op in ix.sends if op.type == t) for t in ("ok", "fail", "info")},
        "polls": len(ix.polls),
        "records_polled": sum(len(offs) for offs in ix.polled_offsets.values()),
        "partitions": {str(p): {"highest_offset_polled": ix.max_polled[p][0],
                                "drained": p in ix.drained} for p in sorted(ix.known)},
        "info_sends_seen": len(info_values & ix.polled_values),
        "info_sends_unseen": len(info_values - ix.polled_values),
    }


def _judge(result: dict[str, Any], ix: QueueIndex,
           anomalies: dict[str, list[dict[str, Any]]]) -> None:
    """The verdict: invalid on any invalidating kind or an unseen record after a final drain;
    unknown when acknowledged records went unseen without one."""
    counts = result["counts"]
    found = [f"{counts[name]} {name}" for name in INVALIDATING if counts[name]]
    unseen_drained = [a for a in anomalies["unseen"] if a["drained"]]
    if unseen_drained:
        found.append(f"{len(unseen_drained)} unseen after a final drain (the log ends before "
                     f"their acknowledged offsets)")
    if found:
        result["valid"] = False
        result["error"] = "found " + ", ".join(found) + _first_example(anomalies)
    elif anomalies["unseen"]:
        result["valid"] = "unknown"
        result["note"] = (f"{counts['unseen']} acknowledged send(s) were never polled and no "
                          f"final drain of their partition succeeded")
    elif not ix.sends and not ix.polls:
        result["note"] = "no sends and no polls: nothing to judge"
    if any(len(rows) > MAX_LISTED for rows in anomalies.values()):
        result.setdefault("note", f"each anomaly list shows its first {MAX_LISTED} entries; "
                                  f"counts are complete")


def _first_example(anomalies: dict[str, list[dict[str, Any]]]) -> str:
    lost = anomalies["lost-write"]
    if not lost and anomalies["truncated"]:
        a = anomalies["truncated"][0]
        at = "without an offset" if a["offset"] is None else f"at offset {a['offset']}"
        return (f"; e.g. value {a['value']} acknowledged {at} of partition {a['partition']} "
                f"(send op {a['send']['op']}) was polled ({a['polled_by'][0]}) but the final "
                f"drain of the partition no longer holds it (the log ends at offset "
                f"{a['log_end_offset']})")
    if lost:
        a = lost[0]
        if a["offset"] is None:
            return (f"; e.g. value {a['value']} acknowledged without an offset at partition "
                    f"{a['partition']} (send op {a['send']['op']}) was not in the final drain "
                    f"of that partition")
        return (f"; e.g. value {a['value']} acknowledged at partition {a['partition']} offset "
                f"{a['offset']} (send op {a['send']['op']}) was never polled although polls "
                f"reached offset {a['highest_offset_polled']}")
    return ""
