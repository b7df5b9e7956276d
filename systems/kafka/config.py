"""Kafka's options (--opt) and the per-node files they become: server.properties, log4j.properties.

Each node runs in KRaft combined mode (process.roles=broker,controller) with all nodes as the
static controller quorum, so a kill or partition hits a broker and a Raft voter at once, as in a
small production cluster. Options are declared once here with their defaults; the broker-side
ones go into server.properties (and the topic's own config), the client-side ones (acks,
idempotence) into the producer.
"""

from __future__ import annotations

from typing import Any

from systems.base import Option

BROKER_PORT = 9092
CONTROLLER_PORT = 9093
QUEUE_TOPIC = "splitbrain-queue"
TXN_INPUT_TOPIC = "splitbrain-txn-in"
TXN_OUTPUT_TOPIC = "splitbrain-txn-out"
TXN_GROUP = "splitbrain-txn"
GROUP_TOPIC = "splitbrain-group"  # the `group` workload's keyed messages
GROUP_OUTPUT_TOPIC = "splitbrain-out"  # commit=txn's output topic (its sink)
REPLICATION_FACTOR = 3

OPTIONS: dict[str, Option] = {
    "acks": Option("all", "producer acks: all (every in-sync replica), 1 (the leader) or 0 (none)",
                   ("all", "1", "0")),
    "min.insync.replicas": Option("2", "in-sync replicas an acks=all write needs (topic config)",
                                  ("1", "2", "3")),
    "unclean.leader.election.enable": Option(
        "false", "let an out-of-sync replica become leader (losing what it lacks)", ("true", "false")),
    "enable.idempotence": Option(
        "false", "idempotent producer: broker-deduplicated retries (needs acks=all)",
        ("true", "false")),
    "replica.lag.time.max.ms": Option("6000", "a follower this far behind leaves the ISR"),
    "broker.session.timeout.ms": Option(
        "6000", "a broker that has not heartbeated the controller this long is fenced and loses "
                "its partition leaderships"),
    "controller.quorum.election.timeout.ms": Option(
        "1000", "KRaft: a voter without a leader this long starts an election"),
    "controller.quorum.fetch.timeout.ms": Option(
        "2000", "KRaft: a voter that has not fetched from the leader this long starts an election"),
    "partitions": Option("2", "partitions of the test topics (a workload.partitions option, "
                              "when given, wins)"),
    "heap": Option("384m", "JVM heap of each broker (-Xmx)"),
}

_INTEGER_OPTIONS = ("replica.lag.time.max.ms", "broker.session.timeout.ms",
                    "controller.quorum.election.timeout.ms", "controller.quorum.fetch.timeout.ms",
                    "partitions")


def settings(options: dict[str, str]) -> dict[str, str]:
    """Every option with its value: the given ones over the defaults."""
    return {**{k: o.default for k, o in OPTIONS.items()}, **{k: v for k, v in options.items()
                                                              if k in OPTIONS}}


def check(options: dict[str, str]) -> None:
    """ValueError (one line) for values that are malformed or contradict each other."""
    s = settings(options)
    for key in _INTEGER_OPTIONS:
        try:
            if int(s[key]) <= 0:
                raise ValueError
        except ValueError:
            raise ValueError(f"{key}={s[key]}: expected a positive integer") from None
    if s["enable.idempotence"] == "true" and s["acks"] != "all":
        raise ValueError(f"enable.idempotence=true needs acks=all (Kafka refuses idempotence "
                         f"with acks={s['acks']}); pass --opt acks=all or "
                         f"--opt enable.idempotence=false")
    if int(s["min.insync.replicas"]) > REPLICATION_FACTOR:
        raise ValueError(f"min.insync.replicas={s['min.insync.replicas']} exceeds the replication "
                         f"factor {REPLICATION_FACTOR}")
    heartbeat = _heartbeat_ms(s)
    if heartbeat >= int(s["broker.session.timeout.ms"]):
        raise ValueError("broker.session.timeout.ms must exceed the broker heartbeat interval "
                         f"({heartbeat} ms)")


def _heartbeat_ms(s: dict[str, str]) -> int:
    # Kafka's default ratio (2 s heartbeat to a 9 s session): a few heartbeats per session.
    return max(250, min(2000, int(s["broker.session.timeout.ms"]) // 4))


def partition_count(options: dict[str, str]) -> int:
    value = options.get("workload.partitions") or settings(options)["partitions"]
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"partitions={value}: expected a positive integer") from None
    if n <= 0:
        raise ValueError(f"partitions={value}: expected a positive integer")
    return n


def node_id(nodes: list[str], node: str) -> int:
    return nodes.index(node) + 1


def server_properties(ctx: Any, node: str, options: dict[str, str]) -> str:
    """server.properties for one node of a KRaft combined-mode cluster."""
    s = settings(options)
    nodes = ctx.nodes
    address = ctx.address(node)
    broker = ctx.port(node, BROKER_PORT)
    controller = ctx.port(node, CONTROLLER_PORT)
    voters = ",".join(f"{node_id(nodes, n)}@{ctx.address(n)}:{ctx.port(n, CONTROLLER_PORT)}"
                      for n in nodes)
    replicas = min(REPLICATION_FACTOR, len(nodes))
    min_isr = min(int(s["min.insync.replicas"]), replicas)
    props = {
        "process.roles": "broker,controller",
        "node.id": node_id(nodes, node),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://{address}:{broker},CONTROLLER://{address}:{controller}",
        "advertised.listeners": f"PLAINTEXT://{address}:{broker}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": f"{ctx.remote_dir(node)}/data",
        "auto.create.topics.enable": "false",
        "num.partitions": 1,
        "default.replication.factor": replicas,
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": replicas,
        "offsets.topic.num.partitions": 3,
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": min(2, replicas),
        "transaction.state.log.num.partitions": 3,
        "unclean.leader.election.enable": s["unclean.leader.election.enable"],
        "replica.lag.time.max.ms": int(s["replica.lag.time.max.ms"]),
        "broker.session.timeout.ms": int(s["broker.session.timeout.ms"]),
        "broker.heartbeat.interval.ms": _heartbeat_ms(s),
        "controller.quorum.election.timeout.ms": int(s["controller.quorum.election.timeout.ms"]),
        "controller.quorum.fetch.timeout.ms": int(s["controller.quorum.fetch.timeout.ms"]),
        "group.initial.rebalance.delay.ms": 0,
        # Shorter than the defaults so that a test sees transactions time out and abort.
        "transaction.max.timeout.ms": 60000,
        # A transaction whose producer died (a crashed group member) stays open, holding back
        # read_committed readers and its group's offsets, until the coordinator's next sweep
        # after its timeout: sweep every second, not every 10 s (the default).
        "transaction.abort.timed.out.transaction.cleanup.interval.ms": 1000,
        "num.network.threads": 2,
        "num.io.threads": 4,
        "log.segment.bytes": 16 * 1024 * 1024,
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


LOG4J_PROPERTIES = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.kafka.common.utils.AppInfoParser=WARN
log4j.logger.kafka.log.LogCleaner=WARN
"""


def topic_config(options: dict[str, str], nodes: int) -> dict[str, str]:
    s = settings(options)
    return {"min.insync.replicas": str(min(int(s["min.insync.replicas"]),
                                           min(REPLICATION_FACTOR, nodes))),
            "unclean.leader.election.enable": s["unclean.leader.election.enable"]}
