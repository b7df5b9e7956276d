"""The fault schedule: which fault starts when and for how long, drawn from the seed alone.

The schedule is computed before the run and written into test.json, so the same seed gives the
same faults at the same offsets (targets such as `one` are drawn from the seed too; `leader` is
resolved when the fault starts, since only the system knows who leads at that moment).
"""

from __future__ import annotations

import random
from typing import Any

from nemesis.spec import FaultSpec


def plan(specs: list[FaultSpec], defaults: dict[str, dict[str, Any]], seed: int,
         time_limit: float, interval: float) -> list[dict[str, Any]]:
    """Faults one at a time: a quiet gap of 0.5..1 x interval, then a fault for its duration.

    `defaults[fault]` gives each fault's default target and resolved parameters.
    """
    if not specs:
        return []
    rng = random.Random(f"schedule:{seed}")
    schedule: list[dict[str, Any]] = []
    t = 0.0
    while True:
        t += interval * rng.uniform(0.5, 1.0)
        if t >= time_limit:
            break
        spec = rng.choice(specs)
        d = defaults[str(spec)]
        duration = float(d["params"].get("duration", interval / 2))
        schedule.append({"id": len(schedule) + 1, "at": round(t, 3), "fault": spec.fault,
                         "spec": str(spec), "target": spec.target or d["target"],
                         "params": d["params"], "duration": duration,
                         "target_seed": rng.randrange(2**31)})
        t += duration
    return schedule
