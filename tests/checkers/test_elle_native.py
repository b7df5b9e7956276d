"""The list-append C loops (_append.c) against their Python twins in list_append.py: the same
index (every structure) and the same dependency edges, on generated histories valid and not,
and the same refusal of malformed ones (C leaves those to Python, which names the problem)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkers.elle import list_append, native
from checkers.elle.graph import DependencyGraph
from checkers.elle.transactions import TxnShapeError, transactions
from tests.checkers.elle_txns import T, history

pytestmark = pytest.mark.skipif(native.extension("_append") is None,
                                reason="the C list-append loops are not built")

FIELDS = ("writer", "intermediate", "appended_after", "failed_keys", "longest", "longest_reader",
          "read_txn", "read_key", "read_value", "rereads", "read_then_append", "order",
          "position", "repeated", "read_end", "incompatible", "intermediate_reads", "unread")

elements = st.integers(1, 6)
mop = st.one_of(
    st.tuples(st.just("append"), st.sampled_from(["x", "y", 3]), elements),
    st.tuples(st.just("r"), st.sampled_from(["x", "y", 3]),
              st.one_of(st.none(), st.lists(elements, max_size=6))))
txn = st.tuples(st.lists(mop, min_size=1, max_size=5),
                st.sampled_from(["ok", "ok", "ok", "info", "fail"]))


def both(txns):
    c = list_append.ListAppendIndex(txns, use_c=True)
    py = list_append.ListAppendIndex(txns, use_c=False)
    assert c.c is not None and py.c is None
    return c, py


def edges(index):
    graph = DependencyGraph(len(index.txns))
    list_append.add_dependencies(index, graph)
    return sorted(zip(graph.src, graph.dst, graph.kind))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(txn, min_size=1, max_size=8), st.booleans())
def test_c_and_python_build_the_same_index_and_edges(rows, unique):
    if unique:  # appended values numbered per key (reads may still show anything)
        counters: dict = {}
        for mops, _outcome in rows:
            for i, (f, k, v) in enumerate(mops):
                if f == "append":
                    counters[k] = counters.get(k, 0) + 1
                    mops[i] = (f, k, counters[k])
    h = history(*[T(*mops, type=outcome) for mops, outcome in rows])
    txns, _ = transactions(h.operations())
    try:
        c, py = both(txns)
    except TxnShapeError as python_error:  # e.g. a value appended twice: both must refuse
        with pytest.raises(TxnShapeError) as c_error:
            list_append.ListAppendIndex(txns, use_c=True)
        assert str(c_error.value) == str(python_error)
        return
    for name in FIELDS:
        assert getattr(c, name) == getattr(py, name), name
    assert edges(c) == edges(py)


def test_malformed_reads_are_left_to_python():
    txns, _ = transactions(history(T(["r", "x", 5])).operations())
    with pytest.raises(TxnShapeError, match="list-append reads return lists"):
        list_append.ListAppendIndex(txns, use_c=True)
