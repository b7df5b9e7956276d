"""Where checkers and models are found: built-ins listed here, plus entry points of other packages.

A user's package adds a checker with an entry point in the group `splitbrain.checkers` (or a model
in `splitbrain.models`) naming a class; no file of ours needs to change. A checker spec is plain
data, {"name": "linearizable", "model": "cas-register"}, so test.json can record it and
`splitbrain check` can rebuild the same checker from the file alone.
"""

from __future__ import annotations

import importlib
from typing import Any

BUILTIN_CHECKERS = {
    "linearizable": "checkers.linearizable:LinearizabilityChecker",
    "stats": "checkers.stats:StatsChecker",
    "progress": "checkers.progress:ProgressChecker",
    "linearizable-writes": "checkers.zk_writes:LinearizableWritesChecker",
    "session-order": "checkers.session_order:SessionOrderChecker",
    "set": "checkers.set:SetChecker",
    "mutex": "checkers.mutex:MutexChecker",
    "queue": "checkers.queue:QueueChecker",
    "kafka-txn": "checkers.kafka_txn:KafkaTxnChecker",
    "vip": "checkers.vip:VipChecker",
    "elle": "checkers.elle:ElleChecker",
    "delivery": "checkers.delivery:DeliveryChecker",
    "counter": "checkers.counter:CounterChecker",
}

BUILTIN_MODELS = {
    "register": "checkers.models:Register",
    "cas-register": "checkers.models:CasRegister",
    "kv": "checkers.models:KV",
    "multi-register": "checkers.models:MultiRegister",
    "mutex": "checkers.models:Mutex",
    "fifo-queue": "checkers.models:FifoQueue",
    "unordered-queue": "checkers.models:UnorderedQueue",
    "set": "checkers.models:SetModel",
    "counter": "checkers.models:Counter",
}


class UnknownName(LookupError):
    """A name that no built-in and no installed plugin provides (exit 254)."""


def plugin_table(group: str, builtins: dict[str, str]) -> dict[str, str]:
    """Names to "module:attr" targets: built-ins first, installed entry points may add more."""
    from importlib.metadata import entry_points  # 10 ms to import: only when plugins matter

    table = dict(builtins)
    try:
        for ep in entry_points(group=group):
            table.setdefault(ep.name, ep.value)
    except Exception:  # a broken third-party distribution must not break our own names
        pass
    return table


def load_target(target: str) -> Any:
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def lookup(kind: str, group: str, builtins: dict[str, str], name: str) -> Any:
    if name in builtins:  # built-ins come first in plugin_table too: no need to scan plugins
        return load_target(builtins[name])
    table = plugin_table(group, builtins)
    if name not in table:
        raise UnknownName(f"unknown {kind} {name!r}; known: {', '.join(sorted(table))}")
    return load_target(table[name])


def checker_names() -> list[str]:
    return sorted(plugin_table("splitbrain.checkers", BUILTIN_CHECKERS))


def model_names() -> list[str]:
    return sorted(plugin_table("splitbrain.models", BUILTIN_MODELS))


def is_model(name: str) -> bool:
    return name in BUILTIN_MODELS or name in model_names()


def get_model(name: str) -> Any:
    """A model instance by name (e.g. "cas-register")."""
    return lookup("model", "splitbrain.models", BUILTIN_MODELS, name)()


def checker_class(name: str) -> Any:
    return lookup("checker", "splitbrain.checkers", BUILTIN_CHECKERS, name)


def build_checker(spec: dict[str, Any]) -> Any:
    """A checker instance from its spec: {"name": ..., **parameters}."""
    params = dict(spec)
    return checker_class(params.pop("name"))(**params)
