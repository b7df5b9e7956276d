"""Cycles in words: one sentence per edge, with the operations' places in the history.

    T12 appended 4 to key 3 before T15 appended 5, because T20 read key 3 as [.., 4, 5]

Each transaction is named T and the index of its invocation in the history file, so `grep
'"index": 12,'` (or the report) finds it; every cycle lists its transactions with both event
indexes, process, node and times. The sentences come from the module that inferred the edge
(list_append or rw_register for data dependencies, orders for process and real-time order), so
an explanation says why the edge exists, not only that it does.
"""

from __future__ import annotations

from typing import Any, Callable

from checkers.elle.cycles import FoundCycle
from checkers.elle.graph import KIND_NAMES, PROCESS, REALTIME
from checkers.elle.orders import explain_process, explain_realtime
from checkers.elle.transactions import Txn
from checkers.evidence import txn_ref

# (a, b, kind) -> why a -> b is a dependency of that kind, from the workload's inference
DataExplainer = Callable[[Txn, Txn, int], "str | None"]


def explain_cycle(cycle: FoundCycle, txns: list[Txn], explain_data: DataExplainer) -> dict[str, Any]:
    steps = []
    sentences = []
    for a_id, b_id, kind in cycle.steps:
        a, b = txns[a_id], txns[b_id]
        if kind == PROCESS:
            text = explain_process(a, b)
        elif kind == REALTIME:
            text = explain_realtime(a, b)
        else:
            text = explain_data(a, b, kind) or (f"{a.name} -{KIND_NAMES[kind]}-> {b.name} (no "
                                                f"explanation found)")
        steps.append({"from": a.name, "to": b.name, "kind": KIND_NAMES[kind],
                      "explanation": text})
        sentences.append(text)
    first = txns[cycle.steps[0][0]].name
    summary = ("; then ".join(sentences) + f". So {first} both precedes and follows itself: a "
               f"{cycle.anomaly} cycle of {len(cycle.steps)} transactions.")
    return {"type": cycle.anomaly,
            "cycle": [txn_ref(txns[a]) for a, _b, _k in cycle.steps],
            "steps": steps,
            "explanation": summary}
