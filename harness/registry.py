"""Names the CLI accepts for systems, workloads and nemesis faults.

Built-ins are listed here, one line each; other packages add their own through entry points in the
groups `splitbrain.systems`, `splitbrain.workloads` and `splitbrain.nemeses`, without touching ours.
Checkers and models have their registry in checkers/registry.py (they must load without harness).
"""

from __future__ import annotations

from typing import Any

from checkers.registry import UnknownName, load_target, plugin_table
from harness.errors import UsageError

SYSTEMS = {
    "raftkv": "systems.raftkv:RaftKV",
    "zookeeper": "systems.zookeeper:ZooKeeper",
    "etcd": "systems.etcd:Etcd",
    "redis": "systems.redis:Redis",
    "redis-sentinel": "systems.redis:RedisSentinel",
    "redis-cluster": "systems.redis:RedisCluster",
    "kafka": "systems.kafka:Kafka",
    "keepalived": "systems.keepalived:Keepalived",
    "external": "systems.external:ExternalSystem",
}

WORKLOADS = {
    "register": "workloads.register:RegisterWorkload",
    "set": "workloads.set:SetWorkload",
    "lock": "workloads.lock:LockWorkload",
    "queue": "workloads.queue:QueueWorkload",
    "group": "workloads.group:GroupWorkload",
    "txn": "workloads.txn:TxnWorkload",
    "vip": "workloads.vip:VipWorkload",
    "append": "workloads.transactions:AppendWorkload",
    "wr": "workloads.transactions:WrWorkload",
    "counter": "workloads.counter:CounterWorkload",
}

NEMESES = {
    "kill": "nemesis.process:KillFault",
    "pause": "nemesis.process:PauseFault",
    "partition": "nemesis.network:PartitionFault",
    "loss": "nemesis.network:LossFault",
    "latency": "nemesis.network:LatencyFault",
    "clock": "nemesis.clock:ClockFault",
    "crash": "nemesis.consumers:CrashFault",
}

GROUPS = {
    "system": ("splitbrain.systems", SYSTEMS),
    "workload": ("splitbrain.workloads", WORKLOADS),
    "nemesis": ("splitbrain.nemeses", NEMESES),
}


def names(kind: str) -> list[str]:
    group, builtins = GROUPS[kind]
    return sorted(plugin_table(group, builtins))


def load(kind: str, name: str) -> Any:
    """The class registered under `name`; UsageError (exit 254) naming the known ones if none."""
    group, builtins = GROUPS[kind]
    if name in builtins:  # built-ins win over plugins of the same name: no need to scan them
        return load_target(builtins[name])
    table = plugin_table(group, builtins)
    if name not in table:
        raise UsageError(f"unknown {kind} {name!r}; known: {', '.join(sorted(table))}")
    return load_target(table[name])


__all__ = ["names", "load", "UnknownName"]
