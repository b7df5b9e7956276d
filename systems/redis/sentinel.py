"""`redis-sentinel`: one primary, two replicas, and a Sentinel on every node (quorum 2).

Replication is asynchronous: the primary acknowledges a write before any replica has it. When
the Sentinels that can still talk to each other agree (quorum) that the primary is down for
`down-after-milliseconds`, they promote a replica; when the old primary comes back it is turned
into a replica of the new one and its own data is replaced by a full copy of the new primary's.
So every write the old primary acknowledged after the replicas lost it is gone: the 2013 Jepsen
finding, which the `set` workload under `partition:leader` shows (docs/redis.md).

Clients find the primary as applications do, through Sentinel (redis-py's Sentinel), asking the
Sentinel on their own node first: a client cut off with the old primary keeps writing to it.

Ready means: the primary lists both replicas online, each replica's link to it is up, and every
Sentinel names that primary and knows the other Sentinels and both replicas. The same condition
(minus the Sentinel bookkeeping) is healthy(), which the harness waits for after a heal, so the
final read happens after the old primary has rejoined as a replica.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

from systems.base import ClusterContext, Option, SystemError_
from systems.redis.clients import RedisClient
from systems.redis.server import (COMMON_OPTIONS, SERVER_BINARY, RedisNodes, no_retry,
                                  online_replicas)

MASTER_NAME = "splitbrain"  # the name Sentinel monitors the primary under

SENTINEL_OPTIONS = {
    **COMMON_OPTIONS,
    "sentinel-port": Option("26379", "Sentinel port on hosts of their own (env local picks free "
                                     "ports)", kind=int, low=1, high=65535),
    "quorum": Option("2", "Sentinels that must agree the primary is down before a failover",
                     kind=int, low=1, high=3),
    "down-after-milliseconds": Option("2000", "Sentinel: how long the primary must be unreachable "
                                              "before it counts as down", kind=int, low=100),
    "failover-timeout": Option("2000", "Sentinel: ms before a stalled failover is retried, and "
                                       "the pace of replica reconfiguration", kind=int, low=100),
    # there are two replicas
    "min-replicas-to-write": Option("0", "primary refuses writes (NOREPLICAS) unless this many "
                                         "replicas acknowledged it within min-replicas-max-lag",
                                    kind=int, low=0, high=2),
    "min-replicas-max-lag": Option("10", "seconds a replica may go without acknowledging before it "
                                         "stops counting for min-replicas-to-write", kind=int,
                                   low=1),
}


class RedisSentinel(RedisNodes):
    """A Sentinel-managed primary/replica group, one redis-server and one Sentinel per node."""

    name = "redis-sentinel"
    offer = replace(RedisNodes.offer, options=SENTINEL_OPTIONS, node_counts=(3,))

    def sentinel_port(self, node: str) -> int:
        assert self.ctx is not None
        return self.ctx.port(node, int(self.opts["sentinel-port"]))

    # ---- System ---------------------------------------------------------------------------------

    def setup(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
        self._resolve_options(ctx)
        if len(ctx.nodes) != 3:
            raise SystemError_(f"redis-sentinel runs on 3 nodes, not {len(ctx.nodes)}")
        timeout = float(self.opts["ready-timeout"])
        try:
            primary = ctx.nodes[0]
            for node in ctx.nodes:
                self.prepare_node(node)
                conf = self.server_config(node) + [
                    f"min-replicas-to-write {self.opts['min-replicas-to-write']}",
                    f"min-replicas-max-lag {self.opts['min-replicas-max-lag']}",
                ]
                if node != primary:
                    conf.append("replicaof {} {}".format(*self.addr(primary)))
                server_conf = self.write_file(node, "redis.conf", conf)
                sentinel_conf = self.write_file(node, "sentinel.conf", self._sentinel_config(node))
                self.add_daemon(node, "redis-server", [SERVER_BINARY, server_conf], "redis.log")
                self.add_daemon(node, "sentinel", [SERVER_BINARY, sentinel_conf, "--sentinel"],
                                "sentinel.log")
                self.launch(node, only="redis-server")
            self.wait_until("replication", lambda: self._why_not_replicating(primary), timeout,
                            self._node_named)
            for node in ctx.nodes:
                self.launch(node, only="sentinel")
            self.wait_until("sentinels", lambda: self._why_unstable(sentinels_complete=True),
                            timeout, self._node_named)
        except BaseException:
            self.teardown()
            raise

    def _sentinel_config(self, node: str) -> list[str]:
        assert self.ctx is not None
        host, port = self.addr(self.ctx.nodes[0])
        return [
            f"bind {self.ctx.address(node)}",
            f"port {self.sentinel_port(node)}",
            "protected-mode no",
            "daemonize no",
            "set-proc-title no",
            'logfile ""',
            f"dir {self.ctx.remote_dir(node)}",
            f"sentinel monitor {MASTER_NAME} {host} {port} {self.opts['quorum']}",
            f"sentinel down-after-milliseconds {MASTER_NAME} {self.opts['down-after-milliseconds']}",
            f"sentinel failover-timeout {MASTER_NAME} {self.opts['failover-timeout']}",
            f"sentinel parallel-syncs {MASTER_NAME} 1",
        ]

    def client(self, workload: str) -> RedisClient:
        self.offer.require_workload(self.name, workload)
        return RedisClient(workload, self._connect, settle=self.settle)

    def _connect(self, ctx: ClusterContext, node: str) -> tuple[Any, list[Any]]:
        from redis.sentinel import Sentinel

        # As an application on `node` would: its local Sentinel first, then the others.
        order = [node] + [n for n in ctx.nodes if n != node]
        sport = int(self.opts["sentinel-port"])
        timeout = self.client_timeout
        sentinel = Sentinel([(ctx.address(n), ctx.port(n, sport)) for n in order],
                            sentinel_kwargs={"socket_timeout": 0.5, "socket_connect_timeout": 0.5,
                                             "retry": no_retry(), "decode_responses": True},
                            socket_timeout=timeout, socket_connect_timeout=timeout,
                            retry=no_retry(), retry_on_timeout=False, decode_responses=True)
        conn = sentinel.master_for(MASTER_NAME)
        return conn, list(sentinel.sentinels)

    # ---- topology -------------------------------------------------------------------------------

    def _why_not_replicating(self, primary: str) -> str | None:
        assert self.ctx is not None
        info = self.ask(primary, lambda c: c.info("replication"))
        if info is None:
            return f"{primary} does not answer"
        if info.get("role") != "master":
            return f"{primary} is not a primary (role {info.get('role')})"
        for node in self.ctx.nodes:
            if node == primary:
                continue
            rinfo = self.ask(node, lambda c: c.info("replication"))
            if rinfo is None:
                return f"{node} does not answer"
            if rinfo.get("role") != "slave" or \
                    (str(rinfo.get("master_host")), int(rinfo.get("master_port", 0))) != self.addr(primary):
                return f"{node} does not replicate from {primary}"
            if rinfo.get("master_link_status") != "up" or int(rinfo.get("master_sync_in_progress", 0)):
                return f"{node}'s replication link to {primary} is not up"
        replicas = online_replicas(info)
        if len(replicas) != len(self.ctx.nodes) - 1:
            return f"{primary} lists {len(replicas)} online replicas, not {len(self.ctx.nodes) - 1}"
        return None

    def sentinel_views(self) -> dict[str, str | None]:
        """Each node's Sentinel's primary (None: no answer or an address no node has)."""
        assert self.ctx is not None
        views: dict[str, str | None] = {}
        for node in self.ctx.nodes:
            addr = self.ask(node, lambda c: c.sentinel_get_master_addr_by_name(MASTER_NAME),
                            timeout=0.5, port=self.sentinel_port(node))
            views[node] = self.node_at(addr[0], int(addr[1])) if addr else None
        return views

    def _why_unstable(self, sentinels_complete: bool = False) -> str | None:
        """None when every Sentinel names one primary that replicates to every other node."""
        assert self.ctx is not None
        views = self.sentinel_views()
        silent = [n for n, p in views.items() if p is None]
        if silent:
            return f"the sentinel on {silent[0]} names no known primary"
        if len(set(views.values())) != 1:
            return "sentinels disagree on the primary: " + \
                ", ".join(f"{n} says {p}" for n, p in views.items())
        primary = next(iter(views.values()))
        assert primary is not None
        if sentinels_complete:
            for node in self.ctx.nodes:
                state = self.ask(node, lambda c: c.sentinel_master(MASTER_NAME), timeout=0.5,
                                 port=self.sentinel_port(node))
                if not state:
                    return f"the sentinel on {node} does not answer"
                others = int(state.get("num-other-sentinels", 0))
                if others != len(self.ctx.nodes) - 1:
                    return f"the sentinel on {node} knows {others} other sentinels, not " \
                           f"{len(self.ctx.nodes) - 1}"
                if int(state.get("num-slaves", 0)) < len(self.ctx.nodes) - 1:
                    return f"the sentinel on {node} knows {state.get('num-slaves')} replicas"
                if state.get("is_sdown") or state.get("is_odown") or \
                        not state.get("is_master"):
                    return f"the sentinel on {node} flags the primary {state.get('flags')}"
        return self._why_not_replicating(primary)

    # ---- HasLeader / HealthCheck ---------------------------------------------------------------

    def leader(self) -> str | None:
        """The primary most Sentinels name right now."""
        views = [p for p in self.sentinel_views().values() if p is not None]
        if not views:
            return None
        return Counter(views).most_common(1)[0][0]

    def primaries(self) -> list[str]:
        leader = self.leader()
        return [leader] if leader else []


__all__ = ["RedisSentinel", "MASTER_NAME"]
