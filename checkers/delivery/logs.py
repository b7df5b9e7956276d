"""What the history says about each partition's log, computed once for every finding.

A partition's log maps offsets to the messages (values) found there. It is built as Jepsen's
kafka analysis builds its version orders: from every poll, whatever the poll's outcome (a consumer
must only ever return committed data), and from the sends of every op that must have committed
(ok, or info when someone polled one of its messages); an info or failed send's offsets are not
trusted otherwise.

Offsets need not be contiguous (transaction markers take offsets no consumer sees), so positions
in the log are *dense*: the i-th offset at which anything was observed has index i. Two reads are
adjacent when their indexes differ by one; a larger difference skips a message someone observed.
Jepsen works from values alone; here each read keeps its offset, which gives the same answers
when every value sits at one offset and a precise one when a value is duplicated.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any, Final, Iterator

from checkers.delivery.ops import KafkaHistory, KafkaOp

MISSING: Final = object()
OK: Final = "ok"
FAIL: Final = "fail"
INFO: Final = "info"


class PartitionLog:
    """One partition: offset -> message, and the disagreements met while building it."""

    __slots__ = ("name", "at", "offset_of", "conflicts", "duplicates", "offsets", "writer",
                 "failed", "first_read", "ok_max", "ok_max_reader", "writerless", "blind_reads")

    def __init__(self, name: Any) -> None:
        self.name = name
        self.at: dict[int, Any] = {}  # offset -> the first value observed there
        self.offset_of: dict[Any, int] = {}  # value -> the first offset it was observed at
        self.conflicts: dict[int, set[Any]] = {}  # offset -> every value observed there (>1)
        self.duplicates: dict[Any, set[int]] = {}  # value -> every offset it was seen at (>1)
        self.offsets: list[int] = []  # sorted offsets with a message (after finish())
        self.writer: dict[Any, KafkaOp] = {}  # value -> the op that sent it (Jepsen's writer-of)
        self.failed: set[Any] = set()  # values only failed sends tried to write here
        # value -> the completion index of the first ok poll that returned it (so `v in
        # first_read` is "some ok poll returned v")
        self.first_read: dict[Any, int] = {}
        self.ok_max = -1  # the highest offset an ok poll returned
        self.ok_max_reader: KafkaOp | None = None
        self.writerless: set[Any] = set()  # observed values no op sent (after finish())
        self.blind_reads = 0  # polled records without an offset

    def observe(self, offset: int, value: Any) -> None:
        prev = self.at.get(offset, MISSING)
        if prev is MISSING:
            self.at[offset] = value
        elif prev == value:
            return
        else:
            found = self.conflicts.get(offset)
            if found is None:
                self.conflicts[offset] = {prev, value}
            else:
                found.add(value)
        first = self.offset_of.setdefault(value, offset)
        if first != offset:
            seen = self.duplicates.get(value)
            if seen is None:
                self.duplicates[value] = {first, offset}
            else:
                seen.add(offset)

    def finish(self) -> None:
        self.offsets = sorted(self.at)
        observed = set(self.at.values())
        for values in self.conflicts.values():
            observed.update(values)
        observed.difference_update(self.writer)
        self.writerless = observed

    @property
    def clean(self) -> bool:
        """Every observed offset holds one message, every message has a sender, every read an
        offset: each read's position in the log is its offset's, and every message is on the
        chain of ww edges."""
        return not self.conflicts and not self.writerless and not self.blind_reads

    def index(self, offset: int) -> int:
        """The dense position of an observed offset."""
        return bisect_left(self.offsets, offset)

    def values_at(self, offset: int) -> list[Any]:
        conflict = self.conflicts.get(offset)
        if conflict is not None:
            return sorted(conflict, key=repr)
        v = self.at.get(offset, MISSING)
        return [] if v is MISSING else [v]

    def last_offset(self, value: Any) -> int:
        dup = self.duplicates.get(value)
        return max(dup) if dup is not None else self.offset_of[value]

    def between(self, lo: int, hi: int) -> list[Any]:
        """The messages at observed offsets strictly between lo and hi."""
        offsets = self.offsets
        return [self.at[o] for o in offsets[bisect_left(offsets, lo + 1):bisect_left(offsets, hi)]]


class LogIndex:
    """Every partition's log, who wrote and read what, and which ops must have committed."""

    def __init__(self, history: KafkaHistory) -> None:
        self.ops = history.ops
        self.history = history
        self.logs: dict[Any, PartitionLog] = {}
        self.unplaced: dict[Any, KafkaOp] = {}  # value -> sender, partition unknown
        self.unplaced_failed: set[Any] = set()
        self.subscribes = any(k.mode == "subscribe" for k in history.ops)
        self.memo: dict[str, Any] = {}  # results several findings share (skips and inversions)
        self.counts = {"sent_ok": 0, "sent_info": 0, "sent_fail": 0, "polled": 0}
        self._build()

    def log(self, name: Any) -> PartitionLog:
        log = self.logs.get(name)
        if log is None:
            log = self.logs[name] = PartitionLog(name)
        return log

    def _build(self) -> None:
        doubtful: list[KafkaOp] = []  # info ops that sent with offsets: in the log if committed
        logs = self.logs
        sent = {"ok": 0, "info": 0, "fail": 0}
        polled = 0
        for k in self.ops:
            ok = k.type == OK
            if k.reads:
                done = k.op.complete_index
                if done is None:
                    done = k.op.invoke_index  # never completed: not ok, so never compared
                for name, pairs in k.reads:
                    log = logs.get(name)
                    if log is None:
                        log = self.log(name)
                    at = log.at
                    if ok:
                        polled += len(pairs)
                        first_read = log.first_read
                        top = log.ok_max
                        for pair in pairs:
                            o = pair[0]
                            v = pair[1]
                            seen = first_read.get(v)
                            if seen is None or done < seen:
                                first_read[v] = done
                            if o is None:
                                log.blind_reads += 1
                                continue
                            if o > top:
                                top = o
                                log.ok_max_reader = k
                            if at.get(o, MISSING) != v:
                                log.observe(o, v)
                        log.ok_max = top
                    else:
                        for pair in pairs:
                            o = pair[0]
                            if o is None:
                                log.blind_reads += 1
                            elif at.get(o, MISSING) != pair[1]:
                                log.observe(o, pair[1])
            if not k.sends:
                continue
            sent[k.type] += len(k.sends)
            failed = k.type == FAIL
            for name, o, v in k.sends:
                if name is None:
                    self.unplaced[v] = k
                    if failed:
                        self.unplaced_failed.add(v)
                    continue
                log = logs.get(name)
                if log is None:
                    log = self.log(name)
                log.writer[v] = k
                if failed:
                    log.failed.add(v)
                elif o is not None:
                    if ok:
                        if log.at.get(o, MISSING) != v:
                            log.observe(o, v)
                    elif not doubtful or doubtful[-1] is not k:
                        doubtful.append(k)
        for k in doubtful:
            if self.committed(k):
                for name, o, v in k.sends:
                    if name is not None and o is not None:
                        self.logs[name].observe(o, v)
        unplaced = self.unplaced
        for log in logs.values():
            log.finish()
            if unplaced and log.writerless:  # sent to an unknown partition: now it is known
                for v in log.writerless & unplaced.keys():
                    log.writer[v] = unplaced[v]
                log.writerless.difference_update(unplaced)
        self.counts = {"sent_ok": sent["ok"], "sent_info": sent["info"],
                       "sent_fail": sent["fail"], "polled": polled}

    def committed(self, k: KafkaOp) -> bool:
        """Jepsen's must-have-committed: ok, or info and some message it sent was polled by an
        ok op (its sends are all or nothing)."""
        if k.type == OK:
            return True
        if k.type != INFO:
            return False
        for name, _o, v in k.sends:
            if name is None:
                if any(v in log.first_read for log in self.logs.values()):
                    return True
            else:
                log = self.logs.get(name)
                if log is not None and v in log.first_read:
                    return True
        return False

    def writer_of(self, name: Any, value: Any) -> KafkaOp | None:
        log = self.logs.get(name)
        w = None if log is None else log.writer.get(value)
        return w if w is not None else self.unplaced.get(value)

    def failed_write(self, name: Any, value: Any) -> bool:
        """Whether a failed send tried to write this message (Jepsen's failed writes)."""
        log = self.logs.get(name)
        return (log is not None and value in log.failed) or value in self.unplaced_failed

    def position(self, name: Any, offset: Any, value: Any) -> int | None:
        """The dense index of a read or send: by its offset, else by where its value is."""
        log = self.logs.get(name)
        if log is None:
            return None
        if offset is None:
            offset = log.offset_of.get(value)
            if offset is None:
                return None
        elif offset not in log.at:
            return None
        return log.index(offset)

    def reads_of(self, names: set[Any]) -> Iterator[tuple[KafkaOp, Any, int, Any]]:
        """(op, partition, offset, value) of every poll of those partitions, in op order."""
        for k in self.ops:
            for name, pairs in k.reads:
                if name in names:
                    for pair in pairs:
                        yield k, name, pair[0], pair[1]

    def sends_to(self, names: set[Any]) -> Iterator[tuple[KafkaOp, Any, Any, Any]]:
        """(op, partition, offset, value) of every send to those partitions (or to an unknown
        one), in op order."""
        for k in self.ops:
            for name, o, v in k.sends:
                if name in names or name is None:
                    yield k, name, o, v
