"""The clock fault: skew the wall clock of chosen nodes, then set it right at heal.

It goes through the system's ClockSkewable capability (systems/base.py): bundled Python systems
read an injectable clock, real processes run under the LD_PRELOAD clock shim; both read the
offset from ctx.clock_file(node). Two modes, as in Jepsen's clock nemesis:

- bump:   the clock jumps `delta` ms (negative goes back) and stays there until the heal.
- strobe: the clock flips between +delta and the true time every `period` ms until the heal.

Monotonic time never moves (as with a real NTP step), so only what a system derives from wall
time (leases, timestamps, TTLs) can go wrong. Each skew is verified by asking the node for its
own wall clock; the heal resets the offset to 0 and verifies that too.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from nemesis.base import NODE_TARGETS, FaultError
from systems.base import ClockSkewable, ClusterContext, Option

_VERIFY_WITHIN_S = 3.0
_TOLERANCE_MS = 500.0  # a status round trip plus the 20 ms the clock caches the offset file


def _measure(system: Any, node: str) -> float | None:
    """The node's clock offset against ours in ms (None when it does not answer)."""
    before = time.time()
    theirs = system.wall_clock(node)
    after = time.time()
    if theirs is None:
        return None
    return (theirs - (before + after) / 2) * 1000


def _await_offset(system: Any, nodes: list[str], ms: float,
                  silent_ok: bool = False) -> dict[str, float | None]:
    """Poll the nodes' clocks until each is `ms` off; with `silent_ok`, a node that does not
    answer (killed or paused by another fault) counts as done: its offset file is what it reads
    when it comes back."""
    deadline = time.monotonic() + _VERIFY_WITHIN_S
    while True:
        seen = {n: _measure(system, n) for n in nodes}
        if all((v is None and silent_ok) or (v is not None and abs(v - ms) <= _TOLERANCE_MS)
               for v in seen.values()):
            return {n: None if v is None else round(v, 1) for n, v in seen.items()}
        if time.monotonic() > deadline:
            shown = {n: (None if v is None else round(v)) for n, v in seen.items()}
            raise FaultError(f"clock offset of {ms:g} ms did not take effect: measured {shown} ms")
        time.sleep(0.05)


class ClockFault:
    name = "clock"
    doc = ("skew the wall clock of the target nodes: bump it by delta ms, or strobe it between "
           "+delta and true time every period ms; reset at heal")
    targets = NODE_TARGETS
    default_target = "one"
    params = {"mode": Option("bump", "bump (jump and stay) or strobe (flip back and forth)",
                             ("bump", "strobe")),
              "delta": Option(5000, "milliseconds added to the wall clock (negative: back)",
                              kind=int),
              "period": Option(500, "strobe: milliseconds between flips", kind=int),
              "duration": Option(10.0, "seconds the skew lasts (longer than leases and timeouts)",
                                 kind=float)}

    def __init__(self) -> None:
        self._strobes: dict[str, tuple[threading.Event, threading.Thread]] = {}
        self._lock = threading.Lock()
        self._next = 0

    def refusal(self, system: Any, nodes: int) -> str | None:
        if not isinstance(system, ClockSkewable):
            return (f"system {getattr(system, 'name', system)!r} cannot take clock faults (it "
                    f"has no injectable clock and does not run under the clock shim)")
        return None

    def param_refusal(self, params: dict[str, Any]) -> str | None:
        if params["delta"] == 0:
            return "delta=0 would not move the clock"
        if params["period"] < 20:
            return "period must be at least 20 ms (the clock re-reads its offset every 20 ms)"
        return None

    def start(self, system: Any, ctx: ClusterContext, targets: list[str],
              params: dict[str, Any]) -> dict[str, Any]:
        delta = int(params["delta"])
        try:
            for node in targets:
                system.set_clock_offset(node, delta)
            measured = _await_offset(system, targets, delta)
        except Exception as e:
            self._reset(system, targets)
            raise FaultError(f"clock skew failed: {e}") from None
        details: dict[str, Any] = {"offset_ms": delta, "mode": params["mode"],
                                   "probe": {"verified": True, "kind": "node-wall-clock",
                                             "measured_ms": measured}}
        if params["mode"] == "strobe":
            details["strobe"] = self._start_strobe(system, targets, delta, int(params["period"]))
        return details

    def _start_strobe(self, system: Any, targets: list[str], delta: int, period_ms: int) -> str:
        stop = threading.Event()

        def flip() -> None:
            skewed = True
            while not stop.wait(period_ms / 1000):
                skewed = not skewed
                for node in targets:
                    try:
                        system.set_clock_offset(node, delta if skewed else 0)
                    except Exception:
                        pass  # a node host hiccup: the next flip tries again; stop() resets

        thread = threading.Thread(target=flip, name="clock-strobe", daemon=True)
        with self._lock:
            self._next += 1
            key = f"strobe{self._next}"
            self._strobes[key] = (stop, thread)
        thread.start()
        return key

    def _reset(self, system: Any, targets: list[str]) -> None:
        for node in targets:
            try:
                system.set_clock_offset(node, 0)
            except Exception:
                pass

    def stop(self, system: Any, ctx: ClusterContext, targets: list[str],
             params: dict[str, Any], started: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            strobe = self._strobes.pop(started.get("strobe", ""), None)
        if strobe is not None:
            strobe[0].set()
            strobe[1].join(timeout=5)
        try:
            for node in targets:
                system.set_clock_offset(node, 0)
            measured = _await_offset(system, targets, 0, silent_ok=True)
        except FaultError:
            raise
        except Exception as e:
            raise FaultError(f"clock not reset: {e}") from None
        return {"probe": {"verified": True, "kind": "node-wall-clock", "measured_ms": measured}}
