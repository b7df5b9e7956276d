"""From a history to Kafka operations: what each op sent, polled, subscribed to and committed.

Two spellings of the same facts are read (docs/op-shapes.md, workload `group`):

- ours (history.jsonl): `send` ok `{"key", "value", "partition", "offset"}`; `poll` ok
  `{"<partition>": [[offset, value], ...], ...}`; `txn` ok `{"poll": {...}, "send": [send
  records]}`; `subscribe` / `assign` `{"topics" | "partitions": [...], "commit": policy}`;
  `commit` `{"offsets": {"<partition>": offset}}`; every consumer op names its `group` and
  `member`, and its completion may list the rebalances (`rebalance_log`) and commits (`commits`)
  that happened while it ran.
- Jepsen's (jepsen.tests.kafka, read from EDN by checkers/formats.py, keywords as strings): the
  value of `send`, `poll` and `txn` is a list of micro-ops, `["send", k, v]` completed as
  `["send", k, [offset, v]]` and `["poll"]` completed as `["poll", {k: [[offset, v], ...]}]`;
  `subscribe` / `assign` take a list of keys; a client op `crash` replaces the process's
  consumer; completions may carry `rebalance-log`, a list of `{"keys": [...]}`.

Both become `KafkaOp`s: the sends as (partition, offset or None, value) and the polls as
(partition, [[offset, value], ...]) in the order they happened. A partition is named by its
number in the workload's topic and by "topic/number" in any other topic (Jepsen's keys are taken
as they are); a JSON object key "3" names partition 3.

Outcomes are Jepsen's. An `info` op's completion may still say what it sent (Jepsen's client
writes the offsets it learned), so its completion value is read, not dropped. Every op shape
this module cannot read raises KafkaShapeError naming the op's index in the file.
"""

from __future__ import annotations

import math
from typing import Any, Final, Iterable

from checkers.elle.transactions import freeze
from checkers.history import History, HistoryError, Operation

KAFKA_FS: Final = frozenset(("send", "poll", "txn"))
MODE_FS: Final = frozenset(("subscribe", "assign"))
CONSUMER_FS: Final = frozenset(("poll", "txn", "subscribe", "assign", "commit", "close", "crash"))
# the group of every subscribed consumer when the history names none (Jepsen's); a consumer that
# assigns itself partitions is in no group, and with neither subscribe nor assign, all are
NO_GROUP: Final = "default"
POLICIES: Final = ("before", "after", "auto", "txn")


class KafkaShapeError(HistoryError):
    """An op this checker cannot read; the message names the op and what is wrong with it.
    A HistoryError: bad input, not a verdict."""


class Rebalance:
    """An assignment change a consumer saw while one of its ops ran: `kind` assigned, revoked,
    lost (Kafka's three callbacks) or rebalance (Jepsen's log says only which keys moved)."""

    __slots__ = ("time", "kind", "logs", "op")

    def __init__(self, time: int | float, kind: str, logs: tuple[Any, ...], op: "KafkaOp") -> None:
        self.time = time
        self.kind = kind
        self.logs = logs
        self.op = op


class Commit:
    """Offsets a consumer committed (the next offset to read, per partition); `certain` is
    False when the commit's outcome is unknown."""

    __slots__ = ("time", "offsets", "certain", "op")

    def __init__(self, time: int | float, offsets: dict[Any, int], certain: bool,
                 op: "KafkaOp") -> None:
        self.time = time
        self.offsets = offsets
        self.certain = certain
        self.op = op


class Crash:
    """A consumer killed without closing: by the nemesis (naming members or processes) or by
    Jepsen's client op `crash` (its own process)."""

    __slots__ = ("time", "index", "members", "processes", "source")

    def __init__(self, time: int | float, index: int, members: frozenset[Any],
                 processes: frozenset[Any], source: str) -> None:
        self.time = time
        self.index = index
        self.members = members
        self.processes = processes
        self.source = source


class KafkaOp:
    """One client operation as the delivery checker sees it.

    `id` numbers the history's Kafka ops from 0 in invocation order (the node in the dependency
    graph); `op` is the paired Operation; `sends` are (partition, offset or None, value) and
    `reads` (partition, [[offset, value], ...]) in the order the op did them; `mode` is
    "subscribe" or "assign" for those ops, with `logs` the partitions named (None: a whole
    topic) and `policy` the commit policy they declare."""

    __slots__ = ("id", "op", "f", "type", "group", "member", "sends", "reads", "rebalances",
                 "commits", "mode", "logs", "policy", "raw")

    def __init__(self, id: int, op: Operation, type: str, group: Any, member: Any) -> None:
        self.id = id
        self.op = op
        self.f = op.f
        self.type = type
        self.group = group
        self.member = member
        self.sends: tuple[tuple[Any, Any, Any], ...] = ()
        self.reads: tuple[tuple[Any, list[Any]], ...] = ()
        self.rebalances: tuple[Rebalance, ...] = ()
        self.commits: tuple[Commit, ...] = ()
        self.mode: str | None = None
        self.logs: tuple[Any, ...] | None = None
        self.policy: str | None = None
        self.raw: Any = None  # the value as recorded, for evidence

    @property
    def name(self) -> str:
        """How evidence calls it: the op's f and the index of its invocation in the file."""
        return f"{self.f} #{self.op.invoke_index}"

    def __repr__(self) -> str:
        return f"<{self.name} {self.type} sends={self.sends} reads={self.reads}>"


class KafkaHistory:
    """The history's Kafka ops (invocation order), consumer crashes, and what else it held."""

    def __init__(self, ops: list[KafkaOp], crashes: list[Crash], other_ops: int,
                 grouped: bool, events: list[Any]) -> None:
        self.ops = ops
        self.crashes = crashes
        self.other_ops = other_ops
        self.grouped = grouped  # some op names its group (our workload), else one implicit group
        self.events = events

    def time_at(self, index: int) -> int | float:
        """The time of the event with this index in the file (or the nearest before it)."""
        events = self.events
        if not events:
            return 0
        if 0 <= index < len(events) and events[index].index == index:
            return events[index].time
        found = 0
        for e in events:  # indexes not 0, 1, 2, ...: the latest event at or before it
            if e.index > index:
                break
            found = e.time
        return found


def log_name(key: Any, topic: Any = None) -> Any:
    """The name of a partition: its number (a JSON object key "3" is 3), "topic/number" when a
    topic is given; Jepsen's keys as they are."""
    if topic is not None:
        return f"{topic}/{log_name(key)}"
    if type(key) is str and key.isdigit():
        return int(key)
    if isinstance(key, list):
        return freeze(key)
    return key


def read_kafka_history(history: History) -> KafkaHistory:
    ops = history.operations()
    independent = bool(history.meta.get("independent"))
    completions = _Completions(history)
    grouped = any("group" in op.extra for op in ops if op.f in CONSUMER_FS)
    modes = not grouped and any(op.f in MODE_FS for op in ops)
    mode: dict[Any, str] = {}  # process -> subscribe | assign, as its last such op left it
    out: list[KafkaOp] = []
    crashes: list[Crash] = []
    other = 0
    for op in ops:
        f = op.f
        value = op.value
        if f == "send" and op.type == "ok" and type(value) is dict and not independent:
            # the common op, an acknowledged send in our shape, read without the general path
            p = value.get("partition")
            o = value.get("offset")
            v = value.get("value")
            if type(p) is int and type(o) is int and o >= 0 and \
                    (type(v) is int or type(v) is str) and "topic" not in value:
                k = KafkaOp(len(out), op, "ok", None, op.process)
                k.sends = ((p, o, v),)
                k.raw = value
                out.append(k)
                continue
        if f not in KAFKA_FS and f not in CONSUMER_FS:
            other += 1
            continue
        extra = op.extra
        group = extra.get("group")
        if not grouped and f in CONSUMER_FS:
            if f in MODE_FS and op.type != "fail":
                mode[op.process] = f
            if not modes or mode.get(op.process) == "subscribe":
                group = NO_GROUP
        member = extra.get("member", op.process)
        k = KafkaOp(len(out), op, op.type, group, member)
        if op.type == "info" and op.complete_index is not None:
            value = completions.value(op)  # the completion may still say what happened
        if independent and op.key is not None:  # misread as jepsen.independent: undo it
            value = [op.key, value]
        k.raw = value
        try:
            _fill(k, value)
        except KafkaShapeError:
            raise
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as e:
            raise KafkaShapeError(f"op {op.invoke_index} ({f}): cannot read its value "
                                  f"{_short(value)} ({e})") from None
        if f == "crash":
            crashes.append(Crash(_when(op), op.complete_index or op.invoke_index,
                                 frozenset((member,)), frozenset((op.process,)), k.name))
        out.append(k)
    crashes.extend(_nemesis_crashes(history))
    crashes.sort(key=lambda c: c.time)
    return KafkaHistory(out, crashes, other, grouped, history.events)


def _when(op: Operation) -> int | float:
    return op.end if math.isfinite(op.end) else op.start


class _Completions:
    """The completion event of an op, by its index in the file (info values are read there)."""

    def __init__(self, history: History) -> None:
        self.events = history.events
        self.by_index: dict[int, Any] | None = None

    def value(self, op: Operation) -> Any:
        i = op.complete_index
        events = self.events
        if i is not None and 0 <= i < len(events) and events[i].index == i:
            return events[i].value if events[i].value is not None else op.invoke_value
        if self.by_index is None:
            self.by_index = {e.index: e for e in events}
        e = self.by_index.get(i)  # type: ignore[arg-type]
        return op.invoke_value if e is None or e.value is None else e.value


def _fill(k: KafkaOp, value: Any) -> None:
    f = k.f
    extra = k.op.extra
    if f in KAFKA_FS:
        if type(value) is list or type(value) is tuple:
            _jepsen_mops(k, value)
        elif f == "send":
            if value is not None:
                k.sends = (_send_record(k, value),)
        elif f == "poll":
            if value is not None:
                k.reads = _poll_map(k, value)
        elif value is not None:  # our txn
            if type(value) is not dict:
                raise KafkaShapeError(f"op {k.op.invoke_index} (txn): expected an object "
                                      f"{{\"poll\", \"send\"}} or a list of micro-ops, not "
                                      f"{_short(value)}")
            polled = value.get("poll")
            if polled is not None:
                k.reads = _poll_map(k, polled)
            sent = value.get("send")
            if sent is not None:
                if type(sent) is not list:
                    raise KafkaShapeError(f"op {k.op.invoke_index} (txn): \"send\" must be a "
                                          f"list of send records")
                k.sends = tuple(_send_record(k, r) for r in sent)
    elif f in MODE_FS:
        _mode(k, value)
    elif f == "commit":
        offsets = value.get("offsets") if type(value) is dict else None
        if offsets is not None and k.type != "fail":
            k.commits = (Commit(_when(k.op), _offsets(k, offsets), k.type == "ok", k),)
    log = extra.get("rebalance_log", extra.get("rebalance-log"))
    if log:
        k.rebalances = _rebalances(k, log)
    commits = extra.get("commits")
    if commits:
        k.commits = k.commits + _commits(k, commits)


def _jepsen_mops(k: KafkaOp, mops: Iterable[Any]) -> None:
    sends: list[tuple[Any, Any, Any]] = []
    reads: list[tuple[Any, list[Any]]] = []
    for mop in mops:
        if type(mop) is not list and type(mop) is not tuple or not mop:
            raise KafkaShapeError(f"op {k.op.invoke_index} ({k.f}): micro-op {_short(mop)} is "
                                  f"not [\"send\", k, v] or [\"poll\", ...]")
        fn = mop[0]
        if fn == "send":
            if len(mop) != 3:
                raise KafkaShapeError(f"op {k.op.invoke_index} ({k.f}): micro-op {_short(mop)}:"
                                      f" a send is [\"send\", key, value]")
            v = mop[2]
            if (type(v) is list or type(v) is tuple) and len(v) == 2:
                offset, v = v[0], v[1]
                _check_offset(k, offset)
            else:
                offset = None
            sends.append((log_name(mop[1]), offset, _hashable(v)))
        elif fn == "poll":
            if len(mop) > 1 and mop[1] is not None:
                reads.extend(_poll_map(k, mop[1]))
        else:
            raise KafkaShapeError(f"op {k.op.invoke_index} ({k.f}): micro-op {_short(mop)}: "
                                  f"f must be send or poll")
    k.sends = tuple(sends)
    k.reads = tuple(reads)


def _send_record(k: KafkaOp, r: Any) -> tuple[Any, Any, Any]:
    if type(r) is not dict or "value" not in r:
        raise KafkaShapeError(f"op {k.op.invoke_index} ({k.f}): a send record is an object with "
                              f"\"value\" (and, once acknowledged, \"partition\" and \"offset\"),"
                              f" not {_short(r)}")
    p = r.get("partition")
    offset = r.get("offset")
    _check_offset(k, offset)
    # an ok send may lack its offset (acks=0: the producer never learns it), as in Jepsen's
    # [:send k v]; the log then places the message by where a poll found it, if one did
    if k.type == "ok" and p is None:
        raise KafkaShapeError(f"op {k.op.invoke_index} ({k.f}): an ok send names the "
                              f"\"partition\" Kafka wrote it to: {_short(r)}")
    return (None if p is None else log_name(p, r.get("topic")), offset, _hashable(r["value"]))


def _poll_map(k: KafkaOp, polled: Any) -> tuple[tuple[Any, list[Any]], ...]:
    if type(polled) is not dict:
        raise KafkaShapeError(f"op {k.op.invoke_index} ({k.f}): a poll's result maps each "
                              f"partition to [[offset, value], ...], not {_short(polled)}")
    out = []
    for key, pairs in polled.items():
        if type(pairs) is not list:
            raise KafkaShapeError(f"op {k.op.invoke_index} ({k.f}): partition {key!r} polled "
                                  f"{_short(pairs)}, not a list of [offset, value]")
        clean = True
        for pair in pairs:
            if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not int:
                clean = False
                break
            v = pair[1]
            if type(v) is not int and type(v) is not str:
                clean = False
                break
        if not clean:
            pairs = [_pair(k, key, pair) for pair in pairs]
        out.append((log_name(key), pairs))
    return tuple(out)


def _pair(k: KafkaOp, key: Any, pair: Any) -> list[Any]:
    if (type(pair) is not list and type(pair) is not tuple) or len(pair) != 2:
        raise KafkaShapeError(f"op {k.op.invoke_index} ({k.f}): partition {key!r} polled "
                              f"{_short(pair)}, not [offset, value]")
    _check_offset(k, pair[0])
    return [pair[0], _hashable(pair[1])]


def _check_offset(k: KafkaOp, offset: Any) -> None:
    if offset is not None and (type(offset) is not int or offset < 0):
        raise KafkaShapeError(f"op {k.op.invoke_index} ({k.f}): offset {offset!r} is not a "
                              f"whole number >= 0")


def _hashable(v: Any) -> Any:
    return v if type(v) is int or type(v) is str else freeze(v)


def _mode(k: KafkaOp, value: Any) -> None:
    k.mode = k.f
    if type(value) is dict:
        names = value.get("partitions")
        topics = value.get("topics")
        policy = value.get("commit")
        if policy is not None:
            if policy not in POLICIES:
                raise KafkaShapeError(f"op {k.op.invoke_index} ({k.f}): commit policy "
                                      f"{policy!r} is not one of {', '.join(POLICIES)}")
            k.policy = policy
        if names is not None:
            k.logs = tuple(log_name(p) for p in names)
        elif topics is not None:
            k.logs = None  # whole topics: the group decides which partitions
    elif type(value) is list or type(value) is tuple:
        k.logs = tuple(log_name(key) for key in value)


def _rebalances(k: KafkaOp, log: Any) -> tuple[Rebalance, ...]:
    if type(log) is not list:
        raise KafkaShapeError(f"op {k.op.invoke_index} ({k.f}): rebalance_log must be a list, "
                              f"not {_short(log)}")
    out = []
    for entry in log:
        if type(entry) is not dict:
            raise KafkaShapeError(f"op {k.op.invoke_index} ({k.f}): rebalance entry "
                                  f"{_short(entry)} is not an object")
        time = entry.get("time")
        if not isinstance(time, (int, float)) or isinstance(time, bool):
            time = k.op.start  # Jepsen's entries are untimed: somewhere inside the op
        found = False
        for kind in ("revoked", "lost", "assigned"):
            if kind in entry:
                out.append(Rebalance(time, kind, tuple(log_name(p) for p in entry[kind] or ()), k))
                found = True
        if not found:
            keys = entry.get("keys") or ()
            said = entry.get("type")
            kind = str(said) if said in ("assigned", "revoked", "lost") else "rebalance"
            out.append(Rebalance(time, kind, tuple(log_name(p) for p in keys), k))
    return tuple(out)


def _commits(k: KafkaOp, commits: Any) -> tuple[Commit, ...]:
    if type(commits) is not list:
        raise KafkaShapeError(f"op {k.op.invoke_index} ({k.f}): commits must be a list")
    out = []
    for c in commits:
        if type(c) is not dict or type(c.get("offsets")) is not dict:
            raise KafkaShapeError(f"op {k.op.invoke_index} ({k.f}): commit {_short(c)} has no "
                                  f"\"offsets\" object")
        if c.get("error"):
            continue  # a commit that reported an error did not move the group's offsets
        time = c.get("time")
        if not isinstance(time, (int, float)) or isinstance(time, bool):
            time = _when(k.op)
        out.append(Commit(time, _offsets(k, c["offsets"]), True, k))
    return tuple(out)


def _offsets(k: KafkaOp, offsets: Any) -> dict[Any, int]:
    if type(offsets) is not dict:
        raise KafkaShapeError(f"op {k.op.invoke_index} ({k.f}): offsets must map partitions to "
                              f"offsets, not {_short(offsets)}")
    out = {}
    for p, o in offsets.items():
        _check_offset(k, o)
        out[log_name(p)] = o
    return out


def _nemesis_crashes(history: History) -> list[Crash]:
    """Nemesis events that killed consumers: `fault` "crash" (its info, when it was done),
    naming the consumers by `members` and/or `processes`."""
    out = []
    for e in history.events:
        if e.process != "nemesis" or e.type != "info":
            continue
        v = e.value
        if type(v) is not dict or v.get("fault") != "crash" or e.f.startswith("stop"):
            continue
        if v.get("skipped") or v.get("error"):
            continue
        members = frozenset(freeze(m) for m in v.get("members") or ())
        processes = frozenset(v.get("processes") or ())
        out.append(Crash(e.time, e.index, members, processes, f"{e.f} #{e.index}"))
    return out


def _short(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 80 else text[:77] + "..."
