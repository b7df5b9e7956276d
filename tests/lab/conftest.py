"""Fixtures for the lab tests: root check, prerequisites, a 3-node lab torn down even on failure."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from systems.control.hosts import Daemon
from systems.control.lab import Lab
from harness.prereqs import LAB_DEBIAN_PACKAGES, ensure_debian_packages

TICKER = Path(__file__).with_name("tcp_ticker.py")

needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root: network namespaces, bridges and iptables")


@pytest.fixture(scope="session")
def lab_prereqs() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: network namespaces, bridges and iptables")
    ensure_debian_packages(LAB_DEBIAN_PACKAGES)


@pytest.fixture
def lab(lab_prereqs: None):
    lab = Lab(["n1", "n2", "n3"])
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class Tickers:
    """Starts tcp_ticker.py peers inside lab nodes and counts what each one received."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    def start(self, node: str, mode: str, peer: str | None = None, port: int = 7001) -> Daemon:
        """A server (mode "serve") in `node`, or a client in `node` connected to `peer`."""
        target = self.lab.address(peer) if peer else self.lab.address(node)
        argv = [sys.executable, str(TICKER), mode, target, str(port)]
        host = self.lab.host(node)
        daemon = host.start_daemon(f"ticker-{mode}", argv,
                                   str(self.lab.workdir / f"ticker-{mode}-{node}-{port}.log"))
        assert wait_until(lambda: "ready" in host.read_log(daemon), 10), host.read_log(daemon)
        return daemon

    def received(self, daemon: Daemon, kind: str) -> int:
        """Lines of `kind` logged: "tick" (sent by the other side) or "echo" (of our own ticks)."""
        return sum(1 for line in self.lab.host(daemon.host).read_log(daemon).splitlines()
                   if line.startswith(f"got {kind}"))


@pytest.fixture
def tickers(lab: Lab) -> Tickers:
    return Tickers(lab)
