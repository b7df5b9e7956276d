"""The Network protocol and its mechanics: partitions, packet loss, latency, their heals, probes.

A Network is what a nemesis may do to the links between nodes (`Network` below): cut a grudge,
add loss or latency, heal any of them, and probe what gets through. Two implement it: the lab of
env netns (systems/control/lab.py) and the SSH hosts of env ssh (systems/control/ssh.py). Both
share the mechanics of FirewallNetwork, which act on real packets on each node:

- cut: iptables DROP rules in the filter table's INPUT and OUTPUT chains, inserted at the top and
  matching on address only, so packets of connections that were established before the cut are
  dropped too (no conntrack "ESTABLISHED accept" rule runs before them).
- loss: an nftables table per fault that drops `numgen random` packets on the node's eth0.
- latency: netem where the kernel has it; else an NFQUEUE rule in the mangle table's OUTPUT chain
  feeding a delayer process on the node (systems/control/latency_delayer.py). Packets keep their
  addresses, and the filter table (partitions) still sees them after the delay, so a partition
  cuts while latency is active. The rule uses --queue-bypass: if the delayer dies, traffic flows
  undelayed instead of being black-holed (a crashed delayer must not look like a partition).

Each fault returns a handle; `heal(handle)` undoes it. Everything created is first written to
the network's ledger, so `splitbrain clean` can remove it after a crash.

Probes are real modules (probe_tcp, probe_rtt, probe_udp) run on the nodes. What a probe result
means for a fault (did it take effect?) is the nemesis's policy (nemesis/verify.py).
"""

from __future__ import annotations

import itertools
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Protocol, Sequence, Union, runtime_checkable

from systems.control.hosts import CommandError, Daemon, Host, run_checked

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CLOSED_PORT = 9  # discard; nothing listens there on a node, so a reachable node answers RST

Grudge = dict[str, frozenset[str]]  # node -> the nodes it must not exchange packets with


class NetFaultError(RuntimeError):
    """A network fault could not be applied or healed."""


_ids = itertools.count(1)


def fault_id(kind: str) -> str:
    # Short, unique per process and per network: used in rule comments and nft table names.
    return f"{kind}{next(_ids)}{random.randrange(16**4):04x}"


@dataclass
class PartitionHandle:
    """What `cut` created; pass it to `heal`."""

    id: str
    grudge: Grudge
    rules: dict[str, list[str]]  # node -> iptables-restore lines (without the -I/-D verb)
    records: list[dict[str, Any]] = field(default_factory=list)
    healed: bool = False
    port: int | None = None  # only TCP to or from this port is cut (None: every packet)

    def cut_pairs(self) -> list[tuple[str, str]]:
        return sorted((a, b) for a, others in self.grudge.items() for b in others)


@dataclass
class LossHandle:
    id: str
    nodes: list[str]
    percent: float
    records: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class LatencyHandle:
    id: str
    ms: float
    jitter: float
    method: str  # "netem" or "nfqueue"
    queue: int
    nodes: list[str] = field(default_factory=list)  # nodes where the delay is in force
    delayers: dict[str, Daemon] = field(default_factory=dict)
    rules: dict[str, str] = field(default_factory=dict)  # node -> mangle OUTPUT rule spec
    records: list[dict[str, Any]] = field(default_factory=list)


FaultHandle = Union[PartitionHandle, LossHandle, LatencyHandle]


@runtime_checkable
class Network(Protocol):
    """What nemeses may do to the links between a cluster's nodes (never the harness's own)."""

    nodes: list[str]

    def address(self, node: str) -> str:
        """The node's address as its peers see it."""

    def cut(self, grudge: Mapping[str, Iterable[str]], port: int | None = None) -> PartitionHandle:
        """Drop every packet between each node and the nodes its grudge names, both ways; with
        `port`, only TCP packets to or from that port (one service's links, the rest intact)."""

    def loss(self, nodes: Sequence[str], percent: float) -> LossHandle:
        """Drop a random `percent` (0..100) of the packets entering and leaving each node."""

    def latency(self, nodes: Sequence[str], ms: float, jitter: float = 0.0,
                seed: int | None = None, method: str = "auto") -> LatencyHandle:
        """Delay every packet leaving each node by `ms` +/- `jitter` milliseconds."""

    def heal(self, handle: FaultHandle) -> None:
        """Undo the fault of `handle` wherever it is still in place (a no-op when healed)."""

    def installed(self, handle: FaultHandle) -> list[str]:
        """The nodes on which the fault's mechanism (rules, qdisc, live delayer) is in place."""

    def probe_tcp(self, src: str, dsts: Sequence[str], port: int = CLOSED_PORT,
                  timeout: float = 1.0) -> dict[str, str]:
        """TCP connect from `src` to each of `dsts` at once; dst -> connected/refused/timeout/..."""

    def rtt_ms(self, src: str, dst: str, samples: int = 5, port: int = CLOSED_PORT) -> float:
        """Median TCP connect time from `src` to a closed port on `dst`: one round trip."""

    def udp_delivered(self, src: str, dst: str, count: int = 200, port: int = 40999,
                      gap: float = 0.002, settle: float = 0.5) -> int:
        """How many of `count` numbered UDP datagrams from `src` reached `dst`."""


_queue_numbers = itertools.count(7700)


class FirewallNetwork:
    """The Network protocol over hosts with iptables, nft, tc and Python: the mechanics the lab
    and SSH networks share. A subclass provides `nodes`, `address(node)`, `host(node)`,
    `workdir`, `program(module)` (the argv that runs one of this package's programs on a node),
    and the bookkeeping: `note(kind, node, **fields)` writes a record to its ledger before the
    thing exists, `forget(record)` drops it, `forget_process(pid)` drops a stopped process."""

    nodes: list[str]
    workdir: Any

    def address(self, node: str) -> str:
        raise NotImplementedError

    def host(self, node: str) -> Host:
        raise NotImplementedError

    def program(self, module: str) -> list[str]:
        raise NotImplementedError

    def note(self, kind: str, node: str, **fields: Any) -> dict[str, Any]:
        raise NotImplementedError

    def forget(self, item: dict[str, Any]) -> None:
        raise NotImplementedError

    def forget_process(self, pid: int) -> None:
        raise NotImplementedError

    # --- commands ----------------------------------------------------------------------------

    def _run(self, node: str, argv: Sequence[str], input: str | None = None,
             timeout: float = 20.0) -> str:
        """Run on `node`; its stdout, or CommandError when it cannot run or exits non-zero."""
        return run_checked(self.host(node), argv, timeout=timeout, input=input).stdout

    def _iptables_restore(self, node: str, table: str, lines: list[str]) -> None:
        script = f"*{table}\n" + "\n".join(lines) + "\nCOMMIT\n"
        self._run(node, ["iptables-restore", "--noflush", "-w"], input=script)

    # --- partitions --------------------------------------------------------------------------

    def cut(self, grudge: Mapping[str, Iterable[str]], port: int | None = None) -> PartitionHandle:
        fid = fault_id("cut")
        grudge_fz: Grudge = {}
        for node, others in grudge.items():
            self.address(node)
            grudge_fz[node] = frozenset(others)
            for other in grudge_fz[node]:
                self.address(other)
        rules: dict[str, list[str]] = {}
        for node, others in grudge_fz.items():
            lines = []
            for other in sorted(others):
                peer = self.address(other)
                comment = f"-m comment --comment splitbrain-{fid}"
                # with a port: connections to it either way, requests and replies alike
                matches = [""] if port is None else \
                    [f" -p tcp --dport {port}", f" -p tcp --sport {port}"]
                for m in matches:
                    lines.append(f"INPUT 1 -s {peer}/32{m} {comment} -j DROP")
                    lines.append(f"OUTPUT 1 -d {peer}/32{m} {comment} -j DROP")
            if lines:
                rules[node] = lines
        handle = PartitionHandle(fid, grudge_fz, rules, port=port)
        try:
            for node, lines in rules.items():
                handle.records.append(self.note("rule", node, fault=fid,
                                                describe=f"partition {fid}: drop {len(lines)} rules"))
                self._iptables_restore(node, "filter", [f"-I {line}" for line in lines])
        except BaseException:
            self._heal_partition(handle)
            raise
        return handle

    def _partition_rules_on(self, handle: PartitionHandle) -> list[str]:
        """Nodes whose rules of `handle` are (or, when iptables cannot say, may be) present."""
        tag = f"splitbrain-{handle.id}"
        present = []
        for node in handle.rules:
            r = self.host(node).run(["iptables", "-w", "-S"], timeout=20)
            if r.exit_code != 0 or tag in r.stdout:
                present.append(node)
        return present

    def _heal_partition(self, handle: PartitionHandle) -> None:
        errors = []
        for node, lines in handle.rules.items():
            # Only nodes whose rules are present: a heal after a partial failure must work too
            # (iptables-restore applies one node's rules all or nothing).
            if f"splitbrain-{handle.id}" not in self._run(node, ["iptables", "-w", "-S"]):
                continue
            try:
                self._iptables_restore(node, "filter",
                                       [f"-D {line.replace(' 1 ', ' ', 1)}" for line in lines])
            except CommandError as e:
                errors.append(str(e))
        for record in handle.records:
            self.forget(record)
        handle.healed = True
        if errors:
            raise NetFaultError("; ".join(errors))

    # --- loss --------------------------------------------------------------------------------

    def loss(self, nodes: Sequence[str], percent: float) -> LossHandle:
        if not 0 <= percent <= 100:
            raise NetFaultError(f"loss must be a percentage between 0 and 100, got {percent}")
        fid = fault_id("loss")
        threshold = round(percent * 100)  # numgen over 0..9999 gives 0.01 % resolution
        table = f"splitbrain_{fid}"
        ruleset = (
            f"table inet {table} {{\n"
            f"  chain in {{ type filter hook input priority -10; policy accept;\n"
            f"    iifname \"eth0\" numgen random mod 10000 < {threshold} drop\n  }}\n"
            f"  chain out {{ type filter hook output priority -10; policy accept;\n"
            f"    oifname \"eth0\" numgen random mod 10000 < {threshold} drop\n  }}\n"
            f"}}\n")
        handle = LossHandle(fid, list(nodes), percent)
        try:
            for node in nodes:
                handle.records.append(self.note("rule", node, fault=fid,
                                                describe=f"nft table inet {table}"))
                self._run(node, ["nft", "-f", "-"], input=ruleset)
        except BaseException:
            self._heal_loss(handle)
            raise
        return handle

    def _loss_tables_on(self, handle: LossHandle) -> list[str]:
        table = f"splitbrain_{handle.id}"
        return [node for node in handle.nodes
                if table in self._run(node, ["nft", "list", "tables"]).split()]

    def _heal_loss(self, handle: LossHandle) -> None:
        for node in self._loss_tables_on(handle):
            self._run(node, ["nft", "delete", "table", "inet", f"splitbrain_{handle.id}"])
        for record in handle.records:
            self.forget(record)

    # --- latency -----------------------------------------------------------------------------

    def latency(self, nodes: Sequence[str], ms: float, jitter: float = 0.0,
                seed: int | None = None, method: str = "auto",
                ready_timeout: float = 10.0) -> LatencyHandle:
        """A packet between two delayed nodes is delayed once (on the way out), as with netem on
        each node's interface; so the round trip between two delayed nodes grows by 2*ms.
        method: "netem" (tc qdisc; fails where the kernel lacks it), "nfqueue" (the delayer
        process), or "auto": netem when the kernel has it, else nfqueue."""
        if ms < 0 or jitter < 0:
            raise NetFaultError("latency and jitter must not be negative")
        if method not in ("auto", "netem", "nfqueue"):
            raise NetFaultError(f"unknown latency method {method!r} (auto, netem, nfqueue)")
        handle = LatencyHandle(fault_id("lat"), ms, jitter, "netem" if method == "auto" else method,
                               next(_queue_numbers))
        try:
            for node in nodes:
                if handle.method == "netem":
                    if self._add_netem(node, handle, fallback=(method == "auto" and not handle.nodes)):
                        handle.nodes.append(node)
                        continue
                    handle.method = "nfqueue"  # no netem in this kernel: the first node found out
                self._add_nfqueue_delay(node, handle, seed, ready_timeout)
                handle.nodes.append(node)
        except BaseException:
            self._heal_latency(handle)
            raise
        return handle

    def _add_netem(self, node: str, handle: LatencyHandle, fallback: bool) -> bool:
        """Add a netem delay on node's eth0; False when the kernel has no netem and `fallback`."""
        argv = ["tc", "qdisc", "add", "dev", "eth0", "root", "netem", "delay", f"{handle.ms:g}ms"]
        if handle.jitter:
            argv.append(f"{handle.jitter:g}ms")
        handle.records.append(self.note("rule", node, fault=handle.id,
                                        describe="tc qdisc netem on eth0"))
        result = self.host(node).run(argv)
        if result.exit_code == 0:
            return True
        self.forget(handle.records.pop())
        if "unknown" in result.stderr.lower() or "no such file" in result.stderr.lower():
            if fallback:
                return False
            raise NetFaultError(f"{node}: this kernel has no netem (CONFIG_NET_SCH_NETEM); "
                                "use method='nfqueue'")
        raise CommandError(node, argv, result.exit_code, result.stdout, result.stderr)

    def _add_nfqueue_delay(self, node: str, handle: LatencyHandle, seed: int | None,
                           ready_timeout: float) -> None:
        host = self.host(node)
        argv = self.program("latency_delayer") + [
            "--queue", str(handle.queue), "--delay-ms", str(handle.ms),
            "--jitter-ms", str(handle.jitter)]
        if seed is not None:
            argv += ["--seed", str(seed)]
        log = str(self.workdir / f"delayer-{handle.id}-{node}.log")
        daemon = host.start_daemon(f"delayer-{handle.id}", argv, log)
        handle.delayers[node] = daemon
        _wait_for_line(host, daemon, "ready", ready_timeout)
        # The handler is listening; only now may packets be queued to it.
        spec = (f"OUTPUT -o eth0 -m comment --comment splitbrain-{handle.id} "
                f"-j NFQUEUE --queue-num {handle.queue} --queue-bypass")
        handle.records.append(self.note("rule", node, fault=handle.id, describe=f"mangle {spec}"))
        self._iptables_restore(node, "mangle", [f"-A {spec}"])
        handle.rules[node] = spec

    def _delay_on(self, handle: LatencyHandle) -> list[str]:
        """Nodes with the delay in place: a netem qdisc on eth0, or the NFQUEUE rule plus a live
        delayer process behind it."""
        found = []
        for node in handle.nodes:
            host = self.host(node)
            if handle.method == "netem":
                ok = "netem" in host.run(["tc", "qdisc", "show", "dev", "eth0"], timeout=20).stdout
            else:
                rules = host.run(["iptables", "-w", "-t", "mangle", "-S", "OUTPUT"], timeout=20).stdout
                daemon = handle.delayers.get(node)
                ok = f"splitbrain-{handle.id}" in rules and daemon is not None and host.alive(daemon)
            if ok:
                found.append(node)
        return found

    def _heal_latency(self, handle: LatencyHandle, stop_timeout: float = 5.0) -> None:
        """Queue rules first, then the delayers (which release what they hold)."""
        if handle.method == "netem":
            for node in list(handle.nodes):
                if "netem" in self._run(node, ["tc", "qdisc", "show", "dev", "eth0"]):
                    self._run(node, ["tc", "qdisc", "del", "dev", "eth0", "root"])
        for node, spec in list(handle.rules.items()):
            self._iptables_restore(node, "mangle", [f"-D {spec}"])
            del handle.rules[node]
        for node, daemon in list(handle.delayers.items()):
            _stop(self.host(node), daemon, stop_timeout)
            self.forget_process(daemon.pid)
            del handle.delayers[node]
        handle.nodes.clear()
        for record in handle.records:
            self.forget(record)
        handle.records.clear()

    # --- any fault ---------------------------------------------------------------------------

    def heal(self, handle: FaultHandle) -> None:
        if isinstance(handle, PartitionHandle):
            self._heal_partition(handle)
        elif isinstance(handle, LossHandle):
            self._heal_loss(handle)
        else:
            self._heal_latency(handle)

    def installed(self, handle: FaultHandle) -> list[str]:
        if isinstance(handle, PartitionHandle):
            return self._partition_rules_on(handle)
        if isinstance(handle, LossHandle):
            return self._loss_tables_on(handle)
        return self._delay_on(handle)

    # --- probes ------------------------------------------------------------------------------

    def probe_tcp(self, src: str, dsts: Sequence[str], port: int = CLOSED_PORT,
                  timeout: float = 1.0) -> dict[str, str]:
        addrs = {self.address(d): d for d in dsts}
        out = self._run(src, self.program("probe_tcp") + [str(port), str(timeout), *addrs],
                        timeout=timeout + 20)
        return {addrs[a]: outcome for a, (outcome, _) in json.loads(out).items()}

    def rtt_ms(self, src: str, dst: str, samples: int = 5, port: int = CLOSED_PORT) -> float:
        out = self._run(src, self.program("probe_rtt") + [self.address(dst), str(port), str(samples)],
                        timeout=samples * 6 + 20)
        return float(out)

    def udp_delivered(self, src: str, dst: str, count: int = 200, port: int = 40999,
                      gap: float = 0.002, settle: float = 0.5) -> int:
        """The receiver counts until `settle` seconds after the last send (raise it above any
        latency in force, so delayed datagrams still count)."""
        host = self.host(dst)
        log = str(self.workdir / f"udp-recv-{fault_id('u')}.log")
        receiver = host.start_daemon("udp-receiver", self.program("probe_udp") + ["receive", str(port)], log)
        try:
            _wait_for_line(host, receiver, "ready", 10)
            self._run(src, self.program("probe_udp") + ["send", self.address(dst), str(port),
                                                        str(count), str(gap)],
                      timeout=count * gap + 20)
            time.sleep(settle)
            host.signal(receiver, 15)
            deadline = time.monotonic() + 5
            while host.alive(receiver) and time.monotonic() < deadline:
                time.sleep(0.02)
            for line in host.read_log(receiver).splitlines():
                if line.startswith("received "):
                    return int(line.split()[1])
            raise NetFaultError(f"{dst}: the UDP receiver gave no count")
        finally:
            host.signal(receiver, 9)
            self.forget_process(receiver.pid)


def local_program(module: str) -> list[str]:
    """argv running systems.control.<module> with this interpreter, found from any directory."""
    return ["env", f"PYTHONPATH={PROJECT_ROOT}", sys.executable, "-m", f"systems.control.{module}"]


def program_source(module: str) -> str:
    """The source of systems/control/<module>.py, for hosts that do not have splitbrain."""
    return (Path(__file__).with_name(f"{module}.py")).read_text()


def _wait_for_line(host: Host, daemon: Daemon, line: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = host.read_log(daemon)
        if line in log.splitlines():
            return
        if not host.alive(daemon):
            last = (log.strip().splitlines() or ["no output"])[-1]
            raise NetFaultError(f"{daemon.host}: {daemon.name} exited: {last}")
        time.sleep(0.02)
    raise NetFaultError(f"{daemon.host}: {daemon.name} not ready after {timeout:g} s")


def _stop(host: Host, daemon: Daemon, timeout: float) -> None:
    host.signal(daemon, 15)
    deadline = time.monotonic() + timeout
    while host.alive(daemon) and time.monotonic() < deadline:
        time.sleep(0.02)
    host.signal(daemon, 9)  # kills it if SIGTERM did not, and reaps it either way
