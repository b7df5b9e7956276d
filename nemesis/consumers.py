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

Targets say where in its work a member is killed. `consumers`: any live member (one holding
partitions when there is one), wherever it is. The others wait (up to WINDOW_WAIT_S) for a member
to enter a crash window, as the system reports it, and kill it inside (the check and the kill
are atomic against the member's next request), so what the fault costs does not depend on luck:
`unprocessed` (commit=before: it committed a batch and is processing it: the batch is lost),
`uncommitted` (commit=after or auto: it processed records no commit covers yet: they are
delivered again), `in-txn` (commit=txn: it read records inside a transaction, nothing written or
committed yet: the transaction must abort). A start that finds no member in its window is
recorded as skipped. Parameters: `count` (members killed at once, default 1), `duration` (seconds
before the next fault may start; there is nothing to undo). The nemesis events record `members`
and `processes` killed and, for a window target, the `window` each was killed in
(docs/op-shapes.md, workload `group`).
"""

from __future__ import annotations

import random
import time
from typing import Any, Protocol, runtime_checkable

from nemesis.base import FaultError
from systems.base import ClusterContext, Option

_SETTLE_S = 5.0
WINDOW_WAIT_S = 10.0  # how long a window target waits for a member to enter its window
_WATCH_S = 0.005  # how often it looks (a window lasts the workload's process_ms)
WINDOWS = ("unprocessed", "uncommitted", "in-txn")


@runtime_checkable
class CrashesConsumers(Protocol):
    """A system whose clients run consumer-group members the nemesis may crash."""

    def consumers(self) -> list[dict[str, Any]]:
        """The live members: {"member": name, "group", "process", "node", "partitions",
        "window"} each (partitions: what the member holds, as far as the system knows; window:
        the crash window it is in, one of WINDOWS or None; both optional)."""

    def crash_consumer(self, member: str, window: str | None = None) -> bool:
        """Kill that member without closing it (KeyError if it is not live); with a window,
        only if it is in that window at the kill (False, not killed, when it is not)."""


class CrashFault:
    name = "crash"
    doc = ("kill consumer-group members without closing them (SIGKILL); their workers rejoin "
           "as new members")
    targets = ("consumers", *WINDOWS)
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
        window = None if target == "consumers" else target
        live = _candidates(system, window, time.monotonic() + WINDOW_WAIT_S)
        if not live:
            raise FaultError("no live consumer-group member to crash" if window is None else
                             f"no consumer-group member entered the {window!r} window in "
                             f"{WINDOW_WAIT_S:g} s")
        # A member holding partitions, when there is one: killing an idle member tests nothing.
        holders = [m for m in live if m.get("partitions")]
        chosen = [rng.choice(holders or live)]  # start() adds more when count > 1
        shape = {"members": [m["member"] for m in chosen],
                 "processes": [m["process"] for m in chosen]}
        if window is not None:
            shape["window"] = window
        return sorted({m["node"] for m in chosen if m.get("node")}), shape

    def start(self, system: Any, ctx: ClusterContext, targets: list[str],
              params: dict[str, Any]) -> dict[str, Any]:
        window = params.get("window")
        chosen = {m: p for m, p in zip(params.get("members", []), params.get("processes", []))}
        want = max(int(params["count"]), len(chosen))
        killed: dict[str, Any] = {}
        deadline = time.monotonic() + WINDOW_WAIT_S
        while True:
            for m, p in chosen.items():
                if len(killed) < want and m not in killed and system.crash_consumer(m, window):
                    killed[m] = p
            if len(killed) >= want or window is None or time.monotonic() > deadline:
                break
            # The chosen member left its window before the kill: the next member to enter it.
            chosen = {m["member"]: m["process"] for m in _candidates(system, window, deadline)
                      if m["member"] not in killed}
            if not chosen:
                break
        if window is None and len(killed) < want:  # count > 1: any other live members
            for m in sorted(system.consumers(), key=lambda m: str(m["member"])):
                if len(killed) < want and m["member"] not in killed:
                    system.crash_consumer(m["member"])
                    killed[m["member"]] = m["process"]
        members = list(killed)
        settle = time.monotonic() + _SETTLE_S
        while {m["member"] for m in system.consumers()} & set(members):
            if time.monotonic() > settle:
                raise FaultError(f"consumers {members} are still alive after the kill")
            time.sleep(0.05)
        shape: dict[str, Any] = {"members": members, "processes": list(killed.values()),
                                 "probe": {"verified": bool(members), "killed": members}}
        if window is not None:
            shape["window"] = window
            if not members:
                shape["missed"] = (f"no member was in the {window!r} window at the kill within "
                                   f"{WINDOW_WAIT_S:g} s")
        return shape

    def stop(self, system: Any, ctx: ClusterContext, targets: list[str],
             params: dict[str, Any], started: dict[str, Any]) -> dict[str, Any]:
        return {}


def _candidates(system: Any, window: str | None, deadline: float) -> list[dict[str, Any]]:
    """The live members (in the window, when one is given: waiting until one enters it or the
    deadline passes)."""
    while True:
        live = sorted(system.consumers(), key=lambda m: str(m["member"]))
        if window is not None:
            live = [m for m in live if m.get("window") == window]
        if live or window is None or time.monotonic() > deadline:
            return live
        time.sleep(_WATCH_S)
