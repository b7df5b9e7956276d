"""`crash:consumers`: kill consumer-group members without letting them close.

A consumer that crashes does not leave its group: the group coordinator notices only when the
member's session times out, then rebalances its partitions to the others, which resume from the
group's committed offsets. What the crashed member had processed but not committed is delivered
again; what it had committed but not processed is never delivered. That is what the commit
policies differ in, and what this fault provokes (docs/checkers-delivery.md judges it).

The consumers live in the system's clients, not on the nodes, so the fault needs an optional
capability of the system (CrashesConsumers, below; Kafka has it): `consumers()` lists the live
members and `crash_consumer(member)` kills one the way a crash would (a SIGKILLed process).
Its in-flight operation then ends as `info`, the runner retires the worker's process, and the
worker's next client joins the group as a new member: the replacement Jepsen's `crash` gives.

Targets: `consumers` (the only one). Parameters: `count` (members killed at once, default 1),
`duration` (seconds before the next fault may start; there is nothing to undo). The nemesis
events record `members` and `processes` killed (docs/op-shapes.md, workload `group`).
"""

from __future__ import annotations

import random
import time
from typing import Any, Protocol, runtime_checkable

from nemesis.base import FaultError
from systems.base import ClusterContext, Option

_SETTLE_S = 5.0


@runtime_checkable
class CrashesConsumers(Protocol):
    """A system whose clients run consumer-group members the nemesis may crash."""

    def consumers(self) -> list[dict[str, Any]]:
        """The live members: {"member": name, "group", "process", "node", "partitions"} each
        (partitions: what the member holds, as far as the system knows; optional)."""

    def crash_consumer(self, member: str) -> None:
        """Kill that member without closing it (KeyError if it is not live)."""


class CrashFault:
    name = "crash"
    doc = ("kill consumer-group members without closing them (SIGKILL); their workers rejoin "
           "as new members")
    targets = ("consumers",)
    default_target = "consumers"
    params = {"duration": Option(5.0, "seconds before the next fault (nothing to undo)",
                                 kind=float),
              "count": Option(1, "members killed at once", kind=int, low=1)}

    def refusal(self, system: Any, nodes: int) -> str | None:
        if not isinstance(system, CrashesConsumers):
            return (f"system {getattr(system, 'name', system)!r} runs no consumer-group members "
                    f"it can crash (it lacks consumers() and crash_consumer())")
        return None

    def resolve_target(self, target: str, nodes: list[str], rng: random.Random,
                       system: Any) -> tuple[list[str], dict[str, Any]]:
        live = sorted(system.consumers(), key=lambda m: str(m["member"]))
        if not live:
            raise FaultError("no live consumer-group member to crash")
        # A member holding partitions, when there is one: killing an idle member tests nothing.
        holders = [m for m in live if m.get("partitions")]
        chosen = [rng.choice(holders or live)]  # start() adds more when count > 1
        return (sorted({m["node"] for m in chosen if m.get("node")}),
                {"members": [m["member"] for m in chosen],
                 "processes": [m["process"] for m in chosen]})

    def start(self, system: Any, ctx: ClusterContext, targets: list[str],
              params: dict[str, Any]) -> dict[str, Any]:
        members = list(params.get("members", []))
        processes = list(params.get("processes", []))
        extra = [m for m in sorted(system.consumers(), key=lambda m: str(m["member"]))
                 if m["member"] not in members][:max(0, int(params["count"]) - len(members))]
        members += [m["member"] for m in extra]
        processes += [m["process"] for m in extra]
        for m in members:
            system.crash_consumer(m)
        deadline = time.monotonic() + _SETTLE_S
        while {m["member"] for m in system.consumers()} & set(members):
            if time.monotonic() > deadline:
                raise FaultError(f"consumers {members} are still alive after the kill")
            time.sleep(0.05)
        return {"members": members, "processes": processes,
                "probe": {"verified": True, "killed": members}}

    def stop(self, system: Any, ctx: ClusterContext, targets: list[str],
             params: dict[str, Any], started: dict[str, Any]) -> dict[str, Any]:
        return {}
