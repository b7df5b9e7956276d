"""Consumer groups: what each group processed, and the delivery promise it was meant to keep.

A message is *processed* by a group when an ok `poll` (or a committed `txn`) of one of the
group's members returned it: the workload records a message in its completion only once it has
handled it, so the history is the group's sink. A failed or unknown poll processed nothing.

Findings, per group, one function each:

    lost-message          an acknowledged message the group never processed, though it
                          moved past it: it processed later offsets of the partition, or
                          committed an offset past it (it will never read it again)
    unprocessed           an acknowledged message the group never processed, past the last
                          offset it processed and committed in that partition (it never got
                          that far)
    duplicate-processing  a message the group processed more than once
    double-ownership      two members held one partition at once for longer than the
                          rebalance grace
    missed-by-group       a message another group processed that this group never did, though
                          it moved past it

Each lost or duplicated message comes with what explains it: the crash of the member that held
its partition, the rebalance that moved the partition, the commits the group made of it around
that time, and the messages processed just before and after it. The promise decides which
findings break it (PROMISES).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from typing import Any, Callable, Final

from checkers.delivery.evidence import (at_s, crash_ref, partition, rebalance_ref, ref, seconds)
from checkers.delivery.logs import LogIndex
from checkers.delivery.ops import Commit, Crash, KafkaOp, Rebalance

AT_MOST_ONCE: Final = "at-most-once"
AT_LEAST_ONCE: Final = "at-least-once"
EXACTLY_ONCE: Final = "exactly-once"
DELIVERIES: Final = (AT_MOST_ONCE, AT_LEAST_ONCE, EXACTLY_ONCE)
# what each commit policy promises (docs/checkers-delivery.md)
POLICY_PROMISE: Final = {"before": AT_MOST_ONCE, "after": AT_LEAST_ONCE, "auto": AT_LEAST_ONCE,
                         "txn": EXACTLY_ONCE}
KINDS: Final = ("lost-message", "unprocessed", "duplicate-processing", "double-ownership",
                "missed-by-group")
# the findings that break each promise
PROMISES: Final = {
    AT_MOST_ONCE: ("duplicate-processing", "double-ownership"),
    AT_LEAST_ONCE: ("lost-message", "unprocessed", "missed-by-group"),
    EXACTLY_ONCE: KINDS,
}
EVENTS_LISTED: Final = 6


class Holding:
    """A member's ownership of one partition, from its assignment to its revocation, its
    crash, its close or its last op, whichever came first."""

    __slots__ = ("member", "name", "start", "end", "began", "ended")

    def __init__(self, member: Any, name: Any, start: int | float, began: str) -> None:
        self.member = member
        self.name = name
        self.start = start
        self.end: int | float = math.inf
        self.began = began
        self.ended = "the end of the history"


class Group:
    """One consumer group: its members, what it processed, and its crashes, rebalances and
    commits in time order."""

    def __init__(self, name: Any) -> None:
        self.name = name
        self.ops: list[KafkaOp] = []
        self.members: set[Any] = set()
        self.processes: set[Any] = set()
        self.policies: set[str] = set()
        self.logs: set[Any] = set()
        self.processed: dict[Any, dict[Any, KafkaOp]] = {}  # partition -> message -> first op
        self.repeats: dict[tuple[Any, Any], list[tuple[KafkaOp, Any]]] = {}
        self.progress: dict[Any, int] = {}  # partition -> highest offset processed
        self.processings = 0
        self.crashes: list[Crash] = []
        self.rebalances: list[Rebalance] = []
        self.commits: list[Commit] = []
        self.crash_times: list[int | float] = []  # the times of the three above, for bisect
        self.rebalance_times: list[int | float] = []
        self.commit_times: list[int | float] = []
        self.last_act: dict[Any, int | float] = {}  # member -> when its last op ended
        self.processing_ops: list[KafkaOp] = []  # the ops that processed messages
        self._done: dict[Any, list[tuple[int, KafkaOp]]] = {}  # partition -> (offset, op) sorted
        self._missing: tuple[list[Any], list[Any]] | None = None

    def processed_ops(self, name: Any) -> list[tuple[int, KafkaOp]]:
        """(offset, op) of every processing of the partition, by offset (built when needed)."""
        done = self._done.get(name)
        if done is None:
            done = []
            for k in self.processing_ops:
                for n, pairs in k.reads:
                    if n == name:
                        done.extend((pair[0], k) for pair in pairs if pair[0] is not None)
            done.sort(key=lambda x: (x[0], x[1].id))
            self._done[name] = done
        return done


def build_groups(index: LogIndex, crashes: list[Crash], grouped: bool) -> dict[Any, Group]:
    groups: dict[Any, Group] = {}
    for k in index.ops:
        if k.group is None or (k.f == "send" and not k.reads):
            continue
        g = groups.get(k.group)
        if g is None:
            g = groups[k.group] = Group(k.group)
        g.ops.append(k)
        g.members.add(k.member)
        g.processes.add(k.op.process)
        end = k.op.end if math.isfinite(k.op.end) else k.op.start
        g.last_act[k.member] = max(end, g.last_act.get(k.member, end))
        if k.policy is not None:
            g.policies.add(k.policy)
        if k.logs:
            g.logs.update(k.logs)
        g.rebalances.extend(k.rebalances)
        g.commits.extend(k.commits)
        if k.f != "poll" and k.f != "txn":
            continue
        if k.type != "ok" and not (k.f == "txn" and k.reads and index.committed(k)):
            continue
        _process(g, k)
    every = set(index.logs)
    for g in groups.values():
        g.rebalances.sort(key=lambda r: r.time)
        g.commits.sort(key=lambda c: c.time)
        g.crashes = [c for c in crashes if c.members & g.members or c.processes & g.processes]
        g.crash_times = [c.time for c in g.crashes]
        g.rebalance_times = [r.time for r in g.rebalances]
        g.commit_times = [c.time for c in g.commits]
        if grouped:
            g.logs.update(n for n in every if type(n) is int)
            g.logs.update(n for r in g.rebalances for n in r.logs)
        else:
            g.logs = set(every)
    return groups


def _process(g: Group, k: KafkaOp) -> None:
    g.processing_ops.append(k)
    processed = g.processed
    progress = g.progress
    for name, pairs in k.reads:
        seen = processed.get(name)
        if seen is None:
            seen = processed[name] = {}
            g.logs.add(name)
        top = progress.get(name, -1)
        for pair in pairs:
            o = pair[0]
            v = pair[1]
            g.processings += 1
            if v in seen:
                g.repeats.setdefault((name, v), []).append((k, o))
            else:
                seen[v] = k
            if o is not None and o > top:
                top = o
        progress[name] = top


def promise_of(g: Group, option: str) -> tuple[str | None, str]:
    """The delivery promise checked for the group, and where it comes from."""
    if option != "auto":
        return option, "the delivery option"
    if not g.policies:
        return None, "no commit policy recorded"
    promises = {POLICY_PROMISE[p] for p in g.policies}
    if len(promises) == 1:
        return promises.pop(), f"commit policy {', '.join(sorted(g.policies))}"
    return None, f"members disagree on the commit policy ({', '.join(sorted(g.policies))})"


# -- lost and unprocessed ------------------------------------------------------------------------

class Consumers:
    """What every group finding reads: the logs, the groups, and the rebalance grace."""

    def __init__(self, index: LogIndex, groups: dict[Any, Group], grace_s: float) -> None:
        self.index = index
        self.groups = groups
        self.grace_s = grace_s


def _unprocessed(index: LogIndex, g: Group) -> tuple[list[Any], list[Any]]:
    """(lost, unprocessed) as (partition, offset, value, sender) lists, computed once."""
    if g._missing is not None:
        return g._missing
    lost: list[Any] = []
    unprocessed: list[Any] = []
    for name in g.logs:
        log = index.logs.get(name)
        if log is None:
            continue
        missing = log.writer.keys() - g.processed.get(name, {}).keys()  # a set operation
        # A commit is the group saying it is done below that offset: what it committed past
        # and never processed is lost, even at the end of the log (commit=before's crash).
        top = max(g.progress.get(name, -1), max(
            (c.offsets[name] - 1 for c in g.commits if c.certain and name in c.offsets),
            default=-1))
        for v in missing:
            k = log.writer[v]
            if k.type != "ok":
                continue
            o = next(o for n, o, w in k.sends if n == name and w == v)
            # without an offset (acks=0) nobody knows whether the group went past it
            (lost if o is not None and o <= top else unprocessed).append((name, o, v, k))
    lost.sort(key=_by_place)
    unprocessed.sort(key=_by_place)
    g._missing = (lost, unprocessed)
    return g._missing


def _by_place(m: tuple[Any, int | None, Any, KafkaOp]) -> tuple[str, int]:
    return (repr(m[0]), -1 if m[1] is None else m[1])


def lost_message_cases(c: Consumers, g: Group) -> list[dict[str, Any]]:
    """Acknowledged messages the group never processed, though it went past them."""
    return [_lost_case(g, name, o, v, sender, False)
            for name, o, v, sender in _unprocessed(c.index, g)[0]]


def unprocessed_cases(c: Consumers, g: Group) -> list[dict[str, Any]]:
    """Acknowledged messages past the last offset of its partition the group processed."""
    return [_lost_case(g, name, o, v, sender, True)
            for name, o, v, sender in _unprocessed(c.index, g)[1]]


def _lost_case(g: Group, name: Any, o: int | None, v: Any, sender: KafkaOp,
               beyond: bool) -> dict[str, Any]:
    done = g.processed_ops(name)
    at = len(done) if o is None else bisect_left(done, o, key=lambda x: x[0])
    before = done[at - 1] if at > 0 else None
    after = done[at] if at < len(done) else None
    lo = before[1].op.end if before else -math.inf
    hi = after[1].op.end if after else math.inf
    why = _why(g, name, lo, hi, before[1].member if before else None, o, lost=True)
    case = {"group": g.name, "partition": name, "offset": o, "value": v, "sender": ref(sender),
            "processed_before": _processing(before), "processed_after": _processing(after),
            **why}
    if beyond:
        top = g.progress.get(name, -1)
        reached = f"its last processed offset there is {top}" if top >= 0 else \
            "it never processed anything there"
        where = "no offset: acks=0" if o is None else f"offset {o}"
        case["explanation"] = (f"{sender.name} sent {v!r} to {partition(name)} ({where}), "
                               f"acknowledged; group {g.name} never processed it: {reached}"
                               f"{why['because']}")
    elif after is None:  # past everything it processed, but committed past it
        case["explanation"] = (f"{sender.name} sent {v!r} to {partition(name)} (offset {o}), "
                               f"acknowledged; group {g.name} processed nothing there "
                               f"{f'after offset {before[0]} ({before[1].name})' if before else ''}"
                               f" yet committed past it{why['because']}")
    else:
        case["explanation"] = (f"{sender.name} sent {v!r} to {partition(name)} (offset {o}), "
                               f"acknowledged; group {g.name} processed offset "
                               f"{before[0] if before else '(none)'} "
                               f"({before[1].name if before else '-'}) and then offset "
                               f"{after[0]} ({after[1].name}) but never {o}"
                               f"{why['because']}")
    return case


def _processing(x: tuple[int, KafkaOp] | None) -> dict[str, Any] | None:
    return None if x is None else {"offset": x[0], "member": x[1].member, "op": ref(x[1])}


def _why(g: Group, name: Any, lo: int | float, hi: int | float, owner: Any, o: int | None,
         lost: bool, own: list[Rebalance] | None = None) -> dict[str, Any]:
    """The crashes, rebalances of the partition and commits of it that the group saw between
    lo and hi (and `own`, rebalances recorded by the op itself), the cause they point to and a
    clause saying so."""
    crashes = _between(g.crashes, g.crash_times, lo, hi)
    moved = [r for r in _between(g.rebalances, g.rebalance_times, lo, hi) if name in r.logs]
    moved = [r for r in own or () if r not in moved] + moved
    commits = [c for c in _between(g.commits, g.commit_times, lo, hi) if name in c.offsets]
    earlier = bisect_left(g.commit_times, lo)
    before = next(([g.commits[i]] for i in range(earlier - 1, -1, -1)
                   if name in g.commits[i].offsets), [])
    owner_crash = next((c for c in crashes if owner in c.members), None)
    if owner_crash is None and crashes:
        owner_crash = crashes[0]
    past = [c for c in commits if o is not None and c.offsets[name] > o]
    if lost and past:
        cause = "commit"
        c = past[0]
        because = (f": member {c.op.member} committed offset {c.offsets[name]} at "
                   f"{at_s(c.time)} ({c.op.name}) before anyone processed offset {o}")
    elif owner_crash is not None:
        cause = "crash"
        because = (f": {'member ' + repr(owner) if owner is not None else 'a member'} "
                   f"crashed at {at_s(owner_crash.time)} ({owner_crash.source})")
    elif moved:
        cause = "rebalance"
        r = moved[0]
        because = (f": {partition(name)} was {r.kind} ({r.op.member}, {r.op.name}) at "
                   f"{at_s(r.time)}")
    else:
        cause = "unexplained"
        because = ": no crash, rebalance or commit recorded between them explains it"
    if not lost:
        last = commits or before
        last_commit = max((c for c in last if c.time <= hi), key=lambda c: c.time, default=None)
        if last_commit is not None:
            because += (f"; the group's last commit of the partition before it was offset "
                        f"{last_commit.offsets[name]} ({last_commit.op.name})")
    return {"cause": cause, "because": because,
            "crashes": [crash_ref(c) for c in crashes[:EVENTS_LISTED]],
            "rebalances": [rebalance_ref(r) for r in moved[:EVENTS_LISTED]],
            "commits": [{"offset": c.offsets[name], "member": c.op.member, "op": c.op.name,
                         "time_s": seconds(c.time), "certain": c.certain}
                        for c in (before + commits)[:EVENTS_LISTED]]}


def _between(events: list[Any], times: list[int | float], lo: int | float,
             hi: int | float) -> list[Any]:
    """The events (sorted by time, `times` their times) from lo to hi, both included."""
    return events[bisect_left(times, lo):bisect_right(times, hi)]


# -- duplicates ----------------------------------------------------------------------------------

def duplicate_processing_cases(c: Consumers, g: Group) -> list[dict[str, Any]]:
    """Messages the group processed more than once; each with what explains the redelivery."""
    cases = []
    for (name, v), again in g.repeats.items():
        first = g.processed[name][v]
        o = next((pair[0] for n, pairs in first.reads if n == name for pair in pairs
                  if pair[1] == v), None)
        times = [(first, o)] + again
        prev = first
        for k, at in again:
            # Either processing's member may have lost the partition during that very op (an
            # eager rebalance inside its poll, handing it to the other member, whose processing
            # may even end first): its own revocation explains the redelivery.
            lo, hi = sorted((prev.op.end, k.op.end))
            own = [r for x in (prev, k) for r in x.rebalances
                   if r.kind != "assigned" and name in r.logs]
            why = _why(g, name, lo, hi, prev.member, at if at is not None else -1, lost=False,
                       own=own)
            cases.append({"group": g.name, "partition": name, "value": v, "offset": at,
                          "count": len(times),
                          "processings": [{"offset": x, "member": y.member, "op": ref(y)}
                                          for y, x in times[:EVENTS_LISTED]],
                          **why,
                          "explanation": f"group {g.name} processed {v!r} ({partition(name)} "
                                         f"offset {at}) in {prev.name} (member {prev.member!r})"
                                         f" and again in {k.name} (member {k.member!r})"
                                         f"{why['because']}"})
            prev = k
    cases.sort(key=lambda c: (repr(c["partition"]), c["offset"] if c["offset"] is not None
                              else -1))
    return cases


# -- ownership -----------------------------------------------------------------------------------

def holdings(g: Group) -> dict[Any, list[Holding]]:
    """Partition -> every member's holdings of it, from the rebalances the members saw."""
    open_: dict[tuple[Any, Any], Holding] = {}
    out: dict[Any, list[Holding]] = {}
    ends: dict[Any, tuple[int | float, str]] = {}
    by_process: dict[Any, set[Any]] = {}
    for k in g.ops:
        by_process.setdefault(k.op.process, set()).add(k.member)
    for c in g.crashes:
        named = set(c.members)
        for p in c.processes:
            named.update(by_process.get(p, ()))
        for m in named:
            if m in g.members and c.time < ends.get(m, (math.inf, ""))[0]:
                ends[m] = (c.time, f"its crash ({c.source})")
    for k in g.ops:
        if k.f == "close" and k.type == "ok":
            t = k.op.end
            if t < ends.get(k.member, (math.inf, ""))[0]:
                ends[k.member] = (t, f"its close ({k.name})")
    for r in g.rebalances:
        member = r.op.member
        for name in r.logs:
            key = (member, name)
            if r.kind == "assigned":
                if key not in open_:
                    h = open_[key] = Holding(member, name, r.time, f"assigned in {r.op.name}")
                    out.setdefault(name, []).append(h)
            elif r.kind in ("revoked", "lost"):
                held = open_.pop(key, None)
                if held is not None:
                    held.end, held.ended = r.time, f"{r.kind} in {r.op.name}"
    for h in open_.values():
        stop, why = ends.get(h.member, (math.inf, ""))
        last = g.last_act.get(h.member, math.inf)
        if last < stop:
            stop, why = last, "its last op"
        h.end, h.ended = max(stop, h.start), why
    return out


def double_ownership_cases(c: Consumers, g: Group) -> list[dict[str, Any]]:
    """Two members holding one partition at once for longer than the rebalance grace."""
    grace = c.grace_s * 1e9
    cases = []
    for name, hs in holdings(g).items():
        hs.sort(key=lambda h: h.start)
        for i, a in enumerate(hs):
            for b in hs[i + 1:]:
                if b.start >= a.end:
                    break
                if a.member == b.member:
                    continue
                overlap = min(a.end, b.end) - b.start
                if overlap <= grace:
                    continue
                cases.append(_ownership_case(g, name, a, b, overlap))
    return cases


def _ownership_case(g: Group, name: Any, a: Holding, b: Holding,
                    overlap: int | float) -> dict[str, Any]:
    lo, hi = b.start, min(a.end, b.end)
    polls = [{"member": k.member, "op": ref(k)} for k in g.ops
             if k.type == "ok" and any(n == name and pairs for n, pairs in k.reads)
             and k.member in (a.member, b.member) and lo <= k.op.end and k.op.start <= hi]
    return {"group": g.name, "partition": name, "members": [a.member, b.member],
            "overlap_s": seconds(overlap),
            "holdings": [{"member": h.member, "from_s": seconds(h.start), "to_s": seconds(h.end),
                          "began": h.began, "ended": h.ended} for h in (a, b)],
            "polls_during": polls[:EVENTS_LISTED],
            "explanation": f"in group {g.name}, member {a.member!r} held {partition(name)} "
                           f"from {at_s(a.start)} ({a.began}) to {at_s(a.end)} ({a.ended}) and "
                           f"member {b.member!r} from {at_s(b.start)} ({b.began}): "
                           f"{overlap / 1e9:.3f} s at once"
                           f"{f', and {len(polls)} polls of it ran then' if polls else ''}"}


# -- across groups -------------------------------------------------------------------------------

def missed_by_group_cases(c: Consumers, g: Group) -> list[dict[str, Any]]:
    """Messages another group processed that this group never did, though it went past them."""
    index = c.index
    cases = []
    for other in c.groups.values():
        if other is g:
            continue
        for name, theirs in other.processed.items():
            if name not in g.logs:
                continue
            top = g.progress.get(name, -1)
            log = index.logs.get(name)
            if log is None:
                continue
            for v in theirs.keys() - g.processed.get(name, {}).keys():  # a set operation
                k = theirs[v]
                o = log.offset_of.get(v)
                if o is None or o > top:
                    continue
                cases.append({"group": g.name, "other_group": other.name, "partition": name,
                              "offset": o, "value": v, "processed_by": ref(k),
                              "explanation": f"group {other.name} processed {v!r} "
                                             f"({partition(name)} offset {o}, {k.name}); group "
                                             f"{g.name} went on to offset {top} there but never "
                                             f"processed it"})
    cases.sort(key=lambda c: (repr(c["partition"]), c["offset"]))
    return cases


CASES: Final[dict[str, Callable[[Consumers, Group], list[dict[str, Any]]]]] = {
    "lost-message": lost_message_cases,
    "unprocessed": unprocessed_cases,
    "duplicate-processing": duplicate_processing_cases,
    "double-ownership": double_ownership_cases,
    "missed-by-group": missed_by_group_cases,
}
