"""The kafka-txn checker on synthetic histories: each anomaly is found in a history that contains
it, and a clean history is valid."""

from __future__ import annotations

from checkers.history import Event, History
from checkers.kafka_txn import KafkaTxnChecker
from checkers.registry import build_checker


class _H:
    """Builds a history one operation at a time (invoke then completion)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.t = 0

    def op(self, process, f, invoke, type_, value, key=None, error=None, **extra):
        self.t += 10
        self.events.append(Event(len(self.events), self.t, process, "invoke", f, invoke, key,
                                 "n1", None, dict(extra)))
        self.t += 10
        self.events.append(Event(len(self.events), self.t, process, type_, f, value, key, "n1",
                                 error, dict(extra)))
        return self

    def send(self, value, offset, partition=0):
        return self.op(2, "send", {"partition": partition, "value": value}, "ok",
                       {"partition": partition, "value": value, "offset": offset})

    def transform(self, txn, consumed, type_="ok", abort=False, partition=0, error=None):
        res = {"partition": partition, "txn": txn, "abort": abort,
               "consumed": [[o, v] for o, v in consumed],
               "produced": [[partition, None, o] for o, _ in consumed],
               "next_offset": consumed[-1][0] + 1 if consumed else None}
        return self.op(0, "transform", {"partition": partition, "txn": txn, "abort": abort},
                       type_, res, error=error)

    def read(self, records, key=None, final=False, complete=True):
        extra = {"phase": "final", "complete": complete} if final else {}
        return self.op(3, "read", None, "ok",
                       [[p, o, {"txn": t, "in": [ip, io], "value": v}]
                        for p, o, t, ip, io, v in records], key=key, **extra)

    def committed(self, partition, offset):
        return self.op(4, "committed", None, "ok", {"partition": partition, "offset": offset},
                       key=partition, phase="final")

    def check(self):
        return KafkaTxnChecker().check(History(self.events))


def _clean() -> _H:
    h = _H().send(10, 0).send(11, 1).send(12, 2)
    h.transform("t0-0", [(0, 10), (1, 11)])
    h.transform("t0-1", [(2, 12)], abort=True)
    h.transform("t0-2", [(2, 12)])
    h.read([(0, 0, "t0-0", 0, 0, 10), (0, 1, "t0-0", 0, 1, 11)])
    # offsets 2 and 3 held the aborted records and the abort marker; the commit is at 4..
    h.read([(0, 0, "t0-0", 0, 0, 10), (0, 1, "t0-0", 0, 1, 11), (0, 4, "t0-2", 0, 2, 12)],
           key=0, final=True)
    h.committed(0, 3)
    return h


def test_clean_history_is_valid():
    r = _clean().check()
    assert r["valid"] is True, r
    assert r["aborted-read"]["count"] == 0
    assert r["exactly-once"]["valid"] is True
    assert r["counts"] == {"transforms-aborted": 1, "transforms-committed": 2}


def test_registered_by_name():
    assert isinstance(build_checker({"name": "kafka-txn"}), KafkaTxnChecker)


def test_aborted_read_found_with_both_ops():
    h = _clean()
    # a read_committed consumer returned the record of the transaction that aborted on purpose
    h.read([(0, 2, "t0-1", 0, 2, 12)])
    r = h.check()
    assert r["valid"] is False
    ex = r["aborted-read"]["examples"]
    assert r["aborted-read"]["count"] == 1 and ex[0]["record"][2]["txn"] == "t0-1"
    assert ex[0]["why"] == "aborted on purpose" and ex[0]["transform"]["f"] == "transform"
    assert ex[0]["read"]["f"] == "read"


def test_record_of_failed_transaction_is_an_aborted_read():
    h = _H().send(10, 0)
    h.transform("t0-0", [(0, 10)], type_="fail", error="commit: TXN_REQUIRES_ABORT")
    h.read([(0, 0, "t0-0", 0, 0, 10)])
    r = h.check()
    assert r["valid"] is False
    assert r["aborted-read"]["examples"][0]["why"].startswith("failed: commit")


def test_input_processed_twice_is_an_exactly_once_duplicate():
    h = _clean()
    # a second committed transaction processed input offset 0 again (e.g. a zombie not fenced)
    h.transform("t1-0", [(0, 10)])
    h.read([(0, 5, "t1-0", 0, 0, 10)])
    r = h.check()
    assert r["valid"] is False
    dup = r["exactly-once"]["duplicate"]
    assert dup["count"] == 1
    assert dup["examples"][0]["input"] == [0, 0]
    assert dup["examples"][0]["transactions"] == ["t0-0", "t1-0"]
    assert [0, 5, "t1-0"] in dup["examples"][0]["outputs"]


def test_duplicate_output_records_of_one_input_found_in_reads_alone():
    h = _H().send(10, 0)
    h.transform("t0-0", [(0, 10)], type_="info")
    h.transform("t0-1", [(0, 10)], type_="info")
    h.read([(0, 0, "t0-0", 0, 0, 10), (0, 2, "t0-1", 0, 0, 10)], key=0, final=True)
    r = h.check()
    assert r["valid"] is False
    assert r["exactly-once"]["duplicate"]["examples"][0]["transactions"] == ["t0-0", "t0-1"]


def test_committed_input_without_output_is_missing():
    h = _H().send(10, 0).send(11, 1)
    h.transform("t0-0", [(0, 10), (1, 11)])
    h.read([(0, 0, "t0-0", 0, 0, 10)], key=0, final=True)  # the output of offset 1 is gone
    h.committed(0, 2)
    r = h.check()
    assert r["valid"] is False
    missing = r["exactly-once"]["missing"]
    assert missing["count"] == 1 and missing["examples"][0]["input"] == [0, 1]
    assert "committed t0-0" in missing["examples"][0]["why"]


def test_input_below_committed_offset_without_output_is_missing():
    h = _H().send(10, 0).send(11, 1)
    h.transform("t0-0", [(0, 10)])
    h.transform("t0-1", [(1, 11)], type_="info")  # unknown outcome, yet the offset moved past
    h.read([(0, 0, "t0-0", 0, 0, 10)], key=0, final=True)
    h.committed(0, 2)
    r = h.check()
    assert r["valid"] is False
    assert r["exactly-once"]["missing"]["examples"][0]["why"] == "below the committed offset 2"


def test_wrong_value_in_output_is_invalid():
    h = _H().send(10, 0)
    h.transform("t0-0", [(0, 10)])
    h.read([(0, 0, "t0-0", 0, 0, 99)], key=0, final=True)
    r = h.check()
    assert r["valid"] is False and r["exactly-once"]["wrong-value"]["count"] == 1


def test_unknown_transaction_is_invalid():
    h = _clean()
    h.read([(0, 9, "t9-9", 0, 0, 10)])
    r = h.check()
    assert r["valid"] is False and r["unknown-txn"]["count"] == 1


def test_incomplete_drain_is_unknown_not_valid():
    h = _H().send(10, 0)
    h.transform("t0-0", [(0, 10)])
    h.read([], key=0, final=True, complete=False)
    r = h.check()
    assert r["valid"] == "unknown"
    assert "why-unknown" in r


def test_info_transform_may_commit_once():
    h = _H().send(10, 0)
    h.transform("t0-0", [(0, 10)], type_="info")
    h.read([(0, 0, "t0-0", 0, 0, 10)], key=0, final=True)
    h.committed(0, 1)
    assert h.check()["valid"] is True
