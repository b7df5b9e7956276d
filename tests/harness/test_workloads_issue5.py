"""The set, lock, queue and vip workloads: deterministic generators with the agreed op shapes."""

import random

import pytest

from checkers.registry import build_checker
from harness.registry import load
from workloads.lock import LockGenerator, LockWorkload, parse_lease_ms
from workloads.queue import QueueGenerator, QueueWorkload
from workloads.set import SetGenerator, SetWorkload
from workloads.vip import VipGenerator, VipWorkload


def run(generator, workers=5, rounds=200, seed=1):
    """Ops in a fixed interleaving, each worker drawing from its own seeded rng (as the runner)."""
    rngs = {w: random.Random(f"worker:{seed}:{w}") for w in range(workers)}
    out = []
    for _ in range(rounds):
        for w in range(workers):
            op = generator.next_op(w, rngs[w])
            if op is not None:
                out.append(op)
    return out


@pytest.mark.parametrize("make", [lambda: SetGenerator(5), lambda: LockGenerator(1000, 3),
                                  lambda: QueueGenerator(5, 3), lambda: VipGenerator()])
def test_same_seed_same_operations(make):
    assert run(make(), seed=7) == run(make(), seed=7)


@pytest.mark.parametrize("make", [lambda: LockGenerator(1000, 3), lambda: QueueGenerator(5, 3)])
def test_different_seeds_differ(make):
    assert run(make(), seed=7) != run(make(), seed=8)


def test_set_adds_unique_elements_and_reads_once_at_the_end():
    g = SetGenerator(5)
    ops = run(g)
    assert {op.f for op in ops} == {"add"}
    elements = [op.value for op in ops]
    assert len(set(elements)) == len(elements) == 1000
    assert all(isinstance(e, int) for e in elements)
    finals = g.final_ops()
    assert [(op.f, op.value, op.key) for op in finals] == [("read", None, None)]


def test_lock_alternates_acquire_and_release_of_the_same_key():
    g = LockGenerator(lease_ms=800, locks=3, hold_ms=300)
    rngs = {w: random.Random(w) for w in range(4)}
    per_worker = {w: [] for w in range(4)}
    for _ in range(50):
        for w in range(4):
            op = g.next_op(w, rngs[w])
            per_worker[w].append(op)
            if op.f == "acquire":
                assert 0 <= g.next_delay_s(w) <= 0.3  # the hold before the release
            else:
                assert g.next_delay_s(w) is None
    keys = set()
    for ops in per_worker.values():
        assert [op.f for op in ops] == ["acquire", "release"] * 25
        for acq, rel in zip(ops[::2], ops[1::2]):
            assert acq.value == {"lease_ms": 800} and rel.value is None
            assert acq.key == rel.key
            keys.add(acq.key)
    assert keys == {"lock-0", "lock-1", "lock-2"}
    assert g.final_ops() == []


def test_lock_options():
    assert parse_lease_ms("none") is None and parse_lease_ms("1500") == 1500
    with pytest.raises(ValueError, match="milliseconds or none"):
        parse_lease_ms("soon")
    with pytest.raises(ValueError, match="lock workload: lease_ms=soon: expected a number"):
        LockWorkload().generator({"lease_ms": "soon"})
    g = LockWorkload().generator({"concurrency": 3, "lease_ms": "none", "locks": "2"})
    op = g.next_op(0, random.Random(0))
    assert op.value == {"lease_ms": None} and op.key in ("lock-0", "lock-1")
    assert LockWorkload().generator({}).next_op(0, random.Random(0)).value == {"lease_ms": 1000}


def test_queue_sends_unique_values_to_valid_partitions_and_polls():
    g = QueueGenerator(5, partitions=3, send_fraction=0.6)
    ops = run(g)
    sends = [op for op in ops if op.f == "send"]
    polls = [op for op in ops if op.f == "poll"]
    assert 0.5 < len(sends) / len(ops) < 0.7
    values = [op.value["value"] for op in sends]
    assert len(set(values)) == len(values)
    assert {op.value["partition"] for op in sends} == {0, 1, 2}
    assert all(set(op.value) == {"partition", "value"} and op.key is None for op in sends)
    assert all(op.value is None and op.key is None for op in polls)
    assert [(op.f, op.key) for op in g.final_ops()] == [("poll", 0), ("poll", 1), ("poll", 2)]


def test_queue_options_are_parsed_and_checked():
    g = QueueWorkload().generator({"concurrency": 2, "partitions": "4", "send_fraction": "1"})
    assert all(op.f == "send" for op in run(g, workers=2, rounds=20))
    with pytest.raises(ValueError, match="partitions"):
        QueueGenerator(2, partitions=0)


def test_vip_samples_from_one_worker_every_100ms():
    g = VipGenerator()
    ops = run(g, workers=3, rounds=10)
    assert len(ops) == 10 and {(op.process, op.f, op.value) for op in ops} == {(0, "sample", None)}
    assert g.next_delay_s(0) == 0.1 and g.next_delay_s(1) is None
    assert g.final_ops() == []


def test_vip_grace_goes_into_the_checker_spec():
    specs = VipWorkload().checkers({"grace_s": "3.5"})
    assert specs[0] == {"name": "vip", "grace_s": 3.5}
    assert build_checker(specs[0]).grace_s == 3.5


@pytest.mark.parametrize("name, workload, first_checker", [
    ("set", SetWorkload, "set"), ("lock", LockWorkload, "mutex"),
    ("queue", QueueWorkload, "queue"), ("vip", VipWorkload, "vip")])
def test_registered_and_their_checkers_build(name, workload, first_checker):
    assert load("workload", name) is workload
    specs = workload().checkers({"concurrency": 5})
    assert specs[0]["name"] == first_checker and {"name": "stats"} in specs
    for spec in specs:
        assert hasattr(build_checker(spec), "check")


@pytest.mark.parametrize("workload, options, message", [
    (QueueWorkload, {"partitions": "two"}, "queue workload: partitions=two: expected a whole number"),
    (LockWorkload, {"hold_ms": "long"}, "lock workload: hold_ms=long: expected a number"),
    (SetWorkload, {"concurrency": "x"}, "set workload: concurrency=x: expected a whole number"),
    (VipWorkload, {"interval_ms": "-5"}, "vip workload: interval_ms must be positive")])
def test_bad_options_are_one_line_value_errors(workload, options, message):
    with pytest.raises(ValueError, match=message):
        workload().generator(options)


def test_bad_grace_is_refused_when_the_checkers_are_named():
    with pytest.raises(ValueError, match="grace_s"):
        VipWorkload().checkers({"grace_s": "soon"})
