"""The shortcut for a sub-history with no concurrency at all.

When every op returned before the next one was invoked (one client, or clients taking turns),
real time allows exactly one order, so the sub-history is linearizable iff replaying it through
the model succeeds: no bitsets, memo or search needed. Most per-key sub-histories of a lightly
loaded test look like this, and for them the search's set-up would cost more than the check.
A failed replay is the evidence too: the ops before the refused one are the longest
linearizable prefix, and the refused op is the only one that could come next.
"""

from __future__ import annotations

import math
from typing import Any

from checkers.history import Operation
from checkers.models import Branches


def replay(model: Any, ops: list[Operation]) -> tuple[bool, int, Any] | None:
    """None unless `ops` (in invocation order) are totally ordered in real time and all
    completed ok. Otherwise (legal, how many ops the model accepted in that order, the state
    after them): when not legal, ops[count] is the op the model refused in that state."""
    previous_end: Any = -math.inf  # Any: compiled, a float would round int ns times
    for op in ops:
        if op.type != "ok" or op.start <= previous_end:
            return None
        previous_end = op.end
    step = model.step
    state = model.init()
    for count, op in enumerate(ops):
        legal, new = step(state, op)
        if type(new) is Branches:
            return None  # the search handles several possible outcomes
        if not legal:
            return False, count, state
        state = new
    return True, len(ops), state
