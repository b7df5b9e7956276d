"""Fixtures for the raftkv tests: real clusters that are always torn down, and polling."""

from __future__ import annotations

import time

import pytest

from systems.control.hosts import LocalHost
from systems.base import ClusterContext
from systems.raftkv import RaftKV

NODES = ["n1", "n2", "n3"]


def _wait_until(predicate, timeout: float = 10.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    return predicate()


@pytest.fixture
def wait_until():
    return _wait_until


@pytest.fixture
def make_ctx(tmp_path):
    def make(bugs=frozenset(), name="run") -> ClusterContext:
        return ClusterContext(nodes=list(NODES), hosts={n: LocalHost() for n in NODES}, run_dir=tmp_path / name,
                              seed=1, bugs=frozenset(bugs))
    return make


@pytest.fixture
def start_cluster(make_ctx):
    """start(bugs) -> (RaftKV, ClusterContext), set up and ready; every process dies at the end."""
    started: list[tuple[RaftKV, ClusterContext]] = []

    def start(bugs=frozenset(), **options):
        ctx = make_ctx(bugs, name=f"cluster{len(started)}")
        system = RaftKV(**options)  # ctx.port() gives each node a free port on the shared host
        started.append((system, ctx))
        system.setup(ctx)
        return system, ctx

    try:
        yield start
    finally:
        for system, ctx in started:
            system.teardown()
            for host in ctx.hosts.values():
                host.close()
