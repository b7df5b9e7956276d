"""Raft consensus and the key-value state machine of raftkv, as a pure, deterministic state machine.

No sockets, no clock, no randomness of its own: the caller passes the current time (monotonic
seconds) into every call and a random.Random for the election timeouts. Every public call returns
an Output that the caller must carry out IN ORDER: first make `persist` durable (fsync), then send
`messages` and deliver `replies`. That order is what makes a vote or an acknowledged entry survive
a crash. The node process (node.py) and the tests (and later a simulator) drive this same code.

Transactions (`f` "txn", value a list of micro-ops [f, key, value] with f in r, w, append) are
one log entry each, applied atomically and in order by the state machine: reads see the
transaction's own earlier writes, and the reply carries the micro-ops with their reads filled in.

What is implemented (Raft paper, sections 5 and 8): randomized election timeouts, log replication
with consistency check and fast back-up, commit by majority counting only for entries of the current
term, the no-op entry each new leader appends, linearizable reads through read-index (after the no-op
committed, a heartbeat round confirms leadership, then the read is answered once applied up to the
read index) or through the log, check-quorum (a leader that has not heard from a majority for an
election timeout steps down), and forwarding of client requests from followers to the leader.
Not implemented: snapshots / log compaction, membership changes, pre-vote.

Switchable bugs (see BUGS) reproduce realistic mistakes so that checkers have something to find.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Union

FOLLOWER, CANDIDATE, LEADER = "follower", "candidate", "leader"

BUGS: dict[str, str] = {
    "follower-reads": "followers answer reads from their own applied state (stale even without faults)",
    "stale-leader-reads": "the leader answers reads from its applied state without confirming it still "
                          "leads, and never checks that a majority still follows it (stale after a "
                          "pause or partition of the leader)",
    "early-ack": "the leader acknowledges a write once it is in its own log and replicates it only with "
                 "the next heartbeat (lost if that leader dies or is deposed first)",
    "nonatomic-txn": "the leader runs a transaction as one log entry per micro-op, proposing each only "
                     "after the one before applied, so other transactions' entries land in between "
                     "(reads see half of a transaction; found without faults)",
}

OPS = ("read", "write", "cas", "txn", "add")
MICRO_OPS = ("r", "w", "append")


@dataclass(frozen=True)
class RaftConfig:
    """Timing (seconds) and behaviour. Defaults suit a test cluster on one machine."""

    election_timeout_min: float = 0.3
    election_timeout_max: float = 0.6
    heartbeat_interval: float = 0.1
    forward_timeout: float = 3.0  # a follower answers `unknown` if the leader did not answer a forward
    max_batch: int = 64  # entries per AppendEntries
    read_mode: str = "index"  # "index": read-index; "log": reads go through the log
    check_quorum: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.election_timeout_min <= self.election_timeout_max:
            raise ValueError("election timeout: need 0 < min <= max")
        if not 0 < self.heartbeat_interval < self.election_timeout_min:
            raise ValueError("heartbeat interval must be positive and below the election timeout")
        if self.read_mode not in ("index", "log"):
            raise ValueError(f"unknown read mode {self.read_mode!r} (index, log)")


@dataclass(frozen=True)
class Entry:
    """One log entry. command None is the no-op a new leader appends."""

    term: int
    command: dict[str, Any] | None = None


# ---- messages between nodes -------------------------------------------------------------------

@dataclass(frozen=True)
class RequestVote:
    src: str
    dst: str
    term: int
    last_log_index: int
    last_log_term: int


@dataclass(frozen=True)
class VoteReply:
    src: str
    dst: str
    term: int
    granted: bool


@dataclass(frozen=True)
class AppendEntries:
    src: str
    dst: str
    term: int
    prev_log_index: int
    prev_log_term: int
    entries: tuple[Entry, ...]
    leader_commit: int
    seq: int  # heartbeat round, echoed by the follower; confirms leadership for read-index


@dataclass(frozen=True)
class AppendReply:
    src: str
    dst: str
    term: int
    success: bool
    match_index: int  # on success: last index known to match; on failure: where to retry from (-1)
    seq: int


@dataclass(frozen=True)
class Forward:
    """A client request a follower hands to the leader."""

    src: str
    dst: str
    forward_id: int
    op: dict[str, Any]


@dataclass(frozen=True)
class ForwardReply:
    src: str
    dst: str
    forward_id: int
    status: str
    value: Any = None
    error: str | None = None


Message = Union[RequestVote, VoteReply, AppendEntries, AppendReply, Forward, ForwardReply]
MESSAGE_TYPES: dict[str, type] = {cls.__name__: cls for cls in
                                  (RequestVote, VoteReply, AppendEntries, AppendReply, Forward, ForwardReply)}


def message_to_wire(msg: Message) -> dict[str, Any]:
    """A JSON-ready dict for a message (entries as [term, command] pairs)."""
    d: dict[str, Any] = {"type": type(msg).__name__}
    for name in msg.__dataclass_fields__:
        d[name] = getattr(msg, name)
    if isinstance(msg, AppendEntries):
        d["entries"] = [[e.term, e.command] for e in msg.entries]
    return d


def message_from_wire(d: dict[str, Any]) -> Message:
    """The message a wire dict describes; ValueError if it is not one."""
    cls = MESSAGE_TYPES.get(d.get("type"))  # type: ignore[arg-type]
    if cls is None:
        raise ValueError(f"unknown message type {d.get('type')!r}")
    try:
        kwargs = {name: d[name] for name in cls.__dataclass_fields__}
        if cls is AppendEntries:
            kwargs["entries"] = tuple(Entry(int(t), c) for t, c in kwargs["entries"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"malformed {cls.__name__}: {e}") from None
    return cls(**kwargs)


# ---- what the caller must do --------------------------------------------------------------------

@dataclass(frozen=True)
class SetHardState:
    term: int
    voted_for: str | None


@dataclass(frozen=True)
class TruncateLog:
    keep: int  # keep entries 1..keep, drop the rest


@dataclass(frozen=True)
class AppendLog:
    index: int
    entry: Entry


PersistOp = Union[SetHardState, TruncateLog, AppendLog]


@dataclass(frozen=True)
class ClientReply:
    """The answer to a client request: ok (happened), fail (certainly did not), unknown."""

    request_id: Any
    status: str
    value: Any = None
    error: str | None = None


@dataclass
class Output:
    persist: list[PersistOp] = field(default_factory=list)  # make durable first, in this order
    messages: list[Message] = field(default_factory=list)
    replies: list[ClientReply] = field(default_factory=list)
    events: list[str] = field(default_factory=list)  # log lines for people: elections, terms, commits


# ---- internal bookkeeping -----------------------------------------------------------------------

@dataclass(frozen=True)
class _Origin:
    """Who asked: a local client (node None) or a follower that forwarded the request."""

    request_id: Any
    node: str | None = None


@dataclass
class _Proposal:
    origin: _Origin
    term: int


@dataclass
class _TxnRun:
    """A transaction the nonatomic-txn bug runs one micro-op entry at a time."""

    origin: _Origin
    term: int
    todo: list[list[Any]]
    done: list[list[Any]] = field(default_factory=list)


@dataclass
class _Read:
    origin: _Origin
    key: Any
    read_index: int = 0
    seq: int = 0


class RaftCore:
    """One Raft node plus its key-value state machine."""

    def __init__(self, node_id: str, peers: list[str] | tuple[str, ...], *, rng: random.Random,
                 now: float, config: RaftConfig = RaftConfig(), bugs: frozenset[str] | set[str] = frozenset(),
                 term: int = 0, voted_for: str | None = None, log: list[Entry] | tuple[Entry, ...] = ()) -> None:
        unknown = set(bugs) - set(BUGS)
        if unknown:
            raise ValueError(f"unknown bug(s): {', '.join(sorted(unknown))} (known: {', '.join(BUGS)})")
        self.id = node_id
        self.peers = tuple(sorted(p for p in peers if p != node_id))
        self.config = config
        self.bugs = frozenset(bugs)
        self._rng = rng
        self._now = now
        # persistent state (recovered by the caller from storage)
        self.term = term
        self.voted_for = voted_for
        self.log: list[Entry] = [Entry(0)] + list(log)  # log[0] is a sentinel; indexes start at 1
        # volatile state
        self.role = FOLLOWER
        self.leader_id: str | None = None
        self.commit_index = 0
        self.last_applied = 0
        self.kv: dict[Any, Any] = {}
        self._election_deadline = 0.0
        self._reset_election_timer()
        self._votes: set[str] = set()
        # leader state
        self.next_index: dict[str, int] = {}
        self.match_index: dict[str, int] = {}
        self._acked_seq: dict[str, int] = {}
        self._seq = 0
        self._heartbeat_due = 0.0
        self._quorum_check_due = 0.0
        self._recent_active: set[str] = set()
        self._proposals: dict[int, _Proposal] = {}
        self._txn_runs: dict[int, _TxnRun] = {}  # nonatomic-txn: log index -> its transaction
        self._reads_before_noop: list[_Read] = []
        self._reads_confirming: list[_Read] = []
        self._reads_confirmed: list[_Read] = []
        # follower forwarding
        self._forwarded: dict[int, tuple[Any, float, str, str]] = {}  # id -> request, deadline, leader, f
        self._next_forward_id = 1
        self._last_commit_event = float("-inf")
        self._out = Output()

    # ---- public API ---------------------------------------------------------------------------

    @property
    def last_index(self) -> int:
        return len(self.log) - 1

    @property
    def majority(self) -> int:
        return (len(self.peers) + 1) // 2 + 1

    @property
    def ready(self) -> bool:
        """A leader whose term has a committed entry (its no-op): it may serve reads."""
        return self.role == LEADER and self._current_term_committed()

    def status(self) -> dict[str, Any]:
        return {"id": self.id, "role": self.role, "term": self.term, "leader": self.leader_id,
                "commit_index": self.commit_index, "last_applied": self.last_applied,
                "last_index": self.last_index, "ready": self.ready}

    def tick(self, now: float) -> Output:
        """Time passed: maybe start an election, send heartbeats, check quorum, expire forwards."""
        self._now = now
        if self.role == LEADER:
            # A leader that trusts itself (the stale-leader-reads bug) never checks that a majority
            # still follows it: cut off or paused, it keeps serving until it hears of a newer term.
            check_quorum = self.config.check_quorum and "stale-leader-reads" not in self.bugs
            if check_quorum and now >= self._quorum_check_due:
                if len(self._recent_active) + 1 < self.majority:
                    self._event(f"stepping down in term {self.term}: no majority heard for an election timeout")
                    self._become_follower(self.term, None)
                else:
                    self._recent_active.clear()
                    self._quorum_check_due = now + self.config.election_timeout_max
            if self.role == LEADER and now >= self._heartbeat_due:
                self._broadcast_append()
        elif now >= self._election_deadline:
            self._start_election()
        for fid, (request_id, deadline, _dst, f) in list(self._forwarded.items()):
            if now >= deadline:
                del self._forwarded[fid]
                self._reply(_Origin(request_id), "fail" if f == "read" else "unknown",
                            error="leader did not answer the forwarded request")
        return self._take()

    def request(self, request_id: Any, op: dict[str, Any], now: float) -> Output:
        """A client asks for op = {"f": read|write|cas|txn, "key": k, "value": v}. The reply comes in
        this Output or a later one, under request_id."""
        self._now = now
        self._handle_request(_Origin(request_id), op)
        return self._take()

    def receive(self, msg: Message, now: float) -> Output:
        """A message from another node arrived."""
        self._now = now
        if msg.src not in self.peers or msg.dst != self.id:
            return self._take()  # misrouted or from outside the cluster: ignore, as Raft ignores noise
        if isinstance(msg, Forward):
            self._on_forward(msg)
        elif isinstance(msg, ForwardReply):
            self._on_forward_reply(msg)
        else:
            if msg.term > self.term:
                self._become_follower(msg.term, msg.src if isinstance(msg, AppendEntries) else None)
            if isinstance(msg, RequestVote):
                self._on_request_vote(msg)
            elif isinstance(msg, VoteReply):
                self._on_vote_reply(msg)
            elif isinstance(msg, AppendEntries):
                self._on_append_entries(msg)
            elif isinstance(msg, AppendReply):
                self._on_append_reply(msg)
        return self._take()

    # ---- roles and terms ----------------------------------------------------------------------

    def _take(self) -> Output:
        out, self._out = self._out, Output()
        return out

    def _event(self, text: str) -> None:
        self._out.events.append(text)

    def _persist_hard_state(self) -> None:
        self._out.persist.append(SetHardState(self.term, self.voted_for))

    def _reset_election_timer(self) -> None:
        self._election_deadline = self._now + self._rng.uniform(self.config.election_timeout_min,
                                                                 self.config.election_timeout_max)

    def _become_follower(self, term: int, leader: str | None) -> None:
        was = self.role
        if term > self.term:
            self._event(f"term {self.term} -> {term}" + (f" (leader {leader})" if leader else ""))
            self.term = term
            self.voted_for = None
            self._persist_hard_state()
        self.role = FOLLOWER
        self._set_leader(leader)
        if was == LEADER:
            self._abandon_leader_work()
        if was != FOLLOWER:
            self._event(f"{was} -> follower in term {term}")
            self._reset_election_timer()

    def _set_leader(self, leader: str | None) -> None:
        if leader == self.leader_id:
            return
        self.leader_id = leader
        # Requests forwarded to a former leader will not be answered by it in any useful time (it
        # is cut off, paused or dead), so the clients waiting on them are released now. A read has
        # no effect: fail. A write may still be applied if that leader replicated it: unknown.
        for fid, (request_id, _deadline, dst, f) in list(self._forwarded.items()):
            if dst != leader:
                del self._forwarded[fid]
                if f == "read":
                    self._reply(_Origin(request_id), "fail", error=f"leader changed from {dst}")
                else:
                    self._reply(_Origin(request_id), "unknown", error=f"leader changed from {dst}")

    def _abandon_leader_work(self) -> None:
        # Proposed entries may still commit under a later leader: their fate is unknown. Reads have
        # no effect, so a read not yet answered certainly did not happen.
        for proposal in self._proposals.values():
            self._reply(proposal.origin, "unknown", error="leadership lost before the entry committed")
        self._proposals.clear()
        for run in self._txn_runs.values():
            self._reply(run.origin, "unknown", error="leadership lost in the middle of the transaction")
        self._txn_runs.clear()
        for read in self._reads_before_noop + self._reads_confirming + self._reads_confirmed:
            self._reply(read.origin, "fail", error="not leader")
        self._reads_before_noop.clear()
        self._reads_confirming.clear()
        self._reads_confirmed.clear()

    def _start_election(self) -> None:
        self.term += 1
        self.role = CANDIDATE
        self.voted_for = self.id
        self._set_leader(None)
        self._votes = {self.id}
        self._persist_hard_state()
        self._reset_election_timer()
        self._event(f"election timeout: candidate in term {self.term}")
        last = self.last_index
        for peer in self.peers:
            self._out.messages.append(RequestVote(self.id, peer, self.term, last, self.log[last].term))
        if len(self._votes) >= self.majority:
            self._become_leader()

    def _become_leader(self) -> None:
        self.role = LEADER
        self._set_leader(self.id)
        self._event(f"became leader in term {self.term} with votes from {', '.join(sorted(self._votes))}")
        self.next_index = {p: self.last_index + 1 for p in self.peers}
        self.match_index = {p: 0 for p in self.peers}
        self._acked_seq = {p: 0 for p in self.peers}
        self._recent_active = set()
        self._quorum_check_due = self._now + self.config.election_timeout_max
        self._append_to_own_log(Entry(self.term, None))  # the no-op: commits everything before it
        self._broadcast_append()
        self._advance_commit()

    # ---- client requests ----------------------------------------------------------------------

    def _handle_request(self, origin: _Origin, op: dict[str, Any]) -> None:
        problem = _validate(op)
        if problem:
            self._reply(origin, "fail", error=problem)
            return
        f = op["f"]
        if f == "read" and self.role != LEADER and "follower-reads" in self.bugs:
            self._reply(origin, "ok", self.kv.get(op.get("key")))
            return
        if self.role != LEADER:
            if origin.node is not None:
                self._reply(origin, "fail", error="not leader")
            elif self.leader_id is None:
                self._reply(origin, "fail", error="no leader known")
            else:
                fid = self._next_forward_id
                self._next_forward_id += 1
                self._forwarded[fid] = (origin.request_id, self._now + self.config.forward_timeout,
                                        self.leader_id, f)
                self._out.messages.append(Forward(self.id, self.leader_id, fid, op))
            return
        if f == "read" and self.config.read_mode == "index":
            read = _Read(origin, op.get("key"))
            if "stale-leader-reads" in self.bugs and self.ready:
                self._reply(origin, "ok", self.kv.get(read.key))
            elif self._current_term_committed():
                self._start_read(read)
            else:
                self._reads_before_noop.append(read)
            return
        if f == "txn" and "nonatomic-txn" in self.bugs:
            self._propose_micro_op(_TxnRun(origin, self.term, [list(m) for m in op["value"]]))
            self._advance_commit()
            return
        index = self._append_to_own_log(Entry(self.term, _command(op)))
        if f == "write" and "early-ack" in self.bugs:
            # The bug: acknowledged now (the Output is persisted before replies go out), and only
            # the next heartbeat carries it to the followers.
            self._reply(origin, "ok")
        else:
            self._proposals[index] = _Proposal(origin, self.term)
            self._broadcast_append()
        self._advance_commit()

    def _propose_micro_op(self, run: _TxnRun) -> None:
        """nonatomic-txn: the next micro-op of `run` as a log entry of its own."""
        index = self._append_to_own_log(Entry(self.term, {"f": "txn", "key": None,
                                                          "value": [run.todo.pop(0)]}))
        self._txn_runs[index] = run
        self._broadcast_append()
        if not self.peers:  # alone, nobody's reply would commit it: it commits now
            self._advance_commit()

    def _micro_op_applied(self, run: _TxnRun, entry: Entry, value: Any) -> None:
        if entry.term != run.term:
            self._reply(run.origin, "unknown", error="entry replaced by another leader's")
            return
        run.done.extend(value)
        if not run.todo:
            self._reply(run.origin, "ok", run.done)
        elif self.role == LEADER:
            self._propose_micro_op(run)
        else:
            self._reply(run.origin, "unknown", error="leadership lost in the middle of the transaction")

    def _start_read(self, read: _Read) -> None:
        # Under early-ack, writes are acknowledged before they commit, so a read must wait for the
        # whole local log to apply or it would miss an acknowledged write even without faults.
        read.read_index = self.last_index if "early-ack" in self.bugs else self.commit_index
        if not self.peers:
            self._reads_confirmed.append(read)
            self._serve_reads()
            return
        self._seq += 1
        read.seq = self._seq
        self._reads_confirming.append(read)
        # Under early-ack, the log goes out only with the periodic heartbeat (that is the bug).
        self._broadcast_append(with_entries="early-ack" not in self.bugs)

    def _serve_reads(self) -> None:
        waiting = []
        for read in self._reads_confirmed:
            if self.last_applied >= read.read_index:
                self._reply(read.origin, "ok", self.kv.get(read.key))
            else:
                waiting.append(read)
        self._reads_confirmed = waiting

    def _reply(self, origin: _Origin, status: str, value: Any = None, error: str | None = None) -> None:
        if origin.node is None:
            self._out.replies.append(ClientReply(origin.request_id, status, value, error))
        else:
            self._out.messages.append(ForwardReply(self.id, origin.node, origin.request_id, status, value, error))

    def _on_forward(self, msg: Forward) -> None:
        self._handle_request(_Origin(msg.forward_id, msg.src), msg.op)

    def _on_forward_reply(self, msg: ForwardReply) -> None:
        pending = self._forwarded.pop(msg.forward_id, None)
        if pending is not None:
            self._reply(_Origin(pending[0]), msg.status, msg.value, msg.error)

    # ---- elections ----------------------------------------------------------------------------

    def _on_request_vote(self, msg: RequestVote) -> None:
        my_last = self.last_index
        up_to_date = (msg.last_log_term, msg.last_log_index) >= (self.log[my_last].term, my_last)
        granted = (msg.term == self.term and self.voted_for in (None, msg.src) and up_to_date)
        if granted:
            if self.voted_for != msg.src:
                self.voted_for = msg.src
                self._persist_hard_state()
                self._event(f"voted for {msg.src} in term {self.term}")
            self._reset_election_timer()
        self._out.messages.append(VoteReply(self.id, msg.src, self.term, granted))

    def _on_vote_reply(self, msg: VoteReply) -> None:
        if self.role != CANDIDATE or msg.term != self.term or not msg.granted:
            return
        self._votes.add(msg.src)
        if len(self._votes) >= self.majority:
            self._become_leader()

    # ---- replication --------------------------------------------------------------------------

    def _append_to_own_log(self, entry: Entry) -> int:
        self.log.append(entry)
        index = self.last_index
        self._out.persist.append(AppendLog(index, entry))
        return index

    def _broadcast_append(self, with_entries: bool = True) -> None:
        for peer in self.peers:
            self._send_append(peer, with_entries)
        if with_entries:
            self._heartbeat_due = self._now + self.config.heartbeat_interval

    def _send_append(self, peer: str, with_entries: bool = True) -> None:
        # Entries are sent optimistically: next_index moves past them at once, and a rejection
        # (lost message, divergent log) moves it back.
        nxt = self.next_index[peer]
        entries = tuple(self.log[nxt:nxt + self.config.max_batch]) if with_entries else ()
        self._out.messages.append(AppendEntries(self.id, peer, self.term, nxt - 1, self.log[nxt - 1].term,
                                                entries, self.commit_index, self._seq))
        self.next_index[peer] = nxt + len(entries)

    def _on_append_entries(self, msg: AppendEntries) -> None:
        if msg.term < self.term:
            self._out.messages.append(AppendReply(self.id, msg.src, self.term, False, -1, msg.seq))
            return
        if self.role == LEADER:  # two leaders in one term would break election safety
            raise AssertionError(f"{self.id}: AppendEntries from {msg.src} in my own term {self.term}")
        if self.role == CANDIDATE or self.leader_id != msg.src:
            if self.leader_id != msg.src:
                self._event(f"following leader {msg.src} in term {self.term}")
            self._become_follower(self.term, msg.src)
        self._reset_election_timer()
        prev = msg.prev_log_index
        if prev > self.last_index:
            self._out.messages.append(AppendReply(self.id, msg.src, self.term, False, self.last_index, msg.seq))
            return
        if self.log[prev].term != msg.prev_log_term:
            # Skip back over the whole conflicting term in one round trip.
            conflict_term = self.log[prev].term
            i = prev
            while i - 1 > self.commit_index and self.log[i - 1].term == conflict_term:
                i -= 1
            self._out.messages.append(AppendReply(self.id, msg.src, self.term, False, i - 1, msg.seq))
            return
        index = prev
        for entry in msg.entries:
            index += 1
            if index <= self.last_index:
                if self.log[index].term == entry.term:
                    continue  # already have it (a duplicate or reordered message): never truncate
                if index <= self.commit_index:
                    raise AssertionError(f"{self.id}: leader {msg.src} conflicts with committed entry {index}")
                self._event(f"log conflict at index {index}: dropping {self.last_index - index + 1} "
                            f"uncommitted entries from term {self.log[index].term}")
                del self.log[index:]
                self._out.persist.append(TruncateLog(index - 1))
            self.log.append(entry)
            self._out.persist.append(AppendLog(index, entry))
        match = prev + len(msg.entries)
        if msg.leader_commit > self.commit_index:
            self._commit_to(min(msg.leader_commit, match))
        self._out.messages.append(AppendReply(self.id, msg.src, self.term, True, match, msg.seq))

    def _on_append_reply(self, msg: AppendReply) -> None:
        if self.role != LEADER or msg.term != self.term:
            return
        peer = msg.src
        self._recent_active.add(peer)
        self._acked_seq[peer] = max(self._acked_seq[peer], msg.seq)
        if msg.success:
            self.match_index[peer] = max(self.match_index[peer], msg.match_index)
            self.next_index[peer] = max(self.next_index[peer], self.match_index[peer] + 1)
            self._advance_commit()
            if self.next_index[peer] <= self.last_index and "early-ack" not in self.bugs:
                self._send_append(peer)
        else:
            retry_from = max(self.match_index[peer] + 1, 1)
            self.next_index[peer] = max(retry_from, min(self.next_index[peer], msg.match_index + 1))
            self._send_append(peer)
        self._confirm_reads()

    def _confirm_reads(self) -> None:
        still = []
        for read in self._reads_confirming:
            acks = 1 + sum(1 for p in self.peers if self._acked_seq[p] >= read.seq)
            (self._reads_confirmed if acks >= self.majority else still).append(read)
        if len(still) != len(self._reads_confirming):
            self._reads_confirming = still
            self._serve_reads()

    def _advance_commit(self) -> None:
        # Only an entry of the current term is committed by counting replicas (Raft 5.4.2); the
        # entries before it commit with it.
        for n in range(self.last_index, self.commit_index, -1):
            if self.log[n].term != self.term:
                break
            if 1 + sum(1 for p in self.peers if self.match_index[p] >= n) >= self.majority:
                self._commit_to(n)
                break

    def _current_term_committed(self) -> bool:
        return self.commit_index > 0 and self.log[self.commit_index].term == self.term

    # ---- the state machine --------------------------------------------------------------------

    def _commit_to(self, index: int) -> None:
        if index <= self.commit_index:
            return
        was_ready = self._current_term_committed()
        self.commit_index = index
        if self._now - self._last_commit_event >= 1.0:
            self._last_commit_event = self._now
            self._event(f"commit_index {index} (term {self.term})")
        while self.last_applied < self.commit_index:
            self.last_applied += 1
            entry = self.log[self.last_applied]
            status, value, error = self._apply(entry.command)
            run = self._txn_runs.pop(self.last_applied, None)
            if run is not None:
                self._micro_op_applied(run, entry, value)
            proposal = self._proposals.pop(self.last_applied, None)
            if proposal is not None:
                if proposal.term == entry.term:
                    self._reply(proposal.origin, status, value, error)
                else:
                    self._reply(proposal.origin, "unknown", error="entry replaced by another leader's")
        if self.role == LEADER and not was_ready and self._current_term_committed():
            self._event(f"leader ready: no-op of term {self.term} committed at index {self.commit_index}")
            waiting, self._reads_before_noop = self._reads_before_noop, []
            for read in waiting:
                self._start_read(read)
        self._serve_reads()

    def _apply(self, command: dict[str, Any] | None) -> tuple[str, Any, str | None]:
        if command is None:
            return "ok", None, None
        f, key = command["f"], command.get("key")
        if f == "read":
            return "ok", self.kv.get(key), None
        if f == "write":
            self.kv[key] = command["value"]
            return "ok", None, None
        if f == "txn":
            return "ok", self._apply_txn(command["value"]), None
        if f == "add":  # a counter: a key that holds anything but a number starts from 0
            current = self.kv.get(key)
            number = isinstance(current, (int, float)) and not isinstance(current, bool)
            self.kv[key] = (current if number else 0) + command["value"]
            return "ok", None, None
        expected, new = command["value"]
        current = self.kv.get(key)
        if current != expected:
            return "fail", None, f"cas mismatch: expected {expected!r}, found {current!r}"
        self.kv[key] = new
        return "ok", None, None


    def _apply_txn(self, micro_ops: list[list[Any]]) -> list[list[Any]]:
        """Run a transaction's micro-ops in order; the reads filled in with what they saw."""
        done: list[list[Any]] = []
        for f, key, value in micro_ops:
            if f == "r":
                current = self.kv.get(key)
                done.append([f, key, list(current) if isinstance(current, list) else current])
            elif f == "w":
                self.kv[key] = value
                done.append([f, key, value])
            else:  # append: to the key's list (a key that holds a register's value starts over)
                current = self.kv.get(key)
                self.kv[key] = (current if isinstance(current, list) else []) + [value]
                done.append([f, key, value])
        return done


def _validate(op: Any) -> str | None:
    """Why a client op is malformed, or None. A malformed op is refused before anything happens."""
    if not isinstance(op, dict) or op.get("f") not in OPS:
        return (f"unknown operation {op.get('f') if isinstance(op, dict) else op!r} "
                f"({', '.join(OPS)})")
    if not isinstance(op.get("key"), (str, int, type(None))) or isinstance(op.get("key"), bool):
        return "key must be a string, an integer or null"
    if op["f"] == "cas" and not (isinstance(op.get("value"), (list, tuple)) and len(op["value"]) == 2):
        return "cas needs value [expected, new]"
    if op["f"] == "txn":
        return _txn_problem(op.get("value"))
    if op["f"] == "add" and (not isinstance(op.get("value"), (int, float))
                             or isinstance(op.get("value"), bool)):
        return "add needs a number as its value (the delta)"
    return None


def _txn_problem(micro_ops: Any) -> str | None:
    if not isinstance(micro_ops, (list, tuple)) or not micro_ops:
        return "txn needs a non-empty list of micro-ops [f, key, value]"
    for m in micro_ops:
        if not (isinstance(m, (list, tuple)) and len(m) == 3 and m[0] in MICRO_OPS):
            return f"micro-op {m!r} is not [f, key, value] with f one of {', '.join(MICRO_OPS)}"
        if not isinstance(m[1], (str, int)) or isinstance(m[1], bool):
            return f"micro-op {m!r}: the key must be a string or an integer"
        if m[0] != "r" and not isinstance(m[2], (str, int, float, type(None))):
            return f"micro-op {m!r}: the value must be a number, a string or null"
    return None


def _command(op: dict[str, Any]) -> dict[str, Any]:
    command = {"f": op["f"], "key": op.get("key")}
    if op["f"] == "txn":
        command["value"] = [list(m) for m in op["value"]]
    elif op["f"] != "read":
        command["value"] = list(op["value"]) if op["f"] == "cas" else op.get("value")
    return command
