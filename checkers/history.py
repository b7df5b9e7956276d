"""The history as checkers and reports see it: events read from a file, paired into operations.

This module is the reading half of the history contract (docs/contracts.md); the writing half is
`harness.history`. It depends on nothing but the standard library (orjson, when installed, only
makes reading faster) so that a history can be checked on any machine, long after the run, without
the systems or the harness that produced it.

A history is a sequence of events, one JSON object per line:

    {"index": 0, "time": 1200, "process": 3, "type": "invoke", "f": "write", "key": "k1",
     "value": 7, "node": "n2"}

Each client operation is an `invoke` followed (later, by the same process) by exactly one of
`ok` (it happened), `fail` (it certainly did not happen) or `info` (unknown). An invoke with no
completion reads as `info`. Nemesis events use process "nemesis" and are kept apart.

A History is read-only data. Equal values are often one object: strings and ints repeated
millions of times, and, read by checkers/_jsonl.c, equal lists (the micro-ops an invocation and
its completion both hold, a key's list that several reads returned), which made a
100,000-transaction history 186 MiB -> 122 MiB. Change nothing in place: copy first.
"""

from __future__ import annotations

import gc
import importlib
import math
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final, Iterable, Iterator

# orjson, when installed, reads history.jsonl several times faster; the json module gives the same
# History without it. It is imported on first use (5 ms: a check of EDN or log files never needs
# it), by name, so that compiling this module (mypyc) never depends on whether orjson is
# installed yet: both ways it is Any to the compiler.
_NOT_LOADED: Final = object()
_orjson_loads: Any = _NOT_LOADED
_orjson_error: Any = ValueError


# checkers/_jsonl.c, when built and current (checkers.native.c_extension): reads the common
# line straight into an Event, leaving every other line to the readers below. Loaded on first
# use, as orjson is.
_native_reader: Any = _NOT_LOADED


def _load_native_reader() -> None:
    global _native_reader
    from checkers.native import c_extension

    _native_reader = c_extension("checkers._jsonl", depends=("_prefetch.h",))


def _load_orjson() -> None:
    global _orjson_loads, _orjson_error
    try:
        orjson = importlib.import_module("orjson")
    except ImportError:  # pragma: no cover - depends on the environment
        _orjson_loads = None
        return
    _orjson_error = orjson.JSONDecodeError
    _orjson_loads = orjson.loads


EVENT_TYPES: Final = ("invoke", "ok", "fail", "info")
NEMESIS: Final = "nemesis"
KNOWN_FIELDS = ("index", "time", "process", "type", "f", "value", "key", "node", "error")


class HistoryError(ValueError):
    """A history file that cannot be read; the message names the file and line."""


@dataclass(slots=True)
class Event:
    """One line of a history: an invocation, a completion, or a nemesis event."""

    index: int
    time: int | float  # ns since the test started (monotonic); other tools may give floats
    process: int | str  # a client process number, or "nemesis"
    type: str  # invoke | ok | fail | info
    f: str
    value: Any = None
    key: Any = None
    node: str | None = None
    error: Any = None
    extra: dict[str, Any] = field(default_factory=dict)  # any other field, kept verbatim

    # Written out, not left to dataclass: compiled, this one is a native function, which every
    # reader calls once per line (dataclass's own would run interpreted, at three times the
    # cost). An omitted `extra` is a new dict, as default_factory made it.
    def __init__(self, index: int, time: int | float, process: int | str, type: str, f: str,
                 value: Any = None, key: Any = None, node: str | None = None, error: Any = None,
                 extra: dict[str, Any] | None = None) -> None:
        self.index = index
        self.time = time
        self.process = process
        self.type = type
        self.f = f
        self.value = value
        self.key = key
        self.node = node
        self.error = error
        self.extra = {} if extra is None else extra

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
        node = d.get("node")
        # a node is a name; another tool's number (or anything else) is read as its text, as
        # the EDN reader does, and never breaks the compiled Event's `str | None`
        return cls(index, time, process, _EVENT_TYPE[type_], sys.intern(str(f)), d.get("value"),
                   d.get("key"), node if node is None or type(node) is str else str(node),
                   d.get("error"), extra)


def new_event(index: int, time: int | float, process: int | str, type: str, f: str, value: Any,
              key: Any, node: str | None, error: Any, extra: dict[str, Any]) -> Event:
    """Event(...) with every field given: what checkers/_jsonl.c calls per line. Compiled, a
    call to this function from C costs half a call to the class (whose arguments arrive as a
    tuple to be parsed), and it calls the class's native constructor directly."""
    return Event(index, time, process, type, f, value, key, node, error, extra)


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
    # unions, so that compiled code neither rounds int ns through float nor refuses float times
    start: int | float
    end: int | float  # int ns, or math.inf
    invoke_index: int
    complete_index: int | None
    error: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    # Written out for the reason Event.__init__ is: pairing builds one per operation.
    def __init__(self, id: int, process: int | str, f: str, key: Any, node: str | None,
                 type: str, invoke_value: Any, value: Any, start: int | float,
                 end: int | float, invoke_index: int, complete_index: int | None,
                 error: Any = None, extra: dict[str, Any] | None = None) -> None:
        self.id = id
        self.process = process
        self.f = f
        self.key = key
        self.node = node
        self.type = type
        self.invoke_value = invoke_value
        self.value = value
        self.start = start
        self.end = end
        self.invoke_index = invoke_index
        self.complete_index = complete_index
        self.error = error
        self.extra = {} if extra is None else extra


@dataclass
class History:
    """Events of one history file, in file order, with warnings met while reading it."""

    events: list[Event]
    warnings: list[str] = field(default_factory=list)
    source: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # format-specific facts (e.g. the format)
    # operations() computed once: (the events list, its length, the operations, their warnings)
    _paired: tuple[list[Event], int, list[Operation], list[str]] | None = field(
        default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._paired = None  # compiled, a field with init=False gets no default of its own

    def client_events(self) -> list[Event]:
        return [e for e in self.events if e.is_client]

    def nemesis_events(self) -> list[Event]:
        return [e for e in self.events if e.process == NEMESIS]

    def operations(self) -> list[Operation]:
        """Pair every client invoke with the next completion of the same process.

        The pairing is done once per History (several checkers ask for it) and its warnings are
        added to `warnings` once. Each call returns a new list, so a caller may sort or filter
        its own; the Operation objects in it are shared and must not be modified. Replacing
        `events`, or adding or removing events, makes the next call pair again; changing an
        event in place after the first call does not."""
        paired = self._paired
        if paired is None or paired[0] is not self.events or paired[1] != len(self.events):
            if paired is not None:  # the events changed: drop the old pairing's warnings
                for w in paired[3]:
                    if w in self.warnings:
                        self.warnings.remove(w)
            found: list[str] = []
            ops = pair_operations(self.events, found)
            self.warnings.extend(found)
            paired = self._paired = (self.events, len(self.events), ops, found)
        return list(paired[2])

    def client_invocations(self) -> int:
        """How many operations clients invoked (what operations() pairs, without pairing)."""
        count = 0
        for e in self.events:
            if e.type == "invoke" and e.is_client:
                count += 1
        return count

    def __len__(self) -> int:
        return len(self.events)


def pair_operations(events: Iterable[Event], warnings: list[str] | None = None) -> list[Operation]:
    """Pair every client invoke with the next completion of the same process, in file order.

    Builds one Operation per invoke; the cyclic GC is paused meanwhile (see `gc_paused`)."""
    pending: dict[Any, Operation] = {}
    ops: list[Operation] = []
    nemesis = NEMESIS
    inf = math.inf
    with gc_paused():
        for e in events:
            process = e.process
            # not Event.is_client, inlined; a process is nearly always an int
            if type(process) is not int and (process == nemesis or isinstance(process, str)):
                continue
            type_ = e.type
            if type_ == "invoke":
                if process in pending and warnings is not None:
                    warnings.append(f"process {process} invoked event {e.index} while its "
                                    f"previous operation was still open; the previous one reads "
                                    f"as info")
                extra = e.extra
                value = e.value
                # positional: compiled, this is a direct native constructor call (field order
                # checked by _check_fields)
                op = Operation(len(ops), process, e.f, e.key, e.node, "info", value, value, e.time,
                               inf, e.index, None, None, dict(extra) if extra else {})
                pending[process] = op
                ops.append(op)
                continue
            done = pending.pop(process, None)
            if done is None:
                if warnings is not None:
                    warnings.append(f"event {e.index}: a {type_} for process {process} with no "
                                    f"open invocation was ignored")
                continue
            done.type = type_
            done.complete_index = e.index
            done.error = e.error
            if done.node is None:
                done.node = e.node
            if type_ != "info":
                done.end = e.time
                value = e.value
                if value is not None or type_ == "ok":
                    done.value = value
            extra = e.extra
            if extra:
                done.extra.update(extra)
    return ops


_AGED: Final = 10_000  # young objects gc_paused moves straight to the oldest generation


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building millions of acyclic objects: its full
    passes over every live object otherwise make reading and checking quadratic in practice.

    Objects made during the pause are still young when it ends, and the first allocation after
    it would have the collector walk them all (0.2 s for a 100,000-transaction history). So when
    there are many, they are moved to the oldest generation at once (gc.freeze, then
    gc.unfreeze), as if they had survived the collections they were spared; only a full
    collection walks them again, as it would have after those collections."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if gc.get_count()[0] > _AGED:
                gc.freeze()
                gc.unfreeze()
            gc.enable()


# -- reading history.jsonl -------------------------------------------------------------------
#
# The file is read in binary blocks and each line parsed by orjson when it is installed (several
# times faster than the json module). Every line orjson refuses, or may read differently from the
# json module, is read again the old way: decoded as UTF-8 with errors="replace" and parsed by
# json.loads. So the History is the same with or without orjson, for any file.

_BLOCK = 1 << 20  # bytes read at a time
_BLANK = object()  # _parse_slow: a blank line
_UNPARSEABLE = object()  # _parse_slow: not JSON at all
# Event types and op names are interned strings, as the literals they are compared with in
# compiled code are: an equality test is then a pointer comparison, not a memcmp.
_EVENT_TYPE = {t: t for t in EVENT_TYPES}
_SHARED_MAX = 1 << 16  # distinct strings shared between events (bounds the table)
_PLAIN_TYPES = frozenset((int, str, bool, type(None)))  # values orjson reads as json does
_BIG_FLOAT = float(2 ** 63)  # orjson reads an integer beyond 64 bits as a float at least this big


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
    """Yield (line number, object or None when unparseable, raw line) for each non-blank line."""
    for lineno, raw, obj in _parsed_lines(path):
        text = raw.decode("utf-8", errors="replace")
        if text.endswith("\r"):  # as a file opened in text mode shows it
            text = text[:-1] + "\n"
        elif text.endswith("\r\n"):
            text = text[:-2] + "\n"
        yield lineno, (None if obj is _UNPARSEABLE else obj), text


def _parsed_lines(path: Path) -> Iterator[tuple[int, bytes, Any]]:
    """(line number, raw line, object or _UNPARSEABLE) for each non-blank line, read by the json
    module."""
    lineno = 0
    for lines in _line_blocks(path):
        for raw in lines:
            lineno += 1
            obj = _parse_slow(raw)
            if obj is not _BLANK:
                yield lineno, raw, obj


def _line_blocks(path: Path) -> Iterator[list[bytes]]:
    """The file's lines, in lists of about _BLOCK bytes, each line with its line ending. Lines
    end at \\n, \\r\\n or \\r, as in a file opened in text mode (universal newlines), so line
    numbers are the ones an editor shows."""
    for block in _blocks(path):
        yield block.splitlines(keepends=True)


def _blocks(path: Path) -> Iterator[bytes]:
    """The file in pieces of about _BLOCK bytes that end with a line ending (but the last)."""
    for buffer, size in _buffered_blocks(path):
        yield bytes(buffer[:size])


def _buffered_blocks(path: Path) -> Iterator[tuple[bytearray, int]]:
    """_blocks as (buffer, length) in one buffer read into again for the next piece (so it
    must be done with before asking for that). Reading into the same memory spares a fresh
    megabyte from the allocator, and its page faults, per piece."""
    buffer = bytearray(_BLOCK)
    held = 0  # bytes at the start of the buffer that began a line in the last piece
    with open(path, "rb", buffering=0) as fh:
        while True:
            if held == len(buffer):  # a line longer than the buffer
                buffer.extend(bytes(len(buffer)))
            got = fh.readinto(memoryview(buffer)[held:])
            if not got:
                if held:
                    yield buffer, held
                return
            size = held + got
            # cut after the last line ending, but not after a CR that may be followed by an LF
            cut = max(buffer.rfind(b"\n", 0, size), buffer.rfind(b"\r", 0, size - 1)) + 1
            if cut == 0:
                held = size
                continue
            yield buffer, cut
            held = size - cut
            buffer[:held] = buffer[cut:size]


def _parse_slow(raw: bytes) -> Any:
    """One line the way the json module reads it: the object, _BLANK or _UNPARSEABLE."""
    import json  # here, not at the top: a check of EDN or log files never needs it

    text = raw.decode("utf-8", errors="replace")
    if not text.strip():
        return _BLANK
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return _UNPARSEABLE


def _exact(value: Any) -> bool:
    """Whether orjson's reading of a value is certainly the json module's: it has no float that
    may have been an integer beyond 64 bits (which the json module reads as an int)."""
    t = type(value)
    if t is float:
        return not (value >= _BIG_FLOAT or value <= -_BIG_FLOAT)
    if t is list:
        return all(map(_exact, value))
    if t is dict:
        return all(map(_exact, value.values()))
    return True


def _check_fields() -> None:
    """_line_event and pair_operations build Events and Operations with positional
    arguments (compiled, a direct constructor call): they must know every field, in order."""
    for cls, names in ((Event, KNOWN_FIELDS + ("extra",)), (Operation, _OPERATION_FIELDS)):
        found = tuple(f.name for f in fields(cls))
        if found != names:  # pragma: no cover - a guard for future edits
            raise RuntimeError(f"checkers.history: {cls.__name__} fields {found} are not the "
                               f"ones _line_event, _jsonl.c and pair_operations set; update them")


_OPERATION_FIELDS = ("id", "process", "f", "key", "node", "type", "invoke_value", "value",
                     "start", "end", "invoke_index", "complete_index", "error", "extra")
_check_fields()


def read_jsonl(path: str | Path) -> History:
    """Read our own history.jsonl. A torn last line is skipped with a warning; any other
    malformed line raises HistoryError naming the file and line."""
    path = Path(path)
    events: list[Event] = []
    warnings: list[str] = []
    if _native_reader is _NOT_LOADED:
        _load_native_reader()
    # orjson only when Python reads lines; with the C reader, on the first line it leaves
    if _orjson_loads is _NOT_LOADED and _native_reader is None:
        _load_orjson()
    with gc_paused():
        if _native_reader is None:
            _read_events(path, events, warnings)
        else:
            _read_events_native(path, events, warnings, _native_reader)
    return History(events, warnings, str(path), {"format": "jsonl"})


def _event_or_error(obj: Any, raw: bytes, where: str, warnings: list[str]) -> Event | None:
    """The event of a parsed line (None for a torn last line), or HistoryError."""
    if obj is _UNPARSEABLE:
        # only the last line of a file can lack a line ending
        if not raw.endswith((b"\n", b"\r")):
            warnings.append(f"{where}: torn last line skipped (the writer was interrupted)")
            return None
        raise HistoryError(f"{where}: not a JSON object")
    if not isinstance(obj, dict):
        raise HistoryError(f"{where}: not a JSON object")
    return Event.from_dict(obj, where)


def _read_events_native(path: Path, events: list[Event], warnings: list[str],
                        native: Any) -> None:
    """The reader with checkers/_jsonl.c: it reads every line it can (nearly all of them) and
    hands each other one to _line_event, in file order."""
    read = native.Reader(new_event, EVENT_TYPES).read
    shared: dict[Any, Any] = {}
    lineno = 0
    for block, size in _buffered_blocks(path):
        if len(shared) > _SHARED_MAX:
            shared.clear()
        pos = 0
        while pos < size:
            stop, end, lines = read(block, pos, size, events)
            lineno += lines
            if stop < size:
                lineno += 1
                event = _line_event(bytes(block[stop:end]), path, lineno, warnings, shared)
                if event is not None:
                    events.append(event)
            pos = end


def _read_events(path: Path, events: list[Event], warnings: list[str]) -> None:
    """The reader without checkers/_jsonl.c: every line through _line_event."""
    append = events.append
    # Equal strings (key, node) made one object: a history repeats a few of them millions of
    # times. The table starts afresh when it grows past _SHARED_MAX.
    shared: dict[Any, Any] = {}
    lineno = 0
    for lines in _line_blocks(path):
        if len(shared) > _SHARED_MAX:
            shared.clear()
        for raw in lines:
            lineno += 1
            event = _line_event(raw, path, lineno, warnings, shared)
            if event is not None:
                append(event)


def _line_event(raw: bytes, path: Path, lineno: int, warnings: list[str],
                shared: dict[Any, Any]) -> Event | None:
    """The event of one line (None for a blank or torn last line), read by orjson when it is
    installed, else by the json module. With orjson, the common line (only known fields, of the
    usual types) becomes an Event right here; any other goes through _parse_slow or
    Event.from_dict. Op names (f) and event types are interned (see `_EVENT_TYPE`); equal keys
    and nodes are made one object through `shared`."""
    if _orjson_loads is _NOT_LOADED:
        _load_orjson()
    loads = _orjson_loads
    if loads is None:
        obj = _parse_slow(raw)
        return None if obj is _BLANK else _event_or_error(obj, raw, f"{path}:{lineno}", warnings)
    try:
        obj = loads(raw)
    except _orjson_error:
        obj = _parse_slow(raw)  # blank, invalid UTF-8, NaN, lone surrogates, or damaged
        if obj is _BLANK:
            return None
    else:
        if type(obj) is dict:
            try:
                index = obj["index"]
                time = obj["time"]
                process = obj["process"]
                type_ = _EVENT_TYPE[obj["type"]]
                f = obj["f"]
            except (KeyError, TypeError):  # Event.from_dict says what is wrong
                pass
            else:
                get = obj.get
                value = get("value")
                key = get("key")
                # fields other than the five above, value and key
                unknown = len(obj) - 5 - ("value" in obj) - ("key" in obj)
                node: Any = None
                error: Any = None
                if unknown:  # rarely: node, error, or fields Event.from_dict keeps
                    node = get("node")
                    error = get("error")
                    unknown -= ("node" in obj) + ("error" in obj)
                tp = type(process)
                tv = type(value)
                if (unknown == 0 and type(index) is int and type(time) is int
                        and (tp is int or tp is str) and type(f) is str
                        and (value is None or tv is int or tv is str
                             or (tv is list and _PLAIN_TYPES.issuperset(map(type, value)))
                             or _exact(value))
                        and (key is None or type(key) is str or _exact(key))
                        and (node is None or type(node) is str)
                        and (error is None or _exact(error))):
                    share = shared.setdefault
                    # positional: compiled, a direct native constructor call (field order
                    # checked by _check_fields)
                    return Event(index, time, process, type_, sys.intern(f), value,
                                 share(key, key) if type(key) is str else key,
                                 node if node is None else share(node, node), error, {})
        if not _exact(obj):  # a huge integer somewhere: read it as the json module does
            obj = _parse_slow(raw)
    return _event_or_error(obj, raw, f"{path}:{lineno}", warnings)
