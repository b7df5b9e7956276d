"""raftkv: the bundled Raft key-value store, run as one process per node.

RaftKV is the System the harness drives: setup() starts the nodes (python -m systems.raftkv.node)
through each node's Host and waits until a leader has committed its no-op; kill/start, pause/resume,
leader(), processes(), log_files() and healthy() are the optional capabilities the nemeses use. The consensus
itself lives in core.py (pure), its disk format in storage.py, the process in node.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from systems.base import ClusterContext, Offer, Option, SystemError_, parse_options
from systems.daemons import NotReady, OneDaemonPerNode
from nemesis.clockshim import set_offset
from systems.raftkv.client import RaftKVClient
from systems.raftkv.clock import CLOCK_FILE_ENV
from systems.raftkv.core import BUGS

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # so `-m systems.raftkv.node` imports on any cwd


class RaftKV(OneDaemonPerNode):
    """A raftkv cluster: one node process per ctx.nodes entry."""

    name = "raftkv"
    daemon_role = "node"
    daemon_log = "node.log"
    kept_files = (daemon_log,)
    offer = Offer(workloads=("register", "append", "wr", "counter"), bugs=dict(BUGS), options={
        "raftkv.read-mode": Option("index", "how the leader serves linearizable reads: read-index "
                                            "(a heartbeat round) or through the log",
                                   ("index", "log")),
        "raftkv.base-port": Option("7000", "client/peer port on hosts of their own (env local "
                                           "picks free ports)", kind=int, low=1, high=65535),
    })

    def __init__(self, base_port: int = 7000, ready_timeout: float = 15.0, client_timeout: float = 5.0,
                 election_timeout_ms: tuple[int, int] = (300, 600), heartbeat_ms: int = 100,
                 read_mode: str = "index") -> None:
        super().__init__()
        self.base_port = base_port
        self.ready_timeout = ready_timeout
        self.client_timeout = client_timeout
        self.election_timeout_ms = election_timeout_ms
        self.heartbeat_ms = heartbeat_ms
        self.read_mode = read_mode

    def check_options(self, options: dict[str, str]) -> None:
        """raftkv's options do not depend on each other: each Option checks itself."""

    # ---- System ---------------------------------------------------------------------------------

    def setup(self, ctx: ClusterContext) -> None:
        unknown = set(ctx.bugs) - set(BUGS)
        if unknown:
            raise SystemError_(f"raftkv has no bug {', '.join(sorted(unknown))} (known: {', '.join(BUGS)})")
        # Options given override the constructor's; each is checked by its declaration.
        declared = {k: o for k, o in self.offer.options.items() if k in ctx.options}
        try:
            given = parse_options(declared, ctx.options)
        except ValueError as e:
            raise SystemError_(f"raftkv: {e}") from None
        self.base_port = given.get("raftkv.base-port", self.base_port)
        self.read_mode = given.get("raftkv.read-mode", self.read_mode)
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

    def client(self, workload: str) -> RaftKVClient:
        self.offer.require_workload(self.name, workload)
        return RaftKVClient(timeout=self.client_timeout, base_port=self.base_port)

    # ---- capabilities ---------------------------------------------------------------------------

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
        env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
               "PYTHONUNBUFFERED": "1", CLOCK_FILE_ENV: self.ctx.clock_file(node)}
        self._start_daemon(node, self._argv(node), env=env, cwd=str(PROJECT_ROOT))

    def _wait_ready(self, timeout: float) -> None:
        assert self.ctx is not None
        ctx = self.ctx

        def why_not_ready() -> NotReady:
            statuses = self.statuses(timeout=0.5)
            quiet = [n for n, s in statuses.items() if s is None]
            leaders = [s for s in statuses.values() if s and s.get("role") == "leader"]
            newest = max(leaders, key=lambda s: s["term"], default=None)
            if not quiet and newest and newest.get("ready"):
                return None  # every node answers and the newest leader committed its no-op
            who = f"{quiet[0]} does not answer" if quiet else "no leader committed its no-op"
            return who, self._local_log(quiet[0] if quiet else ctx.nodes[0])

        self._wait_until_ready(why_not_ready, timeout, poll_s=0.1)


__all__ = ["RaftKV", "RaftKVClient"]
