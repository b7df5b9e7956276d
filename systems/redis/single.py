"""`redis`: one redis-server, the baseline every Redis deployment starts from.

One node (node_counts (1,)); every worker talks to it directly. What it promises: a single
server executes commands one at a time, so GET/SET/Lua-cas are linearizable while it stays up,
and a lock taken with SET NX PX lasts PX milliseconds by the server's wall clock. What it does
not: a restart after SIGKILL keeps only what reached the disk (appendonly/appendfsync), and a
wall clock that jumps expires leases early (the `clock` nemesis shows the overlapping holds).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from systems.base import ClusterContext, SystemError_
from systems.redis.clients import RedisClient
from systems.redis.server import COMMON_OPTIONS, SERVER_BINARY, RedisNodes, no_retry


class Redis(RedisNodes):
    """A single redis-server on n1."""

    name = "redis"
    offer = replace(RedisNodes.offer, options=dict(COMMON_OPTIONS), node_counts=(1,))

    def setup(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
        self._resolve_options(ctx)
        if len(ctx.nodes) != 1:
            raise SystemError_(f"redis runs on exactly 1 node, not {len(ctx.nodes)}")
        node = ctx.nodes[0]
        try:
            self.prepare_node(node)
            conf = self.write_file(node, "redis.conf", self.server_config(node))
            self.add_daemon(node, "redis-server", [SERVER_BINARY, conf], "redis.log")
            self.launch(node)
            self.wait_until("the server answers", self._why_unstable,
                            float(self.opts["ready-timeout"]), lambda why: node)
        except BaseException:
            self.teardown()
            raise

    def _why_unstable(self) -> str | None:
        assert self.ctx is not None
        node = self.ctx.nodes[0]
        info = self.ask(node, lambda c: c.info("persistence"))
        if info and not int(info.get("loading", 0)):
            return None
        return f"{node} does not answer PING"

    def client(self, workload: str) -> RedisClient:
        self.offer.require_workload(self.name, workload)
        return RedisClient(workload, self._connect)

    def _connect(self, ctx: ClusterContext, node: str) -> tuple[Any, list[Any]]:
        import redis

        host, port = ctx.address(ctx.nodes[0]), ctx.port(ctx.nodes[0], self.base_port)
        conn = redis.Redis(host=host, port=port, socket_timeout=self.client_timeout,
                           socket_connect_timeout=self.client_timeout, retry=no_retry(),
                           retry_on_timeout=False, decode_responses=True)
        return conn, []

    # ---- HasLeader / HealthCheck ---------------------------------------------------------------

    def leader(self) -> str | None:
        return self.ctx.nodes[0] if self.ctx is not None else None

    def primaries(self) -> list[str]:
        return [self.ctx.nodes[0]] if self.ctx is not None else []


__all__ = ["Redis"]
