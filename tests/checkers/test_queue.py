"""The queue checker: each Kafka anomaly proven by a synthetic history that contains it."""

from checkers.history import Event, History
from checkers.queue import QueueChecker
from checkers.registry import build_checker

MS = 1_000_000


class Builder:
    """Ops laid out one after another (1 ms apart) unless times are given."""

    def __init__(self):
        self.rows = []
        self.t = 0

    def _at(self, start, end):
        if start is None:
            start, end = self.t, self.t + 1
        self.t = max(self.t, end if end is not None else start) + 1
        return start, end

    def send(self, p, partition, value, offset=None, outcome="ok", start=None, end=None):
        start, end = self._at(start, end)
        inv = {"partition": partition, "value": value}
        self.rows.append((start, p, "invoke", "send", inv, None, {}))
        if outcome is not None:
            done = {**inv, "offset": offset} if outcome == "ok" else None
            self.rows.append((end, p, outcome, "send", done, None, {}))
        return self

    def poll(self, p, records, final_partition=None, outcome="ok", start=None, end=None,
             complete=None):
        start, end = self._at(start, end)
        extra = {"phase": "final"} if final_partition is not None else {}
        if complete is not None:
            extra["complete"] = complete
        self.rows.append((start, p, "invoke", "poll", None, final_partition, extra))
        self.rows.append((end, p, outcome, "poll", [list(r) for r in records]
                          if outcome == "ok" else None, final_partition, extra))
        return self

    def history(self):
        rows = sorted(self.rows, key=lambda r: r[0])
        return History([Event(i, int(t * MS), p, ty, f, v, k, None, None, dict(x))
                        for i, (t, p, ty, f, v, k, x) in enumerate(rows)])

    def check(self):
        return QueueChecker().check(self.history())


def clean():
    b = Builder()
    b.send(0, 0, 1, 0).send(1, 0, 2, 1).send(0, 1, 3, 0)
    b.poll(2, [(0, 0, 1)]).poll(2, [(0, 1, 2)]).poll(3, [(1, 0, 3)])
    b.poll(10, [(0, 0, 1), (0, 1, 2)], final_partition=0).poll(11, [(1, 0, 3)], final_partition=1)
    return b


def test_clean_history_is_valid():
    r = clean().check()
    assert r["valid"] is True, r
    assert all(n == 0 for n in r["counts"].values())
    assert r["sends"] == {"ok": 3, "fail": 0, "info": 0}
    assert r["partitions"] == {"0": {"highest_offset_polled": 1, "drained": True},
                               "1": {"highest_offset_polled": 0, "drained": True}}


def test_lost_write_acknowledged_but_reads_went_past_it():
    b = Builder()
    b.send(0, 0, 1, 0).send(1, 0, 2, 1).send(0, 0, 3, 2)
    # The new leader's log has 1 then 3 at offset 1 and 2 ... value 2 never read.
    b.poll(10, [(0, 0, 1), (0, 2, 3)], final_partition=0)
    r = b.check()
    assert r["valid"] is False
    assert r["counts"]["lost-write"] == 1
    lost = r["lost-write"][0]
    assert (lost["partition"], lost["offset"], lost["value"]) == (0, 1, 2)
    assert lost["send"]["op"] == 1 and lost["highest_offset_polled"] == 2
    assert lost["highest_offset_poll"] == 3
    assert "value 2 acknowledged at partition 0 offset 1" in r["error"]


def test_lost_write_overwritten_at_its_offset_is_also_inconsistent():
    # acks=1 style: the old leader acknowledged 2 at offset 1, the new leader wrote 9 there.
    b = Builder()
    b.send(0, 0, 1, 0).send(1, 0, 2, 1).send(0, 0, 9, 1)
    b.poll(10, [(0, 0, 1), (0, 1, 9)], final_partition=0)
    r = b.check()
    assert r["valid"] is False
    assert r["counts"]["lost-write"] == 1 and r["lost-write"][0]["values_polled_at_offset"] == [9]
    bad = r["inconsistent-offsets"][0]
    assert (bad["partition"], bad["offset"]) == (0, 1)
    assert {v["value"] for v in bad["values"]} == {2, 9}


def test_unseen_without_a_drain_is_unknown():
    b = Builder()
    b.send(0, 0, 1, 0).send(1, 0, 2, 1)
    b.poll(2, [(0, 0, 1)])  # a poll that never reached offset 1
    r = b.check()
    assert r["valid"] == "unknown"
    assert r["counts"]["unseen"] == 1 and r["unseen"][0]["drained"] is False
    assert r["unseen"][0]["highest_offset_polled"] == 0


def test_unseen_after_a_complete_drain_is_a_loss():
    b = Builder()
    b.send(0, 0, 1, 0).send(1, 0, 2, 1)
    b.poll(10, [(0, 0, 1)], final_partition=0)  # the drained log ends at offset 0
    r = b.check()
    assert r["valid"] is False
    assert r["unseen"][0]["drained"] is True and "unseen after a final drain" in r["error"]


def test_unseen_partition_never_polled():
    b = Builder().send(0, 3, 1, 0)
    r = b.check()
    assert r["valid"] == "unknown" and r["unseen"][0]["highest_offset_polled"] is None


def test_duplicate_value_at_two_offsets():
    b = Builder()
    b.send(0, 0, 1, 0).send(0, 0, 2, 1)
    b.poll(10, [(0, 0, 1), (0, 1, 2), (0, 2, 2)], final_partition=0)
    r = b.check()
    assert r["valid"] is False and r["counts"]["duplicate"] == 1
    dup = r["duplicate"][0]
    assert dup["value"] == 2 and [x["offset"] for x in dup["positions"]] == [1, 2]
    assert dup["positions"][0]["seen_by"] == ["send op 1", "poll op 2"]


def test_duplicate_between_acknowledged_offset_and_read_offset():
    b = Builder()
    b.send(0, 0, 5, 3)
    b.poll(10, [(0, 0, 5)], final_partition=0)
    r = b.check()
    assert r["valid"] is False and r["duplicate"][0]["value"] == 5


def test_inconsistent_offsets_between_two_reads():
    b = Builder()
    b.send(0, 0, 1, outcome="info").send(1, 0, 2, outcome="info")
    b.poll(2, [(0, 0, 1)]).poll(3, [(0, 0, 2)])
    r = b.check()
    assert r["valid"] is False and r["counts"]["inconsistent-offsets"] == 1
    assert r["counts"]["duplicate"] == 0


def test_nonmonotonic_poll_within_one_consumer():
    b = Builder()
    b.send(0, 0, 1, 0).send(0, 0, 2, 1)
    b.poll(2, [(0, 0, 1), (0, 1, 2)]).poll(2, [(0, 0, 1)])
    r = b.check()
    assert r["valid"] is False and r["counts"]["nonmonotonic-poll"] == 1
    bad = r["nonmonotonic-poll"][0]
    assert (bad["process"], bad["partition"], bad["offset"], bad["after_offset"]) == (2, 0, 0, 1)
    assert (bad["previous_poll"], bad["poll"]) == (2, 3)


def test_different_consumers_reading_the_same_offsets_is_fine():
    b = Builder()
    b.send(0, 0, 1, 0)
    b.poll(2, [(0, 0, 1)]).poll(3, [(0, 0, 1)]).poll(10, [(0, 0, 1)], final_partition=0)
    assert b.check()["valid"] is True


def test_poll_skip_over_a_record_another_read_saw():
    b = Builder()
    b.send(0, 0, 1, 0).send(0, 0, 2, 1).send(0, 0, 3, 2)
    b.poll(2, [(0, 0, 1)]).poll(2, [(0, 2, 3)])  # jumped over offset 1
    b.poll(10, [(0, 0, 1), (0, 1, 2), (0, 2, 3)], final_partition=0)
    r = b.check()
    assert r["valid"] is False and r["counts"]["poll-skip"] == 1
    skip = r["poll-skip"][0]
    assert (skip["process"], skip["after_offset"], skip["offset"]) == (2, 0, 2)
    assert skip["skipped_offsets"] == [1]


def test_a_consumer_starting_past_known_records_skipped_them():
    b = Builder()
    b.send(0, 0, 1, 0).send(0, 0, 2, 1)
    b.poll(2, [(0, 1, 2)])
    b.poll(10, [(0, 0, 1), (0, 1, 2)], final_partition=0)
    r = b.check()
    assert r["counts"]["poll-skip"] == 1 and r["poll-skip"][0]["after_offset"] is None


def test_gap_nobody_ever_read_is_not_a_skip():
    # Offsets 1 and 2 hold transaction markers, say: no read ever returned them.
    b = Builder()
    b.send(0, 0, 1, 0).send(0, 0, 2, 3)
    b.poll(2, [(0, 0, 1), (0, 3, 2)]).poll(10, [(0, 0, 1), (0, 3, 2)], final_partition=0)
    assert b.check()["valid"] is True


def test_info_sends_seen_or_not_are_not_anomalies():
    b = Builder()
    b.send(0, 0, 1, 0).send(1, 0, 2, outcome="info").send(2, 0, 3, outcome="info")
    b.send(3, 0, 4, outcome=None)  # never completed: also unknown
    b.poll(10, [(0, 0, 1), (0, 1, 2)], final_partition=0)
    r = b.check()
    assert r["valid"] is True, r
    assert r["info_sends_seen"] == 1 and r["info_sends_unseen"] == 2


def test_read_of_a_value_never_sent_or_whose_send_failed_is_unexpected():
    b = Builder()
    b.send(0, 0, 1, 0).send(1, 0, 2, outcome="fail")
    b.poll(10, [(0, 0, 1), (0, 1, 2), (0, 2, 99)], final_partition=0)
    r = b.check()
    assert r["valid"] is False and r["counts"]["unexpected"] == 2
    why = {u["value"]: u["why"] for u in r["unexpected"]}
    assert why[99] == "never sent" and "failed" in why[2]


def test_failed_send_never_seen_is_fine_and_failed_polls_are_ignored():
    b = clean()
    b.send(0, 0, 50, outcome="fail")
    b.poll(4, [], outcome="info")
    assert b.check()["valid"] is True


def test_malformed_records_are_reported_not_raised():
    b = clean()
    b.poll(5, [(0, "x", 1), "junk"])
    r = b.check()
    assert r["malformed_count"] == 2 and r["valid"] is True


def test_empty_history_is_valid_with_a_note():
    r = QueueChecker().check(History([]))
    assert r["valid"] is True and "nothing to judge" in r["note"]


def test_final_poll_key_as_text_counts_as_a_drain():
    b = Builder()
    b.send(0, 0, 1, 0).send(1, 0, 2, 1)
    b.poll(10, [(0, 0, 1)], final_partition="0")
    assert b.check()["unseen"][0]["drained"] is True


# acks=0: the producer hears of no offset, so an acknowledged send is {"partition", "value"} only


def test_acknowledged_without_an_offset_and_polled_is_fine():
    b = Builder()
    b.send(0, 0, 1).send(1, 0, 2)
    b.poll(10, [(0, 0, 1), (0, 1, 2)], final_partition=0)
    r = b.check()
    assert r["valid"] is True and r["acknowledged_without_offset"] == 2, r


def test_acknowledged_without_an_offset_missing_from_a_complete_drain_is_lost():
    b = Builder()
    b.send(0, 0, 1).send(1, 0, 2).send(1, 1, 3)
    b.poll(10, [(0, 0, 1)], final_partition=0)
    r = b.check()
    assert r["valid"] is False and r["counts"]["lost-write"] == 1, r
    lost = r["lost-write"][0]
    assert (lost["partition"], lost["offset"], lost["value"]) == (0, None, 2)
    assert lost["send"]["op"] == 1 and "acks=0" in lost["why"]
    assert "without an offset" in r["error"]
    # partition 1 was never drained: its offset-less send is unseen, not lost
    assert [(u["partition"], u["value"], u["drained"]) for u in r["unseen"]] == [(1, 3, False)]


def test_a_drain_that_stopped_short_proves_no_loss():
    b = Builder()
    b.send(0, 0, 1).send(1, 0, 2, 1)
    b.poll(10, [(0, 0, 1)], final_partition=0, complete=False)
    r = b.check()
    assert r["valid"] == "unknown" and r["counts"]["lost-write"] == 0, r
    assert r["partitions"]["0"]["drained"] is False


def test_truncated_acknowledged_and_polled_but_gone_from_the_final_drain():
    # offsets 1 and 2 were acknowledged and read, then the log was cut back to offset 1 and a
    # new leader wrote 4 there
    b = Builder()
    b.send(0, 0, 1, 0).send(1, 0, 2, 1).send(0, 0, 3, 2).send(1, 0, 4, 1)
    b.poll(2, [(0, 0, 1), (0, 1, 2), (0, 2, 3)])
    b.poll(10, [(0, 0, 1), (0, 1, 4)], final_partition=0)
    r = b.check()
    assert r["valid"] is False and r["counts"]["truncated"] == 2, r
    assert [(t["offset"], t["value"], t["value_now_at_offset"]) for t in r["truncated"]] == \
        [(1, 2, 4), (2, 3, None)]
    assert r["truncated"][0]["polled_by"] == ["poll op 4"]
    assert r["truncated"][0]["final_drain"]["op"] == 5
    assert r["counts"]["inconsistent-offsets"] == 1  # offset 1: 2 then 4
    assert "no longer holds it" in r["error"]


def test_no_truncation_without_a_complete_drain():
    b = Builder()
    b.send(0, 0, 1, 0).send(1, 0, 2, 1)
    b.poll(2, [(0, 0, 1), (0, 1, 2)])
    b.poll(10, [(0, 0, 1)], final_partition=0, complete=False)
    assert b.check()["counts"]["truncated"] == 0


def test_registered_under_its_name():
    assert isinstance(build_checker({"name": "queue"}), QueueChecker)
