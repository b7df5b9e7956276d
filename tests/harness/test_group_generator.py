"""The `group` workload's generator and the crash:consumers fault, without a Kafka (their runs
against a real Kafka: tests/integration/test_kafka_group.py)."""

from __future__ import annotations

import random

import pytest

from nemesis.base import FaultError
from nemesis.consumers import CrashesConsumers, CrashFault
from workloads.group import GroupGenerator, GroupWorkload


def _ops(gen: GroupGenerator, worker: int, n: int, seed: int = 1):
    rng = random.Random(seed)
    return [gen.next_op(worker, rng) for _ in range(n)]


def test_producers_send_unique_keyed_values_and_consumers_name_their_group():
    gen = GroupWorkload().generator({"concurrency": 6, "groups": "2", "commit": "after"})
    values = [op.value["value"] for w in (0, 1) for op in _ops(gen, w, 50)]
    assert len(set(values)) == len(values)
    assert all(op.f == "send" and op.key is None and op.value["key"].startswith("k")
               for op in _ops(gen, 0, 5))
    for worker, group in ((2, "g0"), (3, "g1"), (4, "g0"), (5, "g1")):
        ops = _ops(gen, worker, 7)
        assert ops[0].f == "subscribe" and ops[0].value == {"topics": ["splitbrain-group"],
                                                           "commit": "after"}
        assert [op.f for op in ops[1:]] == ["poll", "commit"] * 3
        assert {op.key for op in ops} == {group}


@pytest.mark.parametrize("commit, loop", [("before", ["poll"]), ("auto", ["poll"]),
                                          ("txn", ["txn"])])
def test_each_policy_runs_its_own_loop(commit, loop):
    gen = GroupGenerator(4, commit=commit)
    assert [op.f for op in _ops(gen, 2, 4)] == ["subscribe"] + loop * 3
    finals = gen.final_ops()
    assert [(op.f, op.key) for op in finals[:1]] == [(loop[0], "g0")]
    drained = [op.key for op in finals if op.f == "poll" and op.key != "g0"]
    assert drained == [0, 1] + (["splitbrain-out/0", "splitbrain-out/1"] if commit == "txn"
                                else [])


def test_commit_every_and_churn():
    gen = GroupGenerator(4, commit="after", commit_every=3)
    assert [op.f for op in _ops(gen, 3, 5)] == ["subscribe", "poll", "poll", "poll", "commit"]
    churned = GroupGenerator(4, commit="before", churn=0.5)
    fs = [op.f for op in _ops(churned, 3, 60)]
    assert "close" in fs and all(fs[i + 1] == "subscribe" for i, f in enumerate(fs[:-1])
                                 if f == "close")
    assert [op.f for op in gen.wind_down(3)] == ["commit", "close"]
    assert gen.wind_down(0) == []  # a producer has nothing to leave


@pytest.mark.parametrize("options, message", [
    ({"commit": "sometimes"}, "commit=sometimes: expected one of before, after, auto, txn"),
    ({"groups": "0"}, "groups=0: must be at least 1"),
    ({"concurrency": 2, "groups": "2"}, "leaves too few workers"),
    ({"churn": "1"}, "churn must be in"),
    ({"keys": "x"}, "keys=x: expected a whole number"),
])
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(ValueError, match=message):
        GroupWorkload().generator({"concurrency": 6, **options})


class _Members:
    """A system with the CrashesConsumers capability: a list of live members."""

    name = "fake"

    def __init__(self, members):
        self.members = members
        self.crashed = []

    def consumers(self):
        return [m for m in self.members if m["member"] not in self.crashed]

    def crash_consumer(self, member, window=None):
        m = next(m for m in self.members if m["member"] == member)
        if window is not None and m.get("window") != window:
            return False
        self.crashed.append(member)
        return True


def test_crash_prefers_a_member_holding_partitions_and_records_it():
    system = _Members([{"member": "p2", "group": "g0", "process": 2, "node": "n1",
                        "partitions": []},
                       {"member": "p3", "group": "g0", "process": 3, "node": "n2",
                        "partitions": [0, 1]}])
    assert isinstance(system, CrashesConsumers)
    fault = CrashFault()
    targets, shape = fault.resolve_target("consumers", ["n1", "n2", "n3"], random.Random(0),
                                          system)
    assert targets == ["n2"] and shape == {"members": ["p3"], "processes": [3]}
    started = fault.start(system, None, targets, {"count": 1, "duration": 1.0, **shape})
    assert system.crashed == ["p3"] and started["members"] == ["p3"]
    assert fault.refusal(object(), 3) is not None and fault.refusal(system, 3) is None
    with pytest.raises(FaultError):
        fault.resolve_target("consumers", ["n1"], random.Random(0), _Members([]))


def test_a_window_target_waits_for_a_member_inside_the_window_and_kills_it_there(monkeypatch):
    import threading
    import time

    import nemesis.consumers
    monkeypatch.setattr(nemesis.consumers, "WINDOW_WAIT_S", 2.0)
    system = _Members([{"member": "p2", "group": "g0", "process": 2, "node": "n1",
                        "partitions": [0], "window": None},
                       {"member": "p3", "group": "g0", "process": 3, "node": "n2",
                        "partitions": [1], "window": "uncommitted"}])
    fault = CrashFault()
    assert {"consumers", "unprocessed", "uncommitted", "in-txn"} <= set(fault.targets)
    # p2 enters the window 0.3 s later: the start waits for it, p3 is in another window
    threading.Timer(0.3, lambda: system.members[0].update(window="unprocessed")).start()
    began = time.monotonic()
    targets, shape = fault.resolve_target("unprocessed", ["n1", "n2"], random.Random(0), system)
    assert time.monotonic() - began >= 0.25
    assert targets == ["n1"] and shape == {"members": ["p2"], "processes": [2],
                                           "window": "unprocessed"}
    # p2 left the window before the kill: the next member to enter it is killed instead
    system.members[0]["window"] = None
    threading.Timer(0.3, lambda: system.members[1].update(window="unprocessed")).start()
    started = fault.start(system, None, targets, {"count": 1, "duration": 1.0, **shape})
    assert system.crashed == ["p3"] and started["members"] == ["p3"]
    assert started["window"] == "unprocessed" and "missed" not in started
    # nobody enters it: the start is skipped (FaultError), never a kill elsewhere
    with pytest.raises(FaultError, match="in-txn"):
        fault.resolve_target("in-txn", ["n1"], random.Random(0), _Members(
            [{"member": "p4", "group": "g0", "process": 4, "node": "n1", "partitions": [0]}]))
