"""Properties of the delivery checker on histories of a small simulated Kafka.

- Logs: producers append to partitions (offsets may leave gaps, as transaction markers do; some
  sends fail, some are unknown), consumers assigned partitions read them in order in polls of any
  size, and a final drain reads everything. Such histories are valid; each injected fault (a loss,
  a duplicate, a reordering, a skip, an aborted read, two messages at one offset) is found under
  its name, with the message it was injected at.
- Groups: one consumer group reads the partitions through a coordinator that hands a crashed
  member's partitions to a new member at the group's committed offset, under commit=after or
  commit=before, with crashes between processing and committing. The group keeps the promise of
  its policy (after: nothing lost; before: nothing twice), every duplicate is explained by a
  crash, and two members given one partition at once are found.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkers.delivery import DeliveryChecker
from tests.checkers.kafka_histories import Kafka

# the simulations draw many random numbers: their smallest inputs are large by design
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.large_base_example, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


class Log:
    """A simulated run against plain partitions: what was sent where, and the consumers' polls."""

    def __init__(self, rnd: random.Random, partitions: int, messages: int, consumers: int):
        self.rnd = rnd
        self.logs: list[list[tuple[int, int]]] = [[] for _ in range(partitions)]  # (offset, v)
        self.next_offset = [0] * partitions
        self.ops: list[dict] = []  # in order: ("send", ...) / ("poll", ...)
        self.position = [[0] * partitions for _ in range(consumers)]
        value = 0
        for _ in range(messages * 3):
            if rnd.random() < 0.45 and value < messages:
                value += 1
                self._send(value)
            else:
                self._poll(rnd.randrange(consumers))
        for c in range(consumers):  # catch up: nobody stops halfway
            while any(self.position[c][p] < len(self.logs[p]) for p in range(partitions)):
                self._poll(c)

    def _send(self, v: int) -> None:
        rnd = self.rnd
        p = rnd.randrange(len(self.logs))
        producer = rnd.randrange(3)
        outcome = rnd.choices(("ok", "fail", "info"), (8, 1, 1))[0]
        if outcome == "fail":
            self.ops.append({"f": "send", "p": p, "v": v, "offset": None, "type": "fail",
                             "process": producer})
            return
        if rnd.random() < 0.2:
            self.next_offset[p] += rnd.randint(1, 2)  # a transaction marker's offset
        landed = outcome == "ok" or rnd.random() < 0.5
        o = self.next_offset[p] if landed else None
        if landed:
            self.logs[p].append((o, v))
            self.next_offset[p] += 1
        self.ops.append({"f": "send", "p": p, "v": v, "offset": o if outcome == "ok" else None,
                         "type": outcome, "process": producer})

    def _poll(self, c: int) -> None:
        polled = {}
        for p, log in enumerate(self.logs):
            at = self.position[c][p]
            n = self.rnd.randint(0, 3)
            if log[at:at + n]:
                polled[p] = log[at:at + n]
                self.position[c][p] = at + len(polled[p])
        self.ops.append({"f": "poll", "polled": polled, "type": "ok", "process": 10 + c})

    def kafka(self) -> Kafka:
        h = Kafka()
        for c in range(len(self.position)):
            h.assign(list(range(len(self.logs))), process=10 + c)
        for op in self.ops:
            if op["f"] == "send":
                h.send(op["p"], op["v"], offset=op["offset"], type=op["type"],
                       process=op["process"])
            else:
                h.poll(op["polled"], process=op["process"])
        return h


logs = st.builds(Log, st.randoms(use_true_random=False), st.integers(1, 3), st.integers(1, 25),
                 st.integers(1, 3))


def check(h: Kafka, fmt: str = "jsonl", **options) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        return DeliveryChecker(**options).check(h.history(Path(tmp), fmt))


@SETTINGS
@given(logs, st.sampled_from(["jsonl", "edn"]))
def test_valid_logs_stay_valid(log, fmt):
    r = check(log.kafka(), fmt)
    assert r["valid"] is True, r.get("reason")
    assert r["anomaly_types"] == []


def polls_of(h: Kafka) -> list[dict]:
    return [op for op in h.ops if op["f"] == "poll" and op["polled"]]


def acked(h: Kafka) -> list[tuple[int, int, int]]:
    return [(op["sends"][0][0], op["sends"][0][2], op["sends"][0][1]) for op in h.ops
            if op["f"] == "send" and op["type"] == "ok"]


@SETTINGS
@given(logs, st.randoms(use_true_random=False))
def test_a_lost_message_is_a_lost_write(log, rnd):
    h = log.kafka()
    # an acknowledged message with a later one in its partition, taken out of every poll
    candidates = [(p, o, v) for p, o, v in acked(h)
                  if any(o2 > o for o2, _v in log.logs[p])]
    if not candidates:
        return
    p, o, v = rnd.choice(candidates)
    for op in polls_of(h):
        if p in op["polled"]:
            op["polled"][p] = [(o2, v2) for o2, v2 in op["polled"][p] if v2 != v]
    r = check(h)
    assert "lost-write" in r["failing"]
    assert v in [c["value"] for c in r["anomalies"]["lost-write"]]


@SETTINGS
@given(logs, st.randoms(use_true_random=False))
def test_a_message_at_two_offsets_is_a_duplicate(log, rnd):
    h = log.kafka()
    polls = polls_of(h)
    if not polls:
        return
    last = polls[-1]
    p = rnd.choice(sorted(last["polled"]))
    o, v = rnd.choice(log.logs[p])
    last["polled"][p] = last["polled"][p] + [(log.next_offset[p] + 5, v)]
    r = check(h)
    assert "duplicate" in r["failing"]
    assert [c["value"] for c in r["anomalies"]["duplicate"]] == [v]


@SETTINGS
@given(logs, st.randoms(use_true_random=False))
def test_swapped_records_are_an_internal_nonmonotonic_poll(log, rnd):
    h = log.kafka()
    pairs = [(op, p) for op in polls_of(h) for p, xs in op["polled"].items() if len(xs) >= 2]
    if not pairs:
        return
    op, p = rnd.choice(pairs)
    xs = list(op["polled"][p])
    i = rnd.randrange(len(xs) - 1)
    xs[i], xs[i + 1] = xs[i + 1], xs[i]
    op["polled"][p] = xs
    r = check(h)
    assert "int-nonmonotonic-poll" in r["failing"]
    assert [xs[i][1], xs[i + 1][1]] in [c["values"] for c in r["anomalies"]["int-nonmonotonic-poll"]]


@SETTINGS
@given(logs, st.randoms(use_true_random=False))
def test_a_consumer_jumping_ahead_is_a_poll_skip(log, rnd):
    h = log.kafka()
    # a poll (not a consumer's first of the partition) whose first record is dropped
    # (whose message was acknowledged, so that the log knows it is there without the poll)
    known = {(p, o) for p, o, _v in acked(h)}
    seen: set[tuple[int, int]] = set()
    candidates = []
    for op in polls_of(h):
        for p, xs in op["polled"].items():
            if (op["process"], p) in seen and len(xs) >= 2 and (p, xs[0][0]) in known:
                candidates.append((op, p))
            seen.add((op["process"], p))
    if not candidates:
        return
    op, p = rnd.choice(candidates)
    dropped = op["polled"][p][0]
    op["polled"][p] = op["polled"][p][1:]
    r = check(h)
    assert "poll-skip" in r["failing"]
    assert any(dropped[1] in c["skipped"] for c in r["anomalies"]["poll-skip"])


@SETTINGS
@given(logs, st.randoms(use_true_random=False))
def test_a_polled_message_whose_send_failed_is_g1a(log, rnd):
    h = log.kafka()
    sends = [op for op in h.ops if op["f"] == "send" and op["type"] == "ok"]
    if not sends:
        return
    op = rnd.choice(sends)
    op["type"] = "fail"
    r = check(h)
    assert "G1a" in r["failing"]
    assert op["sends"][0][1] in [c["value"] for c in r["anomalies"]["G1a"]]


@SETTINGS
@given(logs, st.randoms(use_true_random=False))
def test_two_messages_acknowledged_at_one_offset_are_inconsistent(log, rnd):
    h = log.kafka()
    sends = [op for op in h.ops if op["f"] == "send" and op["type"] == "ok"]
    if len(sends) < 2:
        return
    a, b = rnd.sample(sends, 2)
    (pa, va, oa), = a["sends"]
    b["sends"] = [(pa, b["sends"][0][1], oa)]  # b claims a's place
    r = check(h)
    assert "inconsistent-offsets" in r["failing"]
    assert (pa, oa) in [(c["partition"], c["offset"]) for c in r["anomalies"]["inconsistent-offsets"]]


class Group:
    """A consumer group through a coordinator: each partition has an owner and a committed
    offset; a member that crashes hands its partitions to a fresh member, which starts at the
    committed offsets. Policy after: process (an ok poll), then commit; before: commit, then
    process. A crash can come between the two."""

    def __init__(self, rnd: random.Random, partitions: int, messages: int, policy: str):
        self.rnd, self.policy = rnd, policy
        self.h = Kafka(step_ms=1000)
        self.logs: list[list[tuple[int, int]]] = [[] for _ in range(partitions)]
        self.committed = [0] * partitions
        self.members: list[str] = []
        self.owner: list[str] = []
        self.position: dict[tuple[str, int], int] = {}
        self.process: dict[str, int] = {}
        self.crashes = 0
        for v in range(1, messages + 1):
            p = rnd.randrange(partitions)
            self.h.send(p, v, offset=len(self.logs[p]), process=0)
            self.logs[p].append((len(self.logs[p]), v))
        for _ in range(rnd.randint(1, 2)):
            self._join()
        for p in range(partitions):
            self._assign(p, self.members[p % len(self.members)])
        for _ in range(messages * 2):
            self._step(rnd.randrange(partitions), crash_p=0.25)
        for p in range(partitions):  # catch up without crashes
            while self.position[(self.owner[p], p)] < len(self.logs[p]):
                self._step(p, crash_p=0)
        self.h.assign(list(range(partitions)), process=99)
        self.h.poll({p: log for p, log in enumerate(self.logs) if log}, process=99)

    def _join(self) -> str:
        name = f"c{len(self.members)}"
        self.members.append(name)
        self.process[name] = len(self.members)
        self.h.subscribe([], commit=self.policy, group="g", member=name,
                         process=self.process[name])
        return name

    def _assign(self, p: int, member: str) -> None:
        if p < len(self.owner):
            self.owner[p] = member
        else:
            self.owner.append(member)
        self.position[(member, p)] = self.committed[p]
        self.pending_assign = getattr(self, "pending_assign", {})
        self.pending_assign.setdefault(member, []).append(p)

    def _extra(self, member: str) -> dict:
        moved = self.pending_assign.pop(member, None)
        return {"rebalance_log": [{"assigned": moved}]} if moved else {}

    def _step(self, p: int, crash_p: float) -> None:
        rnd, m = self.rnd, self.owner[p]
        at = self.position[(m, p)]
        batch = self.logs[p][at:at + rnd.randint(1, 3)]
        if not batch:
            return
        who = {"group": "g", "member": m, "process": self.process[m]}
        crash = rnd.random() < crash_p
        end = batch[-1][0] + 1
        if self.policy == "after":
            self.h.poll({p: batch}, extra=self._extra(m), **who)
            self.position[(m, p)] = end
            if crash:
                return self._crash(m)
            self.h.commit({p: end}, **who)
            self.committed[p] = end
        else:
            self.h.commit({p: end}, **who)
            self.committed[p] = end
            self.position[(m, p)] = end
            if crash:
                self.h.poll({}, type="info", **who)
                return self._crash(m)
            self.h.poll({p: batch}, extra=self._extra(m), **who)

    def _crash(self, m: str) -> None:
        self.crashes += 1
        self.h.crash(self.process[m], member=m)
        fresh = self._join()
        for p, owner in enumerate(self.owner):
            if owner == m:
                self._assign(p, fresh)


groups = st.builds(Group, st.randoms(use_true_random=False), st.integers(1, 3),
                   st.integers(1, 20), st.sampled_from(["after", "before"]))


@SETTINGS
@given(groups)
def test_a_group_keeps_the_promise_of_its_commit_policy(group):
    r = check(group.h)
    g = r["groups"]["g"]
    assert r["failing"] == [], r.get("reason")
    assert g["valid"] is True, r.get("reason")
    if group.policy == "after":
        assert not {"lost-message", "unprocessed"} & set(g["anomaly_types"])
        for case in g["anomalies"].get("duplicate-processing", []):
            assert case["cause"] == "crash", case["explanation"]
    else:
        assert "duplicate-processing" not in g["anomaly_types"]
        for case in g["anomalies"].get("lost-message", []):
            assert case["cause"] in ("crash", "commit"), case["explanation"]
    if not group.crashes:
        assert g["anomaly_types"] == []
    # the promise of the other policy, asked for explicitly, is broken exactly when a crash
    # cost what that policy pays for
    other = "exactly-once"
    broken = check(group.h, delivery=other)["groups"]["g"]["failing"]
    assert bool(broken) == bool(g["anomaly_types"])


@SETTINGS
@given(groups, st.randoms(use_true_random=False))
def test_a_partition_given_to_two_members_is_double_ownership(group, rnd):
    h = group.h
    polls = [op for op in h.ops if op["f"] == "poll" and op.get("group") == "g" and
             op["type"] == "ok"]
    late = [op for op in polls if op is not polls[0]]
    if not late:
        return
    op = rnd.choice(late)
    # an intruder is assigned the first poll's partition and polls it while the owner holds it
    p = next(iter(polls[0]["polled"]))
    at = h.ops.index(polls[0]) + 1
    h.ops.insert(at, {"f": "poll", "polled": {}, "type": "ok", "process": 50, "group": "g",
                      "member": "intruder", "overlap": False,
                      "extra": {"rebalance_log": [{"assigned": [p]}]}})
    h.ops.insert(h.ops.index(op) + 1, {"f": "poll", "polled": {}, "type": "ok", "process": 50,
                                       "group": "g", "member": "intruder", "overlap": False,
                                       "extra": {}})
    owner = polls[0]["member"]
    # the owner is still there after the intruder arrives (unless it crashed first)
    owner_later = [o for o in h.ops[at + 1:] if o.get("member") == owner and o["f"] != "crash"]
    if not owner_later:
        return
    r = check(h, rebalance_grace=0.5)
    found = r["groups"]["g"]["anomalies"].get("double-ownership", [])
    assert any(set(c["members"]) == {owner, "intruder"} for c in found)


@pytest.mark.parametrize("policy", ["after", "before"])
def test_the_group_simulation_does_crash(policy):
    # the properties above are only as good as the runs they see: crashes happen
    crashed = sum(Group(random.Random(seed), 2, 15, policy).crashes for seed in range(20))
    assert crashed > 5
