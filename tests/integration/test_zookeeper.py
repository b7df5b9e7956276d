"""End to end: a real ZooKeeper ensemble (Debian zookeeper, kazoo clients) under faults.

What ZooKeeper promises is checked separately: writes and CAS linearizable (`linearizable-writes`)
and reads sequentially consistent per session (`session-order`); the lock recipe keeps mutual
exclusion when a hold ends at release or at the first SUSPENDED/LOST. Partition runs need
`--env netns` (root); the kill-only run works anywhere.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.documented_runs import ZOOKEEPER_LOCK, ZOOKEEPER_REGISTER

pytestmark = [pytest.mark.slow, pytest.mark.installs("zookeeper")]

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="--env netns needs root")


def _no_lab_left(run_dir):
    env = json.loads((run_dir / "env.json").read_text())
    if "labid" not in env:
        return
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"-{env['labid']}-" not in ns, ns


def _assert_zookeeper_promises(sb, p):
    assert p.returncode == 0, p.stdout + p.stderr
    res = sb.results()
    checks = res["checkers"]
    assert set(checks) >= {"linearizable-writes", "session-order"}, set(checks)
    assert "linearizable" not in checks  # plain reads are not promised to be linearizable
    assert checks["linearizable-writes"]["valid"] is True
    assert checks["linearizable-writes"]["reads_removed"] > 0
    order = checks["session-order"]
    assert order["valid"] is True and order["operations"] > 100 and order["sessions"] >= 3
    history = sb.history()
    oks = [e for e in history if e["process"] != "nemesis" and e["type"] == "ok"]
    assert all(isinstance(e.get("zxid"), int) and e.get("session") for e in oks)
    assert {e["f"] for e in oks} >= {"read", "write", "cas"}
    faults = sb.faults_started()
    assert faults and all(e["value"]["probe"]["verified"] for e in faults)
    # The verdict reproduces offline from the files alone.
    c = sb.run("check", str(sb.latest / "history.jsonl"))
    assert c.returncode == 0, c.stdout + c.stderr


def test_register_under_kill_keeps_zookeepers_promises(sb):
    p = sb.run("run", "zookeeper", "--workload", "register", "--nemesis", "kill",
               "--time-limit", "15", "--nemesis-interval", "4", "--seed", "3")
    _assert_zookeeper_promises(sb, p)
    assert any(e["f"] == "start-kill" for e in sb.faults_started())
    # Each server's log is in the run store, and it really ran a quorum.
    log = (sb.latest / "nodes" / "n1" / "zookeeper.log").read_text()
    assert "LEADING" in log or "FOLLOWING" in log


@needs_root
def test_register_under_partition_and_kill_keeps_zookeepers_promises(sb):
    # The documented run: in 40 s the schedule always has room for a partition (15 s) and a kill.
    p = sb.documented(ZOOKEEPER_REGISTER)
    _assert_zookeeper_promises(sb, p)
    assert {e["f"] for e in sb.faults_started()} == {"start-partition", "start-kill"}
    _no_lab_left(sb.latest)


@needs_root
def test_lock_under_partition_and_kill_keeps_mutual_exclusion(sb):
    p = sb.documented(ZOOKEEPER_LOCK)  # a partition and a kill, as for the register
    mutex = sb.results()["checkers"]["mutex"]
    assert mutex["valid"] is True and mutex["overlap_count"] == 0
    assert mutex["holds"] > 20
    history = sb.history()
    acquires = [e for e in history if e["f"] == "acquire" and e["type"] == "ok"]
    assert all(e["value"]["lease_ms"] is None and e["value"]["token"] for e in acquires)
    assert {e["f"] for e in sb.faults_started()} == {"start-partition", "start-kill"}
    _no_lab_left(sb.latest)


def test_contradictory_options_are_refused(sb):
    p = sb.run("run", "zookeeper", "--opt", "zookeeper.session-timeout-ms=60000",
               "--time-limit", "5")
    assert p.returncode == 254, p.stdout + p.stderr
    assert "2..20 ticks" in p.stderr and "Traceback" not in p.stderr


def test_node_count_is_checked(sb):
    p = sb.run("run", "zookeeper", "--nodes", "4", "--time-limit", "5")
    assert p.returncode == 254, p.stdout + p.stderr
    assert "3 or 5" in p.stderr


@needs_root
@pytest.mark.parametrize("workload", ["wr", "append"])
def test_transactions_through_multi_are_strict_serializable_under_partition_and_kill(sb,
                                                                                     workload):
    p = sb.run("run", "zookeeper", "--workload", workload, "--nemesis",
               "partition:duration=5,kill:duration=3", "--env", "netns", "--time-limit", "22",
               "--nemesis-interval", "4", "--seed", "3")
    assert p.returncode == 0, p.stdout + p.stderr
    elle = sb.results()["checkers"]["elle"]
    assert elle["valid"] is True and elle["consistency"] == "strict-serializable", elle
    oks = [e for e in sb.history() if e.get("f") == "txn" and e["type"] == "ok"]
    assert len(oks) > 100 and any(m[0] != "r" for e in oks for m in e["value"])
    assert {e["f"] for e in sb.faults_started()} == {"start-partition", "start-kill"}
    _no_lab_left(sb.latest)
