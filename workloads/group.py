"""The `group` workload (Kafka): keyed sends, consumer groups, and what each commit policy costs.

Workers 0 .. producers-1 send: each `send` is a record with key "k<n>" (n drawn from the worker's
seeded rng, `keys` of them; the client's partitioner picks the partition) and a value never used
before in the run. The other workers are consumers, spread over `groups` groups ("g0", "g1",
...): each starts with `subscribe` (the topic and the commit policy), then runs the policy's loop:

    before, auto   poll                  (commit=before commits inside the poll, before processing)
    after          poll, commit          (commit the offsets after what was processed; with
                                          commit_every=N, N polls then one commit)
    txn            txn                   (one consume-transform-produce transaction)

With `churn` > 0 a consumer sometimes leaves (`close`) and joins again as a new member
(`subscribe`). Consumer ops carry their group as the key, so a client that replaces a crashed
one (crash:consumers) joins the same group. After the heal phase each group catches up (one
`poll`, or `txn`, by a fresh member, reading on to every partition's end) and every partition is drained from offset 0 outside any
group (`poll` keyed by the partition), so the `delivery` checker can tell lost messages from
unreached ones. Op shapes: docs/op-shapes.md (`group`); the system's client does the rest.

Options (--opt workload.KEY=VALUE): `commit` (before | after | auto | txn; default after),
`groups` (default 1), `producers` (default a third of the workers, at least 1), `partitions`
(default 2), `keys` (default 8), `churn` (default 0: the fraction of consumer steps that leave
and rejoin), `process_ms` (default 0: how long processing a polled batch takes, which is the
window a crash falls into), `auto.commit.interval.ms` (commit=auto; default 5000),
`session.timeout.ms` (default 6000: how soon the group notices a crashed member),
`commit_every` (commit=after; default 1: polls between commits).
"""

from __future__ import annotations

import random
from typing import Any

from systems.base import Invocation, Option
from workloads.base import Generator, settings, share

TOPIC = "splitbrain-group"  # the topic the Kafka system creates for this workload
OUTPUT_TOPIC = "splitbrain-out"  # commit=txn's output topic
POLICIES = ("before", "after", "auto", "txn")
LOOPS = {"before": ("poll",), "auto": ("poll",), "after": ("poll", "commit"), "txn": ("txn",)}


class GroupGenerator(Generator):
    def __init__(self, concurrency: int, commit: str = "after", groups: int = 1,
                 producers: int | None = None, partitions: int = 2, keys: int = 8,
                 churn: float = 0.0, commit_every: int = 1) -> None:
        if commit not in POLICIES:
            raise ValueError(f"group workload: commit must be one of {', '.join(POLICIES)}, "
                             f"not {commit!r}")
        producers = max(1, concurrency // 3) if producers is None else producers
        for name, n, low in (("groups", groups, 1), ("producers", producers, 1),
                             ("partitions", partitions, 1), ("keys", keys, 1),
                             ("commit_every", commit_every, 1)):
            if n < low:
                raise ValueError(f"group workload: {name} must be at least {low}, not {n}")
        if concurrency < producers + groups:
            raise ValueError(f"group workload: --concurrency {concurrency} leaves too few "
                             f"workers for {producers} producers and a consumer in each of "
                             f"{groups} groups; pass --concurrency {producers + groups} or more")
        if not 0.0 <= churn < 1.0:
            raise ValueError(f"group workload: churn must be in [0, 1), not {churn}")
        self.concurrency = concurrency
        self.commit = commit
        self.groups = [f"g{i}" for i in range(groups)]
        self.producers = producers
        self.partitions = partitions
        self.keys = keys
        self.churn = churn
        # commit=after commits once per this many polls (what it has processed since)
        self.loop = (("poll",) * commit_every + ("commit",)) if commit == "after" \
            else LOOPS[commit]
        self._sent: dict[int, int] = {}
        self._steps: dict[int, list[tuple[str, Any]]] = {}  # a consumer's queued ops

    def group_of(self, worker: int) -> str:
        return self.groups[(worker - self.producers) % len(self.groups)]

    def next_op(self, worker: int, rng: random.Random) -> Invocation:
        if worker < self.producers:
            n = self._sent.get(worker, 0)
            self._sent[worker] = n + 1
            return Invocation(worker, "send", {"key": f"k{rng.randrange(self.keys)}",
                                               "value": n * self.concurrency + worker + 1})
        group = self.group_of(worker)
        steps = self._steps.get(worker)
        if steps is None:  # the worker's first op: join
            steps = self._steps[worker] = [("subscribe", self._subscription())]
        if not steps:
            if self.churn and rng.random() < self.churn:
                steps += [("close", None), ("subscribe", self._subscription())]
            else:
                steps += [(f, None) for f in self.loop]
        f, value = steps.pop(0)
        return Invocation(worker, f, value, group)

    def _subscription(self) -> dict[str, Any]:
        return {"topics": [TOPIC], "commit": self.commit}

    def wind_down(self, worker: int) -> list[Invocation]:
        """A consumer leaves its group when the main phase ends (after committing what it
        processed, under commit=after), so the final catch-up does not wait for its session."""
        if worker < self.producers or worker not in self._steps:
            return []
        group = self.group_of(worker)
        tail = [("commit", None)] if self.commit == "after" else []
        return [Invocation(worker, f, v, group) for f, v in tail + [("close", None)]]

    def final_ops(self) -> list[Invocation]:
        # One catch-up step per group, by a fresh member (the client joins on its first op):
        # it reads on to every partition's end; retried until it succeeds.
        ops = [Invocation(-1, LOOPS[self.commit][0], None, group) for group in self.groups]
        names: list[Any] = list(range(self.partitions))
        if self.commit == "txn":
            names += [f"{OUTPUT_TOPIC}/{p}" for p in range(self.partitions)]
        ops.append(Invocation(-1, "assign", {"partitions": [str(n) for n in names]}, None))
        ops += [Invocation(-1, "poll", None, n) for n in names]
        return ops


class GroupWorkload:
    name = "group"
    description = "keyed sends, consumer groups under a commit policy, then catch-up and drain"

    options = {
        "commit": Option("after", "when members commit: before or after processing, auto "
                         "(enable.auto.commit), or txn (consume-transform-produce)",
                         choices=POLICIES),
        "groups": Option(1, "consumer groups, each reading the whole topic", kind=int, low=1),
        "producers": Option(0, "workers that send (0: a third of --concurrency, at least 1)",
                            kind=int, low=0),
        "partitions": Option(2, "partitions of the topic", kind=int, low=1),
        "keys": Option(8, "distinct record keys", kind=int, low=1),
        "churn": share(0.0, "the share of a member's steps that leave the group and join again "
                            "as a new member"),
        "commit_every": Option(1, "commit=after: polls between commits", kind=int, low=1),
        "process_ms": Option(0, "milliseconds processing a polled batch takes (the window a "
                                "crash falls into)", kind=int, low=0),
        "auto.commit.interval.ms": Option(5000, "commit=auto: librdkafka's commit interval",
                                          kind=int, low=1),
        "session.timeout.ms": Option(6000, "how long the group waits for a silent member "
                                           "(Kafka's minimum: 6000)", kind=int, low=6000),
    }

    def generator(self, options: dict[str, Any]) -> GroupGenerator:
        s = settings(self, options)
        return GroupGenerator(s["concurrency"], commit=s["commit"], groups=s["groups"],
                              producers=s["producers"] or None, partitions=s["partitions"],
                              keys=s["keys"], churn=s["churn"], commit_every=s["commit_every"])

    def checkers(self, options: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"name": "delivery"}, {"name": "stats"}]
