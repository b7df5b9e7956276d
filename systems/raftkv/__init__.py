"""raftkv: the bundled Raft key-value store, run as one process per node.

RaftKV is the System the harness drives: setup() starts the nodes (python -m systems.raftkv.node)
through each node's Host and waits until a leader has committed its no-op; kill/start, pause/resume,
leader(), processes(), log_files() and healthy() are the optional capabilities the nemeses use. The consensus
itself lives in core.py (pure), its disk format in storage.py, the process in node.py.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from systems.base import Option, ClusterContext, SystemError_
from nemesis.clockshim import set_offset
from systems.raftkv.client import RaftKVClient
from systems.raftkv.clock import CLOCK_FILE_ENV
from systems.raftkv.core import BUGS

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # so `-m systems.raftkv.node` imports on any cwd


class RaftKV:
    """A raftkv cluster: one node process per ctx.nodes entry."""

    name = "raftkv"
    bugs = dict(BUGS)
    workloads = ("register",)
    options = {
        "raftkv.read-mode": Option("index", "how the leader serves linearizable reads: read-index "
                                            "(a heartbeat round) or through the log",
                                   ("index", "log")),
        "raftkv.base-port": Option("7000", "client/peer port on hosts of their own (env local "
                                           "picks free ports)"),
    }

    def __init__(self, base_port: int = 7000, ready_timeout: float = 15.0, client_timeout: float = 5.0,
                 election_timeout_ms: tuple[int, int] = (300, 600), heartbeat_ms: int = 100,
                 read_mode: str = "index") -> None:
        self.base_port = base_port
        self.ready_timeout = ready_timeout
        self.client_timeout = client_timeout
        self.election_timeout_ms = election_timeout_ms
        self.heartbeat_ms = heartbeat_ms
        self.read_mode = read_mode
        self.ctx: ClusterContext | None = None
        self._daemons: dict[str, Any] = {}  # node -> its running Daemon
        self._last_daemon: dict[str, Any] = {}  # node -> the Daemon started last (kept after a kill)

    # ---- System ---------------------------------------------------------------------------------

    def setup(self, ctx: ClusterContext) -> None:
        unknown = set(ctx.bugs) - set(BUGS)
        if unknown:
            raise SystemError_(f"raftkv has no bug {', '.join(sorted(unknown))} (known: {', '.join(BUGS)})")
        try:
            self.base_port = int(ctx.options.get("raftkv.base-port", self.base_port))
        except ValueError:
            raise SystemError_(f"raftkv.base-port {ctx.options['raftkv.base-port']!r}: expected a port number") from None
        self.read_mode = ctx.options.get("raftkv.read-mode", self.read_mode)
        if self.read_mode not in ("index", "log"):
            raise SystemError_(f"raftkv.read-mode {self.read_mode!r}: expected index or log")
        self.ctx = ctx
        for node in ctx.nodes:
            data = ctx.node_dir(node) / "data"
            if data.exists():  # fresh per run
                for f in data.iterdir():
                    f.unlink()
            self._launch(node)
        try:
            self._wait_ready(self.ready_timeout)
        except SystemError_:
            self.teardown()
            raise

    def teardown(self) -> None:
        for node in list(self._daemons):
            self._stop(node)

    def client(self, workload: str) -> RaftKVClient:
        if workload not in self.workloads:
            raise ValueError(f"raftkv supports the workloads {', '.join(self.workloads)}, not {workload!r}")
        return RaftKVClient(timeout=self.client_timeout, base_port=self.base_port)

    # ---- capabilities ---------------------------------------------------------------------------

    def kill(self, node: str) -> None:
        self._stop(node)

    def start(self, node: str) -> None:
        if node in self._daemons and self._host(node).alive(self._daemons[node]):
            return
        self._launch(node)

    def pause(self, node: str) -> None:
        if node in self._daemons:
            self._host(node).signal(self._daemons[node], signal.SIGSTOP)

    def resume(self, node: str) -> None:
        if node in self._daemons:
            self._host(node).signal(self._daemons[node], signal.SIGCONT)

    def set_clock_offset(self, node: str, ms: int) -> None:
        """ClockSkewable: the node's Clock (systems/raftkv/clock.py) reads ctx.clock_file(node)."""
        assert self.ctx is not None, "setup() first"
        set_offset(self._host(node), self.ctx.clock_file(node), ms)

    def wall_clock(self, node: str) -> float | None:
        status = self.statuses([node], timeout=1.0).get(node)
        return status.get("wall_time") if status else None

    def leader(self) -> str | None:
        status = self._leader_status()
        return status["id"] if status else None

    def healthy(self) -> bool:
        return self._leader_ready()

    def processes(self, node: str) -> list[tuple[Any, Any]]:
        """The node's process (its last one, even when killed, so a nemesis can see it is gone)."""
        daemon = self._last_daemon.get(node)
        return [(self._host(node), daemon)] if daemon is not None else []

    def log_files(self, node: str) -> list[Path]:
        if self.ctx is None:
            return []
        return [p for p in (self.ctx.node_dir(node) / "node.log",) if p.exists()]

    # ---- helpers --------------------------------------------------------------------------------

    def statuses(self, nodes: list[str] | None = None, timeout: float = 1.0) -> dict[str, dict | None]:
        """Each node's status answer, None for a node that does not answer in time."""
        assert self.ctx is not None, "setup() first"
        result: dict[str, dict | None] = {}
        for node in nodes or self.ctx.nodes:
            c = RaftKVClient(timeout=timeout, base_port=self.base_port)
            try:
                c.open(self.ctx, node)
                result[node] = c.status()
            except (OSError, ValueError, KeyError):
                result[node] = None
            finally:
                c.close()
        return result

    def _leader_status(self) -> dict | None:
        """The status of the highest-term node that says it leads, or None."""
        leaders = [s for s in self.statuses(timeout=1.0).values() if s and s.get("role") == "leader"]
        return max(leaders, key=lambda s: s["term"], default=None)

    def _leader_ready(self) -> bool:
        # The cluster answers again: its newest leader has committed an entry (the no-op) in its term.
        status = self._leader_status()
        return bool(status and status.get("ready"))

    def _host(self, node: str):
        assert self.ctx is not None, "setup() first"
        return self.ctx.hosts[node]

    def _argv(self, node: str) -> list[str]:
        ctx = self.ctx
        assert ctx is not None
        peers = ",".join(f"{p}={ctx.address(p)}:{ctx.port(p, self.base_port)}" for p in ctx.nodes if p != node)
        argv = [sys.executable, "-m", "systems.raftkv.node", "--id", node,
                "--listen", f"{ctx.address(node)}:{ctx.port(node, self.base_port)}",
                "--data", f"{ctx.remote_dir(node)}/data",
                "--election-timeout-ms", f"{self.election_timeout_ms[0]},{self.election_timeout_ms[1]}",
                "--heartbeat-ms", str(self.heartbeat_ms), "--read-mode", self.read_mode,
                "--seed", str(ctx.seed * 1000 + ctx.nodes.index(node))]
        if peers:
            argv += ["--peers", peers]
        for bug in sorted(ctx.bugs):
            argv += ["--bug", bug]
        return argv

    def _launch(self, node: str) -> None:
        assert self.ctx is not None
        log = f"{self.ctx.remote_dir(node)}/node.log"  # on the node's host; env ssh copies it back
        env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
               "PYTHONUNBUFFERED": "1", CLOCK_FILE_ENV: self.ctx.clock_file(node)}
        try:
            daemon = self._host(node).start_daemon(f"raftkv-{node}", self._argv(node), str(log),
                                                   env=env, cwd=str(PROJECT_ROOT))
        except Exception as e:  # HostError and kin: one line naming the node
            raise SystemError_(f"raftkv {node}: cannot start the node: {e} (log: {log})") from None
        self._daemons[node] = self._last_daemon[node] = daemon

    def _stop(self, node: str) -> None:
        daemon = self._daemons.pop(node, None)
        if daemon is None:
            return
        host = self._host(node)
        host.signal(daemon, signal.SIGCONT)  # a paused node must die too
        host.signal(daemon, signal.SIGKILL)

    def _wait_ready(self, timeout: float) -> None:
        assert self.ctx is not None
        deadline = time.monotonic() + timeout
        while True:
            for node, daemon in self._daemons.items():
                if not self._host(node).alive(daemon):
                    tail = _last_line(self._host(node).read_log(daemon))
                    raise SystemError_(f"raftkv {node} exited during setup: {tail} (log: {daemon.log})")
            statuses = self.statuses(timeout=0.5)
            quiet = [n for n, s in statuses.items() if s is None]
            leaders = [s for s in statuses.values() if s and s.get("role") == "leader"]
            newest = max(leaders, key=lambda s: s["term"], default=None)
            if not quiet and newest and newest.get("ready"):
                return  # every node answers and the newest leader committed its no-op
            if time.monotonic() >= deadline:
                who = f"{quiet[0]} does not answer" if quiet else "no leader committed its no-op"
                node = quiet[0] if quiet else self.ctx.nodes[0]
                raise SystemError_(f"raftkv not ready after {timeout:g} s: {who} "
                                   f"(log: {self.ctx.node_dir(node) / 'node.log'})")
            time.sleep(0.1)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


__all__ = ["RaftKV", "RaftKVClient"]
