"""One partition searched by the native search (_wgl.c): search.py's algorithm in C.

The C code works on state numbers, kept in a dict and a list (`_States`) that both sides share.
kernel.py compiles the model's steps and numbers the initial state; the C code turns each
compiled step into an instruction by its type. The model's Expect, Become, Swap and AppendText
steps (see models.py) run in C; any other step is a CALL: the C code calls the model's own step
function once per (op, state) pair and remembers the answer (several outcomes, Branches, come
back through `_States.transit`). So every model works here; the common shapes are simply
faster.

What differs from search.py: the C search does not use the model's look-ahead guards (which are
Python functions); being fast enough without them, it may visit more nodes and so, on a failing
partition, report a different (equally sound) deepest point. Past its memory budget it stops and
the partition is unknown (SearchTooBig).

`native()` says whether this module can run: only with the compiled core (checkers/native.py),
only when _wgl was built, and not when SPLITBRAIN_PYTHON_SEARCH=1 asks for search.py instead
(to compare the two, or to rule the C code out when a verdict is in doubt).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Final

from checkers.history import Operation
from checkers.linearizable.partition import MIN_SEGMENT, twin_signature
from checkers.linearizable.search import SearchTimeout
from checkers.models import (ILLEGAL, UNOBSERVABLE, AppendText, Become, Branches, Expect, Swap,
                             compiled_steps)

_OPTIONAL: Final = 1  # _wgl's flag for an op of unknown outcome (Final: a compiled constant)
# the step types _wgl runs itself, in the order it expects them
_KINDS: Final = (Expect, Become, Swap, AppendText)

def _load() -> Any:
    from checkers import native as core
    if core.core()[0] != "compiled" or os.environ.get("SPLITBRAIN_PYTHON_SEARCH") == "1":
        return None
    try:
        from checkers.linearizable import _wgl  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _wgl


class SearchTooBig(Exception):
    """The C search outgrew its memory budget (see memory_budget): the partition is unknown,
    rather than the machine's memory exhausted and the process killed."""


def memory_budget() -> float:
    """Bytes one search may hold: SPLITBRAIN_SEARCH_MEMORY_GIB, or half the machine's memory.
    The C search grows its memo at millions of nodes a second, so without a --timeout a
    hopeless history would otherwise run the machine out of memory in minutes."""
    configured = os.environ.get("SPLITBRAIN_SEARCH_MEMORY_GIB")
    if configured:
        try:
            return float(configured) * 2**30
        except ValueError:
            pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2
    except (ValueError, OSError):
        return -1.0  # unknown: no limit


_budget: float = memory_budget()

# loaded with the package, not by the first check: a check's time is the search's, not dlopen's
_module: Any = _load()


def native() -> Any:
    """The _wgl extension module, or None when the native search is not to be used."""
    return _module


@dataclass(slots=True)
class Outcome:
    """What the native search found: `linearizable` True / False; for False, the deepest dead
    end's linearized ops, its state, the ops that could have come next and the first due."""

    linearizable: bool
    path: list[Operation]
    state: Any
    unplaceable: list[Operation]
    first_due: Operation | None
    nodes: int


class _States:
    """The states met so far, numbered in order (the C search knows only the numbers). A class,
    not a closure: compiled, a closure and its environment form a reference cycle that would
    keep every state and step alive until the next garbage collection."""

    __slots__ = ("ids", "states", "steps")

    def __init__(self, steps: list[Any]) -> None:
        self.ids: dict[Any, int] = {}
        self.states: list[Any] = []
        self.steps = steps

    def number(self, state: Any) -> int:
        sid = self.ids.get(state)
        if sid is None:
            sid = len(self.states)
            self.ids[state] = sid
            self.states.append(state)
        return sid

    def transit(self, i: int, sid: int) -> tuple[int, ...]:
        """The several outcomes of op i from state sid (a Branches step), numbered."""
        return tuple([self.number(s) for s in self.steps[i](self.states[sid])])


def search(module: Any, model: Any, ops: list[Operation], starts: list[Any], ends: list[Any],
           settled: bool, deadline: float | None) -> Outcome | None:
    """Search one partition whose ops are in invocation order with effective ends (see
    partition.effective; `settled`: every op ended ok). None when a state is not hashable (the
    Python search copes with that); raises SearchTimeout at the deadline."""
    steps = compiled_steps(model, ops)
    if type(steps) is not list:  # the C code indexes a list
        steps = list(steps)
    known = _States(steps)
    try:
        init = known.number(model.init())
    except TypeError:  # an unhashable state
        return None
    n = len(ops)
    optional: list[int] | None = None
    twin_prev: list[int] | None = None
    if not settled:
        optional = [0] * n
        twin_prev = [-1] * n
        last_twin: dict[Any, int] = {}
        for i in range(n):
            op = ops[i]
            if op.type != "ok":
                optional[i] = _OPTIONAL
                # identical ops of unknown outcome: the search tries only the earliest pending
                sig = twin_signature(op, ends[i])
                if sig is not None:
                    twin_prev[i] = last_twin.get(sig, -1)
                    last_twin[sig] = i
    states = known.states
    verdict, path, sid, unplaceable, first_due, nodes = module.search(
        steps, _KINDS, ops, getattr(model, "read_fs", ()), optional, twin_prev, starts, ends,
        init, states, known.ids, ILLEGAL, Branches, known.transit, UNOBSERVABLE,
        deadline if deadline is None else float(deadline), MIN_SEGMENT, _budget)
    if verdict == -3:  # a step names an unhashable state
        return None
    if verdict == -1:
        raise SearchTimeout()
    if verdict == -2:
        raise SearchTooBig(f"the search outgrew its memory budget ({_budget / 2**30:.1f} "
                           f"GiB, SPLITBRAIN_SEARCH_MEMORY_GIB) on {n} ops after {nodes:,} nodes")
    if verdict:
        return Outcome(True, [], None, [], None, nodes)
    return Outcome(False, [ops[i] for i in path], states[sid] if sid >= 0 else states[init],
                   [ops[i] for i in unplaceable], ops[first_due] if first_due >= 0 else None,
                   nodes)
