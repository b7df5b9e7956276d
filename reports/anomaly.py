"""Geometry and rows for one linearizability failure: the ops around the point where no order works.

A failure (from the linearizable checker) names a key, the ops involved with their times, the
prefix the checker could linearize (`linearized`, in order) and the ops it could not place next
(`unplaceable`). This module lays those ops out as bars per process on a time axis, numbers the
linearized ones in their order and flags the unplaceable ones, and builds the table rows. Like
reports/timeline.py it returns plain data; the template draws it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from reports.timeline import LEFT, RIGHT, Axis, short

MAX_OPS = 200
LANE_HEIGHT = 34.0
TOP = 8.0
AXIS_HEIGHT = 26.0


@dataclass
class AnomalyBar:
    x: float
    y: float
    w: float
    h: float
    status: str  # linearized | unplaceable | other
    kind: str  # ok | fail | info
    order: int | None  # 1-based position in the linearized prefix
    text: str  # what fits inside the bar
    title: str
    open_ended: bool


@dataclass
class AnomalyRow:
    id: Any
    order: int | None
    status: str
    process: Any
    f: str
    invoke_value: str
    value: str
    type: str
    start: str
    end: str
    node: str
    description: str


@dataclass
class Anomaly:
    key: Any
    expected: str
    state: str
    state_description: str
    width: float
    height: float
    lanes: list[tuple[float, str]]
    bars: list[AnomalyBar]
    ticks: list[tuple[float, str]]
    plot_bottom: float
    rows: list[AnomalyRow]
    notes: list[str] = field(default_factory=list)


def looks_like_failure(item: Any) -> bool:
    """True for a dict in the linearizability failure format (so any checker using it is drawn)."""
    return isinstance(item, dict) and isinstance(item.get("ops"), list) and "linearized" in item


def _ms(t: Any) -> str:
    return f"{t / 1_000_000:.3f}" if isinstance(t, (int, float)) and math.isfinite(t) else "—"


def build_anomaly(failure: dict[str, Any], width: float = 1300) -> Anomaly:
    notes: list[str] = []
    ops = _listed_ops(failure, notes)
    order = {op_id: n for n, op_id in enumerate(failure.get("linearized") or [], 1)}
    unplaceable = set(_hashable(i) for i in failure.get("unplaceable") or [])
    table_only = _table_only(ops, order, unplaceable, notes)
    starts = [_num(op.get("start"), 0) for op in ops]
    ends = [_num(op.get("end"), None) for op in ops]
    axis = _axis(ops, starts, ends, table_only, width)
    processes = _processes(ops, table_only)
    lane_of = {p: i for i, p in enumerate(processes)}
    bars: list[AnomalyBar] = []
    rows: list[AnomalyRow] = []
    for op, start, end in sorted(zip(ops, starts, ends), key=lambda t: t[1]):
        op_id = _hashable(op.get("id"))
        status = ("unplaceable" if op_id in unplaceable else
                  "linearized" if op_id in order else "other")
        rows.append(_row(op, order.get(op_id), status, start, end))
        if id(op) not in table_only:
            lane = lane_of[_hashable(op.get("process"))]
            bars.append(_bar(op, order.get(op_id), status, start, end, axis, lane))
    rows.sort(key=lambda r: (r.order is None, r.order or 0, r.status != "unplaceable"))
    plot_bottom = TOP + max(1, len(processes)) * LANE_HEIGHT
    lanes = [(TOP + i * LANE_HEIGHT, f"p{p}") for i, p in enumerate(processes)]
    return Anomaly(key=failure.get("key"), expected=str(failure.get("expected") or ""),
                   state=short(failure.get("state"), 200),
                   state_description=str(failure.get("state_description") or ""),
                   width=width, height=plot_bottom + AXIS_HEIGHT, lanes=lanes, bars=bars,
                   ticks=axis.ticks(8), plot_bottom=plot_bottom, rows=rows, notes=notes)


def _listed_ops(failure: dict[str, Any], notes: list[str]) -> list[dict[str, Any]]:
    """The failure's ops, the first MAX_OPS by start time when there are more."""
    ops = [op for op in failure.get("ops", []) if isinstance(op, dict)]
    if len(ops) > MAX_OPS:
        notes.append(f"{len(ops)} operations in this failure; the first {MAX_OPS} by start time "
                     f"are drawn and listed.")
        ops = sorted(ops, key=lambda o: _num(o.get("start"), 0))[:MAX_OPS]
    left_out = failure.get("later_ops")
    if isinstance(left_out, int) and left_out > 0:
        notes.append(f"{left_out} later operation(s) of this partition began after the failure "
                     f"point, so they could take no part in it; the history has them.")
    return ops


def _table_only(ops: list[dict[str, Any]], order: dict[Any, int], unplaceable: set[Any],
                notes: list[str]) -> set[int]:
    """The ops (by id()) listed but not drawn.

    The axis spans the ops the verdict is about (linearized and unplaceable) and whatever
    overlaps them; an op that only begins after all of them is listed but not drawn, so one
    late info op cannot squeeze the interesting part into a corner."""
    focus = [op for op in ops if _hashable(op.get("id")) in order
             or _hashable(op.get("id")) in unplaceable] or ops
    focus_times = ([_num(op.get("start"), 0) for op in focus]
                   + [e for e in (_num(op.get("end"), None) for op in focus) if e is not None])
    focus_end = max(focus_times, default=0)
    later = [op for op in ops if _num(op.get("start"), 0) > focus_end]
    if later:
        notes.append(f"{len(later)} operation(s) began after every linearized and unplaceable "
                     f"one; they are listed in the table but not drawn.")
    return {id(op) for op in later}


def _axis(ops: list[dict[str, Any]], starts: list[Any], ends: list[Any], table_only: set[int],
          width: float) -> Axis:
    drawn_times = [t for op, s, e in zip(ops, starts, ends) if id(op) not in table_only
                   for t in (s, e) if t is not None]
    t0 = min(drawn_times, default=0)
    t1 = max(drawn_times, default=t0 + 1)
    pad = max((t1 - t0) * 0.06, 1_000)  # room on the right for open-ended (info) ops
    return Axis(t0, t1 + pad, LEFT, width - LEFT - RIGHT)


def _processes(ops: list[dict[str, Any]], table_only: set[int]) -> list[Any]:
    """The drawn ops' processes, one lane each: numbers in order, then names."""
    return sorted({_hashable(op.get("process")) for op in ops if id(op) not in table_only},
                  key=lambda p: (0, p, "") if isinstance(p, int) else (1, 0, str(p)))


def _what(op: dict[str, Any]) -> str:
    what = f"{op.get('f')} {short(op.get('invoke_value'), 24)}"
    if op.get("type") == "ok" and op.get("value") != op.get("invoke_value"):
        what += f" → {short(op.get('value'), 24)}"
    return what


def _row(op: dict[str, Any], n: int | None, status: str, start: Any, end: Any) -> AnomalyRow:
    return AnomalyRow(op.get("id"), n, status, op.get("process"), str(op.get("f")),
                      short(op.get("invoke_value"), 80), short(op.get("value"), 80),
                      str(op.get("type")), _ms(start), _ms(end),
                      "" if op.get("node") is None else str(op.get("node")),
                      str(op.get("description") or ""))


def _bar(op: dict[str, Any], n: int | None, status: str, start: Any, end: Any, axis: Axis,
         lane: int) -> AnomalyBar:
    x = axis.x(start)
    w = max(3.0, axis.x(axis.t1 if end is None else end) - x)
    text = (f"{n}. " if n is not None else "") + _what(op)
    fits = int((w - 8) / 6.4)
    text = text if len(text) <= fits else (text[: max(0, fits - 1)] + "…" if fits > 3 else "")
    y = TOP + lane * LANE_HEIGHT + 4
    return AnomalyBar(x, y, w, LANE_HEIGHT - 8, status, str(op.get("type")), n, text,
                      _title(op, n, status, start, end), end is None)


def _title(op: dict[str, Any], n: int | None, status: str, start: Any, end: Any) -> str:
    """The bar's tooltip: which op, its place in the order, what it did, when, where."""
    return "\n".join(filter(None, [
        f"op {op.get('id')} · process {op.get('process')} · {op.get('type')}"
        + (f" · linearized #{n}" if n is not None else "")
        + (" · UNPLACEABLE" if status == "unplaceable" else ""),
        str(op.get("description") or "") or _what(op),
        f"{_ms(start)} ms – {_ms(end)} ms" if end is not None else
        f"from {_ms(start)} ms, outcome unknown",
        f"node {op.get('node')}" if op.get("node") is not None else "",
    ]))


def _num(value: Any, default: Any) -> Any:
    return value if isinstance(value, (int, float)) and math.isfinite(value) else default


def _hashable(value: Any) -> Any:
    try:
        hash(value)
        return value
    except TypeError:
        return repr(value)
