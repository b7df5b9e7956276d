"""What a failed partition looks like in results.json: the longest linearizable prefix found, the
state it left, the ops that could not come next, a sentence saying what the model expected, and
the ops up to the failure point (at most WINDOW of them, so huge sub-histories stay readable).

Ops that began only after every linearized and unplaceable op had ended are counted, not listed:
the search never had them as candidates at the dead end, so they take no part in the failure,
and in a long partition they are most of its ops."""

from __future__ import annotations

import math
from typing import Any, Final

from checkers.history import Operation
from checkers.linearizable.partition import Prepared
from checkers.linearizable.search import Deepest
from checkers.models import ILLEGAL, UNOBSERVABLE, Branches, compiled_steps, thaw

WINDOW: Final = 200
_INF: Final = math.inf


def describe_op(model: Any, op: Operation, method: Any = None) -> str:
    """The model's words for `op`; `method` is its describe_op when the caller has looked it up
    once for many ops."""
    describe = method if method is not None else getattr(model, "describe_op", None)
    if describe is not None:
        try:
            return describe(op)
        except Exception:  # a user's model must not hide the verdict behind its describe bug
            pass
    return f"{op.f} {op.invoke_value!r} -> {op.value!r} ({op.type})"


def describe_state(model: Any, state: Any) -> str:
    describe = getattr(model, "describe_state", None)
    if describe is not None:
        try:
            return describe(state)
        except Exception:
            pass
    return f"the state was {thaw(state)!r}"


def op_record(model: Any, op: Operation, describe: Any = None) -> dict[str, Any]:
    """The op as results.json shows it; `describe` is the model's describe_op, when the caller
    has looked it up already."""
    end: Any = op.end
    return {"id": op.id, "process": op.process, "f": op.f, "key": thaw(op.key),
            "invoke_value": thaw(op.invoke_value), "value": thaw(op.value), "type": op.type,
            "start": op.start, "end": None if op.type == "info" or end == _INF else end,
            "node": op.node, "invoke_index": op.invoke_index,
            "complete_index": op.complete_index, "description": describe_op(model, op, describe)}


def failure(model: Any, prep: Prepared, all_ops: list[Operation], deepest: Deepest) -> dict:
    """The evidence for one partition whose search found no linearization."""
    seg = prep.segments[deepest.segment]
    bits = deepest.bits
    pending = [i for i in seg.by_end if not (bits >> i) & 1]
    unplaceable: list[Operation] = []
    if pending:
        reach = seg.reach[pending[0]]
        unplaceable = [seg.ops[i] for i in range(reach) if not (bits >> i) & 1]
    by_id = {op.id: op for op in prep.ops}
    path = [by_id[i] for i in deepest.linearized()]
    return deepest_failure(model, thaw(prep.key), all_ops, path, deepest.state, unplaceable,
                           seg.ops[pending[0]] if pending else None)


def deepest_failure(model: Any, key: Any, all_ops: list[Operation], path: list[Operation],
                    state: Any, unplaceable: list[Operation], first_due: Operation | None) -> dict:
    """The evidence from the search's deepest dead end: `path` led there, `state` is the
    search's (possibly merged) state at it."""
    exact = _replay(model, path, state) if _may_be_merged(state) else state
    return evidence(model, key, all_ops, path, exact, unplaceable, first_due)


def evidence(model: Any, key: Any, all_ops: list[Operation], path: list[Operation], state: Any,
             unplaceable: list[Operation], first_due: Operation | None) -> dict:
    """The failure record: `path` is the longest linearizable prefix found, `state` the model
    state after it, `unplaceable` the ops that could have come next (none could), `first_due`
    the one among them whose return closed the window."""
    # name the op that set the state shown, not a read that merely saw it
    read_fs = getattr(model, "read_fs", ())
    describe = getattr(model, "describe_op", None)
    last = next((op for op in reversed(path) if op.f not in read_fs), None)
    window, later = _window(all_ops, path, unplaceable)
    return {
        "key": key,
        "linearized": [op.id for op in path],
        "state": thaw(state),
        "state_description": describe_state(model, state),
        "unplaceable": [op.id for op in unplaceable],
        "expected": _expected(model, state, last, unplaceable, first_due),
        "ops": [op_record(model, op, describe) for op in window],
        "later_ops": later,
    }


def _expected(model: Any, state: Any, last: Operation | None, unplaceable: list[Operation],
              first_due: Any) -> str:
    """One sentence: which op the model could not accept, and what it held instead."""
    after = f" after {describe_op(model, last)}" if last is not None else " initially"
    illegal = [op for op in unplaceable if _illegal_in(model, op, state)]
    # prefer the op that had to come soonest: the one whose return ends the window
    if first_due and first_due in illegal:
        culprit = first_due
    elif illegal:
        culprit = min(illegal, key=lambda op: op.end)
    else:
        culprit = None
    held = describe_state(model, state)
    if culprit is not None:
        return f"{describe_op(model, culprit)} but {held}{after}"
    if not unplaceable:
        return f"no op could follow: {held}{after}"
    names = "; ".join(describe_op(model, op) for op in unplaceable[:4])
    more = f" and {len(unplaceable) - 4} more" if len(unplaceable) > 4 else ""
    return (f"each op that could come next ({names}{more}) is legal in that state but leaves "
            f"some later op impossible; {held}{after}")


def _replay(model: Any, path: list[Operation], fallback: Any) -> Any:
    """The model state after `path`, by the model's plain `step` (the search may have merged
    unobservable states, which says less)."""
    try:
        state = model.init()
        for op in path:
            legal, state = model.step(state, op)
            if not legal or type(state) is Branches:
                return fallback
        return state
    except Exception:
        return fallback


def _may_be_merged(state: Any) -> bool:
    """Whether the search's state may stand for several (UNOBSERVABLE in it, or a shape this
    cannot look inside): only then is the path replayed to name the one it left."""
    if state is UNOBSERVABLE:
        return True
    t = type(state)
    if t is tuple or t is list or t is frozenset:
        for x in state:
            if _may_be_merged(x):
                return True
        return False
    return not (state is None or t is str or t is int or t is float or t is bool)


def _illegal_in(model: Any, op: Operation, state: Any) -> bool:
    try:
        new = compiled_steps(model, [op])[0](state)
    except Exception:
        return False
    return new is ILLEGAL or (type(new) is Branches and not new)


def _window(all_ops: list[Operation], path: list[Operation],
            unplaceable: list[Operation]) -> tuple[list[Operation], int]:
    """The ops to show, in invocation order, and how many ops began after the failure point
    (the last moment a linearized or unplaceable op was seen) and are left out."""
    ops = all_ops if _in_invocation_order(all_ops) else \
        sorted(all_ops, key=lambda op: (op.start, op.invoke_index))
    cut = _failure_point(path, unplaceable)
    shown = len(ops)
    while shown and ops[shown - 1].start > cut:
        shown -= 1
    later = len(ops) - shown
    if later:
        ops = ops[:shown]
    if len(ops) <= WINDOW:
        return ops, later
    ids = {op.id for op in unplaceable}
    centre = next((i for i, op in enumerate(ops) if op.id in ids), len(ops) - 1)
    lo = max(0, min(centre - WINDOW * 3 // 4, len(ops) - WINDOW))
    window = ops[lo:lo + WINDOW]
    in_window = {op.id for op in window}
    missing = [op for op in unplaceable if op.id not in in_window]
    return sorted(window + missing, key=lambda op: (op.start, op.invoke_index)), later


def _failure_point(path: list[Operation], unplaceable: list[Operation]) -> Any:
    """The latest start or return among the linearized and unplaceable ops (an info op's
    return never comes, so its start counts); with neither, nothing is left out."""
    if not path and not unplaceable:
        return _INF
    cut: Any = -_INF
    for ops in (path, unplaceable):
        for op in ops:
            end: Any = op.end
            t: Any = op.start if end == _INF or op.type == "info" else end
            if t > cut:
                cut = t
    return cut


def _in_invocation_order(ops: list[Operation]) -> bool:
    """Whether ops are sorted by (start, invoke index), as a partition of a history usually is
    (checking is cheaper than sorting)."""
    for i in range(1, len(ops)):
        a, b = ops[i - 1], ops[i]
        if b.start < a.start or (b.start == a.start and b.invoke_index < a.invoke_index):
            return False
    return True
