"""The register workload's generator: deterministic, unique values per key, bounded keys."""

import random
from collections import Counter, defaultdict

from workloads.register import RegisterGenerator


def _ops(seed, workers=6, n=300):
    g = RegisterGenerator(workers)
    out = []
    for i in range(n):
        for w in range(workers):
            rng = _rngs.setdefault((seed, w), random.Random(f"{seed}:{w}"))
            out.append(g.next_op(w, rng))
    _rngs.clear()
    return g, out


_rngs = {}


def test_same_seed_same_operations():
    assert _ops(1)[1] == _ops(1)[1]
    assert _ops(1)[1] != _ops(2)[1]


def test_written_values_are_unique_per_key():
    _, ops = _ops(3)
    seen = defaultdict(set)
    for op in ops:
        if op.f in ("write", "cas"):
            v = op.value if op.f == "write" else op.value[1]
            assert v not in seen[op.key]
            seen[op.key].add(v)


def test_keys_are_retired_after_a_bounded_number_of_operations():
    g, ops = _ops(4)
    per_key = Counter(op.key for op in ops)
    assert len(per_key) > 10
    assert max(per_key.values()) <= 6 * 40  # workers x ops per key generation
    assert {op.f for op in ops} == {"read", "write", "cas"}
    finals = g.final_ops()
    assert {op.key for op in finals} == set(per_key)
    assert all(op.f == "read" for op in finals)
