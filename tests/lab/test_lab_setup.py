"""Lab building and removal: names, reachability, subnet clashes, and clean_all after a crash."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from systems.control import lab as labmod
from systems.control.lab import Lab, LabError, SubnetClashError, clean_all
from nemesis import grudge as grudges
from nemesis import verify

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces and bridges")
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def netns_names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def link_names() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


@needs_root
def test_nodes_resolve_each_other_and_the_harness_reaches_every_node(lab):
    resolve = "import socket,sys; print(' '.join(socket.gethostbyname(n) for n in sys.argv[1:]))"
    out = lab.host("n1").run([sys.executable, "-c", resolve, "n1", "n2", "n3", "control"])
    assert out.stdout.split() == [lab.address("n1"), lab.address("n2"), lab.address("n3"),
                                  lab.control_address]
    # From the harness (root namespace) to each node's closed port: "refused" is an answer.
    for node in lab.nodes:
        r = subprocess.run([sys.executable, "-c", textwrap.dedent("""
            import socket, sys
            s = socket.socket(); s.settimeout(2)
            try: s.connect((sys.argv[1], 9))
            except ConnectionRefusedError: print("refused")
            """), lab.address(node)], capture_output=True, text=True, timeout=10)
        assert r.stdout.strip() == "refused", (node, r.stdout, r.stderr)
    verify.verify_connected(lab)
    assert len({lab.address(n) for n in lab.nodes}) == 3


@needs_root
def test_state_file_lists_everything_and_down_removes_it(lab_prereqs):
    lab = Lab(["n1", "n2", "n3"])
    try:
        lab.up()
        state = json.loads(lab.state_path.read_text())
        listed_ns = {i["name"] for i in state["items"] if i["kind"] == "netns"}
        assert listed_ns == {lab.netns(n) for n in lab.nodes} and listed_ns <= netns_names()
        assert lab.bridge in {i["name"] for i in state["items"] if i["kind"] == "link"}
        assert state["owner"]["pid"] == os.getpid()
    finally:
        removed = lab.down()
    assert f"netns {lab.netns('n1')}" in removed
    assert not any(name.startswith(f"sb-{lab.labid}-") for name in netns_names() | link_names())
    assert not lab.state_path.exists() and not Path(f"/etc/netns/{lab.netns('n1')}").exists()
    assert lab.down() == []  # idempotent


@needs_root
def test_a_clashing_subnet_is_refused_and_nothing_is_left(lab):
    with pytest.raises(SubnetClashError, match="overlaps"):
        Lab(["a", "b"], subnet=str(lab.subnet)).up()
    route = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    machine_net = next((w for line in route.splitlines() for w in line.split()[:1]
                        if "/" in w and not w.startswith(str(lab.subnet).rsplit(".", 1)[0])), None)
    if machine_net is not None and machine_net.startswith(("10.", "172.", "192.168.", "192.0.2.")):
        with pytest.raises(SubnetClashError):
            Lab(["a", "b"], subnet=machine_net).up()
    assert len([p for p in labmod.LAB_STATE_DIR.glob("*.json")
                if json.loads(p.read_text())["owner"]["pid"] == os.getpid()]) == 1


def test_bad_lab_arguments_are_refused_before_touching_anything():
    with pytest.raises(LabError, match="distinct"):
        Lab(["n1", "n1"])
    with pytest.raises(LabError, match="prefix"):
        Lab(["n1"], prefix="Way-Too-Long")
    with pytest.raises(LabError, match="not usable"):
        Lab(["n 1"])


_CRASHING_LAB = """
import json, sys
from systems.control.lab import Lab
from nemesis.grudge import grudge_from_groups
lab = Lab(["n1", "n2", "n3"]).up()
cut = lab.cut(grudge_from_groups([["n1"], ["n2", "n3"]]))
lossy = lab.loss(["n3"], 10)
slow = lab.latency(["n1", "n2"], 20)
print(json.dumps({"labid": lab.labid, "netns": [lab.netns(n) for n in lab.nodes],
                  "bridge": lab.bridge, "delayers": [d.pid for d in slow.delayers.values()]}),
      flush=True)
sys.stdin.read()  # wait to be killed
"""


@needs_root
@pytest.mark.timeout(120)
def test_clean_all_removes_a_lab_whose_owner_was_killed(lab):
    child = subprocess.Popen([sys.executable, "-c", _CRASHING_LAB], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT)
    try:
        made = json.loads(child.stdout.readline())
        assert set(made["netns"]) <= netns_names() and made["bridge"] in link_names()
        assert all(os.path.exists(f"/proc/{pid}") for pid in made["delayers"])
        # A clean while its owner lives leaves the lab alone.
        assert not any(made["labid"] in line for line in clean_all())
        assert set(made["netns"]) <= netns_names()
        child.send_signal(signal.SIGKILL)
        child.wait(10)

        removed = clean_all()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stdin.close()
    assert f"netns {made['netns'][0]}" in removed and f"link {made['bridge']}" in removed
    assert any(line.startswith("process ") for line in removed)
    assert any(line.startswith("rule ") for line in removed)
    assert not set(made["netns"]) & netns_names()
    assert not any(name.startswith(f"sb-{made['labid']}-") for name in link_names())
    # Killed; their new parent (init) reaps them a moment later.
    deadline = time.monotonic() + 5
    while any(os.path.exists(f"/proc/{pid}") for pid in made["delayers"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in made["delayers"])
    assert not (labmod.LAB_STATE_DIR / f"{made['labid']}.json").exists()
    assert not list(Path("/etc/netns").glob(f"sb-{made['labid']}-*"))
    # The live lab of this test survived both cleans.
    assert lab.netns("n1") in netns_names()
    verify.verify_connected(lab)


@needs_root
def test_clean_all_sweeps_prefixed_leftovers_without_a_state_file(lab_prereqs):
    labid = "abc123"
    ns, link = f"sb-{labid}-n1", f"sb-{labid}-br"
    sleeper = None
    try:
        subprocess.run(["ip", "netns", "add", ns], check=True)
        subprocess.run(["ip", "link", "add", link, "type", "bridge"], check=True)
        sleeper = subprocess.Popen(["ip", "netns", "exec", ns, "sleep", "300"])
        time.sleep(0.2)
        removed = clean_all()
        assert f"netns {ns}" in removed and f"link {link}" in removed
        assert any(line.startswith(f"process {sleeper.pid} ") for line in removed)
        assert not os.path.exists(f"/proc/{sleeper.pid}")  # killed, and reaped by clean_all
    finally:
        if sleeper is not None and sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", link], capture_output=True)


# --- grudges (no root needed) ---------------------------------------------------------------------

def symmetric(grudge) -> bool:
    return all(a in grudge[b] for a, others in grudge.items() for b in others)


def test_grudge_shapes():
    nodes = ["n1", "n2", "n3", "n4", "n5"]
    rng = random.Random(7)
    halves = grudges.grudge("halves", nodes, rng)
    assert halves["n1"] == {"n3", "n4", "n5"} and halves["n5"] == {"n1", "n2"}
    one = grudges.grudge("one", nodes, rng)
    victim = next(n for n, o in one.items() if len(o) == 4)
    assert all(one[n] == {victim} for n in nodes if n != victim)
    assert grudges.grudge("leader", nodes, rng, leader="n4")["n4"] == {"n1", "n2", "n3", "n5"}
    ring = grudges.grudge("majorities-ring", nodes, rng)
    views = [frozenset(set(nodes) - ring[n]) for n in nodes]
    assert all(len(v) >= 3 for v in views) and len(set(views)) == 5
    bridge = grudges.grudge("bridge", nodes, rng)
    middle = [n for n in nodes if not bridge[n]]
    assert len(middle) == 1 and sorted(len(bridge[n]) for n in nodes) == [0, 2, 2, 2, 2]
    for g in (halves, one, ring, bridge, grudges.grudge("random-halves", nodes, rng)):
        assert symmetric(g)


def test_grudges_that_make_no_sense_are_refused():
    rng = random.Random(1)
    with pytest.raises(grudges.GrudgeError, match="at least 4"):
        grudges.grudge("majorities-ring", ["n1", "n2", "n3"], rng)
    with pytest.raises(grudges.GrudgeError, match="at least 3"):
        grudges.grudge("bridge", ["n1", "n2"], rng)
    with pytest.raises(grudges.GrudgeError, match="leader"):
        grudges.grudge("leader", ["n1", "n2"], rng)
    with pytest.raises(grudges.GrudgeError, match="unknown"):
        grudges.grudge("triangle", ["n1", "n2"], rng)
    with pytest.raises(grudges.GrudgeError, match="two partition groups"):
        grudges.grudge_from_groups([["n1"], ["n1", "n2"]])
