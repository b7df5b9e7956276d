"""What every transaction client shares: running a transaction's micro-ops against a snapshot.

Stores without list-append or read-your-writes inside a transaction (etcd, ZooKeeper) run the
`append` and `wr` workloads' transactions optimistically, as etcd's STM does: read the touched
keys, run the micro-ops here against that snapshot, then commit the written values in one atomic
request guarded by the versions read. `run_micro_ops` is the middle step; the guard makes the
snapshot the state the transaction committed on. Op shapes: docs/op-shapes.md.
"""

from __future__ import annotations

from typing import Any

from systems.base import Invocation

MICRO_OPS = ("r", "w", "append")
COMMIT_ATTEMPTS = 5  # optimistic commits tried before a transaction is answered fail


def run_micro_ops(micro_ops: list[list[Any]],
                  snapshot: dict[str, Any]) -> tuple[list[list[Any]], dict[str, Any]]:
    """The micro-ops run against `snapshot` (key as text -> value, absent keys missing): what
    they return (reads filled in, seeing the transaction's own earlier writes), and the final
    value of every key they wrote (an append extends the key's list)."""
    state = dict(snapshot)
    writes: dict[str, Any] = {}
    done: list[list[Any]] = []
    for f, key, value in micro_ops:
        k = str(key)
        if f == "r":
            current = state.get(k)
            done.append([f, key, list(current) if isinstance(current, list) else current])
            continue
        if f == "append":
            current = state.get(k)
            state[k] = (current if isinstance(current, list) else []) + [value]
        else:
            state[k] = value
        writes[k] = state[k]
        done.append([f, key, value])
    return done, writes


def shape_problem(op: Invocation) -> str | None:
    """Why `op` is no transaction of micro-ops, or None."""
    if op.f != "txn" or not isinstance(op.value, (list, tuple)) or not op.value:
        return f"the transaction client takes txn ops of micro-ops, not {op.f!r}"
    for m in op.value:
        if not (isinstance(m, (list, tuple)) and len(m) == 3 and m[0] in MICRO_OPS):
            return f"micro-op {m!r} is not [r|w|append, key, value]"
    return None


def touched_keys(micro_ops: list[list[Any]]) -> list[str]:
    return sorted({str(k) for _, k, _ in micro_ops})
