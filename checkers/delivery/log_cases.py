"""Findings about the logs themselves, one function each, under Jepsen's names.

    G1a                  an ok poll returned a message whose send failed (an aborted read)
    inconsistent-offsets sends and polls disagree on the message at a partition and offset
    duplicate            one message at several offsets of a partition
    lost-write           an acknowledged message at or below the highest offset an ok poll
                         returned, which no ok poll returned
    precommitted-read    an op polled a message it sent itself (Kafka hides uncommitted
                         messages from every consumer, their producer's too)
    garbage-read         an ok poll returned a message no op sent (Jepsen's analysis stops with
                         an error here; this checker reports it)
    unseen               acknowledged messages no ok poll has returned yet, over time; what is
                         left at the end is the finding

Each function takes the LogIndex (checkers/delivery/logs.py) and returns the cases, every one a
plain dict with an "explanation" sentence and references to the ops involved.
"""

from __future__ import annotations

from typing import Any, Callable, Final, Iterator

from checkers.delivery.evidence import listed, partition, ref, seconds
from checkers.delivery.logs import LogIndex, PartitionLog
from checkers.delivery.ops import KafkaOp

CLAIMS_LISTED: Final = 4  # ops listed per (offset, value) claim
SERIES_POINTS: Final = 200  # points kept of the unseen-over-time series


def claims(index: LogIndex, wanted: dict[Any, set[int]]) -> dict[tuple[Any, int, Any], list[Any]]:
    """(partition, offset, value) -> references to the ops that sent or polled that message
    there, for the offsets `wanted` of each partition."""
    found: dict[tuple[Any, int, Any], list[Any]] = {}

    def note(name: Any, o: Any, v: Any, k: KafkaOp, how: str) -> None:
        if o in wanted.get(name, ()):
            listed_ = found.setdefault((name, o, v), [])
            if len(listed_) < CLAIMS_LISTED:
                listed_.append({**ref(k), "as": how})

    for k in index.ops:
        for name, pairs in k.reads:
            if name in wanted:
                for pair in pairs:
                    note(name, pair[0], pair[1], k, "polled")
        for name, o, v in k.sends:
            if name in wanted and k.type != "fail":
                note(name, o, v, k, "sent")
    return found


def inconsistent_offsets_cases(index: LogIndex) -> list[dict[str, Any]]:
    """An offset at which sends and polls observed different messages."""
    wanted = {name: set(log.conflicts) for name, log in index.logs.items() if log.conflicts}
    if not wanted:
        return []
    who = claims(index, wanted)
    cases = []
    for name, offsets in wanted.items():
        log = index.logs[name]
        for o in sorted(offsets):
            values = log.values_at(o)
            cases.append({"partition": name, "offset": o, "index": log.index(o), "values": values,
                          "observed": {repr(v): who.get((name, o, v), []) for v in values},
                          "explanation": f"{partition(name)} offset {o} was observed holding "
                                         f"{listed(values)}: one offset, several messages"})
    return cases


def duplicate_cases(index: LogIndex) -> list[dict[str, Any]]:
    """A message observed at more than one offset of a partition."""
    wanted = {name: set().union(*log.duplicates.values())
              for name, log in index.logs.items() if log.duplicates}
    if not wanted:
        return []
    who = claims(index, wanted)
    cases = []
    for name in wanted:
        log = index.logs[name]
        for v, offsets in sorted(log.duplicates.items(), key=lambda kv: min(kv[1])):
            at = sorted(offsets)
            cases.append({"partition": name, "value": v, "count": len(at), "offsets": at,
                          "observed": {str(o): who.get((name, o, v), []) for o in at},
                          "explanation": f"message {v!r} is in {partition(name)} at "
                                         f"{len(at)} offsets ({listed(at)})"})
    return cases


def g1a_cases(index: LogIndex) -> list[dict[str, Any]]:
    """An ok poll returned a message that only a failed send tried to write."""
    suspects: dict[Any, set[Any]] = {}
    for name, log in index.logs.items():
        bad = log.failed.intersection(log.first_read)
        if index.unplaced_failed:
            bad |= index.unplaced_failed.intersection(log.first_read)
        if bad:
            suspects[name] = bad
    cases: list[dict[str, Any]] = []
    for k, name, o, v in _ok_reads_among(index, suspects):
        writer = index.writer_of(name, v)
        cases.append({"partition": name, "value": v, "offset": o, "reader": ref(k),
                      "writer": ref(writer) if writer is not None else None,
                      "explanation": f"{k.name} polled {v!r} at {partition(name)} offset {o}, "
                                     f"but its send {writer.name if writer else ''} failed"})
    return cases


def _ok_reads_among(index: LogIndex, suspects: dict[Any, set[Any]]) -> Iterator[
        tuple[KafkaOp, Any, Any, Any]]:
    """(op, partition, offset, value) of every record an ok poll returned whose value is among
    its partition's suspects."""
    if not suspects:
        return
    for k in index.ops:
        if k.type != "ok":
            continue
        for name, pairs in k.reads:
            bad = suspects.get(name)
            if bad:
                for o, v in pairs:
                    if v in bad:
                        yield k, name, o, v


def lost_write_cases(index: LogIndex) -> list[dict[str, Any]]:
    """An acknowledged message at or below the highest offset an ok poll of its partition
    returned, which no ok poll returned (the send must have committed: ok, or info with another
    of its messages polled)."""
    cases = []
    for name, log in index.logs.items():
        bound = log.ok_max
        if bound < 0:
            continue
        unread = _unread_below(log, bound)
        for o, v in unread:
            writer = log.writer.get(v) or index.unplaced.get(v)
            if writer is None or not index.committed(writer):
                continue
            if log.last_offset(v) > bound:
                continue  # also further on, where no poll has reached yet
            reader = log.ok_max_reader
            cases.append({"partition": name, "value": v, "offset": o, "index": log.index(o),
                          "max_read_offset": bound, "writer": ref(writer),
                          "max_read": ref(reader) if reader is not None else None,
                          "explanation": f"{writer.name} sent {v!r} to {partition(name)} "
                                         f"(offset {o}) and {'it was acknowledged' if writer.type == 'ok' else 'it committed'}"
                                         f"; polls reached offset {bound}"
                                         f"{' (' + reader.name + ')' if reader else ''} but no "
                                         f"ok poll ever returned it"})
    return cases


def _unread_below(log: PartitionLog, bound: int) -> list[tuple[int, Any]]:
    """(offset, value) of the messages at offsets up to bound that no ok poll returned."""
    unread = set(log.at.values())
    for values in log.conflicts.values():
        unread.update(values)
    unread.difference_update(log.first_read)  # set operations: no Python loop per message
    out = []
    for v in unread:
        for o in sorted(log.duplicates.get(v, (log.offset_of[v],))):
            if o <= bound:
                out.append((o, v))
    out.sort(key=lambda ov: ov[0])
    return out


def precommitted_read_cases(index: LogIndex) -> list[dict[str, Any]]:
    """An op polled a message it sent itself: Kafka shows a transaction's messages to no
    consumer before it commits."""
    cases = []
    for k in index.ops:
        if not k.sends or not k.reads:
            continue
        sent: dict[Any, set[Any]] = {}
        for name, _o, v in k.sends:
            sent.setdefault(name, set()).add(v)
        for name, pairs in k.reads:
            mine = sent.get(name)
            if not mine:
                continue
            for o, v in pairs:
                if v in mine:
                    cases.append({"partition": name, "value": v, "offset": o, "op": ref(k),
                                  "explanation": f"{k.name} sent {v!r} to {partition(name)} and "
                                                 f"polled it (offset {o}) before committing"})
                    break
    return cases


def garbage_read_cases(index: LogIndex) -> list[dict[str, Any]]:
    """An ok poll returned a message that no op ever sent."""
    cases: list[dict[str, Any]] = []
    suspects: dict[Any, set[Any]] = {}
    for name, log in index.logs.items():
        unknown = log.first_read.keys() - log.writer.keys()
        unknown.difference_update(index.unplaced)
        if unknown:
            suspects[name] = unknown
    told: set[tuple[Any, Any]] = set()
    for k, name, o, v in _ok_reads_among(index, suspects):
        if (name, v) in told:
            continue  # one case per message
        told.add((name, v))
        cases.append({"partition": name, "value": v, "offset": o, "reader": ref(k),
                      "explanation": f"{k.name} polled {v!r} at {partition(name)} offset {o}, "
                                     f"which no op sent"})
    return cases


class Unseen:
    """Acknowledged messages no ok poll had returned yet, over time (as the history's ops
    completed), and what was still unseen at the end.

    A message is unseen from the completion of its acknowledged send until the completion of
    the first ok poll that returned it (never, if that poll completed first), so the count is
    a sum of +1s and -1s at completion indexes: gathered into BUCKETS buckets, it gives the
    series (seconds, count) at every bucket's end without sorting a million events; `peak` is
    the highest count at a bucket's end."""

    BUCKETS: Final = 4096

    def __init__(self, index: LogIndex) -> None:
        self.index = index
        last = max((k.op.complete_index for k in index.ops if k.op.complete_index is not None),
                   default=0) + 1
        width = max(1, -(-last // self.BUCKETS))
        n = -(-last // width)
        up = [0] * n
        down = [0] * n
        final: dict[Any, list[Any]] = {}
        for k in index.ops:
            if k.type != "ok" or not k.sends:
                continue
            done = k.op.complete_index
            b = done // width  # type: ignore[operator]
            for name, _o, v in k.sends:
                read = index.logs[name].first_read.get(v)
                if read is None:
                    up[b] += 1
                    final.setdefault(name, []).append(v)
                elif read > done:  # type: ignore[operator]
                    up[b] += 1
                    down[read // width] += 1
        times = index.history.time_at
        series: list[tuple[float | None, int]] = []
        count = 0
        peak = (0, 0)
        step = max(1, n // SERIES_POINTS)
        for b in range(n):
            count += up[b] - down[b]
            at = min(last - 1, (b + 1) * width - 1)
            if count > peak[0]:
                peak = (count, at)
            if b % step == step - 1 or b == n - 1:
                series.append((seconds(times(at)), count))
        self.series = series
        self.peak = {"count": peak[0], "time_s": seconds(times(peak[1])) if peak[0] else None}
        self.final = final

    def cases(self) -> list[dict[str, Any]]:
        out = []
        for name, values in sorted(self.final.items(), key=lambda kv: repr(kv[0])):
            log = self.index.logs.get(name)
            placed = sorted(((log.offset_of.get(v, -1) if log else -1), v) for v in values)
            offsets = [o for o, _v in placed if o >= 0]
            blind = len(values) - len(offsets)  # acks=0: acknowledged without an offset
            where = f"offsets {listed(offsets)}" if offsets else ""
            if blind:
                where += ("; " if where else "") + f"{blind} without an offset"
            out.append({"partition": name, "count": len(values),
                        "values": [v for _o, v in placed][:32],
                        "offsets": offsets[:32],
                        "last_polled_offset": log.ok_max if log else -1,
                        "explanation": f"{len(values)} acknowledged messages in "
                                       f"{partition(name)} were never returned by an ok poll"
                                       f" ({where}; polls reached "
                                       f"{log.ok_max if log else 'nothing'})"})
        return out


CASES: Final[dict[str, Callable[[LogIndex], list[dict[str, Any]]]]] = {
    "G1a": g1a_cases,
    "inconsistent-offsets": inconsistent_offsets_cases,
    "duplicate": duplicate_cases,
    "lost-write": lost_write_cases,
    "precommitted-read": precommitted_read_cases,
    "garbage-read": garbage_read_cases,
}
