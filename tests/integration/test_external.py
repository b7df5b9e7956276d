"""The `external` system: docs/external.md's worked example (raftkv driven as if it were someone
else's cluster) run for real on env local, and the up-front refusals of bad options."""

from __future__ import annotations

import re
import socket
import sys
from pathlib import Path

import pytest

from systems.external import ExternalSystem, parse_nodes, read_nodes_file

PROJECT = Path(__file__).resolve().parents[2]
CLIENT = "client=systems.raftkv.client:RaftKVClient"


@pytest.fixture
def status_script(tmp_path) -> Path:
    """raftkv_status.py exactly as docs/external.md shows it."""
    doc = (PROJECT / "docs" / "external.md").read_text()
    m = re.search(r"<!-- begin raftkv_status.py -->\s*```python\n(.*?)```\s*"
                  r"<!-- end raftkv_status.py -->", doc, re.S)
    assert m, "docs/external.md lost its raftkv_status.py example"
    path = tmp_path / "raftkv_status.py"
    path.write_text(m.group(1))
    return path


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def raftkv_opts(status: Path, ports: list[int]) -> list[str]:
    py = sys.executable
    nodes = ",".join(f"n{i}=127.0.0.1:{p}" for i, p in enumerate(ports, start=1))
    return ["--opt", CLIENT, "--opt", f"nodes={nodes}",
            "--opt", f"start-cmd={py} -m systems.raftkv.node --id {{node}} "
                     f"--listen {{address}}:{{port}} --peers {{peers}} --data {{node_dir}}/data",
            "--opt", f"leader-cmd={py} {status} {{cluster}}",
            "--opt", f"health-cmd={py} {status} --ready {{cluster}}"]


@pytest.mark.slow
def test_worked_example_raftkv_as_an_external_cluster(sb, status_script):
    r = sb.run("run", "external", "--env", "local", "--nodes", "3", "--workload", "register",
               "--nemesis", "kill:leader,pause", "--nemesis-interval", "3", "--time-limit", "20",
               "--seed", "3", *raftkv_opts(status_script, free_ports(3)), timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    results = sb.results()
    assert results["checkers"]["linearizable"]["valid"] is True
    history = sb.history()
    ops = [e for e in history if e["process"] != "nemesis" and e["type"] == "ok"]
    assert len(ops) > 50
    nemesis = {(e["f"], e["type"]): e["value"] for e in history if e["process"] == "nemesis"}
    # kill:leader found the leader through leader-cmd; the kill and the restart were verified
    # on the processes the harness started; after the heal health-cmd said the cluster serves.
    killed = nemesis[("start-kill", "info")]
    assert killed["targets"] and killed["probe"]["verified"] is True
    restarted = nemesis[("stop-kill", "info")]
    assert restarted["probe"]["verified"] is True
    assert restarted["recovery"]["healthy"] is True and restarted["recovery"]["leader"]
    assert nemesis[("start-pause", "info")]["probe"]["states"]
    for node in ("n1", "n2", "n3"):
        log = sb.latest / "nodes" / node / "node.log"
        assert log.exists() and log.stat().st_size > 0


@pytest.mark.parametrize("opts, message", [
    ([], "client is required"),
    (["client=nowhere.at.all:Client"], "cannot import nowhere.at.all"),
    (["client=systems.raftkv.client"], "expected package.module:Class"),
    ([CLIENT, "start-cmd=run {nod}"], "unknown placeholder {nod}"),
    ([CLIENT, "health-cmd=check {node}"], "unknown placeholder {node}"),
    ([CLIENT, "nodes=a=h1", "nodes-file=/etc/hosts"], "not both"),
    ([CLIENT, "nodes=a=h1:0"], "port must be a number"),
    ([CLIENT, "nodes-file=/nonexistent/nodes.txt"], "No such file"),
    ([CLIENT, "start-cmd=x", "pause-cmd=kill -STOP 1"], "pause-cmd and resume-cmd go together"),
    ([CLIENT, "kill-cmd=x"], "kill-cmd needs start-cmd"),
    ([CLIENT, "start-cmd=x", "start-mode=background"], "needs stop-cmd or kill-cmd"),
    ([CLIENT, "ready-timeout=-1"], "ready-timeout must be positive"),
])
def test_bad_options_are_refused_before_anything_starts(sb, opts, message):
    args = [a for o in opts for a in ("--opt", o)]
    r = sb.run("run", "external", "--env", "local", "--nodes", "1", "--workload", "register",
               "--nemesis", "none", *args)
    assert r.returncode == 254, r.stdout + r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert not sb.store.exists() or not any(sb.store.rglob("history.jsonl"))


def test_faults_the_commands_cannot_do_are_refused(sb):
    # An attached cluster (no start-cmd): nothing could restart a killed node.
    r = sb.run("run", "external", "--env", "local", "--nodes", "1", "--workload", "register",
               "--nemesis", "kill", "--opt", CLIENT, "--opt", "nodes=127.0.0.1:1")
    assert r.returncode == 254
    assert "cannot kill and restart nodes" in r.stderr
    r = sb.run("run", "external", "--env", "local", "--nodes", "1", "--workload", "register",
               "--nemesis", "kill:leader", "--opt", CLIENT, "--opt", "start-cmd=true")
    assert r.returncode == 254
    assert "cannot tell its leader" in r.stderr


def test_a_node_count_other_than_the_list_is_refused(sb):
    r = sb.run("run", "external", "--env", "local", "--nodes", "3", "--workload", "register",
               "--nemesis", "none", "--opt", CLIENT, "--opt", "nodes=a=127.0.0.1:1,b=127.0.0.1:2")
    assert r.returncode in (254, 255), r.stderr
    assert "pass --nodes 2" in r.stderr


def test_a_node_that_never_serves_fails_setup_naming_node_and_log(sb):
    [port] = free_ports(1)
    r = sb.run("run", "external", "--env", "local", "--nodes", "1", "--workload", "register",
               "--nemesis", "none", "--opt", CLIENT, "--opt", f"nodes=n1=127.0.0.1:{port}",
               "--opt", f"start-cmd={sys.executable} -c 'import time; time.sleep(60)' {{node_dir}}",
               "--opt", "ready-timeout=2", timeout=60)
    assert r.returncode == 255, r.stdout + r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert "not ready after 2 s" in line and "n1" in line and "node.log" in line
    # The sb fixture then checks that the sleeping node process was stopped.


def test_nodes_file_and_list_parsing(tmp_path):
    f = tmp_path / "nodes.txt"
    f.write_text("# the cluster\ndb1=10.0.0.1:5432\n\n10.0.0.2   # unnamed\ndb3 = 10.0.0.3\n")
    nodes = read_nodes_file(str(f))
    assert [(n.name, n.address, n.port) for n in nodes] == [
        ("db1", "10.0.0.1", 5432), ("10.0.0.2", "10.0.0.2", None), ("db3", "10.0.0.3", None)]
    assert [n.name for n in parse_nodes("a=h1:1,b=h2:2")] == ["a", "b"]
    with pytest.raises(ValueError, match="listed twice"):
        parse_nodes("a=h1,a=h2")
    with pytest.raises(ValueError, match="no address"):
        parse_nodes("a=")


def test_capabilities_follow_the_commands():
    from systems.base import HasLeader, HealthCheck, HasProcesses, Killable, Pausable

    attached = ExternalSystem()
    attached.check_options({"client": "systems.raftkv.client:RaftKVClient"})
    assert not any(isinstance(attached, c)
                   for c in (Killable, Pausable, HasLeader, HealthCheck, HasProcesses))
    commanded = ExternalSystem()
    commanded.check_options({"client": "systems.raftkv.client:RaftKVClient",
                             "start-cmd": "x", "start-mode": "background", "stop-cmd": "y",
                             "pause-cmd": "p", "resume-cmd": "r", "leader-cmd": "echo n1"})
    assert isinstance(commanded, Pausable) and isinstance(commanded, HasLeader)
    assert not isinstance(commanded, Killable)  # no kill-cmd and no process of its own
    assert not isinstance(commanded, HasProcesses) and not isinstance(commanded, HealthCheck)
    assert isinstance(commanded, ExternalSystem) and commanded.name == "external"
