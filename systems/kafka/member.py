"""One consumer-group member of the `group` workload, in a process of its own.

Why a process: a real consumer crash is a process that dies without closing, so the group only
learns of it when the member's session times out, and whatever it committed (or did not) stays
as it was. librdkafka keeps heartbeating from its own threads as long as the process lives, and
destroying a handle leaves the group cleanly, so the only faithful crash is killing the process:
systems/kafka/group_client.py runs each member as `python -m systems.kafka.member` and the
`crash:consumers` nemesis SIGKILLs it.

Protocol: one JSON request per line on stdin, one JSON reply per line on stdout. The first
request is `join` (the member's settings); then `poll`, `commit`, `txn` and `close`. A reply is
{"type": ok|fail|info, "value", "error", "rebalance_log", "commits"}: the rebalance callbacks and
offset commits that ran while the request did, in order (docs/op-shapes.md, workload `group`).
Before its reply a request may write {"progress": {...}} lines: what it has done so far (for the
op's completion if the process is killed), and with "window" the crash window it has entered
(what a kill now costs; nemesis/consumers.py places crashes there), until the next line.

The steps of each commit policy, where a crash may fall between any two:
    before  consume -> commit (sync) -> process -> reply
    after   consume -> process -> reply; the next `commit` request commits (sync)
    auto    consume -> process -> reply; librdkafka commits the consumed offsets every
            auto.commit.interval.ms from its own thread (reported by the commit callback)
    txn     begin -> consume (read_committed) -> produce one output record per input record ->
            send_offsets_to_transaction -> commit -> reply
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

BATCH = 500
POLL_S = 0.3  # one consume() call waits this long for records
CATCH_UP_S = 4.0  # a poll reads on until its partitions' ends (as of its start), this long at most
JOIN_WAIT_S = 3.0  # of which a fresh member's first poll waits this long for its assignment
CALL_TIMEOUT_S = 4.0
CLOSE_TIMEOUT_S = 5.0
# The group's commit was refused: the member's generation is over, nothing was committed.
COMMIT_REFUSED = frozenset({"REBALANCE_IN_PROGRESS", "ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID",
                            "FENCED_INSTANCE_ID", "_ASSIGNMENT_LOST", "_NO_OFFSET", "_STATE"})


def _name(err: Any) -> str:
    try:
        return err.name()
    except AttributeError:
        return type(err).__name__


class NothingRead(Exception):
    """A poll read nothing though there is something to read: a fresh member's poll ended
    before the group gave it its partitions, or its partitions are behind their ends and it
    could not start reading them yet (their committed offsets are still being fetched, e.g.
    held back by a crashed member's open transaction). It fails, so the runner's final
    catch-up is retried until it reads on; an `ok` with nothing would end it short."""


def progress(value: dict[str, Any]) -> None:
    """What an op has done so far, for its completion if the process dies before replying."""
    sys.stdout.write(json.dumps({"progress": value}) + "\n")
    sys.stdout.flush()


class Member:
    def __init__(self, req: dict[str, Any]) -> None:
        from confluent_kafka import Consumer, Producer
        self.topic: str = req["topic"]
        self.out_topic: str = req["out_topic"]
        self.policy: str = req["commit"]
        self.process_s = float(req.get("process_ms", 0)) / 1000
        self.log: list[dict[str, Any]] = []
        self.commits: list[dict[str, Any]] = []
        self.assignment: set[int] = set()
        self.assigned_once = False
        self.pending: dict[int, int] = {}  # commit=after: processed, not yet committed
        conf: dict[str, Any] = {
            "bootstrap.servers": req["bootstrap"], "group.id": req["group_id"],
            "client.id": req["member"], "auto.offset.reset": "earliest",
            "enable.partition.eof": False, "session.timeout.ms": req.get("session_ms", 6000),
            "heartbeat.interval.ms": 1000, "max.poll.interval.ms": 30000,
            "fetch.wait.max.ms": 100, "socket.timeout.ms": 3000, "log_level": 0,
            "enable.auto.commit": self.policy == "auto",
            "isolation.level": "read_committed" if self.policy == "txn" else "read_uncommitted",
        }
        if self.policy == "auto":
            conf["auto.commit.interval.ms"] = int(req.get("auto_commit_ms", 5000))
            conf["on_commit"] = self._on_commit
        self.consumer = Consumer(conf)
        self.producer: Any = None
        if self.policy == "txn":
            self.producer = Producer({
                "bootstrap.servers": req["bootstrap"], "transactional.id": req["txn_id"],
                "transaction.timeout.ms": 10000, "acks": "all", "enable.idempotence": True,
                "linger.ms": 0, "message.timeout.ms": 4000, "socket.timeout.ms": 3000,
                "log_level": 0})
            self.producer.init_transactions(CALL_TIMEOUT_S)
        self.consumer.subscribe([self.topic], on_assign=self._on_assign,
                                on_revoke=self._on_revoke, on_lost=self._on_lost)

    # ---- callbacks (run inside consume() and close()) -----------------------------------------

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        ps = sorted(p.partition for p in partitions)
        self.assignment |= set(ps)
        self.assigned_once = True
        self.log.append({"assigned": ps})

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        self._drop(partitions, "revoked")

    def _on_lost(self, consumer: Any, partitions: list[Any]) -> None:
        self._drop(partitions, "lost")

    def _drop(self, partitions: list[Any], kind: str) -> None:
        ps = sorted(p.partition for p in partitions)
        self.assignment -= set(ps)
        for p in ps:  # no longer ours to commit: the next owner reads them again
            self.pending.pop(p, None)
        self.log.append({kind: ps})

    def _on_commit(self, err: Any, partitions: list[Any]) -> None:
        offsets = {str(p.partition): p.offset for p in partitions if p.offset >= 0}
        if offsets:
            self.commits.append({"offsets": offsets,
                                 "error": None if err is None else f"{_name(err)}: {err}"})

    # ---- requests -----------------------------------------------------------------------------

    def reply(self, type_: str, value: Any = None, error: str | None = None) -> dict[str, Any]:
        out = {"type": type_, "value": value, "error": error, "rebalance_log": self.log,
               "commits": self.commits}
        self.log, self.commits = [], []
        return out

    def _consume(self) -> list[Any]:
        """Records up to each assigned partition's end as of now (or a few seconds' worth);
        a member that has never been assigned anything waits for its first assignment."""
        from confluent_kafka import TopicPartition
        deadline = time.monotonic() + JOIN_WAIT_S
        got: list[Any] = []
        ends: dict[int, int] | None = None
        waiting = not self.assigned_once
        while time.monotonic() < deadline:
            batch = self.consumer.consume(BATCH, POLL_S)
            got += [m for m in batch if m.error() is None]
            if waiting and self.assigned_once:  # joined: now read on to the ends
                waiting = False
                deadline = time.monotonic() + CATCH_UP_S
            if not self.assignment:
                if waiting:
                    continue
                break
            if ends is None:
                ends = {}
                for p in sorted(self.assignment):
                    try:
                        ends[p] = self.consumer.get_watermark_offsets(
                            TopicPartition(self.topic, p), timeout=1.0, cached=False)[1]
                    except Exception:
                        ends[p] = -1
            if len(got) >= BATCH:
                break
            positions = {tp.partition: tp.offset for tp in self.consumer.position(
                [TopicPartition(self.topic, p) for p in sorted(self.assignment)])}
            if all(positions.get(p, -1) >= end or p not in positions
                   for p, end in ends.items()):
                break
        if waiting:
            raise NothingRead("no partitions assigned yet: the group is still rebalancing")
        if not got and self.assignment and ends:
            behind = self._behind(ends)
            if behind:
                raise NothingRead(f"partitions {behind} are behind their ends and nothing "
                                  f"could be read from them yet")
        return got

    def _behind(self, ends: dict[int, int]) -> list[int]:
        """The assigned partitions whose next offset to read is below their end: the position,
        or before anything was read from a partition, the group's committed offset (unknown
        while a transaction holds it back, e.g. a crashed member's: counted as behind)."""
        from confluent_kafka import TopicPartition
        tps = [TopicPartition(self.topic, p) for p in sorted(self.assignment) if p in ends]
        at = {tp.partition: tp.offset for tp in self.consumer.position(tps)}
        unknown = [tp for tp in tps if at.get(tp.partition, -1) < 0]
        if unknown:
            try:
                at.update((tp.partition, tp.offset) for tp in
                          self.consumer.committed(unknown, timeout=CALL_TIMEOUT_S / 2))
            except Exception:
                pass
        return sorted(p for p in (tp.partition for tp in tps)
                      if at.get(p, -1) < ends[p] and not (at.get(p, -1) < 0 and ends[p] <= 0))

    @staticmethod
    def _by_partition(msgs: list[Any]) -> dict[str, list[list[Any]]]:
        out: dict[str, list[list[Any]]] = {}
        for m in msgs:
            out.setdefault(str(m.partition()), []).append([m.offset(), json.loads(m.value())])
        return out

    @staticmethod
    def _next_offsets(msgs: list[Any]) -> dict[int, int]:
        out: dict[int, int] = {}
        for m in msgs:
            out[m.partition()] = max(out.get(m.partition(), 0), m.offset() + 1)
        return out

    def _commit_sync(self, offsets: dict[int, int]) -> str | None:
        """None when committed; else the error, "refused: ..." when certainly not committed."""
        from confluent_kafka import KafkaException, TopicPartition
        if not offsets:
            return None
        try:
            result = self.consumer.commit(offsets=[TopicPartition(self.topic, p, o)
                                                   for p, o in sorted(offsets.items())],
                                          asynchronous=False)
        except KafkaException as e:
            err = e.args[0] if e.args else e
            kind = "refused" if _name(err) in COMMIT_REFUSED else "unknown"
            return f"{kind}: {_name(err)}: {err}"
        bad = [tp for tp in result or () if tp.error is not None]
        if bad:
            return f"refused: {_name(bad[0].error)}: {bad[0].error}"
        return None

    def poll(self) -> dict[str, Any]:
        try:
            msgs = self._consume()
        except NothingRead as e:
            return self.reply("fail", None, str(e))
        if self.policy == "before" and msgs:
            offsets = self._next_offsets(msgs)
            error = self._commit_sync(offsets)
            if error is not None:
                self._rewind(msgs)  # not processed: read them again
                return self.reply("fail" if error.startswith("refused") else "info",
                                  None, f"commit before processing: {error}")
            self.commits.append({"offsets": {str(p): o for p, o in offsets.items()},
                                 "error": None})
            # A crash now loses the batch: say it committed, and that the member is in the window
            # `crash:unprocessed` waits for (the processing below is that window).
            progress({"commits": self.commits, "window": "unprocessed"})
        if msgs:
            time.sleep(self.process_s)  # the processing
        if self.policy == "after":
            for p, o in self._next_offsets(msgs).items():
                if p in self.assignment:
                    self.pending[p] = o
        return self.reply("ok", self._by_partition(msgs))

    def _rewind(self, msgs: list[Any]) -> None:
        from confluent_kafka import TopicPartition
        first: dict[int, int] = {}
        for m in msgs:
            first.setdefault(m.partition(), m.offset())
        for p, o in first.items():
            try:
                self.consumer.seek(TopicPartition(self.topic, p, o))
            except Exception:
                pass

    def commit(self) -> dict[str, Any]:
        offsets = dict(self.pending)
        value = {"offsets": {str(p): o for p, o in sorted(offsets.items())}}
        error = self._commit_sync(offsets)
        if error is None:
            for p, o in offsets.items():
                if self.pending.get(p) == o:
                    del self.pending[p]
            return self.reply("ok", value)
        return self.reply("fail" if error.startswith("refused") else "info", value, error)

    def txn(self) -> dict[str, Any]:
        from confluent_kafka import KafkaException, TopicPartition
        producer = self.producer
        result: dict[str, Any] = {"poll": {}, "send": []}
        stage = "begin"
        msgs: list[Any] = []
        try:
            producer.begin_transaction()
            stage = "poll"
            msgs = self._consume()
            result["poll"] = self._by_partition(msgs)
            if msgs:
                # Read inside the transaction, nothing written or committed yet: the window
                # `crash:in-txn` waits for (the processing is that window).
                progress({"window": "in-txn"})
                time.sleep(self.process_s)  # the processing, inside the transaction
            reports: list[tuple[Any, Any]] = []
            stage = "send"
            for m in msgs:
                producer.produce(self.out_topic, key=m.key(), value=m.value(),
                                 on_delivery=lambda err, msg: reports.append((err, msg)))
            producer.flush(CALL_TIMEOUT_S)
            result["send"] = [{"key": (msg.key() or b"").decode(), "value": json.loads(msg.value()),
                               "topic": self.out_topic, "partition": msg.partition(),
                               "offset": msg.offset() if err is None and msg.offset() >= 0
                               else None} for err, msg in reports]
            if msgs:
                stage = "send-offsets"
                offsets = self._next_offsets(msgs)
                producer.send_offsets_to_transaction(
                    [TopicPartition(self.topic, p, o) for p, o in sorted(offsets.items())],
                    self.consumer.consumer_group_metadata(), CALL_TIMEOUT_S)
            stage = "commit"
            # Killed during the commit, the transaction may still commit: the client then asks
            # the group whether these offsets were committed.
            if msgs:
                progress({"committing": result,
                          "offsets": {str(p): o for p, o in self._next_offsets(msgs).items()}})
            producer.commit_transaction(CALL_TIMEOUT_S)
            # Committed: a crash before the reply still leaves the history what it wrote. (Before
            # this, a crashed transaction reads as info with no value: it never commits, and its
            # replay writes the same values, which a partial value would attribute to it.)
            progress({"value": result})
            return self.reply("ok", result)
        except NothingRead as e:
            producer.abort_transaction(CALL_TIMEOUT_S)
            return self.reply("fail", None, str(e))
        except KafkaException as e:
            err = e.args[0] if e.args else e
            text = f"{stage}: {_name(err)}: {err}"
            if stage == "commit" and not getattr(err, "txn_requires_abort", lambda: False)():
                # The commit may have landed: the client asks the group whether these offsets
                # were committed (the "committing" progress above), as after a crash.
                return self.reply("info", None, text)
            try:
                producer.abort_transaction(CALL_TIMEOUT_S)
            except Exception as abort_error:
                # Never committed (no commit was asked, or it must abort), but this producer is
                # stuck: info retires it. No value: its sends are aborted records, and the
                # replay's committed copies of the same values would read as duplicates.
                return self.reply("info", None, f"{text}; abort failed: {abort_error}")
            self._rewind(msgs)  # aborted: the next transaction reads them again
            # Its output records are aborted, invisible to read_committed readers, and the replay
            # sends the same values again: listing them as this op's failed sends would make the
            # replay's committed copies read as G1a (a read of a failed write).
            return self.reply("fail", {**result, "send": []}, text)

    def close(self) -> dict[str, Any]:
        # Leaves the group (on_revoke runs). librdkafka may wait for the coordinator without
        # end when no broker answers: bounded here, the process exits right after anyway.
        closing = threading.Thread(target=self.consumer.close, daemon=True)
        closing.start()
        closing.join(CLOSE_TIMEOUT_S)
        if closing.is_alive():
            return self.reply("info", None, f"close did not finish in {CLOSE_TIMEOUT_S:g} s")
        return self.reply("ok")


def main() -> None:
    member: Member | None = None
    for line in sys.stdin:
        req = json.loads(line)
        op = req["op"]
        try:
            if op == "join":
                member = Member(req)
                reply = member.reply("ok")
            elif member is None:
                reply = {"type": "fail", "error": "not a member: join first"}
            else:
                reply = getattr(member, op)()
        except Exception as e:  # what the op did is unknown
            reply = (member.reply("info", None, f"{type(e).__name__}: {e}") if member
                     else {"type": "fail", "error": f"cannot join: {type(e).__name__}: {e}"})
        try:
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            break  # the client is gone
        if op == "close":
            break
    # Without a close request (the client is gone) or after it: exit now. Destroying a consumer
    # handle may wait for brokers that are no longer there, and no member may outlive its run.
    os._exit(0)


if __name__ == "__main__":
    main()
