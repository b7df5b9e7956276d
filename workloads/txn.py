"""The `txn` workload (Kafka transactions): consume-transform-produce, checked for exactly-once.

Roles are fixed per worker, so each input partition has exactly one transformer at a time (the
transactional id is per input partition; two live transformers of one partition would only fence
each other): workers 0..T-1 transform input partition w, where T = min(partitions,
concurrency // 2); the other workers `send` unique values to the input topic (partitions 0..T-1)
or `read` the output topic with read_committed consumers.

A `transform` is one transaction: consume a batch from the input partition at the group's
committed offset, produce one output record {"txn", "in": [partition, offset], "value"} per input
record, send the next input offset to the transaction, commit; a fraction of transactions is
aborted on purpose (`abort: true`), so that a read of an aborted record has something to find.
Transaction ids ("t<worker>-<n>") are unique in the run. Final ops: a `read` per output partition
(key = partition) draining it from offset 0, and a `committed` per input partition (the group's
committed offset). Checker: `kafka-txn` (checkers/kafka_txn.py); op shapes: docs/op-shapes.md.

Options (--opt workload.KEY=VALUE): `partitions` (default 2), `abort_fraction` (default 0.2),
`send_fraction` (default 0.7 of the non-transformer workers' ops; the rest are reads).
"""

from __future__ import annotations

import random
from typing import Any

from systems.base import Invocation, Option
from workloads.base import Generator, settings, share

DEFAULT_PARTITIONS = 2
DEFAULT_ABORT_FRACTION = 0.2
DEFAULT_SEND_FRACTION = 0.7


class TxnGenerator(Generator):
    def __init__(self, concurrency: int, partitions: int = DEFAULT_PARTITIONS,
                 abort_fraction: float = DEFAULT_ABORT_FRACTION,
                 send_fraction: float = DEFAULT_SEND_FRACTION) -> None:
        if concurrency < 2:
            raise ValueError("txn workload: needs concurrency >= 2 (transformers and senders)")
        if partitions < 1:
            raise ValueError(f"txn workload: partitions must be at least 1, not {partitions}")
        if not 0.0 <= abort_fraction < 1.0:
            raise ValueError(f"txn workload: abort_fraction must be in [0, 1), not {abort_fraction}")
        if not 0.0 < send_fraction <= 1.0:
            raise ValueError(f"txn workload: send_fraction must be in (0, 1], not {send_fraction}")
        self.concurrency = concurrency
        self.transformers = min(partitions, concurrency // 2)
        self.abort_fraction = abort_fraction
        self.send_fraction = send_fraction
        self._count: dict[int, int] = {}

    def next_op(self, worker: int, rng: random.Random) -> Invocation:
        n = self._count.get(worker, 0)
        self._count[worker] = n + 1
        if worker < self.transformers:
            return Invocation(worker, "transform",
                              {"partition": worker, "txn": f"t{worker}-{n}",
                               "abort": rng.random() < self.abort_fraction})
        if rng.random() < self.send_fraction:
            return Invocation(worker, "send", {"partition": rng.randrange(self.transformers),
                                               "value": n * self.concurrency + worker + 1})
        return Invocation(worker, "read", None, None)

    def final_ops(self) -> list[Invocation]:
        return ([Invocation(-1, "read", None, p) for p in range(self.transformers)]
                + [Invocation(-1, "committed", None, p) for p in range(self.transformers)])


class TxnWorkload:
    name = "txn"
    description = ("Kafka consume-transform-produce transactions; read_committed readers; "
                   "checked for aborted reads and exactly-once processing")

    options = {
        "partitions": Option(DEFAULT_PARTITIONS, "partitions, one transformer each", kind=int,
                             low=1),
        "abort_fraction": share(DEFAULT_ABORT_FRACTION, "the share of transactions aborted"),
        "send_fraction": share(DEFAULT_SEND_FRACTION, "senders' share of sends (the rest read)"),
    }

    def generator(self, options: dict[str, Any]) -> TxnGenerator:
        s = settings(self, options)
        return TxnGenerator(s["concurrency"], s["partitions"], s["abort_fraction"],
                            s["send_fraction"])

    def checkers(self, options: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"name": "kafka-txn"}, {"name": "stats"}, {"name": "progress"}]
