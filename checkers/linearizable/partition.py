"""Turning one history into small independent search problems.

Three reductions, each sound on its own:

1. P-compositionality: a history is linearizable iff each independent object's sub-history is
   (the model's `partition`, by default one per key).
2. Irrelevant info ops: an op of unknown outcome may take effect at any time after its
   invocation, or never. The model's `info_deadlines` says when its effect stops mattering (an
   info read never matters); after that deadline "it happened later" and "it never happened" are
   the same, so the op gets that deadline as its end, and is dropped when it can never matter.
3. Cuts: where no op is in flight, every earlier op precedes every later one in real time, so
   the sub-history splits into segments searched one after another. Bitsets stay as small as a
   segment, and the memo of one segment is shared by every state the previous one can end in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Final

from checkers.history import Operation
from checkers.models import compiled_steps, freeze


# Segments shorter than this are merged with the next: a cut saves little on a handful of ops,
# and every segment costs a generator, a memo and its bookkeeping.
MIN_SEGMENT: Final = 24
# Below this many ops a segment's search is short whatever the order; building the guards would
# cost more than the orders they cut off (measured on Porcupine's kv and etcd histories).
GUARD_MIN_OPS: Final = 16
# Guards are built once a segment's search has tried this many steps per op (see build_guards).
GUARD_AFTER_STEPS_PER_OP: Final = 4


@dataclass(slots=True)
class Segment:
    """Ops that overlap in time, numbered by invocation order (bit i = ops[i]).

    `by_end` lists the ops with a finite end, earliest end first; ops 0 .. `reach[i]` - 1 are those
    invoked no later than op i returned (they may be linearized while i is pending);
    `optional` marks ops of unknown outcome, which may be left out.
    """

    base: int  # how many ops of the partition precede this segment
    ops: list[Operation]
    steps: list[Callable[[Any], Any]]
    by_end: list[int]
    reach: list[int]
    optional: int
    pure: int  # mask of the ops that never change the state (the model's read_fs, ok)
    twins: list[int]  # per op: mask of earlier ops identical to it (same f, values, type, end)
    twinned: int  # mask of the ops that have an earlier twin
    needs: dict[Any, int] | None  # state -> mask of the ops legal exactly in it (see models.py)
    free: int  # mask of the ops without such a single state (every op when needs is None)
    starts: list[Any]
    ends: list[Any]  # effective ends (an info op's deadline, or inf)
    guards_of: Any  # the model's guards hook, until build_guards() has used it
    guards: list[Any] | None = None  # per op: (test(state), mask of enablers) or None
    guarded: int = 0  # mask of the ops with a guard

    def build_guards(self) -> None:
        """The model's look-ahead tests (see models.py), built once a search of this segment
        turns out not to be short: on the small segments most histories consist of, building
        them costs more than the orders they cut off."""
        guards_of = self.guards_of
        self.guards_of = None
        n = len(self.ops)
        guards: list[Any] = [None] * n
        guarded = 0
        if guards_of is not None:
            starts, ends, optional, inf = self.starts, self.ends, self.optional, math.inf
            for i, g in enumerate(guards_of(self.ops)):
                if g is None or (optional >> i) & 1 or ends[i] == inf:
                    continue
                test, enablers = g
                mask = 0
                for j in enablers:
                    if starts[j] <= ends[i]:  # only an op invoked before i returned can precede
                        mask |= 1 << j
                guards[i] = (test, mask)
                guarded |= 1 << i
        self.guards = guards
        self.guarded = guarded


@dataclass(slots=True)
class Prepared:
    """One partition ready for the search."""

    key: Any
    ops: list[Operation]  # the ops searched, by invocation
    segments: list[Segment]
    dropped_info: int = 0


def split(model: Any, ops: list[Operation], split_keys: bool) -> list[list[Operation]]:
    """Failed ops dropped (they certainly did not happen), then the independent partitions."""
    live = [op for op in ops if op.type != "fail"]
    if not live:
        return []
    if not split_keys:
        return [live]
    partition = getattr(model, "partition", None)
    if partition is None:
        return [live]
    return [p for p in partition(live) if p]


def partition_key(ops: list[Operation]) -> Any:
    """The key all ops share, or None."""
    first = ops[0].key if ops else None
    for op in ops:
        if op.key is not first and op.key != first:
            return None
    return first


def effective(model: Any, ops: list[Operation]) -> tuple[list[Operation], list[Any], list[Any],
                                                         int, bool]:
    """(ops in invocation order, their starts, their effective ends, how many info ops were
    dropped, whether every op ended ok): an info op ends at its deadline (see info_deadlines),
    or never (inf)."""
    # One pass over the ops' fields: attribute reads are the main cost on small partitions.
    n = len(ops)
    starts: list[Any] = [None] * n
    ends: list[Any] = [None] * n
    ordered = True
    settled = True  # every op ended ok
    previous_start: Any = None
    for i in range(n):
        op = ops[i]
        start = op.start
        starts[i] = start
        ends[i] = op.end
        if op.type != "ok":
            settled = False
        # invocation order is by start, then invoke index: only ties need the indexes
        if i and start <= previous_start and (
                start < previous_start or op.invoke_index < ops[i - 1].invoke_index):
            ordered = False
        previous_start = start
    dropped = 0
    if not settled:
        deadlines_of = getattr(model, "info_deadlines", None)
        deadlines: dict[int, Any] = deadlines_of(ops) if deadlines_of is not None else {}
        keep: list[int] = []
        for i in range(n):
            op = ops[i]
            if op.type == "info":
                end = deadlines.get(op.id, math.inf)
                if end < starts[i]:
                    dropped += 1
                    continue
                ends[i] = end
            keep.append(i)
        if dropped:
            ops = [ops[i] for i in keep]
            starts = [starts[i] for i in keep]
            ends = [ends[i] for i in keep]
    if not ordered:
        order = sorted(range(len(ops)), key=lambda i: (starts[i], ops[i].invoke_index))
        ops = [ops[i] for i in order]
        starts = [starts[i] for i in order]
        ends = [ends[i] for i in order]
    return ops, starts, ends, dropped, settled


def prepare(model: Any, ops: list[Operation]) -> Prepared:
    """Effective ends, irrelevant info ops dropped, segments cut where nothing is in flight."""
    ops, starts, ends, dropped, _ = effective(model, ops)
    # compiled over the whole partition: a model may look at every op (see compile_steps)
    steps = compiled_steps(model, ops)
    required_of = getattr(model, "required_states", None)
    required = required_of(ops) if required_of is not None else None
    read_fs = getattr(model, "read_fs", ())
    guards_of = getattr(model, "guards", None)
    segments: list[Segment] = []
    start_i = 0
    horizon: Any = -math.inf
    for i in range(len(ops)):
        if starts[i] > horizon and i - start_i >= MIN_SEGMENT:
            segments.append(_segment(ops, starts, ends, steps, start_i, i, required, read_fs,
                                     guards_of))
            start_i = i
        if ends[i] > horizon:
            horizon = ends[i]
    if ops:
        segments.append(_segment(ops, starts, ends, steps, start_i, len(ops), required, read_fs,
                                 guards_of))
    return Prepared(partition_key(ops), ops, segments, dropped)


def _segment(all_ops: list[Operation], all_starts: list[Any], all_ends: list[Any],
             all_steps: list[Callable[[Any], Any]], lo: int, hi: int,
             required: dict[int, Any] | None, read_fs: Any, guards_of: Any) -> Segment:
    """The segment of ops lo .. hi-1 of the partition."""
    n = hi - lo
    ops = all_ops[lo:hi]
    ends = all_ends[lo:hi]
    starts = all_starts[lo:hi]
    inf = math.inf
    finite: list[int] = []
    optional = pure = 0
    for i in range(n):
        op = ops[i]
        if ends[i] != inf:
            finite.append(i)
        if op.type != "ok":
            optional |= 1 << i
        if op.f in read_fs:
            pure |= 1 << i
    by_end = sorted(finite, key=ends.__getitem__)  # stable: ties stay in invocation order
    # op j is concurrent with (or before) i unless i returned before j was invoked: in order
    # of end, the ops invoked by then only grow
    reach = [n] * n
    p = 0
    for i in by_end:
        end = ends[i]
        while p < n and starts[p] <= end:
            p += 1
        reach[i] = p
    # Identical ops (three timed-out writes of 1) are interchangeable once all are invoked:
    # trying only the earliest pending one of them avoids searching their permutations.
    twins = [0] * n
    twinned = 0
    first_of: dict[Any, int] = {}
    rest = optional if n > 1 else 0  # ok ops end at distinct times in practice: only info ops
    while rest:
        low = rest & -rest
        rest ^= low
        i = low.bit_length() - 1
        sig = twin_signature(ops[i], ends[i])
        if sig is None:
            continue
        if sig in first_of:
            twins[i] = twins[first_of[sig]] | (1 << first_of[sig])
            twinned |= 1 << i
        first_of[sig] = i
    # Ops legal in exactly one state: the search offers each only in its state, which spares a
    # step call per op that cannot come next (most of them, in a busy register history).
    needs: dict[Any, int] | None = None
    free = (1 << n) - 1
    if required:
        needs = {}
        for i in range(n):
            state = required.get(lo + i, _FREE)
            if state is not _FREE:
                needs[state] = needs.get(state, 0) | (1 << i)
                free ^= 1 << i
    return Segment(lo, ops, all_steps[lo:hi], by_end, reach, optional, pure, twins, twinned,
                   needs, free, starts, ends, guards_of if n >= GUARD_MIN_OPS else None)


_FREE: Final[Any] = object()


def twin_signature(op: Operation, end: Any) -> Any:
    """What makes two ops of unknown outcome interchangeable (f, key, values, type and effective
    end), or None when that is not hashable."""
    sig = (op.f, freeze(op.key), freeze(op.invoke_value),
           freeze(op.value) if op.type == "ok" else None, op.type, end)
    try:
        hash(sig)
    except TypeError:
        return None
    return sig
