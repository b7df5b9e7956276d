"""`redis-cluster`: Redis Cluster with 3 primaries and 3 replicas (n1-n3 primaries, n4-n6 their
replicas), clients routing by hash slot through redis-py's RedisCluster.

Each primary owns a third of the 16384 hash slots and replicates asynchronously to its replica.
When a primary is unreachable from the majority of primaries for `cluster-node-timeout`, its
replica is promoted; writes the old primary acknowledged but had not yet replicated are lost
(Redis documents this window; `cluster-node-timeout` bounds it). The cluster is built as
redis-cli --cluster create would, with explicit commands (SET-CONFIG-EPOCH, MEET, ADDSLOTSRANGE,
REPLICATE), so the layout is fixed and known.

Ready (and healthy) means: every node says cluster_state:ok with all 16384 slots served and
6 known nodes, every node's view of which primary serves which slots is the same, and every
primary has its replica online.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from systems.base import ClusterContext, Option, SystemError_
from systems.redis.clients import SET_KEY, TXN_KEY, RedisClient
from systems.redis.server import (COMMON_OPTIONS, SERVER_BINARY, RedisNodes, no_retry,
                                  online_replicas)

SLOTS = 16384
BUS_PORT_OFFSET = 10000  # Redis's own convention: the cluster bus listens on port + 10000
# The key whose slot's primary is "the leader" per workload (the key the workload centres on;
# a transaction's keys all hash to the slot of TXN_KEY).
LEADER_KEYS = {"register": "k0", "set": SET_KEY, "lock": "lock-0", "append": TXN_KEY, "wr": TXN_KEY,
               "counter": "counter"}  # the counter workload's one key

CLUSTER_OPTIONS = {
    **COMMON_OPTIONS,
    # the cluster bus listens on base-port + BUS_PORT_OFFSET
    "base-port": replace(COMMON_OPTIONS["base-port"], high=65535 - BUS_PORT_OFFSET),
    "cluster-node-timeout": Option("2000", "ms a node may be unreachable before it is flagged "
                                           "failing and its replica may be promoted", kind=int,
                                   low=100),
    # one replica per primary
    "min-replicas-to-write": Option("0", "primaries refuse writes (NOREPLICAS) unless this many "
                                         "replicas acknowledged within min-replicas-max-lag",
                                    kind=int, low=0, high=1),
    "min-replicas-max-lag": Option("10", "seconds a replica may go without acknowledging before it "
                                         "stops counting for min-replicas-to-write", kind=int,
                                   low=1),
    "cluster-require-full-coverage": Option("yes", "refuse all writes while any slot is unserved",
                                            ("yes", "no")),
}


def _slot_ranges(count: int) -> list[tuple[int, int]]:
    """Slots split evenly among `count` primaries, as redis-cli does."""
    per = SLOTS / count
    return [(round(i * per), round((i + 1) * per) - 1) for i in range(count)]


def parse_cluster_nodes(text: str) -> list[dict[str, Any]]:
    """CLUSTER NODES lines as dicts: id, addr (ip, port), flags, primary (id or None), slots."""
    out = []
    for line in text.strip().splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        ip_port = parts[1].split("@", 1)[0]
        ip, _, port = ip_port.rpartition(":")
        out.append({"id": parts[0], "addr": (ip, int(port) if port.isdigit() else 0),
                    "flags": set(parts[2].split(",")),
                    "primary": None if parts[3] == "-" else parts[3],
                    "slots": tuple(s for s in parts[8:] if not s.startswith("["))})
    return out


class RedisCluster(RedisNodes):
    """Six redis-server processes in cluster mode."""

    name = "redis-cluster"
    offer = replace(RedisNodes.offer, options=CLUSTER_OPTIONS, node_counts=(6,))

    def __init__(self) -> None:
        super().__init__()
        self._leader_key = LEADER_KEYS["register"]

    def bus_port(self, node: str) -> int:
        assert self.ctx is not None
        return self.ctx.port(node, self.base_port + BUS_PORT_OFFSET)

    # ---- System ---------------------------------------------------------------------------------

    def setup(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
        self._resolve_options(ctx)
        if len(ctx.nodes) != 6:
            raise SystemError_(f"redis-cluster runs on 6 nodes, not {len(ctx.nodes)}")
        timeout = float(self.opts["ready-timeout"])
        try:
            for node in ctx.nodes:
                self.prepare_node(node)
                conf = self.server_config(node) + [
                    "cluster-enabled yes",
                    "cluster-config-file nodes.conf",  # in `dir`: kept across a kill
                    f"cluster-node-timeout {self.opts['cluster-node-timeout']}",
                    f"cluster-port {self.bus_port(node)}",
                    f"cluster-announce-ip {ctx.address(node)}",
                    f"cluster-require-full-coverage {self.opts['cluster-require-full-coverage']}",
                    f"min-replicas-to-write {self.opts['min-replicas-to-write']}",
                    f"min-replicas-max-lag {self.opts['min-replicas-max-lag']}",
                ]
                path = self.write_file(node, "redis.conf", conf)
                self.add_daemon(node, "redis-server", [SERVER_BINARY, path], "redis.log")
                self.launch(node)
            self.wait_until("servers answer", self._why_silent, timeout, self._node_named)
            self._create(timeout)
            self.wait_until("cluster", self._why_unstable, timeout, self._node_named)
        except BaseException:
            self.teardown()
            raise

    def _create(self, timeout: float) -> None:
        """Join the nodes, give n1-n3 a third of the slots each, make n4-n6 their replicas."""
        assert self.ctx is not None
        nodes = self.ctx.nodes
        primaries, replicas = nodes[:3], nodes[3:]
        for i, node in enumerate(nodes):
            self._command(node, "CLUSTER", "SET-CONFIG-EPOCH", i + 1)
        first = nodes[0]
        for node in nodes[1:]:
            host, port = self.addr(node)
            self._command(first, "CLUSTER", "MEET", host, port, self.bus_port(node))
        self.wait_until("nodes meet", self._why_not_met, timeout, self._node_named)
        for node, (lo, hi) in zip(primaries, _slot_ranges(len(primaries))):
            self._command(node, "CLUSTER", "ADDSLOTSRANGE", lo, hi)
        ids = {node: self._command(node, "CLUSTER", "MYID") for node in nodes}
        for replica, primary in zip(replicas, primaries):
            self._command(replica, "CLUSTER", "REPLICATE", ids[primary])

    def _command(self, node: str, *args: Any) -> Any:
        conn = self.admin(node, timeout=5.0)
        try:
            return conn.execute_command(*args)
        except Exception as e:
            raise SystemError_(f"redis-cluster {node}: {' '.join(map(str, args[:2]))} failed: {e} "
                               f"(log: {self.server_log(node)})") from None
        finally:
            conn.close()

    def client(self, workload: str) -> RedisClient:
        self.offer.require_workload(self.name, workload)
        self._leader_key = LEADER_KEYS[workload]
        return RedisClient(workload, self._connect, settle=self.settle)

    def _connect(self, ctx: ClusterContext, node: str) -> tuple[Any, list[Any]]:
        from redis.cluster import ClusterNode, RedisCluster as RedisClusterClient

        # The worker's own node first; the client learns the slot map from it and routes itself.
        order = [node] + [n for n in ctx.nodes if n != node]
        startup = [ClusterNode(ctx.address(n), ctx.port(n, self.base_port)) for n in order]
        timeout = self.client_timeout
        conn = RedisClusterClient(startup_nodes=startup, retry=no_retry(), decode_responses=True,
                                  socket_timeout=timeout, socket_connect_timeout=timeout)
        return conn, []

    # ---- topology -------------------------------------------------------------------------------

    def _why_silent(self) -> str | None:
        assert self.ctx is not None
        for node in self.ctx.nodes:
            if not self.ask(node, lambda c: c.ping()):
                return f"{node} does not answer"
        return None

    def _views(self) -> dict[str, list[dict[str, Any]] | None]:
        assert self.ctx is not None
        return {n: (lambda t: parse_cluster_nodes(t) if t else None)(
                    self.ask(n, lambda c: c.execute_command("CLUSTER", "NODES")))
                for n in self.ctx.nodes}

    def _why_not_met(self) -> str | None:
        assert self.ctx is not None
        for node, view in self._views().items():
            if view is None:
                return f"{node} does not answer"
            known = [e for e in view if not e["flags"] & {"handshake", "noaddr"}]
            if len(known) != len(self.ctx.nodes):
                return f"{node} knows {len(known)} nodes, not {len(self.ctx.nodes)}"
        return None

    def slot_owners(self, view: list[dict[str, Any]]) -> dict[str, tuple[str, ...]]:
        """node -> slot ranges, for the primaries serving slots in one node's view."""
        owners = {}
        for e in view:
            if "master" in e["flags"] and e["slots"] and not e["flags"] & {"fail", "fail?"}:
                node = self.node_at(*e["addr"])
                owners[node or f"{e['addr'][0]}:{e['addr'][1]}"] = e["slots"]
        return owners

    def _why_unstable(self) -> str | None:
        assert self.ctx is not None
        maps = {}
        for node in self.ctx.nodes:
            info = self.ask(node, lambda c: c.execute_command("CLUSTER", "INFO"))
            if not info:
                return f"{node} does not answer"
            if isinstance(info, str):
                info = dict(line.split(":", 1) for line in info.split() if ":" in line)
            if info.get("cluster_state") != "ok":
                return f"{node} says cluster_state {info.get('cluster_state')}"
            if int(info.get("cluster_slots_ok", 0)) != SLOTS:
                return f"{node} has {info.get('cluster_slots_ok')} of {SLOTS} slots served"
            if int(info.get("cluster_known_nodes", 0)) != len(self.ctx.nodes):
                return f"{node} knows {info.get('cluster_known_nodes')} nodes"
        for node, view in self._views().items():
            if view is None:
                return f"{node} does not answer"
            maps[node] = self.slot_owners(view)
        distinct = {tuple(sorted(m.items())) for m in maps.values()}
        if len(distinct) != 1:
            return "nodes disagree on which primary serves which slots: " + \
                "; ".join(f"{n}: {sorted(m)}" for n, m in maps.items())
        for primary in next(iter(maps.values())):
            info = self.ask(primary, lambda c: c.info("replication"))
            if info is None:
                return f"{primary} does not answer"
            if not online_replicas(info):
                return f"{primary} has no online replica"
        return None

    # ---- HasLeader / HealthCheck ---------------------------------------------------------------

    def _owners(self) -> dict[str, tuple[str, ...]]:
        assert self.ctx is not None
        for node in self.ctx.nodes:
            text = self.ask(node, lambda c: c.execute_command("CLUSTER", "NODES"))
            if text:
                return self.slot_owners(parse_cluster_nodes(text))
        return {}

    def primaries(self) -> list[str]:
        """Every primary serving slots, as the first node that answers sees it."""
        return sorted(self._owners())

    def leader(self) -> str | None:
        """The primary serving the slot of the workload's key (k0, the set's key, lock-0)."""
        from redis.crc import key_slot

        slot = key_slot(self._leader_key.encode())
        for node, ranges in self._owners().items():
            for r in ranges:
                lo, _, hi = r.partition("-")
                if int(lo) <= slot <= int(hi or lo):
                    return node if node in (self.ctx.nodes if self.ctx else []) else None
        return None


__all__ = ["RedisCluster", "parse_cluster_nodes"]
