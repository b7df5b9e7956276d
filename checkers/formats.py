"""Reading histories written by other tools: Jepsen's history.edn and logs, Porcupine's kv logs.

`read_history(path, format)` turns any supported file into a `checkers.history.History`, so every
checker works on all of them. Formats:

- "jsonl": our own history.jsonl (see checkers.history).
- "jepsen-edn": Jepsen's history.edn, a vector of op maps or one op map per line
  ({:process 0, :type :invoke, :f :write, :value 3, :index 0, :time 1200}).
- "jepsen-log": lines such as `INFO  jepsen.util - 3<TAB>:invoke<TAB>:cas<TAB>[1 4]` (tabs or
  spaces); every other line is noise and is skipped.
- "porcupine-kv": Porcupine's kv logs, one EDN map per line with :process :type :f :key :value.

"auto" decides by the content (not the file name) and raises HistoryError when it cannot tell.
EDN is parsed with the edn_format library. Formats without :index/:time get synthetic ones
(line order), which keeps the real-time order the file shows.

Jepsen's independent keys: jepsen.independent writes a key-spread history with every value a
2-vector `[key value]`. When the history has no :key field, every client event's value is such a
2-vector (a read's invocation being `[k nil]`), and every cas value is `[k [from to]]`, the history
is read as independent: `key` = first element, `value` = second. A plain cas-register history
always has a `nil` read invocation or a cas without a nested vector, so it is never misread.
`read_history(..., independent=True|False)` overrides the rule.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Callable

from checkers.history import NEMESIS, Event, History, HistoryError, gc_paused, read_jsonl

FORMATS = ("auto", "jsonl", "jepsen-edn", "jepsen-log", "porcupine-kv")

_EVENT_TYPES = {"invoke", "ok", "fail", "info"}
# A Jepsen log line holding one operation event; the process may be a number or :nemesis.
# Fields are tab-separated, or padded with spaces in some logs.
_LOG_LINE = re.compile(r"jepsen\.util - (\S+)\s+:(invoke|ok|fail|info)\s+:?(\S+)(?:\s+(.*?))?\s*$")
_LOG_HINT = re.compile(r"jepsen\.util - \S+\s+:(invoke|ok|fail|info)\s")
_SAMPLE_BYTES = 256 * 1024


def read_history(path: str | Path, format: str = "auto", *,
                 independent: bool | None = None) -> History:
    """Read a history file in one of FORMATS. Raises HistoryError("FILE:LINE: what") when the
    file is malformed (a torn last line is only a warning) and FileNotFoundError when absent."""
    path = Path(path)
    if format not in FORMATS:
        raise HistoryError(f"{path}: unknown history format {format!r}; "
                           f"known: {', '.join(FORMATS)}")
    if not path.is_file():
        raise HistoryError(f"{path}: no such history file")
    text_sample = _sample(path)
    if not text_sample.strip():
        return History([], [], str(path), {"format": format if format != "auto" else "empty"})
    if format == "auto":
        format = detect_format(path, text_sample)
    with gc_paused():
        return _read(path, format, independent)


def _read(path: Path, format: str, independent: bool | None) -> History:
    if format == "jsonl":
        return read_jsonl(path)
    if format == "jepsen-log":
        history = _read_jepsen_log(path)
    elif format == "porcupine-kv":
        history = _read_edn_lines(path, "porcupine-kv")
    else:
        history = _read_jepsen_edn(path)
    _apply_independent_keys(history, independent)
    return history


def detect_format(path: Path, sample: str | None = None) -> str:
    """The format of a non-empty history file, judged from its content."""
    if sample is None:
        sample = _sample(path)
    lines = [ln for ln in sample.splitlines() if ln.strip()]
    if not lines:
        raise HistoryError(f"{path}: empty file has no format")
    first = lines[0].lstrip()
    if first.startswith("{") and not first.startswith("{:"):
        try:
            if isinstance(json.loads(first), dict):
                return "jsonl"
        except json.JSONDecodeError:
            pass
    if any(_LOG_HINT.search(ln) for ln in lines):
        return "jepsen-log"
    if first.startswith("["):
        return "jepsen-edn"
    if first.startswith("{:"):
        try:
            obj = _plain(_edn_parse_one(first))
        except Exception:
            obj = None
        if isinstance(obj, dict):
            if "index" not in obj and "key" in obj:
                return "porcupine-kv"
            return "jepsen-edn"
    raise HistoryError(f"{path}:1: cannot tell the history format from the content; pass one of "
                       f"{', '.join(FORMATS[1:])}")


def _sample(path: Path) -> str:
    with open(path, "rb") as fh:
        return fh.read(_SAMPLE_BYTES).decode("utf-8", errors="replace")


# --- EDN through edn_format ---------------------------------------------------------------------

_parser: Any = None
_lexer: Any = None


def _edn_parse_all(text: str) -> list[Any]:
    """All EDN forms in `text`, parsed by edn_format's own grammar and lexer.

    edn_format.loads builds a new PLY parser and a debugging lexer on every call (about 1 ms per
    line); building them once and reusing them is five times faster and parses exactly the same.
    """
    global _parser, _lexer
    if _parser is None:
        import ply.lex
        import ply.yacc
        from edn_format import edn_lex, edn_parse
        _parser = ply.yacc.yacc(module=edn_parse, debug=False, write_tables=False,
                                errorlog=ply.yacc.NullLogger())
        _lexer = ply.lex.lex(module=edn_lex, reflags=re.UNICODE)
    return list(_parser.parse(text, lexer=_lexer))


def _edn_parse_one(text: str) -> Any:
    forms = _edn_parse_all(text)
    if len(forms) != 1:
        raise ValueError(f"expected one EDN form, found {len(forms)}")
    return forms[0]


def _plain(x: Any) -> Any:
    """EDN data as plain Python: keywords and symbols become their names, vectors and lists become
    lists, maps dicts, sets sorted lists."""
    t = type(x)
    if x is None or t is int or t is str or t is bool or t is float:
        return x
    kinds = _edn_kinds()
    kind = kinds.get(t)
    if kind is None:
        for cls, k in kinds.items():
            if isinstance(x, cls):
                kind = k
                break
    if kind == "name":
        return x.name
    if kind == "map":
        return {_plain(k): _plain(v) for k, v in x.items()}
    if kind == "list":
        return [_plain(v) for v in x]
    if kind == "set":
        items = [_plain(v) for v in x]
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=repr)
    return str(x)


_kinds: dict[type, str] = {}


def _edn_kinds() -> dict[type, str]:
    if not _kinds:
        from edn_format import Keyword, Symbol
        from edn_format.immutable_dict import ImmutableDict
        from edn_format.immutable_list import ImmutableList
        _kinds.update({Keyword: "name", Symbol: "symbol", ImmutableDict: "map", dict: "map",
                       ImmutableList: "list", list: "list", tuple: "list", frozenset: "set",
                       set: "set"})
    return _kinds


def _event_from_map(obj: Any, index: int, where: str) -> Event:
    if not isinstance(obj, dict):
        raise HistoryError(f"{where}: expected an operation map, found {type(obj).__name__}")
    for field in ("process", "type", "f"):
        if field not in obj:
            raise HistoryError(f"{where}: operation lacks :{field}")
    type_ = obj["type"]
    if type_ not in _EVENT_TYPES:
        raise HistoryError(f"{where}: :type {type_!r} is not one of :invoke :ok :fail :info")
    process = obj["process"]
    if isinstance(process, str) and process == NEMESIS:
        process = NEMESIS
    elif not isinstance(process, (int, str)) or isinstance(process, bool):
        raise HistoryError(f"{where}: :process must be an integer or :nemesis")
    idx = obj.get("index", index)
    time = obj.get("time", idx)
    if not isinstance(idx, int) or not isinstance(time, int):
        raise HistoryError(f"{where}: :index and :time must be integers")
    known = ("index", "time", "process", "type", "f", "value", "key", "node", "error")
    extra = {str(k): v for k, v in obj.items() if k not in known}
    node = obj.get("node")
    # interned, as the history readers do (see checkers.history._EVENT_TYPE)
    return Event(idx, time, process, sys.intern(type_), sys.intern(str(obj["f"])),
                 obj.get("value"), obj.get("key"),
                 None if node is None else str(node), obj.get("error"), extra)


def _read_edn_lines(path: Path, fmt: str) -> History:
    """One EDN map per line (Porcupine's kv logs, and Jepsen's history.edn as Jepsen writes it)."""
    events: list[Event] = []
    warnings: list[str] = []
    with open(path, "r", encoding="utf-8", errors="replace") as fh:
        rows = [(n, ln) for n, ln in enumerate(fh, 1) if ln.strip()]
    for pos, (lineno, line) in enumerate(rows):
        where = f"{path}:{lineno}"
        try:
            obj = _plain(_edn_parse_one(line))
        except Exception as exc:  # edn_format raises several exception types
            if pos == len(rows) - 1 and not line.endswith("\n"):
                warnings.append(f"{where}: torn last line skipped (the writer was interrupted)")
                break
            raise HistoryError(f"{where}: not an EDN map ({_short(exc)})") from None
        events.append(_event_from_map(obj, len(events), where))
    _check_monotonic(events, path)
    return History(events, warnings, str(path), {"format": fmt})


def _read_jepsen_edn(path: Path) -> History:
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.lstrip().startswith("["):
        return _read_edn_lines(path, "jepsen-edn")
    # A whole vector: parse it at once; on failure, name the line the parser stopped at.
    warnings: list[str] = []
    try:
        forms = _edn_parse_all(text)
    except Exception as exc:
        raise HistoryError(f"{path}:{_error_line(text, exc)}: malformed EDN vector "
                           f"({_short(exc)})") from None
    ops = _plain(forms[0]) if len(forms) == 1 else None
    if not isinstance(ops, list):
        raise HistoryError(f"{path}:1: expected one vector of operation maps")
    events = [_event_from_map(obj, i, f"{path}:op {i}") for i, obj in enumerate(ops)]
    _check_monotonic(events, path)
    return History(events, warnings, str(path), {"format": "jepsen-edn"})


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
    return _plain(_edn_parse_one(text))


def _cached(cache: dict[str, Any], text: str, parse: Callable[[str], Any]) -> Any:
    if text not in cache:
        cache[text] = parse(text)
    value = cache[text]
    return list(value) if isinstance(value, list) else value


def _check_monotonic(events: list[Event], path: Path) -> None:
    for a, b in zip(events, events[1:]):
        if b.time < a.time:
            raise HistoryError(f"{path}: event {b.index} has time {b.time}, earlier than the "
                               f"event before it ({a.time}); the history is not in time order")


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
    if e.key is not None:
        return False
    v = e.value
    if not (isinstance(v, list) and len(v) == 2):
        # completions of unknown outcome may carry an error keyword instead of the tuple
        return e.type in ("info", "fail") and not isinstance(v, list)
    if e.f == "cas":
        return isinstance(v[1], list) and len(v[1]) == 2
    return True


def _error_line(text: str, exc: Exception) -> int:
    m = re.search(r"line (\d+)", str(exc))
    return int(m.group(1)) if m else 1


def _short(exc: Exception) -> str:
    msg = str(exc).strip().splitlines()
    return (msg[0] if msg else type(exc).__name__)[:160]
