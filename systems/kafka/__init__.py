"""kafka: a 3-node Apache Kafka cluster in KRaft combined mode, built from Maven Central jars.

Setup formats each node's storage with one cluster id (kafka.tools.StorageTool), starts
`java kafka.Kafka server.properties` on every host, and waits until the cluster is what a test
needs: 3 controller voters with an active controller (kafka.tools' MetadataQuorumCommand), every
broker registered, and the test topics created with replication factor 3 and a full ISR (the
confluent-kafka AdminClient). Capabilities: kill/start, pause/resume, processes(), leader() (the
leader of partition 0 of the topic under test), controller() (the active KRaft controller),
healthy(), log_files(), and for the `group` workload consumers() / crash_consumer(member) (the
optional capability `crash:consumers` needs, nemesis/consumers.py). Options: config.OPTIONS; clients: client.py; promises: docs/kafka.md.
"""

from __future__ import annotations

import random
import re
import socket
import threading
import time
import uuid
from typing import Any

from systems.control.hosts import Daemon
from systems.base import ClusterContext, Offer, SystemError_
from systems.daemons import NotReady, OneDaemonPerNode, last_line
from systems.kafka import config
from systems.kafka.client import KafkaQueueClient, KafkaTxnClient, admin_client, bootstrap_servers
from systems.kafka.group_client import KafkaGroupClient, MemberRegistry
from systems.kafka.install import JarsMissing, classpath

READY_TIMEOUT_S = 120.0
PROGRESS_BOUND_S = 30.0


class Kafka(OneDaemonPerNode):
    """A Kafka cluster, one broker+controller JVM per node."""

    name = "kafka"
    daemon_role = "broker"
    daemon_log = "kafka.log"
    kept_files = (daemon_log, "server.properties", "format.log")
    # A progress bound that fits Kafka: after a heal a restarted broker takes a JVM start, log
    # recovery and a session timeout before leaderships settle (measured: up to ~15 s on 2
    # cores), which is slow but not a broken promise.
    offer = Offer(workloads=("queue", "txn", "group"), options=config.OPTIONS, node_counts=(3,),
                  checker_params={"progress": {"bound_s": PROGRESS_BOUND_S}})

    def __init__(self) -> None:
        super().__init__()
        self.opts: dict[str, str] = {}
        self.partitions = 1
        self._cp = ""
        self._workload: str | None = None
        self.members = MemberRegistry()  # the `group` workload's consumer processes

    @staticmethod
    def check_options(options: dict[str, str]) -> None:
        config.check(options)

    # ---- System ---------------------------------------------------------------------------------

    def setup(self, ctx: ClusterContext) -> None:
        try:
            config.check(ctx.options)
            self.partitions = config.partition_count(ctx.options)
        except ValueError as e:
            raise SystemError_(str(e)) from None
        try:
            self._cp = classpath()
        except JarsMissing as e:
            raise SystemError_(str(e)) from None
        self.ctx = ctx
        self.opts = config.settings(ctx.options)
        cluster_id = _cluster_id(ctx.seed)
        try:
            self._write_files()
            errors: dict[str, str] = {}
            threads = [threading.Thread(target=self._format, args=(n, cluster_id, errors))
                       for n in ctx.nodes]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if errors:
                node = sorted(errors)[0]
                raise SystemError_(errors[node])
            for node in ctx.nodes:
                self._launch(node)
            self._wait_ready(READY_TIMEOUT_S)
        except SystemError_:
            self.teardown()
            raise

    def client(self, workload: str):
        self.offer.require_workload(self.name, workload)
        self._workload = workload
        acks, idempotent = self.opts.get("acks", "all"), self.opts.get("enable.idempotence") == "true"
        if workload == "queue":
            return KafkaQueueClient(self.partitions, acks=acks, idempotent=idempotent)
        if workload == "group":
            return KafkaGroupClient(self.partitions, self.members, acks=acks,
                                    idempotent=idempotent)
        return KafkaTxnClient(self.partitions)

    def teardown(self) -> None:
        self.members.stop_all()  # no consumer process outlives the run
        super().teardown()

    # ---- capabilities ---------------------------------------------------------------------------

    def consumers(self) -> list[dict[str, Any]]:
        """The live consumer-group members ({"member", "group", "process", "node",
        "partitions"}: what it holds), for crash:consumers."""
        return [{"member": m.name, "group": m.group, "process": m.process, "node": m.node,
                 "partitions": sorted(m.partitions), "window": m.window}
                for m in self.members.live()]

    def crash_consumer(self, member: str, window: str | None = None) -> bool:
        """Kill the member's process (SIGKILL) without closing its consumer: the group learns
        of it only when its session times out; its in-flight op reads as info. With a window
        (group_client.MemberProcess), only if the member is in it: False when it was not."""
        m = self.members.get(member)
        if m is None:
            raise KeyError(f"no consumer member {member!r}")
        if not m.kill(window):
            return False
        self.members.remove(m)
        return True

    def leader(self) -> str | None:
        """The node leading partition 0 of the topic under test, as the brokers' metadata says."""
        meta = self._partition_metadata(timeout=2.0)
        if not meta:
            return None
        leader = meta[0]["leader"]
        return self._node_of(leader)

    def controller(self) -> str | None:
        """The active KRaft controller (the quorum leader), or None when there is none."""
        status = self.quorum_status(timeout=20.0)
        return self._node_of(status.get("leader")) if status else None

    def healthy(self) -> bool:
        """Every broker registered and every partition of the topics under test led, with a full
        ISR (so the next fault starts from a whole cluster), and every broker accepting
        connections (the metadata alone still lists a killed broker until its session expires)."""
        assert self.ctx is not None
        for node in self.ctx.nodes:
            try:
                socket.create_connection((self.ctx.address(node),
                                          self.ctx.port(node, config.BROKER_PORT)), 1.0).close()
            except OSError:
                return False
        return self._topics_ready(timeout=1.0) is None

    # ---- queries --------------------------------------------------------------------------------

    def bootstrap(self) -> str:
        assert self.ctx is not None, "setup() first"
        return bootstrap_servers(self.ctx)

    def topics(self) -> list[str]:
        if self._workload == "txn":
            return [config.TXN_INPUT_TOPIC, config.TXN_OUTPUT_TOPIC]
        if self._workload == "group":
            return [config.GROUP_TOPIC, config.GROUP_OUTPUT_TOPIC]
        return [config.QUEUE_TOPIC]

    def _partition_metadata(self, timeout: float) -> list[dict[str, Any]] | None:
        """Partition 0.. of the first topic: {"leader": id, "isr": [...], "replicas": [...]}."""
        admin = admin_client(self.bootstrap())
        try:
            md = admin.list_topics(topic=self.topics()[0], timeout=timeout)
        except Exception:
            return None
        t = md.topics.get(self.topics()[0])
        if t is None or t.error is not None:
            return None
        return [{"leader": p.leader, "isr": list(p.isrs), "replicas": list(p.replicas)}
                for _, p in sorted(t.partitions.items())]

    def _topics_ready(self, timeout: float) -> str | None:
        """None when the cluster is whole; else what is missing, in a few words."""
        assert self.ctx is not None
        admin = admin_client(self.bootstrap())
        try:
            md = admin.list_topics(timeout=timeout)
        except Exception as e:
            return f"no broker answers metadata requests ({_short(e)})"
        if len(md.brokers) < len(self.ctx.nodes):
            return f"only brokers {sorted(md.brokers)} are registered"
        replicas = min(config.REPLICATION_FACTOR, len(self.ctx.nodes))
        for name in self.all_topics():
            t = md.topics.get(name)
            if t is None or t.error is not None:
                return f"topic {name} does not exist yet"
            if len(t.partitions) < self.partitions:
                return f"topic {name} has {len(t.partitions)} partitions"
            for pid, p in sorted(t.partitions.items()):
                if p.leader < 0:
                    return f"{name}/{pid} has no leader"
                if len(p.replicas) != replicas or len(p.isrs) != replicas:
                    return f"{name}/{pid} has replicas {list(p.replicas)}, ISR {list(p.isrs)}"
        return None

    def quorum_status(self, timeout: float = 30.0) -> dict[str, Any] | None:
        """The KRaft quorum as kafka.tools.MetadataQuorumCommand reports it: {"leader": id,
        "voters": [ids]}; None when no broker answers."""
        assert self.ctx is not None
        node = self.ctx.nodes[0]
        argv = ["java", "-Xmx128m", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
                "-Dlog4j.configuration=file:" + f"{self.ctx.remote_dir(node)}/log4j.properties",
                "-cp", self._cp, "org.apache.kafka.tools.MetadataQuorumCommand",
                "--bootstrap-server", self.bootstrap(), "describe", "--status"]
        try:
            r = self._host(node).run(argv, timeout=timeout)
        except Exception:
            return None
        if r.exit_code != 0:
            return None
        return parse_quorum_status(r.stdout)

    # ---- helpers --------------------------------------------------------------------------------

    def _node_of(self, broker_id: Any) -> str | None:
        assert self.ctx is not None
        if not isinstance(broker_id, int) or not 1 <= broker_id <= len(self.ctx.nodes):
            return None
        return self.ctx.nodes[broker_id - 1]

    def _remote(self, node: str, name: str) -> str:
        assert self.ctx is not None
        return f"{self.ctx.remote_dir(node)}/{name}"

    def _write_files(self) -> None:
        """server.properties and log4j.properties into each node's directory (uploaded to the
        node's host when it has its own filesystem); a fresh data directory."""
        ctx = self.ctx
        assert ctx is not None
        for node in ctx.nodes:
            local = ctx.node_dir(node)
            files = {"server.properties": config.server_properties(ctx, node, ctx.options),
                     "log4j.properties": config.LOG4J_PROPERTIES}
            host = self._host(node)
            for name, text in files.items():
                (local / name).write_text(text)
                if str(local) != ctx.remote_dir(node):
                    host.upload(local / name, self._remote(node, name))
            r = host.run(["rm", "-rf", self._remote(node, "data")], timeout=30)
            if r.exit_code != 0:
                raise SystemError_(f"kafka {node}: cannot remove the old data directory "
                                   f"{self._remote(node, 'data')}: {r.stderr.strip()}")

    def _format(self, node: str, cluster_id: str, errors: dict[str, str]) -> None:
        argv = ["java", "-Xmx128m", "-XX:TieredStopAtLevel=1",
                "-Dlog4j.configuration=file:" + self._remote(node, "log4j.properties"),
                "-cp", self._cp, "kafka.tools.StorageTool", "format", "-t", cluster_id,
                "-c", self._remote(node, "server.properties")]
        log = self.ctx.node_dir(node) / "format.log"
        try:
            r = self._host(node).run(argv, timeout=120)
        except Exception as e:
            errors[node] = f"kafka {node}: cannot format the storage: {e} (log: {log})"
            return
        log.write_text(r.stdout + r.stderr)
        if r.exit_code != 0:
            errors[node] = (f"kafka {node}: formatting the storage failed: "
                            f"{last_line(r.stdout + r.stderr)[:300]} (log: {log})")

    def _argv(self, node: str) -> list[str]:
        return ["java", f"-Xmx{self.opts['heap']}", f"-Xms{self.opts['heap']}", "-XX:+UseG1GC",
                "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
                "-Dlog4j.configuration=file:" + self._remote(node, "log4j.properties"),
                "-cp", self._cp, "kafka.Kafka", self._remote(node, "server.properties")]

    def _exit_reason(self, node: str, daemon: Daemon) -> str:
        return (f"{_last_error(self._host(node).read_log(daemon))} "
                f"(log: {self._local_log(node)})")

    def _wait_ready(self, timeout: float) -> None:
        ctx = self.ctx
        assert ctx is not None
        deadline = time.monotonic() + timeout
        first = ctx.nodes[0]

        def unregistered() -> NotReady:
            admin = admin_client(self.bootstrap())
            try:
                brokers = sorted(admin.list_topics(timeout=2.0).brokers)
            except Exception:
                brokers = []
            if len(brokers) == len(ctx.nodes):
                return None
            missing = [n for n in ctx.nodes if config.node_id(ctx.nodes, n) not in brokers]
            node = missing[0] if missing else first
            return f"broker {node} did not register", self._local_log(node)

        def topics_unready() -> NotReady:
            missing = self._topics_ready(timeout=2.0)
            return None if missing is None else (missing, self._local_log(first))

        # 1. Every broker registered with the controller.
        self._wait_until_ready(unregistered, timeout, poll_s=0.5, deadline=deadline)
        # 2. A KRaft quorum of every node, with an active controller.
        status = self.quorum_status(timeout=max(5.0, deadline - time.monotonic()))
        voters = sorted(status["voters"]) if status else []
        if not status or len(voters) != len(ctx.nodes) or status.get("leader") is None:
            raise self._not_ready(timeout, f"the controller quorum is {status or 'not answering'}"
                                  f", expected {len(ctx.nodes)} voters and a leader",
                                  self._local_log(first))
        # 3. The topics, replicated on every node, with a full ISR.
        self._create_topics(deadline)
        self._wait_until_ready(topics_unready, timeout, poll_s=0.3, deadline=deadline)

    def _create_topics(self, deadline: float) -> None:
        from confluent_kafka.admin import NewTopic
        assert self.ctx is not None
        replicas = min(config.REPLICATION_FACTOR, len(self.ctx.nodes))
        topic_config = config.topic_config(self.opts, len(self.ctx.nodes))
        for name in self.all_topics():
            while True:
                admin = admin_client(self.bootstrap())
                future = admin.create_topics([NewTopic(name, self.partitions, replicas,
                                                       config=topic_config)],
                                             operation_timeout=10, request_timeout=15)[name]
                try:
                    future.result()
                    break
                except Exception as e:
                    err = e.args[0] if e.args else None
                    if getattr(err, "name", lambda: "")() == "TOPIC_ALREADY_EXISTS":
                        break
                    if time.monotonic() >= deadline:
                        raise SystemError_(f"kafka: cannot create topic {name}: {_short(e)} "
                                           f"(log: {self.ctx.node_dir(self.ctx.nodes[0]) / 'kafka.log'})")
                    time.sleep(0.5)

    def all_topics(self) -> list[str]:
        """Every topic a workload of this system may use; created at setup."""
        return [config.QUEUE_TOPIC, config.TXN_INPUT_TOPIC, config.TXN_OUTPUT_TOPIC,
                config.GROUP_TOPIC, config.GROUP_OUTPUT_TOPIC]


def parse_quorum_status(text: str) -> dict[str, Any]:
    """{"leader": id, "voters": [ids]} from `kafka-metadata-quorum describe --status` output."""
    status: dict[str, Any] = {"leader": None, "voters": []}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "LeaderId":
            try:
                status["leader"] = int(value.strip())
            except ValueError:
                pass
        elif key == "CurrentVoters":
            # 3.9 prints [{"id": 1, ...}, ...]; earlier releases print [1,2,3].
            ids = re.findall(r'"id"\s*:\s*(\d+)', value) or re.findall(r"\d+", value)
            status["voters"] = [int(i) for i in ids]
    return status


def _cluster_id(seed: int) -> str:
    """A KRaft cluster id (a UUID in URL-safe base64), fixed by the seed."""
    import base64
    raw = uuid.UUID(int=random.Random(f"kafka-cluster:{seed}").getrandbits(128)).bytes
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _short(e: BaseException) -> str:
    return str(e).splitlines()[0][:200] if str(e) else type(e).__name__


def _last_error(text: str) -> str:
    """The line of a broker log that says why it stopped: the last ERROR, else the last line."""
    lines = [x for x in text.strip().splitlines() if x.strip()]
    errors = [x for x in lines if " ERROR " in x or "Exception" in x]
    return (errors[-1] if errors else (lines[-1] if lines else "no output")).strip()[:300]


__all__ = ["Kafka", "KafkaQueueClient", "KafkaTxnClient", "bootstrap_servers",
           "parse_quorum_status"]
