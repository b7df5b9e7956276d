"""Cycles of each anomaly's shape inside one strongly connected component, within a time budget.

A component (checkers/elle/graph.py) proves that some cycle exists; this module finds, for each
anomaly kind (checkers/elle/anomalies.py) and each variant (plain, -process, -realtime), a short
cycle of that kind, or proves there is none, or says it ran out of time. One witness per kind per
component is enough: the verdict needs to know which kinds occur, and a reader needs one cycle
to follow.

The searches, in the order they run:

1. cheap, one breadth-first search each (plus networkx's SCCs of a filtered view): G0 (a cycle
   of ww edges), G1c (ww and wr, through a wr edge), and "some rw cycle" (through an rw edge,
   any edges): the last one is classified by its shape and is at least G2-item. A cycle of the
   component's own edges through an edge that lies inside a component of the filtered graph
   always exists, so these searches are complete whatever the budget.
2. expensive, one search per rw edge: G-single (the rw edge closed by a ww/wr path) and then, if
   there is none, G-nonadjacent (a search over (transaction, was the last edge rw) states that
   never takes two rw edges in a row). These are the ones the budget may cut short; what they
   did not finish is reported as undecided, never as absent.

Process and real-time variants run the same searches with those edges allowed; a kind found
without them implies its variants (consistency.IMPLIES), so those are not searched again.
Shortest: each cycle is the shortest through the edge it starts at (a breadth-first path back),
and after the first one MORE_TRIES more edges are tried for a shorter one (searches cut at the
best length so far): the shortest in a small component, a short one in a huge one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from checkers.elle.anomalies import classify
from checkers.elle.consistency import CYCLE_KINDS, implied_anomalies
from checkers.elle.graph import (KIND_PREFERENCE, PROCESS, REALTIME, RW, WR, WW, DependencyGraph,
                                 component_graph, strongly_connected)
from checkers.elle.orders import realtime_edges
from checkers.elle.transactions import Txn

CHECK_EVERY = 2048  # BFS steps between looks at the clock
COMPONENTS_LISTED = 20  # components described one by one in the search's summary
MORE_TRIES = 32  # edges tried for a shorter cycle after the first one found


class SearchTimeout(Exception):
    """The cycle search's time budget ran out."""


@dataclass
class Deadline:
    at: float | None  # time.monotonic() value, None for no limit

    def passed(self) -> bool:
        return self.at is not None and time.monotonic() > self.at

    def check(self) -> None:
        if self.passed():
            raise SearchTimeout()


@dataclass
class FoundCycle:
    """One cycle: (from, to, label) steps over transaction ids, the last step ending where the
    first begins."""

    anomaly: str
    steps: list[tuple[int, int, int]]


@dataclass
class ComponentReport:
    """What the search established about one component."""

    size: int
    found: dict[str, FoundCycle] = field(default_factory=dict)
    undecided: set[str] = field(default_factory=set)  # kinds it had no time to rule in or out
    rw_edges: int = 0
    rw_edges_searched: int = 0


def suffix(extras: int) -> str:
    return "-realtime" if extras & REALTIME else "-process" if extras & PROCESS else ""


def search_graph(graph: DependencyGraph, txns: list[Txn], variants: list[int],
                 timeout: float) -> tuple[list[ComponentReport], dict[str, Any]]:
    """Every strongly connected component of `graph` with more than one transaction, searched
    (smallest first) for each anomaly kind and variant within `timeout` seconds in all; the
    reports, and a summary of the search. Time nodes are left out of the components; with a
    real-time variant, each component gets the real-time edges among its members."""
    started = time.monotonic()
    deadline = Deadline(started + timeout)
    components = [sorted(v for v in c if v < graph.txns) for c in strongly_connected(graph)]
    components = sorted((c for c in components if len(c) > 1), key=len)
    where: dict[int, int] = {v: i for i, c in enumerate(components) for v in c}
    edges: list[list[tuple[int, int, int]]] = [[] for _ in components]
    if components:
        src, dst, kind = graph.src, graph.dst, graph.kind
        for i in range(len(src)):
            c = where.get(src[i])
            if c is not None and where.get(dst[i]) == c:
                edges[c].append((src[i], dst[i], kind[i]))
    reports = []
    realtime = bool(variants[-1] & REALTIME)
    every_kind = {k + suffix(v) for v in variants for k in CYCLE_KINDS}
    for i, members in enumerate(components):
        if deadline.passed():  # a cycle is there, but no time is left to say which
            reports.append(ComponentReport(size=len(members), undecided=set(every_kind)))
            continue
        component_edges = edges[i]
        if realtime:
            component_edges += [(a, b, REALTIME)
                                for a, b in realtime_edges([txns[v] for v in members])]
        reports.append(search_component(component_graph(component_edges), variants, deadline))
    search: dict[str, Any] = {
        "components": len(components),
        "largest": max((len(c) for c in components), default=0),
        "timeout_s": timeout,
        "timed_out": any(r.undecided for r in reports),
        "seconds": round(time.monotonic() - started, 6),
    }
    if components:
        search["listed"] = [
            {"size": r.size, "found": sorted(r.found), "undecided": sorted(r.undecided),
             "rw_edges": r.rw_edges, "rw_edges_searched": r.rw_edges_searched}
            for r in sorted(reports, key=lambda r: -r.size)[:COMPONENTS_LISTED]]
    return reports, search


def search_component(g: Any, variants: list[int], deadline: Deadline) -> ComponentReport:
    """Search component graph `g` (graph.component_graph) for each anomaly kind; `variants`
    are the extra edge kinds to try in turn: [0], [0, PROCESS], [0, PROCESS | REALTIME], ..."""
    report = ComponentReport(size=g.number_of_nodes())
    adjacency = {v: [(w, data["kinds"]) for w, data in g.succ[v].items()] for v in g}
    rw_edges = [(a, b) for a, b, k in g.edges(data="kinds") if k & RW]
    report.rw_edges = len(rw_edges)
    cheap = [("G0", WW, WW), ("G1c", WW | WR, WR), ("G2-item", WW | WR | RW, RW)]
    for extras in variants:
        for kind, base, start in cheap:
            _attempt(report, kind + suffix(extras), deadline, lambda: _cycle_through(
                g, adjacency, base | extras, start, deadline))
    for extras in variants:
        for kind, search in (("G-single", _g_single), ("G-nonadjacent", _g_nonadjacent)):
            _attempt(report, kind + suffix(extras), deadline, lambda: search(
                g, adjacency, rw_edges, extras, deadline, report))
    implied = implied_anomalies(report.found)
    report.undecided = {n for n in report.undecided if n not in implied}
    # a witness of a kind that another witness here implies adds nothing
    for name in list(report.found):
        if name in implied_anomalies(n for n in report.found if n != name):
            del report.found[name]
    return report


def _attempt(report: ComponentReport, name: str, deadline: Deadline,
             search: Callable[[], list[tuple[int, int, int]] | None]) -> None:
    """Run one search for anomaly `name` unless a witness found already implies it; a search
    the deadline stops (or would start too late) leaves `name` undecided."""
    if name in implied_anomalies(report.found):
        return
    if deadline.passed():
        report.undecided.add(name)
        return
    try:
        steps = search()
    except SearchTimeout:
        report.undecided.add(name)
        return
    if steps is not None:
        _record(report, steps)


def _record(report: ComponentReport, steps: list[tuple[int, int, int]]) -> None:
    name = classify([label for _a, _b, label in steps])
    if name not in report.found:
        report.found[name] = FoundCycle(name, steps)


def label(mask: int, allowed: int) -> int:
    """The kind a step of this mask is called in a search that allows `allowed` kinds."""
    usable = mask & allowed
    for kind in KIND_PREFERENCE:
        if usable & kind:
            return kind
    return 0


def _cycle_through(g: Any, adjacency: dict[int, list[tuple[int, int]]], allowed: int,
                   start: int, deadline: Deadline) -> list[tuple[int, int, int]] | None:
    """A short cycle of `allowed` edges through an edge of kind `start` (labelled so), if any:
    every such edge inside a component of the filtered graph lies on one."""
    import networkx as nx  # type: ignore[import-untyped]

    view = nx.subgraph_view(g, filter_edge=lambda a, b: bool(g[a][b]["kinds"] & allowed))

    def candidates() -> Iterator[tuple[int, int]]:
        for members in nx.strongly_connected_components(view):
            if len(members) < 2:
                continue
            for a in members:
                for b, mask in adjacency[a]:
                    if mask & start and b in members:
                        yield a, b

    return _shortest_of(candidates(), start, lambda a, b, limit: _shortest_path(
        adjacency, b, a, allowed, deadline, limit), deadline, 2)


def _shortest_of(candidates: Iterator[tuple[int, int]], kind: int,
                 close: Callable[[int, int, int | None], list[tuple[int, int, int]] | None],
                 deadline: Deadline, floor: int) -> list[tuple[int, int, int]] | None:
    """The shortest of the cycles that close candidate edges a -> b (labelled `kind`) with a
    path close(a, b, limit) of at most `limit` steps: after the first cycle, MORE_TRIES more
    candidates are tried, each search cut at the best length so far, unless the best is already
    `floor` long (none shorter exists). A deadline met after the first cycle keeps it."""
    best: list[tuple[int, int, int]] | None = None
    tried_after = 0
    for a, b in candidates:
        try:
            deadline.check()
            path = close(a, b, None if best is None else len(best) - 2)
        except SearchTimeout:
            if best is None:
                raise
            return best
        if path is not None and (best is None or len(path) + 1 < len(best)):
            best = [(a, b, kind)] + path
            if len(best) <= floor:
                return best
        if best is not None:
            tried_after += 1
            if tried_after >= MORE_TRIES:
                break
    return best


def _shortest_path(adjacency: dict[int, list[tuple[int, int]]], source: int, target: int,
                   allowed: int, deadline: Deadline, limit: int | None = None) -> list[
                       tuple[int, int, int]] | None:
    """Breadth-first: the fewest `allowed` steps (at most `limit`) from source to target,
    labelled."""
    if source == target:
        return []

    def moves(v: Any) -> Iterator[tuple[Any, int]]:
        for w, mask in adjacency[v]:
            if mask & allowed:
                yield w, label(mask, allowed)

    return _breadth_first(source, target, moves, deadline, limit)


def _breadth_first(source: Any, target: Any, moves: Callable[[Any], Iterator[tuple[Any, int]]],
                   deadline: Deadline, limit: int | None = None) -> list[
                       tuple[int, int, int]] | None:
    """The fewest moves (at most `limit`) from state source to state target, as labelled
    transaction steps; `moves(state)` gives (next state, label of the step)."""
    parent: dict[Any, tuple[Any, int]] = {source: (source, 0)}
    frontier = [source]
    depth = 0
    steps = 0
    while frontier and (limit is None or depth < limit):
        depth += 1
        following = []
        for state in frontier:
            steps += 1
            if steps % CHECK_EVERY == 0:
                deadline.check()
            for nxt, kind in moves(state):
                if nxt in parent:
                    continue
                parent[nxt] = (state, kind)
                if nxt == target:
                    return _unwind(parent, source, target)
                following.append(nxt)
        frontier = following
    return None


def _unwind(parent: dict[Any, tuple[Any, int]], source: Any, target: Any) -> list[
        tuple[int, int, int]]:
    path: list[tuple[int, int, int]] = []
    node = target
    while node != source:
        prev, kind = parent[node]
        path.append((_txn(prev), _txn(node), kind))
        node = prev
    path.reverse()
    return path


def _txn(state: Any) -> int:
    return state[0] if isinstance(state, tuple) else state


def _candidates(g: Any, rw_edges: list[tuple[int, int]], allowed: int,
                report: ComponentReport) -> Iterator[tuple[int, int]]:
    """The rw edges a -> b for which b may reach a through `allowed` edges: b's component of
    the filtered graph comes no later than a's in topological order (networkx's condensation).
    Counts them in `report`."""
    import networkx as nx  # type: ignore[import-untyped]

    view = nx.subgraph_view(g, filter_edge=lambda a, b: bool(g[a][b]["kinds"] & allowed))
    condensed = nx.condensation(view)
    where = condensed.graph["mapping"]
    rank = {c: i for i, c in enumerate(nx.topological_sort(condensed))}
    for a, b in rw_edges:
        if rank[where[b]] <= rank[where[a]]:
            report.rw_edges_searched += 1
            yield a, b


def _g_single(g: Any, adjacency: dict[int, list[tuple[int, int]]],
              rw_edges: list[tuple[int, int]], extras: int, deadline: Deadline,
              report: ComponentReport) -> list[tuple[int, int, int]] | None:
    """One rw edge a -> b closed by a path of ww, wr (and extra) edges from b back to a."""
    allowed = WW | WR | extras
    return _shortest_of(_candidates(g, rw_edges, allowed, report), RW, lambda a, b, limit:
                        _shortest_path(adjacency, b, a, allowed, deadline, limit), deadline, 2)


def _g_nonadjacent(g: Any, adjacency: dict[int, list[tuple[int, int]]],
                   rw_edges: list[tuple[int, int]], extras: int, deadline: Deadline,
                   report: ComponentReport) -> list[tuple[int, int, int]] | None:
    """An rw edge a -> b closed by a path from b to a that takes no two rw edges in a row and
    neither starts nor ends with one (those would touch a -> b)."""
    allowed = WW | WR | RW | extras
    plain = allowed & ~RW

    def moves(state: tuple[int, bool]) -> Iterator[tuple[tuple[int, bool], int]]:
        v, after_rw = state  # after_rw: the step into this state was rw
        for w, mask in adjacency[v]:
            if mask & plain:
                yield (w, False), label(mask, plain)
            if mask & RW and not after_rw:
                yield (w, True), RW

    return _shortest_of(_candidates(g, rw_edges, allowed, report), RW, lambda a, b, limit:
                        _breadth_first((b, True), (a, False), moves, deadline, limit), deadline, 4)


__all__ = ["CYCLE_KINDS", "ComponentReport", "Deadline", "FoundCycle", "SearchTimeout",
           "search_component", "search_graph"]
