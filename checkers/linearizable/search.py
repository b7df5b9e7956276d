"""The search for a linearization: Wing & Gong's depth-first search with Lowe's memoization.

A search node is (the set of ops already done, as an int bitset; the model state). From a node,
the ops that may come next are those invoked before the earliest return among the ops not yet
done (anything invoked later must follow that op in real time). An op of unknown outcome whose
(effective) return is that earliest one may instead be left out. A node seen before is never
expanded twice: its future depends on nothing else. This is the algorithm of Knossos' wgl and
Porcupine, run per segment (see partition.py): a segment's search yields every distinct state
it can end in, lazily, and the next segment starts from each in turn until one succeeds.

The search records the deepest node it reached (most ops done) for the evidence.
"""

from __future__ import annotations

import time
from typing import Any, Final, Generator

from checkers.linearizable.partition import GUARD_AFTER_STEPS_PER_OP, Prepared, Segment
from checkers.models import ILLEGAL, Branches

CHECK_EVERY: Final = 2048  # nodes between two looks at the clock
NOT_FINAL: Final[Any] = object()


class SearchTimeout(Exception):
    """The deadline passed before the search finished."""


class Deepest:
    """The deepest node reached: done count, segment, done bitset, state, path of op ids."""

    __slots__ = ("done", "segment", "bits", "state", "path")

    def __init__(self) -> None:
        self.done = -1
        self.segment = 0
        self.bits = 0
        self.state: Any = None
        self.path: Any = None  # cons list (op id, parent) of linearized ops, newest first

    def linearized(self) -> list[int]:
        out = []
        node = self.path
        while node is not None:
            out.append(node[0])
            node = node[1]
        out.reverse()
        return out


def search(prep: Prepared, init: Any, deadline: float | None = None,
           deepest: Deepest | None = None) -> bool:
    """True when the partition has a linearization. Raises SearchTimeout at the deadline."""
    segments = prep.segments
    if not segments:
        return True
    if deepest is None:
        deepest = Deepest()
    caches: list[set] = [set() for _ in segments]
    clock = _Clock(deadline)
    stack: list[Generator[tuple[Any, Any], None, None]] = [
        _segment_search(segments[0], 0, init, None, caches[0], deepest, clock)]
    n = len(segments)
    try:
        while stack:
            try:
                state, path = next(stack[-1])
            except StopIteration:
                stack.pop()
                continue
            depth = len(stack)
            if depth == n:
                return True
            stack.append(_segment_search(segments[depth], depth, state, path, caches[depth],
                                         deepest, clock))
        return False
    finally:
        # Compiled, a generator's closures and their environment form a reference cycle that
        # only the cyclic GC (paused during a check) would free: release the memo and the
        # per-entry sets now rather than with the next collection.
        for generator in stack:
            generator.close()
        for cache in caches:
            cache.clear()


class _Clock:
    __slots__ = ("deadline", "ticks")

    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline
        self.ticks = 0

    def check(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise SearchTimeout()


def _segment_search(seg: Segment, index: int, state0: Any, path0: Any, cache: set,
                    deepest: Deepest, clock: _Clock) -> Generator[tuple[Any, Any], None, None]:
    """Yield (end state, path) for every distinct state the segment can end in from state0."""
    steps = seg.steps
    by_end = seg.by_end
    reach = seg.reach
    optional = seg.optional
    ops = seg.ops
    nfin = len(by_end)
    base = seg.base
    guards: list[Any] = seg.guards or []
    guarded = seg.guarded
    # the look-ahead guards are built only once this search proves not to be short
    guards_due = len(ops) * GUARD_AFTER_STEPS_PER_OP if seg.guards_of is not None else 0
    pure = seg.pure
    twins = seg.twins
    twinned = seg.twinned
    needs = seg.needs
    free = seg.free
    sure = pure & ~free  # reads legal in exactly one state: no step call needed to know
    must = ~optional  # ops that did happen are tried before ops that may not have
    check_every = CHECK_EVERY if clock.deadline is not None else 1 << 62

    failed: set = set()  # nodes whose every continuation failed

    def dead_end(bits: int, state: Any, path: Any) -> None:
        """Every node deeper than all before it ends as a dead end (or in success), so the
        deepest node is recorded only here, not on every step forward."""
        failed.add((bits, state))
        done = base + bits.bit_count()
        if done > deepest.done:
            deepest.done, deepest.segment, deepest.bits = done, index, bits
            deepest.state, deepest.path = state, path

    # A frame is [done bits, state, candidates left, op to leave out or -1, next by_end pos, path]
    frames: list[list[Any]] = []

    def open_frame(bits: int, state: Any, pos: int, path: Any) -> Any:
        """Push the frame of a new node, unless it is a dead end. Returns the path when every
        op with an end is done (the segment ends there), else NOT_FINAL."""
        # An op of unknown outcome may always be left out, so a node with one such op still
        # pending can do all that the same node with it done can: when that one failed, this
        # one fails too (typically: an info write applied, then overwritten).
        done_optional = bits & optional
        while done_optional:
            low = done_optional & -done_optional
            done_optional ^= low
            if (bits ^ low, state) in failed:
                failed.add((bits, state))
                return NOT_FINAL
        while True:
            while pos < nfin and (bits >> by_end[pos]) & 1:
                pos += 1
            if pos == nfin:
                return path
            r = by_end[pos]
            window = ((1 << reach[r]) - 1) & ~bits
            cand = window if needs is None else window & (free | needs.get(state, 0))
            # An op that never changes the state (a read) and is legal now may as well be
            # linearized now: moving it forward breaks no real-time order, so no other order
            # of it needs trying. This collapses the 2^k orders of k concurrent reads.
            eager = cand & pure
            if not eager:
                break
            taken = bits
            while eager:
                low = eager & -eager
                eager ^= low
                i = low.bit_length() - 1
                if low & sure or steps[i](state) is not ILLEGAL:
                    bits |= low
                    path = (ops[i].id, path)
            if bits == taken:
                break
            k = (bits, state)
            if k in cache:
                return NOT_FINAL
            cache.add(k)
        # Of identical pending ops, only the earliest needs trying.
        twin = cand & twinned
        while twin:
            low = twin & -twin
            twin ^= low
            if twins[low.bit_length() - 1] & ~bits:
                cand ^= low
        # Look ahead: an observing op that may come soon but can no longer succeed, with no
        # op left that could help it, makes this node a dead end.
        watch = window & guarded
        while watch:
            low = watch & -watch
            watch ^= low
            test, enablers = guards[low.bit_length() - 1]
            if not (enablers & ~bits) and not test(state):
                dead_end(bits, state, path)
                return NOT_FINAL
        frames.append([bits, state, cand, r if (optional >> r) & 1 else -1, pos, path])
        return NOT_FINAL

    try:
        key = (0, state0)
        if key in cache:
            return
        cache.add(key)
        final = open_frame(0, state0, 0, path0)
        if final is not NOT_FINAL:
            yield state0, final
            return
        ticks = 0
        while frames:
            frame = frames[-1]
            cand = frame[2]
            if cand:
                low = cand & must or cand
                low &= -low
                frame[2] = cand ^ low
                ticks += 1
                if ticks >= check_every:
                    ticks = 0
                    clock.check()
                if guards_due:
                    guards_due -= 1
                    if not guards_due:
                        seg.build_guards()
                        guards = seg.guards or []
                        guarded = seg.guarded
                i = low.bit_length() - 1
                new = steps[i](frame[1])
                if new is ILLEGAL:
                    continue
                bits = frame[0] | low
                if type(new) is Branches:
                    for branch in new:
                        k = (bits, branch)
                        if k not in cache:
                            cache.add(k)
                            final = open_frame(bits, branch, frame[4], (ops[i].id, frame[5]))
                            if final is not NOT_FINAL:
                                yield branch, final
                    continue
                k = (bits, new)
                if k in cache:
                    continue
                cache.add(k)
                final = open_frame(bits, new, frame[4], (ops[i].id, frame[5]))
                if final is not NOT_FINAL:
                    yield new, final
            elif frame[3] >= 0:
                # every candidate failed: the pending op of unknown outcome never took effect
                bits = frame[0] | (1 << frame[3])
                frame[3] = -1
                k = (bits, frame[1])
                if k in cache:
                    continue
                cache.add(k)
                final = open_frame(bits, frame[1], frame[4], frame[5])
                if final is not NOT_FINAL:
                    yield frame[1], final
            else:
                frames.pop()
                dead_end(frame[0], frame[1], frame[5])
    finally:
        failed.clear()
        frames.clear()
