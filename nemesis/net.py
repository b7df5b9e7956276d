"""Network faults on a Lab: partitions, packet loss and latency, their heals, and probes.

Every fault acts inside the nodes' own network namespaces, on real packets:

- partition / cut: iptables DROP rules in the filter table's INPUT and OUTPUT chains, inserted at
  the top and matching on address only, so packets of connections that were established before
  the cut are dropped too (no conntrack "ESTABLISHED accept" rule runs before them).
- loss: an nftables table per fault that drops `numgen random` packets on the node's eth0.
- latency: an NFQUEUE rule in the mangle table's OUTPUT chain feeding a delayer process in the
  namespace (nemesis/latency_delayer.py). Packets keep their addresses, and the filter table
  (partitions) still sees them after the delay, so a partition cuts while latency is active.
  The rule uses --queue-bypass: if the delayer dies, traffic flows undelayed instead of being
  black-holed (a crashed delayer must not look like a partition; verify_latency catches it).

Each fault returns a handle; the matching heal takes it. Everything created is written to the
lab's state file first, so `systems.control.lab.clean_all()` can remove it after a crash.

`verify_*` probes check from outside that a fault really took effect. The TCP probe connects to
a closed port: "refused" proves packets went both ways, "timeout" proves they did not.

Grudges (Jepsen's word): a map from node to the nodes it must not exchange packets with.
`grudge(kind, nodes, rng, leader)` builds the usual shapes.
"""

from __future__ import annotations

import itertools
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from systems.control.hosts import Daemon, HostError
from systems.control.lab import Lab

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CLOSED_PORT = 9  # discard; nothing listens there in a lab node, so a reachable node answers RST

Grudge = dict[str, frozenset[str]]


class NetFaultError(RuntimeError):
    """A network fault could not be applied or healed."""


class GrudgeError(NetFaultError):
    """A grudge shape that makes no sense for these nodes (e.g. a ring on 3 nodes)."""


class FaultNotEffectiveError(NetFaultError):
    """A verify_* probe found that a fault did not take effect (or a heal did not)."""


_ids = itertools.count(1)


def _fault_id(kind: str) -> str:
    # Short, unique per process and per lab: used in rule comments and nft table names.
    return f"{kind}{next(_ids)}{random.randrange(16**4):04x}"


def _run_in(lab: Lab, node: str, argv: Sequence[str], input: str | None = None,
            timeout: float = 20.0) -> str:
    try:
        result = lab.host(node).run(argv, timeout=timeout, input=input)
    except HostError as e:
        raise NetFaultError(str(e)) from None
    if result.exit_code != 0:
        why = (result.stderr.strip() or result.stdout.strip() or f"exit {result.exit_code}").splitlines()[-1]
        raise NetFaultError(f"{node}: {argv[0]} failed: {why}")
    return result.stdout


# --- grudges -------------------------------------------------------------------------------------

def grudge_from_groups(groups: Sequence[Sequence[str]]) -> Grudge:
    """Every node drops every node outside its own group."""
    seen: set[str] = set()
    for group in groups:
        for node in group:
            if node in seen:
                raise GrudgeError(f"node {node} is in two partition groups")
            seen.add(node)
    return {node: frozenset(seen - set(group)) for group in groups for node in group}


def _halves(nodes: Sequence[str]) -> list[list[str]]:
    if len(nodes) < 2:
        raise GrudgeError("halves need at least 2 nodes")
    mid = len(nodes) // 2  # the smaller half first, as Jepsen's partition-halves
    return [list(nodes[:mid]), list(nodes[mid:])]


def grudge(kind: str, nodes: Sequence[str], rng: random.Random,
           leader: str | None = None) -> Grudge:
    """A grudge of a well-known shape.

    kinds:
      halves          first floor(n/2) nodes vs the rest (n >= 2)
      random-halves   the same after shuffling (n >= 2)
      one             one random node isolated from the rest (n >= 2)
      leader          `leader` isolated from the rest (n >= 2)
      majorities-ring nodes on a shuffled ring; each sees itself and its neighbours within
                      distance d = ceil(floor(n/2)/2), a majority, and no two see the same set
                      (n >= 4: on 3 nodes a majority is everyone, so no ring exists)
      bridge          two halves that cannot talk, plus one node that talks to both (n >= 3)
    The result is symmetric: a in grudge[b] exactly when b in grudge[a].
    """
    nodes = list(nodes)
    n = len(nodes)
    if len(set(nodes)) != n:
        raise GrudgeError("grudge nodes must be distinct")
    if kind == "halves":
        return grudge_from_groups(_halves(nodes))
    if kind == "random-halves":
        shuffled = nodes[:]
        rng.shuffle(shuffled)
        return grudge_from_groups(_halves(shuffled))
    if kind == "one":
        if n < 2:
            raise GrudgeError("isolating one node needs at least 2 nodes")
        victim = rng.choice(nodes)
        return grudge_from_groups([[victim], [x for x in nodes if x != victim]])
    if kind == "leader":
        if leader is None:
            raise GrudgeError("a leader partition needs the current leader (none known)")
        if leader not in nodes:
            raise GrudgeError(f"leader {leader!r} is not one of the nodes")
        if n < 2:
            raise GrudgeError("isolating the leader needs at least 2 nodes")
        return grudge_from_groups([[leader], [x for x in nodes if x != leader]])
    if kind == "majorities-ring":
        if n < 4:
            raise GrudgeError(f"a majorities ring needs at least 4 nodes, got {n}")
        ring = nodes[:]
        rng.shuffle(ring)
        reach = -(-(n // 2) // 2)  # ceil(floor(n/2) / 2): 2*reach+1 >= majority, < n
        out: Grudge = {}
        for i, node in enumerate(ring):
            sees = {ring[(i + k) % n] for k in range(-reach, reach + 1)}
            out[node] = frozenset(set(nodes) - sees)
        return out
    if kind == "bridge":
        if n < 3:
            raise GrudgeError(f"a bridge partition needs at least 3 nodes, got {n}")
        shuffled = nodes[:]
        rng.shuffle(shuffled)
        middle = shuffled[n // 2]
        left, right = shuffled[: n // 2], shuffled[n // 2 + 1:]
        out = {node: frozenset(right) for node in left}
        out.update({node: frozenset(left) for node in right})
        out[middle] = frozenset()
        return out
    raise GrudgeError(f"unknown grudge kind {kind!r} (halves, random-halves, one, leader, "
                      "majorities-ring, bridge)")


# --- partitions ---------------------------------------------------------------------------------

@dataclass
class PartitionHandle:
    """What `partition`/`cut` created; pass it to `heal_partition`."""

    id: str
    grudge: Grudge
    rules: dict[str, list[str]]  # node -> iptables-restore lines (without the -I/-D verb)
    records: list[dict[str, Any]] = field(default_factory=list)
    healed: bool = False

    def cut_pairs(self) -> list[tuple[str, str]]:
        return sorted((a, b) for a, others in self.grudge.items() for b in others)


def _iptables_restore(lab: Lab, node: str, table: str, lines: list[str]) -> None:
    script = f"*{table}\n" + "\n".join(lines) + "\nCOMMIT\n"
    _run_in(lab, node, ["iptables-restore", "--noflush", "-w"], input=script)


def cut(lab: Lab, grudge_map: Mapping[str, Iterable[str]]) -> PartitionHandle:
    """Drop every packet between each node and the nodes its grudge names, both directions."""
    fid = _fault_id("cut")
    grudge_fz: Grudge = {}
    for node, others in grudge_map.items():
        lab.address(node)
        grudge_fz[node] = frozenset(others)
        for other in grudge_fz[node]:
            lab.address(other)
    rules: dict[str, list[str]] = {}
    for node, others in grudge_fz.items():
        lines = []
        for other in sorted(others):
            peer = lab.address(other)
            comment = f"-m comment --comment splitbrain-{fid}"
            lines.append(f"INPUT 1 -s {peer}/32 {comment} -j DROP")
            lines.append(f"OUTPUT 1 -d {peer}/32 {comment} -j DROP")
        if lines:
            rules[node] = lines
    handle = PartitionHandle(fid, grudge_fz, rules)
    try:
        for node, lines in rules.items():
            handle.records.append(lab.record("rule", netns=lab.netns(node), fault=fid,
                                             describe=f"partition {fid}: drop {len(lines)} rules"))
            _iptables_restore(lab, node, "filter", [f"-I {line}" for line in lines])
    except BaseException:
        heal_partition(lab, handle)
        raise
    return handle


def partition(lab: Lab, groups: Sequence[Sequence[str]]) -> PartitionHandle:
    """Cut the lab into `groups`: no packet crosses between groups, in either direction.

    Nodes not named in any group keep talking to everyone."""
    return cut(lab, grudge_from_groups(groups))


def heal_partition(lab: Lab, handle: PartitionHandle) -> None:
    """Remove the rules of `handle` (a no-op when already healed)."""
    errors = []
    for node, lines in handle.rules.items():
        # Only nodes whose rules are present: a heal after a partial failure must work too
        # (iptables-restore applies one node's rules all or nothing).
        if f"splitbrain-{handle.id}" not in _run_in(lab, node, ["iptables", "-w", "-S"]):
            continue
        try:
            _iptables_restore(lab, node, "filter", [f"-D {line.replace(' 1 ', ' ', 1)}" for line in lines])
        except NetFaultError as e:
            errors.append(str(e))
    for record in handle.records:
        lab.forget(record)
    handle.healed = True
    if errors:
        raise NetFaultError("; ".join(errors))


# --- loss ---------------------------------------------------------------------------------------

@dataclass
class LossHandle:
    id: str
    nodes: list[str]
    percent: float
    records: list[dict[str, Any]] = field(default_factory=list)


def loss(lab: Lab, nodes: Sequence[str], p: float) -> LossHandle:
    """Drop a random `p` percent (0..100) of the packets entering and leaving each node's eth0."""
    if not 0 <= p <= 100:
        raise NetFaultError(f"loss must be a percentage between 0 and 100, got {p}")
    fid = _fault_id("loss")
    threshold = round(p * 100)  # numgen over 0..9999 gives 0.01 % resolution
    table = f"splitbrain_{fid}"
    ruleset = (
        f"table inet {table} {{\n"
        f"  chain in {{ type filter hook input priority -10; policy accept;\n"
        f"    iifname \"eth0\" numgen random mod 10000 < {threshold} drop\n  }}\n"
        f"  chain out {{ type filter hook output priority -10; policy accept;\n"
        f"    oifname \"eth0\" numgen random mod 10000 < {threshold} drop\n  }}\n"
        f"}}\n")
    handle = LossHandle(fid, list(nodes), p)
    try:
        for node in nodes:
            handle.records.append(lab.record("rule", netns=lab.netns(node), fault=fid,
                                             describe=f"nft table inet {table}"))
            _run_in(lab, node, ["nft", "-f", "-"], input=ruleset)
    except BaseException:
        heal_loss(lab, handle)
        raise
    return handle


def heal_loss(lab: Lab, handle: LossHandle) -> None:
    table = f"splitbrain_{handle.id}"
    for node in handle.nodes:
        tables = _run_in(lab, node, ["nft", "list", "tables"])
        if table in tables.split():
            _run_in(lab, node, ["nft", "delete", "table", "inet", table])
    for record in handle.records:
        lab.forget(record)


# --- latency ------------------------------------------------------------------------------------

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


_queue_numbers = itertools.count(7700)


def latency(lab: Lab, nodes: Sequence[str], ms: float, jitter: float = 0.0,
            seed: int | None = None, method: str = "auto",
            ready_timeout: float = 10.0) -> LatencyHandle:
    """Delay every packet leaving each of `nodes` by `ms` +/- `jitter` milliseconds.

    A packet between two delayed nodes is delayed once (on the way out), as with netem on each
    node's interface; so the round trip between two delayed nodes grows by 2*ms.
    method: "netem" (tc qdisc; fails where the kernel lacks it), "nfqueue" (the delayer
    process), or "auto": netem when the kernel has it, else nfqueue.
    """
    if ms < 0 or jitter < 0:
        raise NetFaultError("latency and jitter must not be negative")
    if method not in ("auto", "netem", "nfqueue"):
        raise NetFaultError(f"unknown latency method {method!r} (auto, netem, nfqueue)")
    fid = _fault_id("lat")
    handle = LatencyHandle(fid, ms, jitter, "netem" if method == "auto" else method,
                           next(_queue_numbers))
    try:
        for node in nodes:
            if handle.method == "netem":
                if _add_netem(lab, node, handle, fallback=(method == "auto" and not handle.nodes)):
                    handle.nodes.append(node)
                    continue
                handle.method = "nfqueue"  # no netem in this kernel: the first node found out
            _add_nfqueue_delay(lab, node, handle, seed, ready_timeout)
            handle.nodes.append(node)
    except BaseException:
        heal_latency(lab, handle)
        raise
    return handle


def _add_netem(lab: Lab, node: str, handle: LatencyHandle, fallback: bool) -> bool:
    """Add a netem delay on node's eth0; False when the kernel has no netem and `fallback`."""
    argv = ["tc", "qdisc", "add", "dev", "eth0", "root", "netem", "delay", f"{handle.ms:g}ms"]
    if handle.jitter:
        argv.append(f"{handle.jitter:g}ms")
    handle.records.append(lab.record("rule", netns=lab.netns(node), fault=handle.id,
                                     describe="tc qdisc netem on eth0"))
    result = lab.host(node).run(argv)
    if result.exit_code == 0:
        return True
    lab.forget(handle.records.pop())
    if "unknown" in result.stderr.lower() or "no such file" in result.stderr.lower():
        if fallback:
            return False
        raise NetFaultError(f"{node}: this kernel has no netem (CONFIG_NET_SCH_NETEM); "
                            "use method='nfqueue'")
    raise NetFaultError(f"{node}: tc netem failed: {result.stderr.strip() or result.exit_code}")


def _add_nfqueue_delay(lab: Lab, node: str, handle: LatencyHandle, seed: int | None,
                       ready_timeout: float) -> None:
    host = lab.host(node)
    argv = [sys.executable, "-m", "nemesis.latency_delayer", "--queue", str(handle.queue),
            "--delay-ms", str(handle.ms), "--jitter-ms", str(handle.jitter)]
    if seed is not None:
        argv += ["--seed", str(seed)]
    log = str(lab.workdir / f"delayer-{handle.id}-{node}.log")
    daemon = host.start_daemon(f"delayer-{handle.id}", argv, log,
                               env={"PYTHONPATH": str(PROJECT_ROOT)}, cwd=str(PROJECT_ROOT))
    handle.delayers[node] = daemon
    _wait_for_line(host, daemon, "ready", ready_timeout)
    # The handler is listening; only now may packets be queued to it.
    spec = (f"OUTPUT -o eth0 -m comment --comment splitbrain-{handle.id} "
            f"-j NFQUEUE --queue-num {handle.queue} --queue-bypass")
    handle.records.append(lab.record("rule", netns=lab.netns(node), fault=handle.id,
                                     describe=f"mangle {spec}"))
    _iptables_restore(lab, node, "mangle", [f"-A {spec}"])
    handle.rules[node] = spec


def _wait_for_line(host: Any, daemon: Daemon, line: str, timeout: float) -> None:
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


def heal_latency(lab: Lab, handle: LatencyHandle, stop_timeout: float = 5.0) -> None:
    """Remove the delay: queue rules first, then the delayers (which release what they hold)."""
    if handle.method == "netem":
        for node in list(handle.nodes):
            qdiscs = _run_in(lab, node, ["tc", "qdisc", "show", "dev", "eth0"])
            if "netem" in qdiscs:
                _run_in(lab, node, ["tc", "qdisc", "del", "dev", "eth0", "root"])
    for node, spec in list(handle.rules.items()):
        _iptables_restore(lab, node, "mangle", [f"-D {spec}"])
        del handle.rules[node]
    for node, daemon in list(handle.delayers.items()):
        host = lab.host(node)
        host.signal(daemon, 15)
        deadline = time.monotonic() + stop_timeout
        while host.alive(daemon) and time.monotonic() < deadline:
            time.sleep(0.02)
        host.signal(daemon, 9)  # kills it if SIGTERM did not, and reaps it either way
        lab.forget_process(daemon.pid)
        del handle.delayers[node]
    handle.nodes.clear()
    for record in handle.records:
        lab.forget(record)
    handle.records.clear()


# --- probes -------------------------------------------------------------------------------------

_TCP_PROBE = r"""
import json, socket, sys, threading, time
port, timeout = int(sys.argv[1]), float(sys.argv[2])
out = {}
def probe(addr):
    s = socket.socket()
    s.settimeout(timeout)
    t0 = time.monotonic()
    try:
        s.connect((addr, port))
        out[addr] = ("connected", time.monotonic() - t0)
    except ConnectionRefusedError:
        out[addr] = ("refused", time.monotonic() - t0)
    except (socket.timeout, TimeoutError):
        out[addr] = ("timeout", time.monotonic() - t0)
    except OSError as e:
        out[addr] = ("unreachable" if e.errno in (101, 113) else "error:" + e.strerror, time.monotonic() - t0)
    finally:
        s.close()
threads = [threading.Thread(target=probe, args=(a,)) for a in sys.argv[3:]]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(out))
"""


def probe_tcp(lab: Lab, src: str, dsts: Sequence[str], port: int = CLOSED_PORT,
              timeout: float = 1.0) -> dict[str, str]:
    """TCP connect from `src` to each of `dsts` at once; node -> connected/refused/timeout/...

    To a closed port, "refused" means packets got through both ways, "timeout" that they did not.
    """
    addrs = {lab.address(d): d for d in dsts}
    out = _run_in(lab, src, [sys.executable, "-c", _TCP_PROBE, str(port), str(timeout), *addrs],
                  timeout=timeout + 20)
    return {addrs[a]: outcome for a, (outcome, _) in json.loads(out).items()}


def tcp_rtt_ms(lab: Lab, src: str, dst: str, samples: int = 5, port: int = CLOSED_PORT) -> float:
    """Median time of a TCP connect to a closed port (SYN out, RST back): one round trip."""
    script = (r"import socket,sys,time,statistics" "\n"
              r"a,p,n=sys.argv[1],int(sys.argv[2]),int(sys.argv[3]); r=[]" "\n"
              r"for _ in range(n):" "\n"
              r"  s=socket.socket(); s.settimeout(5); t=time.monotonic()" "\n"
              r"  try: s.connect((a,p))" "\n"
              r"  except ConnectionRefusedError: pass" "\n"
              r"  r.append((time.monotonic()-t)*1000); s.close()" "\n"
              r"print(statistics.median(r))")
    out = _run_in(lab, src, [sys.executable, "-c", script, lab.address(dst), str(port), str(samples)],
                  timeout=samples * 6 + 20)
    return float(out)


_UDP_RECEIVER = r"""
import signal, socket, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", port))
got = set()
def report(signum, frame):
    print("received", len(got), flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, report)
print("ready", flush=True)
while True:
    got.add(s.recvfrom(2048)[0])
"""

_UDP_SENDER = r"""
import socket, sys, time
addr, port, count, gap = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(count):
    try:
        s.sendto(b"probe-%d" % i, (addr, port))
    except OSError:
        pass  # a DROP on this node's own output surfaces as EPERM: that packet is lost
    time.sleep(gap)
print("sent", count)
"""


def udp_delivered(lab: Lab, src: str, dst: str, count: int = 200, port: int = 40999,
                  gap: float = 0.002, settle: float = 0.5) -> int:
    """Send `count` numbered UDP datagrams from `src` to `dst`; how many distinct ones arrived.

    The receiver counts until `settle` seconds after the last send (raise it above any latency
    fault in force, so delayed datagrams still count).
    """
    host = lab.host(dst)
    log = str(lab.workdir / f"udp-recv-{_fault_id('u')}.log")
    receiver = host.start_daemon("udp-receiver", [sys.executable, "-c", _UDP_RECEIVER, str(port)], log)
    try:
        _wait_for_line(host, receiver, "ready", 10)
        _run_in(lab, src, [sys.executable, "-c", _UDP_SENDER, lab.address(dst), str(port),
                           str(count), str(gap)], timeout=count * gap + 20)
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
        lab.forget_process(receiver.pid)


def verify_partition(lab: Lab, handle: PartitionHandle, timeout: float = 1.0) -> dict[tuple[str, str], str]:
    """Every cut pair times out and every other pair of grudge nodes answers; else raise."""
    nodes = sorted(handle.grudge)
    results: dict[tuple[str, str], str] = {}
    for src in nodes:
        others = [n for n in nodes if n != src]
        for dst, outcome in probe_tcp(lab, src, others, timeout=timeout).items():
            results[(src, dst)] = outcome
    wrong = [f"{a}->{b} {o}" for (a, b), o in results.items()
             if (b in handle.grudge[a]) != (o == "timeout")]
    if wrong:
        raise FaultNotEffectiveError("partition not as intended: " + ", ".join(sorted(wrong)))
    return results


def verify_connected(lab: Lab, nodes: Sequence[str] | None = None, timeout: float = 1.0) -> None:
    """Every pair of `nodes` (default: all) reaches each other; else raise."""
    nodes = list(nodes or lab.nodes)
    bad = []
    for src in nodes:
        for dst, outcome in probe_tcp(lab, src, [n for n in nodes if n != src], timeout=timeout).items():
            if outcome not in ("refused", "connected"):
                bad.append(f"{src}->{dst} {outcome}")
    if bad:
        raise FaultNotEffectiveError("nodes cannot reach each other: " + ", ".join(bad))


def verify_loss(lab: Lab, handle: LossHandle, peer: str, count: int = 200,
                tolerance: float = 12.5) -> float:
    """UDP from the first lossy node to `peer`: the lost percentage must be p +/- tolerance."""
    delivered = udp_delivered(lab, handle.nodes[0], peer, count=count)
    lost = 100.0 * (count - delivered) / count
    expected = handle.percent if peer not in handle.nodes else 100 - (1 - handle.percent / 100) ** 2 * 100
    if abs(lost - expected) > tolerance:
        raise FaultNotEffectiveError(f"lost {lost:.1f} % of UDP probes, expected {expected:.1f} % "
                                     f"+/- {tolerance:g}")
    return lost


def verify_latency(lab: Lab, handle: LatencyHandle, peer: str, baseline_ms: float = 0.0,
                   samples: int = 5) -> float:
    """TCP round trip from a delayed node to `peer` must have grown by about the delay."""
    if not handle.nodes:
        raise FaultNotEffectiveError("the latency fault has no active node")
    src = handle.nodes[0]
    rtt = tcp_rtt_ms(lab, src, peer, samples=samples)
    times = 2 if peer in handle.nodes else 1
    expected = baseline_ms + times * handle.ms
    if rtt < expected - times * handle.jitter - 0.2 * handle.ms:
        raise FaultNotEffectiveError(f"round trip {src}->{peer} is {rtt:.1f} ms, expected about "
                                     f"{expected:.1f} ms")
    return rtt
