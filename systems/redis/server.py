"""Redis server processes: config files, daemons under the clock shim, and the node-level hooks.

RedisNodes is what the three Redis systems share: it writes a redis.conf per node, starts
redis-server (and, for Sentinel, redis-sentinel) through each node's Host with the node's data and
logs under ctx.remote_dir(node), and implements the capabilities every Redis system has: kill and
restart, pause and resume, processes(), log_files(), and clock skew through the LD_PRELOAD shim
(nemesis/clockshim; Redis expires keys by its wall clock, so a skewed node really expires leases
early). The systems (single.py, sentinel.py, cluster.py) add topology and readiness on top.

`set-proc-title no` keeps each server's command line as started (it names its config file, which
lies in the run directory), so a leftover process is recognisable as this run's.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from nemesis.clockshim import ClockShimError, build_shim, env_for, set_offset
from systems.base import ClusterContext, Offer, Option, SystemError_, parse_options
from systems.redis.clients import WORKLOADS
from systems.daemons import last_line

if TYPE_CHECKING:  # redis-py is imported when a system is used, so `list` works without it
    import redis

SHIM_CACHE = Path(os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))) / "splitbrain"
SERVER_BINARY = "redis-server"


@cache
def no_retry() -> Any:
    """redis-py's policy of no retries: every retry is the harness's decision, never the library's."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return Retry(NoBackoff(), 0)


COMMON_OPTIONS = {
    "appendonly": Option("no", "write every change to the append-only file (Redis default: no, "
                               "so a killed node restarts from its last RDB snapshot, or empty)",
                         ("yes", "no")),
    "appendfsync": Option("everysec", "with appendonly=yes: fsync the AOF on every write "
                                      "(always), once a second, or never", ("always", "everysec", "no")),
    "base-port": Option("6379", "Redis port on hosts of their own (env local picks free ports)",
                        kind=int, low=1, high=65535),
    "client-timeout-ms": Option("3000", "clients' socket timeout; a reply later than this is "
                                        "recorded as info", kind=int, low=1),
    "ready-timeout": Option("30", "seconds setup waits for the cluster to be what it claims",
                            kind=int, low=1),
}


@dataclass
class _Proc:
    """One daemon kind on a node (redis-server or sentinel): how to start it again."""

    name: str
    argv: list[str]
    log: str  # on the node's host
    daemon: Any = None  # the harness.hosts.Daemon started last (kept after a kill)
    running: bool = False


class RedisNodes:
    """Shared machinery of the Redis systems: one or more daemons per node.

    A system says what its topology must look like in `_why_unstable()` (None when it is as it
    should be, otherwise why not, naming a node); healthy() and settle() follow from that.
    """

    name = "redis"
    offer = Offer(workloads=WORKLOADS, options=COMMON_OPTIONS)

    def __init__(self) -> None:
        self.ctx: ClusterContext | None = None
        self.opts: dict[str, str] = {}
        self._procs: dict[str, list[_Proc]] = {}
        self._shim: dict[str, str] = {}  # node -> shim path on its host ("" if unavailable)
        self._shim_error: str | None = None

    # ---- options ------------------------------------------------------------------------------

    def check_options(self, options: dict[str, str]) -> None:
        """Each option is checked by its declaration (kind and bounds); none depends on another."""
        parse_options(self.offer.options, options)

    def _resolve_options(self, ctx: ClusterContext) -> None:
        opts = {k: o.default for k, o in self.offer.options.items()}
        opts.update({k: v for k, v in ctx.options.items() if k in opts})
        try:
            self.check_options(opts)
        except ValueError as e:
            raise SystemError_(f"{self.name}: {e}") from None
        self.opts = opts

    @property
    def base_port(self) -> int:
        return int(self.opts.get("base-port", "6379"))

    @property
    def client_timeout(self) -> float:
        return int(self.opts.get("client-timeout-ms", "3000")) / 1000

    def redis_port(self, node: str) -> int:
        assert self.ctx is not None, "setup() first"
        return self.ctx.port(node, self.base_port)

    def addr(self, node: str) -> tuple[str, int]:
        assert self.ctx is not None, "setup() first"
        return self.ctx.address(node), self.redis_port(node)

    def node_at(self, host: str, port: int) -> str | None:
        """The node serving Redis at host:port (as Sentinel or the cluster reports it)."""
        assert self.ctx is not None
        for node in self.ctx.nodes:
            if self.addr(node) == (host, int(port)):
                return node
        return None

    # ---- config and daemons -------------------------------------------------------------------

    def server_config(self, node: str) -> list[str]:
        """redis.conf lines every Redis node gets; systems append their own."""
        assert self.ctx is not None
        remote = self.ctx.remote_dir(node)
        lines = [
            f"bind {self.ctx.address(node)}",
            f"port {self.redis_port(node)}",
            "protected-mode no",
            "daemonize no",
            "set-proc-title no",
            'logfile ""',  # stdout, which the Host appends to the node's log file
            f"dir {remote}/data",
            f"appendonly {self.opts['appendonly']}",
            f"appendfsync {self.opts['appendfsync']}",
        ]
        return lines

    def write_file(self, node: str, name: str, lines: list[str]) -> str:
        """Write a file into the node's directory (as its host sees it); return its path there."""
        assert self.ctx is not None
        local = self.ctx.node_dir(node) / name
        local.write_text("\n".join(lines) + "\n")
        remote = f"{self.ctx.remote_dir(node)}/{name}"
        if self.ctx.remote_root is not None:
            self.ctx.hosts[node].upload(local, remote)
        return remote

    def prepare_node(self, node: str) -> None:
        """A fresh data directory and the clock shim on the node's host."""
        assert self.ctx is not None
        host = self.ctx.hosts[node]
        remote = self.ctx.remote_dir(node)
        result = host.run(["mkdir", "-p", f"{remote}/data"], timeout=15)
        if result.exit_code != 0:
            raise SystemError_(f"{self.name} {node}: cannot create {remote}/data: "
                               f"{result.stderr.strip() or result.exit_code}")
        self._shim[node] = ""
        if self._shim_error is not None:
            return
        try:
            shim = build_shim(SHIM_CACHE)
        except ClockShimError as e:
            self._shim_error = str(e)  # the system still runs; clock faults will be refused
            return
        if self.ctx.remote_root is not None:
            target = f"{remote}/{shim.name}"
            host.upload(shim, target)
            self._shim[node] = target
        else:
            self._shim[node] = str(shim)

    def add_daemon(self, node: str, name: str, argv: list[str], log_name: str) -> None:
        assert self.ctx is not None
        log = f"{self.ctx.remote_dir(node)}/{log_name}"
        self._procs.setdefault(node, []).append(_Proc(name, argv, log))

    def launch(self, node: str, only: str | None = None) -> None:
        """Start the node's daemons that are not running (or just the one named `only`)."""
        assert self.ctx is not None
        host = self.ctx.hosts[node]
        env = env_for(self.ctx.clock_file(node), self._shim[node]) if self._shim.get(node) else {}
        for proc in self._procs.get(node, []):
            if (only is not None and proc.name != only) or proc.running:
                continue
            try:
                proc.daemon = host.start_daemon(f"{proc.name}-{node}", proc.argv, proc.log,
                                                env=env, cwd=self.ctx.remote_dir(node))
            except Exception as e:  # HostError and kin: one line naming the node
                raise SystemError_(f"{self.name} {node}: cannot start {proc.name}: {e} "
                                   f"(log: {self._local_log(node, proc)})") from None
            proc.running = True

    def _local_log(self, node: str, proc: _Proc) -> Path:
        assert self.ctx is not None
        return self.ctx.node_dir(node) / Path(proc.log).name

    def stop_node(self, node: str) -> None:
        assert self.ctx is not None
        host = self.ctx.hosts[node]
        for proc in self._procs.get(node, []):
            if proc.running and proc.daemon is not None:
                host.signal(proc.daemon, signal.SIGCONT)  # a paused process must die too
                host.signal(proc.daemon, signal.SIGKILL)
            proc.running = False

    def check_alive(self) -> None:
        """SystemError_ naming the node and its log if a daemon died (e.g. its port was taken)."""
        assert self.ctx is not None
        for node, procs in self._procs.items():
            host = self.ctx.hosts[node]
            for proc in procs:
                if proc.running and not host.alive(proc.daemon):
                    proc.running = False
                    why = last_line(host.read_log(proc.daemon))
                    raise SystemError_(f"{self.name} {node}: {proc.name} exited: {why} "
                                       f"(log: {self._local_log(node, proc)})")

    def wait_until(self, what: str, condition: Callable[[], str | None], timeout: float,
                   node_of_failure: Callable[[str], str]) -> None:
        """Poll `condition` (None when satisfied, otherwise why not) until it holds; otherwise a
        SystemError_ naming the node the last reason points at and its log."""
        deadline = time.monotonic() + timeout
        why = "not checked"
        while True:
            self.check_alive()
            why = condition() or ""
            if not why:
                return
            if time.monotonic() >= deadline:
                node = node_of_failure(why)
                raise SystemError_(f"{self.name} not ready after {timeout:g} s ({what}): {why} "
                                   f"(log: {self.server_log(node)})")
            time.sleep(0.2)

    def _node_named(self, why: str) -> str:
        """The node a readiness complaint is about (its first mention), for the log to read."""
        assert self.ctx is not None
        mentioned = [(why.find(n), n) for n in self.ctx.nodes if n in why]
        return min(mentioned)[1] if mentioned else self.ctx.nodes[0]

    def server_log(self, node: str) -> Path:
        assert self.ctx is not None
        return self.ctx.node_dir(node) / "redis.log"

    def teardown(self) -> None:
        if self.ctx is None:
            return
        for node in list(self._procs):
            try:
                self.stop_node(node)
            except Exception:
                pass  # the environment's close kills whatever a host still runs

    # ---- admin connections ----------------------------------------------------------------------

    def admin(self, node: str, timeout: float = 1.0, port: int | None = None) -> redis.Redis:
        """A short-lived connection to a node's redis-server (or, with `port`, another service)."""
        import redis

        assert self.ctx is not None
        host, default_port = self.addr(node)
        return redis.Redis(host=host, port=port or default_port, socket_timeout=timeout,
                           socket_connect_timeout=timeout, retry=no_retry(), decode_responses=True)

    def ask(self, node: str, fn: Callable[[redis.Redis], Any], timeout: float = 1.0,
            port: int | None = None) -> Any:
        """fn(connection) for a node, or None when the node does not answer properly."""
        import redis

        conn = self.admin(node, timeout, port)
        try:
            return fn(conn)
        except (redis.RedisError, OSError):
            return None
        finally:
            conn.close()

    # ---- topology -----------------------------------------------------------------------------

    def _why_unstable(self) -> str | None:
        raise NotImplementedError(f"{type(self).__name__} must say what a stable topology is")

    def healthy(self) -> bool:
        return self.ctx is not None and self._why_unstable() is None

    def settle(self, timeout: float) -> None:
        """Wait (at most `timeout` s) until the topology is stable; used before final reads."""
        deadline = time.monotonic() + timeout
        while self._why_unstable() is not None and time.monotonic() < deadline:
            time.sleep(0.1)

    # ---- capabilities -------------------------------------------------------------------------

    def kill(self, node: str) -> None:
        self.stop_node(node)

    def start(self, node: str) -> None:
        self.launch(node)

    def pause(self, node: str) -> None:
        self._signal_all(node, signal.SIGSTOP)

    def resume(self, node: str) -> None:
        self._signal_all(node, signal.SIGCONT)

    def _signal_all(self, node: str, sig: int) -> None:
        assert self.ctx is not None
        for proc in self._procs.get(node, []):
            if proc.running and proc.daemon is not None:
                self.ctx.hosts[node].signal(proc.daemon, sig)

    def processes(self, node: str) -> list[tuple[Any, Any]]:
        """Every daemon of the node as last started (kept after a kill, so a kill can be seen)."""
        if self.ctx is None:
            return []
        return [(self.ctx.hosts[node], p.daemon) for p in self._procs.get(node, [])
                if p.daemon is not None]

    def log_files(self, node: str) -> list[Path]:
        if self.ctx is None:
            return []
        return [p for p in (self._local_log(node, proc) for proc in self._procs.get(node, []))
                if p.exists()]

    def set_clock_offset(self, node: str, ms: int) -> None:
        """ClockSkewable: every process of the node runs under the shim reading this file."""
        assert self.ctx is not None, "setup() first"
        if not self._shim.get(node):
            raise SystemError_(f"{self.name} {node}: not running under the clock shim: "
                               f"{self._shim_error or 'unknown reason'}")
        set_offset(self.ctx.hosts[node], self.ctx.clock_file(node), ms)

    def wall_clock(self, node: str) -> float | None:
        """The node's wall clock by its own TIME command."""
        answer = self.ask(node, lambda c: c.time())
        if not answer:
            return None
        seconds, micros = answer
        return int(seconds) + int(micros) / 1e6


def online_replicas(info: dict[str, Any]) -> list[tuple[str, int]]:
    """(ip, port) of the replicas a primary lists as online."""
    out = []
    for k, v in info.items():
        if k.startswith("slave") and k[5:].isdigit() and isinstance(v, dict) \
                and v.get("state") == "online":
            out.append((str(v.get("ip")), int(v.get("port", 0))))
    return out


__all__ = ["RedisNodes", "COMMON_OPTIONS", "no_retry", "online_replicas"]
