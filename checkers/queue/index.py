"""What a queue history observed: acknowledged sends and polled records, by position and value.

`index_queue` reads the history once into a `QueueIndex` that every `*_cases` function of
checkers/queue/cases.py reads; the record and acknowledgement shapes are those of
docs/op-shapes.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from checkers.evidence import op_ref
from checkers.history import History, Operation

Position = tuple[int, int]  # (partition, offset)


@dataclass
class QueueIndex:
    """What the history's sends and polls observed, built once and read by every `*_cases`."""

    sends: list[Operation]
    polls: list[Operation]  # the ok ones
    acked: list[tuple[int, int, Any, Operation]] = field(default_factory=list)  # p, o, v, send
    # acknowledged without an offset (acks=0: the producer never hears where it landed)
    blind: list[tuple[int, Any, Operation]] = field(default_factory=list)  # p, v, send
    malformed: list[dict[str, Any]] = field(default_factory=list)
    # every observation (ok poll or acknowledged send) of a position and of a value, by whom
    at_offset: dict[Position, dict[Any, list[str]]] = field(default_factory=dict)
    at_value: dict[Any, dict[Position, list[str]]] = field(default_factory=dict)
    polled_offsets: dict[int, list[int]] = field(default_factory=dict)
    polled_values: set[Any] = field(default_factory=set)
    consumers: dict[tuple[Any, int], list[tuple[int, Operation]]] = field(default_factory=dict)
    known: dict[int, list[int]] = field(default_factory=dict)  # distinct polled offsets, sorted
    max_polled: dict[int, tuple[int, int | None]] = field(default_factory=dict)  # offset, poll
    drained: set[Any] = field(default_factory=set)  # partitions with an ok, complete final poll
    # what those drains returned: partition -> {value: offset}, and the drain itself
    final_values: dict[Any, dict[Any, int]] = field(default_factory=dict)
    final_polls: dict[Any, Operation] = field(default_factory=dict)
    # each record a consumer (process, partition) received, with the one it received before
    consumer_steps: list[tuple[Any, int, tuple[int, Operation] | None, int, Operation]] = \
        field(default_factory=list)
    # acknowledged sends no poll returned, by position
    unpolled: list[tuple[int, int, Any, Operation]] = field(default_factory=list)
    unpolled_blind: list[tuple[int, Any, Operation]] = field(default_factory=list)


def index_queue(history: History) -> QueueIndex:
    ops = history.operations()
    ix = QueueIndex([op for op in ops if op.f == "send"],
                    [op for op in ops if op.f == "poll" and op.type == "ok"])
    for op in ix.sends:
        if op.type != "ok":
            continue
        ack = _ack(op.value)
        if ack is None:
            ix.malformed.append({**op_ref(op, final=True),
                                 "why": "ok send without partition/value"})
        elif ack[1] is None:
            ix.blind.append((ack[0], ack[2], op))
        else:
            ix.acked.append((*ack, op))
    at_offset, at_value = ix.at_offset, ix.at_value  # locals: the loops below are the hot path
    for p, o, v, op in ix.acked:
        source = f"send op {op.id}"
        at_offset.setdefault((p, o), {}).setdefault(v, []).append(source)
        at_value.setdefault(v, {}).setdefault((p, o), []).append(source)
    for op in ix.polls:
        _index_poll(ix, op)
    ix.known = {p: sorted(set(offs)) for p, offs in ix.polled_offsets.items()}
    ix.max_polled = {p: (offs[-1], _max_poll(ix.polls, p)) for p, offs in ix.known.items()}
    # a drain that gave up before the end it asked for proves nothing about what lies past it
    for op in ix.polls:
        if op.extra.get("phase") == "final" and op.extra.get("complete") is not False:
            p = _partition(op.key)
            ix.final_polls[p] = op
            held = ix.final_values.setdefault(p, {})
            for record in op.value if isinstance(op.value, list) else []:
                rec = _record(record)
                if rec is not None and rec[0] == p:
                    held[rec[2]] = rec[1]
    ix.drained = set(ix.final_polls)
    ix.consumer_steps = _consumer_steps(ix.consumers)
    ix.unpolled = [a for a in sorted(ix.acked, key=lambda a: (a[0], a[1]))
                   if a[2] not in ix.polled_values]
    ix.unpolled_blind = [b for b in ix.blind if b[1] not in ix.polled_values]
    return ix


def _index_poll(ix: QueueIndex, op: Operation) -> None:
    if not isinstance(op.value, list):
        ix.malformed.append({**op_ref(op, final=True), "why": "ok poll whose value is not a list"})
        return
    at_offset, at_value, source = ix.at_offset, ix.at_value, f"poll op {op.id}"
    for record in op.value:
        rec = _record(record)
        if rec is None:
            ix.malformed.append({**op_ref(op, final=True),
                                 "why": f"record {record!r} is not [partition, offset, value]"})
            continue
        p, o, v = rec
        at_offset.setdefault((p, o), {}).setdefault(v, []).append(source)
        at_value.setdefault(v, {}).setdefault((p, o), []).append(source)
        ix.polled_offsets.setdefault(p, []).append(o)
        ix.polled_values.add(v)
        ix.consumers.setdefault((op.process, p), []).append((o, op))


def _consumer_steps(consumers: dict[tuple[Any, int], list[tuple[int, Operation]]]
                    ) -> list[tuple[Any, int, tuple[int, Operation] | None, int, Operation]]:
    steps = []
    for (process, p), seq in sorted(consumers.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        previous: tuple[int, Operation] | None = None
        for o, op in seq:
            steps.append((process, p, previous, o, op))
            previous = (o, op)
    return steps


def _ack(value: Any) -> tuple[int, int | None, Any] | None:
    """(partition, offset or None, value) of an acknowledged send; None when malformed."""
    if not isinstance(value, dict):
        return None
    p, o = value.get("partition"), value.get("offset")
    if not (_is_int(p) and (o is None or _is_int(o))) or "value" not in value:
        return None
    return p, o, hashable(value["value"])


def _record(record: Any) -> tuple[int, int, Any] | None:
    if not isinstance(record, (list, tuple)) or len(record) != 3:
        return None
    p, o, v = record
    if not (_is_int(p) and _is_int(o)):
        return None
    return p, o, hashable(v)


def _max_poll(polls: list[Operation], partition: int) -> int | None:
    """The id of the poll that returned the highest offset of a partition."""
    best: tuple[int, int] | None = None
    for op in polls:
        for record in op.value if isinstance(op.value, list) else []:
            rec = _record(record)
            if rec is not None and rec[0] == partition and (best is None or rec[1] > best[0]):
                best = (rec[1], op.id)
    return best[1] if best else None


def _partition(key: Any) -> Any:
    """A final poll's key as a partition number ("0" and 0 name the same partition)."""
    if isinstance(key, str) and key.strip().lstrip("-").isdigit():
        return int(key)
    return key


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def value_order(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, (int, float)) else (1, str(value))
