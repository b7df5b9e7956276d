"""How a finding points into the history: one reference per operation or transaction.

A reference names the operation (its id among the history's operations, or T and its
invocation's line for a transaction), its process, outcome, the lines of its invocation and
completion in the file, its times in seconds and its node, so a reader can find it with grep or
in the report. The delivery checker's references (checkers/delivery/evidence.py) add groups and
members; these are the plain ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from checkers.history import Operation
from checkers.units import NS_PER_S, seconds

if TYPE_CHECKING:  # the elle package imports this module
    from checkers.elle.transactions import Txn


def op_ref(op: Operation, *, error: bool = False, final: bool = False) -> dict[str, Any]:
    """Where to find an operation: id, process, f, outcome, indexes, times, node; with `error`
    its error, with `final` whether it was a final read ("phase": "final")."""
    ref: dict[str, Any] = {
        "op": op.id, "process": op.process, "f": op.f, "type": op.type,
        "invoke_index": op.invoke_index, "complete_index": op.complete_index,
        "start_s": round(op.start / NS_PER_S, 6), "end_s": seconds(op.end), "node": op.node}
    if error:
        ref["error"] = op.error
    if final:
        ref["final"] = op.extra.get("phase") == "final"
    return ref


def txn_ref(t: Txn) -> dict[str, Any]:
    """Where to find a transaction: its name (T and its invocation's line), outcome, process,
    indexes, times, node and micro-ops."""
    op = t.op
    return {"txn": t.name, "type": t.type, "process": op.process,
            "index": op.invoke_index, "complete_index": op.complete_index,
            "start_s": seconds(op.start), "end_s": seconds(op.end), "node": op.node,
            "mops": t.mops}
