"""What kind of anomaly a dependency cycle is: one small predicate per kind (Adya's
definitions, with Elle's G-nonadjacent), over the cycle's edge labels in order.

    G0             every edge ww (write cycle)
    G1c            ww and wr edges, at least one wr (circular information flow)
    G-single       exactly one rw edge (read skew, lost update)
    G-nonadjacent  more than one rw edge, no two of them adjacent (the cycle wraps around)
    G2-item        rw edges, two of them adjacent (write skew)

Process and real-time edges are allowed anywhere and name the variant: a cycle that needs a
real-time edge is X-realtime, one that needs a session (process) edge but no real-time one is
X-process. Each label is one kind: when a pair of transactions is related in several ways, the
searcher labels the step with the kind it used.
"""

from __future__ import annotations

from typing import Sequence

from checkers.elle.graph import PROCESS, REALTIME, RW, WR, WW


def rw_positions(labels: Sequence[int]) -> list[int]:
    return [i for i, label in enumerate(labels) if label == RW]


def is_g0(labels: Sequence[int]) -> bool:
    return WW in labels and not rw_positions(labels) and WR not in labels


def is_g1c(labels: Sequence[int]) -> bool:
    return not rw_positions(labels) and WR in labels


def is_g_single(labels: Sequence[int]) -> bool:
    return len(rw_positions(labels)) == 1


def is_g_nonadjacent(labels: Sequence[int]) -> bool:
    rw = rw_positions(labels)
    return len(rw) > 1 and not _adjacent(rw, len(labels))


def is_g2_item(labels: Sequence[int]) -> bool:
    rw = rw_positions(labels)
    return len(rw) > 1 and _adjacent(rw, len(labels))


def _adjacent(rw: list[int], length: int) -> bool:
    """Whether two rw edges follow each other, counting the last edge and the first."""
    taken = set(rw)
    return any((i + 1) % length in taken for i in rw)


def variant(labels: Sequence[int]) -> str:
    if REALTIME in labels:
        return "-realtime"
    if PROCESS in labels:
        return "-process"
    return ""


KINDS = (("G0", is_g0), ("G1c", is_g1c), ("G-single", is_g_single),
         ("G-nonadjacent", is_g_nonadjacent), ("G2-item", is_g2_item))


def classify(labels: Sequence[int]) -> str:
    """The anomaly a cycle with these edge labels (in order) is, e.g. "G-single-realtime"."""
    for name, test in KINDS:
        if test(labels):
            return name + variant(labels)
    raise ValueError(f"not a dependency cycle: {labels}")  # only orders: they are acyclic
