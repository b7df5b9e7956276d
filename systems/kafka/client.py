"""Kafka clients for the `queue` and `txn` workloads (confluent-kafka, i.e. librdkafka).

No hidden retries: without idempotence the producer never retries (message.send.max.retries=0),
so an acknowledged send was written once and an error is the broker's answer to the one attempt.
With enable.idempotence=true librdkafka must retry (that is how idempotence recovers from a lost
response), but every retry carries the same producer id and sequence number and the partition
leader drops a duplicate, so a send still lands at most once; what the test sees is Kafka's own
promise under that setting, which is what a user of it gets.

Outcomes: a delivery report without error is `ok` with the offset; an error the broker returns
before appending (not the leader, not enough replicas, unknown partition, ...) or a message purged
before it was sent is `fail`; every other error, a timeout or a connection lost is `info`.
Consumers are assigned partitions (assign(), never subscribe()) and commit nothing.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any, Callable

from systems.base import ClusterContext, Completion, Invocation
from systems.kafka import config

DELIVERY_TIMEOUT_MS = 4000  # under the harness's default 5 s op timeout: a report always comes
POLL_TIMEOUT_S = 0.5
DRAIN_TIMEOUT_S = 4.0

# Broker or client errors that mean the record was certainly not appended: the broker refused it
# before writing, or the client never sent it.
NOT_WRITTEN = frozenset({
    "NOT_LEADER_FOR_PARTITION", "NOT_LEADER_OR_FOLLOWER", "NOT_ENOUGH_REPLICAS",
    "LEADER_NOT_AVAILABLE", "UNKNOWN_TOPIC_OR_PART", "FENCED_LEADER_EPOCH",
    "UNKNOWN_LEADER_EPOCH", "MSG_SIZE_TOO_LARGE", "INVALID_REQUIRED_ACKS",
    "TOPIC_AUTHORIZATION_FAILED", "INVALID_RECORD", "OUT_OF_ORDER_SEQUENCE_NUMBER",
    "_UNKNOWN_PARTITION", "_UNKNOWN_TOPIC", "_MSG_SIZE_TOO_LARGE", "_QUEUE_FULL", "_PURGE_QUEUE",
})


def bootstrap_servers(ctx: ClusterContext, first: str | None = None) -> str:
    """Every broker, the worker's own node first (librdkafka tries them in turn)."""
    nodes = sorted(ctx.nodes, key=lambda n: n != first)
    return ",".join(f"{ctx.address(n)}:{ctx.port(n, config.BROKER_PORT)}" for n in nodes)


def admin_client(bootstrap: str) -> Any:
    from confluent_kafka.admin import AdminClient
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 2000,
                        "socket.connection.setup.timeout.ms": 2000, "log_level": 0})


def error_name(err: Any) -> str:
    try:
        return err.name()
    except AttributeError:
        return type(err).__name__


def classify(err: Any, value: Any) -> Completion:
    """fail when the error proves the record was not written, info otherwise."""
    name = error_name(err)
    text = f"{name}: {err.str() if hasattr(err, 'str') else err}"
    if name in NOT_WRITTEN:
        return Completion.fail(text, value)
    return Completion.info(text, value)


def _record_value(raw: bytes | None) -> Any:
    if raw is None:
        return None
    text = raw.decode(errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


class _Delivery:
    """Collects delivery reports of the records one operation produced."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.reports: list[tuple[Any, Any]] = []
        self.done = threading.Event()
        if expected == 0:
            self.done.set()

    def __call__(self, err: Any, msg: Any) -> None:
        self.reports.append((err, msg))
        if len(self.reports) >= self.expected:
            self.done.set()


def await_delivery(producer: Any, delivery: _Delivery, closed: Callable[[], bool]) -> bool:
    """Serve the producer's callbacks until every report came (True), the client closed or the
    delivery timeout passed (False)."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT_MS / 1000 + 1.0
    while not delivery.done.is_set() and not closed() and time.monotonic() < deadline:
        producer.poll(0.05)
    return delivery.done.is_set()


def produce_one(producer: Any, topic: str, value: dict[str, Any],
                closed: Callable[[], bool]) -> Completion:
    """Send {"partition", "value"} as one record and wait for its delivery report."""
    from confluent_kafka import KafkaException
    partition, v = int(value["partition"]), value["value"]
    delivery = _Delivery(1)
    try:
        producer.produce(topic, value=json.dumps(v).encode(), partition=partition,
                         on_delivery=delivery)
    except BufferError:
        return Completion.fail("local queue full", value)
    except KafkaException as e:
        return classify(e.args[0], value)
    if not await_delivery(producer, delivery, closed):
        return Completion.info("no delivery report", value)
    err, msg = delivery.reports[0]
    if err is not None:
        return classify(err, value)
    offset = msg.offset()
    return Completion.ok({"partition": partition, "value": v,
                          "offset": offset if offset is not None and offset >= 0 else None})


class _ConsumerBase:
    def _consumer(self, bootstrap: str, isolation: str) -> Any:
        from confluent_kafka import Consumer
        return Consumer({"bootstrap.servers": bootstrap,
                         "group.id": f"splitbrain-reader-{uuid.uuid4().hex[:12]}",
                         "enable.auto.commit": False, "enable.auto.offset.store": False,
                         "auto.offset.reset": "earliest", "enable.partition.eof": False,
                         "isolation.level": isolation, "fetch.wait.max.ms": 100,
                         "socket.timeout.ms": 3000, "log_level": 0})

    def _read(self, consumer: Any, limit: int = 500,
              timeout: float = POLL_TIMEOUT_S) -> tuple[list[list[Any]], list[str]]:
        records, errors = [], []
        # consume() waits its whole timeout unless `limit` records arrive: wait for the first
        # record only, then take whatever has already been fetched.
        first = consumer.poll(timeout)
        batch = [first] if first is not None else []
        if first is not None and limit > 1:
            batch += consumer.consume(num_messages=limit - 1, timeout=0)
        for m in batch:
            if m.error() is not None:
                errors.append(f"{error_name(m.error())}: {m.error().str()}")
                continue
            records.append([m.partition(), m.offset(), _record_value(m.value())])
        return records, errors

    def _drain(self, bootstrap: str, topic: str, partition: int, isolation: str) -> Completion:
        """Everything in one partition from offset 0 up to its end at the time of asking."""
        from confluent_kafka import TopicPartition
        consumer = self._consumer(bootstrap, isolation)
        try:
            try:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                           timeout=2.0)
            except Exception as e:
                return Completion.fail(f"watermarks: {e}")
            consumer.assign([TopicPartition(topic, partition, 0)])
            records: list[list[Any]] = []
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            position = 0
            while position < high and time.monotonic() < deadline:
                got, _errors = self._read(consumer, timeout=0.3)
                records += got
                if got:
                    position = got[-1][1] + 1
                else:  # read_committed skips aborted records and markers: ask where we are
                    pos = consumer.position([TopicPartition(topic, partition)])[0].offset
                    position = max(position, pos)
            return Completion.ok(records, end_offset=high, complete=position >= high)
        finally:
            consumer.close()


class KafkaQueueClient(_ConsumerBase):
    """`queue`: send = produce one record and wait for its delivery report; poll = read on from
    where this client's consumer left off (all partitions assigned, from the beginning); poll with
    a key = drain that partition from offset 0 (the final reads)."""

    def __init__(self, partitions: int, acks: str = "all", idempotent: bool = False,
                 topic: str = config.QUEUE_TOPIC) -> None:
        self.partitions = partitions
        self.acks = acks
        self.idempotent = idempotent
        self.topic = topic
        self.bootstrap = ""
        self.producer: Any = None
        self.consumer: Any = None
        self._closed = False

    def open(self, ctx: ClusterContext, node: str) -> None:
        from confluent_kafka import Producer
        self.bootstrap = bootstrap_servers(ctx, node)
        settings = {"bootstrap.servers": self.bootstrap, "acks": self.acks,
                    "enable.idempotence": self.idempotent, "linger.ms": 0,
                    "message.timeout.ms": DELIVERY_TIMEOUT_MS, "request.timeout.ms": 3000,
                    "socket.timeout.ms": 3000, "log_level": 0}
        if not self.idempotent:
            settings["message.send.max.retries"] = 0
        self.producer = Producer(settings)
        # Fail here, not in the first op, when no broker can be reached.
        self.producer.list_topics(topic=self.topic, timeout=3.0)

    def invoke(self, op: Invocation) -> Completion:
        if op.f == "send":
            return self._send(op.value)
        if op.f == "poll":
            if op.key is not None:
                return self._drain(self.bootstrap, self.topic, int(op.key), "read_uncommitted")
            return self._poll()
        return Completion.fail(f"kafka queue client has no operation {op.f!r}")

    def _send(self, value: dict[str, Any]) -> Completion:
        return produce_one(self.producer, self.topic, value, lambda: self._closed)

    def _poll(self) -> Completion:
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition
        if self.consumer is None:
            self.consumer = self._consumer(self.bootstrap, "read_uncommitted")
            self.consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING)
                                  for p in range(self.partitions)])
        records, errors = self._read(self.consumer)
        if not records and errors:
            return Completion.fail(errors[0])  # a read changes nothing: failing it is safe
        return Completion.ok(records)

    def close(self) -> None:
        self._closed = True
        if self.producer is not None:
            try:
                self.producer.purge(in_queue=True, in_flight=False)
            except Exception:
                pass
        if self.consumer is not None:
            try:
                self.consumer.close()
            except Exception:
                pass
            self.consumer = None


class KafkaTxnClient(_ConsumerBase):
    """`txn`: consume-transform-produce with Kafka transactions (workloads/txn.py).

    A `transform` of input partition p uses the transactional id splitbrain-txn-p<p> (one per
    input partition: a new instance fences the old one, which is Kafka's zombie fencing) and a
    read_committed consumer of the group splitbrain-txn assigned p, starting at the group's
    committed offset. One transaction: begin, consume a batch, produce one output record per input
    record (to the same partition of the output topic), send the next input offset to the
    transaction, then commit, or abort when the operation asks to. After any failure the
    producer and consumer are rebuilt, so the next transaction starts from the committed offset.
    `send` writes an input record (idempotent, acks=all); `read` reads the output topic
    read_committed (a key: drain that partition from 0); `committed` asks the group's committed
    offset of an input partition.
    """

    TRANSACTION_TIMEOUT_MS = 10000
    CALL_TIMEOUT_S = 4.0
    BATCH = 20

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.bootstrap = ""
        self.producer: Any = None  # plain, for input records
        self.txn_producer: Any = None
        self.txn_consumer: Any = None
        self.txn_partition: int | None = None
        self.reader: Any = None
        self._busy = threading.Lock()
        self._closed = False

    def open(self, ctx: ClusterContext, node: str) -> None:
        from confluent_kafka import Producer
        self.bootstrap = bootstrap_servers(ctx, node)
        self.producer = Producer({"bootstrap.servers": self.bootstrap, "acks": "all",
                                  "enable.idempotence": True, "linger.ms": 0,
                                  "message.timeout.ms": DELIVERY_TIMEOUT_MS,
                                  "request.timeout.ms": 3000, "socket.timeout.ms": 3000,
                                  "log_level": 0})
        self.producer.list_topics(topic=config.TXN_INPUT_TOPIC, timeout=3.0)

    def invoke(self, op: Invocation) -> Completion:
        with self._busy:
            if op.f == "send":
                return produce_one(self.producer, config.TXN_INPUT_TOPIC, op.value,
                                   lambda: self._closed)
            if op.f == "transform":
                return self._transform(op.value)
            if op.f == "read":
                if op.key is not None:
                    return self._drain(self.bootstrap, config.TXN_OUTPUT_TOPIC, int(op.key),
                                       "read_committed")
                return self._read_on()
            if op.f == "committed":
                return self._committed(int(op.key))
        return Completion.fail(f"kafka txn client has no operation {op.f!r}")

    def _start_transactions(self, partition: int) -> None:
        from confluent_kafka import Consumer, Producer, TopicPartition
        producer = Producer({"bootstrap.servers": self.bootstrap,
                             "transactional.id": f"splitbrain-txn-p{partition}",
                             "transaction.timeout.ms": self.TRANSACTION_TIMEOUT_MS,
                             "acks": "all", "enable.idempotence": True, "linger.ms": 0,
                             "message.timeout.ms": DELIVERY_TIMEOUT_MS,
                             "socket.timeout.ms": 3000, "log_level": 0})
        # Fences any earlier instance of this id and completes or aborts its open transaction.
        producer.init_transactions(self.CALL_TIMEOUT_S)
        # Created after that, so the committed offset it starts from is settled.
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": config.TXN_GROUP,
                             "enable.auto.commit": False, "enable.auto.offset.store": False,
                             "auto.offset.reset": "earliest", "enable.partition.eof": False,
                             "isolation.level": "read_committed", "fetch.wait.max.ms": 100,
                             "socket.timeout.ms": 3000, "log_level": 0})
        consumer.assign([TopicPartition(config.TXN_INPUT_TOPIC, partition)])
        self.txn_producer, self.txn_consumer, self.txn_partition = producer, consumer, partition

    def _reset_transactions(self) -> None:
        if self.txn_consumer is not None:
            try:
                self.txn_consumer.close()
            except Exception:
                pass
        self.txn_producer = self.txn_consumer = self.txn_partition = None

    def _transform(self, value: dict[str, Any]) -> Completion:
        from confluent_kafka import KafkaException, TopicPartition
        p, txn, abort = int(value["partition"]), value["txn"], bool(value.get("abort"))
        result: dict[str, Any] = {"partition": p, "txn": txn, "abort": abort, "consumed": [],
                                  "produced": [], "next_offset": None}
        stage = "init"
        try:
            if self.txn_producer is None or self.txn_partition != p:
                self._reset_transactions()
                self._start_transactions(p)
            producer, consumer = self.txn_producer, self.txn_consumer
            stage = "begin"
            producer.begin_transaction()
            stage = "consume"
            records, errors = self._read(consumer, limit=self.BATCH, timeout=0.3)
            result["consumed"] = [[o, v] for _, o, v in records]
            delivery = _Delivery(len(records))
            stage = "produce"
            for _, offset, v in records:
                out = {"txn": txn, "in": [p, offset], "value": v}
                producer.produce(config.TXN_OUTPUT_TOPIC, value=json.dumps(out).encode(),
                                 partition=p % self.partitions, on_delivery=delivery)
            producer.flush(self.CALL_TIMEOUT_S)
            result["produced"] = [[m.partition(), m.offset() if err is None else None,
                                   json.loads(m.value())["in"][1]]
                                  for err, m in delivery.reports]
            if records:
                result["next_offset"] = records[-1][1] + 1
                stage = "send-offsets"
                producer.send_offsets_to_transaction(
                    [TopicPartition(config.TXN_INPUT_TOPIC, p, result["next_offset"])],
                    consumer.consumer_group_metadata(), self.CALL_TIMEOUT_S)
            if abort:
                stage = "abort"
                producer.abort_transaction(self.CALL_TIMEOUT_S)
                if records:  # read the aborted batch again in the next transaction
                    consumer.seek(TopicPartition(config.TXN_INPUT_TOPIC, p, records[0][1]))
                return Completion.ok(result)
            stage = "commit"
            producer.commit_transaction(self.CALL_TIMEOUT_S)
            return Completion.ok(result)
        except KafkaException as e:
            return self._transform_failed(e.args[0] if e.args else e, stage, result)
        except Exception as e:  # e.g. a closed handle: the outcome is unknown
            self._reset_transactions()
            return Completion.info(f"{stage}: {type(e).__name__}: {e}", result)

    def _transform_failed(self, err: Any, stage: str, result: dict[str, Any]) -> Completion:
        """Before commit_transaction was called the transaction can never commit (fail); during
        the commit only an abortable error that we then abort proves it did not (fail)."""
        text = f"{stage}: {error_name(err)}: {err.str() if hasattr(err, 'str') else err}"
        requires_abort = getattr(err, "txn_requires_abort", lambda: False)()
        committed_maybe = stage == "commit"
        if requires_abort or (not committed_maybe and stage != "init"):
            try:
                self.txn_producer.abort_transaction(self.CALL_TIMEOUT_S)
                aborted = True
            except Exception:
                aborted = False
            self._reset_transactions()
            if aborted or not committed_maybe:
                return Completion.fail(text, result)
            return Completion.info(text, result)
        self._reset_transactions()
        if stage == "init":
            return Completion.fail(text, result)  # no transaction was begun
        return Completion.info(text, result)

    def _read_on(self) -> Completion:
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition
        if self.reader is None:
            self.reader = self._consumer(self.bootstrap, "read_committed")
            self.reader.assign([TopicPartition(config.TXN_OUTPUT_TOPIC, p, OFFSET_BEGINNING)
                                for p in range(self.partitions)])
        records, errors = self._read(self.reader)
        if not records and errors:
            return Completion.fail(errors[0])
        return Completion.ok(records)

    def _committed(self, partition: int) -> Completion:
        from confluent_kafka import Consumer, TopicPartition
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": config.TXN_GROUP,
                             "enable.auto.commit": False, "isolation.level": "read_committed",
                             "log_level": 0})
        try:
            tp = consumer.committed([TopicPartition(config.TXN_INPUT_TOPIC, partition)],
                                    timeout=self.CALL_TIMEOUT_S)[0]
        except Exception as e:
            return Completion.fail(f"committed: {e}")
        finally:
            consumer.close()
        return Completion.ok({"partition": partition,
                              "offset": tp.offset if tp.offset >= 0 else None})

    def close(self) -> None:
        self._closed = True
        # An abandoned call may still hold the handles; only tidy up when none is in flight.
        if not self._busy.acquire(blocking=False):
            return
        try:
            if self.txn_producer is not None:
                try:
                    self.txn_producer.abort_transaction(1.0)
                except Exception:
                    pass
            self._reset_transactions()
            for c in (self.reader,):
                if c is not None:
                    try:
                        c.close()
                    except Exception:
                        pass
            self.reader = None
        finally:
            self._busy.release()
