"""The `vip` workload (keepalived): one observer samples which nodes hold the virtual IP.

Only worker 0 works: it issues a `sample` about every `interval_ms` (default 100) and the client
answers with the sorted list of nodes that hold the VIP at that moment; the other workers have
nothing to do and stop at once. The `vip` checker reports every stretch longer than `grace_s`
(default 2) in which two or more nodes held the address. Op shapes: docs/op-shapes.md.

The generator does not sleep; it says how long to wait through `next_delay_s(worker)`, which a
runner that knows the hook uses instead of its usual pacing gap (without it, run with
--concurrency 1 and --rate 10 for the same cadence).
"""

from __future__ import annotations

import random
from typing import Any

from systems.base import Invocation, Option
from workloads.base import Generator, settings

SAMPLER = 0  # the one worker that samples
DEFAULT_INTERVAL_MS = 100
DEFAULT_GRACE_S = 2.0


class VipGenerator(Generator):
    def __init__(self, interval_ms: float = DEFAULT_INTERVAL_MS) -> None:
        if interval_ms <= 0:
            raise ValueError(f"vip workload: interval_ms must be positive, not {interval_ms}")
        self.interval_ms = interval_ms

    def next_op(self, worker: int, rng: random.Random) -> Invocation | None:
        if worker != SAMPLER:
            return None
        return Invocation(worker, "sample", None, None)

    def next_delay_s(self, worker: int) -> float | None:
        """Seconds to wait before the sampler's next sample."""
        return self.interval_ms / 1000.0 if worker == SAMPLER else None



class VipWorkload:
    name = "vip"
    description = "an observer samples which nodes hold the virtual IP: never two for long"

    options = {
        "interval_ms": Option(DEFAULT_INTERVAL_MS, "milliseconds between samples", kind=float),
        "grace_s": Option(DEFAULT_GRACE_S, "seconds two holders are tolerated (a takeover)",
                          kind=float, low=0),
    }

    def generator(self, options: dict[str, Any]) -> VipGenerator:
        return VipGenerator(settings(self, options)["interval_ms"])

    def checkers(self, options: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"name": "vip", "grace_s": settings(self, options)["grace_s"]}, {"name": "stats"}]
