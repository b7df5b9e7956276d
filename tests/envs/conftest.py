"""Fixtures for end-to-end runs on env netns and env ssh: the CLI, leftover checks, sshd hosts.

Every run goes through the real CLI (`python -m harness`) with its store in a temporary
directory. `leftovers(run_dir)` lists whatever that run's lab (named in run_dir/env.json) or its
node processes left behind, so a test can assert there is nothing, even while other labs of
other people run on the same machine.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.lab import LAB_STATE_DIR, NETNS_ETC_DIR, Lab

PROJECT = Path(__file__).resolve().parents[2]
SRV = Path("/srv/splitbrain")


def _cmdline(pid: str) -> str:
    try:
        return (Path("/proc") / pid / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _stdout_target(pid: str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/fd/1")
    except OSError:
        return ""


def processes_mentioning(marker: str) -> list[int]:
    """Pids whose command line or stdout file mentions `marker` (a store path, a lab id)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        cmd = _cmdline(d.name)
        if marker in cmd or marker in _stdout_target(d.name):
            found.append(int(d.name))
    return found


def kill_pids(pids: list[int]) -> None:
    for pid in pids:
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


def lab_leftovers(labid: str, prefix: str = "sb") -> list[str]:
    """Namespaces, interfaces, directories, state files and processes of one lab still present."""
    tag = f"{prefix}-{labid}-"
    out = []
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    out += [f"netns {line.split()[0]}" for line in ns.splitlines() if line.startswith(tag)]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    out += [f"link {line.split(':')[1].strip()}" for line in links.splitlines()
            if tag in line.split(":")[1]]
    if (NETNS_ETC_DIR).is_dir():
        out += [f"dir {p}" for p in NETNS_ETC_DIR.iterdir() if p.name.startswith(tag)]
    for p in (LAB_STATE_DIR / f"{labid}.json", LAB_STATE_DIR / labid):
        if p.exists():
            out.append(f"state {p}")
    # Delayers and probes log into the lab's work directory: their stdout names the lab.
    out += [f"process {pid}" for pid in processes_mentioning(f"/labs/{labid}/")]
    return out


@dataclass
class Splitbrain:
    """The CLI with its run store in a temporary directory."""

    store: Path
    started: list[subprocess.Popen] = field(default_factory=list)

    def argv(self, *args: str) -> list[str]:
        if args and args[0] == "run":
            args = (*args, "--store", str(self.store), "--quiet")
        return [sys.executable, "-m", "harness", *args]

    def run(self, *args: str, timeout: float = 240,
            home: Path | None = None) -> subprocess.CompletedProcess:
        """The CLI to completion; `home` sets $HOME (whose .ssh/known_hosts env ssh reads)."""
        env = {**os.environ, "HOME": str(home)} if home else None
        return subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout,
                              cwd=PROJECT, env=env)

    def start(self, *args: str, home: Path | None = None) -> subprocess.Popen:
        env = {**os.environ, "HOME": str(home)} if home else None
        p = subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, cwd=PROJECT, env=env)
        self.started.append(p)
        return p

    def run_dirs(self) -> list[Path]:
        return sorted(p.parent for p in self.store.glob("*/*/test.json"))

    @property
    def latest(self) -> Path:
        return (self.store / "latest").resolve()

    def history(self, run_dir: Path | None = None) -> list[dict]:
        path = (run_dir or self.latest) / "history.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]

    def leftovers(self, run_dir: Path | None = None) -> list[str]:
        """What the run left behind: its lab's pieces and any node process of that run (the node
        command lines name their data directory inside run_dir)."""
        run_dir = run_dir or self.latest
        out = [f"process {pid}" for pid in processes_mentioning(str(run_dir))]
        env = run_dir / "env.json"
        if env.exists():
            data = json.loads(env.read_text())
            if data.get("labid"):
                out += lab_leftovers(data["labid"], data.get("prefix", "sb"))
        return out


@pytest.fixture(scope="session")
def root_only() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: network namespaces, bridges and iptables")


@pytest.fixture
def sb(tmp_path, root_only):
    s = Splitbrain(tmp_path / "store")
    try:
        yield s
    finally:
        for p in s.started:  # a harness a test abandoned: interrupt it, so it cleans up
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
                try:
                    p.communicate(timeout=90)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.communicate()
        leftover = processes_mentioning(str(s.store))
        kill_pids(leftover)
        for run_dir in s.run_dirs():  # a lab a failed test left: remove it, then complain
            env = run_dir / "env.json"
            if env.exists() and lab_leftovers(json.loads(env.read_text())["labid"]):
                subprocess.run([sys.executable, "-m", "harness", "clean"], cwd=PROJECT,
                               capture_output=True, timeout=120)
        assert not leftover, f"node processes outlived the test: {leftover}"


def wait_for(predicate, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


@pytest.fixture
def waiter():
    return wait_for


# -- sshd hosts inside a lab ----------------------------------------------------------------------

@dataclass
class SshCluster:
    lab: Lab
    key: Path
    home: Path  # a $HOME whose .ssh/known_hosts holds every node's host key
    private_dirs: dict[str, Path]

    @property
    def hosts(self) -> str:
        return ",".join(self.lab.address(n) for n in self.lab.nodes)

    def args(self, *extra: str) -> list[str]:
        return ["--env", "ssh", "--hosts", self.hosts, "--ssh-key", str(self.key), *extra]


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def _port_open(addr: str, port: int) -> bool:
    try:
        socket.create_connection((addr, port), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def ssh_cluster(tmp_path_factory, root_only):
    """Three lab nodes, each running sshd in a mount namespace of its own in which a private
    directory hides /srv/splitbrain (so each host's node files are really that host's). The
    harness's known_hosts is set through HOME (paramiko reads ~/.ssh/known_hosts)."""
    from harness.prereqs import LAB_DEBIAN_PACKAGES, SSH_DEBIAN_PACKAGES, ensure_debian_packages

    ensure_debian_packages([*LAB_DEBIAN_PACKAGES, *SSH_DEBIAN_PACKAGES])
    tmp = tmp_path_factory.mktemp("sshcluster")
    made_srv = not SRV.exists()
    SRV.mkdir(parents=True, exist_ok=True)
    Path("/run/sshd").mkdir(exist_ok=True)
    lab = Lab(["n1", "n2", "n3"])
    try:
        lab.up()
        key = tmp / "client_key"
        _keygen(key)
        dirs, known = {}, []
        for node in lab.nodes:
            node_dir = tmp / node
            (node_dir / "srv").mkdir(parents=True)
            _keygen(node_dir / "host_key")
            (node_dir / "authorized_keys").write_text((tmp / "client_key.pub").read_text())
            config = node_dir / "sshd_config"
            config.write_text("\n".join([
                f"ListenAddress {lab.address(node)}", "Port 22",
                f"HostKey {node_dir / 'host_key'}", "PidFile none",
                f"AuthorizedKeysFile {node_dir / 'authorized_keys'}",
                "PermitRootLogin prohibit-password", "PasswordAuthentication no",
                "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
                "MaxStartups 100", "Subsystem sftp internal-sftp", ""]))
            command = f"mount --bind {node_dir / 'srv'} {SRV} && exec /usr/sbin/sshd -D -e -f {config}"
            lab.host(node).start_daemon("sshd", ["unshare", "--mount", "--propagation", "private",
                                                 "sh", "-c", command], str(node_dir / "sshd.log"))
            known.append(f"{lab.address(node)} {' '.join((node_dir / 'host_key.pub').read_text().split()[:2])}\n")
            dirs[node] = node_dir / "srv"
        home = tmp / "home"
        (home / ".ssh").mkdir(parents=True)
        (home / ".ssh" / "known_hosts").write_text("".join(known))
        for node in lab.nodes:
            assert wait_for(lambda: _port_open(lab.address(node), 22), 10), \
                (tmp / node / "sshd.log").read_text()
        yield SshCluster(lab, key, home, dirs)
    finally:
        lab.down()
        if made_srv:
            try:
                SRV.rmdir()
            except OSError:
                pass
