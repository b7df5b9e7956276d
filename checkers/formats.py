"""Reading histories written by other tools: Jepsen's history.edn and logs, Porcupine's kv logs.

`read_history(path, format)` turns any supported file into a `checkers.history.History`, so every
checker works on all of them. Formats:

- "jsonl": our own history.jsonl (see checkers.history).
- "jepsen-edn": Jepsen's and Knossos's history.edn: one op map per line as Jepsen writes it, or
  one vector or list of op maps across many lines, with `;` comments anywhere
  ({:process 0, :type :invoke, :f :write, :value 3, :index 0, :time 1200}).
- "jepsen-log": lines such as `INFO  jepsen.util - 3<TAB>:invoke<TAB>:cas<TAB>[1 4]` (tabs or
  spaces); every other line is noise and is skipped.
- "porcupine-kv": Porcupine's kv logs, one EDN map per line with :process :type :f :key :value.

"auto" decides by the content (not the file name), reading as much of the file as it takes (a
first op may hold megabytes), and raises HistoryError saying why when the file is no history.

Order, as in Jepsen: a history's order is its :index order, else its file order; that order is
the real-time order the checkers use. :time is kept when it agrees with that order; Jepsen
records times from several threads, so they may go backwards between events, and then the
history's order wins (a warning says so, and each event keeps its time as `original_time`).

Jepsen's independent keys: jepsen.independent writes a key-spread history with every value a
2-vector `[key value]`. When the history has no :key field, every client event's value is such a
2-vector (a read's invocation being `[k nil]`), and every cas value is `[k [from to]]`, the history
is read as independent: `key` = first element, `value` = second. A plain cas-register history
always has a `nil` read invocation or a cas without a nested vector, so it is never misread;
transactions (`:f :txn`) and Kafka ops (`:send`, `:poll`, `:subscribe`, `:assign`) never are. `read_history(..., independent=True|False)` overrides the rule.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, BinaryIO, Callable

from checkers.edn import EdnError, line_of, read_forms, read_one
from checkers.history import NEMESIS, Event, History, HistoryError, gc_paused, read_jsonl

FORMATS = ("auto", "jsonl", "jepsen-edn", "jepsen-log", "porcupine-kv")

_EVENT_TYPES = {t: t for t in ("invoke", "ok", "fail", "info")}
# A Jepsen log line holding one operation event; the process may be a number or :nemesis.
# Fields are tab-separated, or padded with spaces in some logs.
_LOG_LINE = re.compile(r"jepsen\.util - (\S+)\s+:(invoke|ok|fail|info)\s+:?(\S+)(?:\s+(.*?))?\s*$")
_LOG_HINT = re.compile(rb"jepsen\.util - \S+\s+:(invoke|ok|fail|info)\s")
# Ops whose values are no [key value] tuples though they may have two elements: transactions and
# Jepsen's Kafka ops (two micro-ops, two topics).
_NEVER_INDEPENDENT = frozenset(("txn", "send", "poll", "subscribe", "assign"))
_KNOWN_KEYS = frozenset(("index", "time", "process", "type", "f", "value", "key", "node", "error"))
# How much of a file detection looks at for NUL bytes (binary files are no history).
_BINARY_PROBE = 8192


def read_history(path: str | Path, format: str = "auto", *,
                 independent: bool | None = None) -> History:
    """Read a history file in one of FORMATS. Raises HistoryError("FILE[:LINE]: what") when the
    path is no history file or the file is malformed (a torn last line is only a warning)."""
    path = Path(path)
    if format not in FORMATS:
        raise HistoryError(f"{path}: unknown history format {format!r}; "
                           f"known: {', '.join(FORMATS)}")
    if not path.exists():
        raise HistoryError(f"{path}: no such file")
    if path.is_dir():
        raise HistoryError(f"{path}: is a directory, not a history file")
    if not path.is_file():
        raise HistoryError(f"{path}: not a regular file")
    if _is_blank(path):
        return History([], [], str(path), {"format": format if format != "auto" else "empty"})
    if format == "auto":
        format = detect_format(path)
    with gc_paused():
        return _read(path, format, independent)


def _read(path: Path, format: str, independent: bool | None) -> History:
    if format == "jsonl":
        return read_jsonl(path)
    if format == "jepsen-log":
        history = _read_jepsen_log(path)
    else:
        history = _read_edn(path, format)
    _apply_independent_keys(history, independent)
    return history


def _is_blank(path: Path) -> bool:
    with open(path, "rb") as fh:
        while True:
            block = fh.read(1 << 16)
            if not block:
                return True
            if block.strip():
                return False


def detect_format(path: Path) -> str:
    """The format of a non-empty history file, judged from its content: its first line that is
    neither blank nor an EDN comment, read whole however long it is, and for Jepsen's logs, the
    first op line anywhere in the file."""
    with open(path, "rb") as fh:
        if b"\0" in fh.read(_BINARY_PROBE):
            raise HistoryError(f"{path}: binary data, not a history (a history is text: "
                               f"{_KINDS})")
        fh.seek(0)
        first = _first_meaningful_line(fh)
        if first is None:
            raise HistoryError(f"{path}: only blank and comment lines, no operations")
        start = first.lstrip()
        if start.startswith(b"{"):
            rest = start[1:].lstrip() or _next_meaningful_start(fh)
            if rest.startswith(b'"'):
                return _json_kind(path, first)
            if rest[:1] in (b":", b"}", b"#", b";"):
                return _edn_map_kind(first)
        elif start[:1] in (b"[", b"(", b"#"):
            return "jepsen-edn"
        fh.seek(0)
        for line in fh:
            if b"jepsen.util - " in line and _LOG_HINT.search(line):
                return "jepsen-log"
    shown = first.strip()[:60].decode("utf-8", errors="replace")
    raise HistoryError(f"{path}: not a history: it starts with {shown!r}, which is none of "
                       f"{_KINDS}; if it is one, pass --format")


_KINDS = ("JSON events one per line (jsonl), Jepsen EDN op maps (jepsen-edn), Jepsen log lines "
          "(jepsen-log) or Porcupine kv maps (porcupine-kv)")


def _first_meaningful_line(fh: BinaryIO) -> bytes | None:
    for line in fh:
        stripped = line.strip()
        if stripped and not stripped.startswith(b";"):
            return line
    return None


def _next_meaningful_start(fh: BinaryIO) -> bytes:
    line = _first_meaningful_line(fh)
    return b"" if line is None else line.lstrip()


def _json_kind(path: Path, first: bytes) -> str:
    import json  # only detection needs it (read_jsonl has its own reader)

    try:
        obj = json.loads(first)
    except ValueError:
        if first.rstrip().endswith(b"}"):
            raise HistoryError(f"{path}:1: a JSON line that does not parse; a history holds one "
                               f"JSON event per line") from None
        raise HistoryError(f"{path}: a JSON document spread over several lines (a results or "
                           f"test file?), not a history of one JSON event per line") from None
    if not isinstance(obj, dict) or not {"type", "process"} <= obj.keys():
        raise HistoryError(f"{path}:1: JSON, but not a history event (an event has at least "
                           f"index, time, process, type and f)")
    return "jsonl"


def _edn_map_kind(first: bytes) -> str:
    """porcupine-kv for Porcupine's maps (:key, no :index), else jepsen-edn (both read alike)."""
    try:
        obj = read_one(first.decode("utf-8", errors="replace"))
    except EdnError:
        return "jepsen-edn"  # a map spread over several lines: only Jepsen's writers do that
    if isinstance(obj, dict) and "key" in obj and "index" not in obj:
        return "porcupine-kv"
    return "jepsen-edn"


# --- EDN ----------------------------------------------------------------------------------------

def _read_edn(path: Path, fmt: str) -> History:
    """Op maps one per line, or all in one vector or list (Jepsen, Knossos, Porcupine's kv)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    warnings: list[str] = []
    forms = _edn_forms(path, text, warnings)
    if len(forms) == 1 and isinstance(forms[0][0], list):
        start = forms[0][1]
        maps = [(obj, start) for obj in forms[0][0]]
        where_of = lambda i, pos: f"{path}:{line_of(text, pos)}: op {i}"  # noqa: E731
    else:
        maps = forms
        where_of = lambda i, pos: f"{path}:{line_of(text, pos)}"  # noqa: E731
    events: list[Event] = []
    timed: list[bool] = []  # whether each event came with a :time
    for i, (obj, pos) in enumerate(maps):
        event, has_time = _event_from_map(obj, i, where_of, pos)
        events.append(event)
        timed.append(has_time)
    events = _in_history_order(events, timed, path, warnings)
    return History(events, warnings, str(path), {"format": fmt})


def _edn_forms(path: Path, text: str, warnings: list[str]) -> list[tuple[Any, int]]:
    try:
        return read_forms(text)
    except EdnError as exc:
        last_line = text.rfind("\n", 0, len(text) - 1) + 1
        if exc.at_end and not text.endswith("\n") and exc.pos >= last_line:
            forms = _edn_forms(path, text[:last_line], warnings)
            warnings.append(f"{path}:{line_of(text, last_line)}: torn last line skipped (the "
                            f"writer was interrupted)")
            return forms
        raise HistoryError(f"{path}:{line_of(text, exc.pos)}: not EDN: {exc}") from None


def _event_from_map(obj: Any, position: int, where_of: Callable[[int, int], str],
                    pos: int) -> tuple[Event, bool]:
    """The event of an op map, and whether it had a :time."""
    try:  # the common map: known keys only, of the usual types
        type_ = _EVENT_TYPES[obj["type"]]
        process = obj["process"]
        f = obj["f"]
    except (KeyError, TypeError):
        return _event_from_odd_map(obj, position, where_of, pos)
    get = obj.get
    index = get("index")
    time = get("time")
    if ((type(process) is int or process == NEMESIS) and type(f) is str
            and (index is None or type(index) is int) and (time is None or type(time) is int)
            and obj.keys() <= _KNOWN_KEYS):
        node = get("node")
        # interned, as the history readers do (see checkers.history._EVENT_TYPE)
        return Event(-1 if index is None else index, position if time is None else time,
                     process, type_, sys.intern(f), get("value"), get("key"),
                     None if node is None else str(node), get("error"), {}), time is not None
    return _event_from_odd_map(obj, position, where_of, pos)


def _event_from_odd_map(obj: Any, position: int, where_of: Callable[[int, int], str],
                        pos: int) -> tuple[Event, bool]:
    """_event_from_map for any other map, or HistoryError naming what is wrong."""
    if not isinstance(obj, dict):
        raise HistoryError(f"{where_of(position, pos)}: expected an operation map, found "
                           f"{_shape(obj)}")
    try:
        process = obj["process"]
        type_ = _EVENT_TYPES[obj["type"]]
        f = obj["f"]
    except KeyError as missing:
        if missing.args[0] in ("process", "type", "f"):
            raise HistoryError(f"{where_of(position, pos)}: operation lacks "
                               f":{missing.args[0]}") from None
        raise HistoryError(f"{where_of(position, pos)}: :type {obj['type']!r} is not one of "
                           f":invoke :ok :fail :info") from None
    except TypeError:  # an unhashable :type
        raise HistoryError(f"{where_of(position, pos)}: :type {obj['type']!r} is not one of "
                           f":invoke :ok :fail :info") from None
    if type(process) is not int and process != NEMESIS:
        if not isinstance(process, str) or isinstance(process, bool):
            raise HistoryError(f"{where_of(position, pos)}: :process must be an integer or "
                               f":nemesis, not {process!r}")
    index = obj.get("index", None)
    time = obj.get("time", None)
    if index is not None and type(index) is not int:
        raise HistoryError(f"{where_of(position, pos)}: :index must be an integer, not {index!r}")
    if time is not None and (type(time) not in (int, float) or time != time):
        raise HistoryError(f"{where_of(position, pos)}: :time must be a number, not {time!r}")
    extra = {str(k): v for k, v in obj.items() if k not in _KNOWN_KEYS}
    node = obj.get("node")
    event = Event(-1 if index is None else index, position if time is None else time,
                  NEMESIS if process == NEMESIS else process, type_,
                  sys.intern(f if type(f) is str else str(f)), obj.get("value"), obj.get("key"),
                  None if node is None else str(node), obj.get("error"), extra)
    return event, time is not None


def _in_history_order(events: list[Event], timed: list[bool], path: Path,
                      warnings: list[str]) -> list[Event]:
    """Jepsen's order: by :index when every op has one (else the file's), with times that follow
    it (see the module docstring). `timed[i]`: whether events[i] came with a :time."""
    indexed = sum(1 for e in events if e.index >= 0)
    if indexed == len(events):
        if any(b.index <= a.index for a, b in zip(events, events[1:])):
            order = sorted(range(len(events)), key=lambda i: events[i].index)
            events = [events[i] for i in order]
            timed = [timed[i] for i in order]
            for a, b in zip(events, events[1:]):
                if a.index == b.index:
                    raise HistoryError(f"{path}: two operations have :index {a.index}")
    else:
        if indexed:
            warnings.append(f"{path}: {indexed} of {len(events)} operations have an :index; the "
                            f"file's order is used and the indexes are renumbered")
        for i, e in enumerate(events):
            e.index = i
    times = [e.time for e, has_time in zip(events, timed) if has_time]
    backwards = next((i for i in range(1, len(times)) if times[i] < times[i - 1]), None)
    if len(times) == len(events) and backwards is None:
        return events
    if backwards is not None:
        at = [e for e, has_time in zip(events, timed) if has_time][backwards]
        warnings.append(f"{path}: :time goes backwards at :index {at.index} (times come from "
                        f"several threads); operations are ordered by the history's order, as in "
                        f"Jepsen, and each keeps its time as original_time")
    for position, (e, has_time) in enumerate(zip(events, timed)):
        if has_time:
            e.extra["original_time"] = e.time
        e.time = position
    return events


def _shape(obj: Any) -> str:
    if isinstance(obj, list):
        return "a vector"
    if isinstance(obj, str):
        return f"the name or string {obj!r}"
    return f"{type(obj).__name__} {obj!r}"


def _read_jepsen_log(path: Path) -> History:
    events: list[Event] = []
    warnings: list[str] = []
    values: dict[str, Any] = {}  # the same few value texts recur on thousands of lines
    with open(path, "r", encoding="utf-8", errors="replace") as fh:
        lines = fh.readlines()
    for lineno, line in enumerate(lines, 1):
        if "jepsen.util - " not in line:
            continue
        m = _LOG_LINE.search(line)
        where = f"{path}:{lineno}"
        torn = lineno == len(lines) and not line.endswith("\n")
        if m is None:
            if _LOG_HINT.search(line) is None and not torn:
                continue  # some other jepsen.util message: noise
            if torn:
                warnings.append(f"{where}: torn last line skipped (the writer was interrupted)")
                continue
            raise HistoryError(f"{where}: malformed operation line")
        proc_text, type_, f, value_text = m.groups(default="")
        if proc_text in (":nemesis", "nemesis"):
            process: int | str = NEMESIS
        else:
            try:
                process = int(proc_text)
            except ValueError:
                raise HistoryError(f"{where}: process {proc_text!r} is not a number") from None
        try:
            value = _cached(values, value_text, _log_value)
        except Exception as exc:
            if torn:
                warnings.append(f"{where}: torn last line skipped (the writer was interrupted)")
                continue
            raise HistoryError(f"{where}: cannot read the value {value_text!r} "
                               f"({_short(exc)})") from None
        n = len(events)
        events.append(Event(n, n, process, sys.intern(type_), sys.intern(f), value))
    return History(events, warnings, str(path), {"format": "jepsen-log"})


def _log_value(text: str) -> Any:
    if text == "":
        return None
    return read_one(text)


def _cached(cache: dict[str, Any], text: str, parse: Callable[[str], Any]) -> Any:
    if text not in cache:
        cache[text] = parse(text)
    value = cache[text]
    return list(value) if isinstance(value, list) else value


def _apply_independent_keys(history: History, independent: bool | None) -> None:
    client = [e for e in history.events if e.is_client]
    if independent is None:
        independent = bool(client) and all(_looks_independent(e) for e in client)
    if not independent:
        return
    for e in client:
        if e.key is None and isinstance(e.value, list) and len(e.value) == 2:
            e.key, e.value = e.value[0], e.value[1]
    history.meta["independent"] = True


def _looks_independent(e: Event) -> bool:
    if e.key is not None or e.f in _NEVER_INDEPENDENT:
        return False
    v = e.value
    if not (isinstance(v, list) and len(v) == 2):
        # completions of unknown outcome may carry an error keyword instead of the tuple
        return e.type in ("info", "fail") and not isinstance(v, list)
    if e.f == "cas":
        return isinstance(v[1], list) and len(v[1]) == 2
    return True


def _short(exc: Exception) -> str:
    msg = str(exc).strip().splitlines()
    return (msg[0] if msg else type(exc).__name__)[:160]
