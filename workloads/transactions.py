"""The transactional workloads `append` (list-append) and `wr` (rw-register), checked by `elle`.

Each operation is one transaction (`f` "txn") of 1..txn_len micro-ops `[f, key, value]`:
`append` mixes reads `["r", k, null]` with appends `["append", k, v]` to a key's list, `wr` mixes
reads with writes `["w", k, v]` of a register; reads come back with what they saw. This is the
shape Elle (Kingsbury & Alvaro, VLDB 2020) checks: list-append histories let it infer every key's
version order from the longest read, rw-register ones from the initial state and from writes that
follow reads.

Keys: as in Elle, a small pool of active keys, each retired after a bounded number of
transactions touching it and replaced by a fresh one, so version orders stay short. As in the
register workload, each worker moves through key generations on its own (generation = its
transactions // ops_per_key), so the seed fixes every generated transaction and value; only the
interleaving is real. A written or appended value is unique per key (n * concurrency + worker + 1
for a worker's n-th write of the key), so a read names the writes it saw.

Final reads (after the heal phase): one read-only transaction per group of keys, so lost writes
show up. Op shapes: docs/op-shapes.md.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from systems.base import Invocation, Option
from workloads.base import Generator, settings, share

FINAL_READ_KEYS = 8  # keys per final read transaction


@dataclass
class _WorkerState:
    txns: int = 0
    writes: dict[int, int] = field(default_factory=dict)  # per key: values this worker wrote


class TxnGenerator(Generator):
    """Transactions of one kind: write_f "append" (list-append) or "w" (rw-register)."""

    def __init__(self, write_f: str, concurrency: int, txn_len: int = 4, keys: int = 10,
                 ops_per_key: int = 20, read_ratio: float = 0.5) -> None:
        self.write_f = write_f
        self.concurrency = concurrency
        self.txn_len = txn_len
        self.keys = keys  # active at once, per generation
        self.ops_per_key = ops_per_key  # a worker's transactions per key generation
        self.read_ratio = read_ratio
        self._workers: dict[int, _WorkerState] = {}
        self.keys_used: set[int] = set()

    def next_op(self, worker: int, rng: random.Random) -> Invocation:
        st = self._workers.setdefault(worker, _WorkerState())
        generation = st.txns // self.ops_per_key
        st.txns += 1
        micro_ops: list[list[Any]] = []
        for _ in range(rng.randint(1, self.txn_len)):
            key = generation * self.keys + rng.randrange(self.keys)
            self.keys_used.add(key)
            if rng.random() < self.read_ratio:
                micro_ops.append(["r", key, None])
                continue
            n = st.writes.get(key, 0)
            st.writes[key] = n + 1
            micro_ops.append([self.write_f, key, n * self.concurrency + worker + 1])
        return Invocation(worker, "txn", micro_ops)

    def final_ops(self) -> list[Invocation]:
        keys = sorted(self.keys_used)
        return [Invocation(-1, "txn", [["r", k, None] for k in keys[i:i + FINAL_READ_KEYS]])
                for i in range(0, len(keys), FINAL_READ_KEYS)]


class _TransactionalWorkload:
    name = ""
    description = ""
    write_f = ""

    options = {
        "txn_len": Option(4, "the most micro-ops in one transaction", kind=int, low=1),
        "keys": Option(10, "keys in use at once", kind=int, low=1),
        "ops_per_key": Option(20, "a worker's transactions before it moves to fresh keys",
                              kind=int, low=1),
        "read_ratio": share(0.5, "the share of micro-ops that are reads"),
    }

    def generator(self, options: dict[str, Any]) -> TxnGenerator:
        s = settings(self, options)
        return TxnGenerator(self.write_f, s["concurrency"], s["txn_len"], s["keys"],
                            s["ops_per_key"], s["read_ratio"])

    def checkers(self, options: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"name": "elle", "workload": self.name},
                {"name": "stats"},
                {"name": "progress"}]


class AppendWorkload(_TransactionalWorkload):
    name = "append"
    description = ("transactions of reads and appends to lists (Elle's list-append), checked "
                   "for strict serializability by elle")
    write_f = "append"


class WrWorkload(_TransactionalWorkload):
    name = "wr"
    description = ("transactions of reads and writes of registers (Elle's rw-register), checked "
                   "for strict serializability by elle")
    write_f = "w"
