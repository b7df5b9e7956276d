"""Findings about order: consumers and producers moving through a partition's log, under
Jepsen's names.

    int-poll-skip          inside one op, two successive reads of a partition jump over a
                           message someone observed between them
    int-nonmonotonic-poll  inside one op, a read at or before the previous read of the partition
    int-send-skip          inside one op, two successive sends to a partition land with
                           another message between them (normal for Kafka: producers interleave)
    int-nonmonotonic-send  inside one op, a send lands at or before the op's previous send
    poll-skip              a process's op starts reading a partition past messages after where
                           its previous op left off
    nonmonotonic-poll      ... or at or before where it left off
    nonmonotonic-send      a process's send lands at or before its previous send to the
                           partition

As in Jepsen, a rebalance that moved the partition during an op excuses that op's internal
jumps; an `assign` or `subscribe` that leaves a partition out forgets where the process was in
it; and between ops only ok ops move a process forward (a failed or unknown poll leaves it where
it was, so the next read should start there again). Distances are in dense positions
(checkers/delivery/logs.py); a read whose position is unknown is taken as adjacent.

Between ops, a consumer that subscribes may be handed a partition at its group's committed offset
by a rebalance, so poll-skip and nonmonotonic-poll are expected under subscribe (Jepsen allows
them then) and forbidden under assign. Every case says which mode the process was in and which
rebalance, if the history records one, came between the two reads.
"""

from __future__ import annotations

from typing import Any, Callable, Final

from checkers.delivery.evidence import partition, ref, rebalance_ref
from checkers.delivery.logs import LogIndex
from checkers.delivery.ops import KafkaOp, Rebalance

SKIPPED_LISTED: Final = 16


def _delta(index: LogIndex, name: Any, o1: Any, v1: Any, o2: Any, v2: Any) -> int:
    if o1 is not None and o2 is not None and o2 == o1 + 1:
        return 1  # the common case: both observed, nothing can lie between
    i1 = index.position(name, o1, v1)
    i2 = index.position(name, o2, v2)
    return 1 if i1 is None or i2 is None else i2 - i1


def _skipped(index: LogIndex, name: Any, o1: Any, v1: Any, o2: Any, v2: Any) -> list[Any]:
    log = index.logs[name]
    lo = o1 if o1 is not None else log.offset_of[v1]
    hi = o2 if o2 is not None else log.offset_of[v2]
    return log.between(lo, hi)[:SKIPPED_LISTED]


def _case(index: LogIndex, kind: str, name: Any, first: tuple[Any, Any], second: tuple[Any, Any],
          delta: int) -> dict[str, Any]:
    (o1, v1), (o2, v2) = first, second
    case: dict[str, Any] = {"partition": name, "values": [v1, v2], "offsets": [o1, o2],
                            "delta": delta}
    if kind == "skip":
        case["skipped"] = _skipped(index, name, o1, v1, o2, v2)
    return case


def _int_poll_cases(index: LogIndex, kind: str) -> list[dict[str, Any]]:
    found = index.memo.get("int-poll")
    if found is None:
        found = index.memo["int-poll"] = {"skip": [], "nonmonotonic": []}
        for k in index.ops:
            if not k.reads:
                continue
            moved = {n for r in k.rebalances for n in r.logs} if k.rebalances else ()
            last: dict[Any, tuple[Any, Any]] = {}
            for name, pairs in k.reads:
                if not pairs:
                    continue
                prev = last.get(name) if len(k.reads) > 1 else None
                po = pv = None
                started = prev is not None
                if started:
                    po, pv = prev  # type: ignore[misc]
                check = name not in moved
                for pair in pairs:
                    o = pair[0]
                    if started and check and not (o is not None and po is not None
                                                  and o == po + 1):  # adjacent: the usual
                        v = pair[1]
                        d = _delta(index, name, po, pv, o, v)
                        if d != 1:
                            which = "skip" if d > 1 else "nonmonotonic"
                            case = _case(index, which, name, (po, pv), (o, v), d)
                            case["op"] = ref(k)
                            case["explanation"] = _int_sentence(k, "polled", which, case)
                            found[which].append(case)
                    po, pv = o, pair[1]
                    started = True
                last[name] = (po, pv)
    return found[kind]  # type: ignore[no-any-return]


def _int_send_cases(index: LogIndex, kind: str) -> list[dict[str, Any]]:
    found = index.memo.get("int-send")
    if found is None:
        found = index.memo["int-send"] = {"skip": [], "nonmonotonic": []}
        for k in index.ops:
            if len(k.sends) < 2:
                continue
            last: dict[Any, tuple[Any, Any]] = {}
            for name, o, v in k.sends:
                if name is None:
                    continue
                prev = last.get(name)
                if prev is not None:
                    d = _delta(index, name, prev[0], prev[1], o, v)
                    if d != 1:
                        which = "skip" if d > 1 else "nonmonotonic"
                        case = _case(index, which, name, prev, (o, v), d)
                        case["op"] = ref(k)
                        case["explanation"] = _int_sentence(k, "sent", which, case)
                        found[which].append(case)
                last[name] = (o, v)
    return found[kind]  # type: ignore[no-any-return]


def _int_sentence(k: KafkaOp, verb: str, kind: str, case: dict[str, Any]) -> str:
    (v1, v2), (o1, o2) = case["values"], case["offsets"]
    what = (f"skipping {case['delta'] - 1} message(s) between them" if kind == "skip"
            else "going back (or staying) in the log")
    return (f"{k.name} {verb} {v1!r} (offset {o1}) and then {v2!r} (offset {o2}) in "
            f"{partition(case['partition'])}, {what}")


def int_poll_skip_cases(index: LogIndex) -> list[dict[str, Any]]:
    """Inside one op, successive reads of a partition jump over an observed message."""
    return _int_poll_cases(index, "skip")


def int_nonmonotonic_poll_cases(index: LogIndex) -> list[dict[str, Any]]:
    """Inside one op, a read at or before the previous read of the partition."""
    return _int_poll_cases(index, "nonmonotonic")


def int_send_skip_cases(index: LogIndex) -> list[dict[str, Any]]:
    """Inside one op, successive sends to a partition with another message between them."""
    return _int_send_cases(index, "skip")


def int_nonmonotonic_send_cases(index: LogIndex) -> list[dict[str, Any]]:
    """Inside one op, a send that lands at or before the op's previous send to the partition."""
    return _int_send_cases(index, "nonmonotonic")


class _Position:
    """Where one process's consumer was in a partition: the last ok op that read it, what it
    read last, and the rebalances of the partition since."""

    __slots__ = ("op", "offset", "value", "moved")

    def __init__(self, op: KafkaOp, offset: Any, value: Any) -> None:
        self.op = op
        self.offset = offset
        self.value = value
        self.moved: list[Rebalance] = []


def _poll_cases(index: LogIndex, kind: str) -> list[dict[str, Any]]:
    """poll-skip (kind "skip") or nonmonotonic-poll, per process, as the module says."""
    found = index.memo.get("poll")
    if found is None:
        found = index.memo["poll"] = _between_polls(index)
    return found[kind]  # type: ignore[no-any-return]


def _between_polls(index: LogIndex) -> dict[str, list[dict[str, Any]]]:
    default_mode = "subscribe" if index.subscribes else "assign"
    by_process: dict[Any, tuple[dict[Any, _Position], list[str]]] = {}
    cases: dict[str, list[dict[str, Any]]] = {"skip": [], "nonmonotonic": []}
    for k in index.ops:
        state = by_process.get(k.op.process)
        if state is None:
            state = by_process[k.op.process] = ({}, [default_mode])
        positions, mode = state
        if k.mode is not None:
            if k.type != "fail":
                mode[0] = k.mode
                keep = set(k.logs or ())
                for name in list(positions):
                    if name not in keep:
                        del positions[name]
            continue
        for r in k.rebalances:
            for name in r.logs:
                at = positions.get(name)
                if at is not None:
                    at.moved.append(r)
        if not k.reads:
            continue
        firsts: dict[Any, tuple[Any, Any]] = {}
        lasts: dict[Any, tuple[Any, Any]] = {}
        for name, pairs in k.reads:
            if pairs:
                firsts.setdefault(name, (pairs[0][0], pairs[0][1]))
                lasts[name] = (pairs[-1][0], pairs[-1][1])
        for name, (o, v) in firsts.items():
            at = positions.get(name)
            if at is None:
                continue
            d = _delta(index, name, at.offset, at.value, o, v)
            if d != 1:
                which = "skip" if d > 1 else "nonmonotonic"
                cases[which].append(_poll_case(index, which, name, at, k, (o, v), d, mode[0]))
        if k.type == "ok":
            for name, (o, v) in lasts.items():
                positions[name] = _Position(k, o, v)
    return cases


def _poll_case(index: LogIndex, kind: str, name: Any, at: _Position, k: KafkaOp,
               read: tuple[Any, Any], d: int, mode: str) -> dict[str, Any]:
    case = _case(index, kind, name, (at.offset, at.value), read, d)
    case["ops"] = [ref(at.op), ref(k)]
    case["mode"] = mode
    case["allowed"] = mode == "subscribe"
    case["rebalances"] = [rebalance_ref(r) for r in at.moved]
    what = (f"skipping {d - 1} message(s)" if kind == "skip"
            else "going back (or staying) in the log")
    why = ("; a rebalance of the partition came between them" if at.moved else
           "; no rebalance of the partition was recorded between them")
    case["explanation"] = (f"process {k.op.process} left {partition(name)} at offset "
                           f"{at.offset} ({at.op.name}) and {k.name} went on at offset "
                           f"{read[0]}, {what}, while {'subscribed' if mode == 'subscribe' else 'assigned'}{why}")
    return case


def poll_skip_cases(index: LogIndex) -> list[dict[str, Any]]:
    """A process's op starts reading a partition past messages after where it left off."""
    return _poll_cases(index, "skip")


def nonmonotonic_poll_cases(index: LogIndex) -> list[dict[str, Any]]:
    """A process's op starts reading a partition at or before where it left off."""
    return _poll_cases(index, "nonmonotonic")


def nonmonotonic_send_cases(index: LogIndex) -> list[dict[str, Any]]:
    """A process's send lands at or before its previous send to the same partition."""
    last: dict[Any, dict[Any, tuple[KafkaOp, Any, Any]]] = {}
    cases = []
    for k in index.ops:
        if k.type != "ok" and k.type != "info":
            continue
        sent = last.get(k.op.process)
        if sent is None:
            sent = last[k.op.process] = {}
        if k.mode is not None:
            keep = set(k.logs or ())
            for name in list(sent):
                if name not in keep:
                    del sent[name]
            continue
        if not k.sends:
            continue
        if len(k.sends) == 1:  # the usual op: one message
            name, o, v = k.sends[0]
            if name is None:
                continue
            firsts = lasts = {name: (o, v)}
        else:
            firsts = {}
            lasts = {}
            for name, o, v in k.sends:
                if name is not None:
                    firsts.setdefault(name, (o, v))
                    lasts[name] = (o, v)
        for name, (o, v) in firsts.items():
            prev = sent.get(name)
            if prev is None or (o is not None and prev[1] is not None and o > prev[1]):
                continue  # none before, or later in the log: the usual
            d = _delta(index, name, prev[1], prev[2], o, v)
            if d < 1:
                case = _case(index, "nonmonotonic", name, (prev[1], prev[2]), (o, v), d)
                case["ops"] = [ref(prev[0]), ref(k)]
                case["explanation"] = (f"process {k.op.process} sent {prev[2]!r} to "
                                       f"{partition(name)} at offset {prev[1]} ({prev[0].name})"
                                       f" and then {v!r} at offset {o} ({k.name}), which is "
                                       f"not later in the log")
                cases.append(case)
        for name, (o, v) in lasts.items():
            sent[name] = (k, o, v)
    return cases


CASES: Final[dict[str, Callable[[LogIndex], list[dict[str, Any]]]]] = {
    "int-poll-skip": int_poll_skip_cases,
    "int-nonmonotonic-poll": int_nonmonotonic_poll_cases,
    "int-send-skip": int_send_skip_cases,
    "int-nonmonotonic-send": int_nonmonotonic_send_cases,
    "poll-skip": poll_skip_cases,
    "nonmonotonic-poll": nonmonotonic_poll_cases,
    "nonmonotonic-send": nonmonotonic_send_cases,
}
