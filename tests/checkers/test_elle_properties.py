"""Properties of the elle checker over generated histories (Hypothesis shrinks any failure to a
small, replayable history).

- A serial execution of random transactions, each given an invocation/completion window around
  the moment it took effect, is strict serializable by construction: the checker must say so,
  whatever the windows' overlaps, outcomes (failed transactions do not apply; info ones may) and
  sessions.
- Defects injected into such a history are found, and named: a failed transaction whose append
  was read (G1a), two appends swapped in one read (incompatible-order), an acknowledged append
  lost (a later read misses it: an anti-dependency or real-time cycle).
- On small list-append histories, valid or not, the `serializable` verdict agrees with a brute
  force search over serial orders; for rw-register (whose version order is only partly known)
  an invalid verdict implies no serial order exists.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from checkers.elle import ElleChecker
from checkers.history import Event, History

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


class Txn:
    def __init__(self, i: int, mops: list[list[Any]], outcome: str) -> None:
        self.i = i
        self.mops = mops  # as invoked: reads carry None
        self.outcome = outcome
        self.applied = False
        self.result: list[list[Any]] | None = None  # completed micro-ops, when applied
        self.start = self.end = 0
        self.process = 0

    def __repr__(self) -> str:
        return (f"Txn({self.i}, {self.outcome}, p{self.process} {self.start}-{self.end}, "
                f"{self.result if self.outcome == 'ok' else self.mops})")


@st.composite
def serial_histories(draw: Any, workload: str = "append", max_txns: int = 10, keys: int = 3,
                     max_lag: int = 40) -> list[Txn]:
    """Transactions applied one by one (at times 10, 20, ...), each invoked up to max_lag
    before and completed up to max_lag after its moment; info ones applied or not."""
    n = draw(st.integers(1, max_txns))
    counters = [0] * keys
    txns = []
    state: dict[int, Any] = {}
    write = "append" if workload == "append" else "w"
    for i in range(n):
        mops = draw_mops(draw, counters, write)
        outcome = draw(st.sampled_from(["ok"] * 6 + ["info", "fail"]))
        t = Txn(i, mops, outcome)
        t.applied = outcome == "ok" or (outcome == "info" and draw(st.booleans()))
        if t.applied:
            t.result = apply(state, mops, workload)
        point = 10 * (i + 1)
        t.start = point - draw(st.integers(0, max_lag))
        t.end = point + draw(st.integers(0, max_lag))
        txns.append(t)
    assign_processes(txns)
    return txns


def draw_mops(draw: Any, counters: list[int], write: str) -> list[list[Any]]:
    """1-4 micro-ops on keys 0..len(counters)-1: reads, or writes of each key's next value."""
    mops = []
    for _ in range(draw(st.integers(1, 4))):
        k = draw(st.integers(0, len(counters) - 1))
        if draw(st.booleans()):
            mops.append(["r", k, None])
        else:
            counters[k] += 1
            mops.append([write, k, counters[k]])
    return mops


def apply(state: dict[int, Any], mops: list[list[Any]], workload: str) -> list[list[Any]]:
    done = []
    for f, k, v in mops:
        if f == "append":
            state[k] = state.get(k, []) + [v]
            done.append([f, k, v])
        elif f == "w":
            state[k] = v
            done.append([f, k, v])
        else:
            current = state.get(k, [] if workload == "append" else None)
            done.append([f, k, list(current) if isinstance(current, list) else current])
    return done


def assign_processes(txns: list[Txn]) -> None:
    """One transaction at a time per process; a process whose transaction ended info is
    retired (as splitbrain's and Jepsen's are)."""
    free: list[tuple[int, int]] = []  # (end of its last txn, process)
    count = 0
    for t in sorted(txns, key=lambda t: (t.start, t.i)):
        usable = [f for f in free if f[0] < t.start]
        if usable:
            chosen = min(usable)
            free.remove(chosen)
            t.process = chosen[1]
        else:
            t.process = count
            count += 1
        if t.outcome != "info":
            free.append((t.end, t.process))


def to_history(txns: list[Txn]) -> History:
    rows = []
    for t in txns:
        rows.append((t.start, 0, t.i, t.process, "invoke", t.mops))
        done = t.result if t.outcome == "ok" else t.mops
        rows.append((t.end, 1, t.i, t.process, t.outcome, done))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    return History([Event(n, r[0] * 1000 + 1000, r[3], r[4], "txn", r[5])
                    for n, r in enumerate(rows)])


def check(txns: list[Txn], **options: Any) -> dict[str, Any]:
    return ElleChecker(**options).check(to_history(txns))


# -- valid by construction -----------------------------------------------------------------------

@SETTINGS
@given(serial_histories())
def test_serial_list_append_executions_are_strict_serializable(txns):
    r = check(txns)
    assert r["valid"] is True, r.get("reason") or r.get("error")
    assert r["anomaly_types"] == []


@SETTINGS
@given(serial_histories(workload="wr"))
def test_serial_register_executions_are_strict_serializable(txns):
    r = check(txns)
    assert r["valid"] is True, r.get("reason") or r.get("error")
    # such a store is linearizable per key too: ordering versions by it finds nothing either
    r = check(txns, linearizable_keys=True, sequential_keys=True)
    assert r["valid"] is True, r.get("reason") or r.get("error")


@st.composite
def snapshot_isolation_histories(draw: Any, max_txns: int = 10, keys: int = 3) -> list[Txn]:
    """A store giving each transaction a snapshot as of its invocation and applying its appends
    at its completion, unless another transaction appended to one of its keys in between
    (first committer wins: it fails). Snapshot isolation by construction, seldom serializable."""
    n = draw(st.integers(1, max_txns))
    counters = [0] * keys
    txns = []
    for i in range(n):
        t = Txn(i, draw_mops(draw, counters, "append"), "ok")
        t.start = draw(st.integers(0, 100))
        t.end = t.start + draw(st.integers(1, 60))
        txns.append(t)
    state: dict[int, list[Any]] = {}
    changed: dict[int, int] = {}  # key -> time of the last commit appending to it
    snapshots: dict[int, dict[int, list[Any]]] = {}
    events = sorted([(t.start, 0, t.i) for t in txns] + [(t.end, 1, t.i) for t in txns])
    for when, what, i in events:
        t = txns[i]
        if what == 0:
            snapshots[i] = {k: list(v) for k, v in state.items()}
            continue
        if any(m[0] == "append" and changed.get(m[1], -1) >= t.start for m in t.mops):
            t.outcome = "fail"
            continue
        seen = snapshots[i]
        t.result = []
        for f, k, v in t.mops:
            if f == "append":
                seen[k] = seen.get(k, []) + [v]
                t.result.append([f, k, v])
            else:
                t.result.append([f, k, list(seen.get(k, []))])
        for f, k, v in t.mops:
            if f == "append":
                state[k] = state.get(k, []) + [v]
                changed[k] = when
        t.applied = True
    assign_processes(txns)
    return txns


@SETTINGS
@given(snapshot_isolation_histories())
def test_snapshot_isolation_executions_are_strong_snapshot_isolation(txns):
    r = check(txns, consistency="strong-snapshot-isolation")
    assert r["valid"] is True, r.get("reason")
    assert not {"G-single", "G-nonadjacent"} & set(r["anomaly_types"])


# -- injected defects ----------------------------------------------------------------------------

def reads(txns: list[Txn]) -> list[tuple[Txn, int]]:
    return [(t, j) for t in txns if t.outcome == "ok" for j, m in enumerate(t.result or [])
            if m[0] == "r"]


@SETTINGS
@given(serial_histories(), st.data())
def test_a_read_of_an_aborted_append_is_g1a(txns, data):
    # an ok transaction whose append someone else read becomes a failed one
    seen = {(m[1], e) for t, j in reads(txns) for m in [t.result[j]] for e in m[2]}
    candidates = [t for t in txns if t.outcome == "ok" and any(
        m[0] == "append" and (m[1], m[2]) in seen and not _reads_own(txns, t, m) for m in t.mops)]
    assume(candidates)
    victim = data.draw(st.sampled_from(candidates))
    victim.outcome = "fail"
    r = check(txns)
    assert r["valid"] is False and "G1a" in r["anomaly_types"], r["anomaly_types"]


def _reads_own(txns: list[Txn], t: Txn, mop: list[Any]) -> bool:
    """Whether only t itself read its append `mop` (then failing it hides nothing)."""
    return all(r is t for r, j in reads(txns) if mop[2] in r.result[j][2] and
               r.result[j][1] == mop[1])


@SETTINGS
@given(serial_histories(), st.data())
def test_two_appends_swapped_in_a_read_are_an_incompatible_order(txns, data):
    pairs = []
    for t, j in reads(txns):
        k, read = t.result[j][1], t.result[j][2]
        for q in range(len(read) - 1):
            a, b = read[q], read[q + 1]
            # another read (any other micro-op) shows both, in their true order
            if any((u, i) != (t, j) and u.result[i][1] == k and a in u.result[i][2]
                   and b in u.result[i][2] for u, i in reads(txns)):
                pairs.append((t, j, q))
    assume(pairs)
    t, j, q = data.draw(st.sampled_from(pairs))
    read = list(t.result[j][2])
    read[q], read[q + 1] = read[q + 1], read[q]
    t.result[j] = [t.result[j][0], t.result[j][1], read]
    r = check(txns)
    assert r["valid"] is False and "incompatible-order" in r["anomaly_types"], r["anomaly_types"]


@SETTINGS
@given(serial_histories(max_lag=15), st.data())
def test_a_lost_acknowledged_append_is_a_read_that_missed_it(txns, data):
    # the last append to some key, acknowledged, is lost: every later read of the key lacks it
    # (the transaction's only append to that key: losing one of several is G1b or
    # incompatible-order, tested elsewhere)
    last_append: dict[int, tuple[Txn, int]] = {}
    for t in txns:
        if t.applied:
            for j, m in enumerate(t.mops):
                if m[0] == "append":
                    last_append[m[1]] = (t, j)
    choices = []
    for k, (t, j) in last_append.items():
        if t.outcome != "ok" or any(m[1] == k for i, m in enumerate(t.mops) if i != j):
            continue
        later = [(u, i) for u, i in reads(txns) if u.i > t.i and u.result[i][1] == k]
        if any(u.start > t.end for u, _ in later):  # someone began after the ack and read k
            choices.append((k, t, later))
    assume(choices)
    k, t, later = data.draw(st.sampled_from(choices))
    element = t.mops[last_append[k][1]][2]
    for u, i in later:
        u.result[i] = ["r", k, [e for e in u.result[i][2] if e != element]]
    r = check(txns)
    assert r["valid"] is False, r
    for kind in r["anomaly_types"]:
        # an anti-dependency cycle (the read that missed it), or one through real time
        assert kind.startswith(("G-single", "G-nonadjacent", "G2-item")) or \
            kind.endswith(("-realtime", "-process")), r["anomaly_types"]


# -- agreement with brute force ------------------------------------------------------------------

def serial_order_exists(txns: list[Txn], workload: str) -> bool:
    """Some order of the ok transactions, plus any of the info ones, executed one at a time
    from the empty state, reproduces every ok read."""
    ok = [t for t in txns if t.outcome == "ok"]
    maybe = [t for t in txns if t.outcome == "info"]

    def run(state: dict[int, Any], t: Txn) -> dict[int, Any] | None:
        state = dict(state)
        for j, (f, k, v) in enumerate(t.mops):
            if f == "append":
                state[k] = state.get(k, ()) + (v,)
            elif f == "w":
                state[k] = v
            elif t.outcome == "ok":
                seen = t.result[j][2]
                expected = state.get(k, () if workload == "append" else None)
                if (tuple(seen) if workload == "append" else seen) != expected:
                    return None
        return state

    def search(state: dict[int, Any], todo: frozenset, optional: frozenset) -> bool:
        if not todo:
            return True
        for t in list(todo) + list(optional):
            after = run(state, t)
            if after is not None and search(after, todo - {t}, optional - {t}):
                return True
        return False

    return search({}, frozenset(ok), frozenset(maybe))


@st.composite
def perturbed_histories(draw: Any, workload: str = "append") -> list[Txn]:
    """Small serial histories whose reads are then, now and then, replaced by other plausible
    values: an earlier or later state of the key, elements swapped, or a failed write seen."""
    txns = draw(serial_histories(workload=workload, max_txns=6, keys=2))
    values: dict[int, list[Any]] = {}
    for t in txns:
        for f, k, v in t.mops:
            if f != "r":
                values.setdefault(k, []).append(v)
    for t, j in reads(txns):
        if not draw(st.integers(0, 3)) == 0:
            continue
        k = t.result[j][1]
        pool = values.get(k, [])
        if workload == "append":
            chosen = draw(st.lists(st.sampled_from(pool), unique=True, max_size=len(pool))) \
                if pool else []
        else:
            chosen = draw(st.sampled_from(pool + [None]))
        t.result[j] = ["r", k, chosen]
    return txns


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(perturbed_histories())
def test_serializable_verdict_agrees_with_brute_force_on_list_append(txns):
    r = check(txns, consistency="serializable")
    assert r["valid"] is serial_order_exists(txns, "append"), (r["anomaly_types"],
                                                              r.get("reason"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(perturbed_histories(workload="wr"))
def test_an_invalid_register_verdict_means_no_serial_order_exists(txns):
    r = check(txns, consistency="serializable")
    if r["valid"] is False:
        assert not serial_order_exists(txns, "wr"), (r["anomaly_types"], r.get("reason"))
