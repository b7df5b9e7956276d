"""List-append histories: the version order of each key, its dependencies and its anomalies.

Every append puts a value that is unique for its key at the end of the key's list, and every read
returns the whole list; so a read of [1, 2, 3] shows the versions the key went through, in order
(Elle, section 4.1). The version order of a key is its longest committed read. Every other read
must be a prefix of it (otherwise: incompatible-order); an append no read ever showed came after
all the elements that were read (reads are prefixes of one history, and that append is in none).

Dependencies, with w(e) the transaction that appended element e:

    ww  w(e) -> w(e') for consecutive elements e, e' of the version order (skipping elements no
        transaction that happened wrote), and the last read element's writer -> each unread
        append (of an ok or info transaction)
    wr  w(last element read) -> the reader
    rw  the reader -> the writer of the first element after what it read (or of each unread
        append, when it read everything that was ever read)

Non-cycle anomalies, one function each below: duplicate-elements, incompatible-order,
garbage-read (an element nobody appended), G1a (an element a failed transaction appended),
G1b (a read ending in another transaction's non-final append to that key), dirty-update (a
failed append followed, in the version order, by committed ones), internal, future-read and
lost-update.
"""

from __future__ import annotations

from typing import Any, Final

from checkers.elle import native
from checkers.elle.graph import RW, WR, WW, DependencyGraph
from checkers.elle.transactions import (APPEND, FAIL, MIXED, OK, READ, Txn, TxnShapeError,
                                        future_read, outcome_codes, record_writer)
from checkers.evidence import txn_ref

MAX_CASES: Final = 100  # examples kept per anomaly kind (each result also gives the count)
SHOWN: Final = 6  # elements shown at the end of a long list in words ("[.., 4, 5]")


class ListAppendIndex:
    """What the history says about each key, computed once for all the functions below."""

    def __init__(self, txns: list[Txn], use_c: bool = True) -> None:
        self.txns = txns
        self.failed = [t.type == FAIL for t in txns]  # by transaction id
        self.outcomes = outcome_codes(txns)  # for _append.c
        # the C twin of _scan, _place_reads and add_dependencies (checkers/elle/_append.c)
        self.c = native.extension("_append") if use_c else None
        # key -> element -> id of the transaction (ok, info or failed) that appended it
        self.writer: dict[Any, dict[Any, int]] = {}
        # key -> elements appended by a transaction that appended to that key again later
        self.intermediate: dict[Any, set[Any]] = {}
        # key -> element -> the element its transaction appended to that key just before it
        self.appended_after: dict[Any, dict[Any, Any]] = {}
        self.failed_keys: set[Any] = set()  # keys a failed transaction appended to
        self.longest: dict[Any, list[Any]] = {}  # key -> the longest committed read
        self.longest_reader: dict[Any, int] = {}  # key -> id of a transaction that read it
        # every read of a committed transaction, in history order: reader, key, list read
        self.read_txn: list[int] = []
        self.read_key: list[Any] = []
        self.read_value: list[list[Any]] = []
        # ids of committed transactions inconsistent with themselves (internal_cases says how),
        # and of those that append an element an earlier read of their own showed (future-read)
        self.internal: list[int] = []
        self.future_reads: list[int] = []
        # (key, version, id) for each key a committed transaction read before its first append
        # to it, the version being (the last element of that first read,) or () for the empty
        # list: lost-update is two of them with the same key and version
        self.appends_after_read: list[tuple[Any, tuple[Any, ...], int]] = []
        scanned = None if self.c is None else self.c.scan([t.mops for t in txns], self.outcomes)
        if scanned is None:  # no C, or something to complain about: Python says what
            self._scan()
        else:
            (self.writer, self.intermediate, self.appended_after, failed_keys, self.longest,
             self.longest_reader, self.read_txn, self.read_key, self.read_value,
             self.internal, self.future_reads, self.appends_after_read) = scanned
            self.failed_keys = failed_keys
        # key -> the version order (the longest read, without repeated elements) and each
        # element's position in it
        self.order: dict[Any, list[Any]] = {}
        self.position: dict[Any, dict[Any, int]] = {}
        self.repeated: set[Any] = set()  # keys whose longest read repeats an element
        for k, read in self.longest.items():
            position = {e: i for i, e in enumerate(read)}
            if len(position) != len(read):
                self.repeated.add(k)
                order = list(position)  # first occurrences, in order
                position = {e: i for i, e in enumerate(order)}
            else:
                order = read
            self.order[k] = order
            self.position[k] = position
        # per read: how much of the version order it saw (its length), or -1 when it is not a
        # prefix of it (or the key's order is unreliable)
        self.read_end: list[int] = []
        # key -> reads that are not prefixes of the version order: (reader id, the read)
        self.incompatible: dict[Any, list[tuple[int, list[Any]]]] = {}
        # positions (in read_txn...) of the reads ending in an intermediate append: G1b suspects
        self.intermediate_reads: list[int] = []
        if self.c is None:
            self._place_reads()
        else:
            self.read_end, self.incompatible, self.intermediate_reads = self.c.place_reads(
                self.longest, self.repeated, self.intermediate, self.read_txn, self.read_key,
                self.read_value)
        # key -> ids of transactions (ok or info) whose appends to it no read shows
        self.unread: dict[Any, list[int]] = self._unread_appends()

    def _scan(self) -> None:
        writer, intermediate, longest, reader = (self.writer, self.intermediate, self.longest,
                                                 self.longest_reader)
        read_txn, read_key, read_value = self.read_txn, self.read_key, self.read_value
        for t in self.txns:
            tid = t.id
            ok = t.type == OK
            failed = t.type == FAIL
            own: dict[Any, Any] | None = None  # key -> this txn's latest append to it
            mops = t.mops
            for mop in mops:
                f = mop[0]
                k = mop[1]
                v = mop[2]
                if f == APPEND:
                    record_writer(writer, t, k, v, self.txns, "append")
                    if failed:
                        self.failed_keys.add(k)
                    if own is None:
                        own = {k: v}
                    else:
                        prev = own.get(k)
                        if prev is not None:
                            intermediate.setdefault(k, set()).add(prev)
                            self.appended_after.setdefault(k, {})[v] = prev
                        own[k] = v
                elif f != READ:
                    raise TxnShapeError(MIXED)
                elif ok:
                    if v is None:
                        v = _EMPTY
                    elif type(v) is not list:
                        raise TxnShapeError(f"{t.name} read key {k!r} as {v!r}: list-append "
                                            f"reads return lists")
                    read_txn.append(tid)
                    read_key.append(k)
                    read_value.append(v)
                    current = longest.get(k)
                    if current is None or len(v) > len(current):
                        longest[k] = v
                        reader[k] = tid
            if ok and len(mops) > 1:
                self._note_candidates(tid, mops)

    def _note_candidates(self, tid: int, mops: list[Any]) -> None:
        if _internal_mop(mops) is not None:
            self.internal.append(tid)
        if future_read(mops, _shows) is not None:
            self.future_reads.append(tid)
        first_read: dict[Any, tuple[Any, ...]] = {}  # key -> version, before appends to it
        wrote: set[Any] = set()
        for mop in mops:
            f, k, v = mop[0], mop[1], mop[2]
            if f == READ:
                if k not in first_read and k not in wrote:
                    first_read[k] = (v[-1],) if v else ()
            else:
                if k in first_read and k not in wrote:
                    self.appends_after_read.append((k, first_read[k], tid))
                wrote.add(k)

    def _place_reads(self) -> None:
        longest, repeated = self.longest, self.repeated
        incompatible, intermediate = self.incompatible, self.intermediate
        read_key, read_value = self.read_key, self.read_value
        ends = self.read_end
        for i in range(len(read_value)):
            v = read_value[i]
            n = len(v)
            if not n:
                ends.append(0)
                continue
            k = read_key[i]
            middle = intermediate.get(k)
            if middle is not None and v[-1] in middle:
                self.intermediate_reads.append(i)
            full = longest[k]
            if v is not full and v != full[:n]:
                incompatible.setdefault(k, []).append((self.read_txn[i], v))
                ends.append(-1)
            elif k in repeated:
                ends.append(-1)
            else:
                ends.append(n)

    def _unread_appends(self) -> dict[Any, list[int]]:
        """Appends of info transactions count too: if the transaction happened (another of its
        appends was read, say), this one did; if it did not, the edges to it lead nowhere,
        since nothing follows a transaction of unknown outcome."""
        unread: dict[Any, list[int]] = {}
        failed = self.failed
        for k, appended in self.writer.items():
            position = self.position.get(k)
            found: set[int] = set()
            for e, tid in appended.items():
                if (position is None or e not in position) and not failed[tid]:
                    found.add(tid)
            if found:
                unread[k] = sorted(found)
        return unread

    def node_writer(self, k: Any, e: Any) -> int:
        """Id of the transaction that appended e to k, or -1 when none that may have happened
        did (a failed transaction, or nobody)."""
        tid = self.writer.get(k, {}).get(e, -1)
        if tid >= 0 and self.failed[tid]:
            return -1
        return tid


_EMPTY: Final[list[Any]] = []  # an ok read of null: the initial, empty list (never modified)


# -- dependencies --------------------------------------------------------------------------------

def add_dependencies(index: ListAppendIndex, graph: DependencyGraph) -> None:
    """ww, wr and rw edges (see the module docstring) into `graph`."""
    if index.c is not None:
        src, dst, kind = index.c.dependencies(
            index.order, index.writer, index.outcomes, index.unread, index.repeated,
            index.read_txn, index.read_key, index.read_value, index.read_end, (WW, WR, RW))
        if src:
            graph.src.frombytes(src)
            graph.dst.frombytes(dst)
            graph.kind.frombytes(kind)
        return
    failed = index.failed
    add = graph.add
    repeated = index.repeated  # keys whose order is unreliable (duplicate-elements says why)
    for k, order in index.order.items():
        if k in repeated:
            continue
        appended = index.writer.get(k, {})
        prev = -1
        for e in order:
            w = appended.get(e, -1)
            if w < 0 or failed[w]:
                continue
            if prev >= 0 and w != prev:
                add(prev, w, WW)
            prev = w
        if prev >= 0:
            for u in index.unread.get(k, ()):
                if u != prev:
                    add(prev, u, WW)
    writer = index.writer
    read_txn, read_key, read_value, read_end = (index.read_txn, index.read_key, index.read_value,
                                                index.read_end)
    for i in range(len(read_txn)):
        tid = read_txn[i]
        k = read_key[i]
        v = read_value[i]
        seen = -1
        if v:
            seen = writer.get(k, _NONE).get(v[-1], -1)
            if seen >= 0 and failed[seen]:
                seen = -1
            if seen >= 0 and seen != tid:
                add(seen, tid, WR)
        end = read_end[i]
        if end >= 0:
            _add_anti_dependencies(index, k, tid, end, seen, add)


_NONE: Final[dict[Any, int]] = {}


def _is_incompatible(index: ListAppendIndex, k: Any, tid: int, v: list[Any]) -> bool:
    return any(reader == tid and read is v for reader, read in index.incompatible[k])


def _add_anti_dependencies(index: ListAppendIndex, k: Any, tid: int, start: int, seen: int,
                           add: Any) -> None:
    """The reader saw the version order of k up to (not including) position `start`, the last
    element appended by `seen` (-1: none, or nobody that happened): it precedes the next
    transaction that happened to append after that. Later appends of `seen` itself are
    passed over: a read that stops inside a transaction's appends is G1b, not a cycle."""
    order = index.order.get(k)
    if order is not None and start < len(order):
        appended = index.writer.get(k, _NONE)
        failed = index.failed
        for q in range(start, len(order)):
            w = appended.get(order[q], -1)
            if w >= 0 and w != seen and not failed[w]:
                if w != tid:
                    add(tid, w, RW)
                return
    for u in index.unread.get(k, ()):
        if u != tid and u != seen:
            add(tid, u, RW)


# -- anomalies that are not cycles ---------------------------------------------------------------

def duplicate_cases(index: ListAppendIndex) -> list[dict[str, Any]]:
    """A read in which some element appears more than once (each value is appended once)."""
    cases = []
    reads = [(index.longest_reader[k], index.longest[k]) for k in sorted(index.repeated, key=repr)]
    reads += [r for k in index.incompatible for r in index.incompatible[k]]
    for tid, read in reads:
        counts: dict[Any, int] = {}
        for e in read:
            counts[e] = counts.get(e, 0) + 1
        repeated = {repr(e): n for e, n in counts.items() if n > 1}
        if repeated:
            t = index.txns[tid]
            k = _key_of(t, read)
            cases.append({"key": k, "read": shown(read), "duplicates": repeated, "txn": txn_ref(t),
                          "explanation": f"{t.name} read key {k!r} as {shown(read)}, in which "
                                         f"{', '.join(repeated)} appear more than once"})
    return cases


def incompatible_order_cases(index: ListAppendIndex) -> list[dict[str, Any]]:
    """Two committed reads of a key neither of which is a prefix of the other, or a read that
    shows a transaction's later append to a key without its earlier one before it: no single
    order of appends produced both."""
    cases = []
    for k, after in index.appended_after.items():
        position = index.position.get(k)
        if not position:
            continue
        for later, earlier in after.items():
            at = position.get(later)
            if at is None or position.get(earlier, at) < at:
                continue
            t = index.txns[index.writer[k][later]]
            reader = index.txns[index.longest_reader[k]]
            read = index.order[k][:at + 1]
            cases.append({"key": k, "values": [[earlier, later], shown(read)],
                          "txns": [txn_ref(t), txn_ref(reader)],
                          "explanation": f"{t.name} appended {earlier!r} and then {later!r} to key "
                                         f"{k!r}, but {reader.name} read it as {shown(read)}"})
    for k, bad in index.incompatible.items():
        longest = index.longest[k]
        a = index.txns[index.longest_reader[k]]
        for tid, read in bad:
            b = index.txns[tid]
            cases.append({"key": k, "values": [shown(longest), shown(read)],
                          "txns": [txn_ref(a), txn_ref(b)],
                          "explanation": f"{a.name} read key {k!r} as {shown(longest)} but "
                                         f"{b.name} read it as {shown(read)}: neither is a "
                                         f"prefix of the other"})
    return cases


def _bad_element_cases(index: ListAppendIndex, kind: str) -> list[dict[str, Any]]:
    """Committed reads showing an element appended by a failed transaction ("G1a") or by none
    ("garbage-read")."""
    failed = index.failed

    def bad(w: int) -> bool:
        return w >= 0 and failed[w] if kind == "G1a" else w < 0

    suspect: set[Any] = set()  # keys some committed read of which may show such an element
    for k, order in index.order.items():
        if kind == "G1a" and k not in index.failed_keys:
            continue
        appended = index.writer.get(k, _NONE)
        if k in index.incompatible:
            suspect.add(k)
            continue
        # plain loops, no call per element: they run over every element of every key
        if kind == "G1a":
            for e in order:
                w = appended.get(e, -1)
                if w >= 0 and failed[w]:
                    suspect.add(k)
                    break
        else:
            for e in order:
                if e not in appended:
                    suspect.add(k)
                    break
    cases: list[dict[str, Any]] = []
    if not suspect:
        return cases  # every committed read is a prefix of a clean order
    for i, k in enumerate(index.read_key):
        if k not in suspect:
            continue
        appended = index.writer.get(k, _NONE)
        read = index.read_value[i]
        for e in read:
            w = appended.get(e, -1)
            if bad(w):
                cases.append(_bad_element_case(index, kind, index.txns[index.read_txn[i]], k,
                                               read, e, w))
                break
    return cases


def _bad_element_case(index: ListAppendIndex, kind: str, t: Txn, k: Any, read: list[Any],
                      e: Any, w: int) -> dict[str, Any]:
    if kind == "G1a":
        writer = index.txns[w]
        return {"key": k, "element": e, "read": shown(read), "reader": txn_ref(t),
                "writer": txn_ref(writer),
                "explanation": f"{t.name} read key {k!r} as {shown(read)}, which holds {e!r}, "
                               f"appended by {writer.name}, which failed"}
    return {"key": k, "element": e, "read": shown(read), "reader": txn_ref(t),
            "explanation": f"{t.name} read key {k!r} as {shown(read)}, which holds {e!r}, which "
                           f"no transaction appended"}


def g1a_cases(index: ListAppendIndex) -> list[dict[str, Any]]:
    """Aborted read: a committed read shows an element only a failed transaction appended."""
    if not index.failed_keys:
        return []
    return _bad_element_cases(index, "G1a")


def garbage_cases(index: ListAppendIndex) -> list[dict[str, Any]]:
    """A committed read shows an element no transaction ever appended."""
    return _bad_element_cases(index, "garbage-read")


def g1b_cases(index: ListAppendIndex) -> list[dict[str, Any]]:
    """Intermediate read: a committed read ends in an element that its appender followed with
    another append to the same key (so the reader saw a state inside that transaction)."""
    cases: list[dict[str, Any]] = []
    txns = index.txns
    for i in index.intermediate_reads:
        k = index.read_key[i]
        read = index.read_value[i]
        last = read[-1]
        w = index.writer[k][last]
        t = txns[index.read_txn[i]]
        if w == t.id:
            continue  # a transaction may see its own unfinished work
        writer = txns[w]
        cases.append({"key": k, "element": last, "read": shown(read), "reader": txn_ref(t),
                      "writer": txn_ref(writer),
                      "explanation": f"{t.name} read key {k!r} as {shown(read)}, ending in "
                                     f"{last!r}, which {writer.name} appended before appending "
                                     f"to {k!r} again"})
    return cases


def dirty_update_cases(index: ListAppendIndex) -> list[dict[str, Any]]:
    """A committed append built on a failed one: in the version order, an element a failed
    transaction appended is followed by one an ok transaction appended."""
    cases = []
    txns = index.txns
    for k in index.failed_keys:
        order = index.order.get(k)
        if not order:
            continue
        appended = index.writer[k]
        failed: tuple[Any, int] | None = None
        for e in order:
            w = appended.get(e, -1)
            if w < 0:
                continue
            if txns[w].type == FAIL:
                if failed is None:
                    failed = (e, w)
            elif txns[w].type == OK and failed is not None:
                bad, fw = failed
                cases.append({"key": k, "failed_element": bad, "element": e,
                              "failed": txn_ref(txns[fw]), "committed": txn_ref(txns[w]),
                              "explanation": f"{txns[w].name} appended {e!r} to key {k!r} after "
                                             f"{bad!r}, which {txns[fw].name} appended and "
                                             f"which failed (read by "
                                             f"{txns[index.longest_reader[k]].name})"})
                failed = None
    return cases


def _internal_mop(mops: list[Any]) -> tuple[int, Any, list[Any], str] | None:
    """(micro-op, key, read, what it should have been) for the first read of a key that does
    not show what the transaction's own earlier reads and appends of that key say it must (the
    last read, then the appends since; or, with no read before, those appends at the end)."""
    # key -> (known prefix? , expected list or expected suffix)
    expected: dict[Any, tuple[bool, list[Any]]] = {}
    for i, mop in enumerate(mops):
        f, k, v = mop[0], mop[1], mop[2]
        state = expected.get(k)
        if f == APPEND:
            if state is None:
                expected[k] = (False, [v])
            else:
                expected[k] = (state[0], state[1] + [v])
            continue
        read = v if v is not None else []
        if state is not None:
            whole, items = state
            if (read != items) if whole else (read[len(read) - len(items):] != items
                                              or len(read) < len(items)):
                return i, k, read, (shown(items) if whole else
                                    "[.., " + ", ".join(map(repr, items)) + "]")
        expected[k] = (True, read)
    return None


def internal_cases(index: ListAppendIndex) -> list[dict[str, Any]]:
    """A transaction inconsistent with itself: a read of a key that does not show what the
    transaction's own earlier reads and appends of that key say it must."""
    cases = []
    for tid in index.internal:
        t = index.txns[tid]
        found = _internal_mop(t.mops)
        if found is None:  # pragma: no cover - the scan picked it for this
            continue
        i, k, read, expected = found
        cases.append({"txn": txn_ref(t), "mop": i, "key": k, "read": shown(read),
                      "expected": expected,
                      "explanation": f"{t.name} read key {k!r} as {shown(read)} in micro-op {i}, "
                                     f"but its own earlier micro-ops say it must be {expected}"})
    return cases


def _shows(read: Any, v: Any) -> bool:
    return v in read


def future_read_cases(index: ListAppendIndex) -> list[dict[str, Any]]:
    """A read shows an element that the same transaction appends only later."""
    cases = []
    for tid in index.future_reads:
        t = index.txns[tid]
        found = future_read(t.mops, _shows)
        if found is None:  # pragma: no cover - the scan picked it for this
            continue
        at, i, k, read = found
        v = t.mops[i][2]
        cases.append({"txn": txn_ref(t), "key": k, "element": v, "read": shown(read),
                      "explanation": f"{t.name} read key {k!r} as {shown(read)} in micro-op "
                                     f"{at}, which holds {v!r}, which it appends itself only "
                                     f"in micro-op {i}"})
    return cases


def lost_update_cases(index: ListAppendIndex) -> list[dict[str, Any]]:
    """Two committed transactions read the same version of a key and both appended to it: each
    should have seen the other's append."""
    groups: dict[tuple[Any, tuple[Any, ...]], list[int]] = {}
    for k, version, tid in index.appends_after_read:
        groups.setdefault((k, version), []).append(tid)
    cases = []
    for (k, version), ids in groups.items():
        if len(ids) < 2:
            continue
        names = [index.txns[i].name for i in ids]
        what = f"a list ending in {version[0]!r}" if version else "the empty list"
        cases.append({"key": k, "read": version[0] if version else None,
                      "txns": [txn_ref(index.txns[i]) for i in ids],
                      "explanation": f"{', '.join(names)} all read key {k!r} as {what} and "
                                     f"then appended to it"})
    return cases


CASES: Final = {
    "duplicate-elements": duplicate_cases,
    "incompatible-order": incompatible_order_cases,
    "garbage-read": garbage_cases,
    "G1a": g1a_cases,
    "G1b": g1b_cases,
    "dirty-update": dirty_update_cases,
    "internal": internal_cases,
    "future-read": future_read_cases,
    "lost-update": lost_update_cases,
}


# -- explanations --------------------------------------------------------------------------------

def explain_edge(index: ListAppendIndex, a: Txn, b: Txn, kind: int) -> str | None:
    """Why a -> b is a `kind` dependency, in words; None when it is not one."""
    explain = {WW: _explain_ww, WR: _explain_wr, RW: _explain_rw}.get(kind)
    return None if explain is None else explain(index, a, b)


def _appends(t: Txn) -> list[tuple[Any, Any]]:
    return [(m[1], m[2]) for m in t.mops if m[0] == APPEND]


def _reads(t: Txn) -> list[tuple[Any, list[Any]]]:
    if t.type != OK:
        return []
    return [(m[1], m[2] if m[2] is not None else []) for m in t.mops if m[0] == READ]


def _explain_ww(index: ListAppendIndex, a: Txn, b: Txn) -> str | None:
    for k, e2 in _appends(b):
        order = index.order.get(k) or []
        position = index.position.get(k, {})
        read = e2 in position
        if not read and b.id not in index.unread.get(k, ()):
            continue
        end = position[e2] if read else len(order)
        for q in range(end - 1, -1, -1):  # the nearest earlier element of a node's
            w = index.node_writer(k, order[q])
            if w < 0:
                continue
            if w == a.id:
                witness = index.txns[index.longest_reader[k]]
                if read:
                    because = (f"{witness.name} read key {k!r} as "
                               f"{shown(order[:position[e2] + 1])}")
                else:
                    because = (f"no read shows {e2!r}, so it came after every element read, "
                               f"and {witness.name} read key {k!r} as {shown(order)}")
                return (f"{a.name} appended {order[q]!r} to key {k!r} before {b.name} appended "
                        f"{e2!r}, because {because}")
            break
    return None


def _explain_wr(index: ListAppendIndex, a: Txn, b: Txn) -> str | None:
    for k, read in _reads(b):
        if read and index.writer.get(k, {}).get(read[-1]) == a.id:
            return (f"{b.name} read key {k!r} as {shown(read)}, ending in {read[-1]!r}, which "
                    f"{a.name} appended")
    return None


def _explain_rw(index: ListAppendIndex, a: Txn, b: Txn) -> str | None:
    for k, read in _reads(a):
        if read and k in index.incompatible and _is_incompatible(index, k, a.id, read):
            continue
        order = index.order.get(k)
        start = index.position[k][read[-1]] + 1 if read else 0
        seen = index.node_writer(k, read[-1]) if read else -1
        if order is not None:
            for q in range(start, len(order)):
                w = index.node_writer(k, order[q])
                if w < 0 or w == seen:
                    continue
                if w == b.id:
                    witness = index.txns[index.longest_reader[k]]
                    return (f"{a.name} read key {k!r} as {shown(read)} and so did not see "
                            f"{order[q]!r}, which {b.name} appended next, because "
                            f"{witness.name} read key {k!r} as {shown(order[:q + 1])}")
                break
            else:
                found = _explain_rw_unread(index, a, b, k, read)
                if found:
                    return found
        else:
            found = _explain_rw_unread(index, a, b, k, read)
            if found:
                return found
    return None


def _explain_rw_unread(index: ListAppendIndex, a: Txn, b: Txn, k: Any,
                       read: list[Any]) -> str | None:
    if b.id not in index.unread.get(k, ()) or (read and index.node_writer(k, read[-1]) == b.id):
        return None
    mine = [e for kk, e in _appends(b) if kk == k and e not in index.position.get(k, {})]
    if not mine:
        return None
    return (f"{a.name} read key {k!r} as {shown(read)} and so did not see {mine[0]!r}, which "
            f"{b.name} appended later: no read shows {mine[0]!r}, so it came after every "
            f"element that was read")


def shown(read: list[Any] | None) -> str:
    """A list as explanations show it: in full when short, else its last elements."""
    if read is None:
        return "[]"
    if len(read) <= SHOWN:
        return "[" + ", ".join(map(repr, read)) + "]"
    return "[.., " + ", ".join(map(repr, read[-SHOWN:])) + "]"


def _key_of(t: Txn, read: list[Any]) -> Any:
    for m in t.mops:
        if m[2] is read:
            return m[1]
    return None
