"""Verification: probes that check from outside that a network fault (or its heal) took effect.

Probing is the control layer's (Network.probe_tcp, rtt_ms, udp_delivered); what a result must
be for the fault to count as applied is decided here. The TCP probe connects to a closed port:
"refused" proves packets went both ways, "timeout" proves they did not.
"""

from __future__ import annotations

from typing import Sequence

from systems.control.net import LatencyHandle, LossHandle, NetFaultError, Network, PartitionHandle


class FaultNotEffectiveError(NetFaultError):
    """A probe found that a fault did not take effect (or a heal did not)."""


def verify_partition(network: Network, handle: PartitionHandle, timeout: float = 1.0) -> dict[tuple[str, str], str]:
    """Every cut pair times out and every other pair of grudge nodes answers; else raise. A cut
    of one port is probed at that port."""
    nodes = sorted(handle.grudge)
    results: dict[tuple[str, str], str] = {}
    at = {} if handle.port is None else {"port": handle.port}
    for src in nodes:
        others = [n for n in nodes if n != src]
        for dst, outcome in network.probe_tcp(src, others, timeout=timeout, **at).items():
            results[(src, dst)] = outcome
    wrong = [f"{a}->{b} {o}" for (a, b), o in results.items()
             if (b in handle.grudge[a]) != (o == "timeout")]
    if wrong:
        raise FaultNotEffectiveError("partition not as intended: " + ", ".join(sorted(wrong)))
    return results


def verify_connected(network: Network, nodes: Sequence[str] | None = None, timeout: float = 1.0) -> None:
    """Every pair of `nodes` (default: all) reaches each other; else raise."""
    nodes = list(nodes or network.nodes)
    bad = []
    for src in nodes:
        for dst, outcome in network.probe_tcp(src, [n for n in nodes if n != src], timeout=timeout).items():
            if outcome not in ("refused", "connected"):
                bad.append(f"{src}->{dst} {outcome}")
    if bad:
        raise FaultNotEffectiveError("nodes cannot reach each other: " + ", ".join(bad))


def verify_loss(network: Network, handle: LossHandle, peer: str, count: int = 200,
                tolerance: float = 12.5) -> float:
    """UDP from the first lossy node to `peer`: the lost percentage must be p +/- tolerance."""
    delivered = network.udp_delivered(handle.nodes[0], peer, count=count)
    lost = 100.0 * (count - delivered) / count
    expected = handle.percent if peer not in handle.nodes else 100 - (1 - handle.percent / 100) ** 2 * 100
    if abs(lost - expected) > tolerance:
        raise FaultNotEffectiveError(f"lost {lost:.1f} % of UDP probes, expected {expected:.1f} % "
                                     f"+/- {tolerance:g}")
    return lost


def verify_latency(network: Network, handle: LatencyHandle, peer: str, baseline_ms: float = 0.0,
                   samples: int = 5) -> float:
    """TCP round trip from a delayed node to `peer` must have grown by about the delay."""
    if not handle.nodes:
        raise FaultNotEffectiveError("the latency fault has no active node")
    src = handle.nodes[0]
    rtt = network.rtt_ms(src, peer, samples=samples)
    times = 2 if peer in handle.nodes else 1
    expected = baseline_ms + times * handle.ms
    if rtt < expected - times * handle.jitter - 0.2 * handle.ms:
        raise FaultNotEffectiveError(f"round trip {src}->{peer} is {rtt:.1f} ms, expected about "
                                     f"{expected:.1f} ms")
    return rtt
