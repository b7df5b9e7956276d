"""The delivery checker's log findings (Jepsen's names), each on a small history written from its
definition, in our history.jsonl and in Jepsen's EDN (tests/checkers/kafka_histories.py)."""

from __future__ import annotations

import pytest

from checkers.delivery import DeliveryChecker
from tests.checkers.kafka_histories import Kafka

FORMATS = ("jsonl", "edn")


def check(h: Kafka, tmp_path, fmt: str, **options) -> dict:
    return DeliveryChecker(**options).check(h.history(tmp_path, fmt))


def in_order(h: Kafka, p: int, values: list, first: int = 0, process: int = 0) -> Kafka:
    """Acknowledged sends of `values` to partition p at offsets first, first + 1, ..."""
    for i, v in enumerate(values):
        h.send(p, v, offset=first + i, process=process)
    return h


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_clean_log_is_valid(tmp_path, fmt):
    h = in_order(Kafka(), 0, [1, 2, 3])
    in_order(h, 1, [4, 5], process=5)
    h.poll({0: [(0, 1), (1, 2)], 1: [(0, 4)]}, process=1)
    h.poll({0: [(2, 3)], 1: [(1, 5)]}, process=1)
    r = check(h, tmp_path, fmt)
    assert r["valid"] is True, r.get("reason")
    assert r["anomaly_types"] == [] and r["failing"] == []
    assert r["messages"] == {"sent_ok": 5, "sent_info": 0, "sent_fail": 0, "polled": 5}
    assert r["graph"]["wr"] >= 3 and r["cycle_search"]["components"] == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_g1a_a_polled_message_whose_send_failed(tmp_path, fmt):
    h = Kafka().send(0, 1, offset=0).send(0, 2, type="fail")
    h.poll({0: [(0, 1), (1, 2)]}, process=1)
    r = check(h, tmp_path, fmt)
    assert r["valid"] is False and "G1a" in r["failing"]
    case, = r["anomalies"]["G1a"]
    assert (case["partition"], case["value"], case["offset"]) == (0, 2, 1)
    assert case["writer"]["type"] == "fail" and case["reader"]["op"] == "poll #4"


@pytest.mark.parametrize("fmt", FORMATS)
def test_inconsistent_offsets_two_messages_acknowledged_at_one_offset(tmp_path, fmt):
    h = Kafka().send(0, 1, offset=0).send(0, 2, offset=0, process=1)
    h.poll({0: [(0, 2)]}, process=2)
    r = check(h, tmp_path, fmt)
    assert "inconsistent-offsets" in r["failing"]
    case, = r["anomalies"]["inconsistent-offsets"]
    assert case["offset"] == 0 and case["values"] == [1, 2]
    assert [c["as"] for c in case["observed"]["1"]] == ["sent"]
    assert sorted(c["as"] for c in case["observed"]["2"]) == ["polled", "sent"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_unknown_send_at_a_taken_offset_is_no_inconsistency_until_proven(tmp_path, fmt):
    # the info send's offset is not trusted: it may never have committed; once a poll shows its
    # other message, it did, and its offset claim counts
    h = Kafka().sends((0, 1, 0), (1, 9, None), type="info")
    h.send(0, 2, offset=0, process=1)
    h.poll({0: [(0, 2)]}, process=2)
    assert "inconsistent-offsets" not in check(h, tmp_path, fmt)["anomaly_types"]
    h.poll({1: [(0, 9)]}, process=3)
    assert "inconsistent-offsets" in check(h, tmp_path, fmt)["failing"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_duplicate_one_message_at_two_offsets(tmp_path, fmt):
    h = in_order(Kafka(), 0, [1, 2])
    h.poll({0: [(0, 1), (1, 2), (2, 1)]}, process=1)
    r = check(h, tmp_path, fmt)
    assert "duplicate" in r["failing"]
    case, = r["anomalies"]["duplicate"]
    assert case["value"] == 1 and case["offsets"] == [0, 2] and case["count"] == 2
    assert "int-nonmonotonic-poll" not in r["anomaly_types"]  # offsets 1 -> 2 move forward


@pytest.mark.parametrize("fmt", FORMATS)
def test_lost_write_below_the_highest_offset_polled(tmp_path, fmt):
    h = in_order(Kafka(), 0, [1, 2, 3])
    h.poll({0: [(0, 1)]}, process=1)
    h.poll({0: [(2, 3)]}, process=2)  # another consumer: no skip of its own
    r = check(h, tmp_path, fmt)
    assert r["failing"] == ["lost-write", "unseen"]
    case, = r["anomalies"]["lost-write"]
    assert (case["value"], case["offset"], case["max_read_offset"]) == (2, 1, 2)
    assert case["writer"]["op"] == "send #2" and case["max_read"]["op"] == "poll #8"
    assert "poll-skip" not in r["anomaly_types"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_unacknowledged_send_nobody_polled_is_not_lost(tmp_path, fmt):
    h = Kafka().send(0, 1, offset=0).send(0, 2, type="info").send(0, 3, offset=2)
    h.poll({0: [(0, 1), (2, 3)]}, process=1)
    r = check(h, tmp_path, fmt)
    assert "lost-write" not in r["anomaly_types"] and r["valid"] is True, r.get("reason")


@pytest.mark.parametrize("fmt", FORMATS)
def test_lost_write_of_a_committed_unknown_send(tmp_path, fmt):
    # an info op whose message to partition 1 was polled committed: its message to partition 0,
    # below what polls of partition 0 reached, is lost
    h = Kafka().sends((0, 1, 0), (1, 2, 0), type="info")
    h.send(0, 3, offset=1, process=1)
    h.poll({0: [(1, 3)]}, process=2)
    assert "lost-write" not in check(h, tmp_path, fmt)["anomaly_types"]
    h.poll({1: [(0, 2)]}, process=3)
    r = check(h, tmp_path, fmt)
    assert [c["value"] for c in r["anomalies"]["lost-write"]] == [1]


@pytest.mark.parametrize("fmt", FORMATS)
def test_precommitted_read_a_transaction_polls_its_own_send(tmp_path, fmt):
    h = Kafka().txn(polled={0: [(0, 7)]}, sends=[(0, 7, 0)])
    r = check(h, tmp_path, fmt)
    assert "precommitted-read" in r["failing"]
    assert r["anomalies"]["precommitted-read"][0]["value"] == 7


@pytest.mark.parametrize("fmt", FORMATS)
def test_garbage_read_a_message_nobody_sent(tmp_path, fmt):
    h = Kafka().send(0, 1, offset=0).poll({0: [(0, 1), (1, 99)]}, process=1)
    r = check(h, tmp_path, fmt)
    assert "garbage-read" in r["failing"] and r["anomalies"]["garbage-read"][0]["value"] == 99


def skipping_consumer(mode: str) -> Kafka:
    """Process 1 reads offset 0, then offset 2, while offset 1 exists (polled by process 2)."""
    h = in_order(Kafka(), 0, [1, 2, 3])
    getattr(h, mode)([0], process=1)
    h.poll({0: [(0, 1)]}, process=1)
    h.poll({0: [(1, 2)]}, process=2)
    h.poll({0: [(2, 3)]}, process=1)
    return h


@pytest.mark.parametrize("fmt", FORMATS)
def test_poll_skip_fails_under_assign(tmp_path, fmt):
    r = check(skipping_consumer("assign"), tmp_path, fmt)
    assert r["failing"] == ["poll-skip"]
    case, = r["anomalies"]["poll-skip"]
    assert case["skipped"] == [2] and case["delta"] == 2 and case["mode"] == "assign"
    assert [o["op"] for o in case["ops"]] == ["poll #8", "poll #12"]
    assert case["allowed"] is False


@pytest.mark.parametrize("fmt", FORMATS)
def test_poll_skip_is_allowed_under_subscribe(tmp_path, fmt):
    r = check(skipping_consumer("subscribe"), tmp_path, fmt)
    assert r["anomaly_types"] == ["poll-skip"] and r["failing"] == [] and r["valid"] is True
    assert r["anomalies"]["poll-skip"][0]["allowed"] is True


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_assign_without_the_partition_forgets_the_position(tmp_path, fmt):
    h = in_order(Kafka(), 0, [1, 2, 3])
    h.assign([0], process=1).poll({0: [(0, 1)]}, process=1)
    h.assign([1], process=1).assign([0], process=1)
    h.poll({0: [(1, 2)]}, process=2).poll({0: [(2, 3)]}, process=1)
    assert "poll-skip" not in check(h, tmp_path, fmt)["anomaly_types"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_nonmonotonic_poll_going_back_between_polls(tmp_path, fmt):
    h = in_order(Kafka(), 0, [1, 2])
    h.assign([0], process=1)
    h.poll({0: [(0, 1), (1, 2)]}, process=1)
    h.poll({0: [(0, 1)]}, process=1)
    r = check(h, tmp_path, fmt)
    assert r["failing"] == ["nonmonotonic-poll"]
    assert r["anomalies"]["nonmonotonic-poll"][0]["delta"] == -1


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_failed_poll_does_not_move_the_consumer(tmp_path, fmt):
    # after a failed poll the consumer should read from where its last ok poll left off again;
    # a failed poll that went further is a skip, as in Jepsen
    h = in_order(Kafka(), 0, [1, 2, 3, 4])
    h.assign([0], process=1).poll({0: [(0, 1)]}, process=1)
    h.poll({0: [(1, 2), (2, 3)]}, process=1, type="fail")
    h.poll({0: [(1, 2), (2, 3), (3, 4)]}, process=1)
    assert check(h, tmp_path, fmt)["valid"] is True
    h2 = in_order(Kafka(), 0, [1, 2, 3, 4])
    h2.assign([0], process=1).poll({0: [(0, 1)]}, process=1)
    h2.poll({0: [(1, 2), (2, 3)]}, process=1, type="fail")
    h2.poll({0: [(3, 4)]}, process=1)
    h2.poll({0: [(1, 2), (2, 3)]}, process=2)
    r = check(h2, tmp_path, fmt)
    assert r["failing"] == ["poll-skip"] and r["anomalies"]["poll-skip"][0]["skipped"] == [2, 3]


@pytest.mark.parametrize("fmt", FORMATS)
def test_int_poll_skip_and_int_nonmonotonic_poll_inside_one_poll(tmp_path, fmt):
    h = in_order(Kafka(), 0, [1, 2, 3])
    h.poll({0: [(0, 1), (2, 3)]}, process=1)
    h.poll({0: [(2, 3), (1, 2)]}, process=2)
    r = check(h, tmp_path, fmt)
    assert {"int-poll-skip", "int-nonmonotonic-poll"} <= set(r["failing"])
    assert r["anomalies"]["int-poll-skip"][0]["skipped"] == [2]
    assert r["anomalies"]["int-nonmonotonic-poll"][0]["values"] == [3, 2]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_rebalance_during_the_poll_excuses_its_jump(tmp_path, fmt):
    h = in_order(Kafka(), 0, [1, 2, 3])
    h.poll({0: [(0, 1), (2, 3)]}, process=1, extra={"rebalance_log": [{"assigned": [0]}]})
    h.poll({0: [(1, 2)]}, process=2)
    r = check(h, tmp_path, fmt)
    assert "int-poll-skip" not in r["anomaly_types"] and r["valid"] is True, r.get("reason")


@pytest.mark.parametrize("fmt", FORMATS)
def test_nonmonotonic_send_a_producer_going_back(tmp_path, fmt):
    h = Kafka().send(0, 1, offset=5).send(0, 2, offset=3)
    h.poll({0: [(3, 2), (5, 1)]}, process=1)
    r = check(h, tmp_path, fmt)
    assert "nonmonotonic-send" in r["failing"]
    case, = r["anomalies"]["nonmonotonic-send"]
    assert case["offsets"] == [5, 3] and case["delta"] == -1
    # the log order contradicts the producer's own order: G0-process, which Jepsen allows
    assert "G0-process" in r["anomaly_types"] and "G0-process" not in r["failing"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_int_send_skip_is_allowed_int_nonmonotonic_send_is_not(tmp_path, fmt):
    h = Kafka().sends((0, 1, 0), (0, 3, 2)).send(0, 2, offset=1, process=1)
    h.poll({0: [(0, 1), (1, 2), (2, 3)]}, process=2)
    r = check(h, tmp_path, fmt)
    assert "int-send-skip" in r["anomaly_types"] and r["failing"] == []
    h2 = Kafka().sends((0, 1, 1), (0, 2, 0))
    h2.poll({0: [(0, 2), (1, 1)]}, process=2)
    assert "int-nonmonotonic-send" in check(h2, tmp_path, fmt)["failing"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_unseen_acknowledged_messages_never_polled(tmp_path, fmt):
    h = in_order(Kafka(), 0, [1, 2, 3])
    h.poll({0: [(0, 1)]}, process=1)
    r = check(h, tmp_path, fmt)
    assert r["failing"] == ["unseen"]
    case, = r["anomalies"]["unseen"]
    assert case["count"] == 2 and case["values"] == [2, 3] and case["last_polled_offset"] == 0
    assert r["unseen"]["final"] == {"0": 2} and r["unseen"]["peak"]["count"] == 3
    assert [n for _t, n in r["unseen"]["series"]][-1] == 2


@pytest.mark.parametrize("fmt", FORMATS)
def test_acks_0_sends_without_offsets_are_placed_by_the_polls_or_unseen(tmp_path, fmt):
    # acks=0: the producer learns no offset; what a poll found is placed, the rest is unseen
    h = Kafka().send(0, 1).send(0, 2).send(0, 3, offset=2)
    h.poll({0: [(0, 1), (2, 3)]}, process=1)
    r = check(h, tmp_path, fmt)
    assert r["failing"] == ["unseen"], r["failing"]
    case, = r["anomalies"]["unseen"]
    assert case["values"] == [2]
    assert r["messages"]["sent_ok"] == 3


def crossed_writes() -> Kafka:
    """T1 sends x then y, T2 sends to both with the offsets crossed: each overwrote the other."""
    h = Kafka()
    h.sends(("x", 1, 0), ("y", 1, 1), overlap=True)
    h.sends(("x", 2, 1), ("y", 2, 0), process=1, overlap=True)
    h.poll({"x": [(0, 1), (1, 2)], "y": [(0, 2), (1, 1)]}, process=2)
    return h


@pytest.mark.parametrize("fmt", FORMATS)
def test_g0_a_write_cycle_is_reported_and_allowed(tmp_path, fmt):
    r = check(crossed_writes(), tmp_path, fmt)
    assert "G0" in r["anomaly_types"] and r["valid"] is True, r.get("reason")
    cycle, = r["anomalies"]["G0"]
    assert [s["kind"] for s in cycle["steps"]] == ["ww", "ww"]
    assert "sent" in cycle["steps"][0]["explanation"]
    r = check(crossed_writes(), tmp_path, fmt, ww_deps=False)
    assert "G0" not in r["anomaly_types"]


def reading_each_other() -> Kafka:
    """Two concurrent transactions each poll the message the other sent: a wr cycle."""
    h = Kafka()
    h.txn(polled={"y": [(0, 2)]}, sends=[("x", 1, 0)], overlap=True)
    h.txn(polled={"x": [(0, 1)]}, sends=[("y", 2, 0)], process=1, overlap=True)
    return h


@pytest.mark.parametrize("fmt", FORMATS)
def test_g1c_fails_only_without_ww_deps(tmp_path, fmt):
    r = check(reading_each_other(), tmp_path, fmt)
    assert "G1c" in r["anomaly_types"] and r["valid"] is True, r.get("reason")
    r = check(reading_each_other(), tmp_path, fmt, ww_deps=False)
    assert r["failing"] == ["G1c"] and r["valid"] is False
    cycle, = r["anomalies"]["G1c"]
    assert {s["kind"] for s in cycle["steps"]} == {"wr"}
    assert "which T" in cycle["steps"][0]["explanation"] and "polled" in cycle["explanation"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_g1c_realtime_a_poll_of_the_future(tmp_path, fmt):
    # the poll completes before the send is invoked, yet returns its message
    h = Kafka().poll({0: [(0, 1)]}, process=1).send(0, 1, offset=0)
    r = check(h, tmp_path, fmt, ww_deps=False)
    assert r["failing"] == ["G1c-realtime"]
    kinds = [s["kind"] for s in r["anomalies"]["G1c-realtime"][0]["steps"]]
    assert sorted(kinds) == ["realtime", "wr"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_rw_edges_on_request(tmp_path, fmt):
    # T1 polls x up to 1 but not 2, which T2 sent; T2 polls y up to 3 but not 4, which T1 sent
    h = Kafka().send("x", 1, offset=0, process=5).send("y", 3, offset=0, process=5)
    h.txn(polled={"x": [(0, 1)]}, sends=[("y", 4, 1)], process=1, overlap=True)
    h.txn(polled={"y": [(0, 3)]}, sends=[("x", 2, 1)], process=2, overlap=True)
    h.poll({"x": [(0, 1), (1, 2)], "y": [(0, 3), (1, 4)]}, process=3)
    assert not any(k.startswith("G2") for k in check(h, tmp_path, fmt)["anomaly_types"])
    r = check(h, tmp_path, fmt, rw_deps=True)
    assert "G2-item" in r["anomaly_types"] and r["valid"] is True
    assert r["graph"]["rw"] >= 2


def test_jepsen_edn_whose_every_value_has_two_elements(tmp_path):
    # every op a two-micro-op transaction: not to be taken for jepsen.independent [key value]
    # pairs (the reader knows txn ops; the checker would read them as Kafka ops all the same)
    edn = tmp_path / "h.edn"
    edn.write_text("""[{:index 0 :time 0 :process 0 :type :invoke :f :txn :value [[:send 0 1] [:poll]]}
{:index 1 :time 1 :process 0 :type :ok :f :txn :value [[:send 0 [0 1]] [:poll {}]]}
{:index 2 :time 2 :process 1 :type :invoke :f :txn :value [[:send 0 2] [:poll]]}
{:index 3 :time 3 :process 1 :type :ok :f :txn :value [[:send 0 [1 2]] [:poll {0 [[0 1] [1 2]]}]]}]
""")
    from checkers.formats import read_history
    history = read_history(edn)
    assert "independent" not in history.meta  # what this test is about
    r = DeliveryChecker().check(history)
    assert r["messages"]["sent_ok"] == 2 and r["messages"]["polled"] == 2
    assert r["anomaly_types"] == ["precommitted-read"]  # process 1 polled its own send of 2


def test_a_history_without_kafka_ops_says_so(tmp_path):
    from checkers.history import Event, History
    r = DeliveryChecker().check(History([Event(0, 0, 0, "invoke", "write", 1),
                                         Event(1, 5, 0, "ok", "write", 1)]))
    assert r["valid"] is True and r["other_ops"] == 1 and "no send, poll" in r["note"]
