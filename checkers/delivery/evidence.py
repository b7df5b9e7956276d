"""How findings point into the history: op references, times and values in words.

Every op is named by its f and the index of its invocation in the file ("poll #120"), so `grep
'"index": 120,'` or the report finds it; a reference adds the completion's index, process, group,
member, outcome and times in seconds since the history began.
"""

from __future__ import annotations

from typing import Any, Final

from checkers.delivery.ops import Crash, KafkaOp, Rebalance
from checkers.units import seconds

SHOWN: Final = 8  # values listed in a sentence before "and N more"


def ref(k: KafkaOp) -> dict[str, Any]:
    op = k.op
    out: dict[str, Any] = {"op": k.name, "f": k.f, "type": k.type, "process": op.process,
                           "index": op.invoke_index, "complete_index": op.complete_index,
                           "start_s": seconds(op.start), "end_s": seconds(op.end)}
    if k.group is not None:
        out["group"] = k.group
    if k.member != op.process:
        out["member"] = k.member
    if op.node is not None:
        out["node"] = op.node
    if op.error is not None:
        out["error"] = op.error
    return out


def crash_ref(c: Crash) -> dict[str, Any]:
    return {"event": c.source, "index": c.index, "time_s": seconds(c.time),
            "members": sorted(c.members, key=repr), "processes": sorted(c.processes, key=repr)}


def rebalance_ref(r: Rebalance) -> dict[str, Any]:
    return {"kind": r.kind, "partitions": list(r.logs), "time_s": seconds(r.time),
            "member": r.op.member, "during": r.op.name}


def partition(name: Any) -> str:
    return f"partition {name}"


def listed(values: list[Any]) -> str:
    shown = ", ".join(repr(v) for v in values[:SHOWN])
    more = len(values) - SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def at_s(ns: int | float) -> str:
    s = seconds(ns)
    return "an unknown time" if s is None else f"{s:.3f} s"
