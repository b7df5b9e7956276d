"""The `register` workload: reads, writes and compare-and-set on many independent keys.

Keys follow Jepsen's "independent" style: a small pool of active keys, each retired after a bounded
number of operations and replaced by a fresh one, so the unknown (`info`) operations that faults
leave behind cannot blow up the checker's search on any one key. Every write and cas of a key uses a
value never used before on that key (value = n * concurrency + worker), which keeps the search
small and makes a lost or stale value unambiguous.

Determinism: each worker draws from its own random.Random seeded from (seed, worker), and the key
it uses depends only on how many operations it has issued, so the seed fixes every generated
operation and value; only the interleaving is real. Op shapes: docs/op-shapes.md.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from systems.base import Invocation, Option
from workloads.base import Generator, settings


@dataclass
class _WorkerState:
    ops: int = 0
    writes: dict[str, int] = field(default_factory=dict)  # per key: values this worker wrote


class RegisterGenerator(Generator):
    def __init__(self, concurrency: int, active_keys: int = 3, ops_per_key: int = 40,
                 mix: tuple[float, float, float] = (0.5, 0.3, 0.2)) -> None:
        self.concurrency = concurrency
        self.active_keys = active_keys
        self.ops_per_key = ops_per_key  # per worker and key generation
        self.mix = mix  # read, write, cas
        self._workers: dict[int, _WorkerState] = {}
        self.keys_used: set[str] = set()

    def key_for(self, worker: int, rng: random.Random) -> str:
        st = self._workers.setdefault(worker, _WorkerState())
        generation = st.ops // self.ops_per_key
        return f"k{generation * self.active_keys + rng.randrange(self.active_keys)}"

    def next_op(self, worker: int, rng: random.Random) -> Invocation:
        st = self._workers.setdefault(worker, _WorkerState())
        key = self.key_for(worker, rng)
        st.ops += 1
        self.keys_used.add(key)
        r = rng.random()
        if r < self.mix[0]:
            return Invocation(worker, "read", None, key)
        n = st.writes.get(key, 0)
        st.writes[key] = n + 1
        value = n * self.concurrency + worker + 1  # unique per key across workers, never 0
        if r < self.mix[0] + self.mix[1]:
            return Invocation(worker, "write", value, key)
        # Expect a value some worker plausibly wrote recently on this key, or absence at first.
        if n == 0 and rng.random() < 0.3:
            expected = None
        else:
            m = max(0, n - rng.randrange(2))
            expected = m * self.concurrency + rng.randrange(self.concurrency) + 1
        return Invocation(worker, "cas", [expected, value], key)

    def final_ops(self) -> list[Invocation]:
        return [Invocation(-1, "read", None, k)
                for k in sorted(self.keys_used, key=lambda k: int(k[1:]))]


class RegisterWorkload:
    name = "register"
    description = "read/write/cas on independent keys, checked for linearizability per key"
    options = {
        "active_keys": Option(3, "keys in use at once", kind=int, low=1),
        "ops_per_key": Option(40, "a worker's operations on a key before it moves to fresh keys",
                              kind=int, low=1),
    }

    def generator(self, options: dict[str, Any]) -> RegisterGenerator:
        s = settings(self, options)
        return RegisterGenerator(s["concurrency"], s["active_keys"], s["ops_per_key"])

    def checkers(self, options: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"name": "linearizable", "model": "cas-register"},
                {"name": "stats"},
                {"name": "progress"}]
