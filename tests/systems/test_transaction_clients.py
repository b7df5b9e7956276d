"""The transaction clients' local half (systems/txn.py): micro-ops run against the snapshot a
client read (the commit that follows is guarded by that snapshot's versions; see the
integration tests of etcd and ZooKeeper)."""

from __future__ import annotations

import pytest

from systems.base import Invocation
from systems.txn import run_micro_ops as _run
from systems.txn import shape_problem as _shape_problem


def test_reads_see_the_snapshot_and_the_transactions_own_writes():
    done, writes = _run([["r", 1, None], ["append", 1, 5], ["r", 1, None], ["w", 2, 7],
                         ["r", 2, None], ["append", 3, 1], ["append", 3, 2], ["r", 3, None]],
                        {"1": [4], "2": 6})
    assert done == [["r", 1, [4]], ["append", 1, 5], ["r", 1, [4, 5]], ["w", 2, 7], ["r", 2, 7],
                    ["append", 3, 1], ["append", 3, 2], ["r", 3, [1, 2]]]
    assert writes == {"1": [4, 5], "2": 7, "3": [1, 2]}


def test_a_read_only_transaction_writes_nothing():
    assert _run([["r", 1, None], ["r", 2, None]], {"1": [1]}) == \
        ([["r", 1, [1]], ["r", 2, None]], {})


@pytest.mark.parametrize("op", [Invocation(0, "read", None, "k"), Invocation(0, "txn", []),
                                Invocation(0, "txn", [["cas", 1, 2]])])
def test_ops_that_are_no_transactions_are_refused(op):
    assert _shape_problem(op)
