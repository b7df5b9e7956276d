"""End to end: a real etcd cluster (Debian etcd-server 3.4, v3 JSON gateway) under faults.

etcd is the reference for a correct system: its register is linearizable (reads included) under
partitions, kills and pauses. Partition runs need `--env netns` (root).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter

import pytest

from tests.documented_runs import ETCD_LOCAL, ETCD_NETNS

pytestmark = [pytest.mark.slow, pytest.mark.installs("etcd")]

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="--env netns needs root")


def _assert_valid_register(sb, p, faults_expected):
    assert p.returncode == 0, p.stdout + p.stderr
    res = sb.results()
    assert res["valid"] is True
    assert set(res["checkers"]) == {"linearizable", "stats", "progress"}
    assert res["checkers"]["linearizable"]["valid"] is True
    history = sb.history()
    outcomes = Counter((e["f"], e["type"]) for e in history
                       if e["process"] != "nemesis" and e["type"] != "invoke")
    for f in ("read", "write", "cas"):
        assert outcomes[(f, "ok")] > 0, outcomes
    faults = sb.faults_started()
    assert {e["f"] for e in faults} == faults_expected
    assert all(e["value"]["probe"]["verified"] for e in faults)
    finals = [e for e in history if e.get("phase") == "final" and e["type"] != "invoke"]
    # Every final read succeeded (one that failed right after the heal is retried).
    assert finals and {e["key"] for e in finals} == {e["key"] for e in finals if e["type"] == "ok"}
    c = sb.run("check", str(sb.latest / "history.jsonl"))
    assert c.returncode == 0, c.stdout + c.stderr
    return history


def test_register_under_kill_and_pause_is_valid(sb):
    p = sb.documented(ETCD_LOCAL)  # seed 0 (the default) pauses at 6 s and kills at 22 s
    _assert_valid_register(sb, p, {"start-kill", "start-pause"})
    assert "serving client traffic" in (sb.latest / "nodes" / "n1" / "etcd.log").read_text()


@needs_root
def test_register_under_partition_kill_and_pause_is_valid(sb):
    # The documented run: seed 0 (the default) kills at 6 s, pauses at 17 s, partitions at 36 s.
    p = sb.documented(ETCD_NETNS)
    _assert_valid_register(sb, p, {"start-partition", "start-kill", "start-pause"})
    env = json.loads((sb.latest / "env.json").read_text())
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"-{env['labid']}-" not in ns, ns


def test_contradictory_options_are_refused(sb):
    p = sb.run("run", "etcd", "--opt", "etcd.election-ms=200", "--opt", "etcd.heartbeat-ms=100",
               "--time-limit", "5")
    assert p.returncode == 254, p.stdout + p.stderr
    assert "5 heartbeats" in p.stderr and "Traceback" not in p.stderr


@needs_root
@pytest.mark.parametrize("workload", ["append", "wr"])
def test_transactions_are_strict_serializable_under_faults(sb, workload):
    p = sb.run("run", "etcd", "--workload", workload, "--nemesis",
               "partition:duration=5,kill:duration=3,pause:duration=3", "--env", "netns",
               "--time-limit", "24", "--nemesis-interval", "4", "--seed", "8")
    assert p.returncode == 0, p.stdout + p.stderr
    elle = sb.results()["checkers"]["elle"]
    assert elle["valid"] is True and elle["consistency"] == "strict-serializable", elle
    history = sb.history()
    oks = [e for e in history if e.get("f") == "txn" and e["type"] == "ok"
           and e.get("phase") != "final"]
    # transactions that write and read several keys went through
    assert len(oks) > 100 and any(len({k for _, k, _ in e["value"]}) > 1 and
                                  any(m[0] != "r" for m in e["value"]) for e in oks)
    assert {e["f"] for e in sb.faults_started()} == {"start-partition", "start-kill",
                                                      "start-pause"}
