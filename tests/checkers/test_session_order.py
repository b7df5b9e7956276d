"""The checkers for ZooKeeper's separate promises: `session-order` (per-session zxid order,
read-your-writes, monotonic reads) and `linearizable-writes` (updates linearizable, reads not
judged), each on synthetic histories that contain the anomaly or do not."""

from __future__ import annotations

from checkers.history import Event, History
from checkers.registry import build_checker
from checkers.session_order import SessionOrderChecker
from checkers.zk_writes import LinearizableWritesChecker, without_reads


class Builder:
    """Writes a history one operation at a time: invoke, then its completion."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.t = 0

    def _event(self, process, type_, f, value, key, extra=None) -> None:
        self.t += 1_000_000
        self.events.append(Event(len(self.events), self.t, process, type_, f, value, key, "n1",
                                 None, dict(extra or {})))

    def invoke(self, process, f, value=None, key="k1") -> None:
        self._event(process, "invoke", f, value, key)

    def complete(self, process, type_, f, value=None, key="k1", **extra) -> None:
        self._event(process, type_, f, value, key, extra)

    def op(self, process, f, value=None, key="k1", result=None, type_="ok", **extra) -> None:
        self.invoke(process, f, None if f == "read" else value, key)
        self.complete(process, type_, f, result if f == "read" else value, key, **extra)

    def history(self) -> History:
        return History(list(self.events))


S1, S2 = "0x1", "0x2"


def test_an_orderly_session_is_valid():
    b = Builder()
    b.op(0, "write", 1, result=None, session=S1, zxid=10, mzxid=10)
    b.op(0, "read", result=1, session=S1, zxid=10, mzxid=10)
    b.op(1, "write", 2, session=S2, zxid=11, mzxid=11)
    b.op(0, "read", result=1, session=S1, zxid=10, mzxid=10)  # stale, but not older than seen
    b.op(0, "read", result=2, session=S1, zxid=12, mzxid=11)
    res = SessionOrderChecker().check(b.history())
    assert res["valid"] is True, res
    assert res["sessions"] == 2 and res["operations"] == 5
    assert res["anomalies"] == []


def test_zxid_going_back_in_a_session_is_reported_with_both_ops():
    b = Builder()
    b.op(0, "read", result=None, session=S1, zxid=20, mzxid=None)
    b.op(0, "read", result=None, session=S1, zxid=15, mzxid=None)
    res = SessionOrderChecker().check(b.history())
    assert res["valid"] is False
    assert res["anomaly_counts"]["zxid-went-back"] == 1
    a = res["anomalies"][0]
    assert a["earlier"]["zxid"] == 20 and a["op"]["zxid"] == 15
    assert a["earlier"]["index"] == 0 and a["op"]["index"] == 2


def test_zxids_of_different_sessions_are_not_compared():
    b = Builder()
    b.op(0, "read", result=None, session=S1, zxid=20, mzxid=None)
    b.op(1, "read", result=None, session=S2, zxid=5, mzxid=None)
    assert SessionOrderChecker().check(b.history())["valid"] is True


def test_a_read_missing_the_sessions_own_write_is_reported():
    b = Builder()
    b.op(1, "write", 1, session=S2, zxid=5, mzxid=5)
    b.op(0, "write", 2, session=S1, zxid=9, mzxid=9)
    b.op(0, "read", result=1, session=S1, zxid=9, mzxid=5)  # the other session's older value
    res = SessionOrderChecker().check(b.history())
    assert res["valid"] is False
    assert res["anomaly_counts"] == {"zxid-went-back": 0, "read-own-write-missed": 1,
                                     "read-went-back": 0}
    a = res["anomalies"][0]
    assert a["key"] == "k1" and a["earlier"]["f"] == "write" and a["op"]["value"] == 1


def test_absent_after_the_sessions_own_create_is_reported():
    b = Builder()
    b.op(0, "cas", [None, 3], session=S1, zxid=7, mzxid=7)
    b.op(0, "read", result=None, session=S1, zxid=7, mzxid=None)
    res = SessionOrderChecker().check(b.history())
    assert res["anomaly_counts"]["read-own-write-missed"] == 1


def test_a_read_older_than_an_earlier_read_is_reported():
    b = Builder()
    b.op(0, "read", result=4, session=S1, zxid=30, mzxid=30)
    b.op(0, "read", result=3, session=S1, zxid=31, mzxid=25)
    res = SessionOrderChecker().check(b.history())
    assert res["valid"] is False
    assert res["anomaly_counts"]["read-went-back"] == 1
    assert res["anomalies"][0]["earlier"]["value"] == 4


def test_keys_are_judged_apart_and_failed_or_unknown_ops_carry_no_facts():
    b = Builder()
    b.op(0, "read", result=9, key="k1", session=S1, zxid=40, mzxid=40)
    b.op(0, "read", result=1, key="k2", session=S1, zxid=40, mzxid=3)  # other key: older is fine
    b.invoke(0, "write", 5, "k1")
    b.complete(0, "info", "write", 5, "k1")  # no facts recorded: skipped
    b.op(2, "read", result=None, session=None, zxid=1, mzxid=None)  # no session: skipped
    res = SessionOrderChecker().check(b.history())
    assert res["valid"] is True
    assert res["operations"] == 2


def test_no_session_facts_is_unknown_not_valid():
    b = Builder()
    b.op(0, "write", 1)
    res = SessionOrderChecker().check(b.history())
    assert res["valid"] == "unknown"
    assert "nothing to check" in res["note"]


def test_field_names_are_parameters():
    b = Builder()
    b.op(0, "read", result=None, conn="c1", rev=9)
    b.op(0, "read", result=None, conn="c1", rev=8)
    res = SessionOrderChecker(session_field="conn", zxid_field="rev").check(b.history())
    assert res["anomaly_counts"]["zxid-went-back"] == 1


def test_both_checkers_are_registered_by_name():
    assert isinstance(build_checker({"name": "session-order"}), SessionOrderChecker)
    c = build_checker({"name": "linearizable-writes", "model": "cas-register"})
    assert isinstance(c, LinearizableWritesChecker)


# ---- linearizable-writes ------------------------------------------------------------------------

def _stale_read_history() -> History:
    """Writes in real-time order 1 then 2; a later read returns 1: fine for ZooKeeper's promise
    (a plain read may be stale), not linearizable."""
    b = Builder()
    b.op(0, "write", 1)
    b.op(1, "write", 2)
    b.op(2, "read", result=1)
    b.op(0, "cas", [2, 3])
    return b.history()


def test_stale_reads_are_not_judged_by_linearizable_writes():
    history = _stale_read_history()
    assert build_checker({"name": "linearizable", "model": "cas-register"}).check(history)["valid"] \
        is False
    res = LinearizableWritesChecker().check(history)
    assert res["valid"] is True, res
    assert res["reads_removed"] == 1
    assert "reads removed" in res["note"]


def test_a_cas_that_succeeded_against_an_overwritten_value_is_invalid():
    b = Builder()
    b.op(0, "write", 1)
    b.op(1, "write", 2)
    b.op(2, "cas", [1, 3])  # acknowledged, yet the register held 2 by then
    b.op(2, "read", result=3)
    res = LinearizableWritesChecker().check(b.history())
    assert res["valid"] is False
    assert res["failures"]


def test_a_lost_acknowledged_write_shows_up_through_a_later_cas():
    b = Builder()
    b.op(0, "write", 1)
    b.op(1, "write", 2)  # acknowledged after 1 ...
    b.op(0, "cas", [1, 5])  # ... yet a cas found 1 still there: write 2 was lost
    assert LinearizableWritesChecker().check(b.history())["valid"] is False


def test_without_reads_drops_reads_and_their_completions_only():
    b = Builder()
    b.invoke(0, "read")
    b.invoke(1, "write", 4)
    b.complete(0, "ok", "read", 4)
    b.complete(1, "ok", "write", 4)
    b.invoke(0, "read")  # never completes
    b.invoke(2, "cas", [4, 5])
    b.complete(2, "fail", "cas", [4, 5])
    b.events.append(Event(len(b.events), b.t + 1, "nemesis", "invoke", "start-kill", {}))
    kept, removed = without_reads(b.history())
    assert removed == 2
    assert [(e.process, e.type, e.f) for e in kept.events] == [
        (1, "invoke", "write"), (1, "ok", "write"), (2, "invoke", "cas"), (2, "fail", "cas"),
        ("nemesis", "invoke", "start-kill")]
