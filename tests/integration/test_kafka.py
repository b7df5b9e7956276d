"""End to end: the real CLI runs a real 3-node Kafka (KRaft, jars from Maven Central) under faults.

Short, targeted schedules: each case is provoked in one run. The partition cases need env netns
(network namespaces, root); the kill cases run on env local. `sb` (conftest) fails a test whose
broker processes outlive it.
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.documented_runs import (KAFKA_ACKS_0, KAFKA_ACKS_1, KAFKA_SAFE, KAFKA_TXN,
                                   KAFKA_UNCLEAN, KAFKA_UNCLEAN_SAFE)

pytestmark = pytest.mark.slow

SAFE = ["--opt", "acks=all", "--opt", "min.insync.replicas=2",
        "--opt", "unclean.leader.election.enable=false", "--opt", "enable.idempotence=true"]


@pytest.fixture(scope="module", autouse=True)
def kafka_installed():
    from harness.install import install
    install(["kafka"])  # idempotent: Maven resolves the jars once into the cache


def _netns_usable() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None


needs_netns = pytest.mark.skipif(not _netns_usable(), reason="env netns needs root and iproute2")


def _only_progress_may_fail(p, res):
    """Safety is what these tests judge; a restarted broker may take longer than the progress
    checker's bound to settle on a loaded machine (until the runner takes the system's own
    checker list, systems/kafka Kafka.checkers), so an invalid `progress` alone is tolerated."""
    assert p.returncode in (0, 1), p.stdout + p.stderr
    bad = [n for n, r in res["checkers"].items() if r["valid"] is not True]
    assert set(bad) <= {"progress"}, {n: res["checkers"][n] for n in bad}


def _faults(history, name):
    return [e for e in history if e["process"] == "nemesis" and e["type"] == "info"
            and e["f"] == f"start-{name}" and not e["value"].get("skipped")]


def test_contradictory_options_are_refused_before_anything_starts(sb):
    p = sb.run("run", "kafka", "--workload", "queue", "--env", "local",
               "--opt", "acks=1", "--opt", "enable.idempotence=true")
    assert p.returncode == 254, p.stdout + p.stderr
    assert "enable.idempotence=true needs acks=all" in p.stderr
    assert "Traceback" not in p.stderr


def test_queue_safe_settings_keep_every_acknowledged_write_under_kill(sb):
    p = sb.run("run", "kafka", "--workload", "queue", "--nemesis", "kill", "--env", "local",
               "--time-limit", "25", "--nemesis-interval", "6", "--seed", "3", *SAFE,
               timeout=400)
    res = sb.results()
    _only_progress_may_fail(p, res)
    q = res["checkers"]["queue"]
    assert q["valid"] is True
    for anomaly in ("lost-write", "duplicate", "inconsistent-offsets", "unseen"):
        assert q["counts"][anomaly] == 0, q
    history = sb.history()
    assert _faults(history, "kill"), "the nemesis never struck"
    sends = [e for e in history if e["f"] == "send" and e["type"] == "ok"]
    assert len(sends) > 50 and all(isinstance(e["value"]["offset"], int) for e in sends)
    finals = [e for e in history if e.get("phase") == "final" and e["type"] == "ok"]
    assert sorted(e["key"] for e in finals) == [0, 1]
    assert all(e["complete"] for e in finals)


@needs_netns
def test_queue_safe_settings_valid_under_partition_and_kill(sb):
    sb.documented(KAFKA_SAFE)  # valid
    q = sb.results()["checkers"]["queue"]
    assert q["valid"] is True and not any(q["counts"].values()), q
    history = sb.history()
    assert _faults(history, "partition") and _faults(history, "kill")


@needs_netns
def test_acks_1_loses_writes_when_the_leader_is_cut_off_past_the_session_timeout(sb):
    # The isolated leader keeps acknowledging acks=1 writes while the controller fences it (after
    # broker.session.timeout.ms = 6 s) and elects another leader; at heal it truncates them.
    sb.documented(KAFKA_ACKS_1)  # invalid
    q = sb.results()["checkers"]["queue"]
    assert q["valid"] is False
    # Acknowledged writes are gone. Which name they get depends on how far the new leader's log
    # grew after the truncation: reads went past their offset without them (lost-write), or the
    # final drain of the partition ended before their offset (unseen, with a complete drain), or
    # they had been read before the truncation (truncated). (The checker lists only the kinds it
    # found.)
    gone = q.get("lost-write", []) + q.get("truncated", []) + \
        [u for u in q.get("unseen", []) if u["drained"]]
    assert gone, q
    assert all(x["send"]["type"] == "ok" for x in gone)  # each listed with its acknowledged send
    html = (sb.latest / "report.html").read_text()
    assert "lost-write" in html and "unseen" in html


def test_acks_0_loses_acknowledged_sends_to_a_killed_leader(sb):
    # acks=0: a send is acknowledged once it is on the wire, so what a leader had not written
    # (or written but not replicated) when it was SIGKILLed is gone, and nobody heard of an offset.
    sb.documented(KAFKA_ACKS_0)  # invalid, as docs/kafka.md states
    q = sb.results()["checkers"]["queue"]
    history = sb.history()
    acked = [e for e in history if e["f"] == "send" and e["type"] == "ok"]
    assert len(acked) > 100 and all(e["value"]["offset"] is None for e in acked)
    assert q["acknowledged_without_offset"] == len(acked)
    lost = q.get("lost-write", [])
    assert lost and all(x["offset"] is None and x["send"]["type"] == "ok" for x in lost), q
    finals = {e["key"]: {r[2] for r in e["value"]} for e in history
              if e.get("phase") == "final" and e["type"] == "ok" and e["complete"]}
    assert all(x["value"] not in finals[x["partition"]] for x in lost)
    assert _faults(history, "kill")


def _cut_then_killed(history) -> str:
    """The leader whose replication port was cut and which was then killed while cut off."""
    cut, = _faults(history, "partition")
    killed = _faults(history, "kill")
    assert cut["value"]["probe"]["port"] == 9092 and killed
    assert killed[0]["value"]["targets"] == cut["value"]["targets"]
    assert cut["time"] < killed[0]["time"]
    return cut["value"]["targets"][0]


@needs_netns
def test_unclean_leader_election_loses_acknowledged_writes(sb):
    # The leader's replication port is cut: its followers fall out of the ISR (the KRaft
    # controllers, on 9093, still hear everyone), min.insync.replicas=1 lets it acknowledge acks=all
    # writes alone; killed, an out-of-sync follower is elected (unclean), and the old leader's
    # acknowledged writes are truncated when it rejoins.
    sb.documented(KAFKA_UNCLEAN)  # invalid
    _cut_then_killed(sb.history())
    q = sb.results()["checkers"]["queue"]
    gone = q.get("truncated", []) + q.get("lost-write", []) + \
        [u for u in q.get("unseen", []) if u["drained"]]
    assert gone and all(x["send"]["type"] == "ok" for x in gone), q["counts"]
    assert all(x["log_end_offset"] is not None for x in q.get("truncated", []))
    html = (sb.latest / "report.html").read_text()
    assert "truncated" in html or "lost-write" in html


@needs_netns
def test_the_same_faults_with_the_safe_settings_lose_nothing(sb):
    # min.insync.replicas=2 refuses writes once the ISR is the leader alone, and without unclean
    # election the partition waits for that leader to come back: nothing acknowledged is lost.
    sb.documented(KAFKA_UNCLEAN_SAFE)  # valid
    _cut_then_killed(sb.history())
    q = sb.results()["checkers"]["queue"]
    assert q["valid"] is True and not any(q["counts"].values()), q["counts"]


def test_txn_under_kill_verdict_rests_on_listed_evidence(sb):
    p = sb.documented(KAFKA_TXN)  # valid
    t = sb.results()["checkers"]["kafka-txn"]
    # The evidence a person checks: counts of committed and aborted transactions, the inputs that
    # had to be processed, the final drains, and every anomaly with the ops that show it.
    assert t["counts"].get("transforms-committed", 0) > 0
    assert t["counts"].get("transforms-aborted", 0) > 0
    assert t["exactly-once"]["inputs-required"] > 0
    assert t["final-drains"]["partitions"] and t["final-drains"]["complete"]
    assert t["valid"] is True and not t["exactly-once"]["missing"]["examples"]
    assert _faults(sb.history(), "kill")
    report = (sb.latest / "report.html").read_text()
    assert "kafka-txn" in report
    # re-checked from the file alone, the same verdict
    c = sb.run("check", str(sb.latest / "history.jsonl"))
    assert c.returncode == p.returncode == 0 and "INVALID" not in c.stdout, c.stdout + c.stderr
