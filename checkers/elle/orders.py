"""Session (process) order and real-time order between transactions, as dependency edges.

Process order: T1 -> T2 when both ran on the same process, T2 next after T1, and T1 is known to
have completed (ok). Real-time order: T1 -> T2 when T1 completed (ok) before T2 was invoked.
Failed transactions did not happen and take part in neither; a transaction of unknown outcome
(info) may have taken effect at any later moment, so nothing is ordered after it, but it is
ordered after whatever completed before its invocation.

Both orders are transitive, so a graph needs only enough edges for paths to exist: process order
is a chain per process; real-time order goes through a chain of time nodes in the whole graph
(see checkers/elle/graph.py) and, inside a component, through `realtime_edges`, which keeps an
edge T1 -> T2 only when no T completed after T1 and before T2's invocation: at most one edge per
transaction pair that is "adjacent" in time, a few per transaction in practice.
"""

from __future__ import annotations

from typing import Any

from checkers.elle import native
from checkers.elle.graph import PROCESS, REALTIME, DependencyGraph
from checkers.elle.transactions import FAIL, OK, Txn, outcome_codes
from checkers.units import seconds


def add_order_edges(txns: list[Txn], graph: DependencyGraph, process: bool, realtime: bool,
                    use_c: bool = True) -> None:
    """Process edges (if asked), then the real-time chain (if asked): by _graph.c's
    order_edges when it is built and the times are integers, else by the two functions below,
    which it mirrors."""
    kernel = native.extension("_graph") if use_c else None
    found = None
    if kernel is not None and (process or realtime):
        outcomes = outcome_codes(txns)
        ok_count = outcomes.count(0)
        first = graph.nodes  # the time nodes, when asked for, are numbered from here
        starts: list[Any] = []
        ends: list[Any] = []
        processes: list[Any] = []
        for t in txns:  # one pass: each transaction's operation is read once
            op = t.op
            starts.append(op.start)
            ends.append(op.end if t.type == OK else 0)
            processes.append(op.process)
        found = kernel.order_edges(starts, ends, processes, outcomes, process, realtime, first)
        if found is not None and realtime:
            graph.add_time_nodes(ok_count)
    if found is None:  # no C, or times that are not 64-bit integers (another tool's floats)
        if process:
            add_process_edges(txns, graph)
        if realtime:
            add_realtime_chain(txns, graph)
        return
    src, dst, kind = found
    graph.src.frombytes(src)
    graph.dst.frombytes(dst)
    graph.kind.frombytes(kind)


def add_process_edges(txns: list[Txn], graph: DependencyGraph) -> None:
    """A chain per process, through its transactions that may have happened (in invocation
    order), from each one that completed ok."""
    last: dict[Any, Txn] = {}
    for t in txns:
        if t.type == FAIL:
            continue
        process = t.op.process
        prev = last.get(process)
        if prev is not None and prev.type == OK:
            graph.add(prev.id, t.id, PROCESS)
        last[process] = t


def add_realtime_chain(txns: list[Txn], graph: DependencyGraph) -> int:
    """Real-time order through time nodes: T -> time node of T's completion -> the next
    completion's -> ... -> each T' invoked later. Returns the first time node's number."""
    done = [t for t in txns if t.type == OK]
    done.sort(key=_end)
    first = graph.add_time_nodes(len(done))
    ends = [t.op.end for t in done]
    for i, t in enumerate(done):
        graph.add(t.id, first + i, REALTIME)
        if i:
            graph.add(first + i - 1, first + i, REALTIME)
    # txns are in invocation order, so the count of completions before each start only grows
    passed = 0
    count = len(ends)
    for t in txns:
        if t.type == FAIL:
            continue
        start = t.op.start
        while passed < count and ends[passed] < start:
            passed += 1
        if passed:
            graph.add(first + passed - 1, t.id, REALTIME)
    return first


def _end(t: Txn) -> Any:
    return t.op.end


def realtime_edges(members: list[Txn]) -> list[tuple[int, int]]:
    """Real-time order among `members` as few edges as keep it transitive: T1 -> T2 when T1
    completed before T2's invocation and no member completed in between having been invoked
    after T1 completed. Two transactions that end and begin at the same instant are
    concurrent."""
    events: list[tuple[Any, int, int]] = []  # (time, 0 invoke / 1 completion, position)
    for i, t in enumerate(members):
        if t.type == FAIL:
            continue
        events.append((t.op.start, 0, i))
        if t.type == OK:
            events.append((t.op.end, 1, i))
    events.sort()
    frontier: set[int] = set()
    seen_at_invoke: dict[int, list[int]] = {}
    edges: list[tuple[int, int]] = []
    for _time, what, i in events:
        if what == 0:
            before = list(frontier)
            seen_at_invoke[i] = before
            b = members[i].id
            for a in before:
                edges.append((members[a].id, b))
        else:
            # everything this one followed is now implied through it
            frontier.difference_update(seen_at_invoke.get(i, ()))
            frontier.add(i)
    return edges


def explain_process(a: Txn, b: Txn) -> str:
    return (f"{a.name} completed (at {_s(a.op.end)}) before {b.name} began (at "
            f"{_s(b.op.start)}) on the same process {a.op.process}")


def explain_realtime(a: Txn, b: Txn) -> str:
    return f"{a.name} completed at {_s(a.op.end)}, before {b.name} was invoked at {_s(b.op.start)}"


def _s(ns: Any) -> str:
    value = seconds(ns)
    return "never" if value is None else f"{value:.6f} s"
