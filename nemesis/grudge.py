"""Grudges (Jepsen's word): which nodes each node must not exchange packets with.

A grudge maps a node to the nodes it drops; `grudge(kind, nodes, rng, leader)` builds the usual
shapes, which PartitionFault offers as its targets. Cutting one is the control layer's job
(Network.cut in systems/control/net.py); choosing whom to cut is the nemesis's.
"""

from __future__ import annotations

import random
from typing import Sequence

from systems.control.net import Grudge


class GrudgeError(ValueError):
    """A grudge shape that makes no sense for these nodes (e.g. a ring on 3 nodes)."""


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
