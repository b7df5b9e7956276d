"""The set checker: lost, unexpected and recovered elements against the final read."""

from checkers.history import Event, History
from checkers.registry import build_checker
from checkers.set import SetChecker

MS = 1_000_000


def history(*rows):
    """rows: (time_ms, process, type, f, value[, extra dict]); sorted by time, indexed."""
    events = []
    for i, row in enumerate(sorted(rows, key=lambda r: r[0])):
        t, process, type_, f, value = row[:5]
        extra = row[5] if len(row) > 5 else {}
        events.append(Event(i, int(t * MS), process, type_, f, value, None, None, None,
                            dict(extra)))
    return History(events)


def add(p, element, start, end, outcome="ok"):
    rows = [(start, p, "invoke", "add", element)]
    if outcome is not None:
        rows.append((end, p, outcome, "add", element))
    return rows


def final_read(p, elements, start, end, outcome="ok"):
    return [(start, p, "invoke", "read", None, {"phase": "final"}),
            (end, p, outcome, "read", elements if outcome == "ok" else None, {"phase": "final"})]


def check(*groups):
    return SetChecker().check(history(*[r for g in groups for r in g]))


def test_clean_history_is_valid():
    r = check(add(0, 1, 0, 5), add(1, 2, 1, 6), add(0, 3, 10, 12),
              final_read(9, [1, 2, 3], 100, 110))
    assert r["valid"] is True
    assert r["ok_count"] == 3 and r["lost"] == [] and r["unexpected"] == []
    assert r["counts"] == {"attempted": 3, "acknowledged": 3, "failed": 0, "unknown": 0}


def test_acknowledged_add_missing_from_the_final_read_is_lost():
    r = check(add(0, 1, 0, 5), add(1, 2, 1, 6), add(0, 3, 10, 12), final_read(9, [1, 3], 100, 110))
    assert r["valid"] is False
    assert r["lost"] == [2] and r["lost_count"] == 1
    evidence = r["lost_ops"][0]
    assert evidence["element"] == 2 and evidence["add"]["process"] == 1
    assert evidence["add"]["type"] == "ok" and evidence["add"]["end_s"] == 0.006
    assert "lost: 2" in r["error"]


def test_element_never_added_is_unexpected():
    r = check(add(0, 1, 0, 5), final_read(9, [1, 77], 100, 110))
    assert r["valid"] is False
    assert r["unexpected"] == [77]
    assert r["unexpected_ops"][0]["why"] == "never added"


def test_failed_add_that_shows_up_is_unexpected():
    r = check(add(0, 1, 0, 5), add(1, 2, 1, 6, "fail"), final_read(9, [1, 2], 100, 110))
    assert r["valid"] is False and r["unexpected"] == [2]
    assert "failed" in r["unexpected_ops"][0]["why"]
    assert r["unexpected_ops"][0]["add"]["type"] == "fail"


def test_failed_add_absent_and_info_adds_either_way_are_fine():
    r = check(add(0, 1, 0, 5), add(1, 2, 1, 6, "fail"), add(2, 3, 2, 7, "info"),
              add(3, 4, 3, None, None), final_read(9, [1, 3], 100, 110))
    assert r["valid"] is True
    assert r["recovered"] == [3] and r["recovered_count"] == 1
    assert r["counts"]["unknown"] == 2 and r["counts"]["failed"] == 1


def test_add_concurrent_with_the_read_is_not_lost():
    # The add of 5 completes ok after the read was invoked: it may or may not be in the read.
    r = check(add(0, 1, 0, 5), add(1, 5, 95, 120), final_read(9, [1], 100, 110))
    assert r["valid"] is True
    assert r["concurrent_missing_count"] == 1 and r["lost"] == []


def test_no_successful_read_is_unknown():
    r = check(add(0, 1, 0, 5), final_read(9, None, 100, 110, "info"))
    assert r["valid"] == "unknown"
    assert "never read" in r["note"]


def test_empty_history_is_unknown_without_raising():
    r = SetChecker().check(History([]))
    assert r["valid"] == "unknown"


def test_without_phase_marks_the_last_ok_read_is_the_final_one():
    rows = add(0, 1, 0, 5) + add(0, 2, 6, 8) + [
        (10, 5, "invoke", "read", None), (11, 5, "ok", "read", [1]),
        (20, 5, "invoke", "read", None), (21, 5, "ok", "read", [1, 2])]
    r = SetChecker().check(history(*rows))
    assert r["valid"] is True and [x["op"] for x in r["final_reads"]] == [3]


def test_every_final_read_is_checked():
    r = check(add(0, 1, 0, 5), final_read(8, [1], 100, 110), final_read(9, [], 100, 111))
    assert r["valid"] is False and r["lost"] == [1]
    assert r["lost_ops"][0]["missing_from_read"] == 2


def test_registered_under_its_name():
    assert isinstance(build_checker({"name": "set"}), SetChecker)


def test_ok_read_without_a_list_is_reported_and_skipped():
    r = check(add(0, 1, 0, 5), final_read(9, None, 100, 110))
    assert r["valid"] == "unknown" and r["malformed_reads"][0]["op"] == 1
