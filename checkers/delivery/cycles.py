"""G0 and G1c (and their -process and -realtime variants): dependency cycles between Kafka ops,
found with the elle checker's graph and cycle search (checkers/elle/).

The edges are those of Jepsen's kafka analysis, between send, poll and txn ops:

    ww  T1 sent v1 to a partition and T2 sent v2, the next message in its log
        (only with ww_deps: Jepsen's --ww-deps, on by default)
    wr  T1 sent a message T2 polled (for every message polled, not only the last)
    rw  T1's last read of a partition was v1 and T2 sent the next message of its log
        (only with rw_deps: Jepsen's analysis describes these edges but leaves them out)

plus elle's session order (process) and real-time order. Each strongly connected component is
searched by checkers.elle.cycles.search_graph within the time budget, and each cycle found is
explained in words by checkers.elle.explain, with the sentences for ww, wr and rw edges from
this module. A cycle's transactions are named T and the index of their invocation in the file.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Final

from checkers.delivery.logs import LogIndex, PartitionLog
from checkers.delivery.ops import KAFKA_FS, KafkaOp
from checkers.elle.cycles import ComponentReport, search_graph
from checkers.elle.explain import explain_cycle
from checkers.elle.graph import KIND_NAMES, PROCESS, REALTIME, RW, WR, WW, DependencyGraph
from checkers.elle.orders import add_order_edges
from checkers.elle.transactions import Txn

VARIANTS: Final = [0, PROCESS, PROCESS | REALTIME]
_NO_MOPS: list[Any] = []  # every Txn starts with it; a cycle's get their op's value


class KafkaGraph:
    """The dependency graph over the history's send, poll and txn ops (node i is nodes[i])."""

    def __init__(self, index: LogIndex, ww_deps: bool, rw_deps: bool) -> None:
        self.index = index
        self.nodes: list[KafkaOp] = [k for k in index.ops if k.f in KAFKA_FS]
        node_of = [-1] * len(index.ops)
        for i, k in enumerate(self.nodes):
            node_of[k.id] = i
        self.node_of = node_of
        self.txns = [Txn(i, k.op, k.type, _NO_MOPS) for i, k in enumerate(self.nodes)]
        self.graph = DependencyGraph(len(self.nodes))
        if ww_deps:
            self._write_edges()
        self._read_edges(ww_deps, rw_deps)
        add_order_edges(self.txns, self.graph, True, True)

    def _write_edges(self) -> None:
        add = self.graph.add
        node_of = self.node_of
        for log in self.index.logs.values():
            writer = log.writer
            at = log.at
            prev: KafkaOp | None = None
            for o in log.offsets:
                w = writer.get(at[o])
                if w is not None and prev is not None and w is not prev:
                    add(node_of[prev.id], node_of[w.id], WW)
                prev = w

    def _read_edges(self, ww_deps: bool, rw_deps: bool) -> None:
        """wr edges from the sender of each message polled to the poll (and rw edges from the
        poll to the sender of the message after its last read of each partition).

        With ww edges, the sender of every message a poll read in a clean partition
        (PartitionLog.clean) reaches the sender of the poll's highest one through the ww chain
        along the log, so that one wr edge stands for the rest: the graph has the same paths,
        hence the same components and the same kinds of cycles, with one edge per poll and
        partition instead of one per message."""
        add = self.graph.add
        node_of = self.node_of
        logs = self.index.logs
        unplaced = self.index.unplaced
        for k in self.nodes:
            if not k.reads:
                continue
            me = node_of[k.id]
            last = None
            for name, pairs in k.reads:
                if not pairs:
                    continue
                log = logs[name]
                writer = log.writer
                if ww_deps and log.clean:
                    top = max(map(_offset_of_pair, pairs))
                    w = writer[log.at[top]]
                    if w is not k and w is not last:
                        add(node_of[w.id], me, WR)
                        last = w
                else:
                    top = -1
                    for pair in pairs:
                        sender = writer.get(pair[1])
                        if sender is None and unplaced:
                            sender = unplaced.get(pair[1])
                        if sender is not None and sender is not k and sender is not last:
                            add(node_of[sender.id], me, WR)
                            last = sender
                        if pair[0] is not None and pair[0] > top:
                            top = pair[0]
                if rw_deps and top >= 0:
                    after = _next_writer(log, top)
                    if after is not None and after is not k:
                        add(me, node_of[after.id], RW)

    def search(self, timeout: float) -> tuple[list[ComponentReport], dict[str, Any]]:
        return search_graph(self.graph, self.txns, VARIANTS, timeout)

    def explain(self, report_cycle: Any) -> dict[str, Any]:
        for a, _b, _kind in report_cycle.steps:
            k = self.nodes[a]
            self.txns[a].mops = [k.raw]
        return explain_cycle(report_cycle, self.txns, self._explain_edge)

    def summary(self) -> dict[str, int]:
        kinds = self.graph.kind
        return {"nodes": len(self.nodes), "edges": len(self.graph),
                **{name: kinds.count(kind) for kind, name in KIND_NAMES.items()}}

    def _explain_edge(self, a: Txn, b: Txn, kind: int) -> str | None:
        ka, kb = self.nodes[a.id], self.nodes[b.id]
        logs = self.index.logs
        if kind == WW:
            for name, o, v in kb.sends:
                log = logs.get(name)
                where = _offset(log, o, v)
                if where is None:
                    continue
                i = log.index(where)  # type: ignore[union-attr]
                if i == 0:
                    continue
                before = log.offsets[i - 1]  # type: ignore[union-attr]
                v1 = log.at[before]  # type: ignore[union-attr]
                if log.writer.get(v1) is ka:  # type: ignore[union-attr]
                    return (f"{a.name} sent {v1!r} to partition {name} (offset {before}) and "
                            f"{b.name} sent {v!r}, the next message there (offset {where})")
        elif kind == WR:
            for name, pairs in kb.reads:
                for o, v in pairs:
                    if self.index.writer_of(name, v) is ka:
                        return f"{a.name} sent {v!r} to partition {name}, which {b.name} polled " \
                               f"(offset {o})"
        elif kind == RW:
            for name, pairs in ka.reads:
                top = max((o for o, _v in pairs if o is not None), default=-1)
                log = logs[name]
                if top >= 0 and _next_writer(log, top) is kb:
                    after = log.offsets[log.index(top) + 1]
                    return (f"{a.name} polled partition {name} up to offset {top} and did not see "
                            f"{log.at[after]!r}, which {b.name} sent next (offset {after})")
        return None


_offset_of_pair = itemgetter(0)


def _next_writer(log: PartitionLog, offset: int) -> KafkaOp | None:
    i = log.index(offset) + 1
    if i >= len(log.offsets):
        return None
    return log.writer.get(log.at[log.offsets[i]])


def _offset(log: PartitionLog | None, o: Any, v: Any) -> int | None:
    if log is None:
        return None
    if o is not None and log.at.get(o) == v:
        return o  # type: ignore[no-any-return]
    return log.offset_of.get(v)
