"""Drawings of the elle checker's dependency cycles: its transactions on a circle, each edge an
arrow named by its kind (ww, wr, rw, process, realtime), numbered in the cycle's order, with the
edge's sentence as its hover text and in the numbered list under the drawing.

Consumes the checker's explanation (results.json's `anomalies`: each cycle's `cycle` and
`steps`), never its internals, so any result with that shape is drawn. Returns plain data, as
reports/anomaly.py does; templates/cycles.html.j2 draws it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MAX_DRAWN = 12  # cycles drawn; the rest are in results.json
MAX_NODES = 16  # a longer cycle gets its list of steps but no drawing
NODE_RADIUS = 20.0
MARGIN = 60.0
KINDS = ("ww", "wr", "rw", "process", "realtime")


@dataclass
class CycleNode:
    x: float
    y: float
    label: str  # T12
    title: str  # what the transaction did, and where to find it


@dataclass
class CycleEdge:
    path: str  # SVG path data: a quadratic curve bending away from the circle's centre
    label_x: float
    label_y: float
    kind: str
    number: int
    title: str


@dataclass
class CycleStep:
    number: int
    kind: str
    text: str


@dataclass
class CycleDrawing:
    checker: str
    anomaly: str
    explanation: str
    width: float
    height: float
    nodes: list[CycleNode]
    edges: list[CycleEdge]
    steps: list[CycleStep]


def is_cycle(case: Any) -> bool:
    return isinstance(case, dict) and isinstance(case.get("cycle"), list) \
        and isinstance(case.get("steps"), list) and len(case["cycle"]) == len(case["steps"]) > 0


def dependency_cycles(checkers: dict[str, Any]) -> tuple[list[CycleDrawing], list[str]]:
    """Every cycle in the checkers' results (those of the elle shape), up to MAX_DRAWN, and
    notes on what was left out."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    for name, result in checkers.items():
        anomalies = result.get("anomalies") if isinstance(result, dict) else None
        if not isinstance(anomalies, dict):
            continue
        for anomaly, cases in anomalies.items():
            if isinstance(cases, list):
                found.extend((name, str(anomaly), c) for c in cases if is_cycle(c))
    notes = []
    if len(found) > MAX_DRAWN:
        notes.append(f"{len(found)} cycles; the first {MAX_DRAWN} are drawn, the rest are in "
                     f"results.json.")
    return [draw(name, anomaly, case) for name, anomaly, case in found[:MAX_DRAWN]], notes


def draw(checker: str, anomaly: str, case: dict[str, Any]) -> CycleDrawing:
    txns = case["cycle"]
    steps = [CycleStep(i + 1, _kind(s), str(s.get("explanation", ""))) for i, s in
             enumerate(case["steps"])]
    n = len(txns)
    if n > MAX_NODES:
        return CycleDrawing(checker, anomaly, str(case.get("explanation", "")), 0, 0, [], [],
                            steps)
    radius = max(70.0, NODE_RADIUS * 2.6 * n / math.pi)
    size = 2 * (radius + MARGIN)
    centre = size / 2
    points = [(centre + radius * math.cos(-math.pi / 2 + 2 * math.pi * i / n),
               centre + radius * math.sin(-math.pi / 2 + 2 * math.pi * i / n)) for i in range(n)]
    nodes = [CycleNode(x, y, str(t.get("txn", "?")), _title(t)) for (x, y), t in
             zip(points, txns)]
    edges = []
    for i, step in enumerate(steps):
        (x1, y1), (x2, y2) = points[i], points[(i + 1) % n]
        edges.append(_edge(x1, y1, x2, y2, centre, step))
    return CycleDrawing(checker, anomaly, str(case.get("explanation", "")), size, size, nodes,
                        edges, steps)


def _edge(x1: float, y1: float, x2: float, y2: float, centre: float,
          step: CycleStep) -> CycleEdge:
    mx, my = (x1 + x2) / 2, (y1 + y2) / 2
    # bend outward (away from the centre); two nodes: bend each way, so both arrows show
    ox, oy = mx - centre, my - centre
    length = math.hypot(ox, oy)
    if length < 1e-6:
        ox, oy = -(y2 - y1), x2 - x1
        length = math.hypot(ox, oy) or 1.0
    bend = 0.35 * math.hypot(x2 - x1, y2 - y1)
    cx, cy = mx + ox / length * bend, my + oy / length * bend
    sx, sy = _towards(x1, y1, cx, cy, NODE_RADIUS)
    ex, ey = _towards(x2, y2, cx, cy, NODE_RADIUS + 4)
    lx, ly = 0.25 * sx + 0.5 * cx + 0.25 * ex, 0.25 * sy + 0.5 * cy + 0.25 * ey
    return CycleEdge(f"M{sx:.1f},{sy:.1f} Q{cx:.1f},{cy:.1f} {ex:.1f},{ey:.1f}", lx, ly,
                     step.kind, step.number, f"{step.number}. {step.text}")


def _towards(x: float, y: float, tx: float, ty: float, distance: float) -> tuple[float, float]:
    dx, dy = tx - x, ty - y
    length = math.hypot(dx, dy) or 1.0
    return x + dx / length * distance, y + dy / length * distance


def _kind(step: dict[str, Any]) -> str:
    kind = str(step.get("kind", ""))
    return kind if kind in KINDS else "other"


def _title(t: dict[str, Any]) -> str:
    where = f"event {t.get('index')}" + (f"-{t['complete_index']}"
                                          if t.get("complete_index") is not None else "")
    times = f"{t.get('start_s')} s - {t.get('end_s') if t.get('end_s') is not None else '?'} s"
    return (f"{t.get('txn', '?')} ({t.get('type', '?')}), process {t.get('process')}, {where}, "
            f"{times}: {t.get('mops')}")
