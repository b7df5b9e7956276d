"""The fault schedule: which fault starts when and for how long, drawn from the seed alone.

The schedule is computed before the run and written into test.json, so the same seed gives the
same faults at the same offsets (targets such as `one` are drawn from the seed too; `leader` is
resolved when the fault starts, since only the system knows who leads at that moment; so are
partition grudges, which may name the leader).
"""

from __future__ import annotations

import random
from typing import Any

from nemesis.spec import FaultSpec


def plan(specs: list[FaultSpec], defaults: dict[str, dict[str, Any]], seed: int,
         time_limit: float, interval: float, overlap: bool = False) -> list[dict[str, Any]]:
    """The faults of a run, picked at random among `specs` in rounds: each round uses every spec
    once, in a random order, so a run given `partition,kill,clock` exercises all three as soon as
    its time limit leaves room for three faults (a fault picked with replacement could repeat
    while another kind never ran).

    One at a time (default): a quiet gap of 0.5..1 x interval, then a fault for its duration,
    then the next gap. With `overlap`, a fault starts every 0.5..1 x interval whether or not the
    previous one has ended, so faults may be in force together. Either way the runner heals
    whatever is still in force when the main phase ends.

    `defaults[str(spec)]` gives each spec's default target and resolved parameters.
    """
    if not specs:
        return []
    rng = random.Random(f"schedule:{seed}")
    schedule: list[dict[str, Any]] = []
    t = 0.0
    left: list[FaultSpec] = []  # the specs not used yet in this round
    while True:
        t += interval * rng.uniform(0.5, 1.0)
        if t >= time_limit:
            break
        left = left or list(specs)
        spec = left.pop(left.index(rng.choice(left)))
        d = defaults[str(spec)]
        duration = float(d["params"].get("duration", interval / 2))
        schedule.append({"id": len(schedule) + 1, "at": round(t, 3), "fault": spec.fault,
                         "spec": str(spec), "target": spec.target or d["target"],
                         "params": d["params"], "duration": duration,
                         "target_seed": rng.randrange(2**31)})
        if not overlap:
            t += duration
    return schedule
