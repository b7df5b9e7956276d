"""The append and wr workloads' generator: transactions fixed by the seed, values unique per
key, keys retired after a bounded number of transactions, final reads of every key."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from workloads.transactions import AppendWorkload, TxnGenerator, WrWorkload


def draw(gen: TxnGenerator, workers: int, per_worker: int, seed: int = 1) -> list:
    rngs = {w: random.Random(f"worker:{seed}:{w}") for w in range(workers)}
    order = random.Random(99)  # the interleaving of workers is real, not seeded
    ops = []
    counts = Counter()
    while len(ops) < workers * per_worker:
        w = order.randrange(workers)
        if counts[w] < per_worker:
            counts[w] += 1
            ops.append((w, gen.next_op(w, rngs[w])))
    return ops


@pytest.mark.parametrize("workload,write_f", [(AppendWorkload(), "append"), (WrWorkload(), "w")])
def test_transactions_have_the_workloads_shape(workload, write_f):
    gen = workload.generator({"concurrency": 4, "txn_len": 3})
    for _, op in draw(gen, 4, 50):
        assert op.f == "txn" and 1 <= len(op.value) <= 3
        for f, key, value in op.value:
            assert f in ("r", write_f) and isinstance(key, int)
            assert (value is None) == (f == "r")


def test_the_seed_fixes_each_workers_transactions_whatever_the_interleaving():
    a = draw(AppendWorkload().generator({"concurrency": 3}), 3, 40)
    b = draw(AppendWorkload().generator({"concurrency": 3}), 3, 40)
    per_worker = lambda ops: {w: [o.value for v, o in ops if v == w] for w in range(3)}  # noqa
    assert per_worker(a) == per_worker(b)


def test_written_values_are_unique_per_key_and_keys_retire():
    gen = AppendWorkload().generator({"concurrency": 5, "keys": 4, "ops_per_key": 10})
    writes = Counter()
    for _, op in draw(gen, 5, 100):
        for f, key, value in op.value:
            if f == "append":
                writes[(key, value)] += 1
    assert max(writes.values()) == 1
    per_key = Counter(key for key, _ in writes)
    assert len(per_key) > 4 and max(per_key.values()) <= 5 * 10 * 4  # bounded per key


def test_final_reads_cover_every_key_used():
    gen = WrWorkload().generator({"concurrency": 2})
    used = {k for _, op in draw(gen, 2, 30) for _, k, _ in op.value}
    finals = gen.final_ops()
    assert all(op.f == "txn" and all(m[0] == "r" for m in op.value) for op in finals)
    assert {k for op in finals for _, k, _ in op.value} == used


@pytest.mark.parametrize("options,why", [
    ({"txn_len": "0"}, "at least 1"), ({"keys": "many"}, "keys=many: expected a whole number"),
    ({"read_ratio": "2"}, "between 0 and 1"),
])
def test_bad_options_are_one_line_errors(options, why):
    with pytest.raises(ValueError, match=why):
        AppendWorkload().generator(options)


def test_the_checkers_name_elle_with_the_workload():
    assert AppendWorkload().checkers({})[0] == {"name": "elle", "workload": "append"}
    assert WrWorkload().checkers({})[0] == {"name": "elle", "workload": "wr"}
