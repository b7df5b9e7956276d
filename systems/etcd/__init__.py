"""etcd: a real etcd cluster (3 or 5 members, Debian `etcd-server`, etcd 3.4).

Each node runs one `etcd` member with a fresh data directory per run; client and peer ports come
from ctx.port (two services). setup() returns when every member answers /health with true (a
member is healthy only when it can serve a linearizable read through a leader). Clients
(systems/etcd/client.py) speak the v3 JSON gateway over HTTP, one request per operation, no retries.

etcd promises linearizable reads, writes and transactions (reads are not `serializable` unless
asked), so the register workload's full linearizability check applies as it is.

Clock faults: not declared. etcd is a Go binary: it reads the clock through the vDSO without libc,
so the LD_PRELOAD clock shim cannot reach it.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from systems.base import ClusterContext, Option, SystemError_
from systems.etcd.client import EtcdClient, EtcdError, EtcdHttp

CLIENT_PORT, PEER_PORT = 2379, 2380


class Etcd:
    """An etcd cluster, one member per ctx.nodes entry."""

    name = "etcd"
    workloads = ("register",)
    bugs: dict[str, str] = {}
    node_counts = (3, 5)
    options = {
        "etcd.heartbeat-ms": Option("100", "--heartbeat-interval of every member"),
        "etcd.election-ms": Option("1000", "--election-timeout of every member"),
        "etcd.request-timeout-ms": Option("3000", "how long a client waits for one answer"),
    }

    def __init__(self, ready_timeout: float = 30.0) -> None:
        self.ready_timeout = ready_timeout
        self.ctx: ClusterContext | None = None
        self.settings: dict[str, int] = {}
        self._daemons: dict[str, Any] = {}
        self._last_daemon: dict[str, Any] = {}

    def check_options(self, options: dict[str, str]) -> None:
        s = _settings(options)
        if s["election_ms"] < 5 * s["heartbeat_ms"]:
            raise ValueError(f"etcd.election-ms={s['election_ms']} must be at least 5 heartbeats "
                             f"({5 * s['heartbeat_ms']} ms); etcd refuses to start otherwise")

    # ---- System ---------------------------------------------------------------------------------

    def setup(self, ctx: ClusterContext) -> None:
        if len(ctx.nodes) not in self.node_counts:
            raise SystemError_(f"etcd runs on 3 or 5 nodes, not {len(ctx.nodes)}")
        try:
            self.settings = _settings({k: o.default for k, o in self.options.items()}
                                      | dict(ctx.options))
        except ValueError as e:
            raise SystemError_(str(e)) from None
        self.ctx = ctx
        try:
            for node in ctx.nodes:
                self._host(node).run(["rm", "-rf", self._data_dir(node)])
            for node in ctx.nodes:
                self._launch(node)
            self._wait_ready(self.ready_timeout)
        except BaseException:
            self.teardown()
            raise

    def teardown(self) -> None:
        for node in list(self._daemons):
            self._stop(node)

    def client(self, workload: str) -> EtcdClient:
        if workload not in self.workloads:
            raise ValueError(f"etcd supports the workloads {', '.join(self.workloads)}, "
                             f"not {workload!r}")
        s = self.settings or _settings({k: o.default for k, o in self.options.items()})
        return EtcdClient(CLIENT_PORT, s["request_timeout_ms"] / 1000.0)

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

    def leader(self) -> str | None:
        """The member the members' status names as leader; of several answers (a cut-off member
        still names an old leader), the one given in the highest raft term."""
        statuses = {n: s for n, s in self.statuses().items() if s is not None}
        by_id = {s["header"]["member_id"]: n for n, s in statuses.items()}
        best = max(statuses.values(), key=lambda s: int(s.get("raftTerm", 0)), default=None)
        if best is None:
            return None
        return by_id.get(best.get("leader"))

    def healthy(self) -> bool:
        return not self._unhealthy()

    def processes(self, node: str) -> list[tuple[Any, Any]]:
        daemon = self._last_daemon.get(node)
        return [(self._host(node), daemon)] if daemon is not None else []

    def log_files(self, node: str) -> list[Path]:
        if self.ctx is None:
            return []
        return [p for p in (self.ctx.node_dir(node) / "etcd.log",) if p.exists()]

    # ---- status ---------------------------------------------------------------------------------

    def _http(self, node: str, timeout: float = 1.0) -> EtcdHttp:
        assert self.ctx is not None, "setup() first"
        return EtcdHttp(self.ctx.address(node), self.ctx.port(node, CLIENT_PORT), timeout)

    def statuses(self) -> dict[str, dict | None]:
        """Each member's /v3/maintenance/status answer, None when it does not answer."""
        assert self.ctx is not None, "setup() first"
        out: dict[str, dict | None] = {}
        for node in self.ctx.nodes:
            http = self._http(node)
            try:
                out[node] = http.post("/v3/maintenance/status", {})
            except (EtcdError, OSError, ValueError):
                out[node] = None
            finally:
                http.close()
        return out

    def member_healthy(self, node: str) -> bool:
        http = self._http(node)
        try:
            return str(http.get("/health").get("health")) == "true"
        except (EtcdError, OSError, ValueError):
            return False
        finally:
            http.close()

    def _unhealthy(self) -> list[str]:
        assert self.ctx is not None, "setup() first"
        return [n for n in self.ctx.nodes if not self.member_healthy(n)]

    # ---- processes ------------------------------------------------------------------------------

    def _host(self, node: str) -> Any:
        assert self.ctx is not None, "setup() first"
        return self.ctx.hosts[node]

    def _data_dir(self, node: str) -> str:
        assert self.ctx is not None
        return f"{self.ctx.remote_dir(node)}/data"

    def _argv(self, node: str) -> list[str]:
        ctx = self.ctx
        assert ctx is not None
        s = self.settings

        def url(n: str, base: int) -> str:
            return f"http://{ctx.address(n)}:{ctx.port(n, base)}"

        cluster = ",".join(f"{n}={url(n, PEER_PORT)}" for n in ctx.nodes)
        return ["etcd", "--name", node, "--data-dir", self._data_dir(node),
                "--listen-client-urls", url(node, CLIENT_PORT),
                "--advertise-client-urls", url(node, CLIENT_PORT),
                "--listen-peer-urls", url(node, PEER_PORT),
                "--initial-advertise-peer-urls", url(node, PEER_PORT),
                "--initial-cluster", cluster, "--initial-cluster-state", "new",
                "--initial-cluster-token", f"splitbrain-{ctx.seed}-{ctx.run_dir.name}",
                "--heartbeat-interval", str(s["heartbeat_ms"]),
                "--election-timeout", str(s["election_ms"]),
                "--logger", "zap", "--log-outputs", "stderr"]

    def _launch(self, node: str) -> None:
        assert self.ctx is not None
        log = f"{self.ctx.remote_dir(node)}/etcd.log"
        try:
            daemon = self._host(node).start_daemon(f"etcd-{node}", self._argv(node), log,
                                                   cwd=self.ctx.remote_dir(node))
        except Exception as e:  # HostError and kin: one line naming the node
            raise SystemError_(f"etcd {node}: cannot start the member: {e} (log: {log})") from None
        self._daemons[node] = self._last_daemon[node] = daemon

    def _stop(self, node: str) -> None:
        daemon = self._daemons.pop(node, None)
        if daemon is None:
            return
        host = self._host(node)
        host.signal(daemon, signal.SIGCONT)  # a paused member must die too
        host.signal(daemon, signal.SIGKILL)

    def _wait_ready(self, timeout: float) -> None:
        assert self.ctx is not None
        deadline = time.monotonic() + timeout
        while True:
            for node, daemon in self._daemons.items():
                if not self._host(node).alive(daemon):
                    tail = _last_line(self._host(node).read_log(daemon))
                    raise SystemError_(f"etcd {node} exited during setup: {tail} "
                                       f"(log: {daemon.log})")
            unhealthy = self._unhealthy()
            if not unhealthy:
                return
            if time.monotonic() >= deadline:
                node = unhealthy[0]
                raise SystemError_(f"etcd not ready after {timeout:g} s: {node} is not healthy "
                                   f"(log: {self.ctx.remote_dir(node)}/etcd.log)")
            time.sleep(0.25)


def _settings(options: dict[str, str]) -> dict[str, int]:
    def number(key: str, low: int) -> int:
        raw = options.get(key, Etcd.options[key].default)
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{key}={raw!r}: expected a whole number of milliseconds") from None
        if value < low:
            raise ValueError(f"{key}={value}: must be at least {low}")
        return value

    return {"heartbeat_ms": number("etcd.heartbeat-ms", 10),
            "election_ms": number("etcd.election-ms", 50),
            "request_timeout_ms": number("etcd.request-timeout-ms", 100)}


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


__all__ = ["Etcd", "EtcdClient"]
