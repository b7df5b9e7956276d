"""One function per anomaly kind of the queue checker, each returning its cases from a QueueIndex.

Definitions are in checkers/queue/__init__.py. `CASES` lists them in the order the result shows
them.
"""

from __future__ import annotations

import bisect
from typing import Any, Callable

from checkers.evidence import op_ref
from checkers.history import Operation
from checkers.queue.index import QueueIndex, hashable, value_order

def lost_write_cases(ix: QueueIndex) -> list[dict[str, Any]]:
    """Acknowledged at offset o, never polled, while polls of its partition reached o; or
    acknowledged without an offset, never polled, while a final drain read its whole partition."""
    cases = []
    for p, o, v, op in ix.unpolled:
        if p in ix.max_polled and ix.max_polled[p][0] >= o:
            top, top_op = ix.max_polled[p]
            cases.append({"partition": p, "offset": o, "value": v, "send": op_ref(op, final=True),
                          "highest_offset_polled": top, "highest_offset_poll": top_op,
                          "values_polled_at_offset": [x for x in ix.at_offset.get((p, o), {})
                                                      if x != v]})
    for p, v, op in ix.unpolled_blind:
        if p in ix.drained:
            cases.append({"partition": p, "offset": None, "value": v,
                          "send": op_ref(op, final=True),
                          "highest_offset_polled": ix.max_polled.get(p, (None,))[0],
                          "why": "acknowledged without an offset (acks=0), and the final drain "
                                 "of its partition, from offset 0 to the end, did not return it"})
    return cases


def unseen_cases(ix: QueueIndex) -> list[dict[str, Any]]:
    """Acknowledged, never polled, and no poll reached its offset (a loss once drained)."""
    cases = []
    for p, o, v, op in ix.unpolled:
        if not (p in ix.max_polled and ix.max_polled[p][0] >= o):
            cases.append({"partition": p, "offset": o, "value": v, "send": op_ref(op, final=True),
                          "highest_offset_polled": ix.max_polled[p][0] if p in ix.max_polled
                          else None, "drained": p in ix.drained})
    for p, v, op in ix.unpolled_blind:
        if p not in ix.drained:  # no position: only a whole-partition drain can prove it lost
            cases.append({"partition": p, "offset": None, "value": v,
                          "send": op_ref(op, final=True),
                          "highest_offset_polled": ix.max_polled.get(p, (None,))[0],
                          "drained": False})
    return cases


def truncated_cases(ix: QueueIndex) -> list[dict[str, Any]]:
    """Acknowledged and polled, yet missing from the complete final drain of its partition: the
    log lost it after a consumer had read it (a leader's log truncated to another's)."""
    cases = []
    by_offset: dict[Any, dict[int, Any]] = {}  # partition -> the drain's offset -> value, once
    blind = ((p, None, v, op) for p, v, op in ix.blind)
    for p, o, v, op in [*sorted(ix.acked, key=lambda a: (a[0], a[1])), *blind]:
        held = ix.final_values.get(p)
        if held is None or v in held or v not in ix.polled_values:
            continue
        drain = ix.final_polls[p]
        end = drain.extra.get("end_offset")
        if p not in by_offset:
            by_offset[p] = {at: x for x, at in held.items()}
        now = None if o is None else by_offset[p].get(o)
        cases.append({"partition": p, "offset": o, "value": v, "send": op_ref(op, final=True),
                      "polled_by": [src for srcs in ix.at_value[v].values() for src in srcs
                                    if src.startswith("poll")][:5],
                      "final_drain": op_ref(drain, final=True), "log_end_offset": end,
                      "value_now_at_offset": now})
    return cases


def duplicate_cases(ix: QueueIndex) -> list[dict[str, Any]]:
    """One value observed at two or more positions."""
    cases = [{"value": v, "positions": [{"partition": p, "offset": o, "seen_by": src}
                                        for (p, o), src in sorted(positions.items())]}
             for v, positions in ix.at_value.items() if len(positions) > 1]
    return sorted(cases, key=lambda a: value_order(a["value"]))


def inconsistent_offset_cases(ix: QueueIndex) -> list[dict[str, Any]]:
    """One position observed with two or more values."""
    return [{"partition": p, "offset": o,
             "values": [{"value": v, "seen_by": src} for v, src in values.items()]}
            for (p, o), values in sorted(ix.at_offset.items(), key=lambda kv: kv[0])
            if len(values) > 1]


def unexpected_cases(ix: QueueIndex) -> list[dict[str, Any]]:
    """A polled value that no send tried to write, or whose every send failed."""
    sends_of: dict[Any, list[Operation]] = {}
    for op in ix.sends:
        v = op.invoke_value.get("value") if isinstance(op.invoke_value, dict) else None
        sends_of.setdefault(hashable(v), []).append(op)
    cases = []
    for v in sorted(ix.polled_values, key=value_order):
        tried = sends_of.get(v, [])
        if not tried or all(op.type == "fail" for op in tried):
            (p, o), seen_by = next(iter(ix.at_value[v].items()))
            cases.append({"value": v, "partition": p, "offset": o, "seen_by": seen_by,
                          "why": "never sent" if not tried
                          else "its send failed (certainly not written)",
                          "sends": [op_ref(op, final=True) for op in tried]})
    return cases


def nonmonotonic_poll_cases(ix: QueueIndex) -> list[dict[str, Any]]:
    """A consumer received offset o' after offset o with o' <= o."""
    return [{"process": process, "partition": p, "offset": o, "after_offset": previous[0],
             "poll": op.id, "previous_poll": previous[1].id, "poll_index": op.complete_index}
            for process, p, previous, o, op in ix.consumer_steps
            if previous is not None and o <= previous[0]]


def poll_skip_cases(ix: QueueIndex) -> list[dict[str, Any]]:
    """A consumer jumped over a record that some poll returned."""
    cases = []
    for process, p, previous, o, op in ix.consumer_steps:
        if previous is not None and o <= previous[0]:
            continue
        low = previous[0] if previous is not None else None
        skipped = _between(ix.known[p], low, o)
        if skipped:
            cases.append({"process": process, "partition": p, "offset": o, "after_offset": low,
                          "skipped_offsets": skipped[:20], "skipped_count": len(skipped),
                          "poll": op.id,
                          "previous_poll": previous[1].id if previous is not None else None,
                          "poll_index": op.complete_index})
    return cases


CASES: dict[str, Callable[[QueueIndex], list[dict[str, Any]]]] = {
    "lost-write": lost_write_cases,
    "unseen": unseen_cases,
    "truncated": truncated_cases,
    "duplicate": duplicate_cases,
    "inconsistent-offsets": inconsistent_offset_cases,
    "unexpected": unexpected_cases,
    "nonmonotonic-poll": nonmonotonic_poll_cases,
    "poll-skip": poll_skip_cases,
}


def _between(offsets: list[int], low: int | None, high: int) -> list[int]:
    """Known offsets strictly between low and high (below high when low is None)."""
    start = 0 if low is None else bisect.bisect_right(offsets, low)
    return offsets[start:bisect.bisect_left(offsets, high)]
