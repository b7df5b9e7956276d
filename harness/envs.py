"""Environments: where the nodes of a run live, and how the harness reaches them.

An environment opens a ClusterContext (hosts and addresses for every node) before the system is
set up, and closes it after the system is torn down. `local` puts every node on this machine at
127.0.0.1 (ports differ per node); it can kill and pause, not partition.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from harness.errors import UsageError
from harness.hosts import LocalHost
from systems.base import ClusterContext


class Environment(Protocol):
    name: str

    def open(self, spec: Any, run_dir: Path) -> ClusterContext:
        """Create the hosts (and whatever network they need); called in a worker thread."""

    def close(self) -> None:
        """Stop every process on the hosts and remove what open() created; idempotent."""


class LocalEnv:
    name = "local"
    doc = "every node a process on 127.0.0.1 (kill and pause only)"

    def __init__(self) -> None:
        self.ctx: ClusterContext | None = None

    def open(self, spec: Any, run_dir: Path) -> ClusterContext:
        nodes = [f"n{i + 1}" for i in range(spec.nodes)]
        self.ctx = ClusterContext(nodes=nodes, hosts={n: LocalHost(n) for n in nodes},
                                  run_dir=run_dir, seed=spec.seed, bugs=frozenset(spec.bugs),
                                  options=dict(spec.options), shared_host=True)
        return self.ctx

    def close(self) -> None:
        if self.ctx is not None:
            for host in self.ctx.hosts.values():
                host.close()


ENVIRONMENTS: dict[str, type] = {
    "local": LocalEnv,
}


def make_environment(name: str) -> Environment:
    if name not in ENVIRONMENTS:
        raise UsageError(f"--env {name}: unknown environment; available: "
                         f"{', '.join(sorted(ENVIRONMENTS))}")
    return ENVIRONMENTS[name]()
