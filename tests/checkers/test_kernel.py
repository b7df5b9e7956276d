"""The C search (checkers/linearizable/_wgl.c, fed by kernel.py) against search.py and the brute
force: same verdicts on random histories of every model, sound evidence, timeouts, odd times.

Skipped where the compiled core was not built (kernel.native() is None): there search.py is the
only search and the rest of the suite covers it.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkers.history import Event, History
from checkers.linearizable import LinearizabilityChecker, kernel
from checkers.linearizable.partition import effective
from checkers.models import Become, Model
from checkers.registry import get_model
from tests.checkers.soundness import assert_sound_failure
from tests.checkers.test_properties import FAST, MODELS, brute_force, sequential_history

pytestmark = pytest.mark.skipif(kernel.native() is None,
                                reason="the C search was not built (pip install -e . builds it)")


NATIVE = kernel.native()


@contextmanager
def python_search() -> Iterator[None]:
    """Within it, check_partition uses search.py (as SPLITBRAIN_PYTHON_SEARCH=1 does)."""
    kernel._module = None
    try:
        yield
    finally:
        kernel._module = NATIVE


def both(model: Any, h: History, **kw: Any) -> tuple[dict, dict]:
    """The result with the C search, and with search.py."""
    native = LinearizabilityChecker(model, **kw).check(h)
    with python_search():
        python = LinearizabilityChecker(model, **kw).check(h)
    return native, python


def assert_agree(model_name: str, h: History, native: dict, python: dict) -> None:
    assert native["valid"] == python["valid"], [e.to_dict() for e in h.events]
    assert [f["key"] for f in native["failures"]] == [f["key"] for f in python["failures"]]
    ops = [op for op in h.operations() if op.type != "fail"]
    model = get_model(model_name)
    for failure in native["failures"]:
        part = [op for op in ops if native["partitions"] == 1 or op.key == failure["key"]]
        assert_sound_failure(model, part, failure)


@pytest.mark.parametrize("model", MODELS)
@FAST
@given(data=st.data())
def test_c_search_agrees_with_search_py_and_brute_force(model, data):
    h = data.draw(sequential_history(model, max_ops=9, corrupt=data.draw(st.booleans())))
    for split_keys in (True, False):
        native, python = both(model, h, split_keys=split_keys)
        assert native["valid"] is brute_force(model, h, split_keys)
        if model != "multi-register" or split_keys is False:  # its evidence spans keys
            assert_agree(model, h, native, python)


def rows_to_history(rows: list[tuple]) -> History:
    """(time, process, type, f, value, key) rows, in time order."""
    return History([Event(i, t, p, kind, f, v, key) for i, (t, p, kind, f, v, key)
                    in enumerate(rows)])


def concurrent_writes_then_read(writers: int, read: Any, t0: int = 0, step: int = 1,
                                key: Any = None) -> list[tuple]:
    """`writers` concurrent writes of 0.., then (after all returned) one read of `read`."""
    rows = [(t0 + step * p, p, "invoke", "write", p, key) for p in range(writers)]
    rows += [(t0 + step * (writers + p), p, "ok", "write", p, key) for p in range(writers)]
    t = t0 + step * 2 * writers
    rows += [(t, 99, "invoke", "read", None, key), (t + step, 99, "ok", "read", read, key)]
    return rows


@pytest.mark.parametrize("times", ["small ints", "floats", "epoch ns", "beyond int64"])
def test_times_of_any_magnitude_and_type_order_the_same(times):
    scale: dict[str, Any] = {"small ints": (0, 1), "floats": (0.5, 0.25),
                             "epoch ns": (1_700_000_000_000_000_000, 1),
                             "beyond int64": (2**70, 2**20)}
    t0, step = scale[times]
    for read, expected in ((3, True), (42, False)):
        h = rows_to_history(concurrent_writes_then_read(6, read, t0, step))
        native, python = both("register", h)
        assert native["valid"] is python["valid"] is expected


def test_segments_wider_than_one_word():
    """150 ops in flight together (bitsets of three 64-bit words): writes of 1 and 2 among
    reads that saw nothing, 1 or 2, in an order only some interleavings explain."""
    rows = []
    seen = [None if p < 50 else 1 if p < 100 else 2 for p in range(150)]
    for p in range(150):
        f = "write" if p in (60, 120) else "read"
        rows.append((p, p, "invoke", f, {60: 1, 120: 2}.get(p), "k"))
    for p in range(150):
        f = "write" if p in (60, 120) else "read"
        rows.append((200 + p, p, "ok", f, {60: 1, 120: 2}.get(p, seen[p]), "k"))
    native, python = both("register", rows_to_history(rows), timeout=60)
    assert native["valid"] is python["valid"] is True
    # a read of 1 invoked after one of 2 returned (and no later write of 1): impossible
    bad = rows + [(400, 500, "invoke", "read", None, "k"), (401, 500, "ok", "read", 2, "k"),
                  (402, 501, "invoke", "read", None, "k"), (403, 501, "ok", "read", 1, "k")]
    native, python = both("register", rows_to_history(bad), timeout=60)
    assert native["valid"] is python["valid"] is False
    assert_agree("register", rows_to_history(bad), native, python)


def test_many_segments_chain():
    """A long run of short bursts, cut into many segments, with an impossible read at the
    end: the search must carry every possible end state across the cuts."""
    rows: list[tuple] = []
    for burst in range(60):
        rows += concurrent_writes_then_read(3, None, t0=burst * 100)[:-2]
    rows += [(60 * 100, 99, "invoke", "read", None, None), (60 * 100 + 1, 99, "ok", "read", 7,
                                                             None)]
    for read, expected in ((2, True), (7, False)):
        rows[-1] = (60 * 100 + 1, 99, "ok", "read", read, None)
        native, python = both("register", rows_to_history(rows), timeout=60)
        assert native["valid"] is python["valid"] is expected


def test_identical_ops_of_unknown_outcome_are_not_permuted():
    """Twenty timed-out writes of 1 and reads that saw 1 and then nothing new: valid, and
    checked quickly only because the identical writes are tried one way, not 20! ways."""
    rows = [(p, p, "invoke", "write", 1, None) for p in range(20)]
    rows += [(100 + p, 30 + p, "invoke", "read", None, None) for p in range(10)]
    rows += [(200 + p, 30 + p, "ok", "read", 1, None) for p in range(10)]
    native, python = both("register", rows_to_history(rows), timeout=20)
    assert native["valid"] is python["valid"] is True


def test_a_deadline_inside_the_c_search_gives_unknown():
    """22 concurrent writes and an impossible read: millions of nodes, so the C search itself
    meets the deadline (not the check before it starts)."""
    h = rows_to_history(concurrent_writes_then_read(22, 99))
    r = LinearizabilityChecker("register", timeout=0.2).check(h)
    assert r["valid"] == "unknown"
    assert "timed out while searching" in r["unknown"][0]["reason"]


class Flaky(Model):
    """A user's model whose step fails on one state: the C search must pass the error on."""

    name = "flaky"

    def init(self) -> Any:
        return 0

    def step(self, state: Any, op: Any) -> tuple[bool, Any]:
        if state == 2:
            raise RuntimeError("state 2 is not implemented")
        return True, state + 1


def test_a_models_error_during_the_c_search_gives_unknown_not_a_crash():
    rows = [(p, p, "invoke", "incr", None, None) for p in range(4)]
    rows += [(10 + p, p, "ok", "incr", None, None) for p in range(4)]
    r = LinearizabilityChecker(Flaky()).check(rows_to_history(rows))
    assert r["valid"] == "unknown"
    assert "RuntimeError: state 2 is not implemented" in r["unknown"][0]["reason"]


class Unhashable(Model):
    """States that are lists: the C search cannot number them, search.py takes over."""

    name = "unhashable"

    def init(self) -> Any:
        return []

    def step(self, state: Any, op: Any) -> tuple[bool, Any]:
        return True, state + [op.invoke_value]


def test_unhashable_states_fall_back_to_search_py():
    rows = [(0, 0, "invoke", "add", 1, None), (1, 0, "ok", "add", 1, None),
            (0, 1, "invoke", "add", 2, None), (2, 1, "ok", "add", 2, None)]
    # search.py hashes states in its memo too: an unknown that names the problem, not a crash
    r = LinearizabilityChecker(Unhashable()).check(rows_to_history(rows))
    assert r["valid"] == "unknown"
    assert "unhashable type: 'list'" in r["unknown"][0]["reason"]


class UnhashableWrites(Unhashable):
    """A hashable initial state, but compiled steps that hold lists."""

    def init(self) -> Any:
        return ()

    def compile_steps(self, ops: list) -> list:
        return [Become([op.invoke_value]) for op in ops]


def test_a_step_naming_an_unhashable_state_leaves_the_partition_to_search_py():
    rows = [(0, 0, "invoke", "write", 1, None), (1, 0, "ok", "write", 1, None),
            (0, 1, "invoke", "write", 2, None), (2, 1, "ok", "write", 2, None)]
    ops = rows_to_history(rows).operations()
    model = UnhashableWrites()
    searched, starts, ends, _, settled = effective(model, ops)
    assert kernel.search(NATIVE, model, searched, starts, ends, settled, None) is None
    r = LinearizabilityChecker(model).check(rows_to_history(rows))
    assert r["valid"] == "unknown" and "unhashable type: 'list'" in r["unknown"][0]["reason"]


def test_a_search_that_outgrows_its_memory_budget_gives_unknown():
    """Without a timeout, a hopeless history must end as unknown, not as a process the kernel
    killed for want of memory (the C search fills gigabytes in minutes)."""
    h = rows_to_history(concurrent_writes_then_read(22, 99))
    budget = kernel._budget
    kernel._budget = 4 * 2**20
    try:
        r = LinearizabilityChecker("register").check(h)
    finally:
        kernel._budget = budget
    assert r["valid"] == "unknown"
    assert "outgrew its memory budget (0.0 GiB" in r["unknown"][0]["reason"]


def test_the_memory_budget_is_half_the_machine_unless_configured(monkeypatch):
    monkeypatch.setenv("SPLITBRAIN_SEARCH_MEMORY_GIB", "1.5")
    assert kernel.memory_budget() == 1.5 * 2**30
    monkeypatch.delenv("SPLITBRAIN_SEARCH_MEMORY_GIB")
    assert kernel.memory_budget() == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2
