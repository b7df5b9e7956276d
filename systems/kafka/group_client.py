"""The Kafka client of the `group` workload: keyed sends, and consumer-group members.

A worker's client is a producer or a consumer, as its operations say (workloads/group.py):

- `send` {"key", "value"}: one record with that key (librdkafka's partitioner picks the
  partition), acks and idempotence from the system's options, answered with the partition and
  offset of the delivery report (classified as in client.py: fail only when certainly not
  written).
- consumer ops (key = the group): `subscribe` starts a member in its own process
  (systems/kafka/member.py) and joins the group; `poll`, `commit`, `txn` and `close` go to it.
  A client whose member was killed (`crash:consumers`) answers its op with info, so the runner
  retires the process; the fresh client's first consumer op joins the group as a new member
  (its completion's `rebalance_log` shows the assignment), as a restarted consumer would.
- `assign` and a `poll` whose key names a partition (the final drain): a consumer outside any
  group reads that partition from offset 0 to its end.

Every consumer op's completion names its `group` and `member` (docs/op-shapes.md).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from systems.base import ClusterContext, Completion, Invocation
from systems.kafka import config
from systems.kafka.client import KafkaQueueClient, _Delivery, await_delivery, classify

POLICIES = ("before", "after", "auto", "txn")
CONSUMER_OPS = frozenset(("subscribe", "poll", "commit", "txn", "close"))
CATCH_UP_WAIT_S = 5.0
MEMBER_COMMAND = [sys.executable, "-m", "systems.kafka.member"]  # one member's process


def _names_group(key: Any) -> bool:
    """Consumer ops name their group (a string without "/"); the drain's polls a partition."""
    return isinstance(key, str) and "/" not in key


def workload_setting(options: dict[str, str], name: str, default: str) -> str:
    return str(options.get(f"workload.{name}", default))


class MemberProcess:
    """One member's process, and the line-per-request pipe to it.

    `window` is the crash window the member is in, as far as its reports say (None: none):
    "unprocessed" (commit=before committed a batch and is processing it: a kill loses the batch,
    reported by the member), "in-txn" (commit=txn read records inside a transaction and is
    processing them, nothing written or committed: a kill must abort it, reported by the member),
    "uncommitted" (commit=after or auto processed records no commit has covered yet: a kill
    redelivers them; known here, as only a `commit` request commits under commit=after, and
    under commit=auto no commit was reported since). `kill(window)` checks and kills under the
    lock a request takes to start, so a member the nemesis finds in a window is killed in it.
    """

    def __init__(self, name: str, group: str, process: int, node: str, policy: str) -> None:
        self.name = name
        self.node = node
        self.group = group
        self.process = process
        self.policy = policy
        self.killed = False
        self.killed_in: str | None = None  # the window it was killed in
        self.partitions: set[int] = set()  # as its rebalance callbacks last said
        self.progress: dict[str, Any] = {}  # what the op in flight reported so far
        self.window: str | None = None
        self.uncommitted = False  # commit=after/auto: processed records no commit covered yet
        self._lock = threading.Lock()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(MEMBER_COMMAND,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, env=env,
                                     start_new_session=True)

    def request(self, req: dict[str, Any]) -> dict[str, Any] | None:
        """The member's reply, or None when its process died (killed) before answering; then
        `self.progress` holds what the op had reported doing so far."""
        try:
            with self._lock:
                if self.killed:
                    return None
                self.progress = {}
                # Under commit=after only a commit request commits; a poll keeps the window.
                self.window = "uncommitted" if self.uncommitted and req["op"] == "poll" else None
                self.proc.stdin.write(json.dumps(req) + "\n")
                self.proc.stdin.flush()
            while True:
                line = self.proc.stdout.readline()
                if not line:
                    return None
                reply = json.loads(line)
                if "progress" not in reply:
                    break
                with self._lock:
                    self.progress = reply["progress"]
                    self.window = self.progress.get("window")
        except (OSError, ValueError):
            return None
        with self._lock:
            # The op is complete: its progress goes with its reply, never with the next op,
            # which a kill may stop before the member even reads it (that op did nothing).
            reply["progress"], self.progress = self.progress, {}
            self._after(req["op"], reply)
        for entry in reply.get("rebalance_log") or ():
            self.partitions |= set(entry.get("assigned", ()))
            self.partitions -= set(entry.get("revoked", ())) | set(entry.get("lost", ()))
        return reply

    def _after(self, op: str, reply: dict[str, Any]) -> None:
        """The window between requests, after this reply."""
        if self.policy == "auto" and reply.get("commits"):
            self.uncommitted = False  # when in the poll it committed is unknown: say covered
        elif self.policy == "after" and op == "commit" and reply["type"] == "ok":
            self.uncommitted = False
        if self.policy in ("after", "auto") and op == "poll" and reply["type"] == "ok" \
                and reply.get("value") and not reply.get("commits"):
            self.uncommitted = True
        self.window = "uncommitted" if self.uncommitted else None

    def kill(self, window: str | None = None) -> bool:
        """SIGKILL: the member ends without closing, as a crashed consumer does. With a window,
        only if the member is in it (False otherwise: not killed)."""
        with self._lock:
            if window is not None and self.window != window:
                return False
            self.killed, self.killed_in = True, self.window
            try:
                self.proc.send_signal(signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=10)
        return True

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        """End the process (after close, or when the client is discarded)."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


class MemberRegistry:
    """The live members of a run: what `crash:consumers` chooses from (Kafka.consumers())."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._members: dict[str, MemberProcess] = {}
        self._spawned: list[MemberProcess] = []  # every process, live or leaving

    def add(self, m: MemberProcess) -> None:
        with self._lock:
            self._members[m.name] = m
            self._spawned = [x for x in self._spawned if x.alive()] + [m]

    def remove(self, m: MemberProcess) -> None:
        with self._lock:
            if self._members.get(m.name) is m:
                del self._members[m.name]

    def live(self) -> list[MemberProcess]:
        with self._lock:
            return [m for m in self._members.values() if m.alive() and not m.killed]

    def get(self, name: str) -> MemberProcess | None:
        with self._lock:
            return self._members.get(name)

    def stop_all(self) -> None:
        """Kill every member process still running, leaving or not (teardown)."""
        with self._lock:
            spawned, self._spawned, self._members = self._spawned, [], {}
        for m in spawned:
            if m.alive():
                m.kill()


class KafkaGroupClient(KafkaQueueClient):
    """The queue client's producer (keyed sends to the group topic), plus a member."""

    def __init__(self, partitions: int, registry: MemberRegistry, acks: str = "all",
                 idempotent: bool = False) -> None:
        super().__init__(partitions, acks=acks, idempotent=idempotent, topic=config.GROUP_TOPIC)
        self.registry = registry
        self.node = ""
        self.options: dict[str, str] = {}
        self.member: MemberProcess | None = None
        self.joins = 0

    def open(self, ctx: ClusterContext, node: str) -> None:
        super().open(ctx, node)
        self.node = node
        self.options = dict(ctx.options)

    @property
    def policy(self) -> str:
        return workload_setting(self.options, "commit", "after")

    def invoke(self, op: Invocation) -> Completion:
        if op.f == "send":
            return self._send(op.value)
        if op.f == "assign":
            return Completion.ok(op.value)  # the drain's consumer is made by its first poll
        if op.f == "poll" and not _names_group(op.key):
            return self._drain_partition(op.key)
        if op.f in CONSUMER_OPS:
            return self._member_op(op)
        return Completion.fail(f"kafka group client has no operation {op.f!r}")

    # ---- producers ----------------------------------------------------------------------------

    def _send(self, value: dict[str, Any]) -> Completion:
        from confluent_kafka import KafkaException
        delivery = _Delivery(1)
        try:
            self.producer.produce(config.GROUP_TOPIC, key=str(value["key"]).encode(),
                                  value=json.dumps(value["value"]).encode(), on_delivery=delivery)
        except BufferError:
            return Completion.fail("local queue full", value)
        except KafkaException as e:
            return classify(e.args[0], value)
        if not await_delivery(self.producer, delivery, lambda: self._closed):
            return Completion.info("no delivery report", value)
        err, msg = delivery.reports[0]
        known = {**value, "partition": msg.partition()} if msg.partition() >= 0 else value
        if err is not None:
            return classify(err, known)
        offset = msg.offset()
        return Completion.ok({**known, "offset": offset if offset is not None and offset >= 0
                              else None})

    # ---- members ------------------------------------------------------------------------------

    def _join(self, group: str, process: int, policy: str) -> dict[str, Any] | None:
        self.joins += 1
        name = f"p{process}" if self.joins == 1 else f"p{process}.{self.joins}"
        member = MemberProcess(name, group, process, self.node, policy)
        self.member = member
        self.registry.add(member)
        reply = member.request({
            "op": "join", "bootstrap": self.bootstrap, "group_id": f"splitbrain-{group}",
            "member": name, "topic": config.GROUP_TOPIC, "out_topic": config.GROUP_OUTPUT_TOPIC,
            "commit": policy, "txn_id": f"splitbrain-{group}-{name}",
            "process_ms": workload_setting(self.options, "process_ms", "0"),
            "auto_commit_ms": workload_setting(self.options, "auto.commit.interval.ms", "5000"),
            "session_ms": workload_setting(self.options, "session.timeout.ms", "6000")})
        if reply is None or reply["type"] != "ok":
            self._forget_member()
        return reply

    def _forget_member(self) -> None:
        if self.member is not None:
            self.registry.remove(self.member)
            self.member.stop()
            self.member = None

    def _member_op(self, op: Invocation) -> Completion:
        group = str(op.key)
        m = self.member
        if m is not None and m.killed:
            return self._crashed(m, op)
        extra: dict[str, Any] = {"group": group}
        if op.f == "subscribe":
            if m is not None:  # already a member: subscribing again changes nothing
                return Completion.ok(op.value, group=group, member=m.name)
            reply = self._join(group, op.process, (op.value or {}).get("commit", self.policy))
            return self._completion(reply, op, {"group": group, "member": self.member.name
                                                if self.member else None}, op.value)
        if m is None:
            if op.f == "close":
                return Completion.ok(None, **extra)
            # A fresh client of a consumer worker (its member crashed or timed out): join first.
            reply = self._join(group, op.process, self.policy)
            if reply is None or reply["type"] != "ok":
                return Completion("fail", None, f"cannot join group {group}: "
                                  f"{(reply or {}).get('error')}", extra)
            m = self.member
            assert m is not None
        reply = m.request({"op": op.f})
        completion = self._completion(reply, op, {"group": group, "member": m.name}, None)
        if op.f == "close" and not m.killed:
            self.registry.remove(m)
            m.stop()
            self.member = None
        return completion

    def _completion(self, reply: dict[str, Any] | None, op: Invocation, extra: dict[str, Any],
                    default: Any) -> Completion:
        if reply is None:
            m = self.member
            if m is not None and m.killed:
                return self._crashed(m, op)
            return Completion("info", None, "the member's process ended", extra)
        for key in ("rebalance_log", "commits"):
            if reply.get(key):
                extra[key] = reply[key]
        value = reply.get("value")
        if reply["type"] == "info" and value is None:
            value = self._committed_value(str(op.key), reply.get("progress") or {})
        return Completion(reply["type"], default if value is None else value,
                          reply.get("error"), extra)

    def _crashed(self, m: MemberProcess, op: Invocation) -> Completion:
        """info, with what the op had done before the kill: commit=before's commit of the batch
        it never processed; commit=txn's polled and sent records when the transaction committed
        (reported by the member, or, killed inside commit_transaction, found in the group's
        committed offsets), else no value: a transaction that never committed, whose replay
        sends the same values again."""
        done = m.progress
        extra = {"group": m.group, "member": m.name}
        if done.get("commits"):
            extra["commits"] = done["commits"]
        return Completion("info", self._committed_value(m.group, done), "crashed: the member's "
                          "process was killed (crash:consumers)", extra)

    def _committed_value(self, group: str, done: dict[str, Any]) -> Any:
        """An unfinished txn's value from its progress: what it reported once committed, or
        what it was committing when the group's offsets show the commit landed; else None."""
        value = done.get("value")
        if value is None and done.get("committing") is not None:
            if self._offsets_committed(group, done["offsets"]):
                value = done["committing"]
        return value

    def _offsets_committed(self, group: str, offsets: dict[str, int]) -> bool:
        """Whether the group's committed offsets reached these within a second or two (a
        commit in flight when its producer died lands at once, or never)."""
        from confluent_kafka import Consumer, TopicPartition
        consumer = Consumer({"bootstrap.servers": self.bootstrap,
                             "group.id": f"splitbrain-{group}", "enable.auto.commit": False,
                             "isolation.level": "read_committed", "log_level": 0})
        tps = [TopicPartition(config.GROUP_TOPIC, int(p)) for p in offsets]
        try:
            deadline = time.monotonic() + 2.0
            while True:
                try:
                    got = {str(tp.partition): tp.offset
                           for tp in consumer.committed(tps, timeout=1.0)}
                except Exception:
                    got = {}
                if all(got.get(p, -1) >= o for p, o in offsets.items()):
                    return True
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.2)
        finally:
            consumer.close()

    # ---- the final drain ----------------------------------------------------------------------

    def _drain_partition(self, key: Any) -> Completion:
        """One partition from offset 0 to its end as of now: key p names partition p of the
        workload's topic, "topic/p" one of commit=txn's output topic (read_committed)."""
        topic, isolation, p = config.GROUP_TOPIC, "read_uncommitted", key
        if isinstance(key, str):
            topic, _, p = key.rpartition("/")
            isolation = "read_committed"
            # The groups' final catch-up runs beside this drain and writes to this topic: read
            # once every group has committed the whole input (fail meanwhile: the runner
            # retries a final read until it succeeds).
            deadline = time.monotonic() + CATCH_UP_WAIT_S
            while not self._groups_caught_up():
                if time.monotonic() > deadline:
                    return Completion.fail("the groups have not committed the whole input yet")
                time.sleep(0.5)
        done = self._drain(self.bootstrap, topic, int(p), isolation)
        if done.type != "ok":
            return done
        if not (done.extra or {}).get("complete", True):
            # read_committed stops at the last stable offset: below the end while a transaction
            # is open there, e.g. one a crashed member began (it stays open until the
            # coordinator aborts it, transaction.timeout.ms after it began). The records above
            # it are committed ones too: read again (the runner retries) until it closes.
            why = "a transaction is still open there" if isolation == "read_committed" \
                else "not reached in time"
            return Completion.fail(f"{key}: read to offset {done.value[-1][1] + 1 if done.value else 0}"
                                   f" of {(done.extra or {}).get('end_offset')}: {why}")
        extra = {k: v for k, v in (done.extra or {}).items()}
        return Completion.ok({str(key): [[o, v] for _, o, v in done.value]}, **extra)

    def _groups_caught_up(self) -> bool:
        """Whether every group's committed offsets reach the input partitions' ends."""
        from confluent_kafka import Consumer, TopicPartition
        groups = int(workload_setting(self.options, "groups", "1"))
        for g in range(groups):
            consumer = Consumer({"bootstrap.servers": self.bootstrap,
                                 "group.id": f"splitbrain-g{g}", "enable.auto.commit": False,
                                 "log_level": 0})
            try:
                tps = [TopicPartition(config.GROUP_TOPIC, p) for p in range(self.partitions)]
                committed = consumer.committed(tps, timeout=2.0)
                for tp in committed:
                    end = consumer.get_watermark_offsets(tp, timeout=2.0)[1]
                    if tp.offset < end:
                        return False
            except Exception:
                return False
            finally:
                consumer.close()
        return True

    def close(self) -> None:
        super().close()
        m, self.member = self.member, None
        if m is not None:
            self.registry.remove(m)
            if m.alive() and not m.killed:
                # The worker is retired (its op timed out) or the run is over: the member leaves.
                threading.Thread(target=self._close_member, args=(m,), daemon=True).start()

    @staticmethod
    def _close_member(m: MemberProcess) -> None:
        try:
            m.proc.stdin.write(json.dumps({"op": "close"}) + "\n")
            m.proc.stdin.flush()
        except (OSError, ValueError):
            pass
        m.stop()
