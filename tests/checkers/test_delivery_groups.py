"""The delivery checker's consumer-group findings: each delivery promise against the commit
policies' typical failures (a crash after processing and before committing, a commit before
processing), written from the definitions in docs/checkers-delivery.md."""

from __future__ import annotations

import pytest

from checkers.delivery import DeliveryChecker
from checkers.delivery.checker import OptionError
from tests.checkers.kafka_histories import Kafka


def check(h: Kafka, tmp_path, fmt: str = "jsonl", **options) -> dict:
    return DeliveryChecker(**options).check(h.history(tmp_path, fmt))


def produced(h: Kafka, values: list, p: int = 0) -> Kafka:
    for i, v in enumerate(values):
        h.send(p, v, offset=i, process=0)
    return h


def drained(h: Kafka, values: list, p: int = 0) -> Kafka:
    """The final drain: a consumer outside any group, assigned the partition, reading it from
    the beginning (what makes the log findings about the log, not about the groups)."""
    return h.assign([p], process=9).poll({p: list(enumerate(values))}, process=9)


def member(name: str, process: int, group: str = "g") -> dict:
    return {"group": group, "member": name, "process": process}


def assigned(*logs) -> dict:
    return {"rebalance_log": [{"assigned": list(logs)}]}


def redelivery_after_crash(policy: str = "after") -> Kafka:
    """c1 processes offsets 0-4 but commits only up to 3, then crashes; c2 gets the partition
    and starts again from the committed offset 3: offsets 3 and 4 are processed twice."""
    h = produced(Kafka(), [1, 2, 3, 4, 5, 6])
    c1, c2 = member("c1", 1), member("c2", 2)
    h.subscribe([0], commit=policy, **c1)
    h.poll({0: [(0, 1), (1, 2), (2, 3)]}, extra=assigned(0), **c1)
    h.commit({0: 3}, **c1)
    h.poll({0: [(3, 4), (4, 5)]}, **c1)
    h.crash(1, member="c1")
    h.subscribe([0], commit=policy, **c2)
    h.poll({0: [(3, 4), (4, 5), (5, 6)]}, extra=assigned(0), **c2)
    return h


def test_commit_after_redelivers_but_loses_nothing(tmp_path):
    r = check(redelivery_after_crash(), tmp_path)
    g = r["groups"]["g"]
    assert g["promise"] == "at-least-once" and g["promise_from"] == "commit policy after"
    assert g["valid"] is True and r["valid"] is True, r.get("reason")
    assert g["anomaly_types"] == ["duplicate-processing"] and g["failing"] == []
    dups = g["anomalies"]["duplicate-processing"]
    assert [(c["offset"], c["value"]) for c in dups] == [(3, 4), (4, 5)]
    first = dups[0]
    assert first["cause"] == "crash" and first["crashes"][0]["members"] == ["c1"]
    assert [p["member"] for p in first["processings"]] == ["c1", "c2"]
    assert "crashed" in first["explanation"] and "offset 3 (commit" in first["explanation"]
    assert first["commits"][-1]["offset"] == 3
    assert g["crashes"] == 1 and g["commits"] == 1 and g["members"] == 2


def test_the_same_history_breaks_exactly_once(tmp_path):
    r = check(redelivery_after_crash(), tmp_path, delivery="exactly-once")
    g = r["groups"]["g"]
    assert g["promise"] == "exactly-once" and g["promise_from"] == "the delivery option"
    assert g["failing"] == ["duplicate-processing"] and r["valid"] is False
    assert r["reason"].startswith("duplicate-processing in group g, which promises exactly-once")


def test_at_most_once_forbids_duplicates_too(tmp_path):
    r = check(redelivery_after_crash("before"), tmp_path)
    assert r["groups"]["g"]["promise"] == "at-most-once"
    assert r["groups"]["g"]["failing"] == ["duplicate-processing"]


def loss_after_commit_before(record_commit: bool) -> Kafka:
    """c1 processes offsets 0-1, commits 4 (commit before processing), crashes before
    processing 2-3; c2 resumes at the committed offset 4: offsets 2 and 3 are never processed."""
    h = produced(Kafka(), [1, 2, 3, 4, 5, 6])
    c1, c2 = member("c1", 1), member("c2", 2)
    h.subscribe([0], commit="before", **c1)
    h.poll({0: [(0, 1), (1, 2)]}, extra=assigned(0), **c1)
    if record_commit:
        h.commit({0: 4}, **c1)
    h.poll({}, type="info", **c1)  # polled 2-3, committed, then killed before processing them
    h.crash(1, member="c1")
    h.subscribe([0], commit="before", **c2)
    h.poll({0: [(4, 5), (5, 6)]}, extra=assigned(0), **c2)
    return drained(h, [1, 2, 3, 4, 5, 6])


@pytest.mark.parametrize("record_commit", [False, True])
def test_commit_before_loses_messages_under_crash(tmp_path, record_commit):
    h = loss_after_commit_before(record_commit)
    r = check(h, tmp_path)
    g = r["groups"]["g"]
    assert g["promise"] == "at-most-once" and g["valid"] is True and r["valid"] is True
    lost = g["anomalies"]["lost-message"]
    assert [(c["offset"], c["value"]) for c in lost] == [(2, 3), (3, 4)]
    case = lost[0]
    assert case["processed_before"]["offset"] == 1 and case["processed_before"]["member"] == "c1"
    assert case["processed_after"]["offset"] == 4 and case["processed_after"]["member"] == "c2"
    if record_commit:
        assert case["cause"] == "commit" and "committed offset 4" in case["explanation"]
    else:
        assert case["cause"] == "crash" and "'c1' crashed" in case["explanation"]
    assert r["anomaly_types"] == []  # the log lost nothing: the final drain read it all
    r = check(h, tmp_path, delivery="at-least-once")
    assert r["valid"] is False and r["groups"]["g"]["failing"] == ["lost-message"]


def test_unprocessed_messages_past_the_groups_progress(tmp_path):
    h = produced(Kafka(), [1, 2, 3, 4])
    h.subscribe([0], commit="after", **member("c1", 1))
    h.poll({0: [(0, 1), (1, 2)]}, extra=assigned(0), **member("c1", 1))
    r = check(h, tmp_path)
    g = r["groups"]["g"]
    assert g["failing"] == ["unprocessed"]
    assert [c["offset"] for c in g["anomalies"]["unprocessed"]] == [2, 3]
    assert "last processed offset there is 1" in g["anomalies"]["unprocessed"][0]["explanation"]
    assert "unseen" in r["failing"]  # and no one else polled them either
    r = check(drained(h, [1, 2, 3, 4]), tmp_path)
    assert r["failing"] == [] and r["groups"]["g"]["failing"] == ["unprocessed"]


@pytest.mark.parametrize("fmt", ["jsonl", "edn"])
def test_acks_0_a_send_without_offset_the_group_never_processed(tmp_path, fmt):
    # acks=0: the producer hears no offset; the group processed 1 and 3, never 2
    h = Kafka().send(0, 1).send(0, 2).send(0, 3)
    h.subscribe([0], commit="after", **member("c1", 1))
    h.poll({0: [(0, 1), (1, 3)]}, extra=assigned(0), **member("c1", 1))
    r = check(h, tmp_path, fmt, delivery="at-least-once")
    g = r["groups"]["g" if fmt == "jsonl" else "default"]  # Jepsen's EDN names no group
    assert g["failing"] == ["unprocessed"] and r["valid"] is False
    case, = g["anomalies"]["unprocessed"]
    assert (case["offset"], case["value"]) == (None, 2)
    assert "no offset: acks=0" in case["explanation"]


def test_what_the_group_committed_past_and_never_processed_is_lost_even_at_the_end(tmp_path):
    # commit=before: c1 commits offset 4 and crashes before processing 2 and 3; nothing is sent
    # after them, so no later processing shows the group went past them: its commit does.
    h = produced(Kafka(), [1, 2, 3, 4])
    c1 = member("c1", 1)
    h.subscribe([0], commit="before", **c1)
    h.poll({0: [(0, 1), (1, 2)]}, extra=assigned(0), **c1)
    h.commit({0: 4}, **c1)
    h.crash(1, member="c1")
    r = check(drained(h, [1, 2, 3, 4]), tmp_path, delivery="at-least-once")
    g = r["groups"]["g"]
    assert g["failing"] == ["lost-message"] and "unprocessed" not in g["anomaly_counts"]
    lost = g["anomalies"]["lost-message"]
    assert [(c["offset"], c["value"]) for c in lost] == [(2, 3), (3, 4)]
    assert lost[0]["cause"] == "commit" and "yet committed past it" in lost[0]["explanation"]
    assert "after offset 1" in lost[0]["explanation"]


def test_a_duplicate_by_a_member_whose_partition_was_revoked_during_its_poll_is_explained(
        tmp_path):
    # c1's poll read offsets 0-1, then lost the partition to c2 in the same poll (eager
    # rebalance) and ended after c2's poll had processed them again: c1's rebalance log, stamped
    # at its end, explains the redelivery although c2's processing ended first.
    h = produced(Kafka(), [1, 2])
    c1, c2 = member("c1", 1), member("c2", 2)
    h.subscribe([0], commit="after", **c1)
    h.poll({0: [(0, 1), (1, 2)]}, overlap=True,
           extra={"rebalance_log": [{"assigned": [0]}, {"revoked": [0]}]}, **c1)
    h.subscribe([0], commit="after", **c2)
    h.poll({0: [(0, 1), (1, 2)]}, extra=assigned(0), **c2)
    r = check(drained(h, [1, 2]), tmp_path, delivery="exactly-once")
    dups = r["groups"]["g"]["anomalies"]["duplicate-processing"]
    assert [(c["offset"], c["cause"]) for c in dups] == [(0, "rebalance"), (1, "rebalance")]
    assert "was revoked" in dups[0]["explanation"]
    # the same when the member that lost it is the one invoked second
    h = produced(Kafka(), [1, 2])
    h.subscribe([0], commit="after", **c2)
    h.poll({0: [(0, 1), (1, 2)]}, overlap=True, extra=assigned(0), **c2)
    h.subscribe([0], commit="after", **c1)
    h.poll({0: [(0, 1), (1, 2)]}, extra={"rebalance_log": [{"revoked": [0]}]}, **c1)
    r = check(drained(h, [1, 2]), tmp_path, delivery="exactly-once")
    dups = r["groups"]["g"]["anomalies"]["duplicate-processing"]
    assert [(c["offset"], c["cause"]) for c in dups] == [(0, "rebalance"), (1, "rebalance")]


def test_a_duplicate_with_no_crash_or_rebalance_is_unexplained(tmp_path):
    h = produced(Kafka(), [1, 2])
    c1 = member("c1", 1)
    h.subscribe([0], commit="after", **c1)
    h.poll({0: [(0, 1), (1, 2)]}, extra=assigned(0), **c1)
    h.poll({0: [(1, 2)]}, **c1)
    r = check(h, tmp_path)
    case, = r["groups"]["g"]["anomalies"]["duplicate-processing"]
    assert case["cause"] == "unexplained" and case["count"] == 2
    assert "nonmonotonic-poll" in r["anomaly_types"]  # and allowed: subscribed
    assert r["valid"] is True


def two_owners(step_ms: float = 1000) -> Kafka:
    """c2 is assigned partition 0 while c1, never told to give it up, goes on polling it."""
    h = produced(Kafka(step_ms=step_ms), [1, 2, 3, 4])
    c1, c2 = member("c1", 1), member("c2", 2)
    h.subscribe([0], commit="txn", **c1).subscribe([0], commit="txn", **c2)
    h.poll({0: [(0, 1)]}, extra=assigned(0), **c1)
    h.poll({0: [(1, 2)]}, extra=assigned(0), **c2)
    h.poll({0: [(2, 3)]}, **c1)
    h.poll({0: [(3, 4)]}, **c2)
    return h


def test_double_ownership_beyond_the_grace(tmp_path):
    r = check(two_owners(), tmp_path, rebalance_grace=0.5)
    g = r["groups"]["g"]
    case, = g["anomalies"]["double-ownership"]
    assert case["members"] == ["c1", "c2"] and case["overlap_s"] == pytest.approx(3.0)
    assert case["holdings"][0]["ended"] == "its last op"
    assert {p["member"] for p in case["polls_during"]} == {"c1", "c2"}
    assert g["promise"] == "exactly-once" and g["failing"] == ["double-ownership"]
    # within the default grace of 3 s it is a rebalance in flight
    assert "double-ownership" not in check(two_owners(), tmp_path)["groups"]["g"]["anomaly_types"]
    # at-least-once tolerates it: two owners only cause duplicates
    r = check(two_owners(), tmp_path, rebalance_grace=0.5, delivery="at-least-once")
    assert r["groups"]["g"]["failing"] == [] and r["valid"] is True


def test_a_revocation_ends_the_holding(tmp_path):
    h = produced(Kafka(step_ms=1000), [1, 2, 3])
    c1, c2 = member("c1", 1), member("c2", 2)
    h.poll({0: [(0, 1)]}, extra=assigned(0), **c1)
    h.poll({}, extra={"rebalance_log": [{"revoked": [0]}]}, **c1)
    h.poll({0: [(1, 2)]}, extra=assigned(0), **c2)
    h.poll({}, **c1)
    h.poll({0: [(2, 3)]}, **c2)
    g = check(h, tmp_path, rebalance_grace=0, delivery="exactly-once")["groups"]["g"]
    assert "double-ownership" not in g["anomaly_types"] and g["valid"] is True


def test_missed_by_group_a_second_group_missing_what_the_first_got(tmp_path):
    h = produced(Kafka(), [1, 2, 3])
    h.poll({0: [(0, 1), (1, 2), (2, 3)]}, extra=assigned(0), **member("a1", 1, "one"))
    h.poll({0: [(0, 1)]}, extra=assigned(0), **member("b1", 2, "two"))
    h.poll({0: [(2, 3)]}, **member("b1", 2, "two"))
    r = check(h, tmp_path, delivery="at-least-once")
    two = r["groups"]["two"]
    assert two["failing"] == ["lost-message", "missed-by-group"]
    case, = two["anomalies"]["missed-by-group"]
    assert (case["other_group"], case["offset"], case["value"]) == ("one", 1, 2)
    assert r["groups"]["one"]["valid"] is True


def exactly_once_pipeline(duplicate: bool) -> Kafka:
    """commit=txn: each transaction consumes input records and sends one output record per input
    (value + 100) to partition out/0 with the offsets; a verifier reads the output."""
    h = produced(Kafka(), [1, 2, 3])
    c1, c2 = member("c1", 1), member("c2", 2)
    h.subscribe([0], commit="txn", **c1)
    h.txn(polled={0: [(0, 1), (1, 2)]}, sends=[("out/0", 101, 0), ("out/0", 102, 1)],
          extra=assigned(0), **c1)
    h.crash(1, member="c1")
    h.subscribe([0], commit="txn", **c2)
    again = [(1, 2), (2, 3)] if duplicate else [(2, 3)]
    out = [("out/0", 100 + v, 2 + i) for i, (_o, v) in enumerate(again)]
    h.txn(polled={0: again}, sends=out, extra=assigned(0), **c2)
    h.poll({"out/0": [(0, 101), (1, 102)] + [(o, v) for _p, v, o in out]}, process=9)
    return h


def test_commit_txn_exactly_once(tmp_path):
    r = check(exactly_once_pipeline(duplicate=False), tmp_path)
    g = r["groups"]["g"]
    assert g["promise"] == "exactly-once" and g["valid"] is True
    assert r["valid"] is True, r.get("reason")
    r = check(exactly_once_pipeline(duplicate=True), tmp_path)
    g = r["groups"]["g"]
    assert g["failing"] == ["duplicate-processing"] and r["valid"] is False
    assert g["anomalies"]["duplicate-processing"][0]["cause"] == "crash"
    # the output topic shows the same input processed twice: message 102 at two offsets
    assert "duplicate" in r["failing"]


def test_an_unknown_transaction_that_committed_counts_as_processing(tmp_path):
    h = produced(Kafka(), [1])
    c1 = member("c1", 1)
    h.subscribe([0], commit="txn", **c1)
    h.txn(polled={0: [(0, 1)]}, sends=[("out/0", 101, None)], type="info", extra=assigned(0),
          **c1)
    drained(h, [1])
    r = check(h, tmp_path)
    assert r["groups"]["g"]["failing"] == ["unprocessed"]
    h.poll({"out/0": [(0, 101)]}, process=9)  # its output was committed: so was its input
    r = check(h, tmp_path)
    assert r["groups"]["g"]["valid"] is True and r["valid"] is True, r.get("reason")


def test_no_recorded_policy_is_reported_but_not_judged(tmp_path):
    h = produced(Kafka(), [1, 2])
    h.poll({0: [(0, 1), (1, 2)]}, **member("c1", 1))
    h.poll({0: [(1, 2)]}, **member("c2", 2))
    r = check(h, tmp_path)
    g = r["groups"]["g"]
    assert g["promise"] is None and g["valid"] is None and r["valid"] is True
    assert g["anomaly_types"] == ["duplicate-processing"] and "pass delivery=" in r["note"]


def test_members_disagreeing_on_the_policy_are_not_judged(tmp_path):
    h = produced(Kafka(), [1])
    h.subscribe([0], commit="before", **member("c1", 1))
    h.subscribe([0], commit="txn", **member("c2", 2))
    h.poll({0: [(0, 1)]}, **member("c1", 1))
    g = check(h, tmp_path)["groups"]["g"]
    assert g["promise"] is None and "disagree" in g["promise_from"]


def test_jepsen_edn_with_a_crash_judged_at_a_promise_given(tmp_path):
    # Jepsen's histories name no group and no policy: one implicit group, judged on request
    h = produced(Kafka(), [1, 2, 3])
    h.subscribe([0], process=1).poll({0: [(0, 1), (1, 2)]}, process=1)
    h.crash(1)
    h.subscribe([0], process=2).poll({0: [(1, 2), (2, 3)]}, process=2)
    r = check(h, tmp_path, "edn")
    assert r["groups"]["default"]["promise"] is None and r["valid"] is True
    r = check(h, tmp_path, "edn", delivery="exactly-once")
    case, = r["groups"]["default"]["anomalies"]["duplicate-processing"]
    assert case["cause"] == "crash" and case["crashes"][0]["event"] == "crash #10"
    assert r["valid"] is False


def test_options_are_checked(tmp_path):
    with pytest.raises(OptionError, match="delivery"):
        DeliveryChecker(delivery="twice")
    with pytest.raises(OptionError, match="no option"):
        DeliveryChecker(colour="red")
    with pytest.raises(OptionError, match="at least 0"):
        DeliveryChecker(rebalance_grace=-1)
    c = DeliveryChecker(**{"rebalance-grace": "1.5", "ww_deps": "false", "max_cases": "3"})
    assert (c.rebalance_grace, c.ww_deps, c.max_cases) == (1.5, False, 3)


def test_jepsen_edn_lost_messages_judged_at_least_once(tmp_path):
    # process 1 polls offset 0, dies in its next poll (which had moved the group past 1 and 2);
    # process 2 resumes at 3; process 3, assigned (outside the group), reads everything
    h = produced(Kafka(), [1, 2, 3, 4])
    h.subscribe([0], process=1).poll({0: [(0, 1)]}, process=1)
    h.poll({}, process=1, type="info")
    h.crash(1)
    h.subscribe([0], process=2).poll({0: [(3, 4)]}, process=2)
    h.assign([0], process=3).poll({0: [(0, 1), (1, 2), (2, 3), (3, 4)]}, process=3)
    r = check(h, tmp_path, "edn", delivery="at-least-once")
    assert r["failing"] == []  # the log lost nothing
    g = r["groups"]["default"]
    assert g["members"] == 2 and g["failing"] == ["lost-message"]
    lost = g["anomalies"]["lost-message"]
    assert [c["offset"] for c in lost] == [1, 2] and lost[0]["cause"] == "crash"
