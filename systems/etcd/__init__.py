"""etcd: a real etcd cluster (3 or 5 members, Debian `etcd-server`, etcd 3.4).

Each node runs one `etcd` member with a fresh data directory per run; client and peer ports come
from ctx.port (two services). setup() returns when every member answers /health with true (a
member is healthy only when it can serve a linearizable read through a leader). Clients
(systems/etcd/client.py) speak the v3 JSON gateway over HTTP, one request per operation, no retries.

etcd promises linearizable reads, writes and transactions (reads are not `serializable` unless
asked), so the register workload's full linearizability check applies as it is, and the append
and wr transactions (systems/etcd/transactions.py) are checked for strict serializability.

Clock faults: not declared. etcd is a Go binary: it reads the clock through the vDSO without libc,
so the LD_PRELOAD clock shim cannot reach it.
"""

from __future__ import annotations

from systems.base import ClusterContext, Offer, Option, SystemError_, whole_number
from systems.daemons import NotReady, OneDaemonPerNode
from systems.etcd.client import EtcdClient, EtcdError, EtcdHttp
from systems.etcd.transactions import EtcdTxnClient

CLIENT_PORT, PEER_PORT = 2379, 2380


class Etcd(OneDaemonPerNode):
    """An etcd cluster, one member per ctx.nodes entry."""

    name = "etcd"
    daemon_role = "member"
    daemon_log = "etcd.log"
    kept_files = (daemon_log,)
    offer = Offer(workloads=("register", "append", "wr"), node_counts=(3, 5), options={
        "etcd.heartbeat-ms": Option("100", "--heartbeat-interval of every member"),
        "etcd.election-ms": Option("1000", "--election-timeout of every member"),
        "etcd.request-timeout-ms": Option("3000", "how long a client waits for one answer"),
    })

    def __init__(self, ready_timeout: float = 30.0) -> None:
        super().__init__()
        self.ready_timeout = ready_timeout
        self.settings: dict[str, int] = {}

    def check_options(self, options: dict[str, str]) -> None:
        s = _settings(options)
        if s["election_ms"] < 5 * s["heartbeat_ms"]:
            raise ValueError(f"etcd.election-ms={s['election_ms']} must be at least 5 heartbeats "
                             f"({5 * s['heartbeat_ms']} ms); etcd refuses to start otherwise")

    # ---- System ---------------------------------------------------------------------------------

    def setup(self, ctx: ClusterContext) -> None:
        if len(ctx.nodes) not in self.offer.node_counts:
            raise SystemError_(f"etcd runs on 3 or 5 nodes, not {len(ctx.nodes)}")
        try:
            self.settings = _settings({k: o.default for k, o in self.offer.options.items()}
                                      | dict(ctx.options))
        except ValueError as e:
            raise SystemError_(str(e)) from None
        self.ctx = ctx
        self._start_all(lambda node: self._host(node).run(["rm", "-rf", self._data_dir(node)]))

    def client(self, workload: str) -> EtcdClient | EtcdTxnClient:
        self.offer.require_workload(self.name, workload)
        s = self.settings or _settings({k: o.default for k, o in self.offer.options.items()})
        if workload in ("append", "wr"):  # transactions: systems/etcd/transactions.py
            return EtcdTxnClient(CLIENT_PORT, s["request_timeout_ms"] / 1000.0)
        return EtcdClient(CLIENT_PORT, s["request_timeout_ms"] / 1000.0)

    # ---- capabilities ---------------------------------------------------------------------------

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

    def _wait_ready(self, timeout: float) -> None:
        def why_not_ready() -> NotReady:
            unhealthy = self._unhealthy()
            if not unhealthy:
                return None
            return f"{unhealthy[0]} is not healthy", self._remote_log(unhealthy[0])

        self._wait_until_ready(why_not_ready, timeout)


def _settings(options: dict[str, str]) -> dict[str, int]:
    def number(key: str, low: int) -> int:
        return whole_number(options, Etcd.offer.options, key, low, "a whole number of milliseconds")

    return {"heartbeat_ms": number("etcd.heartbeat-ms", 10),
            "election_ms": number("etcd.election-ms", 50),
            "request_timeout_ms": number("etcd.request-timeout-ms", 100)}


__all__ = ["Etcd", "EtcdClient"]
