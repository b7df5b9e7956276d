"""The history as checkers and reports see it: events read from a file, paired into operations.

This module is the reading half of the history contract (docs/contracts.md); the writing half is
`harness.history`. It depends on nothing but the standard library so that a history can be checked
on any machine, long after the run, without the systems or the harness that produced it.

A history is a sequence of events, one JSON object per line:

    {"index": 0, "time": 1200, "process": 3, "type": "invoke", "f": "write", "key": "k1",
     "value": 7, "node": "n2"}

Each client operation is an `invoke` followed (later, by the same process) by exactly one of
`ok` (it happened), `fail` (it certainly did not happen) or `info` (unknown). An invoke with no
completion reads as `info`. Nemesis events use process "nemesis" and are kept apart.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

EVENT_TYPES = ("invoke", "ok", "fail", "info")
NEMESIS = "nemesis"
KNOWN_FIELDS = ("index", "time", "process", "type", "f", "value", "key", "node", "error")


class HistoryError(ValueError):
    """A history file that cannot be read; the message names the file and line."""


@dataclass(slots=True)
class Event:
    """One line of a history: an invocation, a completion, or a nemesis event."""

    index: int
    time: int  # ns since the test started (monotonic)
    process: int | str  # a client process number, or "nemesis"
    type: str  # invoke | ok | fail | info
    f: str
    value: Any = None
    key: Any = None
    node: str | None = None
    error: Any = None
    extra: dict[str, Any] = field(default_factory=dict)  # any other field, kept verbatim

    @property
    def is_client(self) -> bool:
        return self.process != NEMESIS and not isinstance(self.process, str)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "index": self.index,
            "time": self.time,
            "process": self.process,
            "type": self.type,
            "f": self.f,
            "value": self.value,
        }
        if self.key is not None:
            d["key"] = self.key
        if self.node is not None:
            d["node"] = self.node
        if self.error is not None:
            d["error"] = self.error
        d.update(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "") -> "Event":
        try:
            index = d["index"]
            time = d["time"]
            process = d["process"]
            type_ = d["type"]
            f = d["f"]
        except KeyError as missing:
            raise HistoryError(f"{where}: event lacks the field {missing.args[0]!r}") from None
        if type_ not in EVENT_TYPES:
            raise HistoryError(f"{where}: type {type_!r} is not one of {', '.join(EVENT_TYPES)}")
        if not isinstance(index, int) or not isinstance(time, int):
            raise HistoryError(f"{where}: index and time must be integers")
        if not (isinstance(process, int) or isinstance(process, str)):
            raise HistoryError(f"{where}: process must be an integer or \"nemesis\"")
        extra = {k: v for k, v in d.items() if k not in KNOWN_FIELDS}
        return cls(index, time, process, type_, str(f), d.get("value"), d.get("key"),
                   d.get("node"), d.get("error"), extra)


@dataclass(slots=True)
class Operation:
    """A client invocation paired with its completion.

    `type` is ok, fail or info (an invoke that never completed is info). `end` is the completion
    time, or `math.inf` for info: an operation of unknown outcome may take effect at any moment
    after its invocation, or never.
    """

    id: int  # position among the history's operations, in invocation order
    process: int | str
    f: str
    key: Any
    node: str | None
    type: str
    invoke_value: Any  # what the client asked for (e.g. the value to write)
    value: Any  # what came back (e.g. the value read); the invoke value when the reply adds none
    start: int
    end: float  # int ns, or math.inf
    invoke_index: int
    complete_index: int | None
    error: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class History:
    """Events of one history file, in file order, with warnings met while reading it."""

    events: list[Event]
    warnings: list[str] = field(default_factory=list)
    source: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # format-specific facts (e.g. the format)

    def client_events(self) -> list[Event]:
        return [e for e in self.events if e.is_client]

    def nemesis_events(self) -> list[Event]:
        return [e for e in self.events if e.process == NEMESIS]

    def operations(self) -> list[Operation]:
        """Pair every client invoke with the next completion of the same process."""
        return pair_operations(self.events, self.warnings)

    def __len__(self) -> int:
        return len(self.events)


def pair_operations(events: Iterable[Event], warnings: list[str] | None = None) -> list[Operation]:
    pending: dict[Any, Operation] = {}
    ops: list[Operation] = []
    for e in events:
        if not e.is_client:
            continue
        if e.type == "invoke":
            if e.process in pending and warnings is not None:
                warnings.append(f"process {e.process} invoked event {e.index} while its previous "
                                f"operation was still open; the previous one reads as info")
            op = Operation(len(ops), e.process, e.f, e.key, e.node, "info", e.value, e.value,
                           e.time, math.inf, e.index, None, None, dict(e.extra))
            pending[e.process] = op
            ops.append(op)
            continue
        op = pending.pop(e.process, None)
        if op is None:
            if warnings is not None:
                warnings.append(f"event {e.index}: a {e.type} for process {e.process} with no "
                                f"open invocation was ignored")
            continue
        op.type = e.type
        op.complete_index = e.index
        op.error = e.error
        if e.node is not None and op.node is None:
            op.node = e.node
        if e.type != "info":
            op.end = e.time
            if e.value is not None or e.type == "ok":
                op.value = e.value
        op.extra.update(e.extra)
    return ops


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
    """Yield (line number, object or None when unparseable, raw line) for each non-blank line."""
    with open(path, "r", encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                yield lineno, None, line
                continue
            yield lineno, obj, line


def read_jsonl(path: str | Path) -> History:
    """Read our own history.jsonl. A torn last line is skipped with a warning; any other
    malformed line raises HistoryError naming the file and line."""
    path = Path(path)
    events: list[Event] = []
    warnings: list[str] = []
    rows = iter_jsonl(path)
    row = next(rows, None)
    while row is not None:
        # one row of look-ahead tells the last line apart without holding the file in memory
        lineno, obj, raw = row
        row = next(rows, None)
        where = f"{path}:{lineno}"
        if obj is None:
            if row is None and not raw.endswith("\n"):
                warnings.append(f"{where}: torn last line skipped (the writer was interrupted)")
                continue
            raise HistoryError(f"{where}: not a JSON object")
        if not isinstance(obj, dict):
            raise HistoryError(f"{where}: not a JSON object")
        events.append(Event.from_dict(obj, where))
    return History(events, warnings, str(path), {"format": "jsonl"})
