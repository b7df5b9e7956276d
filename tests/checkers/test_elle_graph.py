"""The elle checker's fast graph paths against networkx and against the definitions.

- strongly connected components: the C Tarjan (_graph.c, when built) and the Python one
  (graph.tarjan) give networkx's components on random graphs;
- real-time order: the chain of time nodes (whole graph) and the sparse edges (inside a
  component) both have exactly the reachability of the definition, "T1 completed before T2 was
  invoked";
- the cycle search: every cycle it reports is a cycle of the component, its edges are edges of
  the graph with the kinds it names, and its name is what its labels make it; with no time left
  it reports what it did not decide instead of hanging.
"""

from __future__ import annotations

from array import array

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkers.elle.anomalies import classify
from checkers.elle.cycles import Deadline, search_component
from checkers.elle.graph import (PROCESS, REALTIME, RW, WR, WW, DependencyGraph, component_graph,
                                 native_components, tarjan)
from checkers.elle.orders import add_order_edges, add_realtime_chain, realtime_edges
from checkers.elle.transactions import Txn
from checkers.history import Operation

graphs = st.integers(1, 40).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=120)))


def networkx_components(n, edges):
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from(edges)
    return {frozenset(c) for c in nx.strongly_connected_components(g) if len(c) > 1}


@settings(max_examples=300, deadline=None)
@given(graphs)
def test_python_tarjan_finds_networkx_components(graph):
    n, edges = graph
    edges = [(a, b) for a, b in edges if a != b]
    found = tarjan(n, array("i", [a for a, _ in edges]), array("i", [b for _, b in edges]))
    assert {frozenset(c) for c in found} == networkx_components(n, edges)
    assert sum(len(c) for c in found) == len(set().union(*found)) if found else True


@pytest.mark.skipif(native_components() is None, reason="the C SCC search is not built")
@settings(max_examples=300, deadline=None)
@given(graphs)
def test_c_tarjan_finds_networkx_components(graph):
    n, edges = graph
    edges = [(a, b) for a, b in edges if a != b]
    components = native_components()
    found = components(n, array("i", [a for a, _ in edges]), array("i", [b for _, b in edges]))
    assert {frozenset(c) for c in found} == networkx_components(n, edges)
    # the same components in the same order as the Python twin
    assert found == tarjan(n, array("i", [a for a, _ in edges]), array("i", [b for _, b in edges]))


@pytest.mark.skipif(native_components() is None, reason="the C SCC search is not built")
def test_c_tarjan_refuses_bad_input():
    components = native_components()
    with pytest.raises(ValueError):
        components(2, array("i", [0]), array("i", [5]))
    with pytest.raises(ValueError):
        components(2, array("i", [0, 1]), array("i", [1]))
    assert components(0, array("i"), array("i")) == []


def make_txns(windows):
    """Txns from (outcome, start, end) triples (end None: info, never completed)."""
    txns = []
    for i, (outcome, start, end) in enumerate(windows):
        op = Operation(i, i % 3, "txn", None, None, outcome, [], [], start,
                       float("inf") if outcome == "info" else end, i, None)
        txns.append(Txn(i, op, outcome, []))
    return txns


windows = st.lists(st.tuples(st.sampled_from(["ok", "ok", "ok", "info", "fail"]),
                             st.integers(0, 50), st.integers(0, 30)), max_size=25).map(
    lambda rows: sorted([(o, s, s + d) for o, s, d in rows], key=lambda r: r[1]))


def definition(txns):
    return {(a.id, b.id) for a in txns for b in txns
            if a.type == "ok" and b.type != "fail" and a.op.end < b.op.start}


@settings(max_examples=300, deadline=None)
@given(windows)
def test_realtime_chain_has_exactly_the_real_time_order(rows):
    txns = make_txns(rows)
    graph = DependencyGraph(len(txns))
    add_realtime_chain(txns, graph)
    g = nx.DiGraph()
    g.add_nodes_from(range(graph.nodes))
    g.add_edges_from(zip(graph.src, graph.dst))
    reach = {(a.id, b.id) for a in txns for b in txns
             if a.id != b.id and nx.has_path(g, a.id, b.id)}
    assert reach == definition(txns)


@pytest.mark.skipif(native_components() is None, reason="the C graph kernels are not built")
@settings(max_examples=300, deadline=None)
@given(windows, st.lists(st.integers(0, 3), max_size=25), st.booleans(), st.booleans())
def test_c_order_edges_equal_the_python_ones(rows, processes, process, realtime):
    txns = make_txns(rows)
    for t, p in zip(txns, processes):
        t.op.process = p
    if rows and processes and processes[0] == 3:  # float times: the Python twin runs
        txns[0].op.start = float(txns[0].op.start) + 0.5
    edges = {}
    for use_c in (True, False):
        graph = DependencyGraph(len(txns))
        add_order_edges(txns, graph, process, realtime, use_c=use_c)
        edges[use_c] = (graph.nodes, sorted(zip(graph.src, graph.dst, graph.kind)))
    assert edges[True] == edges[False]


@settings(max_examples=300, deadline=None)
@given(windows)
def test_sparse_realtime_edges_have_exactly_the_real_time_order(rows):
    txns = make_txns(rows)
    edges = realtime_edges(txns)
    assert set(edges) <= definition(txns)
    g = nx.DiGraph()
    g.add_nodes_from(t.id for t in txns)
    g.add_edges_from(edges)
    closure = {(a, b) for a in g for b in nx.descendants(g, a)}
    assert closure == definition(txns)


masks = st.sampled_from([WW, WR, RW, WW | RW, WR | RW, PROCESS, REALTIME, PROCESS | REALTIME])
component_edges = st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7), masks), min_size=2,
                           max_size=30)


@settings(max_examples=300, deadline=None)
@given(component_edges)
def test_reported_cycles_are_cycles_of_the_graph_named_by_their_labels(edges):
    edges = [(a, b, k) for a, b, k in edges if a != b]
    g = component_graph(edges)
    report = search_component(g, [0, PROCESS, PROCESS | REALTIME], Deadline(None))
    assert not report.undecided
    for name, cycle in report.found.items():
        steps = cycle.steps
        assert classify([k for _a, _b, k in steps]) == name == cycle.anomaly
        for (a, b, kind), (c, _d, _k) in zip(steps, steps[1:] + steps[:1]):
            assert b == c  # consecutive
            assert g[a][b]["kinds"] & kind
        assert len({a for a, _b, _k in steps}) == len(steps)  # simple


@settings(max_examples=200, deadline=None)
@given(component_edges)
def test_a_graph_with_a_dependency_cycle_gets_a_witness(edges):
    edges = [(a, b, k) for a, b, k in edges if a != b]
    data = nx.DiGraph([(a, b) for a, b, k in edges if k & (WW | WR | RW)])
    report = search_component(component_graph(edges), [0], Deadline(None))
    has_cycle = any(len(c) > 1 for c in nx.strongly_connected_components(data))
    assert bool(report.found) == has_cycle


def test_no_time_left_means_undecided_not_absent():
    # a ring of rw edges closed by wr edges: nothing decided when the budget is already spent
    edges = [(i, (i + 1) % 6, RW if i % 2 else WR) for i in range(6)]
    report = search_component(component_graph(edges), [0], Deadline(0.0))
    assert not report.found and report.undecided
    report = search_component(component_graph(edges), [0], Deadline(None))
    assert set(report.found) == {"G-nonadjacent"}


def test_the_shortest_cycle_of_a_small_component_is_reported():
    # a six-step write cycle, and a two-step one inside it: the two-step one is the witness
    ring = [(i, (i + 1) % 6, WW) for i in range(6)] + [(3, 2, WW)]
    report = search_component(component_graph(ring), [0], Deadline(None))
    assert len(report.found["G0"].steps) == 2
    # the same for an rw edge closed by a long and by a short dependency path
    edges = [(0, 1, RW)] + [(i, i + 1, WR) for i in range(1, 6)] + [(6, 0, WR), (1, 0, WR)]
    report = search_component(component_graph(edges), [0], Deadline(None))
    assert [k for _a, _b, k in report.found["G-single"].steps] == [RW, WR]
