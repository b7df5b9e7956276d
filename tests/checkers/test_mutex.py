"""The mutex checker: holds from acquire-ok to release-invoke, lease expiry or lost connection."""

from checkers.history import Event, History
from checkers.mutex import MutexChecker
from checkers.registry import build_checker

MS = 1_000_000


def history(*rows, end_ms=None):
    """rows: (time_ms, process, type, f, value, key); sorted by time, indexed."""
    rows = sorted(rows, key=lambda r: r[0])
    events = [Event(i, int(t * MS), p, ty, f, v, k) for i, (t, p, ty, f, v, k) in enumerate(rows)]
    if end_ms is not None:  # a nemesis event marks how long the history went on
        events.append(Event(len(events), int(end_ms * MS), "nemesis", "info", "stop-kill", {}))
    return History(events)


def acquire(p, start, end, lease_ms=1000, outcome="ok", key="lock-0", ok_lease="same",
            token="t"):
    ok_value = {"lease_ms": lease_ms if ok_lease == "same" else ok_lease, "token": f"{token}{p}"}
    rows = [(start, p, "invoke", "acquire", {"lease_ms": lease_ms}, key)]
    if outcome is not None:
        rows.append((end, p, outcome, "acquire", ok_value if outcome == "ok" else None, key))
    return rows


def release(p, start, end, outcome="ok", key="lock-0", lost_after_ms=None):
    return [(start, p, "invoke", "release", None, key),
            (end, p, outcome, "release", {"lost_after_ms": lost_after_ms}, key)]


def check(*groups, end_ms=None):
    return MutexChecker().check(history(*[r for g in groups for r in g], end_ms=end_ms))


def test_alternating_holds_are_valid():
    r = check(acquire(0, 0, 10), release(0, 100, 110),
              acquire(1, 50, 111), release(1, 200, 210),  # waited for 0 to release
              acquire(0, 220, 230), release(0, 300, 305))
    assert r["valid"] is True
    assert r["holds"] == 3 and r["overlap_count"] == 0
    assert r["holds_ended_by"] == {"release": 3}


def test_overlapping_holds_ended_by_release_are_a_violation():
    r = check(acquire(0, 0, 10), release(0, 100, 110),
              acquire(1, 20, 40), release(1, 150, 160))
    assert r["valid"] is False and r["overlap_count"] == 1
    o = r["overlaps"][0]
    assert o["overlap_ms"] == 60.0  # from 1's acquire-ok at 40 to 0's release invoke at 100
    assert (o["first"]["process"], o["second"]["process"]) == (0, 1)
    assert o["first"]["ended_by"] == "release" and o["first"]["token"] == "t0"
    assert o["first"]["acquire_invoke_index"] == 0 and o["second"]["acquire_ok_index"] == 3
    assert "process 0" in r["error"] and "process 1" in r["error"]


def test_hold_ends_at_lease_expiry_so_a_later_holder_is_fine():
    # 0's lease (100 ms from its acquire invoke at 0) ran out at 100, before 1 acquired at 150,
    # even though 0 released only at 400.
    r = check(acquire(0, 0, 10, lease_ms=100), release(0, 400, 410, outcome="fail"),
              acquire(1, 120, 150, lease_ms=100), release(1, 200, 205))
    assert r["valid"] is True
    assert r["holds_ended_by"] == {"lease": 1, "release": 1}


def test_overlap_within_the_lease_is_a_violation_and_says_it_ended_by_lease():
    # Like a Redis key expired early by a clock jump: 1 acquires while 0's lease still runs.
    r = check(acquire(0, 0, 10, lease_ms=500), release(0, 900, 910, outcome="fail"),
              acquire(1, 100, 120, lease_ms=500), release(1, 300, 310))
    assert r["valid"] is False
    o = r["overlaps"][0]
    assert o["first"]["ended_by"] == "lease" and o["first"]["end_s"] == 0.5
    assert o["second"]["ended_by"] == "release"
    assert o["overlap_ms"] == 180.0  # 120 .. 300


def test_lease_is_measured_from_acquire_invoke_not_ok():
    # A slow acquire: invoked at 0, ok at 90, lease 100 -> the hold is 90..100 only.
    r = check(acquire(0, 0, 90, lease_ms=100), release(0, 500, 510),
              acquire(1, 95, 101), release(1, 200, 210))
    assert r["valid"] is True


def test_lease_reported_in_the_ok_answer_wins():
    # The client says its lock has no lease (ZooKeeper): the hold lasts until the release.
    r = check(acquire(0, 0, 10, lease_ms=100, ok_lease=None), release(0, 400, 410),
              acquire(1, 200, 220, lease_ms=100, ok_lease=None), release(1, 300, 310))
    assert r["valid"] is False and r["overlaps"][0]["first"]["ended_by"] == "release"


def test_lost_after_ms_ends_the_hold_when_the_client_learned_it_lost_the_lock():
    # 0 learned 50 ms after its acquire-ok (at 10) that its session was lost: hold 10..60.
    r = check(acquire(0, 0, 10, lease_ms=None), release(0, 400, 410, lost_after_ms=50),
              acquire(1, 100, 120, lease_ms=None), release(1, 300, 310))
    assert r["valid"] is True
    assert r["holds_ended_by"] == {"lost": 1, "release": 1}
    # Had it learned only after 200 ms, the holds overlap.
    r = check(acquire(0, 0, 10, lease_ms=None), release(0, 400, 410, lost_after_ms=200),
              acquire(1, 100, 120, lease_ms=None), release(1, 300, 310))
    assert r["valid"] is False
    assert r["overlaps"][0]["first"]["ended_by"] == "lost"
    assert r["overlaps"][0]["first"]["lost_after_ms"] == 200


def test_no_release_and_no_lease_holds_to_the_end_of_the_history():
    r = check(acquire(0, 0, 10, lease_ms=None), acquire(1, 500, 520, lease_ms=None),
              release(1, 600, 610), end_ms=1000)
    assert r["valid"] is False
    assert r["overlaps"][0]["first"]["ended_by"] == "end-of-history"


def test_no_release_with_a_lease_ends_at_the_lease():
    r = check(acquire(0, 0, 10, lease_ms=300), acquire(1, 500, 520, lease_ms=300),
              release(1, 600, 610), end_ms=1000)
    assert r["valid"] is True


def test_info_and_failed_acquires_never_hold():
    r = check(acquire(0, 0, 10), release(0, 200, 210),
              acquire(1, 20, 30, outcome="info"), acquire(2, 25, 40, outcome="fail"),
              acquire(3, 26, None, outcome=None))
    assert r["valid"] is True
    assert r["acquires"] == {"ok": 1, "fail": 1, "info": 2}


def test_different_locks_do_not_conflict_and_same_process_never_conflicts():
    r = check(acquire(0, 0, 10, key="lock-0"), release(0, 200, 210, key="lock-0"),
              acquire(1, 20, 30, key="lock-1"), release(1, 100, 110, key="lock-1"))
    assert r["valid"] is True
    r = check(acquire(0, 0, 10, key="lock-0"), acquire(0, 20, 30, key="lock-0"),
              release(0, 200, 210, key="lock-0"))
    assert r["valid"] is True


def test_three_holders_give_every_overlapping_pair():
    r = check(acquire(0, 0, 10), release(0, 300, 305), acquire(1, 0, 20), release(1, 300, 305),
              acquire(2, 0, 30), release(2, 300, 305))
    assert r["overlap_count"] == 3


def test_empty_history_is_valid_with_a_note():
    r = MutexChecker().check(History([]))
    assert r["valid"] is True and "nothing to judge" in r["note"]


def test_registered_under_its_name():
    assert isinstance(build_checker({"name": "mutex"}), MutexChecker)


def test_lost_after_ms_in_an_info_release_still_counts():
    # The release itself timed out (info), but its answer says the session was lost 50 ms in.
    r = check(acquire(0, 0, 10, lease_ms=None),
              release(0, 400, 410, outcome="info", lost_after_ms=50),
              acquire(1, 100, 120, lease_ms=None), release(1, 300, 310))
    assert r["valid"] is True and r["holds_ended_by"]["lost"] == 1
