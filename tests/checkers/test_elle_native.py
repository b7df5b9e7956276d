"""The list-append C loops (_append.c) against their Python twins in list_append.py: the same
index (every structure) and the same dependency edges, on generated histories valid and not,
and the same refusal of malformed ones (C leaves those to Python, which names the problem)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
          "read_txn", "read_key", "read_value", "internal", "future_reads", "appends_after_read",
          "order", "position", "repeated", "read_end", "incompatible", "intermediate_reads",
          "unread")

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


scalar = st.one_of(st.integers(-3, 300), st.sampled_from(["x", "", "r", True, None, 1.5, (1,)]))
micro_op = st.one_of(
    st.lists(st.one_of(st.sampled_from(["r", "append", "w", "read", "write", "a", 5, "rr"]),
                       scalar), min_size=3, max_size=3),
    st.lists(scalar, max_size=4), scalar, st.tuples(st.just("r"), scalar, scalar))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.lists(micro_op, max_size=4), scalar), max_size=12))
def test_c_and_python_take_the_same_values_as_plain_micro_ops(values):
    """transactions() asks _append.c which values are plain micro-ops; _plain_mops decides
    without it."""
    from checkers.elle.transactions import _plain_mops

    expected = bytes([type(v) is list and _plain_mops(v) for v in values])
    assert native.extension("_append").plain_mops(values) == expected


GENERATE = Path(__file__).resolve().parents[2] / "bench" / "elle" / "generate.py"
CHECK = """
import json, sys
from checkers.elle import ElleChecker, native
from checkers.formats import read_history
from checkers.native import core

def timeless(value):
    if isinstance(value, dict):
        return {k: timeless(v) for k, v in value.items() if k not in ("seconds", "elapsed_s")}
    if isinstance(value, list):
        return [timeless(v) for v in value]
    return value

results = {path: timeless(ElleChecker(consistency=model).check(read_history(path)))
           for path, model in zip(sys.argv[1::2], sys.argv[2::2])}
print(json.dumps({"core": core()[0], "c": native.extension("_append") is not None,
                  "results": results}, default=str, sort_keys=True))
"""


def test_the_whole_check_is_the_same_without_the_compiled_core_and_c_loops(tmp_path):
    """What a user without a C compiler gets (SPLITBRAIN_PURE_PYTHON=1: the interpreted core,
    the Python reader and list-append twins) against the build: the whole result, every anomaly
    and explanation, on generated histories valid and not."""
    cases = {"serial": (["--txns", "3000"], "strict-serializable"),
             "stale": (["--txns", "2000", "--stale-reads", "0.05"], "strict-serializable"),
             "gsi": (["--txns", "1500", "--snapshot-isolation", "--snapshot-lag", "50"],
                     "serializable")}
    args = []
    for name, (options, model) in cases.items():
        path = tmp_path / f"{name}.jsonl"
        subprocess.run([sys.executable, str(GENERATE), str(path), *options], check=True,
                       timeout=120)
        args += [str(path), model]
    outputs = {}
    for pure in (True, False):
        env = {k: v for k, v in os.environ.items() if k != "SPLITBRAIN_PURE_PYTHON"}
        if pure:
            env["SPLITBRAIN_PURE_PYTHON"] = "1"
        run = subprocess.run([sys.executable, "-c", CHECK, *args], capture_output=True,
                             text=True, env=env, cwd=tmp_path, timeout=600)
        assert run.returncode == 0, run.stderr
        outputs[pure] = json.loads(run.stdout)
    assert outputs[True]["core"] == "interpreted" and not outputs[True]["c"]
    assert outputs[False]["c"]
    verdicts = {Path(p).stem: r["valid"] for p, r in outputs[True]["results"].items()}
    assert verdicts == {"serial": True, "stale": False, "gsi": False}  # evidence exercised
    assert outputs[False]["results"] == outputs[True]["results"]
