"""Whole raftkv runs on env netns through the CLI: partitions, the bug they expose, cleanup."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.timeout(240)


def nemesis_events(history: list[dict], f: str) -> list[dict]:
    return [e for e in history if e["process"] == "nemesis" and e["f"] == f]


def test_correct_raftkv_is_valid_under_partitions_with_the_groups_recorded(sb):
    p = sb.run("run", "raftkv", "--env", "netns", "--nodes", "5", "--nemesis",
               "partition:duration=3", "--nemesis-interval", "4", "--time-limit", "12")
    assert p.returncode == 0, p.stdout + p.stderr
    history = sb.history()
    starts = [e for e in nemesis_events(history, "start-partition") if e["type"] == "info"]
    assert starts, "no partition ran"
    for e in starts:
        groups = e["value"]["groups"]
        assert sorted(n for g in groups for n in g) == ["n1", "n2", "n3", "n4", "n5"]
        assert len(groups) == 2 and e["value"]["probe"]["verified"] is True
        # The probe saw exactly the cut pairs time out.
        small, large = groups
        assert len(e["value"]["probe"]["cut"]) == 2 * len(small) * len(large)
    stops = [e for e in nemesis_events(history, "stop-partition") if e["type"] == "info"]
    assert len(stops) == len(starts) and all(s["value"]["probe"]["verified"] for s in stops)
    env = json.loads((sb.latest / "env.json").read_text())
    assert env["env"] == "netns" and len(env["addresses"]) == 5
    assert (sb.latest / "nodes" / "n5" / "node.log").exists()
    assert sb.leftovers() == []


def test_stale_leader_reads_are_found_under_leader_partitions(sb):
    # Workers on the cut-off leader keep reading from it while the majority elects a new leader
    # and writes; a short op timeout brings them back from their stuck writes within that window.
    p = sb.run("run", "raftkv", "--env", "netns", "--bug", "stale-leader-reads",
               "--nemesis", "partition:leader:duration=2", "--nemesis-interval", "3",
               "--time-limit", "20", "--concurrency", "15", "--rate", "300",
               "--op-timeout", "0.5", "--seed", "3")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "linearizable" in p.stdout and "INVALID" in p.stdout
    starts = [e for e in nemesis_events(sb.history(), "start-partition") if e["type"] == "invoke"]
    assert starts and all(len(e["value"]["targets"]) == 1 for e in starts)
    assert sb.leftovers() == []
