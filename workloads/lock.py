"""The `lock` workload: workers contend for a lock, each alternating acquire, hold, release.

A worker acquires one lock (named by `key`, "lock-0" ... "lock-{locks-1}"), holds it for a random
0..`hold_ms` milliseconds, releases it, and starts over. The generator does not see outcomes, so a
worker releases even after an acquire that failed; the client answers such a release with `fail`
(not the holder), which is harmless. Acquires ask for a lease of `lease_ms` (a Redis PX); a client
whose lock has no lease (ZooKeeper's session-bound recipe) answers with "lease_ms": null in its ok
value, and the `mutex` checker uses what the client answered. Op shapes: docs/op-shapes.md.

Options (--opt workload.KEY=VALUE): `lease_ms` (default 1000; "none" for no lease), `locks`
(default 1), `hold_ms` (default 300).

The hold is a pause between the acquire and the release. A generator does not sleep; it says how
long to wait through `next_delay_s(worker)`, which a runner that knows the hook uses instead of its
usual pacing gap before the worker's next operation (without it, the pacing gap is the hold).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from systems.base import Invocation, Option
from workloads.base import Generator, settings

DEFAULT_LEASE_MS = 1000
DEFAULT_HOLD_MS = 300


def parse_lease_ms(value: Any) -> int | None:
    """A lease in ms from an option value: a positive integer, or none/null/0 for no lease."""
    if value is None or str(value).strip().lower() in ("none", "null", "", "0"):
        return None
    try:
        lease = int(value)
    except (TypeError, ValueError):
        raise ValueError("expected a number of milliseconds or none") from None
    if lease < 0:
        raise ValueError("must not be negative")
    return lease or None


@dataclass
class _Worker:
    holding_key: str | None = None  # the key of the acquire just issued, released next
    delay_s: float | None = None  # the hold before the coming release


class LockGenerator(Generator):
    def __init__(self, lease_ms: int | None = DEFAULT_LEASE_MS, locks: int = 1,
                 hold_ms: float = DEFAULT_HOLD_MS) -> None:
        if locks < 1:
            raise ValueError(f"lock workload: locks must be at least 1, not {locks}")
        if hold_ms < 0:
            raise ValueError(f"lock workload: hold_ms must not be negative, not {hold_ms}")
        self.lease_ms = lease_ms
        self.locks = locks
        self.hold_ms = hold_ms
        self._workers: dict[int, _Worker] = {}

    def next_op(self, worker: int, rng: random.Random) -> Invocation:
        st = self._workers.setdefault(worker, _Worker())
        if st.holding_key is None:
            key = f"lock-{rng.randrange(self.locks)}"
            st.holding_key = key
            st.delay_s = rng.uniform(0, self.hold_ms) / 1000.0
            return Invocation(worker, "acquire", {"lease_ms": self.lease_ms}, key)
        key, st.holding_key, st.delay_s = st.holding_key, None, None
        return Invocation(worker, "release", None, key)

    def next_delay_s(self, worker: int) -> float | None:
        """The hold before a release; None (the harness's pacing) before an acquire."""
        st = self._workers.get(worker)
        return st.delay_s if st is not None else None

    def wind_down(self, worker: int) -> list[Invocation]:
        """At the end of the main phase: release what this worker may hold, so that closing its
        client (which on ZooKeeper frees the lock) never hands the lock on unrecorded."""
        st = self._workers.get(worker)
        if st is None or st.holding_key is None:
            return []
        key, st.holding_key, st.delay_s = st.holding_key, None, None
        return [Invocation(worker, "release", None, key)]



class LockWorkload:
    name = "lock"
    description = "acquire / hold / release of a shared lock: no two processes may hold it at once"

    options = {
        "lease_ms": Option(DEFAULT_LEASE_MS, "the lease an acquire asks for; none: no lease",
                           kind=parse_lease_ms),
        "locks": Option(1, "how many locks the workers contend for", kind=int, low=1),
        "hold_ms": Option(DEFAULT_HOLD_MS, "the longest hold between acquire and release",
                          kind=float, low=0),
    }

    def generator(self, options: dict[str, Any]) -> LockGenerator:
        s = settings(self, options)
        return LockGenerator(s["lease_ms"], s["locks"], s["hold_ms"])

    def checkers(self, options: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"name": "mutex"}, {"name": "stats"}]
