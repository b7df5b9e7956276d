"""Bad input is refused with one clear line and the right exit code, leaving nothing behind."""

from __future__ import annotations

import pytest

from harness.lab import Lab

pytestmark = pytest.mark.timeout(120)


def one_line_error(p) -> str:
    lines = [x for x in p.stderr.splitlines() if x.strip() and "Warning" not in x
             and "trio.run(" not in x]
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("splitbrain: error: ")
    return lines[0]


def test_a_clashing_subnet_is_refused(sb):
    other = Lab(["n1"])  # another lab holds a subnet; asking for the same one must be refused
    try:
        other.up()
        p = sb.run("run", "raftkv", "--env", "netns", "--subnet", str(other.subnet),
                   "--time-limit", "5")
        assert p.returncode == 254, p.stderr
        assert "overlaps" in one_line_error(p)
        assert sb.leftovers() == []
    finally:
        other.down()


@pytest.mark.parametrize("nemesis, words", [
    ("partition:everywhere", "no target"),
    ("partition:=3", "malformed"),
    ("earthquake", "unknown nemesis"),
    ("loss:all:p=lots", "expected a number"),
    ("clock:one:mode=wobble", "expected one of bump, strobe"),
    ("partition:majorities-ring", "at least 4 nodes"),
])
def test_bad_nemesis_specs_are_refused_before_anything_starts(sb, nemesis, words):
    p = sb.run("run", "raftkv", "--env", "netns", "--nemesis", nemesis, "--time-limit", "5")
    assert p.returncode == 254, p.stderr
    assert words in one_line_error(p)
    assert not sb.store.exists() or sb.run_dirs() == []  # refused before a run directory exists


def test_partition_on_env_local_is_refused_with_a_hint(sb):
    p = sb.run("run", "raftkv", "--env", "local", "--nemesis", "partition", "--time-limit", "5")
    assert p.returncode == 254
    assert "--env netns" in one_line_error(p)


def test_ssh_hosts_must_match_the_node_count(sb):
    p = sb.run("run", "raftkv", "--env", "ssh", "--hosts", "a,b", "--nodes", "3")
    assert p.returncode == 254
    assert "number of hosts" in one_line_error(p)
