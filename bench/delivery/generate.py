"""Generated `group` workload histories for the delivery benchmark (and anyone who wants a big one).

    python bench/delivery/generate.py OUT.jsonl --messages 1000000 [--seed 7] [--partitions 8]
        [--producers 8] [--groups 2] [--members 4] [--crash-rate 0.0002] [--policy after]

The history is that of a correct Kafka under consumer crashes, written in the shapes of
docs/op-shapes.md (workload `group`). Producers send keyed messages (the key picks the
partition), each acknowledged at the next offset of its partition; one send in a thousand fails
and one in a thousand ends unknown (half of those landed). Each consumer group's members own
partitions handed out by a coordinator; in every round each group's members poll up to 60 records
of each partition they own and, under commit=after, commit after processing. A member crashes
(killed between processing and committing, once per `1 / crash-rate` polls) and a fresh member
takes over its partitions from the group's committed offsets, so the records since the last
commit are processed twice: duplicates at-least-once allows, each explained by the crash. At the
end the groups catch up and a consumer outside any group drains every partition from offset 0.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import TextIO


class Writer:
    """Lines of history.jsonl with increasing index and time."""

    def __init__(self, out: TextIO, rng: random.Random) -> None:
        self.out, self.rng = out, rng
        self.index = 0
        self.time = 0

    def line(self, process: object, type_: str, f: str, value: str, extra: str = "") -> None:
        self.time += self.rng.randint(20_000, 200_000)  # 20-200 microseconds apart
        self.out.write(f'{{"index": {self.index}, "time": {self.time}, "process": '
                       f'{json.dumps(process)}, "type": "{type_}", "f": "{f}", "value": {value}'
                       f'{extra}}}\n')
        self.index += 1


class Member:
    def __init__(self, name: str, process: int) -> None:
        self.name, self.process = name, process
        self.owned: list[int] = []
        self.new: list[int] = []  # assigned since its last poll: its next poll's rebalance_log


class Group:
    def __init__(self, name: str, partitions: int, members: int, w: Writer, policy: str,
                 next_process: list[int]) -> None:
        self.name, self.w, self.policy = name, w, policy
        self.position = [0] * partitions
        self.committed = [0] * partitions
        self.next_process = next_process
        self.members = [self.join() for _ in range(members)]
        for p in range(partitions):
            m = self.members[p % members]
            m.owned.append(p)
            m.new.append(p)
        self.crashes = 0

    def join(self) -> Member:
        process = self.next_process[0]
        self.next_process[0] += 1
        m = Member(f"{self.name}-c{process}", process)
        value = json.dumps({"topics": ["splitbrain-group"], "commit": self.policy})
        fields = f', "group": "{self.name}", "member": "{m.name}"'
        self.w.line(process, "invoke", "subscribe", value, fields)
        self.w.line(process, "ok", "subscribe", value, fields)
        return m

    def poll(self, m: Member, logs: list[list[int]], batch: int, crash: bool) -> bool:
        fields = f', "group": "{self.name}", "member": "{m.name}"'
        got = {}
        for p in m.owned:
            at = self.position[p]
            if at < len(logs[p]):
                got[p] = [(o, logs[p][o]) for o in range(at, min(at + batch, len(logs[p])))]
                self.position[p] = got[p][-1][0] + 1
        extra = fields
        if m.new:
            extra += f', "rebalance_log": [{{"time": {self.w.time}, "assigned": {m.new}}}]'
            m.new = []
        self.w.line(m.process, "invoke", "poll", "null", fields)
        if self.policy == "before" and got:  # commit first: a crash now loses the batch
            self._commit(m, got, fields)
            if crash:
                self.w.line(m.process, "info", "poll", "null", fields)
                self.crash(m)
                return True
        records = ", ".join(f'"{p}": [' + ", ".join(f"[{o}, {v}]" for o, v in xs) + "]"
                            for p, xs in got.items())
        self.w.line(m.process, "ok", "poll", "{" + records + "}", extra)
        if crash:
            self.crash(m)  # after: processed, not committed: redelivered
            return bool(got)
        if got and self.policy != "before":
            self._commit(m, got, fields)
        return bool(got)

    def _commit(self, m: Member, got: dict[int, list[tuple[int, int]]], fields: str) -> None:
        offsets = ", ".join(f'"{p}": {self.position[p]}' for p in got)
        value = f'{{"offsets": {{{offsets}}}}}'
        self.w.line(m.process, "invoke", "commit", value, fields)
        self.w.line(m.process, "ok", "commit", value, fields)
        for p in got:
            self.committed[p] = self.position[p]

    def crash(self, m: Member) -> None:
        """Killed after processing, before committing: a fresh member takes its partitions."""
        self.crashes += 1
        value = json.dumps({"fault": "crash", "id": self.crashes, "spec": "crash:consumers",
                            "targets": [], "members": [m.name], "processes": [m.process]})
        self.w.line("nemesis", "invoke", "start-crash", value)
        self.w.line("nemesis", "info", "start-crash", value)
        fresh = self.join()
        fresh.owned, fresh.new = m.owned, list(m.owned)
        for p in m.owned:
            self.position[p] = self.committed[p]
        self.members[self.members.index(m)] = fresh


def generate(out: TextIO, messages: int, seed: int = 7, partitions: int = 8, producers: int = 8,
             groups: int = 2, members: int = 4, crash_rate: float = 0.0002,
             policy: str = "after") -> None:
    rng = random.Random(seed)
    w = Writer(out, rng)
    logs: list[list[int]] = [[] for _ in range(partitions)]
    next_process = [100]
    consumers = [Group(f"g{i}", partitions, members, w, policy, next_process)
                 for i in range(groups)]
    sent = 0
    while sent < messages:
        for _ in range(min(rng.randint(1, 80), messages - sent)):
            sent += 1
            producer = rng.randrange(producers)
            key = rng.randrange(1000)
            p = key % partitions
            invoke = f'{{"key": "k{key}", "value": {sent}}}'
            w.line(producer, "invoke", "send", invoke)
            outcome = rng.random()
            if outcome < 0.001:
                w.line(producer, "fail", "send", invoke)
            elif outcome < 0.002:
                if rng.random() < 0.5:
                    logs[p].append(sent)  # landed, never acknowledged
                w.line(producer, "info", "send", invoke)
            else:
                w.line(producer, "ok", "send", f'{{"key": "k{key}", "value": {sent}, '
                                               f'"partition": {p}, "offset": {len(logs[p])}}}')
                logs[p].append(sent)
        for g in consumers:
            m = rng.choice(g.members)
            g.poll(m, logs, 60, crash=rng.random() < crash_rate * len(g.members))
    for g in consumers:  # catch up, without crashes
        while any(g.position[p] < len(logs[p]) for p in range(partitions)):
            for m in list(g.members):
                g.poll(m, logs, 500, crash=False)
    drain = ", ".join(str(p) for p in range(partitions))
    w.line(99, "invoke", "assign", f'{{"partitions": [{drain}]}}', ', "phase": "final"')
    w.line(99, "ok", "assign", f'{{"partitions": [{drain}]}}', ', "phase": "final"')
    for p, log in enumerate(logs):
        for at in range(0, len(log), 1000):
            records = ", ".join(f"[{o}, {log[o]}]" for o in range(at, min(at + 1000, len(log))))
            w.line(99, "invoke", "poll", "null", ', "phase": "final"')
            w.line(99, "ok", "poll", f'{{"{p}": [{records}]}}', ', "phase": "final"')


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--partitions", type=int, default=8)
    p.add_argument("--producers", type=int, default=8)
    p.add_argument("--groups", type=int, default=2)
    p.add_argument("--members", type=int, default=4)
    p.add_argument("--crash-rate", type=float, default=0.0002)
    p.add_argument("--policy", choices=("after", "before"), default="after")
    a = p.parse_args()
    with open(a.out, "w") as out:
        generate(out, a.messages, a.seed, a.partitions, a.producers, a.groups, a.members,
                 a.crash_rate, a.policy)


if __name__ == "__main__":
    main()
