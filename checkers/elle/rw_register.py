"""Read-write registers: what reads and writes of single values say about version orders, and
the dependencies and anomalies that follow (Elle, section 4.2).

A write replaces a key's value with one unique for that key, so a read names the one write it
saw. The order of versions is not observed directly; it is inferred from two facts (as Elle
does):

- the initial state (`null`, never written) precedes every version of its key;
- writes follow reads (option `wfr`, on by default): a committed transaction that read k = v1
  and then wrote k = v2 installed v2 after v1. This holds when transactions are atomic, which
  every model from read committed up assumes; with wfr=false only the initial state orders
  versions.

and, when the store promises it for single keys, from two more (Elle's options of those names,
off by default):

- `sequential_keys`: each key is sequentially consistent, so the versions of k one process
  sees, transaction after transaction, never go back: the last version of k a committed
  transaction saw or wrote precedes (or is) the first one the process's next committed
  transaction that touches k sees or writes;
- `linearizable_keys`: each key is linearizable, so the same holds between any two committed
  transactions touching k, the first completed before the second was invoked.

A version that would have to precede the initial state makes the key's order cyclic.

A transaction's external read of k is its first read of k before it writes k; its external
write is its last write of k (the earlier ones are intermediate: no one else may see them).

Dependencies: wr from the writer of v to each external reader of v; for each inferred version
step v1 -> v2, ww from the writer of v1 to the writer of v2 and rw from each reader of v1 to the
writer of v2. Readers of the initial state get rw edges to the writers of every version with no
other known predecessor (the others follow those through ww edges).

Non-cycle anomalies, one function each: garbage-read, G1a, G1b, internal, future-read,
lost-update, and cyclic-versions (the inferred version order of a key has a cycle; the key's
ww and rw edges are then left out, since no order is known).
"""

from __future__ import annotations

from typing import Any, Final

from checkers.elle.graph import RW, WR, WW, DependencyGraph, tarjan
from checkers.elle.orders import realtime_edges
from checkers.elle.transactions import (FAIL, MIXED, OK, READ, WRITE, Txn, TxnShapeError,
                                        future_read, record_writer)
from checkers.evidence import txn_ref

INITIAL: Final = None  # the version every key starts at


class RegisterIndex:
    """What the history says about each key, computed once for all the functions below."""

    def __init__(self, txns: list[Txn], wfr: bool = True, sequential_keys: bool = False,
                 linearizable_keys: bool = False) -> None:
        self.txns = txns
        self.wfr = wfr
        self.key_orders = sequential_keys or linearizable_keys
        self.writer: dict[Any, dict[Any, int]] = {}  # key -> value -> writer id (any outcome)
        self.intermediate: dict[Any, set[Any]] = {}  # key -> values overwritten in their txn
        self.readers: dict[Any, dict[Any, list[int]]] = {}  # key -> value -> external readers
        # key -> value -> values inferred to precede it (INITIAL left out: it precedes all)
        self.before: dict[Any, dict[Any, set[Any]]] = {}
        # (key, v1, v2) -> why v1 precedes v2: ("wfr", txn, txn), ("process" or "realtime",
        # the earlier txn, the later one); the first reason found is kept
        self.why: dict[tuple[Any, Any, Any], tuple[str, int, int]] = {}
        self.failed_keys: set[Any] = set()
        # per committed transaction: key -> (first version of it seen or written, last one)
        self.versions: dict[int, dict[Any, tuple[Any, Any]]] = {}
        self._scan()
        if sequential_keys:
            self._order_by(self._session_pairs(), "process")
        if linearizable_keys:
            self._order_by(self._realtime_pairs(), "realtime")
        self.cyclic: dict[Any, list[Any]] = self._cyclic_keys()

    def _scan(self) -> None:
        writer, intermediate, readers = self.writer, self.intermediate, self.readers
        for t in self.txns:
            tid = t.id
            ok = t.type == OK
            written: dict[Any, Any] | None = None  # key -> this txn's latest write
            external: dict[Any, Any] | None = None  # key -> value of its external read
            for mop in t.mops:
                f = mop[0]
                k = mop[1]
                v = mop[2]
                if f == WRITE:
                    record_writer(writer, t, k, v, self.txns, "write")
                    if t.type == FAIL:
                        self.failed_keys.add(k)
                    if written is None:
                        written = {}
                    elif k in written:
                        intermediate.setdefault(k, set()).add(written[k])
                    written[k] = v
                elif f == READ:
                    if not ok or (written is not None and k in written):
                        continue
                    if external is None:
                        external = {}
                    elif k in external:
                        continue
                    if type(v) is list:
                        raise TxnShapeError(f"{t.name} read key {k!r} as a list; rw-register "
                                            f"reads return single values (is this list-append?)")
                    external[k] = v
                    per_key = readers.get(k)
                    if per_key is None:
                        per_key = readers[k] = {}
                    got = per_key.get(v)
                    if got is None:
                        per_key[v] = [tid]
                    else:
                        got.append(tid)
                else:
                    raise TxnShapeError(MIXED)
            if self.wfr and ok and written is not None and external is not None:
                for k, v2 in written.items():
                    if k in external and external[k] is not INITIAL:
                        self._precedes(k, external[k], v2, ("wfr", tid, tid))
            if ok and self.key_orders:
                self.versions[tid] = _seen_versions(t)

    def _session_pairs(self) -> list[tuple[int, int, Any]]:
        """(earlier, later, key): consecutive committed transactions of one process on a key."""
        last: dict[tuple[Any, Any], int] = {}  # (process, key) -> its latest txn on the key
        pairs: list[tuple[int, int, Any]] = []
        for tid, per_key in self.versions.items():
            process = self.txns[tid].op.process
            for k in per_key:
                prev = last.get((process, k))
                if prev is not None:
                    pairs.append((prev, tid, k))
                last[(process, k)] = tid
        return pairs

    def _realtime_pairs(self) -> list[tuple[int, int, Any]]:
        """(earlier, later, key): committed transactions on a key, the first completed before
        the second began (enough pairs for the order to follow transitively)."""
        on_key: dict[Any, list[Txn]] = {}
        for tid, per_key in self.versions.items():
            for k in per_key:
                on_key.setdefault(k, []).append(self.txns[tid])
        pairs: list[tuple[int, int, Any]] = []
        for k, txns in on_key.items():
            pairs.extend((a, b, k) for a, b in realtime_edges(txns))
        return pairs

    def _order_by(self, pairs: list[tuple[int, int, Any]], reason: str) -> None:
        """The last version of k in the earlier transaction precedes the first in the later."""
        for a, b, k in pairs:
            v1 = self.versions[a][k][1]
            v2 = self.versions[b][k][0]
            if v1 != v2 and v1 is not INITIAL:
                # v2 INITIAL: the key went back to its initial state, a cycle (_cyclic_keys)
                self._precedes(k, v1, v2, (reason, a, b))

    def _precedes(self, k: Any, v1: Any, v2: Any, why: tuple[str, int, int]) -> None:
        self.before.setdefault(k, {}).setdefault(v2, set()).add(v1)
        self.why.setdefault((k, v1, v2), why)

    def because(self, k: Any, v1: Any, v2: Any) -> str:
        """Why version v1 of k precedes v2, in words."""
        if v1 is INITIAL:
            return "the initial state precedes every write"
        kind, a, b = self.why.get((k, v1, v2), ("?", -1, -1))
        if kind == "wfr":
            return f"{self.txns[a].name} read {v1!r} before writing {v2!r}"
        if kind == "process":
            return (f"{self.txns[a].name} saw {v1!r} and then {self.txns[b].name}, next on "
                    f"process {self.txns[a].op.process}, saw {_shown(v2)} (key {k!r} is "
                    f"sequentially consistent)")
        if kind == "realtime":
            return (f"{self.txns[a].name} saw {v1!r} and completed before {self.txns[b].name}, "
                    f"which saw {_shown(v2)}, began (key {k!r} is linearizable)")
        return f"{v1!r} was inferred to precede {v2!r}"

    def _cyclic_keys(self) -> dict[Any, list[Any]]:
        """key -> the values of one cycle in its inferred version order, for keys that have
        one."""
        numbered: list[tuple[Any, Any]] = []
        number: dict[tuple[Any, Any], int] = {}
        src: list[int] = []
        dst: list[int] = []
        for k, preds in self.before.items():
            if INITIAL in preds:  # the initial state precedes every version, even these
                preds = {**preds, **{v1: preds.get(v1, set()) | {INITIAL}
                                     for v1 in preds[INITIAL]}}
            for v2, v1s in preds.items():
                for v1 in v1s:
                    for version in ((k, v1), (k, v2)):
                        if version not in number:
                            number[version] = len(numbered)
                            numbered.append(version)
                    src.append(number[(k, v1)])
                    dst.append(number[(k, v2)])
        cyclic: dict[Any, list[Any]] = {}
        for component in tarjan(len(numbered), src, dst):
            k = numbered[component[0]][0]
            cyclic.setdefault(k, [numbered[i][1] for i in reversed(component)])
        return cyclic

    def node_writer(self, k: Any, v: Any) -> int:
        """Id of the transaction that wrote v to k, or -1 when none that may have happened did."""
        tid = self.writer.get(k, {}).get(v, -1)
        if tid >= 0 and self.txns[tid].type == FAIL:
            return -1
        return tid


# -- dependencies --------------------------------------------------------------------------------

def add_dependencies(index: RegisterIndex, graph: DependencyGraph) -> None:
    """ww, wr and rw edges (see the module docstring) into `graph`."""
    add = graph.add
    for k, per_value in index.readers.items():
        for v, readers in per_value.items():
            if v is INITIAL:
                continue
            w = index.node_writer(k, v)
            if w >= 0:
                for r in readers:
                    if r != w:
                        add(w, r, WR)
    for k, values in index.writer.items():
        if k in index.cyclic:
            continue
        preds = index.before.get(k, {})
        by_value = index.readers.get(k, {})
        first_readers = by_value.get(INITIAL, [])
        overwritten = index.intermediate.get(k, ())
        for v2, w2 in values.items():
            if index.txns[w2].type == FAIL or v2 in overwritten:
                continue
            known = False
            for v1 in preds.get(v2, ()):
                w1 = index.node_writer(k, v1)
                if w1 >= 0:
                    known = True
                    if w1 != w2:
                        add(w1, w2, WW)
                for r in by_value.get(v1, []):
                    if r != w2:
                        add(r, w2, RW)
            if not known:  # only the initial state is known to precede v2
                for r in first_readers:
                    if r != w2:
                        add(r, w2, RW)


# -- anomalies that are not cycles ---------------------------------------------------------------

def _read_cases(index: RegisterIndex, kind: str) -> list[dict[str, Any]]:
    """External reads of a value written by no one (garbage-read), only by a failed
    transaction (G1a), or as another transaction's intermediate write (G1b)."""
    cases = []
    txns = index.txns
    for k, per_value in index.readers.items():
        written = index.writer.get(k, {})
        for v, readers in per_value.items():
            if v is INITIAL:
                continue
            w = written.get(v, -1)
            if kind == "garbage-read":
                bad = w < 0
            elif kind == "G1a":
                bad = w >= 0 and txns[w].type == FAIL
            else:
                bad = w >= 0 and v in index.intermediate.get(k, ())
            if not bad:
                continue
            for r in readers:
                if r == w:
                    continue
                t = txns[r]
                case: dict[str, Any] = {"key": k, "value": v, "reader": txn_ref(t)}
                if kind == "garbage-read":
                    text = f"{t.name} read key {k!r} = {v!r}, which no transaction wrote"
                elif kind == "G1a":
                    text = (f"{t.name} read key {k!r} = {v!r}, written by {txns[w].name}, which "
                            f"failed")
                else:
                    text = (f"{t.name} read key {k!r} = {v!r}, which {txns[w].name} wrote and "
                            f"then overwrote in the same transaction")
                if w >= 0:
                    case["writer"] = txn_ref(txns[w])
                case["explanation"] = text
                cases.append(case)
    return cases


def garbage_cases(index: RegisterIndex) -> list[dict[str, Any]]:
    """A committed read of a value no transaction wrote."""
    return _read_cases(index, "garbage-read")


def g1a_cases(index: RegisterIndex) -> list[dict[str, Any]]:
    """Aborted read: a committed read of a value only a failed transaction wrote."""
    return _read_cases(index, "G1a") if index.failed_keys else []


def g1b_cases(index: RegisterIndex) -> list[dict[str, Any]]:
    """Intermediate read: a committed read of a value its writer overwrote before committing."""
    return _read_cases(index, "G1b") if index.intermediate else []


def internal_cases(index: RegisterIndex) -> list[dict[str, Any]]:
    """A transaction inconsistent with itself: a read that differs from its own last write of
    the key, or from its own earlier read with no write in between."""
    cases = []
    for t in index.txns:
        if t.type != OK or len(t.mops) < 2:
            continue
        known: dict[Any, tuple[Any, str]] = {}  # key -> (value, "wrote" | "read")
        for i, mop in enumerate(t.mops):
            f, k, v = mop[0], mop[1], mop[2]
            if f == WRITE:
                known[k] = (v, "wrote")
                continue
            if k in known and known[k][0] != v:
                expected, how = known[k]
                cases.append({"txn": txn_ref(t), "mop": i, "key": k, "read": v,
                              "expected": expected,
                              "explanation": f"{t.name} read key {k!r} = {v!r} in micro-op {i}, "
                                             f"but it {how} {expected!r} there before"})
                break
            known[k] = (v, "read")
    return cases


def future_read_cases(index: RegisterIndex) -> list[dict[str, Any]]:
    """A read of a value the same transaction writes only later."""
    cases = []
    for t in index.txns:
        if t.type != OK or len(t.mops) < 2:
            continue
        found = future_read(t.mops, lambda read, v: read == v)
        if found is not None:
            at, i, k, v = found
            cases.append({"txn": txn_ref(t), "key": k, "value": v,
                          "explanation": f"{t.name} read key {k!r} = {v!r} in micro-op {at}, "
                                         f"which it writes itself only in micro-op {i}"})
    return cases


def lost_update_cases(index: RegisterIndex) -> list[dict[str, Any]]:
    """Two committed transactions read the same version of a key and both wrote it."""
    cases = []
    txns = index.txns
    for k, per_value in index.readers.items():
        for v, readers in per_value.items():
            if len(readers) < 2:
                continue
            writing = [r for r in readers if _writes(txns[r], k)]
            if len(writing) < 2:
                continue
            names = ", ".join(txns[r].name for r in writing)
            what = "absent (the initial state)" if v is INITIAL else f"= {v!r}"
            cases.append({"key": k, "value": v, "txns": [txn_ref(txns[r]) for r in writing],
                          "explanation": f"{names} all read key {k!r} {what} and then wrote "
                                         f"it"})
    return cases


def _shown(v: Any) -> str:
    return "the initial state" if v is INITIAL else repr(v)


def _seen_versions(t: Txn) -> dict[Any, tuple[Any, Any]]:
    """key -> (first, last) version of it that t read or wrote, in micro-op order."""
    seen: dict[Any, tuple[Any, Any]] = {}
    for mop in t.mops:
        k, v = mop[1], mop[2]
        first = seen.get(k)
        seen[k] = (v if first is None else first[0], v)
    return seen


def _writes(t: Txn, k: Any) -> bool:
    return any(m[0] == WRITE and m[1] == k for m in t.mops)


def cyclic_version_cases(index: RegisterIndex) -> list[dict[str, Any]]:
    """The inferred version order of a key has a cycle: v1 before v2 before ... before v1."""
    cases = []
    for k, cycle in index.cyclic.items():
        steps = []
        for i, v1 in enumerate(cycle):
            v2 = cycle[(i + 1) % len(cycle)]
            steps.append(f"{_shown(v1)} precedes {_shown(v2)}: {index.because(k, v1, v2)}")
        cases.append({"key": k, "cycle": list(cycle),
                      "explanation": f"key {k!r}: " + "; ".join(steps) + "; so each version "
                                     "follows itself"})
    return cases


CASES: Final = {
    "garbage-read": garbage_cases,
    "G1a": g1a_cases,
    "G1b": g1b_cases,
    "internal": internal_cases,
    "future-read": future_read_cases,
    "lost-update": lost_update_cases,
    "cyclic-versions": cyclic_version_cases,
}


# -- explanations --------------------------------------------------------------------------------

def explain_edge(index: RegisterIndex, a: Txn, b: Txn, kind: int) -> str | None:
    """Why a -> b is a `kind` dependency, in words; None when it is not one."""
    if kind == WR:
        for k, v in _external_reads(b):
            if v is not INITIAL and index.node_writer(k, v) == a.id:
                return f"{b.name} read key {k!r} = {v!r}, which {a.name} wrote"
        return None
    for k, v2 in _final_writes(b):
        if k in index.cyclic:
            continue
        preds = index.before.get(k, {}).get(v2, set())
        for v1 in sorted(preds, key=repr):
            because = index.because(k, v1, v2)
            if kind == WW and index.node_writer(k, v1) == a.id:
                return (f"{a.name} wrote key {k!r} = {v1!r} before {b.name} wrote {v2!r}, "
                        f"because {because}")
            if kind == RW and a.id in index.readers.get(k, {}).get(v1, ()):
                return (f"{a.name} read key {k!r} = {v1!r}, which {b.name} overwrote with "
                        f"{v2!r}, because {because}")
        if kind == RW and not any(index.node_writer(k, v1) >= 0 for v1 in preds) \
                and a.id in index.readers.get(k, {}).get(INITIAL, ()):
            return (f"{a.name} read key {k!r} as absent (the initial state), which every write "
                    f"replaces, and {b.name} wrote {v2!r}")
    return None


def _external_reads(t: Txn) -> list[tuple[Any, Any]]:
    if t.type != OK:
        return []
    found: list[tuple[Any, Any]] = []
    seen: set[Any] = set()
    for f, k, v in t.mops:
        if k in seen:
            continue
        seen.add(k)
        if f == READ:
            found.append((k, v))
    return found


def _final_writes(t: Txn) -> list[tuple[Any, Any]]:
    last: dict[Any, Any] = {}
    for f, k, v in t.mops:
        if f == WRITE:
            last[k] = v
    return list(last.items())
