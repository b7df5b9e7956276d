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
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from systems.control.lab import LAB_STATE_DIR, NETNS_ETC_DIR

PROJECT = Path(__file__).resolve().parents[2]


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
def sb(tmp_path, root_only, kill_pids):
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


@pytest.fixture(scope="module")
def ssh_cluster(tmp_path_factory, root_only, sshd_lab):
    """Three lab nodes, each running sshd with a private /srv/splitbrain (tests/conftest.py);
    give the CLI its `home` so that env ssh knows their host keys."""
    with sshd_lab(tmp_path_factory.mktemp("sshcluster"), serving=("n1", "n2", "n3")) as cluster:
        yield cluster
