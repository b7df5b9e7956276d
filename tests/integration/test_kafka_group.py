"""End to end: the `group` workload on a real 3-node Kafka, each commit policy under consumer
crashes (crash:consumers), judged by the `delivery` checker.

Each case is one short run that provokes what the policy costs, each crash placed in the window
that costs it (nemesis/consumers.py): commit=after redelivers (duplicates, allowed at
at-least-once), commit=before loses what a crash caught between the commit and the processing,
commit=auto with a long interval redelivers everything since its last commit, and commit=txn
stays exactly-once under crashes anywhere, inside transactions, and broker kills; two groups each
get every message while members leave and join. `sb` (conftest) fails a test whose broker
processes outlive it; _run checks that no member process does.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.documented_runs import (KAFKA_GROUP_AFTER, KAFKA_GROUP_AFTER_CHECK, KAFKA_GROUP_AUTO,
                                   KAFKA_GROUP_BEFORE, KAFKA_GROUP_TWO, KAFKA_GROUP_TXN)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def kafka_installed():
    from harness.install import install
    install(["kafka"])  # idempotent: Maven resolves the jars once into the cache


def _members_alive() -> set[int]:
    """The pids of consumer-group member processes (systems/kafka/member.py) now running."""
    out = subprocess.run(["pgrep", "-f", "systems.kafka.member"], capture_output=True, text=True)
    return {int(pid) for pid in out.stdout.split()}


def _run(sb, command: str) -> dict:
    """A documented group run (tests/documented_runs.py), its stated verdict checked: the
    delivery checker's result."""
    before = _members_alive()  # another engineer's run may have its own
    sb.documented(command)
    assert not _members_alive() - before, "member processes outlived the run"
    return sb.results()["checkers"]["delivery"]


def _recheck(sb, promise: str) -> tuple[int, dict]:
    """`splitbrain check` of the run's history at another promise: exit code and the result."""
    history = sb.latest / "history.jsonl"
    p = subprocess.run([sys.executable, "-m", "harness", "check", "--checker", "delivery",
                        "--opt", f"delivery={promise}", str(history)],
                       capture_output=True, text=True, timeout=120)
    assert "Traceback" not in p.stderr, p.stderr
    from checkers.delivery.checker import DeliveryChecker
    from harness.checking import read_history_file
    result = DeliveryChecker(delivery=promise).check(read_history_file(history, "jsonl"))
    return p.returncode, result


def _counts(result: dict, group: str = "g0") -> dict:
    return result["groups"][group]["anomaly_counts"]


def _crashes(sb, window: str | None = None) -> list[dict]:
    started = [e["value"] for e in sb.faults_started() if e["f"] == "start-crash"]
    assert started, "the nemesis never crashed a consumer"
    assert all(v["members"] and v["processes"] for v in started), started
    if window is not None:  # each kill landed inside the window the target names
        assert all(v["window"] == window and not v.get("missed") for v in started), started
    return started


def _acknowledged(history: list[dict]) -> set:
    return {e["value"]["value"] for e in history
            if e["f"] == "send" and e["type"] == "ok" and "topic" not in e["value"]}


def test_commit_after_redelivers_but_loses_nothing_under_consumer_crashes(sb):
    # Three polls per commit; each crash kills a member holding processed, uncommitted records.
    d = _run(sb, KAFKA_GROUP_AFTER)  # valid
    _crashes(sb, "uncommitted")
    assert d["valid"] is True, d.get("reason")
    counts = _counts(d)
    assert counts.get("lost-message", 0) == 0 and counts.get("unprocessed", 0) == 0, counts
    sb.documented(KAFKA_GROUP_AFTER_CHECK)  # invalid: asked for exactly-once
    code, strict = _recheck(sb, "exactly-once")
    assert code == 1 and strict["valid"] is False
    dups = strict["groups"]["g0"]["anomalies"]["duplicate-processing"]
    assert dups and all(x["cause"] != "unexplained" and x["explanation"] for x in dups)


def test_commit_before_loses_what_a_crash_caught_before_processing(sb):
    # Processing takes 1 s after the commit: each crash kills a member inside that window.
    d = _run(sb, KAFKA_GROUP_BEFORE)  # valid
    started = _crashes(sb, "unprocessed")
    # what commit=before promises, at-most-once, holds: nothing was processed twice
    assert d["groups"]["g0"]["promise"] == "at-most-once"
    assert d["valid"] is True, d.get("reason")
    assert _counts(d).get("duplicate-processing", 0) == 0, _counts(d)
    code, strict = _recheck(sb, "at-least-once")
    assert code == 1 and _counts(strict).get("lost-message", 0) > 0, _counts(strict)
    lost = strict["groups"]["g0"]["anomalies"]["lost-message"]
    # committed past before anyone processed it; the crash of the member that held it is listed
    assert all(x["cause"] in ("commit", "crash") and x["explanation"] for x in lost), lost[:2]
    killed = {m for c in started for m in c["members"]}
    assert any({m for c in x["crashes"] for m in c["members"]} & killed for x in lost), lost[:2]


def test_commit_auto_with_a_long_interval_redelivers_after_a_crash(sb):
    d = _run(sb, KAFKA_GROUP_AUTO)  # valid
    _crashes(sb, "uncommitted")
    counts = _counts(d)
    assert counts.get("lost-message", 0) == 0, counts
    assert counts.get("duplicate-processing", 0) > 0, counts
    assert d["groups"]["g0"]["valid"] is True  # at-least-once allows them


def test_commit_txn_stays_exactly_once_under_consumer_crashes_and_broker_kills(sb):
    # A crash anywhere (between ops too: before the member read its request; or while its
    # transaction's output is written but not committed), one inside a transaction (records
    # read, nothing written), and a broker kill: seed 6 plans all three in 15 s.
    d = _run(sb, KAFKA_GROUP_TXN)  # valid
    started = _crashes(sb)
    assert {v.get("window") for v in started} == {None, "in-txn"}, started
    assert any(e["f"] == "start-kill" for e in sb.faults_started())
    assert d["groups"]["g0"]["promise"] == "exactly-once"
    assert d["valid"] is True, d.get("reason")
    assert sum(_counts(d).values()) == 0
    history = sb.history()
    txns = [e for e in history if e["f"] == "txn" and e["type"] == "ok" and e["value"]["send"]]
    assert txns and all(s["topic"] == "splitbrain-out" for e in txns for s in e["value"]["send"])


def test_two_groups_each_process_every_message_while_members_come_and_go(sb):
    d = _run(sb, KAFKA_GROUP_TWO)  # valid
    assert d["valid"] is True, d.get("reason")
    history = sb.history()
    acked = _acknowledged(history)
    assert len(acked) > 50
    for group in ("g0", "g1"):
        processed = {pair[1] for e in history if e.get("group") == group
                     and e["f"] == "poll" and e["type"] == "ok"
                     for pairs in e["value"].values() for pair in pairs}
        assert acked <= processed, f"{group} missed {sorted(acked - processed)[:10]}"
    assert json.dumps(sorted(d["groups"])) == json.dumps(["g0", "g1"])
    # four members joined at the start; every further subscribe is a member that left and
    # joined again as a new one
    joins = [e["member"] for e in history if e["f"] == "subscribe" and e["type"] == "ok"]
    assert len(joins) > 4 and len(set(joins)) == len(joins), joins
