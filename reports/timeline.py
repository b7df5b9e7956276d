"""Geometry of the operations timeline: one lane per process, a bar per operation, nemesis bands.

This module only computes positions and labels (plain data); the template draws them as SVG, so
all text reaches the page through the template's autoescaping. Small histories get one bar per
operation. Big ones (more than `max_ops` operations) are drawn binned: each lane is cut into
`bins` time slices split by the share of ok, fail and info operations, so a 100k-operation
history stays a few hundred shapes per lane, and the page says so. Lanes follow workers rather
than processes: a Jepsen-style worker whose operation ended info continues as a new process,
which takes over the retired process's lane.
"""

from __future__ import annotations

import bisect
import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable

from checkers.history import NEMESIS, Event, Operation
from checkers.units import NS_PER_S

LEFT = 70  # room for lane labels
RIGHT = 20
TOP_PER_LABEL_ROW = 16
AXIS_HEIGHT = 26
CHAR_PX = 6.4  # rough width of a 11px label character, to keep labels from overlapping
SEVERITY = {"ok": 0, "fail": 1, "info": 2}
OUTCOMES = ("ok", "fail", "info")


def short(value: Any, limit: int = 60) -> str:
    """A compact one-line rendering of any history value, cut at `limit` characters."""
    if value is None:
        text = "nil"
    elif isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, default=str, separators=(",", ":"))
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def seconds(ns: float) -> str:
    return f"{ns / NS_PER_S:.3f}s"


@dataclass
class Axis:
    """Maps times (ns) to x pixels over [t0, t1]."""

    t0: float
    t1: float
    x0: float
    width: float

    def x(self, t: float) -> float:
        span = self.t1 - self.t0
        if span <= 0:
            return self.x0
        return self.x0 + (min(max(t, self.t0), self.t1) - self.t0) / span * self.width

    def ticks(self, target: int = 10) -> list[tuple[float, str]]:
        """Round-numbered ticks: steps of 1, 2 or 5 times a power of ten, in s or ms."""
        span = self.t1 - self.t0
        if span <= 0:
            return [(self.x0, _time_label(self.t0, NS_PER_S))]
        raw = span / target
        power = 10 ** math.floor(math.log10(raw))
        step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
        first = math.ceil(self.t0 / step) * step
        count = int((self.t1 - first) // step) + 1
        return [(self.x(first + i * step), _time_label(first + i * step, step))
                for i in range(count)]


def _time_label(t: float, step: float) -> str:
    if step >= NS_PER_S:
        return f"{t / NS_PER_S:g}s"
    if step >= 1_000_000:
        return f"{t / 1_000_000:g}ms"
    return f"{t / 1_000:g}µs"


@dataclass
class Bar:
    x: float
    y: float
    w: float
    h: float
    kind: str  # ok | fail | info
    title: str
    open_ended: bool = False


@dataclass
class BinColumn:
    """A time slice of one lane in a binned timeline: stacked (y, height, kind) segments."""

    x: float
    w: float
    title: str
    segments: list[tuple[float, float, str]]


@dataclass
class Band:
    """A shaded nemesis interval with its label (drawn above the lanes, on `row`)."""

    x: float
    w: float
    label: str
    title: str
    row: int
    healed: bool


@dataclass
class Lane:
    y: float
    label: str
    title: str = ""


@dataclass
class Timeline:
    width: float
    height: float
    plot_top: float
    plot_bottom: float
    lanes: list[Lane]
    lane_height: float
    bars: list[Bar]
    columns: list[BinColumn]
    bands: list[Band]
    ticks: list[tuple[float, str]]
    mode: str  # "detailed" | "binned" | "empty"
    notes: list[str] = field(default_factory=list)
    op_count: int = 0


@dataclass
class NemesisInterval:
    fault: str
    targets: list[Any]
    ident: Any
    start: int
    end: int | None  # None: never healed in the history
    start_index: int

    def label(self) -> str:
        who = ", ".join(map(str, self.targets)) if self.targets else ""
        return f"{self.fault} {who}".strip()


def nemesis_intervals(events: Iterable[Event]) -> list[NemesisInterval]:
    """Fault intervals from start-X completion to stop-X completion, matched by value["id"]
    (or, for events without an id, first-in first-out per fault)."""
    by_id: dict[Any, NemesisInterval] = {}
    by_fault: dict[str, list[NemesisInterval]] = {}
    intervals: list[NemesisInterval] = []
    for e in events:
        if e.process != NEMESIS or e.type == "invoke":
            continue
        value = e.value if isinstance(e.value, dict) else {}
        verb, _, fault_from_f = e.f.partition("-")
        fault = str(value.get("fault") or fault_from_f or e.f)
        ident = value.get("id")
        if verb == "start":
            targets = value.get("targets")
            targets = targets if isinstance(targets, list) else ([targets] if targets else [])
            interval = NemesisInterval(fault, targets, ident, e.time, None, e.index)
            intervals.append(interval)
            if ident is not None:
                by_id[ident] = interval
            else:
                by_fault.setdefault(fault, []).append(interval)
        elif verb == "stop":
            interval = by_id.pop(ident, None) if ident is not None else None
            if interval is None and by_fault.get(fault):
                interval = by_fault[fault].pop(0)
            if interval is not None:
                interval.end = e.time
    return intervals


def op_title(op: Operation) -> str:
    parts = [f"op {op.id} · process {op.process} · {op.f}"]
    if op.key is not None:
        parts.append(f"key {short(op.key)}")
    parts.append(f"{short(op.invoke_value)} → {short(op.value)} ({op.type})")
    if math.isfinite(op.end):
        parts.append(f"{seconds(op.start)} – {seconds(op.end)}, "
                     f"{(op.end - op.start) / 1_000_000:.2f} ms")
    else:
        parts.append(f"from {seconds(op.start)}, outcome unknown")
    if op.node is not None:
        parts.append(f"node {short(op.node)}")
    if op.error is not None:
        parts.append(f"error {short(op.error, 120)}")
    return "\n".join(parts)


def build_timeline(ops: list[Operation], nemesis: list[NemesisInterval], run_end: float, *,
                   width: float = 1300, max_ops: int = 2500, max_lanes: int = 48,
                   bins: int = 260) -> Timeline:
    """Lay out every operation (or bins of them) and every nemesis interval."""
    notes: list[str] = []
    t_end = max([run_end, *(op.start for op in ops), *(i.start for i in nemesis)], default=0)
    axis = Axis(0.0, float(max(t_end, 1)), LEFT, width - LEFT - RIGHT)

    lane_index, lane_processes = assign_lanes(ops)
    if len(lane_processes) > max_lanes:
        hidden = sum(len(ps) for ps in lane_processes[max_lanes:])
        notes.append(f"{len(lane_processes)} lanes of processes; only the first {max_lanes} are "
                     f"drawn ({hidden} processes are left out).")
        lane_processes = lane_processes[:max_lanes]
    shown = len(lane_processes)
    lane_height = 22.0 if shown <= 16 else max(8.0, 360.0 / shown)

    bands, label_rows = _bands(nemesis, axis)
    plot_top = TOP_PER_LABEL_ROW * max(1, label_rows) + 6
    lanes = [Lane(plot_top + i * lane_height, _lane_label(ps), _lane_title(ps))
             for i, ps in enumerate(lane_processes)]
    plot_bottom = plot_top + max(1, shown) * lane_height
    drawn = [(op, lane) for op, lane in zip(ops, lane_index) if lane < shown]
    if any(len(ps) > 1 for ps in lane_processes):
        notes.append("A process whose operation ended info is retired and a new process takes its "
                     "place (as in Jepsen), so a lane holds the processes of one worker in turn; "
                     "hover a lane's label for them.")

    columns: list[BinColumn] = []
    if not ops:
        mode, bars = "empty", []
    elif len(drawn) <= max_ops:
        mode = "detailed"
        bars = [_op_bar(op, axis, plot_top + lane * lane_height, lane_height) for op, lane in drawn]
        # unknown outcomes run open-ended to the end: draw them first so later ops sit on top
        bars.sort(key=lambda bar: not bar.open_ended)
    else:
        mode, bars = "binned", []
        columns = _binned_columns(drawn, axis, shown, plot_top, lane_height, bins)
        notes.append(f"{len(ops):,} operations are too many to draw one by one: each lane is cut "
                     f"into {bins} time slices, split by the share of ok, fail and info operations "
                     f"invoked in each (fail and info get at least a sliver, so rare ones show); "
                     f"hover a slice for its counts.")

    return Timeline(width=width, height=plot_bottom + AXIS_HEIGHT, plot_top=plot_top,
                    plot_bottom=plot_bottom, lanes=lanes, lane_height=lane_height, bars=bars, columns=columns,
                    bands=bands, ticks=axis.ticks(), mode=mode, notes=notes, op_count=len(ops))


def _op_bar(op: Operation, axis: Axis, lane_y: float, lane_height: float) -> Bar:
    x = axis.x(op.start)
    open_ended = not math.isfinite(op.end)
    end_x = axis.x(axis.t1) if open_ended else axis.x(op.end)
    pad = 2.0 if lane_height >= 12 else 1.0
    return Bar(x, lane_y + pad, max(1.5, end_x - x), lane_height - 2 * pad, op.type,
               op_title(op), open_ended)


def assign_lanes(ops: list[Operation]) -> tuple[list[int], list[list[Any]]]:
    """A lane for each operation, and the processes of each lane in order of appearance.

    A process keeps its lane. A new process takes the first lane whose process is retired (its
    last operation ended info, after which a Jepsen-style worker continues as a new process), or
    else a new lane; so lanes stay as many as the workers, not the processes.
    """
    lane_of_process: dict[Any, int] = {}
    lane_processes: list[list[Any]] = []
    retired: list[int] = []  # lanes whose current process ended info, kept sorted
    lane_index: list[int] = []
    for op in ops:  # operations come in invocation order
        lane = lane_of_process.get(op.process)
        if lane is None:
            if retired:
                lane = retired.pop(0)
                lane_processes[lane].append(op.process)
            else:
                lane = len(lane_processes)
                lane_processes.append([op.process])
            lane_of_process[op.process] = lane
        elif lane in retired:  # the process went on after an info: it is not retired after all
            retired.remove(lane)
        if op.type == "info" and lane not in retired:
            bisect.insort(retired, lane)
        lane_index.append(lane)
    return lane_index, lane_processes


def _lane_label(processes: list[Any]) -> str:
    return f"p{processes[0]}" + (f" +{len(processes) - 1}" if len(processes) > 1 else "")


def _lane_title(processes: list[Any]) -> str:
    listed = ", ".join(map(str, processes[:40])) + (" …" if len(processes) > 40 else "")
    return f"process{'es' if len(processes) > 1 else ''} {listed}"


def _binned_columns(drawn: list[tuple[Operation, int]], axis: Axis, lane_count: int,
                    plot_top: float, lane_height: float, bins: int) -> list[BinColumn]:
    """Per lane and time slice, one column split by the share of ok, fail and info operations
    invoked in it (ok at the bottom, info on top); a share that is not zero gets at least a
    pixel or two, so rare failures stay visible."""
    span = max(axis.t1 - axis.t0, 1.0)
    counts = [[[0, 0, 0] for _ in range(bins)] for _ in range(lane_count)]  # ok, fail, info
    for op, lane in drawn:
        b = min(bins - 1, int((op.start - axis.t0) / span * bins))
        counts[lane][b][SEVERITY[op.type]] += 1
    bin_w = axis.width / bins
    pad = 2.0 if lane_height >= 12 else 1.0
    inner = lane_height - 2 * pad
    columns: list[BinColumn] = []
    for lane_index, lane in enumerate(counts):
        bottom = plot_top + lane_index * lane_height + pad + inner
        for b, cell in enumerate(lane):
            total = sum(cell)
            if not total:
                continue
            heights = [inner * n / total for n in cell]
            for k in (1, 2):  # fail, info: visible even when rare
                if cell[k] and heights[k] < 2.0:
                    heights[k] = min(2.0, inner / 3)
            heights[0] = max(0.0, inner - heights[1] - heights[2]) if cell[0] else 0.0
            segments, y = [], bottom
            for kind, h in zip(OUTCOMES, heights):
                if h > 0:
                    y -= h
                    segments.append((round(y, 1), round(h, 1), kind))
            t_a = axis.t0 + b / bins * span
            title = (f"{seconds(t_a)} – {seconds(t_a + span / bins)}: {cell[0]} ok, "
                     f"{cell[1]} fail, {cell[2]} info invoked")
            columns.append(BinColumn(round(axis.x0 + b * bin_w, 1), round(bin_w, 2), title,
                                     segments))
    return columns


def _bands(nemesis: list[NemesisInterval], axis: Axis) -> tuple[list[Band], int]:
    """Bands with their label rows: a label goes on the first row where it does not overlap."""
    bands: list[Band] = []
    row_ends: list[float] = []
    for interval in sorted(nemesis, key=lambda i: i.start):
        x = axis.x(interval.start)
        end_x = axis.x(interval.end if interval.end is not None else axis.t1)
        label = interval.label() + ("" if interval.end is not None else " (not healed)")
        label_w = len(label) * CHAR_PX + 8
        row = next((r for r, end in enumerate(row_ends) if end <= x), len(row_ends))
        if row == len(row_ends):
            row_ends.append(0.0)
        row_ends[row] = x + max(label_w, end_x - x)
        until = seconds(interval.end) if interval.end is not None else "the end (never healed)"
        title = (f"{interval.fault} on {', '.join(map(str, interval.targets)) or 'no targets'}"
                 f"\nfrom {seconds(interval.start)} until {until}"
                 + (f"\nid {interval.ident}" if interval.ident is not None else ""))
        bands.append(Band(x, max(2.0, end_x - x), label, title, row, interval.end is not None))
    return bands, len(row_ends)
