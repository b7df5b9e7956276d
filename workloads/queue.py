"""The `queue` workload (Kafka): sends of unique values to partitions, polls by assigned consumers.

Each `send` writes a value never used before in the run (n * concurrency + worker + 1) to a
partition drawn from the worker's seeded rng; the client answers with the offset the broker
acknowledged. Each `poll` returns the records the worker's consumer received, in order, as
[partition, offset, value]; the consumer is assigned fixed partitions and reads them from the
beginning, continuing where it left off. After the heal phase one final `poll` per partition (key =
the partition, "phase": "final") drains it from offset 0 to the end, so every acknowledged write
either shows up or is proven lost. The `queue` checker judges the result. Op shapes:
docs/op-shapes.md.

Options (--opt workload.KEY=VALUE): `partitions` (default 2; the topic must have at least this
many), `send_fraction` (default 0.6; the rest are polls).
"""

from __future__ import annotations

import random
from typing import Any

from systems.base import Invocation, Option
from workloads.base import Generator, settings, share

DEFAULT_PARTITIONS = 2
DEFAULT_SEND_FRACTION = 0.6


class QueueGenerator(Generator):
    def __init__(self, concurrency: int, partitions: int = DEFAULT_PARTITIONS,
                 send_fraction: float = DEFAULT_SEND_FRACTION) -> None:
        if concurrency < 1:
            raise ValueError(f"queue workload: concurrency must be at least 1, not {concurrency}")
        if partitions < 1:
            raise ValueError(f"queue workload: partitions must be at least 1, not {partitions}")
        if not 0.0 < send_fraction <= 1.0:
            raise ValueError(f"queue workload: send_fraction must be in (0, 1], "
                             f"not {send_fraction}")
        self.concurrency = concurrency
        self.partitions = partitions
        self.send_fraction = send_fraction
        self._sent: dict[int, int] = {}  # per worker: how many sends it has issued

    def next_op(self, worker: int, rng: random.Random) -> Invocation:
        if rng.random() >= self.send_fraction:
            return Invocation(worker, "poll", None, None)
        n = self._sent.get(worker, 0)
        self._sent[worker] = n + 1
        partition = rng.randrange(self.partitions)
        return Invocation(worker, "send",
                          {"partition": partition, "value": n * self.concurrency + worker + 1})

    def final_ops(self) -> list[Invocation]:
        return [Invocation(-1, "poll", None, p) for p in range(self.partitions)]


class QueueWorkload:
    name = "queue"
    description = "acknowledged sends, polls by assigned consumers, then a final drain"

    options = {
        "partitions": Option(DEFAULT_PARTITIONS, "partitions of the topic", kind=int, low=1),
        "send_fraction": share(DEFAULT_SEND_FRACTION, "the share of operations that are sends "
                                                      "(the rest poll)"),
    }

    def generator(self, options: dict[str, Any]) -> QueueGenerator:
        s = settings(self, options)
        return QueueGenerator(s["concurrency"], s["partitions"], s["send_fraction"])

    def checkers(self, options: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"name": "queue"}, {"name": "stats"}, {"name": "progress"}]
