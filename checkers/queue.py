"""The `queue` checker: Kafka-style partitioned logs, judged from acknowledged sends and polls.

Inputs (op shapes in docs/op-shapes.md): `send` ops whose ok value is {"partition", "value",
"offset"}, and `poll` ops whose ok value is a list of [partition, offset, value] records in the
order the consumer received them; final drains are polls with "phase": "final" and key = the
partition. A consumer is one process reading one partition. Definitions
(docs/checkers-issue5.md):

* inconsistent-offsets: one (partition, offset) observed with two or more values (observations are
  ok polls and acknowledged sends).
* duplicate: one value observed at two or more (partition, offset) positions.
* unexpected: a polled value that no send tried to write, or whose every send failed.
* lost-write: a send acknowledged at offset o of partition p whose value no poll ever returned,
  while polls of p reached o (returned an offset >= o).
* unseen: acknowledged, never polled, and no poll of p reached o. It proves a loss (invalid) when
  an ok final drain of p exists (the drained log ends before o); otherwise it is unknown.
* nonmonotonic-poll: a consumer received offset o' after offset o with o' <= o.
* poll-skip: a consumer received o' right after o (or as its first record) while some poll
  returned an offset strictly between them (below o' for a first record): it jumped over a record
  that exists. Gaps no poll ever filled (e.g. transaction markers) are not skips.
Sends that failed are dropped; info sends may or may not have happened and are only counted.
"""

from __future__ import annotations

import bisect
import math
from typing import Any

from checkers.history import History, Operation

NS_PER_S = 1_000_000_000
MAX_LISTED = 100  # entries described per anomaly list; counts are always complete
INVALIDATING = ("lost-write", "duplicate", "inconsistent-offsets", "unexpected",
                "nonmonotonic-poll", "poll-skip")


def op_ref(op: Operation) -> dict[str, Any]:
    """Where to find an operation in the history: its id, process, indexes and times."""
    return {"op": op.id, "process": op.process, "f": op.f, "type": op.type,
            "invoke_index": op.invoke_index, "complete_index": op.complete_index,
            "start_s": round(op.start / NS_PER_S, 6),
            "end_s": round(op.end / NS_PER_S, 6) if math.isfinite(op.end) else None,
            "node": op.node, "final": op.extra.get("phase") == "final"}


class QueueChecker:
    """Invalid on lost, duplicated, inconsistent or unexpected records, or consumers that went back
    or skipped; unseen acknowledged records are a loss once a final drain proves the log ends
    before them."""

    name = "queue"

    def check(self, history: History) -> dict[str, Any]:
        ops = history.operations()
        sends = [op for op in ops if op.f == "send"]
        polls = [op for op in ops if op.f == "poll" and op.type == "ok"]
        malformed: list[dict[str, Any]] = []

        acked: list[tuple[int, int, Any, Operation]] = []  # partition, offset, value, send
        for op in sends:
            if op.type != "ok":
                continue
            ack = _ack(op.value)
            if ack is None:
                malformed.append({**op_ref(op), "why": "ok send without partition/offset/value"})
            else:
                acked.append((*ack, op))

        # Every observation of (partition, offset) -> value, with who made it.
        at_offset: dict[tuple[int, int], dict[Any, list[str]]] = {}
        at_value: dict[Any, dict[tuple[int, int], list[str]]] = {}
        polled_offsets: dict[int, list[int]] = {}
        polled_values: set[Any] = set()
        consumers: dict[tuple[Any, int], list[tuple[int, Operation]]] = {}

        def observe(p: int, o: int, v: Any, source: str) -> None:
            at_offset.setdefault((p, o), {}).setdefault(v, []).append(source)
            at_value.setdefault(v, {}).setdefault((p, o), []).append(source)

        for p, o, v, op in acked:
            observe(p, o, v, f"send op {op.id}")
        for op in polls:
            records = op.value if isinstance(op.value, list) else None
            if records is None:
                malformed.append({**op_ref(op), "why": "ok poll whose value is not a list"})
                continue
            for record in records:
                rec = _record(record)
                if rec is None:
                    malformed.append({**op_ref(op), "why": f"record {record!r} is not "
                                                           "[partition, offset, value]"})
                    continue
                p, o, v = rec
                observe(p, o, v, f"poll op {op.id}")
                polled_offsets.setdefault(p, []).append(o)
                polled_values.add(v)
                consumers.setdefault((op.process, p), []).append((o, op))
        known = {p: sorted(set(offs)) for p, offs in polled_offsets.items()}
        max_polled = {p: (offs[-1], _max_poll(polls, p)) for p, offs in known.items()}
        drained = {_partition(op.key) for op in polls if op.extra.get("phase") == "final"}

        anomalies: dict[str, list[dict[str, Any]]] = {
            "lost-write": [], "unseen": [], "duplicate": [], "inconsistent-offsets": [],
            "unexpected": [], "nonmonotonic-poll": [], "poll-skip": []}

        for (p, o), values in sorted(at_offset.items(), key=lambda kv: kv[0]):
            if len(values) > 1:
                anomalies["inconsistent-offsets"].append(
                    {"partition": p, "offset": o,
                     "values": [{"value": v, "seen_by": src} for v, src in values.items()]})
        for v, positions in at_value.items():
            if len(positions) > 1:
                anomalies["duplicate"].append(
                    {"value": v, "positions": [{"partition": p, "offset": o, "seen_by": src}
                                               for (p, o), src in sorted(positions.items())]})
        anomalies["duplicate"].sort(key=lambda a: _order(a["value"]))

        sends_of: dict[Any, list[Operation]] = {}
        for op in sends:
            v = op.invoke_value.get("value") if isinstance(op.invoke_value, dict) else None
            sends_of.setdefault(_hashable(v), []).append(op)
        for v in sorted(polled_values, key=_order):
            tried = sends_of.get(v, [])
            if not tried or all(op.type == "fail" for op in tried):
                first = next(iter(at_value[v].items()))
                anomalies["unexpected"].append(
                    {"value": v, "partition": first[0][0], "offset": first[0][1],
                     "seen_by": first[1],
                     "why": "never sent" if not tried else "its send failed (certainly not "
                                                          "written)",
                     "sends": [op_ref(op) for op in tried]})

        for p, o, v, op in sorted(acked, key=lambda a: (a[0], a[1])):
            if v in polled_values:
                continue
            entry = {"partition": p, "offset": o, "value": v, "send": op_ref(op)}
            if p in max_polled and max_polled[p][0] >= o:
                top, top_op = max_polled[p]
                read_there = at_offset.get((p, o), {})
                entry.update({"highest_offset_polled": top, "highest_offset_poll": top_op,
                              "values_polled_at_offset": [x for x in read_there if x != v]})
                anomalies["lost-write"].append(entry)
            else:
                entry.update({"highest_offset_polled": max_polled[p][0] if p in max_polled
                              else None, "drained": p in drained})
                anomalies["unseen"].append(entry)

        for (process, p), seq in sorted(consumers.items(),
                                        key=lambda kv: (str(kv[0][0]), kv[0][1])):
            previous: tuple[int, Operation] | None = None
            offsets = known[p]
            for o, op in seq:
                if previous is not None and o <= previous[0]:
                    anomalies["nonmonotonic-poll"].append(
                        {"process": process, "partition": p, "offset": o,
                         "after_offset": previous[0],
                         "poll": op.id, "previous_poll": previous[1].id,
                         "poll_index": op.complete_index})
                else:
                    low = previous[0] if previous is not None else None
                    skipped = _between(offsets, low, o)
                    if skipped:
                        anomalies["poll-skip"].append(
                            {"process": process, "partition": p, "offset": o, "after_offset": low,
                             "skipped_offsets": skipped[:20], "skipped_count": len(skipped),
                             "poll": op.id,
                             "previous_poll": previous[1].id if previous is not None else None,
                             "poll_index": op.complete_index})
                previous = (o, op)

        unseen_drained = [a for a in anomalies["unseen"] if a["drained"]]
        info_sends = [op for op in sends if op.type == "info"]
        info_values = {_hashable(op.invoke_value.get("value")) for op in info_sends
                       if isinstance(op.invoke_value, dict)}
        counts = {name: len(rows) for name, rows in anomalies.items()}
        result: dict[str, Any] = {
            "valid": True,
            "counts": counts,
            "sends": {t: sum(1 for op in sends if op.type == t) for t in ("ok", "fail", "info")},
            "polls": len(polls),
            "records_polled": sum(len(offs) for offs in polled_offsets.values()),
            "partitions": {str(p): {"highest_offset_polled": max_polled[p][0],
                                    "drained": p in drained} for p in sorted(known)},
            "info_sends_seen": len(info_values & polled_values),
            "info_sends_unseen": len(info_values - polled_values),
        }
        for name, rows in anomalies.items():
            if rows:
                result[name] = rows[:MAX_LISTED]
        if malformed:
            result["malformed"] = malformed[:MAX_LISTED]
            result["malformed_count"] = len(malformed)

        found = [f"{counts[name]} {name}" for name in INVALIDATING if counts[name]]
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
        elif not sends and not polls:
            result["note"] = "no sends and no polls: nothing to judge"
        if any(len(rows) > MAX_LISTED for rows in anomalies.values()):
            result.setdefault("note", f"each anomaly list shows its first {MAX_LISTED} entries; "
                                      f"counts are complete")
        return result


def _ack(value: Any) -> tuple[int, int, Any] | None:
    if not isinstance(value, dict):
        return None
    p, o = value.get("partition"), value.get("offset")
    if not (_is_int(p) and _is_int(o)) or "value" not in value:
        return None
    return p, o, _hashable(value["value"])


def _record(record: Any) -> tuple[int, int, Any] | None:
    if not isinstance(record, (list, tuple)) or len(record) != 3:
        return None
    p, o, v = record
    if not (_is_int(p) and _is_int(o)):
        return None
    return p, o, _hashable(v)


def _max_poll(polls: list[Operation], partition: int) -> int | None:
    """The id of the poll that returned the highest offset of a partition."""
    best: tuple[int, int] | None = None
    for op in polls:
        for record in op.value if isinstance(op.value, list) else []:
            rec = _record(record)
            if rec is not None and rec[0] == partition and (best is None or rec[1] > best[0]):
                best = (rec[1], op.id)
    return best[1] if best else None


def _between(offsets: list[int], low: int | None, high: int) -> list[int]:
    """Known offsets strictly between low and high (below high when low is None)."""
    start = 0 if low is None else bisect.bisect_right(offsets, low)
    return offsets[start:bisect.bisect_left(offsets, high)]


def _first_example(anomalies: dict[str, list[dict[str, Any]]]) -> str:
    lost = anomalies["lost-write"]
    if lost:
        a = lost[0]
        return (f"; e.g. value {a['value']} acknowledged at partition {a['partition']} offset "
                f"{a['offset']} (send op {a['send']['op']}) was never polled although polls "
                f"reached offset {a['highest_offset_polled']}")
    return ""


def _partition(key: Any) -> Any:
    """A final poll's key as a partition number ("0" and 0 name the same partition)."""
    if isinstance(key, str) and key.strip().lstrip("-").isdigit():
        return int(key)
    return key


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _order(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, (int, float)) else (1, str(value))
