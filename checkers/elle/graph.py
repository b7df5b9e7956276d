"""The dependency graph: transactions as nodes, dependencies between them as typed edges.

Edge kinds (Adya's, plus the two orders Elle adds):

    ww  T1 wrote a version of a key that T2's write replaced (write dependency)
    wr  T2 read a version T1 wrote (read dependency)
    rw  T1 read a version that T2's write replaced (anti-dependency)
    process   T1 completed before T2 began, on the same process (session order)
    realtime  T1 completed before T2 began (real-time order)

Building and searching it are two different jobs. The whole graph, which for a million
transactions has millions of edges, lives in three flat integer arrays (`src`, `dst`, `kind`)
and its strongly connected components are found by an iterative Tarjan over them, in C when it
is built (checkers/elle/_graph.c), else in plain Python: networkx's graph objects cost several
hundred bytes and a few microseconds per edge (building and searching a networkx DiGraph of a
100,000-transaction history took 1.5 s, the C Tarjan 8 ms), and a valid history, the common case,
has no component worth a closer look. Each component that is a cycle becomes a networkx DiGraph
(`component_graph`) in which checkers/elle/cycles.py searches for cycles of each anomaly's shape.

Real-time order is dense (every transaction precedes every later one), so the whole graph holds
it as a chain of "time" nodes numbered after the transactions: T -> the moment T completed ->
the next completion -> ... -> every T' invoked after it. Paths through that chain are exactly
the real-time order, in three edges per transaction. Inside a component the time nodes are
replaced by explicit edges between transactions (checkers/elle/orders.py).
"""

from __future__ import annotations

from array import array
from typing import Any, Final

from checkers.elle import native

WW: Final = 1
WR: Final = 2
RW: Final = 4
PROCESS: Final = 8
REALTIME: Final = 16
DATA: Final = WW | WR | RW

KIND_NAMES: Final = {WW: "ww", WR: "wr", RW: "rw", PROCESS: "process", REALTIME: "realtime"}
# when one pair of transactions is related in several ways, the one an explanation prefers:
# dependencies before anti-dependencies before orders (the strongest claim first)
KIND_PREFERENCE: Final = (WW, WR, RW, PROCESS, REALTIME)


class DependencyGraph:
    """Edges as parallel arrays; nodes 0..txns-1 are transactions, the rest time nodes."""

    def __init__(self, txns: int) -> None:
        self.txns = txns
        self.nodes = txns
        self.src = array("i")
        self.dst = array("i")
        self.kind = array("b")

    def add(self, a: int, b: int, kind: int) -> None:
        self.src.append(a)
        self.dst.append(b)
        self.kind.append(kind)

    def add_time_nodes(self, count: int) -> int:
        """Reserve `count` time nodes; returns the first one's number."""
        first = self.nodes
        self.nodes += count
        return first

    def __len__(self) -> int:
        return len(self.src)

    def edges_among(self, members: set[int]) -> list[tuple[int, int, int]]:
        """(a, b, kind) of every transaction edge with both ends in `members` (time nodes left
        out)."""
        out = []
        src, dst, kind = self.src, self.dst, self.kind
        for i in range(len(src)):
            a = src[i]
            if a in members:
                b = dst[i]
                if b in members:
                    out.append((a, b, kind[i]))
        return out


def strongly_connected(graph: DependencyGraph) -> list[list[int]]:
    """Every strongly connected component of more than one node, as node lists."""
    native = native_components()
    if native is not None:
        return native(graph.nodes, graph.src, graph.dst)
    return tarjan(graph.nodes, graph.src, graph.dst)


def native_components() -> Any:
    """_graph.components (checkers/elle/native.py says when), or None."""
    module = native.extension("_graph")
    return None if module is None else module.components


def tarjan(nodes: int, src: Any, dst: Any) -> list[list[int]]:
    """Tarjan's algorithm without recursion, over edges given as two index sequences; the
    pure-Python twin of _graph.c (tests hold them and networkx to the same answers)."""
    m = len(src)
    # compressed adjacency: the edges of node v are targets[start[v]:start[v + 1]]
    start = [0] * (nodes + 1)
    for a in src:
        start[a + 1] += 1
    for v in range(nodes):
        start[v + 1] += start[v]
    fill = start[:]
    targets = [0] * m
    for i in range(m):
        a = src[i]
        targets[fill[a]] = dst[i]
        fill[a] += 1
    index = [-1] * nodes
    low = [0] * nodes
    on_stack = [False] * nodes
    stack: list[int] = []
    found: list[list[int]] = []
    counter = 0
    for root in range(nodes):
        if index[root] != -1 or start[root] == start[root + 1]:
            continue
        # call stack of (node, next edge position)
        calls = [root]
        cursor = [start[root]]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        while calls:
            v = calls[-1]
            pos = cursor[-1]
            if pos < start[v + 1]:
                cursor[-1] = pos + 1
                w = targets[pos]
                if index[w] == -1:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    calls.append(w)
                    cursor.append(start[w])
                elif on_stack[w] and index[w] < low[v]:
                    low[v] = index[w]
                continue
            calls.pop()
            cursor.pop()
            if calls:
                u = calls[-1]
                if low[v] < low[u]:
                    low[u] = low[v]
            if low[v] == index[v]:
                w = stack.pop()
                on_stack[w] = False
                if w == v:
                    continue
                component = [w]
                while w != v:
                    w = stack.pop()
                    on_stack[w] = False
                    component.append(w)
                found.append(component)
    return found


def component_graph(edges: list[tuple[int, int, int]]) -> Any:
    """A networkx DiGraph of the given edges; each edge's `kinds` is the OR of its kinds."""
    import networkx as nx  # type: ignore[import-untyped]  # only graphs with a cycle get here

    g = nx.DiGraph()
    for a, b, k in edges:
        data = g.get_edge_data(a, b)
        if data is None:
            g.add_edge(a, b, kinds=k)
        else:
            data["kinds"] |= k
    return g
