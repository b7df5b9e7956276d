"""keepalived (real Debian keepalived, VRRP) on env netns: split-brain under a partition between
the VRRP peers, exactly one holder without faults; plus the pure parts (config, address parsing)."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess

import pytest

from systems.keepalived.client import addresses_in
from systems.keepalived.config import VrrpSettings, parse_vip, priority, render
from tests.documented_runs import KEEPALIVED_CALM, KEEPALIVED_SPLIT

NEEDS_LAB = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("iptables"),
    reason="keepalived runs need --env netns: root, iproute2 and iptables")
NEEDS_KEEPALIVED = pytest.mark.skipif(
    not os.path.exists("/usr/sbin/keepalived"),
    reason="keepalived is not installed: run `splitbrain install keepalived`")


def _lab_gone(run_dir) -> None:
    """The run's namespaces are all removed (their names carry the lab id of env.json)."""
    env = json.loads((run_dir / "env.json").read_text())
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"{env['prefix']}-{env['labid']}-" not in listed


@pytest.mark.slow
@NEEDS_LAB
@NEEDS_KEEPALIVED
def test_partition_between_vrrp_peers_gives_two_holders(sb):
    # A cut of 8 s outlasts the backup's master-down interval (about 3.6 advertisements of 1 s)
    # by more than the checker's 2 s grace.
    sb.documented(KEEPALIVED_SPLIT)  # --env netns, the default as root
    results = sb.results()
    vip = results["checkers"]["vip"]
    assert vip["valid"] is False
    assert any(s["nodes"] == ["n1", "n2"] and s["at_least_s"] > 2 for s in vip["split_brain"]), vip
    history = sb.history()
    starts = [e for e in history if e["process"] == "nemesis" and e["f"] == "start-partition"
              and e["type"] == "info"]
    assert starts and starts[0]["value"]["probe"]["verified"] is True
    # The two-holder samples fall after the cut started: the checker saw the fault's effect.
    both = [e for e in history if e["process"] != "nemesis" and e["type"] == "ok"
            and e["value"] == ["n1", "n2"]]
    assert both and both[0]["time"] > starts[0]["time"]
    logs = (sb.latest / "nodes" / "n2" / "keepalived.log").read_text()
    assert "Entering MASTER STATE" in logs
    _lab_gone(sb.latest)


@pytest.mark.slow
@NEEDS_LAB
@NEEDS_KEEPALIVED
def test_without_faults_exactly_one_node_holds_the_vip(sb):
    sb.documented(KEEPALIVED_CALM)
    assert sb.results()["checkers"]["vip"]["valid"] is True
    samples = [e["value"] for e in sb.history() if e["type"] == "ok" and e["f"] == "sample"]
    assert len(samples) >= 20
    # n1 has the highest priority, so it is the master from setup on.
    assert all(s == ["n1"] for s in samples), samples
    conf = (sb.latest / "nodes" / "n3" / "keepalived.conf").read_text()
    assert "priority 100" in conf and "unicast_peer" in conf
    _lab_gone(sb.latest)


def test_env_local_is_refused_before_anything_starts(sb):
    r = sb.run("run", "keepalived", "--env", "local", "--nodes", "2", "--workload", "vip")
    assert r.returncode == 254
    assert "needs --env netns or ssh" in r.stderr
    assert not sb.store.exists() or not any(sb.store.rglob("history.jsonl"))


@pytest.mark.parametrize("opt, message", [
    ("keepalived.vrid=0", "from 1 to 255"),
    ("keepalived.vip=10.1.2.300", "not an IPv4 address"),
    ("keepalived.advert-int=soon", "expected seconds"),
    ("keepalived.mode=broadcast", "expected one of unicast, multicast"),
])
def test_bad_options_are_refused(sb, opt, message):
    r = sb.run("run", "keepalived", "--env", "netns", "--nodes", "2", "--workload", "vip",
               "--opt", opt)
    assert r.returncode == 254, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr


def test_four_nodes_are_refused(sb):
    r = sb.run("run", "keepalived", "--env", "netns", "--nodes", "4", "--workload", "vip")
    assert r.returncode == 254
    assert "runs on 2 or 3 nodes" in r.stderr


def _settings(**kw) -> VrrpSettings:
    base = dict(vip=ipaddress.IPv4Interface("10.77.9.254/24"), interface="eth0", vrid=51,
                advert_int=1.0, unicast=True, preempt=True)
    return VrrpSettings(**(base | kw))


def test_config_names_peers_priority_and_vip():
    text = render("n2", 1, "10.77.9.3", ["10.77.9.2", "10.77.9.4"], _settings())
    assert "priority 125" in text and priority(0) > priority(1) > priority(2)
    assert "unicast_src_ip 10.77.9.3" in text
    assert "10.77.9.2" in text and "10.77.9.4" in text
    assert "10.77.9.254/24 dev eth0" in text
    assert "nopreempt" not in text
    multicast = render("n1", 0, "10.77.9.2", ["10.77.9.3"], _settings(unicast=False, preempt=False))
    assert "unicast" not in multicast and "nopreempt" in multicast


def test_vip_parsing():
    assert str(parse_vip("10.0.0.9", 24)) == "10.0.0.9/24"
    assert str(parse_vip("10.0.0.9/32", 24)) == "10.0.0.9/32"
    for bad in ("127.0.0.5", "224.0.0.18", "nonsense"):
        with pytest.raises(ValueError):
            parse_vip(bad)


def test_addresses_in_ip_o_addr_output():
    out = ("1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n"
           "2: eth0    inet 10.77.9.2/24 scope global eth0\\       valid_lft forever\n"
           "2: eth0    inet 10.77.9.254/24 scope global secondary eth0\\       valid_lft forever\n")
    assert addresses_in(out) == {ipaddress.IPv4Address(a)
                                 for a in ("127.0.0.1", "10.77.9.2", "10.77.9.254")}
    assert addresses_in("") == set()
