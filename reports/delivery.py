"""Drawings of the delivery checker's evidence: windows onto partition logs around its findings,
and the count of acknowledged-but-unseen messages over time.

A window is a run of offsets of one partition, left to right. Its rows: the message at each
offset (several when sends and polls disagree, a hatched gap when nothing was seen there), who
sent it (green acknowledged, purple unknown, red failed), then one row per group (or, outside
groups, per consumer process) with how many of its polls returned that offset (blue once, orange
more), and a mark under every offset a finding points at. Every cell's hover text lists the ops.

Consumes the checker's result (results.json's `windows` and `unseen`), never its internals, so
any result with that shape is drawn. Returns plain data, as reports/cycles.py does;
templates/delivery.html.j2 draws it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_POLLER_ROWS = 6  # rows of pollers drawn per window; the rest are summed into "others"
CELL_W = 34.0
CELL_H = 22.0
LABEL_W = 110.0
TOP = 18.0
CHART_W = 520.0
CHART_H = 90.0


@dataclass
class Cell:
    x: float
    y: float
    css: str  # msg | conflict | gap | sent-ok | sent-info | sent-fail | once | again | mark
    text: str
    title: str


@dataclass
class LogWindow:
    checker: str
    partition: str
    span: str
    width: float
    height: float
    labels: list[tuple[float, str]]  # (y, row label)
    offsets: list[tuple[float, str]]  # (x, offset) along the top
    cells: list[Cell]
    findings: list[str]


@dataclass
class UnseenChart:
    checker: str
    points: str  # SVG polyline points
    peak: int
    peak_at: str
    final: int
    width: float = CHART_W
    height: float = CHART_H
    ticks: list[tuple[float, str, str]] = field(default_factory=list)  # (x, label, anchor)


def delivery_evidence(checkers: dict[str, Any]) -> tuple[list[LogWindow], list[UnseenChart]]:
    """Every log window and unseen series in the checkers' results (those of the delivery
    checker's shape)."""
    windows: list[LogWindow] = []
    charts: list[UnseenChart] = []
    for name, result in checkers.items():
        if not isinstance(result, dict):
            continue
        for w in result.get("windows") or []:
            if isinstance(w, dict) and isinstance(w.get("cells"), list) and w["cells"]:
                windows.append(draw_window(name, w))
        chart = unseen_chart(name, result.get("unseen"))
        if chart is not None:
            charts.append(chart)
    return windows, charts


def _poller(p: dict[str, Any]) -> str:
    group = p.get("group")
    return f"group {group}" if group is not None else f"process {p.get('process')}"


def draw_window(checker: str, w: dict[str, Any]) -> LogWindow:
    cells_in = [c for c in w["cells"] if isinstance(c, dict)]
    pollers: dict[str, int] = {}
    for c in cells_in:
        for p in c.get("polled_by") or []:
            key = _poller(p)
            pollers[key] = pollers.get(key, 0) + 1
    rows = sorted(pollers, key=lambda k: (-pollers[k], k))
    shown = rows[:MAX_POLLER_ROWS]
    if len(rows) > MAX_POLLER_ROWS:
        shown.append("others")
    row_of = {k: i for i, k in enumerate(shown)}
    labels = [(TOP + CELL_H * 0.7, "message"), (TOP + CELL_H * 1.7, "sent")]
    labels += [(TOP + CELL_H * (2.7 + i), k) for i, k in enumerate(shown)]
    marks_y = TOP + CELL_H * (2 + len(shown))
    labels.append((marks_y + CELL_H * 0.7, "findings"))
    cells: list[Cell] = []
    offsets: list[tuple[float, str]] = []
    findings: set[str] = set()
    for i, c in enumerate(cells_in):
        x = LABEL_W + i * CELL_W
        offset = c.get("offset")
        offsets.append((x + CELL_W / 2, str(offset)))
        values = c.get("values") or []
        if not values:
            cells.append(Cell(x, TOP, "gap", "", f"offset {offset}: nothing observed here"))
        else:
            css = "conflict" if len(values) > 1 else "msg"
            cells.append(Cell(x, TOP, css, _short("/".join(map(str, values))),
                              f"offset {offset}: {', '.join(map(str, values))}"))
        sent = c.get("sent_by") or []
        if sent:
            s = sent[0]
            css = "sent-ok" if s.get("acknowledged") else \
                "sent-fail" if s.get("type") == "fail" else "sent-info"
            cells.append(Cell(x, TOP + CELL_H, css, "", "; ".join(
                f"{t.get('op')} ({t.get('type')}, process {t.get('process')}): "
                f"{t.get('value')}" for t in sent)))
        per_row: dict[str, list[dict[str, Any]]] = {}
        for p in c.get("polled_by") or []:
            key = _poller(p)
            per_row.setdefault(key if key in row_of else "others", []).append(p)
        for key, polls in per_row.items():
            if key not in row_of:
                continue
            y = TOP + CELL_H * (2 + row_of[key])
            cells.append(Cell(x, y, "once" if len(polls) == 1 else "again", str(len(polls)),
                              f"offset {offset}, {key}: " + "; ".join(
                                  f"{p.get('op')} ({p.get('type')}, member {p.get('member')})"
                                  for p in polls)))
        marked = c.get("findings") or []
        if marked:
            findings.update(map(str, marked))
            cells.append(Cell(x, marks_y, "mark", "!", f"offset {offset}: {', '.join(marked)}"))
    width = LABEL_W + CELL_W * len(cells_in) + 10
    height = marks_y + CELL_H + 6
    return LogWindow(checker, str(w.get("partition")), f"offsets {w.get('from')}-{w.get('to')}",
                     width, height, labels, offsets, cells, sorted(findings))


def unseen_chart(checker: str, unseen: Any) -> UnseenChart | None:
    """A line of the unseen count over time, when it ever rose above zero."""
    if not isinstance(unseen, dict):
        return None
    series = [(t, n) for t, n in (unseen.get("series") or [])
              if isinstance(t, (int, float)) and isinstance(n, int)]
    peak = unseen.get("peak") or {}
    top = max((n for _t, n in series), default=0)
    if len(series) < 2 or top <= 0:
        return None
    t0, t1 = series[0][0], series[-1][0]
    span = (t1 - t0) or 1.0
    pad = 8.0
    points = " ".join(f"{pad + (t - t0) / span * (CHART_W - 2 * pad):.1f},"
                      f"{CHART_H - pad - n / top * (CHART_H - 2 * pad):.1f}" for t, n in series)
    ticks = [(pad, f"{t0:.3g} s", "start"), (CHART_W - pad, f"{t1:.3g} s", "end")]
    return UnseenChart(checker, points, int(peak.get("count", top)),
                       f"{peak.get('time_s')} s", series[-1][1], ticks=ticks)


def _short(text: str, n: int = 5) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"
