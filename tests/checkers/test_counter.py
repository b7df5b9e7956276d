"""The counter checker: each ok read between the adds certainly done and the adds possibly done."""

import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings, strategies as st

from checkers.counter import CounterChecker
from checkers.history import Event, History
from checkers.registry import build_checker

PROJECT = Path(__file__).resolve().parents[2]


def history(*rows):
    """rows: (time, process, type, f, value); sorted by time (stable), indexed in that order."""
    events = [Event(i, t, p, type_, f, value, "c", None, None, {})
              for i, (t, p, type_, f, value) in enumerate(sorted(rows, key=lambda r: r[0]))]
    return History(events)


def op(p, f, value, start, end, outcome="ok", result=None):
    rows = [(start, p, "invoke", f, value)]
    if outcome is not None:
        rows.append((end, p, outcome, f, value if result is None else result))
    return rows


def check(*groups):
    return CounterChecker().check(history(*[r for g in groups for r in g]))


def test_reads_that_follow_the_adds_are_valid():
    r = check(op(0, "add", 2, 0, 5), op(1, "add", 3, 1, 6),
              op(2, "read", None, 10, 12, result=5), op(0, "add", 1, 20, 25),
              op(1, "read", None, 30, 31, result=6))
    assert r["valid"] is True and r["reads"] == 2


def test_a_read_missing_an_acknowledged_add_is_invalid_and_names_its_bounds():
    r = check(op(0, "add", 2, 0, 5), op(1, "add", 3, 1, 6),
              op(2, "read", None, 10, 12, result=2))
    assert r["valid"] is False
    e = r["errors"][0]
    assert (e["value"], e["lower"], e["upper"], e["process"]) == (2, 5, 5, 2)
    assert "returned 2, outside [5, 5]" in r["failures"][0]


def test_a_read_above_every_possible_add_is_invalid():
    r = check(op(0, "add", 2, 0, 5), op(2, "read", None, 10, 12, result=9))
    assert r["valid"] is False and r["errors"][0]["upper"] == 2


def test_concurrent_and_unknown_adds_widen_the_upper_bound_only():
    # add 3 runs across the read; add 4 ended info (may land any time): the read may see either.
    r = check(op(0, "add", 3, 8, 20), op(1, "add", 4, 0, 2, outcome="info"),
              op(2, "read", None, 10, 12, result=7))
    assert r["valid"] is True
    r = check(op(0, "add", 3, 8, 20), op(2, "read", None, 10, 12, result=0))
    assert r["valid"] is True  # the concurrent add may not have happened yet


def test_failed_adds_never_count_and_an_add_invoked_after_the_read_ended_cannot_be_seen():
    r = check(op(0, "add", 3, 0, 2, outcome="fail"), op(2, "read", None, 10, 12, result=3))
    assert r["valid"] is False
    r = check(op(2, "read", None, 10, 12, result=3), op(0, "add", 3, 13, 14))
    assert r["valid"] is False and r["errors"][0]["upper"] == 0


def test_an_add_with_no_completion_is_unknown_and_may_be_seen():
    r = check(op(0, "add", 3, 0, None, outcome=None), op(2, "read", None, 10, 12, result=3))
    assert r["valid"] is True


def test_no_successful_read_is_unknown_and_a_non_number_is_malformed():
    assert check(op(0, "add", 1, 0, 1))["valid"] == "unknown"
    r = check(op(2, "read", None, 10, 12, result="x"))
    assert r["valid"] is False and "not a number" in r["failures"][0]


def test_keys_are_judged_independently():
    h = History([Event(0, 0, 0, "invoke", "add", 5, "a", None, None, {}),
                 Event(1, 1, 0, "ok", "add", 5, "a", None, None, {}),
                 Event(2, 2, 1, "invoke", "read", None, "b", None, None, {}),
                 Event(3, 3, 1, "ok", "read", 0, "b", None, None, {})])
    assert CounterChecker().check(h)["valid"] is True


def test_the_registry_builds_it():
    assert build_checker({"name": "counter"}).name == "counter"


# -- properties -----------------------------------------------------------------------------------

@st.composite
def executions(draw):
    """A concurrent execution of a real counter: each op takes effect at one instant between its
    invocation and its completion, reads return the count at that instant; some outcomes are then
    hidden (info, or no completion) as a client would see them."""
    n = draw(st.integers(1, 25))
    spans = []
    for p in range(n):
        start = draw(st.integers(0, 100))
        effect = start + draw(st.integers(0, 20))
        end = effect + draw(st.integers(0, 20))
        f = draw(st.sampled_from(["add", "read"]))
        fate = draw(st.sampled_from(["ok", "ok", "ok", "info", "fail", None]))
        spans.append((effect, p, f, draw(st.integers(1, 5)), start, end, fate))
    count, rows = 0, []
    for effect, p, f, delta, start, end, fate in sorted(spans):
        if f == "add":
            if fate == "fail":  # certainly had no effect
                rows += op(p, "add", delta, start, end, "fail")
                continue
            count += delta
            rows += op(p, "add", delta, start, end, fate)
        else:
            rows += op(p, "read", None, start, end, "ok" if fate else None, result=count)
    return rows


@settings(max_examples=150, deadline=None)
@given(executions())
def test_every_real_counter_execution_is_valid(rows):
    assert check(rows)["valid"] in (True, "unknown")


def brute_force_bounds(h, read):
    lower = upper = 0
    for o in h.operations():
        if o.f != "add":
            continue
        if o.type == "ok" and o.complete_index < read.invoke_index:
            lower += o.invoke_value
        if o.type != "fail" and o.invoke_index < read.complete_index:
            upper += o.invoke_value
    return lower, upper


@settings(max_examples=150, deadline=None)
@given(executions(), st.data())
def test_verdicts_match_the_definition_even_for_wrong_reads(rows, data):
    # Corrupt some reads, then compare every read's verdict with the definition computed naively.
    rows = [(t, p, type_, f, data.draw(st.integers(-2, 30)) if type_ == "ok" and f == "read"
             and data.draw(st.booleans()) else value) for t, p, type_, f, value in rows]
    h = history(*rows)
    result = CounterChecker().check(h)
    wrong = set()
    for o in h.operations():
        if o.f == "read" and o.type == "ok":
            lower, upper = brute_force_bounds(h, o)
            if not lower <= o.value <= upper:
                wrong.add(o.id)
    assert {e["op"] for e in result.get("errors", [])} == wrong
    assert result["valid"] is (not wrong) or (result["valid"] == "unknown" and not wrong)


BAD_HISTORY = """\
{"index":0,"time":0,"process":0,"type":"invoke","f":"add","value":2,"key":"counter"}
{"index":1,"time":10,"process":0,"type":"ok","f":"add","value":2,"key":"counter"}
{"index":2,"time":20,"process":1,"type":"invoke","f":"add","value":3,"key":"counter"}
{"index":3,"time":30,"process":1,"type":"ok","f":"add","value":3,"key":"counter"}
{"index":4,"time":40,"process":2,"type":"invoke","f":"read","value":null,"key":"counter"}
{"index":5,"time":50,"process":2,"type":"ok","f":"read","value":2,"key":"counter"}
"""


def test_check_names_the_read_and_its_bounds(tmp_path):
    (tmp_path / "bad-counter.jsonl").write_text(BAD_HISTORY)
    p = subprocess.run([sys.executable, "-m", "harness", "check", "--checker", "counter",
                        "bad-counter.jsonl"], capture_output=True, text=True, timeout=60,
                       cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(PROJECT)})
    assert p.returncode == 1, p.stdout + p.stderr
    assert "bad-counter.jsonl\tINVALID" in p.stdout
    assert "counter" in p.stdout and "read op 2" in p.stdout and "returned 2, outside [5, 5]" \
        in p.stdout, p.stdout
