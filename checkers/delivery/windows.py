"""Windows onto the logs around the findings: for a run of offsets of one partition, what was at
each offset, who sent it, who polled it, and which findings point there.

The report draws them (reports/delivery.py), and a reader of results.json can follow a lost or
duplicated message without the history at hand. Offsets where nothing was observed are gaps:
transaction markers, or messages nobody ever saw.
"""

from __future__ import annotations

from typing import Any, Final, Iterable

from checkers.delivery.logs import LogIndex

AROUND: Final = 3  # offsets shown either side of a finding
WIDEST: Final = 40  # offsets in one window at most
MAX_WINDOWS: Final = 8
SENDERS_LISTED: Final = 3
POLLS_LISTED: Final = 8


def points(kind: str, case: dict[str, Any]) -> Iterable[tuple[Any, int]]:
    """(partition, offset) pairs a case points at."""
    name = case.get("partition")
    if name is None:
        return ()
    found = []
    for key in ("offset",):
        if isinstance(case.get(key), int):
            found.append(case[key])
    for key in ("offsets",):
        if isinstance(case.get(key), list):
            found.extend(o for o in case[key][:4] if isinstance(o, int))
    return [(name, o) for o in found]


def windows(index: LogIndex, findings: list[tuple[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """Up to MAX_WINDOWS windows, in the order of `findings` ((kind, cases) pairs, the worst
    first), each a run of at most WIDEST offsets around the points the cases make."""
    marks: dict[Any, dict[int, set[str]]] = {}
    order: list[Any] = []
    for kind, cases in findings:
        for case in cases:
            for name, o in points(kind, case):
                if name not in index.logs:
                    continue
                if name not in marks:
                    marks[name] = {}
                    order.append(name)
                marks[name].setdefault(o, set()).add(kind)
    spans: list[tuple[Any, int, int]] = []
    for name in order:
        log = index.logs[name]
        end = max(log.offsets[-1] if log.offsets else 0, max(marks[name]))
        for lo, hi in _spans(sorted(marks[name])):
            spans.append((name, lo, min(hi, end)))  # nothing to show past the log's end
            if len(spans) >= MAX_WINDOWS:
                break
        if len(spans) >= MAX_WINDOWS:
            break
    if not spans:
        return []
    rows = _rows(index, spans)
    out = []
    for name, lo, hi in spans:
        log = index.logs[name]
        cells = []
        for o in range(lo, hi + 1):
            sent, polled = rows.get((name, o), ([], []))
            cells.append({"offset": o, "values": log.values_at(o),
                          "findings": sorted(marks[name].get(o, ())),
                          "sent_by": sent, "polled_by": polled})
        out.append({"partition": name, "from": lo, "to": hi, "cells": cells})
    return out


def _spans(offsets: list[int]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for o in offsets:
        lo, hi = max(0, o - AROUND), o + AROUND
        if spans and lo <= spans[-1][1] + 1 and hi - spans[-1][0] < WIDEST:
            spans[-1] = (spans[-1][0], hi)
        else:
            spans.append((lo, hi))
    return spans


def _rows(index: LogIndex, spans: list[tuple[Any, int, int]]) -> dict[tuple[Any, int], tuple[
        list[Any], list[Any]]]:
    wanted: dict[Any, list[tuple[int, int]]] = {}
    for name, lo, hi in spans:
        wanted.setdefault(name, []).append((lo, hi))

    def inside(name: Any, o: Any) -> bool:
        return o is not None and any(lo <= o <= hi for lo, hi in wanted[name])

    rows: dict[tuple[Any, int], tuple[list[Any], list[Any]]] = {}
    for k in index.ops:
        for name, pairs in k.reads:
            if name not in wanted:
                continue
            for o, v in pairs:
                if inside(name, o):
                    polled = rows.setdefault((name, o), ([], []))[1]
                    if len(polled) < POLLS_LISTED:
                        polled.append({"op": k.name, "type": k.type, "process": k.op.process,
                                       "group": k.group, "member": k.member, "value": v})
        for name, o, v in k.sends:
            if name not in wanted:
                continue
            log = index.logs[name]
            where = o if o is not None else log.offset_of.get(v)
            if where is not None and inside(name, where):
                sent = rows.setdefault((name, where), ([], []))[0]
                if len(sent) < SENDERS_LISTED:
                    sent.append({"op": k.name, "type": k.type, "process": k.op.process,
                                 "value": v, "acknowledged": o is not None and k.type == "ok"})
    return rows
