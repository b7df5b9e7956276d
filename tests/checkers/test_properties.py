"""Property tests: the checker against sequential executions and against brute force.

Histories are made by running a model sequentially (each op takes effect at its own instant),
then widening every op's interval around that instant: such a history is linearizable by
construction. Swapping two ops' intervals afterwards may break it; then a brute-force search over
every order (and every subset of ops of unknown outcome) is the judge.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkers.history import Event, History
from checkers.linearizable import LinearizabilityChecker
from checkers.models import ILLEGAL, Branches
from checkers.registry import get_model

VALUES = [1, 2, 3]
KEYS = ["a", "b"]


# --- sequential executors: (draw an op, run it) per model ---------------------------------------
# run(state, f, key, value) -> (possible, result, new state); state is a plain dict/list/int.

def _reg_gen(draw, cas: bool) -> tuple:
    f = draw(st.sampled_from(["read", "write", "cas"] if cas else ["read", "write"]))
    key = draw(st.sampled_from(KEYS))
    if f == "read":
        return f, key, None
    if f == "write":
        return f, key, draw(st.sampled_from(VALUES))
    return f, key, [draw(st.sampled_from([None] + VALUES)), draw(st.sampled_from(VALUES))]


def _reg_run(state: dict, f: str, key: Any, value: Any) -> tuple:
    cur = state.get(key)
    if f == "read":
        return True, cur, state
    if f == "write":
        return True, value, {**state, key: value}
    if cur != value[0]:
        return False, value, state  # a cas that does not apply is reported as failed
    return True, value, {**state, key: value[1]}


def _kv_gen(draw) -> tuple:
    f = draw(st.sampled_from(["get", "put", "append"]))
    key = draw(st.sampled_from(KEYS))
    return f, key, None if f == "get" else draw(st.sampled_from(["x", "y"]))


def _kv_run(state: dict, f: str, key: Any, value: Any) -> tuple:
    cur = state.get(key, "")
    if f == "get":
        return True, cur, state
    return True, value, {**state, key: value if f == "put" else cur + value}


def _multi_gen(draw) -> tuple:
    n = draw(st.integers(1, 2))
    micro = [[draw(st.sampled_from(["r", "w"])), draw(st.sampled_from(KEYS)),
              draw(st.sampled_from(VALUES))] for _ in range(n)]
    return "txn", None, [[m[0], m[1], None if m[0] == "r" else m[2]] for m in micro]


def _multi_run(state: dict, f: str, key: Any, value: Any) -> tuple:
    state = dict(state)
    out = []
    for mf, k, v in value:
        if mf == "r":
            out.append([mf, k, state.get(k)])
        else:
            state[k] = v
            out.append([mf, k, v])
    return True, out, state


def _mutex_gen(draw) -> tuple:
    return draw(st.sampled_from(["acquire", "release"])), None, None


def _mutex_run(state: bool, f: str, key: Any, value: Any) -> tuple:
    if f == "acquire":
        return (not state), None, True if not state else state
    return bool(state), None, False if state else state


def _queue_gen(draw) -> tuple:
    f = draw(st.sampled_from(["enqueue", "dequeue"]))
    return f, None, draw(st.sampled_from(VALUES)) if f == "enqueue" else None


def _fifo_run(state: list, f: str, key: Any, value: Any) -> tuple:
    if f == "enqueue":
        return True, value, state + [value]
    return (True, None, state) if not state else (True, state[0], state[1:])


def _set_gen(draw) -> tuple:
    f = draw(st.sampled_from(["add", "read"]))
    return f, None, draw(st.sampled_from(VALUES)) if f == "add" else None


def _set_run(state: frozenset, f: str, key: Any, value: Any) -> tuple:
    if f == "add":
        return True, value, state | {value}
    return True, sorted(state), state


def _counter_gen(draw) -> tuple:
    f = draw(st.sampled_from(["add", "read"]))
    return f, None, draw(st.sampled_from([1, 2])) if f == "add" else None


def _counter_run(state: int, f: str, key: Any, value: Any) -> tuple:
    if f == "add":
        return True, value, state + value
    return True, state, state


EXECUTORS: dict[str, tuple[Callable, Callable, Any]] = {
    "register": (lambda d: _reg_gen(d, False), _reg_run, {}),
    "cas-register": (lambda d: _reg_gen(d, True), _reg_run, {}),
    "kv": (_kv_gen, _kv_run, {}),
    "multi-register": (_multi_gen, _multi_run, {}),
    "mutex": (_mutex_gen, _mutex_run, False),
    "fifo-queue": (_queue_gen, _fifo_run, []),
    "unordered-queue": (_queue_gen, _fifo_run, []),  # a FIFO execution is a valid unordered one
    "set": (_set_gen, _set_run, frozenset()),
    "counter": (_counter_gen, _counter_run, 0),
}


@st.composite
def sequential_history(draw, model: str, max_ops: int = 8, corrupt: bool = False) -> History:
    """A history whose ops took effect one after another at instants 100, 200, ...; intervals
    widened at random around those instants; some outcomes unknown (info)."""
    gen, run, state = EXECUTORS[model]
    n = draw(st.integers(1, max_ops))
    rows = []
    for i in range(n):
        f, key, value = gen(draw)
        outcome = draw(st.sampled_from(["ok", "ok", "ok", "info", "info-not-applied"]))
        possible, result, new_state = run(state, f, key, value)
        if outcome == "info-not-applied" or not possible:
            kind = "info" if outcome.startswith("info") and possible else "fail"
            if not possible and outcome == "info":
                kind = "info"  # it could not have applied: an info op may just never happen
            rows.append([i, f, key, value, value, kind])
            continue
        state = new_state
        rows.append([i, f, key, value, result, "info" if outcome == "info" else "ok"])
    t = {}
    for i, row in enumerate(rows):
        instant = 100 * (i + 1)
        t[i] = (instant - draw(st.integers(0, 150)), instant + draw(st.integers(0, 150)))
    if corrupt and n >= 2:
        a = draw(st.integers(0, n - 1))
        b = draw(st.integers(0, n - 1))
        t[a], t[b] = t[b], t[a]
    events = []
    for i, (proc, f, key, value, result, kind) in enumerate(rows):
        start, end = t[i]
        events.append((start, 0, proc, "invoke", f, value, key))
        if not (kind == "info" and draw(st.booleans())):  # sometimes the completion is lost
            events.append((end, 1, proc, kind, f, result if kind == "ok" else value, key))
    events.sort(key=lambda e: (e[0], e[1]))
    return History([Event(i, e[0], e[2], e[3], e[4], e[5], e[6]) for i, e in enumerate(events)])


def brute_force(model_name: str, history: History, split_keys: bool = False) -> bool:
    """Try every real-time-respecting order of the ok ops, with any subset of the info ops;
    per key when split_keys (a register model holds one value, so keys are separate objects)."""
    model = get_model(model_name)
    ops = [op for op in history.operations() if op.type != "fail"]
    if split_keys and ops:
        return all(_brute_force(model, part) for part in model.partition(ops))
    return _brute_force(model, ops)


def _brute_force(model: Any, ops: list) -> bool:
    required = frozenset(i for i, op in enumerate(ops) if op.type == "ok")

    @lru_cache(maxsize=None)
    def search(remaining: frozenset, state: Any) -> bool:
        if not (remaining & required):
            return True
        for i in remaining:
            op = ops[i]
            if any(ops[j].end < op.start for j in remaining if j != i):
                continue  # some op still to place returned before this one was invoked
            legal, new = model.step(state, op)
            if not legal:
                continue
            for s in (new if type(new) is Branches else (new,)):
                if search(remaining - {i}, s):
                    return True
        return False

    return search(frozenset(range(len(ops))), model.init())


MODELS = list(EXECUTORS)
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _for_each_model(test):
    import pytest
    return pytest.mark.parametrize("model", MODELS)(test)


@_for_each_model
@FAST
@given(data=st.data())
def test_widened_sequential_histories_are_linearizable(model, data):
    h = data.draw(sequential_history(model, max_ops=10))
    result = LinearizabilityChecker(model).check(h)
    assert result["valid"] is True, result["failures"]


@_for_each_model
@FAST
@given(data=st.data())
def test_agrees_with_brute_force(model, data):
    h = data.draw(sequential_history(model, max_ops=8, corrupt=data.draw(st.booleans())))
    for split_keys in (True, False):
        expected = brute_force(model, h, split_keys)
        got = LinearizabilityChecker(model, split_keys=split_keys).check(h)["valid"]
        assert got is expected, (split_keys, [e.to_dict() for e in h.events])


def test_brute_force_is_a_real_judge():
    # the oracle itself must be able to say no
    h = History([Event(0, 0, 0, "invoke", "write", 1), Event(1, 1, 0, "ok", "write", 1),
                 Event(2, 2, 1, "invoke", "read", None), Event(3, 3, 1, "ok", "read", 2)])
    assert brute_force("register", h) is False
    assert math.isinf(h.operations()[0].end) is False


def _drawn_ops(model: str, data: Any) -> tuple[Any, list]:
    """The model and the ops (failed ones dropped) of a drawn sequential history."""
    h = data.draw(sequential_history(model, max_ops=8))
    return get_model(model), [op for op in h.operations() if op.type != "fail"]


def _reachable_states(model: Any, ops: list) -> list:
    """The initial state and every state the model's plain step reaches along `ops` in order
    (skipping the illegal ones), so hook tests see realistic states."""
    states = [model.init()]
    state = model.init()
    for op in ops:
        legal, new = model.step(state, op)
        if legal and type(new) is not Branches:
            state = new
            states.append(state)
    return states


@_for_each_model
@FAST
@given(data=st.data())
def test_compiled_steps_agree_with_step(model, data):
    # the search runs compiled steps, the sequential shortcut and the evidence run `step`
    m, ops = _drawn_ops(model, data)
    for op in ops:
        step = m.compile_step(op)
        for state in _reachable_states(m, ops):
            legal, new = m.step(state, op)
            compiled = step(state)
            assert (compiled is not ILLEGAL) == legal, (op, state)
            if legal:
                assert compiled == new, (op, state)


@_for_each_model
@FAST
@given(data=st.data())
def test_required_states_are_exact(model, data):
    # an op listed by required_states is offered by the search only in that state: it must be
    # legal there and nowhere else
    m, ops = _drawn_ops(model, data)
    required_of = getattr(m, "required_states", None)
    if required_of is None:
        return
    for part in m.partition(ops) if ops else []:
        required = required_of(part)
        for i, want in required.items():
            for state in _reachable_states(m, part) + [want]:
                assert m.step(state, part[i])[0] == (state == want), (part[i], state, want)
