"""The elle checker on one small history per anomaly, each written from the anomaly's
definition (Adya's thesis, "Weak Consistency", ch. 3-4; Kingsbury & Alvaro, "Elle", VLDB 2020,
sections 3-5), and on histories that must pass.

Unless a test says otherwise, every transaction runs on its own process and all of them overlap
in time (tests/checkers/elle_txns.py), so only reads and writes order them.
"""

from __future__ import annotations

import pytest

from checkers.elle import ElleChecker
from checkers.elle.checker import OptionError
from checkers.registry import build_checker
from tests.checkers.elle_txns import T, history


def check(*txns, **options):
    return ElleChecker(**options).check(history(*txns))


def assert_found(result, *kinds, not_=None):
    assert result["valid"] is False, result
    assert set(result["anomaly_types"]) == set(kinds), result["anomaly_types"]
    if not_ is not None:
        assert result["not"] == sorted(not_), result["not"]


# -- cycles, list-append -------------------------------------------------------------------------

def test_g0_write_cycle():
    # Adya G0: a cycle of write dependencies. T0 appended to x before T1, T1 to y before T0.
    r = check(T(["append", "x", 1], ["append", "y", 1]),
              T(["append", "x", 2], ["append", "y", 2]),
              T(["r", "x", [1, 2]]), T(["r", "y", [2, 1]]))
    assert_found(r, "G0", not_=["read-uncommitted"])
    cycle = r["anomalies"]["G0"][0]
    assert [s["kind"] for s in cycle["steps"]] == ["ww", "ww"]
    assert "T0 appended 1 to key 'x' before T1 appended 2, because T2 read key 'x' as [1, 2]" \
        in cycle["explanation"]


def test_g1c_circular_information_flow():
    # Adya G1c: a cycle of dependencies with a read dependency: each read the other's write.
    r = check(T(["append", "x", 1], ["r", "y", [1]]), T(["append", "y", 1], ["r", "x", [1]]))
    assert_found(r, "G1c", not_=["read-committed"])
    assert {s["kind"] for s in r["anomalies"]["G1c"][0]["steps"]} == {"wr"}


def test_g_single_read_skew():
    # Adya G-single: exactly one anti-dependency. T0 saw T1's y but not its x.
    r = check(T(["r", "x", []], ["r", "y", [1]]), T(["append", "x", 1], ["append", "y", 1]))
    assert_found(r, "G-single", not_=["repeatable-read", "snapshot-isolation"])
    assert r["also_not"] == sorted(["serializable", "strict-serializable",
                                    "strong-session-serializable",
                                    "strong-session-snapshot-isolation",
                                    "strong-snapshot-isolation"])
    steps = r["anomalies"]["G-single"][0]["steps"]
    assert [s["kind"] for s in steps] == ["rw", "wr"]
    assert "did not see 1" in steps[0]["explanation"]


def test_g_nonadjacent():
    # Elle's G-nonadjacent: two rw edges, never next to each other (wr edges between them).
    r = check(T(["append", "x", 1]), T(["r", "x", [1]], ["r", "y", []]),
              T(["append", "y", 1]), T(["r", "y", [1]], ["r", "x", []]))
    assert_found(r, "G-nonadjacent", not_=["repeatable-read", "snapshot-isolation"])
    kinds = [s["kind"] for s in r["anomalies"]["G-nonadjacent"][0]["steps"]]
    assert sorted(kinds) == ["rw", "rw", "wr", "wr"]


def test_g2_item_write_skew_is_allowed_by_snapshot_isolation():
    # Adya G2-item with two adjacent rw edges: write skew, which snapshot isolation permits.
    txns = (T(["r", "x", []], ["r", "y", []], ["append", "x", 1]),
            T(["r", "x", []], ["r", "y", []], ["append", "y", 1]))
    r = check(*txns)
    assert_found(r, "G2-item", not_=["repeatable-read"])
    assert "snapshot-isolation" not in r["not"] + r["also_not"]
    si = check(*txns, consistency="snapshot-isolation")
    assert si["valid"] is True and si["anomaly_types"] == ["G2-item"]


def test_g_single_realtime_stale_read():
    # T0 completed before T1 began, yet T1 did not see T0's append.
    r = check(T(["append", "x", 1], start=0, end=10), T(["r", "x", []], start=20, end=30))
    assert_found(r, "G-single-realtime", not_=["strong-snapshot-isolation"])
    step = [s for s in r["anomalies"]["G-single-realtime"][0]["steps"] if s["kind"] == "realtime"]
    assert "completed at 0.010000 s, before T2 was invoked at 0.020000 s" in step[0]["explanation"]
    assert check(T(["append", "x", 1], start=0, end=10), T(["r", "x", []], start=20, end=30),
                 consistency="serializable")["valid"] is True


def test_g_single_process_lost_own_write():
    # The same stale read within one session: strong session models rule it out.
    r = check(T(["append", "x", 1], process=7, start=0, end=10),
              T(["r", "x", []], process=7, start=20, end=30))
    assert_found(r, "G-single-process", not_=["strong-session-snapshot-isolation"])
    assert "on the same process 7" in r["anomalies"]["G-single-process"][0]["explanation"]


def test_g0_realtime_and_g1c_process():
    # T1 began after T0 completed, yet T1's append comes first in x's order.
    r = check(T(["append", "x", 1], start=0, end=10), T(["append", "x", 2], start=20, end=30),
              T(["r", "x", [2, 1]], start=40, end=50))
    assert_found(r, "G0-realtime", not_=["strong-read-uncommitted"])
    # T0 read what T1, next on its process, appended: a read from its own session's future.
    r = check(T(["r", "y", [1]], process=3, start=0, end=10),
              T(["append", "y", 1], process=3, start=20, end=30))
    assert_found(r, "G1c-process", not_=["strong-session-read-committed"])


def test_equal_end_and_start_times_are_concurrent():
    r = check(T(["append", "x", 1], start=0, end=10), T(["r", "x", []], start=10, end=30))
    assert r["valid"] is True


# -- anomalies that are not cycles, list-append --------------------------------------------------

def test_g1a_aborted_read():
    # Adya G1a: a committed transaction read a value a failed one wrote.
    r = check(T(["append", "x", 1], type="fail"), T(["r", "x", [1]]))
    assert_found(r, "G1a", not_=["read-committed"])
    case = r["anomalies"]["G1a"][0]
    assert case["element"] == 1 and case["writer"]["txn"] == "T0" and case["writer"]["type"] == "fail"


def test_g1b_intermediate_read():
    # Adya G1b: T1 read x as it was between T0's two appends.
    r = check(T(["append", "x", 1], ["append", "x", 2]), T(["r", "x", [1]]))
    assert_found(r, "G1b", not_=["read-committed"])


def test_own_intermediate_state_is_not_g1b():
    r = check(T(["append", "x", 1], ["r", "x", [1]], ["append", "x", 2]), T(["r", "x", [1, 2]]))
    assert r["valid"] is True


def test_dirty_update():
    # A committed append stacked on a failed one: x went [1] (failed) then [1, 2] (committed).
    r = check(T(["append", "x", 1], type="fail"), T(["append", "x", 2]), T(["r", "x", [1, 2]]))
    assert_found(r, "G1a", "dirty-update", not_=["read-committed"])


def test_internal_inconsistency():
    # Cerone et al.'s INT: a read must show the transaction's own earlier append...
    assert_found(check(T(["append", "x", 1], ["r", "x", []])), "internal", not_=["read-atomic"])
    # ...and agree with its own earlier read when nothing was written in between.
    # (the second read also missed T0's append after the first saw it: a G-single besides)
    r = check(T(["append", "x", 1]), T(["r", "x", [1]], ["r", "x", []]))
    assert r["valid"] is False and "internal" in r["anomaly_types"]
    # an unknown prefix is fine, as long as the suffix is its own appends
    assert check(T(["append", "x", 1]), T(["append", "x", 2], ["r", "x", [1, 2]]))["valid"] is True


def test_future_read():
    r = check(T(["r", "x", [1]], ["append", "x", 1]))
    assert "future-read" in r["anomaly_types"] and "read-atomic" in r["not"]


def test_duplicate_elements():
    assert_found(check(T(["append", "x", 1]), T(["r", "x", [1, 1]])), "duplicate-elements",
                 not_=["read-uncommitted"])


def test_incompatible_order():
    r = check(T(["append", "x", 1]), T(["append", "x", 2]), T(["r", "x", [1, 2]]),
              T(["r", "x", [2, 1]]))
    assert_found(r, "incompatible-order", not_=["read-committed"])
    assert "neither is a prefix of the other" in r["anomalies"]["incompatible-order"][0][
        "explanation"]


def test_garbage_read():
    assert_found(check(T(["r", "x", [9]])), "garbage-read", not_=["read-uncommitted"])


def test_lost_update():
    # Both read x empty and both appended: each should have seen the other (P4, Berenson et al.)
    r = check(T(["r", "x", []], ["append", "x", 1]), T(["r", "x", []], ["append", "x", 2]))
    assert "lost-update" in r["anomaly_types"]
    assert {"cursor-stability", "snapshot-isolation"} <= set(r["not"])
    assert check(T(["r", "x", []], ["append", "x", 1]), T(["r", "x", []], ["append", "x", 2]),
                 consistency="read-committed")["valid"] is True


# -- rw-register ---------------------------------------------------------------------------------

def test_register_g1c():
    assert_found(check(T(["w", "x", 1], ["r", "y", 1]), T(["w", "y", 1], ["r", "x", 1])), "G1c")


def test_register_g_single_from_initial_state():
    # T0 read x absent (the initial state, which every write follows) and saw T1's y.
    r = check(T(["r", "x", None], ["r", "y", 1]), T(["w", "x", 1], ["w", "y", 1]))
    assert_found(r, "G-single")
    assert "initial state" in r["anomalies"]["G-single"][0]["explanation"]


def test_register_write_follows_read_orders_versions():
    # T1 read 1 then wrote 2, so 1 < 2; T2 saw 2 but T0 (which wrote 1)... a G0 needs ww both
    # ways: T0 wrote x=1 < T1's x=2 (T1 read 1), T1 wrote y=1 < T0's y=2 (T0 read y=1 first).
    r = check(T(["r", "y", 1], ["w", "x", 1], ["w", "y", 2]),
              T(["r", "x", 1], ["w", "x", 2], ["w", "y", 1]))
    assert "G1c" in r["anomaly_types"] or "G0" in r["anomaly_types"]
    ww = check(T(["w", "x", 1], ["r", "y", 1], ["w", "y", 2]),
               T(["r", "x", 1], ["w", "x", 2], ["w", "y", 1]), wfr=False)
    assert ww["valid"] is False  # wr edges alone still close it


def test_register_cyclic_versions():
    r = check(T(["r", "x", 1], ["w", "x", 2]), T(["r", "x", 2], ["w", "x", 1]))
    assert "cyclic-versions" in r["anomaly_types"] and r["not"] == ["read-uncommitted"]


def test_register_g1a_g1b_garbage_internal_future_lost_update():
    assert_found(check(T(["w", "x", 1], type="fail"), T(["r", "x", 1])), "G1a")
    assert_found(check(T(["w", "x", 1], ["w", "x", 2]), T(["r", "x", 1])), "G1b")
    assert_found(check(T(["r", "x", 5])), "garbage-read")
    assert_found(check(T(["w", "x", 1], ["r", "x", 2]), T(["w", "x", 2])), "internal")
    assert "future-read" in check(T(["r", "x", 1], ["w", "x", 1]))["anomaly_types"]
    r = check(T(["r", "x", None], ["w", "x", 1]), T(["r", "x", None], ["w", "x", 2]))
    assert "lost-update" in r["anomaly_types"]


def test_register_linearizable_keys_order_versions_by_real_time():
    # x=1 then x=2, each completed before the next began; a later read of 1 went back in time
    txns = (T(["w", "x", 1], start=0, end=10), T(["w", "x", 2], start=20, end=30),
            T(["r", "x", 1], start=40, end=50))
    assert check(*txns, consistency="serializable")["valid"] is True  # nothing orders 1 and 2
    r = check(*txns, consistency="serializable", linearizable_keys=True)
    assert r["valid"] is False and "cyclic-versions" in r["anomaly_types"]
    assert "is linearizable" in r["anomalies"]["cyclic-versions"][0]["explanation"]
    # a stale read of the initial state after a completed write: the key went back to it
    r = check(T(["w", "x", 1], start=0, end=10), T(["r", "x", None], start=20, end=30),
              consistency="serializable", linearizable_keys=True)
    assert "cyclic-versions" in r["anomaly_types"]
    # concurrent operations may see either order
    assert check(T(["w", "x", 1], start=0, end=30), T(["w", "x", 2], start=5, end=35),
                 T(["r", "x", 1], start=40, end=50), T(["r", "y", None], start=41, end=51),
                 linearizable_keys=True, consistency="serializable")["valid"] is True


def test_register_sequential_keys_order_versions_by_session():
    # one process saw 2 and then 1; the other wrote 1 before 2 (it read 1 first)
    txns = (T(["w", "x", 1]), T(["r", "x", 1], ["w", "x", 2]),
            T(["r", "x", 2], process=9, start=5, end=1100), T(["r", "x", 1], process=9,
                                                                start=1200, end=1300))
    assert check(*txns, consistency="serializable")["valid"] is True
    r = check(*txns, consistency="serializable", sequential_keys=True)
    assert "cyclic-versions" in r["anomaly_types"]
    assert "next on process 9" in r["anomalies"]["cyclic-versions"][0]["explanation"]


def test_register_linearizable_keys_reveal_read_skew():
    # x=1 completed before x=2 (with y=5) began, so 1 < 2; T2 saw x=1 but y=5: a G-single that
    # without the option has no order of x's versions to stand on
    txns = (T(["w", "x", 1], start=0, end=10), T(["w", "x", 2], ["w", "y", 5], start=20, end=30),
            T(["r", "x", 1], ["r", "y", 5], start=15, end=50))
    assert check(*txns, consistency="serializable")["valid"] is True
    r = check(*txns, consistency="serializable", linearizable_keys=True)
    assert r["anomaly_types"] == ["G-single"]
    assert "completed before T3, which saw 2, began (key 'x' is linearizable)" in \
        r["anomalies"]["G-single"][0]["explanation"]


# -- valid histories -----------------------------------------------------------------------------

def test_serial_list_append_history_is_strict_serializable():
    r = check(T(["append", "x", 1], start=0, end=1, process=0),
              T(["r", "x", [1]], ["append", "x", 2], ["append", "y", 1], start=2, end=3,
                process=1),
              T(["r", "x", [1, 2]], ["r", "y", [1]], start=4, end=5, process=0))
    assert r["valid"] is True and r["anomaly_types"] == [] and r["not"] == []
    assert r["txns"] == {"ok": 3, "info": 0, "fail": 0}


def test_concurrent_reads_may_order_either_way():
    r = check(T(["append", "x", 1], start=0, end=10), T(["r", "x", []], start=5, end=15),
              T(["r", "x", [1]], start=6, end=16))
    assert r["valid"] is True


def test_info_transactions_may_or_may_not_have_happened():
    # T0's outcome is unknown: T1 saw it, T2 (which began after T1 ended) saw it too: fine.
    assert check(T(["append", "x", 1], type="info", start=0), T(["r", "x", [1]], start=1, end=2),
                 T(["r", "x", [1]], start=3, end=4))["valid"] is True
    # Nobody saw it: it may never have happened.
    assert check(T(["append", "x", 1], type="info", start=0),
                 T(["r", "x", []], start=5, end=6))["valid"] is True
    # An invocation without a completion is info as well.
    assert check(T(["append", "x", 1], type=None), T(["r", "x", [1]]))["valid"] is True


def test_an_info_transaction_seen_once_happened_entirely():
    # Someone saw T0's x: then its y happened too, and T1's read of y missed it.
    r = check(T(["append", "x", 1], ["append", "y", 1], type="info"),
              T(["r", "x", [1]], ["r", "y", []]))
    assert_found(r, "G-single")


def test_failed_transactions_did_not_happen():
    r = check(T(["append", "x", 1], type="fail", start=0, end=1), T(["r", "x", []], start=2, end=3))
    assert r["valid"] is True


def test_register_valid():
    r = check(T(["w", "x", 1], start=0, end=1), T(["r", "x", 1], ["w", "x", 2], start=2, end=3),
              T(["r", "x", 2], start=4, end=5))
    assert r["valid"] is True and r["workload"] == "rw-register"


# -- input and options ---------------------------------------------------------------------------

def test_other_operations_are_left_alone():
    h = history(T(["append", "x", 1]), T(["r", "x", [1]]))
    from checkers.history import Event
    h.events.append(Event(len(h.events), 10**12, 9, "invoke", "read", None))
    h.events.append(Event(len(h.events), 10**12 + 1, 9, "ok", "read", 3))
    r = ElleChecker().check(h)
    assert r["valid"] is True and r["other_ops"] == 1


@pytest.mark.parametrize("mops,words", [
    ([["append", "x"]], "not [f, key, value]"),
    ([["inc", "x", 1]], "f must be r, append or w"),
    ([["append", "x", None]], "writes null"),
])
def test_malformed_transactions_are_unknown_with_a_reason(mops, words):
    r = check(T(*mops))
    assert r["valid"] == "unknown" and words in r["error"]


def test_duplicate_appends_and_mixed_workloads_are_unknown():
    r = check(T(["append", "x", 1]), T(["append", "x", 1]))
    assert r["valid"] == "unknown" and "both append 1 to key 'x'" in r["error"]
    r = check(T(["append", "x", 1]), T(["w", "y", 1]))
    assert r["valid"] == "unknown" and "mixes appends and writes" in r["error"]


def test_options_from_strings_as_the_cli_passes_them():
    c = build_checker({"name": "elle", "consistency": "serializable", "cycle-search-timeout": "2.5",
                       "realtime": "false", "max_cases": "3"})
    assert (c.consistency, c.timeout, c.realtime, c.max_cases) == ("serializable", 2.5, False, 3)
    assert ElleChecker(consistency="strong-serializable").consistency == "strict-serializable"
    prefixed = ElleChecker(**{"elle.consistency": "read-committed", "workload.keys": "7"})
    assert prefixed.consistency == "read-committed"
    for bad in ({"consistency": "linearizable"}, {"cycle_search_timeout": "soon"},
                {"realtime": "maybe"}, {"colour": "red"}, {"workload": "bank"}):
        with pytest.raises(OptionError):
            ElleChecker(**bad)


def test_switching_off_real_time_makes_strict_serializable_unknown():
    r = check(T(["append", "x", 1], start=0, end=10), T(["r", "x", [1]], start=20, end=30),
              realtime="false")
    assert r["valid"] == "unknown" and "switched off" in r["reason"]


def test_components_left_unsearched_still_count_as_cycles(monkeypatch):
    # a G-single that the budget leaves no time to name is still a cycle: invalid where every
    # cycle is (serializable), unknown where only some are (snapshot isolation)
    from checkers.elle import cycles as elle_cycles
    spent = elle_cycles.Deadline(0.0)
    monkeypatch.setattr(elle_cycles, "Deadline", lambda at: spent)
    txns = (T(["r", "x", []], ["r", "y", [1]]), T(["append", "x", 1], ["append", "y", 1]))
    r = check(*txns, consistency="serializable")
    assert r["valid"] is False and r["anomaly_types"] == []
    assert r["unclassified_cycles"] == {"components": 1, "transactions": 2}
    assert "repeatable-read" in r["not"] and "time budget" in r["reason"]
    si = check(*txns, consistency="snapshot-isolation")
    assert si["valid"] == "unknown" and "G-single" in si["undecided"]
