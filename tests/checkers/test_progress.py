"""The progress checker on hand-made histories: heals, recovery reports, final reads."""

from __future__ import annotations

import pytest

from checkers.history import Event, History
from checkers.progress import ProgressChecker

S = 1_000_000_000


def build(*rows: tuple) -> History:
    """Events from (time_s, process, type, f, value[, extra]) rows, indexed in order."""
    events = []
    for i, row in enumerate(rows):
        t, p, ty, f, v = row[:5]
        extra = row[5] if len(row) > 5 else {}
        events.append(Event(i, int(t * S), p, ty, f, v, extra=dict(extra)))
    return History(events)


def nemesis(start: float, stop: float, healed: float, recovery: dict | None = None,
            fault: str = "partition", ident: int = 1) -> list[tuple]:
    value = {"fault": fault, "targets": ["n1", "n2"], "id": ident}
    stopped = dict(value, recovery=recovery) if recovery is not None else value
    return [(start, "nemesis", "invoke", f"start-{fault}", value),
            (start + 0.1, "nemesis", "info", f"start-{fault}", value),
            (stop, "nemesis", "invoke", f"stop-{fault}", value),
            (healed, "nemesis", "info", f"stop-{fault}", stopped)]


def read(process: int, start: float, end: float, type_: str = "ok", extra: dict | None = None):
    extra = extra or {}
    return [(start, process, "invoke", "read", None, extra), (end, process, type_, "read", 1, extra)]


def test_progress_after_heal_is_valid():
    h = build(*nemesis(1, 5, 5.5, {"healthy": True, "leader": "n1", "seconds": 0.5}),
              *read(0, 6, 6.2), *read(0, 20, 20.1))
    r = ProgressChecker(bound_s=10).check(h)
    assert r["valid"] is True, r
    [heal] = r["heals"]
    assert heal["verdict"] == "ok"
    assert heal["fault"] == "partition"
    assert heal["first_ok_after_s"] == pytest.approx(0.7)


def test_slow_probe_with_ok_operations_right_after_the_heal_is_not_a_failure():
    """Issue 22's ZooKeeper case: the runner's health probe passed 11.778 s after the heal (it
    waits for every follower to sync), but clients were served 2.5 ms after it. Progress is what
    clients saw; the probe's time stays in the row as information."""
    probe = {"healthy": True, "leader": "n2", "seconds": 11.778}
    h = build(*nemesis(50, 59.7, 59.770, probe), *read(0, 59.771, 59.7725), *read(1, 60, 60.1),
              *read(0, 75, 75.1))
    r = ProgressChecker(bound_s=10).check(h)
    assert r["valid"] is True, r
    [heal] = r["heals"]
    assert heal["verdict"] == "ok" and heal["problems"] == []
    assert heal["recovery"] == probe
    assert heal["first_ok_after_s"] == pytest.approx(0.0025)


def test_a_probe_that_never_passed_does_not_decide_either():
    h = build(*nemesis(1, 5, 5.5, {"healthy": False, "leader": None, "seconds": 30}),
              *read(0, 6, 6.2), *read(0, 20, 20.1))
    r = ProgressChecker().check(h)
    assert r["valid"] is True, r
    assert r["heals"][0]["recovery"]["healthy"] is False


def test_slow_probe_and_no_ok_operation_fails_on_what_clients_saw():
    rows = nemesis(1, 5, 5.0, {"healthy": True, "leader": "n1", "seconds": 13.25})
    rows += read(0, 5.5, 16, "info") + read(1, 17, 17.5)
    r = ProgressChecker(bound_s=10).check(build(*rows))
    assert r["valid"] is False
    [failure] = r["failures"]
    assert "no client operation completed ok within 10s" in failure
    assert "13.25" not in failure  # the probe's time is not the reason


def test_no_ok_op_within_bound_after_heal_is_invalid():
    # ops fail for 15 s after the heal, and the history goes on long enough to judge
    rows = nemesis(1, 5, 5.0)
    for k in range(15):
        rows += read(0, 5.5 + k, 6 + k, "fail")
    rows += read(0, 21, 21.5)
    r = ProgressChecker(bound_s=10).check(build(*rows))
    assert r["valid"] is False
    assert "within 10s" in r["failures"][0]
    assert "the first came 16.500s after" in r["failures"][0]


def test_history_ending_before_the_bound_gives_no_verdict_for_that_heal():
    h = build(*read(0, 0, 0.5), *nemesis(1, 5, 5.0), *read(0, 6, 7, "fail"))
    r = ProgressChecker(bound_s=10).check(h)
    assert r["valid"] is True
    assert r["heals"][0]["verdict"] == "undecided"
    assert len(r["undecided"]) == 1 and "no verdict" in r["note"]


def _sentinel_run(stop_done: float) -> list[tuple]:
    """Measured on redis-sentinel: a partition of the primary stopped at 22.7 s (the stop took 5 s),
    the clients stopped at the time limit (27.6 s), the runner waited for the topology to settle,
    and the final read, the next client operation, came at 38.5 s and succeeded."""
    value = {"fault": "partition", "targets": ["n1"], "id": 1}
    return [*read(0, 5, 5.1), (10.0, "nemesis", "invoke", "start-partition", value),
            (10.6, "nemesis", "info", "start-partition", value), *read(0, 20, 20.1),
            (22.7, "nemesis", "invoke", "stop-partition", value),
            (27.6, "nemesis", "info", "workload-end", {"interrupted": False}),
            (stop_done, "nemesis", "info", "stop-partition", value),
            *read(7, 38.48, 38.49, "ok", {"phase": "final"})]


@pytest.mark.parametrize("stop_done", [27.7, 27.5])
def test_a_heal_the_clients_could_not_see_is_judged_by_the_final_reads(stop_done):
    """Healed after the clients stopped (27.7 s), or with less than the bound left before they did
    (27.5 s) and no ok operation in it: no client was there to be served until the final reads,
    which judge it. Progress is what clients saw, and they saw nothing."""
    rows = _sentinel_run(stop_done)
    r = ProgressChecker(bound_s=10).check(build(*rows))
    assert r["valid"] is True, r
    [heal] = r["heals"]
    assert heal["verdict"] == "undecided"
    why = "healed after the clients had stopped" if stop_done > 27.6 else \
        "the clients stopped less than 10s after it"
    assert why in r["note"]
    # ... and the final reads do judge it: one that never succeeds fails the run.
    rows[-1] = (38.49, 7, "info", "read", None, {"phase": "final"})
    assert ProgressChecker(bound_s=10).check(build(*rows))["valid"] is False


def test_a_heal_counts_from_when_the_fault_was_lifted_not_from_its_completion():
    """Measured on ZooKeeper: the partition was lifted at 34.43 s, the runner's health wait went on
    until the clients stopped (42.147 s) and only then completed the heal; clients were served
    right after the lift."""
    value = {"fault": "partition", "targets": ["n1"], "id": 2}
    lifted = dict(value, lifted_ns=int(34.43 * S))
    rows = [(18.8, "nemesis", "invoke", "start-partition", value),
            (19.4, "nemesis", "info", "start-partition", value), *read(0, 30, 30.1),
            (34.0, "nemesis", "invoke", "stop-partition", value), *read(0, 34.5, 34.505),
            *read(1, 40, 40.1), (42.1469, "nemesis", "info", "workload-end", {}),
            (42.147, "nemesis", "info", "stop-partition", lifted),
            *read(7, 43, 43.1, "ok", {"phase": "final"})]
    r = ProgressChecker(bound_s=10).check(build(*rows))
    assert r["valid"] is True, r
    [heal] = r["heals"]
    assert heal["verdict"] == "ok" and heal["time_s"] == pytest.approx(34.43)
    assert heal["first_ok_after_s"] == pytest.approx(0.075)
    assert "at 34.430s" in heal["heal"]


def test_clients_that_record_nothing_after_a_heal_until_they_stop_fail_it():
    """Workers that cannot even connect record no operation; the end of the workload, not the
    last operation, says how long they had."""
    value = {"fault": "kill", "targets": ["n1", "n2"], "id": 1}
    rows = [*read(0, 1, 1.1), (2, "nemesis", "invoke", "start-kill", value),
            (2.1, "nemesis", "info", "start-kill", value), (7, "nemesis", "invoke", "stop-kill", value),
            (7.5, "nemesis", "info", "stop-kill", value),
            (30, "nemesis", "info", "workload-end", {"interrupted": False})]
    r = ProgressChecker(bound_s=10).check(build(*rows))
    assert r["valid"] is False
    assert "no client operation completed ok within 10s" in r["failures"][0]


def _final(i: int, t: float, process: int, key: str, type_: str) -> list[Event]:
    extra = {"phase": "final"}
    return [Event(i, int(t * S), process, "invoke", "read", None, key, extra=dict(extra)),
            Event(i + 1, int((t + 0.1) * S), process, type_, "read", 1, key, extra=dict(extra))]


def test_every_final_read_must_eventually_succeed():
    # k1: failed, then retried and ok; k2: failed and never retried; k3: never completed (info).
    events = (_final(0, 1, 1, "k1", "fail") + _final(2, 2, 1, "k1", "ok")
              + _final(4, 3, 2, "k2", "fail"))
    events.append(Event(6, int(4 * S), 3, "invoke", "read", None, "k3", extra={"phase": "final"}))
    r = ProgressChecker().check(History(events))
    assert r["valid"] is False
    assert r["final"]["count"] == 4 and r["final"]["ok"] == 1
    assert [op["key"] for op in r["final"]["retried"]] == ["k1"]
    assert sorted(op["key"] for op in r["final"]["not_ok"]) == ["k2", "k3"]
    assert sorted(op["type"] for op in r["final"]["not_ok"]) == ["fail", "info"]
    assert len(r["failures"]) == 2


def test_a_final_read_that_succeeded_on_retry_is_fine():
    r = ProgressChecker().check(History(_final(0, 1, 1, "k1", "fail") + _final(2, 2, 1, "k1", "ok")))
    assert r["valid"] is True, r


def test_nothing_to_judge_is_valid_with_a_note():
    r = ProgressChecker().check(build(*read(0, 0, 1)))
    assert r["valid"] is True
    assert "nothing to judge" in r["note"]
    assert ProgressChecker().check(History([]))["valid"] is True


def test_two_heals_judged_separately():
    rows = (nemesis(1, 2, 2.0, fault="kill", ident=1) + read(0, 2.5, 3)
            + nemesis(4, 5, 5.0, fault="pause", ident=2) + read(0, 30, 31))
    r = ProgressChecker(bound_s=10).check(build(*rows))
    assert [h["verdict"] for h in r["heals"]] == ["ok", "failed"]
    assert len(r["failures"]) == 1 and "pause" in r["failures"][0]


def test_bad_bound_is_refused():
    with pytest.raises(ValueError):
        ProgressChecker(bound_s=0)
