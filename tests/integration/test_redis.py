"""End to end: the real CLI drives real redis-server / Sentinel / Cluster processes (Debian
redis-server, redis-py clients). Each case is a short targeted schedule that provokes its finding
in one run; the runs docs/redis.md and README.md show are run here as documented
(tests/documented_runs.py), so CI runs each once.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness.envs import ENVIRONMENTS
from systems.control.hosts import LocalHost
from systems.base import ClusterContext, SystemError_
from systems.redis import Redis
from tests.documented_runs import (REDIS_APPEND, REDIS_CLUSTER_REGISTER, REDIS_LOCK,
                                   REDIS_LOCK_CLOCK_BUMP, REDIS_REGISTER, REDIS_SENTINEL_APPEND,
                                   REDIS_SENTINEL_SET)

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("redis-server") is None,
                                 reason="needs redis-server: splitbrain install redis")]

PROJECT = Path(__file__).resolve().parents[2]


def _nemesis_starts(history):
    return [e for e in history if e["process"] == "nemesis" and e["type"] == "info"
            and e["f"].startswith("start-")]


def test_list_shows_every_redis_option_with_its_default():
    p = subprocess.run([sys.executable, "-m", "harness", "list"], capture_output=True, text=True,
                       cwd=PROJECT, env={**os.environ, "COLUMNS": "400"}, timeout=60)
    assert p.returncode == 0, p.stderr
    for text in ("redis-sentinel", "redis-cluster", "down-after-milliseconds=2000",
                 "failover-timeout=2000", "min-replicas-to-write=0", "appendfsync=everysec",
                 "cluster-node-timeout=2000"):
        assert text in p.stdout, text


def test_bad_options_and_node_counts_are_refused(sb):
    p = sb.run("run", "redis-sentinel", "--env", "local", "--workload", "set",
               "--opt", "min-replicas-to-write=3")
    assert p.returncode == 254, p.stdout + p.stderr
    assert "min-replicas-to-write" in p.stderr and "Traceback" not in p.stderr
    p = sb.run("run", "redis", "--env", "local", "--nodes", "3")
    assert p.returncode == 254 and "--nodes 1" in p.stderr, p.stderr
    p = sb.run("run", "redis-cluster", "--env", "local", "--nodes", "6",
               "--opt", "appendfsync=sometimes")
    assert p.returncode == 254 and "appendfsync" in p.stderr, p.stderr


def test_port_already_taken_names_the_node_and_its_log(tmp_path):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    host = LocalHost("n1")
    ctx = ClusterContext(nodes=["n1"], hosts={"n1": host}, run_dir=tmp_path, seed=1,
                         options={"ready-timeout": "10"})
    ctx._ports[("n1", 6379)] = port  # the port env local would hand out is already in use
    system = Redis()
    try:
        with pytest.raises(SystemError_) as err:
            system.setup(ctx)
        message = str(err.value)
        assert "n1" in message and str(tmp_path / "nodes" / "n1" / "redis.log") in message
        assert "\n" not in message
        assert not any(host.alive(d) for _, d in system.processes("n1")), "server left running"
    finally:
        system.teardown()
        host.close()
        blocker.close()


def test_single_redis_register_is_linearizable(sb):
    sb.documented(REDIS_REGISTER)
    res = sb.results()
    assert res["valid"] is True
    counts = res["checkers"]["stats"]["counts"]
    assert counts["read"]["ok"] > 50 and counts["write"]["ok"] > 30, counts


def test_single_redis_counter_is_valid(sb):
    # INCRBY and GET on one server: every read lies between the adds done and the adds begun.
    p = sb.run("run", "redis", "--workload", "counter", "--time-limit", "5")
    assert p.returncode == 0, p.stdout + p.stderr
    counter = sb.results()["checkers"]["counter"]
    assert counter["valid"] is True and counter["reads"] > 30, counter
    counts = sb.results()["checkers"]["stats"]["counts"]
    assert counts["add"]["ok"] > 30, counts


def test_redis_cluster_register_is_linearizable(sb):
    sb.documented(REDIS_CLUSTER_REGISTER)
    assert sb.results()["checkers"]["linearizable"]["valid"] is True
    # Every node really was a cluster member with its slots (read from the logs it left).
    run = sb.latest
    for node in ("n1", "n2", "n3"):
        assert "Cluster state changed: ok" in (run / "nodes" / node / "redis.log").read_text()


def test_lock_without_faults_is_mutually_exclusive(sb):
    sb.documented(REDIS_LOCK)
    mutex = sb.results()["checkers"]["mutex"]
    assert mutex["valid"] is True and mutex["holds"] > 10, mutex


def test_lock_under_clock_bump_finds_overlapping_holds(sb):
    # Each bump jumps the server's wall clock 5 s past the 1 s PX: the held lock expires at once
    # and another worker takes it while its holder is still inside its lease.
    sb.documented(REDIS_LOCK_CLOCK_BUMP)
    res = sb.results()
    mutex = res["checkers"]["mutex"]
    assert mutex["valid"] is False and mutex["overlaps"], mutex
    first = mutex["overlaps"][0]
    assert first["first"]["process"] != first["second"]["process"]
    assert all(e["value"]["probe"]["verified"] for e in _nemesis_starts(sb.history()))


def test_sentinel_fails_over_when_the_primary_is_killed(sb):
    p = sb.run("run", "redis-sentinel", "--nodes", "3", "--env", "local", "--workload", "set",
               "--nemesis", "kill:leader", "--nemesis-interval", "6", "--time-limit", "14",
               "--seed", "7")
    assert p.returncode in (0, 1), p.stdout + p.stderr  # a verdict, not a setup failure
    res = sb.results()
    starts = _nemesis_starts(sb.history())
    assert starts and starts[0]["value"]["targets"] == ["n1"]
    assert starts[0]["value"]["probe"]["verified"]
    # The Sentinels really promoted a replica while n1 was dead...
    logs = "".join((sb.latest / "nodes" / n / "sentinel.log").read_text() for n in ("n2", "n3"))
    assert "+switch-master" in logs
    # ... and the final read went through Sentinel once the topology was stable again.
    reads = res["checkers"]["set"]["final_reads"]
    assert reads and reads[0]["type"] == "ok"
    assert res["checkers"]["set"]["counts"]["acknowledged"] > 100


@pytest.mark.skipif("netns" not in ENVIRONMENTS or os.geteuid() != 0,
                    reason="needs --env netns (root, network namespaces)")
def test_sentinel_loses_acknowledged_writes_when_the_primary_is_partitioned(sb):
    # The partition lasts far longer than detection (2 s) + failover: the isolated old primary
    # keeps acknowledging adds that vanish when it rejoins as a replica (Jepsen, 2013).
    sb.documented(REDIS_SENTINEL_SET)
    res = sb.results()
    check = res["checkers"]["set"]
    assert check["valid"] is False and check["lost_count"] > 0, json.dumps(check)[:500]
    assert check["lost"] and all(isinstance(x, int) for x in check["lost"])
    starts = _nemesis_starts(sb.history())
    assert starts[0]["value"]["groups"] == [["n1"], ["n2", "n3"]]
    assert starts[0]["value"]["probe"]["verified"]
    assert "+switch-master" in (sb.latest / "nodes" / "n2" / "sentinel.log").read_text()


@pytest.mark.parametrize("workload", ["append", "wr"])
def test_single_redis_transactions_are_strict_serializable(sb, workload):
    # A transaction is one Lua script, which Redis runs atomically.
    if workload == "append":  # the documented run
        sb.documented(REDIS_APPEND)
    else:
        p = sb.run("run", "redis", "--env", "local", "--workload", workload, "--nemesis", "none",
                   "--time-limit", "5", "--seed", "3")
        assert p.returncode == 0, p.stdout + p.stderr
    elle = sb.results()["checkers"]["elle"]
    assert elle["valid"] is True and elle["consistency"] == "strict-serializable", elle
    txns = [e for e in sb.history() if e.get("f") == "txn" and e["type"] == "ok"]
    assert len(txns) > 100 and any(len(e["value"]) > 1 for e in txns)
    reads = [m for e in txns for m in e["value"] if m[0] == "r"]
    if workload == "append":
        assert any(len(m[2]) > 1 for m in reads), "no read saw a list of several appends"
    else:
        assert any(m[2] is not None for m in reads), "no read saw a written value"


def test_redis_cluster_transactions_keep_to_one_slot_and_survive_a_primary_kill(sb):
    p = sb.run("run", "redis-cluster", "--env", "local", "--workload", "append",
               "--nemesis", "kill:leader", "--nemesis-interval", "3", "--time-limit", "15",
               "--seed", "1")
    assert p.returncode in (0, 1), p.stdout + p.stderr
    res = sb.results()
    assert res["checkers"]["elle"]["valid"] in (True, False), res["checkers"]["elle"]
    assert any(e["f"] == "start-kill" for e in _nemesis_starts(sb.history()))
    txns = [e for e in sb.history() if e.get("f") == "txn" and e["type"] == "ok"]
    assert len(txns) > 100


@pytest.mark.skipif("netns" not in ENVIRONMENTS or os.geteuid() != 0,
                    reason="needs --env netns (root, network namespaces)")
def test_sentinel_transactions_break_when_the_primary_is_partitioned(sb):
    # The isolated old primary acknowledges appends that vanish when it rejoins as a replica:
    # later transactions read lists without elements earlier ones saw, which elle names.
    p = sb.documented(REDIS_SENTINEL_APPEND)
    elle = sb.results()["checkers"]["elle"]
    assert elle["valid"] is False and elle["anomaly_types"], elle.get("reason")
    assert "strict-serializable rules out" in elle["reason"], elle["reason"][:300]
    assert "INVALID" in p.stdout + p.stderr
