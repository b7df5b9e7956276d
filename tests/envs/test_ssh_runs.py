"""env ssh for real: sshd in each lab namespace, a whole raftkv run through SshHost, and refusals.

The namespaces share this machine's file system except /srv/splitbrain, which each sshd sees as
a private directory: node data and logs must land there (per host) and come back into the run's
nodes/<node>/ directory when the run ends.
"""

from __future__ import annotations

import json
import subprocess

import pytest

pytestmark = pytest.mark.timeout(180)


def one_line_error(p) -> str:
    lines = [x for x in p.stderr.splitlines() if x.strip() and "Warning" not in x
             and "trio.run(" not in x]
    assert len(lines) == 1, p.stderr
    return lines[0]


def test_raftkv_passes_over_ssh_with_node_files_copied_back(sb, ssh_cluster):
    p = sb.run("run", "raftkv", *ssh_cluster.args(), "--nemesis",
               "partition:duration=3,kill:duration=2,clock:one:delta=60000:duration=2",
               "--nemesis-interval", "3", "--time-limit", "14", "--seed", "8",
               home=ssh_cluster.home)  # seed 8 schedules a clock skew, a kill and a partition
    assert p.returncode == 0, p.stdout + p.stderr
    run_dir = sb.latest
    for node in ("n1", "n2", "n3"):
        log = run_dir / "nodes" / node / "node.log"
        assert "listening on " + ssh_cluster.lab.address(node) in log.read_text()
        assert any((run_dir / "nodes" / node / "data").iterdir())
        # The run's files were on that host's private /srv/splitbrain, and were removed there.
        assert not any(ssh_cluster.private_dirs[node].glob("runs/*/*")), \
            list(ssh_cluster.private_dirs[node].rglob("*"))
    history = sb.history()
    applied = [e["value"] for e in history
               if e["process"] == "nemesis" and e["type"] == "info" and e["f"].startswith("start-")
               and "skipped" not in e["value"]]
    assert {v["fault"] for v in applied} == {"clock", "kill", "partition"}, applied
    assert all(v["probe"]["verified"] for v in applied), applied
    clock = next(v for v in applied if v["fault"] == "clock")
    (skewed,) = clock["targets"]
    assert abs(clock["probe"]["measured_ms"][skewed] - 60000) < 500
    assert sb.leftovers() == []


def test_an_unreachable_host_is_an_environment_failure(sb, ssh_cluster):
    lab = ssh_cluster.lab
    nobody = str(list(lab.subnet.hosts())[-1])  # on the lab network, held by no one
    hosts = ",".join([lab.address("n1"), lab.address("n2"), nobody])
    p = sb.run("run", "raftkv", "--env", "ssh", "--hosts", hosts, "--ssh-key",
               str(ssh_cluster.key), "--time-limit", "5", home=ssh_cluster.home)
    assert p.returncode == 255, p.stderr
    assert "did not answer" in one_line_error(p) or "cannot reach" in one_line_error(p)
    assert sb.leftovers() == []
    assert not any(ssh_cluster.private_dirs["n1"].glob("runs/*/*"))


def test_a_wrong_key_is_refused(sb, ssh_cluster, tmp_path):
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    p = sb.run("run", "raftkv", "--env", "ssh", "--hosts", ssh_cluster.hosts, "--ssh-key",
               str(other), "--time-limit", "5", home=ssh_cluster.home)
    assert p.returncode == 255, p.stderr
    assert "refused the key" in one_line_error(p)
    assert sb.leftovers() == []


def test_an_unknown_host_key_is_refused_unless_accepted(sb, ssh_cluster, tmp_path):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "known_hosts").write_text("")
    p = sb.run("run", "raftkv", *ssh_cluster.args(), "--time-limit", "5", home=home)
    assert p.returncode == 255, p.stderr
    assert "not in" in one_line_error(p) and "known_hosts" in one_line_error(p)
    assert sb.leftovers() == []
    assert (home / ".ssh" / "known_hosts").read_text() == ""


def test_sigkill_of_an_ssh_run_then_clean_undoes_it_on_the_hosts(sb, ssh_cluster, waiter):
    from harness.envs import RUN_STATE_DIR

    proc = sb.start("run", "raftkv", *ssh_cluster.args(), "--nemesis", "partition:duration=60",
                    "--nemesis-interval", "1", "--time-limit", "60", home=ssh_cluster.home)
    history = lambda: (sb.latest / "history.jsonl").read_text() \
        if (sb.store / "latest").exists() else ""
    assert waiter(lambda: proc.poll() is not None
                  or '"type":"info","f":"start-partition"' in history(), 60)
    assert proc.poll() is None, proc.communicate()
    proc.kill()
    proc.wait()
    (ledger,) = RUN_STATE_DIR.glob(f"ssh-{proc.pid}-*.json")
    recorded = json.loads(ledger.read_text())
    remote_root = recorded["remote_root"]
    lab = ssh_cluster.lab

    def rules() -> list[str]:
        return [line for n in lab.nodes for line in
                lab.host(n).run(["iptables", "-w", "-S"]).stdout.splitlines()
                if "splitbrain-" in line]

    assert len(processes_on_hosts(remote_root)) == 3 and rules()
    p = sb.run("clean", home=ssh_cluster.home)
    assert p.returncode == 0, p.stderr
    assert processes_on_hosts(remote_root) == [] and rules() == [], (p.stdout, recorded)
    assert not ledger.exists()
    run_id = remote_root.rsplit("/", 1)[1]
    assert not any((d / "runs" / run_id).exists() for d in ssh_cluster.private_dirs.values())


def processes_on_hosts(remote_root: str) -> list[int]:
    """Node processes of an ssh run: their command lines name its remote directory."""
    from pathlib import Path as P
    found = []
    for d in P("/proc").iterdir():
        if d.name.isdigit():
            try:
                if remote_root in (d / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(d.name))
            except OSError:
                pass
    return found


@pytest.mark.parametrize("system", ["etcd", "redis-sentinel"])
def test_a_real_system_passes_over_ssh(sb, ssh_cluster, system):
    # Real servers (Debian etcd, redis-server + redis-sentinel) started on the SSH hosts, faulted
    # over SSH, their logs copied back into the run.
    workload = "register"
    p = sb.run("run", system, *ssh_cluster.args(), "--workload", workload, "--nemesis",
               "kill:duration=3", "--nemesis-interval", "4", "--time-limit", "12", "--seed", "2",
               home=ssh_cluster.home)
    assert p.returncode == 0, p.stdout + p.stderr
    history = sb.history()
    kills = [e for e in history if e["process"] == "nemesis" and e["type"] == "info"
             and e["f"] == "start-kill" and "skipped" not in e["value"]]
    assert kills and all(e["value"]["probe"]["verified"] for e in kills)
    for node in ("n1", "n2", "n3"):
        assert any((sb.latest / "nodes" / node).iterdir()), f"no files came back from {node}"
        assert not any(ssh_cluster.private_dirs[node].glob("runs/*/*"))
    assert sb.leftovers() == []


def test_install_runs_on_the_ssh_hosts(ssh_cluster, tmp_path):
    # The Kafka jars go into a cache under /srv/splitbrain, which each host sees as its own
    # private directory: the install must copy them to every host, where brokers will look.
    import os
    import shutil
    import sys
    from pathlib import Path

    cache = Path("/srv/splitbrain") / f"install-test-{tmp_path.name}"
    env = {**os.environ, "HOME": str(ssh_cluster.home), "SPLITBRAIN_CACHE": str(cache)}
    try:
        p = subprocess.run([sys.executable, "-m", "harness", "install", "etcd", "kafka",
                            "--hosts", ssh_cluster.hosts, "--ssh-key", str(ssh_cluster.key)],
                           capture_output=True, text=True, timeout=600, env=env,
                           cwd=Path(__file__).resolve().parents[2])
        assert p.returncode == 0, p.stdout + p.stderr
        for node in ("n1", "n2", "n3"):
            remote = ssh_cluster.private_dirs[node] / cache.name
            assert (remote / "kafka-3.9.1" / "COMPLETE").exists(), p.stdout
            assert len(list((remote / "kafka-3.9.1" / "libs").glob("*.jar"))) > 50
            assert ssh_cluster.lab.address(node) in p.stdout
        # Idempotent: a second install has nothing left to do on the hosts.
        q = subprocess.run(p.args, capture_output=True, text=True, timeout=600, env=env,
                           cwd=Path(__file__).resolve().parents[2])
        assert q.returncode == 0 and "nothing (all present)" in q.stdout, q.stdout + q.stderr
    finally:
        shutil.rmtree(cache, ignore_errors=True)
