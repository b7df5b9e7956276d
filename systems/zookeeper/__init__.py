"""zookeeper: a real ZooKeeper ensemble (3 or 5 servers, the Debian `zookeeper` package).

Each node runs one server JVM, started as `java -cp <conf dir>:<jars> QuorumPeerMain zoo.cfg` with a
fresh data directory and myid per run; client, quorum and election ports come from ctx.port (three
distinct services). setup() returns when the ensemble is what it claims to be: every server answers
`srvr`, exactly one says `Mode: leader`, and the leader's `mntr` counts every other server as a
synced follower. Clients (systems/zookeeper/client.py) use kazoo with its command retries off.

What ZooKeeper promises is checked separately (docs/zookeeper.md): writes and CAS linearizable
(checker `linearizable-writes`), reads sequentially consistent per session (`session-order`); the
`checkers()` method hands those to the runner in place of the register workload's full
linearizability check, which plain ZooKeeper reads are not meant to pass.

Clock faults: not declared. ZooKeeper's timeouts run on the JVM's monotonic clock, and no server
reports its own wall clock, so a skew could neither matter much nor be verified.
"""

from __future__ import annotations

import socket
from typing import Any

from systems.base import ClusterContext, Offer, Option, SystemError_, whole_number
from systems.daemons import NotReady, OneDaemonPerNode

CLIENT_PORT, QUORUM_PORT, ELECTION_PORT = 2181, 2888, 3888
MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
# zookeeper.jar's manifest names its own dependencies; the log4j binding is added so that the
# server's log reaches its stdout (slf4j alone logs nothing).
JARS = ("/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-log4j12.jar",
        "/usr/share/java/log4j-1.2.jar")
FOUR_LETTER_WORDS = "srvr,mntr,ruok,stat,conf"
LOG4J = """\
log4j.rootLogger=INFO, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} [myid:%X{myid}] - %-5p [%t:%C{1}@%L] - %m%n
"""


# The one place saying which workloads ZooKeeper serves: workload -> (module, client class).
# Modules load when a client is made (kazoo is imported then, so `splitbrain list` works without it).
CLIENTS: dict[str, tuple[str, str]] = {
    "register": ("systems.zookeeper.client", "ZkRegisterClient"),
    "lock": ("systems.zookeeper.client", "ZkLockClient"),
    "set": ("systems.zookeeper.client", "ZkSetClient"),
    "wr": ("systems.zookeeper.transactions", "ZkTxnClient"),  # one multi per transaction
    "append": ("systems.zookeeper.transactions", "ZkTxnClient"),
}


class ZooKeeper(OneDaemonPerNode):
    """A ZooKeeper ensemble, one server per ctx.nodes entry."""

    name = "zookeeper"
    daemon_role = "server"
    daemon_log = "zookeeper.log"
    kept_files = (daemon_log, "conf/zoo.cfg")
    offer = Offer(workloads=tuple(CLIENTS), node_counts=(3, 5),
                  # ZooKeeper's own promises for `register`: linearizable writes, reads only
                  # sequentially consistent per session; the workloads' checkers otherwise.
                  checkers={"register": ({"name": "linearizable-writes", "model": "cas-register"},
                                         {"name": "session-order"}, {"name": "stats"},
                                         {"name": "progress"})},
                  options={
        "zookeeper.tick-ms": Option("500", "tickTime in ms: the unit of every ZooKeeper timeout"),
        "zookeeper.sync-limit": Option("4", "ticks a follower may fall behind before the leader "
                                            "drops it (and a leader without a quorum steps down)"),
        "zookeeper.session-timeout-ms": Option("4000", "the session timeout clients ask for (the "
                                                       "server clamps it to 2..20 ticks)"),
        "zookeeper.lock-wait-ms": Option("2000", "how long a lock acquire waits before it fails"),
        "zookeeper.heap-mb": Option("256", "-Xmx of each server JVM"),
    })

    def __init__(self, ready_timeout: float = 60.0) -> None:
        super().__init__()
        self.ready_timeout = ready_timeout
        self.settings: dict[str, int] = {}

    # ---- options --------------------------------------------------------------------------------

    def check_options(self, options: dict[str, str]) -> None:
        s = _settings(options)
        if not 2 * s["tick_ms"] <= s["session_timeout_ms"] <= 20 * s["tick_ms"]:
            raise ValueError(f"zookeeper.session-timeout-ms={s['session_timeout_ms']} lies outside "
                             f"2..20 ticks ({2 * s['tick_ms']}..{20 * s['tick_ms']} ms), so the "
                             f"server would change it")

    # ---- System ---------------------------------------------------------------------------------

    def setup(self, ctx: ClusterContext) -> None:
        if len(ctx.nodes) not in self.offer.node_counts:
            raise SystemError_(f"zookeeper runs on 3 or 5 nodes, not {len(ctx.nodes)}")
        try:
            self.settings = _settings({k: o.default for k, o in self.offer.options.items()}
                                      | dict(ctx.options))
        except ValueError as e:
            raise SystemError_(str(e)) from None
        self.ctx = ctx
        self._start_all(self._write_config)

    def client(self, workload: str) -> Any:
        import importlib

        self.offer.require_workload(self.name, workload)
        module, cls = CLIENTS[workload]
        client_class = getattr(importlib.import_module(module), cls)
        s = self.settings or _settings({k: o.default for k, o in self.offer.options.items()})
        session_s = s["session_timeout_ms"] / 1000.0
        if workload == "lock":  # the lock client also waits for the lock, at most lock_wait_ms
            return client_class(self.connect_string, session_s, s["lock_wait_ms"] / 1000.0)
        return client_class(self.connect_string, session_s)

    def connect_string(self, node: str) -> str:
        """The node's own server first, then the others: a client starts at its node and, like a
        real application given the whole ensemble, moves on when that server drops it."""
        ctx = self.ctx
        assert ctx is not None, "setup() first"
        order = [node] + [n for n in ctx.nodes if n != node]
        return ",".join(f"{ctx.address(n)}:{ctx.port(n, CLIENT_PORT)}" for n in order)

    # ---- capabilities ---------------------------------------------------------------------------

    def leader(self) -> str | None:
        """The server whose `srvr` says Mode: leader; of several (a deposed leader that has not
        noticed yet), the one with the newest epoch."""
        assert self.ctx is not None, "setup() first"
        leaders = [(s["epoch"], n) for n, s in self.statuses().items()
                   if s and s.get("mode") == "leader"]
        return max(leaders)[1] if leaders else None

    def healthy(self) -> bool:
        """Every server answers, one leads, and it counts all the others as synced followers."""
        return self._readiness()[0]

    # ---- four-letter words ----------------------------------------------------------------------

    def four_letter(self, node: str, word: str, timeout: float = 1.0) -> str | None:
        """The server's answer to a four-letter word, or None when it does not answer."""
        assert self.ctx is not None, "setup() first"
        address = (self.ctx.address(node), self.ctx.port(node, CLIENT_PORT))
        try:
            with socket.create_connection(address, timeout=timeout) as sock:
                sock.settimeout(timeout)
                sock.sendall(word.encode())
                chunks = []
                while True:
                    data = sock.recv(65536)
                    if not data:
                        break
                    chunks.append(data)
        except OSError:
            return None
        return b"".join(chunks).decode(errors="replace")

    def statuses(self, nodes: list[str] | None = None) -> dict[str, dict | None]:
        """Each server's `srvr` facts {mode, zxid, epoch}, None for one that does not answer."""
        assert self.ctx is not None, "setup() first"
        return {n: parse_srvr(self.four_letter(n, "srvr")) for n in nodes or self.ctx.nodes}

    def _readiness(self) -> tuple[bool, str, str]:
        """(ready, what is missing, the node to blame)."""
        assert self.ctx is not None
        statuses = self.statuses()
        quiet = [n for n, s in statuses.items() if s is None]
        if quiet:
            return False, f"{quiet[0]} does not answer srvr", quiet[0]
        leaders = [n for n, s in statuses.items() if s and s["mode"] == "leader"]
        others = [n for n, s in statuses.items() if s and s["mode"] not in ("leader", "follower")]
        if others:
            return False, f"{others[0]} is in mode {statuses[others[0]]['mode']}", others[0]
        if len(leaders) != 1:
            return False, f"{len(leaders)} servers say they lead", self.ctx.nodes[0]
        mntr = parse_mntr(self.four_letter(leaders[0], "mntr"))
        synced = int(mntr.get("zk_synced_followers", -1)) if mntr else -1
        if synced != len(self.ctx.nodes) - 1:
            return False, (f"leader {leaders[0]} has {max(synced, 0)} of "
                           f"{len(self.ctx.nodes) - 1} followers synced"), leaders[0]
        return True, "", leaders[0]

    # ---- processes ------------------------------------------------------------------------------

    def _conf_dir(self, node: str) -> str:
        assert self.ctx is not None
        return f"{self.ctx.remote_dir(node)}/conf"

    def _write_config(self, node: str) -> None:
        """zoo.cfg, log4j.properties and myid, written locally and uploaded to the node's host;
        the data directory starts empty (fresh per run)."""
        ctx = self.ctx
        assert ctx is not None
        s = self.settings
        remote = ctx.remote_dir(node)
        data = f"{remote}/data"
        host = self._host(node)
        host.run(["rm", "-rf", data])
        host.run(["mkdir", "-p", data, self._conf_dir(node)])
        servers = "\n".join(
            f"server.{i + 1}={ctx.address(n)}:{ctx.port(n, QUORUM_PORT)}:"
            f"{ctx.port(n, ELECTION_PORT)}" for i, n in enumerate(ctx.nodes))
        zoo_cfg = f"""\
# written by splitbrain for {node}
tickTime={s['tick_ms']}
initLimit=20
syncLimit={s['sync_limit']}
dataDir={data}
clientPort={ctx.port(node, CLIENT_PORT)}
clientPortAddress={ctx.address(node)}
maxClientCnxns=0
minSessionTimeout={2 * s['tick_ms']}
maxSessionTimeout={20 * s['tick_ms']}
4lw.commands.whitelist={FOUR_LETTER_WORDS}
admin.enableServer=false
standaloneEnabled=false
reconfigEnabled=false
{servers}
"""
        local = ctx.node_dir(node) / "conf"
        local.mkdir(parents=True, exist_ok=True)
        files = {"zoo.cfg": zoo_cfg, "log4j.properties": LOG4J}
        for name, text in files.items():
            (local / name).write_text(text)
            if str(local / name) != f"{self._conf_dir(node)}/{name}":
                host.upload(local / name, f"{self._conf_dir(node)}/{name}")
        myid = ctx.node_dir(node) / "myid"
        myid.write_text(f"{ctx.nodes.index(node) + 1}\n")
        host.upload(myid, f"{data}/myid")

    def _argv(self, node: str) -> list[str]:
        conf = self._conf_dir(node)
        return ["java", f"-Xmx{self.settings['heap_mb']}m", "-Xms32m", "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1", "-Djava.net.preferIPv4Stack=true",
                "-Dzookeeper.admin.enableServer=false", "-Dzookeeper.jmx.log4j.disable=true",
                "-cp", ":".join([conf, *JARS]), MAIN_CLASS, f"{conf}/zoo.cfg"]

    def _wait_ready(self, timeout: float) -> None:
        def why_not_ready() -> NotReady:
            ready, missing, blame = self._readiness()
            return None if ready else (missing, self._remote_log(blame))

        self._wait_until_ready(why_not_ready, timeout)


def _settings(options: dict[str, str]) -> dict[str, int]:
    def number(key: str, low: int) -> int:
        return whole_number(options, ZooKeeper.offer.options, key, low)

    return {"tick_ms": number("zookeeper.tick-ms", 50),
            "sync_limit": number("zookeeper.sync-limit", 1),
            "session_timeout_ms": number("zookeeper.session-timeout-ms", 100),
            "lock_wait_ms": number("zookeeper.lock-wait-ms", 0),
            "heap_mb": number("zookeeper.heap-mb", 32)}


def parse_srvr(text: str | None) -> dict[str, Any] | None:
    """{mode, zxid, epoch} from a `srvr` answer; None for no answer or a server not serving
    ("This ZooKeeper instance is not currently serving requests")."""
    if not text or "Mode:" not in text:
        return None
    facts: dict[str, Any] = {"mode": None, "zxid": 0, "epoch": 0}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "Mode":
            facts["mode"] = value.strip()
        elif name.strip() == "Zxid":
            facts["zxid"] = int(value.strip(), 16)
            facts["epoch"] = facts["zxid"] >> 32
    return facts


def parse_mntr(text: str | None) -> dict[str, str] | None:
    if not text:
        return None
    out = {}
    for line in text.splitlines():
        name, _, value = line.partition("\t")
        if value:
            out[name.strip()] = value.strip()
    return out or None


__all__ = ["ZooKeeper", "parse_srvr", "parse_mntr"]
