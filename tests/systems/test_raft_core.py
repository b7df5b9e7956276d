"""Tests of the pure Raft core (systems/raftkv/core.py), driven in one process with virtual time.

SimCluster below is a tiny in-process network and virtual clock for several RaftCore instances.
Messages are delivered after a small random delay; nodes can crash (losing volatile state, keeping
what they persisted), restart, and be cut off from each other. Persistent writes of every Output are
applied to the node's "disk" before its messages enter the network, as the real node does.
"""

from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from systems.raftkv.core import (FOLLOWER, LEADER, AppendEntries, AppendLog, AppendReply, ClientReply, Entry,
                                 Output, RaftConfig, RaftCore, RequestVote, SetHardState, TruncateLog, VoteReply)
from systems.raftkv.storage import Storage


@dataclass
class Disk:
    term: int = 0
    voted_for: str | None = None
    log: list[Entry] = field(default_factory=list)

    def apply(self, ops) -> None:
        for op in ops:
            if isinstance(op, SetHardState):
                self.term, self.voted_for = op.term, op.voted_for
            elif isinstance(op, TruncateLog):
                del self.log[op.keep:]
            elif isinstance(op, AppendLog):
                assert op.index == len(self.log) + 1, "appends must be contiguous"
                self.log.append(op.entry)


class SimCluster:
    def __init__(self, n: int = 3, seed: int = 0, bugs: frozenset[str] = frozenset(),
                 config: RaftConfig | None = None, delay: tuple[float, float] = (0.001, 0.005),
                 storage_dir=None) -> None:
        self.ids = [f"n{i + 1}" for i in range(n)]
        self.rng = random.Random(seed)
        self.bugs = bugs
        self.config = config or RaftConfig()
        self.delay = delay
        self.now = 0.0
        self.disks = {i: Disk() for i in self.ids}
        # with storage_dir, every node also persists to a real Storage and restarts from it
        self.storages = {i: Storage(storage_dir / i) for i in self.ids} if storage_dir else {}
        self.cores: dict[str, RaftCore] = {}
        self.cut: set[frozenset[str]] = set()  # pairs that cannot talk
        self.isolated: set[str] = set()
        self.replies: dict[Any, ClientReply] = {}
        self.reply_times: dict[Any, float] = {}
        self.leaders_by_term: dict[int, set[str]] = {}
        self.committed: dict[int, Entry] = {}  # index -> the entry any node committed there
        self._queue: list = []
        self._seq = itertools.count()
        self._rids = itertools.count(1)
        for i in self.ids:
            self.start(i)

    # ---- nodes --------------------------------------------------------------------------------

    def start(self, node: str) -> None:
        d = self.disks[node]
        if self.storages:
            d = self.storages[node].open()
        self.cores[node] = RaftCore(node, self.ids, rng=random.Random(self.rng.random()), now=self.now,
                                    config=self.config, bugs=self.bugs, term=d.term, voted_for=d.voted_for,
                                    log=list(d.log))

    def crash(self, node: str) -> None:
        self.cores.pop(node, None)
        if self.storages:
            self.storages[node].close()

    def isolate(self, node: str) -> None:
        self.isolated.add(node)

    def heal(self) -> None:
        self.isolated.clear()
        self.cut.clear()

    def _connected(self, a: str, b: str) -> bool:
        return a not in self.isolated and b not in self.isolated and frozenset((a, b)) not in self.cut

    # ---- driving ------------------------------------------------------------------------------

    def _handle(self, node: str, out: Output) -> None:
        self.disks[node].apply(out.persist)
        if self.storages:
            self.storages[node].apply(out.persist)
        for msg in out.messages:
            if self._connected(msg.src, msg.dst):
                at = self.now + self.rng.uniform(*self.delay)
                heapq.heappush(self._queue, (at, next(self._seq), msg))
        for reply in out.replies:
            self.replies[reply.request_id] = reply
            self.reply_times[reply.request_id] = self.now
        self._observe(node)

    def _observe(self, node: str) -> None:
        core = self.cores.get(node)
        if core is None:
            return
        if core.role == LEADER:
            self.leaders_by_term.setdefault(core.term, set()).add(node)
        for i in range(1, core.commit_index + 1):
            entry = core.log[i]
            seen = self.committed.setdefault(i, entry)
            assert seen == entry, f"{node} committed {entry} at {i}, another node committed {seen}"

    def request(self, node: str, op: dict) -> int:
        rid = next(self._rids)
        self._handle(node, self.cores[node].request(rid, op, self.now))
        return rid

    def run(self, duration: float, step: float = 0.005) -> None:
        end = self.now + duration
        while self.now < end:
            self.now = min(end, self.now + step)
            while self._queue and self._queue[0][0] <= self.now:
                _, _, msg = heapq.heappop(self._queue)
                core = self.cores.get(msg.dst)
                if core is not None and self._connected(msg.src, msg.dst):
                    self._handle(msg.dst, core.receive(msg, self.now))
            for node in list(self.cores):
                self._handle(node, self.cores[node].tick(self.now))

    def run_until(self, predicate, timeout: float = 10.0, step: float = 0.005) -> bool:
        end = self.now + timeout
        while self.now < end:
            if predicate():
                return True
            self.run(step, step)
        return predicate()

    def call(self, node: str, op: dict, timeout: float = 5.0) -> ClientReply | None:
        rid = self.request(node, op)
        self.run_until(lambda: rid in self.replies, timeout)
        return self.replies.get(rid)

    # ---- observations -------------------------------------------------------------------------

    def leader(self) -> str | None:
        leaders = [(c.term, n) for n, c in self.cores.items() if c.role == LEADER]
        return max(leaders)[1] if leaders else None

    def ready_leader(self) -> str | None:
        ready = [(c.term, n) for n, c in self.cores.items() if c.ready]
        return max(ready)[1] if ready else None

    def wait_ready(self, timeout: float = 10.0) -> str:
        assert self.run_until(lambda: self.ready_leader() is not None, timeout), "no leader became ready"
        return self.ready_leader()  # type: ignore[return-value]


def W(key, value):
    return {"f": "write", "key": key, "value": value}


def R(key):
    return {"f": "read", "key": key, "value": None}


def CAS(key, expected, new):
    return {"f": "cas", "key": key, "value": [expected, new]}


NO_CHECK_QUORUM = RaftConfig(check_quorum=False)


# ---- elections and replication ------------------------------------------------------------------

def test_one_leader_is_elected_and_commits_its_noop_first():
    c = SimCluster(seed=1)
    leader = c.wait_ready()
    core = c.cores[leader]
    assert core.log[1] == Entry(core.term, None)
    c.run(1.0)
    assert [n for n, x in c.cores.items() if x.role == LEADER] == [leader]
    assert all(x.leader_id == leader and x.term == core.term for x in c.cores.values())
    assert all(x.commit_index == core.commit_index for x in c.cores.values())


def test_write_read_cas_through_leader_and_followers():
    c = SimCluster(seed=2)
    leader = c.wait_ready()
    follower = next(n for n in c.ids if n != leader)
    assert c.call(follower, W("k", 1)).status == "ok"  # forwarded to the leader
    read = c.call(leader, R("k"))
    assert (read.status, read.value) == ("ok", 1)
    assert c.call(follower, R("k")).value == 1
    assert c.call(follower, CAS("k", 1, 2)).status == "ok"
    refused = c.call(leader, CAS("k", 1, 3))
    assert refused.status == "fail" and "cas mismatch" in refused.error
    assert c.call(follower, R("k")).value == 2
    assert c.call(follower, R("absent")).value is None
    assert c.call(leader, {"f": "incr", "key": "k"}).status == "fail"


def test_request_with_no_leader_known_fails_before_anything_happens():
    c = SimCluster(seed=3)
    reply = c.call("n1", W("k", 1), timeout=0)
    assert reply.status == "fail" and "no leader" in reply.error
    assert c.cores["n1"].last_index == 0


def test_vote_is_persisted_before_the_reply_and_never_given_twice_in_a_term():
    core = RaftCore("n1", ["n1", "n2", "n3"], rng=random.Random(0), now=0.0)
    out = core.receive(RequestVote("n2", "n1", 5, 0, 0), 0.0)
    assert out.persist == [SetHardState(5, None), SetHardState(5, "n2")]
    assert out.messages == [VoteReply("n1", "n2", 5, True)]
    # after a restart from the persisted state, the same term's vote stays with n2
    again = RaftCore("n1", ["n1", "n2", "n3"], rng=random.Random(0), now=0.0, term=5, voted_for="n2")
    out = again.receive(RequestVote("n3", "n1", 5, 0, 0), 0.0)
    assert out.messages == [VoteReply("n1", "n3", 5, False)] and out.persist == []


def test_vote_refused_to_a_candidate_with_an_older_log():
    core = RaftCore("n1", ["n1", "n2", "n3"], rng=random.Random(0), now=0.0, term=2,
                    log=[Entry(1), Entry(2)])
    out = core.receive(RequestVote("n2", "n1", 3, 5, 1), 0.0)  # longer but older last term
    assert out.messages[-1] == VoteReply("n1", "n2", 3, False)


def test_committed_write_survives_a_leader_crash_and_the_old_leader_catches_up():
    c = SimCluster(seed=4)
    old = c.wait_ready()
    assert c.call(old, W("k", "v1")).status == "ok"
    c.crash(old)
    new = c.wait_ready()
    assert new != old
    assert c.call(new, R("k")).value == "v1"
    assert c.call(new, W("k", "v2")).status == "ok"
    c.start(old)
    c.run(1.5)
    assert c.cores[old].role == FOLLOWER and c.cores[old].kv["k"] == "v2"


def test_restart_of_every_node_from_real_storage(tmp_path):
    c = SimCluster(seed=5, storage_dir=tmp_path)
    leader = c.wait_ready()
    for i in range(5):
        assert c.call(leader, W(i % 2, i)).status == "ok"
    terms = {n: c.cores[n].term for n in c.ids}
    for n in c.ids:
        c.crash(n)
    for n in c.ids:
        c.start(n)
        assert c.cores[n].term == terms[n] and c.cores[n].commit_index == 0  # commit is volatile
    leader = c.wait_ready()
    assert c.call(leader, R(0)).value == 4 and c.call(leader, R(1)).value == 3


def _leader_of_term_2_with_an_old_entry():
    """n1 has an entry from term 1 that no one knows is committed, and wins term 2."""
    core = RaftCore("n1", ["n1", "n2", "n3"], rng=random.Random(0), now=0.0, term=1,
                    log=[Entry(1, {"f": "write", "key": "k", "value": 1})])
    core.tick(1.0)  # election timeout: candidate in term 2
    out = core.receive(VoteReply("n2", "n1", 2, True), 1.0)
    return core, out


def test_new_leader_appends_a_noop_and_old_entries_commit_only_with_it():
    core, out = _leader_of_term_2_with_an_old_entry()
    assert core.role == LEADER and core.term == 2
    assert out.persist == [AppendLog(2, Entry(2, None))]
    assert AppendEntries("n1", "n2", 2, 1, 1, (Entry(2, None),), 0, 0) in out.messages
    # A majority (n1, n2) holds the term-1 entry, but it is not of this term: no commit by counting.
    core.receive(AppendReply("n2", "n1", 2, True, 1, 0), 1.01)
    assert core.commit_index == 0 and core.kv == {}
    core.receive(AppendReply("n2", "n1", 2, True, 2, 0), 1.02)
    assert core.commit_index == 2 and core.kv == {"k": 1}


def test_read_index_waits_for_the_noop_then_for_a_heartbeat_round():
    core, _ = _leader_of_term_2_with_an_old_entry()
    out = core.request("r1", R("k"), 1.01)
    assert out.replies == []  # no-op not committed yet
    out = core.receive(AppendReply("n2", "n1", 2, True, 2, 0), 1.02)
    assert out.replies == []  # no-op committed: the read now needs a heartbeat round
    round_msgs = [m for m in out.messages if isinstance(m, AppendEntries)]
    assert round_msgs and all(m.seq == 1 for m in round_msgs)
    out = core.receive(AppendReply("n3", "n1", 2, True, 2, 0), 1.03)  # an ack of an older round
    assert out.replies == []
    out = core.receive(AppendReply("n3", "n1", 2, True, 2, 1), 1.04)
    assert out.replies == [ClientReply("r1", "ok", 1)]


def test_deposed_leader_fails_reads_and_reports_pending_writes_unknown():
    core, _ = _leader_of_term_2_with_an_old_entry()
    core.receive(AppendReply("n2", "n1", 2, True, 2, 0), 1.01)
    core.request("w", W("k", 9), 1.02)
    core.request("r", R("k"), 1.02)
    out = core.receive(AppendEntries("n3", "n1", 3, 0, 0, (), 0, 0), 1.03)
    assert core.role == FOLLOWER and core.leader_id == "n3"
    assert set(out.replies) == {ClientReply("w", "unknown", None, "leadership lost before the entry committed"),
                                ClientReply("r", "fail", None, "not leader")}


def test_isolated_leader_never_answers_a_read():
    c = SimCluster(seed=6, config=NO_CHECK_QUORUM)
    old = c.wait_ready()
    assert c.call(old, W("k", 1)).status == "ok"
    c.isolate(old)
    assert c.run_until(lambda: c.ready_leader() not in (None, old), 5)
    assert c.call(c.ready_leader(), W("k", 2)).status == "ok"
    assert c.cores[old].role == LEADER  # it does not know
    assert c.call(old, R("k"), timeout=2.0) is None


def test_check_quorum_makes_an_isolated_leader_step_down():
    c = SimCluster(seed=7)
    old = c.wait_ready()
    c.isolate(old)
    c.run(1.5)
    assert c.cores[old].role != LEADER


@pytest.mark.parametrize("seed", range(6))
def test_safety_under_random_crashes_restarts_and_partitions(seed):
    rng = random.Random(seed)
    c = SimCluster(n=5 if seed % 2 else 3, seed=seed, delay=(0.001, 0.03))
    writes: dict[int, int] = {}  # request id -> value written
    value = itertools.count(1)
    for _ in range(40):
        roll = rng.random()
        if roll < 0.15:
            c.crash(rng.choice(c.ids))
        elif roll < 0.3:
            for n in c.ids:
                if n not in c.cores:
                    c.start(n)
        elif roll < 0.4:
            c.isolate(rng.choice(c.ids))
        elif roll < 0.5:
            c.cut.add(frozenset(rng.sample(c.ids, 2)))
        elif roll < 0.6:
            c.heal()
        for _ in range(3):
            live = sorted(c.cores)
            if live:
                v = next(value)
                writes[c.request(rng.choice(live), W("k", v))] = v
        c.run(rng.uniform(0.05, 0.4))
    c.heal()
    for n in c.ids:
        if n not in c.cores:
            c.start(n)
    leader = c.wait_ready()
    c.run(2.0)
    # election safety: at most one leader per term (observed after every step)
    assert all(len(leaders) == 1 for leaders in c.leaders_by_term.values()), c.leaders_by_term
    # log matching and convergence
    logs = [c.cores[n].log for n in c.ids]
    for a in logs:
        for b in logs:
            for i in range(1, min(len(a), len(b))):
                if a[i].term == b[i].term:
                    assert a[:i + 1] == b[:i + 1]
    assert len({c.cores[n].commit_index for n in c.ids}) == 1
    assert all(c.cores[n].kv == c.cores[leader].kv for n in c.ids)
    # every acknowledged write is in the committed log
    committed = {e.command["value"] for e in c.cores[leader].log[1:c.cores[leader].commit_index + 1] if e.command}
    acked = {v for rid, v in writes.items() if rid in c.replies and c.replies[rid].status == "ok"}
    assert acked and acked <= committed
    # a write reported failed never took effect
    failed = {v for rid, v in writes.items() if rid in c.replies and c.replies[rid].status == "fail"}
    assert not failed & committed


# ---- the bugs, shown deterministically ------------------------------------------------------------

def test_bug_follower_reads_answers_stale_from_a_cut_off_follower():
    for bugs, stale_expected in ((frozenset({"follower-reads"}), True), (frozenset(), False)):
        c = SimCluster(seed=8, bugs=bugs)
        leader = c.wait_ready()
        assert c.call(leader, W("k", 1)).status == "ok"
        c.run(0.3)
        follower = next(n for n in c.ids if n != leader)
        c.isolate(follower)
        assert c.call(leader, W("k", 2)).status == "ok"
        reply = c.call(follower, R("k"), timeout=4.0)
        if stale_expected:
            assert reply == ClientReply(reply.request_id, "ok", 1)
        else:
            assert reply is None or reply.status != "ok"


def test_bug_stale_leader_reads_answers_from_a_deposed_leader():
    for bugs, stale_expected in ((frozenset({"stale-leader-reads"}), True), (frozenset(), False)):
        c = SimCluster(seed=9, bugs=bugs, config=NO_CHECK_QUORUM)
        old = c.wait_ready()
        assert c.call(old, W("k", 1)).status == "ok"
        assert c.call(old, R("k")).value == 1  # fault-free: linearizable
        c.isolate(old)
        assert c.run_until(lambda: c.ready_leader() not in (None, old), 5)
        assert c.call(c.ready_leader(), W("k", 2)).status == "ok"
        reply = c.call(old, R("k"), timeout=1.0)
        if stale_expected:
            assert reply is not None and reply.status == "ok" and reply.value == 1
        else:
            assert reply is None


def test_bug_early_ack_loses_an_acknowledged_write_when_the_leader_dies():
    for bugs, lost_expected in ((frozenset({"early-ack"}), True), (frozenset(), False)):
        c = SimCluster(seed=10, bugs=bugs)
        leader = c.wait_ready()
        assert c.call(leader, W("k", 1)).status == "ok"
        assert c.call(leader, R("k")).value == 1  # fault-free: reads see acknowledged writes
        c.run(0.5)
        rid = c.request(leader, W("k", 2))
        acked = rid in c.replies and c.replies[rid].status == "ok"
        assert acked == lost_expected  # only the bug acknowledges before replicating
        c.crash(leader)  # before the next heartbeat
        new = c.wait_ready()
        read = c.call(new, R("k"))
        if lost_expected:
            assert read.value == 1  # acknowledged, yet it never reached a follower
        else:
            assert read.value in (1, 2)  # not acknowledged, so either outcome is allowed


def test_forwarded_requests_are_released_when_the_leader_changes():
    c = SimCluster(seed=11, config=NO_CHECK_QUORUM)
    old = c.wait_ready()
    follower = next(n for n in c.ids if n != old)
    c.isolate(old)
    write, read = c.request(follower, W("k", 1)), c.request(follower, R("k"))
    assert c.run_until(lambda: c.ready_leader() not in (None, old), 5)
    assert c.now < c.config.forward_timeout  # answered because the leader changed, not by the timeout
    assert c.replies[write].status == "unknown" and c.replies[read].status == "fail"


# -- transactions ---------------------------------------------------------------------------------

def _alone(bugs: frozenset[str] = frozenset()) -> RaftCore:
    core = RaftCore("n1", ["n1"], rng=random.Random(1), now=0.0, bugs=bugs)
    core.tick(10.0)
    core.tick(10.1)
    assert core.ready
    return core


def _txn(core: RaftCore, rid: int, micro_ops: list) -> ClientReply:
    (reply,) = core.request(rid, {"f": "txn", "key": None, "value": micro_ops}, 11.0).replies
    return reply


@pytest.mark.parametrize("bugs", [frozenset(), frozenset({"nonatomic-txn"})])
def test_a_transaction_sees_its_own_writes_and_answers_its_reads(bugs):
    core = _alone(bugs)
    reply = _txn(core, 1, [["append", "k", 1], ["r", "k", None], ["w", "x", 5], ["r", "x", None],
                           ["append", "k", 2], ["r", "k", None]])
    assert reply.status == "ok"
    assert reply.value == [["append", "k", 1], ["r", "k", [1]], ["w", "x", 5], ["r", "x", 5],
                           ["append", "k", 2], ["r", "k", [1, 2]]]
    assert _txn(core, 2, [["r", "k", None], ["r", "nothing", None]]).value == \
        [["r", "k", [1, 2]], ["r", "nothing", None]]


def test_a_transaction_is_one_log_entry_and_nonatomic_txn_makes_one_per_micro_op():
    micro_ops = [["append", "k", 1], ["append", "j", 1], ["r", "k", None]]
    atomic, split = _alone(), _alone(frozenset({"nonatomic-txn"}))
    before = atomic.last_index, split.last_index
    _txn(atomic, 1, micro_ops)
    _txn(split, 1, micro_ops)
    assert (atomic.last_index - before[0], split.last_index - before[1]) == (1, 3)


def test_other_transactions_land_between_the_micro_ops_of_a_nonatomic_one():
    cluster = SimCluster(3, seed=5, bugs=frozenset({"nonatomic-txn"}))
    leader = cluster.wait_ready()
    a = cluster.request(leader, {"f": "txn", "value": [["append", "x", 1], ["append", "y", 1]]})
    b = cluster.request(leader, {"f": "txn", "value": [["r", "y", None]]})
    assert cluster.run_until(lambda: a in cluster.replies and b in cluster.replies)
    # b's entry committed between a's two: it did not see a's append to y, though a's append to
    # x had already applied
    log = [e.command["value"] for e in cluster.cores[leader].log if e.command]
    assert log == [[["append", "x", 1]], [["r", "y", None]], [["append", "y", 1]]]
    assert cluster.replies[a].status == "ok"
    assert cluster.replies[b].value == [["r", "y", None]]


@pytest.mark.parametrize("micro_ops,why", [
    ([], "non-empty list"), ("r", "non-empty list"), ([["r", "k"]], "is not [f, key, value]"),
    ([["cas", "k", 1]], "is not [f, key, value]"), ([["w", [1], 1]], "the key must be"),
    ([["w", "k", {"a": 1}]], "the value must be"),
])
def test_a_malformed_transaction_is_refused_before_anything_happens(micro_ops, why):
    core = _alone()
    before = core.last_index
    reply = _txn(core, 1, micro_ops)
    assert reply.status == "fail" and why in reply.error and core.last_index == before
