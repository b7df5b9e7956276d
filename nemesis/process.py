"""Process faults: `kill` (SIGKILL, restart later) and `pause` (SIGSTOP, then SIGCONT).

Both go through the system's own Killable/Pausable hooks (a system knows which processes make a
node) and are verified from outside through HasProcesses: after a kill no process of the node is
alive; after a pause every one is in the stopped state. A fault that did not take effect raises
FaultError, which ends the run with exit 255 rather than a "valid" run that tested nothing.
"""

from __future__ import annotations

import time
from typing import Any

from nemesis.base import NODE_TARGETS, FaultError
from systems.base import ClusterContext, HasProcesses, Killable, Pausable, Option

_SETTLE_S = 2.0  # how long a signal may take to show in /proc


def _process_states(system: Any, node: str) -> list[tuple[int, str]]:
    """(pid, state letter from /proc/PID/stat, or "gone") for each process of the node."""
    out = []
    for host, daemon in system.processes(node):
        r = host.run(["cat", f"/proc/{daemon.pid}/stat"], timeout=5)
        if r.exit_code != 0:
            out.append((daemon.pid, "gone"))
            continue
        # The state follows the command name, which is in parentheses and may hold spaces.
        out.append((daemon.pid, r.stdout.rsplit(")", 1)[1].split()[0]))
    return out


def _await_states(system: Any, nodes: list[str], ok: set[str], what: str) -> dict[str, Any]:
    if not isinstance(system, HasProcesses):
        return {"verified": False, "why": "the system does not list its processes"}
    deadline = time.monotonic() + _SETTLE_S
    while True:
        states = {n: _process_states(system, n) for n in nodes}
        if all(s in ok for lst in states.values() for _, s in lst):
            return {"verified": True, "states": {n: [s for _, s in v] for n, v in states.items()}}
        if time.monotonic() > deadline:
            raise FaultError(f"{what} did not take effect: process states {states}")
        time.sleep(0.02)


class KillFault:
    name = "kill"
    doc = "SIGKILL every process of the target nodes; restart them from disk at heal"
    targets = NODE_TARGETS
    default_target = "one"
    params = {"duration": Option(5.0, "seconds the nodes stay dead (longer than election timeouts)",
                                 kind=float)}

    def refusal(self, system: Any, nodes: int) -> str | None:
        if not isinstance(system, Killable):
            return f"system {system.name!r} cannot kill and restart nodes"
        return None

    def start(self, system: Any, ctx: ClusterContext, targets: list[str],
              params: dict[str, Any]) -> dict[str, Any]:
        for node in targets:
            system.kill(node)
        # A killed process is gone, or a zombie until its parent reaps it.
        return {"probe": _await_states(system, targets, {"gone", "Z", "X"}, "kill")}

    def stop(self, system: Any, ctx: ClusterContext, targets: list[str],
             params: dict[str, Any], started: dict[str, Any]) -> dict[str, Any]:
        for node in targets:
            system.start(node)
        return {"probe": _await_states(system, targets, {"R", "S", "D"}, "restart")}


class PauseFault:
    name = "pause"
    doc = "SIGSTOP every process of the target nodes; SIGCONT at heal"
    targets = NODE_TARGETS
    default_target = "one"
    # Longer than the default op timeout (5 s): clients bound to a paused node then time out and
    # send fresh requests, which the node finds waiting when it resumes, as a real stalled process
    # (GC, VM freeze) would.
    params = {"duration": Option(10.0, "seconds the nodes stay paused (longer than election "
                                       "timeouts and the op timeout)", kind=float)}

    def refusal(self, system: Any, nodes: int) -> str | None:
        if not isinstance(system, Pausable):
            return f"system {system.name!r} cannot pause nodes"
        return None

    def start(self, system: Any, ctx: ClusterContext, targets: list[str],
              params: dict[str, Any]) -> dict[str, Any]:
        for node in targets:
            system.pause(node)
        return {"probe": _await_states(system, targets, {"T", "t"}, "pause")}

    def stop(self, system: Any, ctx: ClusterContext, targets: list[str],
             params: dict[str, Any], started: dict[str, Any]) -> dict[str, Any]:
        for node in targets:
            system.resume(node)
        return {"probe": _await_states(system, targets, {"R", "S", "D"}, "resume")}
