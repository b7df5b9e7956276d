"""Network faults for the nemesis: `partition`, `loss` and `latency` on the lab of env netns.

Each one asks the cluster's Network (systems/control/net.py: the lab of env netns, or the SSH
hosts' firewalls) to apply it, verifies it with the Network's probes before reporting it applied, and records the probe in the nemesis event. A probe that finds the fault
did not take effect undoes it and raises FaultError, which stops the run with exit 255: a run
that claims a partition it never had is worse than no run.

`partition` targets are grudge shapes (nemesis/grudge.py), resolved when the fault starts (`leader` asks
the system who leads at that moment); the nemesis event records the groups cut and the grudge.
All three need links the harness can cut (`needs_network`), which only env netns has: asking for
them elsewhere is refused before the run (exit 254) with a hint to use --env netns.
"""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from nemesis.base import NODE_TARGETS, FaultError
from nemesis.grudge import GrudgeError, grudge
from nemesis.verify import FaultNotEffectiveError, verify_latency
from systems.base import ClusterContext, HasLeader, Option
from systems.control.hosts import HostError
from systems.control.net import LatencyHandle, LossHandle, NetFaultError, Network, PartitionHandle

# What a Network raises when a fault cannot be applied, healed or probed: a fault-level error or
# a command (iptables, nft, a probe) that could not run or failed.
NETWORK_ERRORS = (NetFaultError, HostError)

GRUDGES = ("random-halves", "halves", "one", "leader", "majorities-ring", "bridge")
_GRUDGE_MIN_NODES = {"halves": 2, "random-halves": 2, "one": 2, "leader": 2, "majorities-ring": 4,
                     "bridge": 3}
_PROBE_TIMEOUT_S = 0.5  # a lab answers a connect in well under a millisecond
_LOSS_TOLERANCE = 12.5  # percentage points; 200 datagrams at p=50 have a sd of 3.5


def _network(ctx: ClusterContext) -> Network:
    if ctx.network is None:
        raise FaultError("network faults need --env netns (this environment has no lab)")
    return ctx.network


def groups_of(grudge: dict[str, frozenset[str]]) -> list[list[str]]:
    """What each node can still reach, as groups: the sides of a clean cut, or (for overlapping
    shapes such as a ring or a bridge) each node's own view, without repeats."""
    nodes = sorted(grudge)
    groups: list[list[str]] = []
    for node in nodes:
        sees = sorted(n for n in nodes if n not in grudge[node])
        if sees not in groups:
            groups.append(sees)
    return sorted(groups, key=lambda g: (len(g), g))


def _probe_all(lab: Network, nodes: list[str],
               port: int | None = None) -> dict[tuple[str, str], str]:
    """TCP probes from every node to every other, all sources at once (one probe process each),
    so verifying a 5-node partition takes about one probe timeout, not five; to a closed port
    unless a port is given (a cut of one service's port is verified at that port)."""
    # A delay in force (both ways, worst case) must not pass for a cut.
    delays = [h.ms + h.jitter for h in IN_FORCE.others(lab, None, LatencyHandle)]
    timeout = _PROBE_TIMEOUT_S + 2 * max(delays, default=0) / 1000
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        extra = {} if port is None else {"port": port}
        futures = {src: pool.submit(lab.probe_tcp, src, [n for n in nodes if n != src],
                                    timeout=timeout, **extra) for src in nodes}
        return {(src, dst): outcome for src, f in futures.items()
                for dst, outcome in f.result().items()}


class _InForce:
    """Every network fault currently applied, per lab, whichever fault instance applied it.

    With --nemesis-overlap two partitions, or a partition and packet loss, may be in force at
    once; a probe must then expect what all of them do together, not only the fault it checks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_lab: dict[int, dict[str, Any]] = {}
        self._changing: dict[int, threading.Lock] = {}

    def changing(self, lab: Any) -> threading.Lock:
        """Held while a fault is applied or healed and verified on the lab, so that one probe
        never measures while another fault comes or goes under it."""
        with self._lock:
            return self._changing.setdefault(id(lab), threading.Lock())

    def add(self, lab: Any, handle: Any) -> None:
        with self._lock:
            self._by_lab.setdefault(id(lab), {})[handle.id] = handle

    def remove(self, lab: Any, handle: Any) -> None:
        with self._lock:
            self._by_lab.get(id(lab), {}).pop(handle.id, None)

    def others(self, lab: Any, handle: Any, kind: type) -> list[Any]:
        with self._lock:
            return [h for h in self._by_lab.get(id(lab), {}).values()
                    if isinstance(h, kind) and h is not handle]

    def cut_pairs(self, lab: Any, besides: Any, port: int | None = None) -> set[tuple[str, str]]:
        """Pairs (a, b) that partitions other than `besides` keep apart (on every port, or on
        `port` alone)."""
        return {(a, b) for h in self.others(lab, besides, PartitionHandle)
                if h.port is None or h.port == port
                for a, cut in h.grudge.items() for b in cut}

    def lossy(self, lab: Any, besides: Any = None) -> dict[str, list[float]]:
        """Node -> loss percentages in force on it (from loss faults other than `besides`)."""
        out: dict[str, list[float]] = {}
        for h in self.others(lab, besides, LossHandle):
            for node in h.nodes:
                out.setdefault(node, []).append(h.percent)
        return out


IN_FORCE = _InForce()


def _check_reachability(lab: Network, nodes: list[str], must_cut: set[tuple[str, str]],
                        must_answer: set[tuple[str, str]], what: str,
                        port: int | None = None) -> dict[tuple[str, str], str]:
    """Probe every pair; `must_cut` pairs must time out, `must_answer` pairs must answer."""
    results = _probe_all(lab, nodes, port)
    wrong = [f"{a}->{b} {o}" for (a, b), o in results.items()
             if ((a, b) in must_cut and o != "timeout")
             or ((a, b) in must_answer and o not in ("refused", "connected"))]
    if wrong:
        raise FaultNotEffectiveError(f"{what}: " + ", ".join(sorted(wrong)))
    return results


class _NetworkFault:
    """Shared plumbing: handles kept per fault instance, keyed by the id put into the event."""

    needs_network = True

    def __init__(self) -> None:
        self._handles: dict[str, Any] = {}
        self._lock = threading.Lock()

    def refusal(self, system: Any, nodes: int) -> str | None:
        if nodes < 2:
            return f"{self.name} needs at least 2 nodes"
        return None

    def _keep(self, lab: Any, handle: Any) -> str:
        with self._lock:
            self._handles[handle.id] = handle
        IN_FORCE.add(lab, handle)
        return handle.id

    def _take(self, started: dict[str, Any]) -> Any:
        with self._lock:
            return self._handles.pop(started.get("handle", ""), None)

    def start(self, system: Any, ctx: ClusterContext, targets: list[str],
              params: dict[str, Any]) -> dict[str, Any]:
        with IN_FORCE.changing(_network(ctx)):
            return self._apply(ctx, targets, params)

    def stop(self, system: Any, ctx: ClusterContext, targets: list[str],
             params: dict[str, Any], started: dict[str, Any]) -> dict[str, Any]:
        handle = self._take(started)
        if handle is None:
            return {}  # never applied (its start failed and undid itself), or healed already
        lab = _network(ctx)
        with IN_FORCE.changing(lab):
            try:
                return self._heal(ctx, targets, params, handle)
            finally:
                IN_FORCE.remove(lab, handle)

    def _apply(self, ctx: ClusterContext, targets: list[str],
               params: dict[str, Any]) -> dict[str, Any]:
        """Apply and verify; undo and raise FaultError when the probe disagrees."""
        raise NotImplementedError

    def _heal(self, ctx: ClusterContext, targets: list[str], params: dict[str, Any],
              handle: Any) -> dict[str, Any]:
        """Undo and verify (the handle is already out of IN_FORCE's view of others)."""
        raise NotImplementedError


class PartitionFault(_NetworkFault):
    name = "partition"
    doc = ("drop every packet between the groups of a grudge (iptables in each node's namespace; "
           "the harness still reaches every node)")
    targets = GRUDGES
    default_target = "random-halves"
    params = {"duration": Option(15.0, "seconds the partition lasts (longer than elections and "
                                       "leader step-down)", kind=float),
              "port": Option(0, "cut only TCP to or from this port, e.g. one service's links "
                                "(0: every packet)", kind=int, low=0, high=65535)}

    def target_refusal(self, target: str, nodes: int) -> str | None:
        need = _GRUDGE_MIN_NODES.get(target, 2)
        if nodes < need:
            return f"a {target} partition needs at least {need} nodes, the run has {nodes}"
        return None

    def resolve_target(self, target: str, nodes: list[str], rng: random.Random,
                       system: Any) -> tuple[list[str], dict[str, Any]]:
        """The grudge for this start: (nodes it isolates, details recorded and passed to start)."""
        leader = None
        if target == "leader":
            leader = system.leader() if isinstance(system, HasLeader) else None
            if leader is None:
                raise FaultError("no leader to partition: the system reports none")
        try:
            g = grudge(target, nodes, rng, leader=leader)
        except GrudgeError as e:
            raise FaultError(str(e)) from None
        groups = groups_of(g)
        # The targets are the nodes on the smaller side(s): who is cut off from the majority view.
        isolated = sorted(n for n, cut in g.items() if cut and len(cut) >= len(nodes) / 2)
        return isolated or sorted(n for n, cut in g.items() if cut), {
            "groups": groups, "grudge": {n: sorted(c) for n, c in sorted(g.items()) if c}}

    def _apply(self, ctx: ClusterContext, targets: list[str],
               params: dict[str, Any]) -> dict[str, Any]:
        lab = _network(ctx)
        grudge_map = params.get("grudge")
        if not grudge_map:
            raise FaultError("partition started without a grudge")
        port = int(params.get("port") or 0) or None
        try:
            handle = lab.cut({n: list(grudge_map.get(n, [])) for n in ctx.nodes}, port=port)
        except NETWORK_ERRORS as e:
            raise FaultError(f"cannot cut the network: {e}") from None
        mine = set(handle.cut_pairs())
        others = IN_FORCE.cut_pairs(lab, handle, port)
        lossy = IN_FORCE.lossy(lab)
        # Pairs nothing else cuts and no loss touches must still answer.
        free = {(a, b) for a in ctx.nodes for b in ctx.nodes if a != b} - mine - others
        free = {(a, b) for a, b in free if a not in lossy and b not in lossy}
        try:
            outcomes = _check_reachability(lab, ctx.nodes, mine, free, "partition not as intended",
                                           port)
        except NETWORK_ERRORS as e:
            lab.heal(handle)
            raise FaultError(str(e)) from None
        return {"handle": self._keep(lab, handle),
                "probe": {"verified": True, "kind": "tcp-connect",
                          **({"port": port} if port else {}),
                          "cut": sorted(f"{a}->{b}" for (a, b), o in outcomes.items()
                                        if o == "timeout" and (a, b) in mine),
                          "answered": len([o for o in outcomes.values() if o != "timeout"])}}

    def _heal(self, ctx: ClusterContext, targets: list[str], params: dict[str, Any],
              handle: Any) -> dict[str, Any]:
        lab = _network(ctx)
        try:
            lab.heal(handle)
        except NETWORK_ERRORS as e:
            raise FaultError(f"partition not healed: {e}") from None
        left = lab.installed(handle)
        if left:
            raise FaultError(f"partition not healed: its rules are still on {', '.join(left)}")
        lossy = IN_FORCE.lossy(lab)
        restored = {(a, b) for a, b in handle.cut_pairs()
                    if a not in lossy and b not in lossy} - IN_FORCE.cut_pairs(lab, handle,
                                                                                handle.port)
        try:
            _check_reachability(lab, ctx.nodes, set(), restored, "partition not healed",
                                handle.port)
        except NETWORK_ERRORS as e:
            raise FaultError(str(e)) from None
        return {"groups": params.get("groups"),
                "probe": {"verified": True, "kind": "tcp-connect",
                          "rules_removed": sorted(handle.rules),
                          "restored": sorted(f"{a}->{b}" for a, b in restored)}}


def _latency_in_place(lab: Network, handle: LatencyHandle) -> dict[str, str]:
    """Check on every delayed node that the delay is installed: a netem qdisc on eth0, or the
    NFQUEUE rule plus a live delayer process behind it."""
    installed = set(lab.installed(handle))
    for node in handle.nodes:
        if node not in installed:
            raise FaultNotEffectiveError(f"{node}: the {handle.method} delay is not in place")
    return {node: handle.method for node in handle.nodes}


def _probe_pair(lab: Network, nodes: list[str], src: str, targets: list[str],
                besides: Any) -> str | None:
    """A node for `src` to measure against: not cut from it by a partition in force, outside the
    targets when possible; None when every other node is cut off from it."""
    cut = IN_FORCE.cut_pairs(lab, besides)
    usable = [n for n in nodes if n != src and (src, n) not in cut and (n, src) not in cut]
    outside = [n for n in usable if n not in targets]
    return (outside or usable or [None])[0]


class LossFault(_NetworkFault):
    name = "loss"
    doc = "drop a random share of the packets entering and leaving the target nodes (nftables)"
    targets = NODE_TARGETS
    default_target = "all"
    params = {"p": Option(30.0, "percent of packets dropped, each way", kind=float),
              "duration": Option(15.0, "seconds the loss lasts", kind=float)}

    def param_refusal(self, params: dict[str, Any]) -> str | None:
        if not 0 < params["p"] <= 100:
            return f"p={params['p']:g}: loss is a percentage in (0, 100]"
        return None

    def _apply(self, ctx: ClusterContext, targets: list[str],
               params: dict[str, Any]) -> dict[str, Any]:
        lab = _network(ctx)
        try:
            handle = lab.loss(targets, float(params["p"]))
        except NETWORK_ERRORS as e:
            raise FaultError(f"cannot add packet loss: {e}") from None
        src = targets[0]
        peer = _probe_pair(lab, ctx.nodes, src, targets, None)
        if peer is None:
            return {"handle": self._keep(lab, handle),
                    "probe": {"verified": False, "why": f"{src} is partitioned from every node"}}
        # One-way UDP src -> peer passes src's output and peer's input of every loss in force.
        others = IN_FORCE.lossy(lab, handle)
        delivered = 1 - handle.percent / 100
        if peer in targets:
            delivered *= 1 - handle.percent / 100
        for p in others.get(src, []) + others.get(peer, []):
            delivered *= 1 - p / 100
        expected = 100 * (1 - delivered)
        count = 200
        try:
            got = lab.udp_delivered(src, peer, count=count)
        except NETWORK_ERRORS as e:
            lab.heal(handle)
            raise FaultError(f"cannot measure packet loss: {e}") from None
        lost = 100 * (count - got) / count
        if abs(lost - expected) > _LOSS_TOLERANCE:
            lab.heal(handle)
            raise FaultError(f"loss not as intended: {lost:.1f} % of UDP probes {src}->{peer} "
                             f"lost, expected {expected:.1f} % +/- {_LOSS_TOLERANCE:g}")
        return {"handle": self._keep(lab, handle),
                "probe": {"verified": True, "kind": "udp", "from": src, "to": peer,
                          "lost_percent": round(lost, 1), "expected_percent": round(expected, 1)}}

    def _heal(self, ctx: ClusterContext, targets: list[str], params: dict[str, Any],
              handle: Any) -> dict[str, Any]:
        lab = _network(ctx)
        try:
            lab.heal(handle)  # deletes the table where it is present
        except NETWORK_ERRORS as e:
            raise FaultError(f"loss not healed: {e}") from None
        lossy = IN_FORCE.lossy(lab, handle)
        cut = IN_FORCE.cut_pairs(lab, None)
        restored = {(a, b) for a in handle.nodes for b in ctx.nodes if a != b} \
            | {(b, a) for a in handle.nodes for b in ctx.nodes if a != b}
        restored = {(a, b) for a, b in restored
                    if (a, b) not in cut and a not in lossy and b not in lossy}
        try:
            _check_reachability(lab, ctx.nodes, set(), restored, "loss not healed")
        except NETWORK_ERRORS as e:
            raise FaultError(str(e)) from None
        return {"probe": {"verified": True, "kind": "tcp-connect",
                          "answered": sorted(f"{a}->{b}" for a, b in restored)}}


class LatencyFault(_NetworkFault):
    name = "latency"
    doc = ("delay every packet leaving the target nodes by ms +/- jitter (netem, or an NFQUEUE "
           "delayer where the kernel has no netem)")
    targets = NODE_TARGETS
    default_target = "majority"
    params = {"ms": Option(200.0, "added one-way delay in milliseconds", kind=float),
              "jitter": Option(50.0, "uniform +/- variation of the delay, milliseconds",
                               kind=float),
              "duration": Option(15.0, "seconds the delay lasts", kind=float)}

    def param_refusal(self, params: dict[str, Any]) -> str | None:
        if params["ms"] <= 0 or params["jitter"] < 0 or params["jitter"] > params["ms"]:
            return "latency needs ms > 0 and 0 <= jitter <= ms"
        return None

    def _apply(self, ctx: ClusterContext, targets: list[str],
               params: dict[str, Any]) -> dict[str, Any]:
        lab = _network(ctx)
        src = targets[0]  # verify_latency measures from the first delayed node
        lossy = IN_FORCE.lossy(lab)
        peer = _probe_pair(lab, [n for n in ctx.nodes if n not in lossy or n == src], src,
                           targets, None)
        # Under packet loss, retransmitted SYNs (1 s, 2 s, ...) swamp any round trip: then the
        # delay is verified by its mechanism (rule or qdisc in place, delayer alive) instead.
        measurable = peer is not None and src not in lossy
        try:
            baseline = lab.rtt_ms(src, peer, samples=3) if measurable else 0.0
            handle = lab.latency(targets, float(params["ms"]), float(params["jitter"]),
                                 seed=random.randrange(2**31))
        except NETWORK_ERRORS as e:
            raise FaultError(f"cannot add latency: {e}") from None
        if not measurable:
            try:
                mechanism = _latency_in_place(lab, handle)
            except NETWORK_ERRORS as e:
                lab.heal(handle)
                raise FaultError(str(e)) from None
            return {"handle": self._keep(lab, handle),
                    "probe": {"verified": True, "kind": "mechanism", "in_place": mechanism,
                              "why": "loss or a partition on every path: no round trip to time"}}
        try:
            rtt = verify_latency(lab, handle, peer, baseline_ms=baseline, samples=3)
        except NETWORK_ERRORS as e:
            lab.heal(handle)
            raise FaultError(str(e)) from None
        return {"handle": self._keep(lab, handle),
                "probe": {"verified": True, "kind": "tcp-rtt", "from": src, "to": peer,
                          "method": handle.method, "baseline_ms": round(baseline, 2),
                          "rtt_ms": round(rtt, 2)}}

    def _heal(self, ctx: ClusterContext, targets: list[str], params: dict[str, Any],
              handle: Any) -> dict[str, Any]:
        lab = _network(ctx)
        src = targets[0]
        try:
            lab.heal(handle)  # rules removed, delayers stopped and reaped
        except NETWORK_ERRORS as e:
            raise FaultError(f"latency not healed: {e}") from None
        lossy = IN_FORCE.lossy(lab)
        peer = _probe_pair(lab, [n for n in ctx.nodes if n not in lossy or n == src], src,
                           targets, None)
        delayed = {n for h in IN_FORCE.others(lab, handle, LatencyHandle) for n in h.nodes}
        if peer is None or {src, peer} & (delayed | set(lossy)):
            # Other faults still shape this path: that the delay is gone shows in heal_latency.
            return {"probe": {"verified": True, "kind": "removed", "delayers": 0}}
        try:
            rtt = lab.rtt_ms(src, peer, samples=3)
        except NETWORK_ERRORS as e:
            raise FaultError(f"latency not healed: {e}") from None
        if rtt > params["ms"] / 2:
            raise FaultError(f"latency not healed: round trip {src}->{peer} still {rtt:.1f} ms")
        return {"probe": {"verified": True, "kind": "tcp-rtt", "from": src, "to": peer,
                          "rtt_ms": round(rtt, 2)}}
