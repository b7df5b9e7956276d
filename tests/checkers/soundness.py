"""What any evidence of a failed linearizability check must satisfy, whichever search found it.

The deepest point a search reaches depends on its order and pruning (search.py and the C search
differ in the look-ahead guards), so two searches may report different prefixes. Each must still
say something true about the history, which is what this checks.
"""

from __future__ import annotations

from typing import Any

from checkers.history import Operation
from checkers.models import Branches, thaw


def assert_sound_failure(model: Any, ops: list[Operation], failure: dict) -> None:
    """`failure` (one entry of a result's "failures") is true of `ops`, the partition's ops
    (failed ones left out): its linearized ops, in
    that order, are legal for the model and agree with real time; every ok op that returned
    before one of them was invoked is among them; the state shown is the one they leave; and
    the unplaceable ops are pending ops, not linearized ones."""
    by_id = {op.id: op for op in ops}
    path = [by_id[i] for i in failure["linearized"]]
    # the states the prefix may leave (several when a step has several outcomes, Branches)
    possible = [model.init()]
    for op in path:
        after = []
        for state in possible:
            legal, new = model.step(state, op)
            if legal:
                after.extend(new if type(new) is Branches else [new])
        assert after, f"op {op.id} is illegal at its place in the linearized prefix"
        possible = after
    for x, earlier in enumerate(path):
        for later in path[x + 1:]:
            assert not later.end < earlier.start, (
                f"op {later.id} returned before op {earlier.id} was invoked, but follows it")
    done = {op.id for op in path}
    if path:
        latest_start = max(op.start for op in path)
        for op in ops:
            if op.type == "ok" and op.id not in done:
                assert not op.end < latest_start, (
                    f"op {op.id} had to precede the prefix but is not in it")
    if len(possible) == 1:
        assert failure["state"] == thaw(possible[0])
    assert failure["unplaceable"], "no unplaceable op named"
    assert not set(failure["unplaceable"]) & done
    assert set(failure["unplaceable"]) <= set(by_id)
