"""keepalived.conf for one node of a VRRP group: one vrrp_instance holding one virtual IP.

Every node starts in BACKUP with its own priority (n1 highest), so the group elects by priority
within one master-down interval and, with preemption on, the highest-priority reachable node takes
the VIP back after a heal. Unicast peers are the default: the packets then carry the peers' own
addresses, so a partition that drops packets by address (systems/control/net.py) cuts VRRP exactly as it
cuts everything else, whatever a bridge does with multicast.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

HIGHEST_PRIORITY = 150
PRIORITY_STEP = 25  # far apart, so the election never hinges on the address tie-break


@dataclass(frozen=True)
class VrrpSettings:
    """What every node of the group shares."""

    vip: ipaddress.IPv4Interface  # the address and the prefix it is added with
    interface: str
    vrid: int
    advert_int: float
    unicast: bool
    preempt: bool


def priority(index: int) -> int:
    """The VRRP priority of the node at `index` in the node list (0 is the preferred master)."""
    return HIGHEST_PRIORITY - PRIORITY_STEP * index


def render(node: str, index: int, own_address: str, peer_addresses: list[str],
           settings: VrrpSettings) -> str:
    """The whole keepalived.conf of `node`."""
    lines = [
        "global_defs {",
        f"    router_id {node}",
        # No scripts are configured; this only silences keepalived's warning about them.
        "    enable_script_security",
        "}",
        "",
        "vrrp_instance splitbrain {",
        "    state BACKUP",
        f"    interface {settings.interface}",
        f"    virtual_router_id {settings.vrid}",
        f"    priority {priority(index)}",
        f"    advert_int {settings.advert_int:g}",
    ]
    if not settings.preempt:
        lines.append("    nopreempt")
    if settings.unicast:
        lines.append(f"    unicast_src_ip {own_address}")
        lines.append("    unicast_peer {")
        lines += [f"        {peer}" for peer in peer_addresses]
        lines.append("    }")
    lines += [
        "    virtual_ipaddress {",
        f"        {settings.vip.with_prefixlen} dev {settings.interface}",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def parse_vip(text: str, default_prefixlen: int = 32) -> ipaddress.IPv4Interface:
    """"A.B.C.D" or "A.B.C.D/len" as an interface address; ValueError with a one-line reason."""
    try:
        if "/" in text:
            vip = ipaddress.IPv4Interface(text)
        else:
            vip = ipaddress.IPv4Interface(f"{text}/{default_prefixlen}")
    except ValueError as e:
        raise ValueError(f"keepalived.vip {text!r} is not an IPv4 address: {e}") from None
    if vip.ip.is_loopback or vip.ip.is_multicast or vip.ip.is_unspecified:
        raise ValueError(f"keepalived.vip {text!r} cannot be a virtual IP")
    return vip
