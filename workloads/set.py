"""The `set` workload: unique elements added concurrently, one read of the whole set at the end.

Jepsen's set test. Every `add` carries an element never used before in the run (element = n *
concurrency + worker + 1, so workers never collide and the seed fixes every value), and the only
read is the final one, after the heal phase, through whatever node the system's client thinks is
authoritative (e.g. the current Sentinel primary). The `set` checker then compares the final read
with what was acknowledged: acknowledged elements that are missing were lost. Op shapes:
docs/op-shapes.md.
"""

from __future__ import annotations

import random
from typing import Any

from systems.base import Invocation, Option
from workloads.base import Generator, settings


class SetGenerator(Generator):
    def __init__(self, concurrency: int) -> None:
        if concurrency < 1:
            raise ValueError(f"set workload: concurrency must be at least 1, not {concurrency}")
        self.concurrency = concurrency
        self._added: dict[int, int] = {}  # per worker: how many adds it has issued

    def next_op(self, worker: int, rng: random.Random) -> Invocation:
        n = self._added.get(worker, 0)
        self._added[worker] = n + 1
        return Invocation(worker, "add", n * self.concurrency + worker + 1)

    def final_ops(self) -> list[Invocation]:
        # One read of the whole set: key null, the client picks the node to ask.
        return [Invocation(-1, "read", None, None)]


class SetWorkload:
    name = "set"
    description = "adds of unique elements, then a final read: every acknowledged add is there"
    options: dict[str, Option] = {}

    def generator(self, options: dict[str, Any]) -> SetGenerator:
        return SetGenerator(settings(self, options)["concurrency"])

    def checkers(self, options: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"name": "set"}, {"name": "stats"}, {"name": "progress"}]
