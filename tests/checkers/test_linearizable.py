"""Hand-made histories for the linearizability checker: each pins one rule of the contract."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from checkers.history import Event, History, HistoryError
from checkers.linearizable import LinearizabilityChecker


def history(*rows: tuple) -> History:
    """Rows of (process, type, f, value[, key]); index and time are the row number."""
    events = []
    for i, row in enumerate(rows):
        process, type_, f, value = row[:4]
        key: Any = row[4] if len(row) > 4 else None
        events.append(Event(i, i, process, type_, f, value, key))
    return History(events)


def check(h: History, model: str = "cas-register", **kw: Any) -> dict:
    return LinearizabilityChecker(model, **kw).check(h)


RESULT_KEYS = {"valid", "model", "operations", "partitions", "elapsed_s", "note", "failures",
               "unknown"}
FAILURE_KEYS = {"key", "linearized", "state", "state_description", "unplaceable", "expected",
                "ops", "later_ops"}
OP_KEYS = {"id", "process", "f", "key", "invoke_value", "value", "type", "start", "end", "node",
           "invoke_index", "complete_index", "description"}


def test_empty_history_is_valid_with_a_note():
    r = check(History([]))
    assert r["valid"] is True and r["note"] == "no operations" and r["operations"] == 0
    assert set(r) == RESULT_KEYS


def test_sequential_register_valid_and_stale_read_invalid():
    ok = history((0, "invoke", "write", 1), (0, "ok", "write", 1),
                 (1, "invoke", "read", None), (1, "ok", "read", 1))
    assert check(ok)["valid"] is True
    stale = history((0, "invoke", "write", 1), (0, "ok", "write", 1),
                    (0, "invoke", "write", 2), (0, "ok", "write", 2),
                    (1, "invoke", "read", None), (1, "ok", "read", 1))
    r = check(stale)
    assert r["valid"] is False
    (f,) = r["failures"]
    assert set(f) == FAILURE_KEYS
    assert f["linearized"] == [0, 1] and f["unplaceable"] == [2] and f["state"] == 2
    assert "returned 1" in f["expected"] and "held 2" in f["expected"]
    assert all(set(op) == OP_KEYS for op in f["ops"])


def test_concurrent_ops_may_take_effect_in_either_order():
    h = history((0, "invoke", "write", 1), (1, "invoke", "read", None),
                (1, "ok", "read", 1), (0, "ok", "write", 1))
    assert check(h)["valid"] is True


def test_real_time_order_is_honoured():
    # the read starts after the write of 2 returned: it cannot see the older 1
    h = history((0, "invoke", "write", 1), (0, "ok", "write", 1),
                (1, "invoke", "write", 2), (1, "ok", "write", 2),
                (2, "invoke", "read", None), (2, "ok", "read", 1))
    assert check(h)["valid"] is False


def test_read_of_absent_register_before_any_write():
    h = history((0, "invoke", "read", None), (0, "ok", "read", None),
                (1, "invoke", "write", 5), (1, "ok", "write", 5),
                (0, "invoke", "read", None), (0, "ok", "read", None))
    assert check(h)["valid"] is False


def test_info_write_may_take_effect_late_after_ops_invoked_later():
    # write 2 times out (info) early; write 3 completes later; a read after both sees 2, so the
    # info write must have taken effect after write 3, although write 3 was invoked later.
    h = history((0, "invoke", "write", 2), (0, "info", "write", 2),
                (1, "invoke", "write", 3), (1, "ok", "write", 3),
                (2, "invoke", "read", None), (2, "ok", "read", 3),
                (2, "invoke", "read", None), (2, "ok", "read", 2))
    assert check(h)["valid"] is True


def test_info_write_may_never_happen():
    h = history((0, "invoke", "write", 2), (0, "info", "write", 2),
                (1, "invoke", "read", None), (1, "ok", "read", None))
    assert check(h)["valid"] is True


def test_info_write_cannot_happen_twice():
    h = history((0, "invoke", "write", 2),
                (1, "invoke", "write", 3), (1, "ok", "write", 3),
                (2, "invoke", "read", None), (2, "ok", "read", 2),
                (2, "invoke", "read", None), (2, "ok", "read", 3),
                (2, "invoke", "read", None), (2, "ok", "read", 2))
    assert check(h)["valid"] is False


def test_never_completed_invoke_reads_as_info():
    h = history((0, "invoke", "write", 7), (1, "invoke", "read", None), (1, "ok", "read", 7))
    assert check(h)["valid"] is True


def test_info_read_constrains_nothing():
    h = history((0, "invoke", "write", 1), (0, "ok", "write", 1),
                (1, "invoke", "read", None), (1, "info", "read", 99))
    r = check(h)
    assert r["valid"] is True and "left out" in r["note"]


def test_failed_cas_is_dropped():
    # the failed cas would be illegal as a successful one; it did not happen
    h = history((0, "invoke", "write", 1), (0, "ok", "write", 1),
                (1, "invoke", "cas", [5, 6]), (1, "fail", "cas", [5, 6]),
                (1, "invoke", "cas", [1, 2]), (1, "ok", "cas", [1, 2]),
                (2, "invoke", "read", None), (2, "ok", "read", 2))
    assert check(h)["valid"] is True


def test_ok_cas_needs_the_expected_value():
    h = history((0, "invoke", "write", 1), (0, "ok", "write", 1),
                (1, "invoke", "cas", [5, 6]), (1, "ok", "cas", [5, 6]))
    r = check(h)
    assert r["valid"] is False and "cas from 5 to 6" in r["failures"][0]["expected"]


def test_info_cas_may_apply_late():
    h = history((0, "invoke", "write", 1), (0, "ok", "write", 1),
                (1, "invoke", "cas", [1, 2]), (1, "info", "cas", [1, 2]),
                (2, "invoke", "read", None), (2, "ok", "read", 1),
                (2, "invoke", "read", None), (2, "ok", "read", 2))
    assert check(h)["valid"] is True


def test_keys_are_checked_independently_and_every_failure_reported():
    rows = []
    for k in ("a", "b", "c"):
        rows += [(0, "invoke", "write", 1, k), (0, "ok", "write", 1, k)]
    rows += [(1, "invoke", "read", None, "a"), (1, "ok", "read", 2, "a"),
             (1, "invoke", "read", None, "b"), (1, "ok", "read", 1, "b"),
             (1, "invoke", "read", None, "c"), (1, "ok", "read", 3, "c")]
    r = check(history(*rows))
    assert r["valid"] is False and r["partitions"] == 3
    assert [f["key"] for f in r["failures"]] == ["a", "c"]
    unsplit = check(history(*rows), "cas-register", split_keys=False)
    # the cas-register holds one value: as one object the keys interfere
    assert unsplit["partitions"] == 1


def test_nemesis_events_are_ignored():
    h = History([Event(0, 0, "nemesis", "invoke", "start-kill", {"fault": "kill"}),
                 Event(1, 1, 0, "invoke", "write", 1), Event(2, 2, 0, "ok", "write", 1),
                 Event(3, 3, "nemesis", "info", "start-kill", {"fault": "kill"}),
                 Event(4, 4, 1, "invoke", "read", None), Event(5, 5, 1, "ok", "read", 1)])
    assert check(h)["valid"] is True


def test_an_op_the_model_cannot_read_is_bad_input_naming_the_op():
    h = history((0, "invoke", "write", 1), (0, "ok", "write", 1),
                (0, "invoke", "cas", [1, 2]), (0, "ok", "cas", [1, 2]))
    with pytest.raises(HistoryError, match=r"op 1 \(:index 2, process 0, cas\): the register "
                                           r"model has no operation 'cas'"):
        check(h, "register")
    bad_cas = history((1, "invoke", "cas", 7), (1, "ok", "cas", 7))
    with pytest.raises(HistoryError, match=r"op 0 \(:index 0.*a cas needs the value "
                                           r"\[expected, new\], got 7"):
        check(bad_cas, "cas-register")


def test_timeout_gives_unknown_never_a_wrong_answer():
    # many concurrent writes and an impossible read: the search must exhaust every order
    rows = [(p, "invoke", "write", p) for p in range(14)]
    rows += [(20, "invoke", "read", None), (20, "ok", "read", 99)]
    rows += [(p, "ok", "write", p) for p in range(14)]
    r = check(history(*rows), timeout=0.0)
    assert r["valid"] == "unknown"
    assert r["unknown"] and "timed out" in r["unknown"][0]["reason"]
    assert check(history(*rows), timeout=30)["valid"] is False


def test_every_model_has_a_valid_and_an_invalid_case():
    cases: dict[str, tuple[list, list]] = {
        "register": ([(0, "invoke", "write", 1), (0, "ok", "write", 1),
                      (1, "invoke", "read", None), (1, "ok", "read", 1)],
                     [(1, "invoke", "read", None), (1, "ok", "read", 1)]),
        "kv": ([(0, "invoke", "append", "x", "k"), (0, "ok", "append", "x", "k"),
                (1, "invoke", "get", None, "k"), (1, "ok", "get", "x", "k")],
               [(0, "invoke", "put", "a", "k"), (0, "ok", "put", "a", "k"),
                (1, "invoke", "get", None, "k"), (1, "ok", "get", "", "k")]),
        "multi-register": ([(0, "invoke", "txn", [["w", "a", 1], ["w", "b", 2]]),
                            (0, "ok", "txn", [["w", "a", 1], ["w", "b", 2]]),
                            (1, "invoke", "txn", [["r", "a", None], ["r", "b", None]]),
                            (1, "ok", "txn", [["r", "a", 1], ["r", "b", 2]])],
                           [(0, "invoke", "txn", [["w", "a", 1], ["w", "b", 2]]),
                            (0, "ok", "txn", [["w", "a", 1], ["w", "b", 2]]),
                            (1, "invoke", "txn", [["r", "a", None], ["r", "b", None]]),
                            (1, "ok", "txn", [["r", "a", 1], ["r", "b", None]])]),
        "mutex": ([(0, "invoke", "acquire", None), (0, "ok", "acquire", None),
                   (0, "invoke", "release", None), (0, "ok", "release", None),
                   (1, "invoke", "acquire", None), (1, "ok", "acquire", None)],
                  [(0, "invoke", "acquire", None), (0, "ok", "acquire", None),
                   (1, "invoke", "acquire", None), (1, "ok", "acquire", None)]),
        "fifo-queue": ([(0, "invoke", "enqueue", 1), (0, "ok", "enqueue", 1),
                        (0, "invoke", "enqueue", 2), (0, "ok", "enqueue", 2),
                        (1, "invoke", "dequeue", None), (1, "ok", "dequeue", 1)],
                       [(0, "invoke", "enqueue", 1), (0, "ok", "enqueue", 1),
                        (0, "invoke", "enqueue", 2), (0, "ok", "enqueue", 2),
                        (1, "invoke", "dequeue", None), (1, "ok", "dequeue", 2)]),
        "unordered-queue": ([(0, "invoke", "enqueue", 1), (0, "ok", "enqueue", 1),
                             (0, "invoke", "enqueue", 2), (0, "ok", "enqueue", 2),
                             (1, "invoke", "dequeue", None), (1, "ok", "dequeue", 2)],
                            [(0, "invoke", "enqueue", 1), (0, "ok", "enqueue", 1),
                             (1, "invoke", "dequeue", None), (1, "ok", "dequeue", 3)]),
        "set": ([(0, "invoke", "add", 1), (0, "ok", "add", 1),
                 (1, "invoke", "read", None), (1, "ok", "read", [1])],
                [(0, "invoke", "add", 1), (0, "ok", "add", 1),
                 (1, "invoke", "read", None), (1, "ok", "read", [])]),
        "counter": ([(0, "invoke", "add", 2), (0, "ok", "add", 2),
                     (1, "invoke", "read", None), (1, "ok", "read", 2)],
                    [(0, "invoke", "add", 2), (0, "ok", "add", 2),
                     (1, "invoke", "read", None), (1, "ok", "read", 3)]),
    }
    for model, (good, bad) in cases.items():
        assert check(history(*good), model)["valid"] is True, model
        r = check(history(*bad), model)
        assert r["valid"] is False, model
        assert r["failures"][0]["expected"], model


def test_unordered_queue_info_dequeue_removes_some_element():
    h = history((0, "invoke", "enqueue", 1), (0, "ok", "enqueue", 1),
                (0, "invoke", "enqueue", 2), (0, "ok", "enqueue", 2),
                (1, "invoke", "dequeue", None), (1, "info", "dequeue", None),
                (2, "invoke", "dequeue", None), (2, "ok", "dequeue", 1),
                (2, "invoke", "dequeue", None), (2, "ok", "dequeue", None))
    assert check(h, "unordered-queue")["valid"] is True


def test_parallel_workers_agree_with_serial():
    rows = []
    for k in range(6):
        rows += [(0, "invoke", "write", k, k), (0, "ok", "write", k, k),
                 (1, "invoke", "read", None, k), (1, "ok", "read", k if k != 3 else 9, k)]
    serial = check(history(*rows), workers=1)
    parallel = check(history(*rows), workers=2)
    assert serial["valid"] is False and parallel["valid"] is False
    assert [f["key"] for f in serial["failures"]] == [f["key"] for f in parallel["failures"]] == [3]


def test_evidence_names_the_exact_state_where_the_search_merged_unobservable_ones():
    # 2 and 3 are never read, so the search merges them into one unobservable state; the
    # evidence replays the path to say which value the register held
    rows = [(0, "invoke", "write", 1), (0, "ok", "write", 1),
            (0, "invoke", "write", 2), (0, "ok", "write", 2),
            (1, "invoke", "read", None), (2, "invoke", "write", 3),
            (2, "ok", "write", 3), (1, "ok", "read", 1)]
    for model in ("register", "cas-register"):
        (f,) = check(history(*rows), model)["failures"]
        assert "UNOBSERVABLE" not in json.dumps(f)
        path = {0: 1, 1: 2, 3: 3}  # op ids number the invocations
        last_write = [i for i in f["linearized"] if i in path][-1]
        assert f["state"] == path[last_write] and f"held {f['state']}" in f["expected"]


def test_ops_that_began_after_the_failure_point_are_counted_not_listed():
    rows = [(0, "invoke", "write", 1), (0, "ok", "write", 1),
            (1, "invoke", "read", None), (2, "invoke", "write", 2),  # overlaps the stale read
            (1, "ok", "read", 3), (2, "ok", "write", 2)]
    for i in range(5):  # all begin after the stale read and the write beside it returned
        rows += [(0, "invoke", "write", 10 + i), (0, "ok", "write", 10 + i)]
    r = check(history(*rows))
    (f,) = r["failures"]
    shown = [op["id"] for op in f["ops"]]
    assert f["unplaceable"] and set(f["unplaceable"]) | set(f["linearized"]) <= set(shown)
    assert shown == [0, 1, 2] and f["later_ops"] == 5


def test_huge_partition_evidence_window_is_bounded():
    rows = []
    for i in range(400):
        rows += [(0, "invoke", "write", i), (0, "ok", "write", i)]
    rows += [(1, "invoke", "read", None), (1, "ok", "read", 3)]
    r = check(history(*rows))
    (f,) = r["failures"]
    assert len(f["ops"]) <= 201 and 400 in f["unplaceable"]
    assert len(f["linearized"]) == 400
    assert all(op["end"] is not None for op in f["ops"])
    assert not math.isinf(f["ops"][0]["start"])


@pytest.mark.parametrize("model", ["register", "cas-register", "kv", "set", "counter"])
def test_result_is_json_serialisable(model):
    import json
    h = history((0, "invoke", "read", None, "k"), (0, "ok", "read", "zzz", "k"))
    json.dumps(check(h, model))


@pytest.mark.parametrize("model, rows", [
    ("cas-register", [(0, "write", 1, 1), (0, "read", None, 1), (1, "cas", [1, 2], [1, 2]),
                      (0, "read", None, 1), (1, "write", 3, 3)]),
    ("kv", [(0, "append", "x", "x", "a"), (1, "get", None, "x", "a"),
            (0, "append", "y", "y", "a"), (1, "get", None, "x", "a")]),
])
def test_sequential_shortcut_gives_the_searchs_evidence(model, rows):
    # a partition without concurrency is replayed instead of searched; its evidence must be
    # what the search would have found
    from checkers.linearizable.evidence import failure
    from checkers.linearizable.partition import prepare
    from checkers.linearizable.search import Deepest, search
    from checkers.registry import get_model
    events = []
    for i, row in enumerate(rows):
        process, f, invoke_value, value = row[:4]
        key = row[4] if len(row) > 4 else None
        events += [Event(2 * i, 10 * i, process, "invoke", f, invoke_value, key),
                   Event(2 * i + 1, 10 * i + 5, process, "ok", f, value, key)]
    h = History(events)
    (shortcut,) = check(h, model)["failures"]
    m = get_model(model)
    ops = h.operations()
    prep = prepare(m, ops)
    deepest = Deepest()
    assert search(prep, m.init(), None, deepest) is False
    searched = failure(m, prep, ops, deepest)
    assert shortcut == searched
    assert shortcut["unplaceable"] == [3]
