"""From a history to transactions: which operations are transactions, and what they did.

A transaction is an operation whose value is a list of micro-ops `[f, key, value]`:

    ["r", k, null]        a read of key k (the ok completion carries what was read)
    ["append", k, v]      list-append: append v to the list at k (v unique per key)
    ["w", k, v]           rw-register: set k to v (v unique per key)

as our workloads write them (docs/op-shapes.md) and as Jepsen's EDN `:txn` histories hold them
once the reader has turned keywords into strings (`[[:append 1 2] [:r 1 [1 2]]]` becomes
`[["append", 1, 2], ["r", 1, [1, 2]]]`). `read` and `write` are taken for `r` and `w`.

Outcomes follow Jepsen: `ok` happened; `fail` certainly did not (its writes must never be seen);
`info` may have happened, at any moment after its invocation, and what it read is unknown. A read
of `null` in an ok transaction is a read of the initial state: the empty list, or the absent
register.
"""

from __future__ import annotations

from typing import Any, Callable, Final, Iterable

from checkers.elle import native
from checkers.history import Operation

OK: Final = "ok"
INFO: Final = "info"
FAIL: Final = "fail"

READ: Final = "r"
APPEND: Final = "append"
WRITE: Final = "w"
_F_NAMES: Final = {"r": READ, "read": READ, "append": APPEND, "w": WRITE, "write": WRITE}

LIST_APPEND: Final = "list-append"
RW_REGISTER: Final = "rw-register"
WORKLOAD_NAMES: Final = {"list-append": LIST_APPEND, "append": LIST_APPEND,
                         "rw-register": RW_REGISTER, "wr": RW_REGISTER,
                         "register": RW_REGISTER}


class TxnShapeError(ValueError):
    """A history whose transactions the checker cannot read; the message says which and why."""


class Txn:
    """One transaction: its operation, its outcome and its micro-ops.

    `id` numbers the history's transactions from 0 in invocation order; it is the transaction's
    node in the dependency graph. `mops` are `(f, key, value)` lists: for an ok transaction the
    completion's (reads carry what was read), otherwise the invocation's (reads are unknown)."""

    __slots__ = ("id", "op", "type", "mops")

    def __init__(self, id: int, op: Operation, type: str, mops: list[Any]) -> None:
        self.id = id
        self.op = op
        self.type = type
        self.mops = mops

    @property
    def name(self) -> str:
        """How explanations call it: T and the index of its invocation in the history file."""
        return f"T{self.op.invoke_index}"

    def __repr__(self) -> str:
        return f"<{self.name} {self.type} {self.mops!r}>"


def transactions(ops: Iterable[Operation]) -> tuple[list[Txn], int]:
    """The history's transactions (in invocation order) and how many other client ops it has.

    An op is a transaction when its f is "txn" or its value is a list of micro-ops; an op named
    "txn" whose value is not one raises TxnShapeError, as does an unknown micro-op."""
    chosen: list[Operation] = []
    values: list[Any] = []
    others = 0
    for op in ops:
        # ok: the completion holds what was read; otherwise the invocation says what was tried
        value = op.value if op.type == OK else (op.invoke_value if op.invoke_value is not None
                                                  else op.value)
        if op.f != "txn" and not _looks_like_txn(value):
            others += 1
            continue
        chosen.append(op)
        values.append(value)
    # which values are lists of plain micro-ops: a pass over every micro-op, in C when built
    kernel = native.extension("_append")
    plain = kernel.plain_mops(values) if kernel is not None else \
        bytes([type(v) is list and _plain_mops(v) for v in values])
    txns: list[Txn] = []
    compound = False  # some appended or written value is not an int or a string
    for i in range(len(chosen)):
        op = chosen[i]
        value = values[i]
        if plain[i]:
            txns.append(Txn(i, op, op.type, value))
            continue
        if type(value) is not list:
            if op.type == OK or value is not None:
                raise TxnShapeError(f"op {op.invoke_index}: a transaction's value must be a list "
                                    f"of [f, key, value] micro-ops, not {_short(value)}")
            value = []
        mops = _normalized_mops(op, value)
        compound = compound or any(m[0] != READ and type(m[2]) is tuple for m in mops)
        txns.append(Txn(i, op, op.type, mops))
    if compound:
        _freeze_reads(txns)
    return txns, others


_SCALARS: Final = (int, str)


def _plain_mops(value: list[Any]) -> bool:
    """Whether every micro-op is [canonical f, int or str key, int or str value (a write) or
    anything (a read)]: the common case, taken as it is."""
    for mop in value:
        if type(mop) is not list or len(mop) != 3:
            return False
        f = mop[0]
        if type(mop[1]) not in _SCALARS:
            return False
        if f == READ:
            continue
        if (f != APPEND and f != WRITE) or type(mop[2]) not in _SCALARS:
            return False
    return True


def _looks_like_txn(value: Any) -> bool:
    if type(value) is not list or not value:
        return False
    first = value[0]
    return (type(first) is list or type(first) is tuple) and len(first) == 3 \
        and type(first[0]) is str and first[0] in _F_NAMES


def _normalized_mops(op: Operation, value: list[Any]) -> list[Any]:
    """Copies of the micro-ops with f made canonical and unhashable keys and values frozen, or
    TxnShapeError for one that is not [f, key, value]."""
    out = []
    for i, mop in enumerate(value):
        if (type(mop) is not list and type(mop) is not tuple) or len(mop) != 3:
            raise TxnShapeError(f"op {op.invoke_index}: micro-op {i} is {_short(mop)}, not "
                                f"[f, key, value]")
        f, k, v = mop
        canonical = _F_NAMES.get(f) if type(f) is str else None
        if canonical is None:
            raise TxnShapeError(f"op {op.invoke_index}: micro-op {i} {_short(mop)}: f must be "
                                f"r, append or w")
        if canonical != READ:
            if v is None:
                raise TxnShapeError(f"op {op.invoke_index}: micro-op {i} {_short(mop)} writes "
                                    f"null, which stands for the initial state")
            v = freeze(v)
        out.append([canonical, freeze(k), v])
    return out


def _freeze_reads(txns: list[Txn]) -> None:
    """Once some value written is compound (a list or an object, frozen to a tuple), reads
    must show it frozen too: a list-append read's elements, an rw-register read's value."""
    appends = any(m[0] == APPEND for t in txns for m in t.mops)
    for t in txns:
        if t.type != OK:
            continue
        mops = list(t.mops)  # the history's own lists stay as they are
        for i, m in enumerate(mops):
            v = m[2]
            if m[0] != READ or v is None:
                continue
            if appends:
                if type(v) is list and not all(type(e) in _SCALARS for e in v):
                    mops[i] = [m[0], m[1], [freeze(e) for e in v]]
            elif type(v) not in _SCALARS:
                mops[i] = [m[0], m[1], freeze(v)]
        t.mops = mops


def freeze(x: Any) -> Any:
    """A hashable stand-in for a JSON value: lists become tuples, objects sorted item tuples."""
    if isinstance(x, list) or isinstance(x, tuple):
        return tuple(freeze(v) for v in x)
    if isinstance(x, dict):
        return tuple(sorted((str(k), freeze(v)) for k, v in x.items()))
    return x


def detect_workload(txns: list[Txn]) -> str:
    """list-append when the first write is an append, rw-register when it is a w (a history
    with both is refused by the workload's own scan: MIXED); with reads only, list-append when
    a read returned a list."""
    lists = False
    for t in txns:
        for f, _k, v in t.mops:
            if f == APPEND:
                return LIST_APPEND
            if f == WRITE:
                return RW_REGISTER
            if type(v) is list:
                lists = True
    return LIST_APPEND if lists else RW_REGISTER


MIXED: Final = ("the history mixes appends and writes; check list-append and rw-register "
                "histories separately (option workload=...)")


def outcome_codes(txns: list[Txn]) -> bytes:
    """One byte per transaction, by id: 0 ok, 1 info, 2 failed (what the C kernels take)."""
    return bytes([2 if t.type == FAIL else 1 if t.type == INFO else 0 for t in txns])


def record_writer(writers: dict[Any, dict[Any, int]], t: Txn, k: Any, v: Any, txns: list[Txn],
                  verb: str) -> None:
    """writers[k][v] = t.id, or TxnShapeError when another transaction wrote v to k too: the
    checker needs each value written once per key to know which write a read saw."""
    values = writers.get(k)
    if values is None:
        values = writers[k] = {}
    elif v in values:
        raise TxnShapeError(f"{t.name} and {txns[values[v]].name} both {verb} {v!r} to key {k!r}; "
                            f"every value written to a key must be unique")
    values[v] = t.id


def future_read(mops: list[Any],
                shows: Callable[[Any, Any], bool]) -> tuple[int, int, Any, Any] | None:
    """(read micro-op, write micro-op, key, read) for a transaction's first write (of its
    micro-ops `mops`) of a value that an earlier read of it already showed (`shows(read,
    value)`), or None."""
    reads: dict[Any, list[tuple[int, Any]]] = {}
    for i, mop in enumerate(mops):
        f, k, v = mop[0], mop[1], mop[2]
        if f == READ:
            if v is not None:
                reads.setdefault(k, []).append((i, v))
            continue
        for at, read in reads.get(k, ()):
            if shows(read, v):
                return at, i, k, read
    return None


def _short(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 80 else text[:77] + "..."
