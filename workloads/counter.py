"""The `counter` workload (Jepsen's counter): workers add small positive deltas to one counter
and read it.

Every `add` carries a delta drawn from 1..`max_delta` (the seed fixes each one); a `read` returns
the counter's value. Nothing is unique here, so the checker (checkers/counter.py) judges each read
by bounds instead of by which write it saw: a read can be no less than what was certainly added
before it began, and no more than what may have been added by the time it ended. After the heal
one final read per node shows whether acknowledged adds survived. Op shapes: docs/op-shapes.md.
"""

from __future__ import annotations

import random
from typing import Any

from systems.base import Invocation, Option
from workloads.base import Generator, settings, share

COUNTER_KEY = "counter"  # the one key every op names, so a client needs no default of its own


class CounterGenerator(Generator):
    def __init__(self, max_delta: int, read_ratio: float) -> None:
        self.max_delta = max_delta
        self.read_ratio = read_ratio

    def next_op(self, process: int, rng: random.Random) -> Invocation:
        # Both draws always happen, so a changed ratio does not shift the deltas of later ops.
        r, delta = rng.random(), rng.randint(1, self.max_delta)
        if r < self.read_ratio:
            return Invocation(process, "read", None, COUNTER_KEY)
        return Invocation(process, "add", delta, COUNTER_KEY)

    def final_ops(self) -> list[Invocation]:
        return [Invocation(-1, "read", None, COUNTER_KEY)]


class CounterWorkload:
    name = "counter"
    description = "adds of small positive deltas and reads of one counter: each read within bounds"
    options = {
        "max_delta": Option(5, "the largest delta an add carries (deltas are 1..max_delta)",
                            kind=int, low=1),
        "read_ratio": share(0.5, "the share of operations that are reads"),
    }

    def generator(self, options: dict[str, Any]) -> CounterGenerator:
        s = settings(self, options)
        return CounterGenerator(s["max_delta"], s["read_ratio"])

    def checkers(self, options: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"name": "counter"}, {"name": "stats"}, {"name": "progress"}]
