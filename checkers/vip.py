"""The `vip` checker: at no time beyond a stated grace did two or more nodes hold the virtual IP.

Input: the `vip` workload's `sample` operations, whose ok value is the sorted list of nodes holding
the address when the observer looked. Samples that failed or ended info say nothing and are
skipped. Definitions (docs/checkers-set-mutex-queue-vip.md):

* A split-brain stretch is a maximal run of consecutive ok samples that each show two or more
  holders. Each sample was taken somewhere between its invoke and its completion, so the stretch
  certainly lasted at least `at_least_s` = (last sample's invoke) - (first sample's completion),
  and at most `at_most_s` = (completion of the next ok sample) - (invoke of the ok sample before
  it); `at_most_s` is null when the history ends first.
* A stretch whose `at_least_s` exceeds `grace_s` (default 2 s: VRRP needs about three advertisement
  intervals to settle a handover, and the observer does not see all nodes at one instant) is a
  violation. Shorter stretches are counted and listed as within the grace.
* Stretches with no holder at all beyond the grace are listed for information (an outage, not a
  split brain); they do not change the verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from checkers.history import History, Operation
from checkers.units import NS_PER_S

DEFAULT_GRACE_S = 2.0
MAX_LISTED = 100


@dataclass
class Stretch:
    samples: list[Operation]
    before: Operation | None  # the ok sample just before, which did not show this condition
    after: Operation | None  # the ok sample just after

    @property
    def at_least_ns(self) -> float:
        return max(0.0, self.samples[-1].start - self.samples[0].end)

    @property
    def at_most_ns(self) -> float | None:
        if self.after is None:
            return None
        begin = self.before.start if self.before is not None else 0
        return self.after.end - begin

    def describe(self) -> dict[str, Any]:
        first, last = self.samples[0], self.samples[-1]
        holder_sets: list[dict[str, Any]] = []
        for op in self.samples:
            nodes = _holders(op)
            if holder_sets and holder_sets[-1]["nodes"] == nodes:
                holder_sets[-1]["samples"] += 1
            else:
                holder_sets.append({"nodes": nodes, "samples": 1, "first_op": op.id,
                                    "at_s": _s(op.start)})
        at_most = self.at_most_ns
        return {"from_s": _s(first.end), "to_s": _s(last.start),
                "at_least_s": round(self.at_least_ns / NS_PER_S, 3),
                "at_most_s": round(at_most / NS_PER_S, 3) if at_most is not None else None,
                "nodes": sorted({n for op in self.samples for n in _holders(op)}),
                "samples": len(self.samples), "first_op": first.id, "last_op": last.id,
                "first_index": first.complete_index, "last_index": last.complete_index,
                "holder_sets": holder_sets[:20]}


class VipChecker:
    """Invalid when two or more nodes held the VIP for longer than `grace_s` seconds."""

    name = "vip"

    def __init__(self, grace_s: float = DEFAULT_GRACE_S) -> None:
        if not (isinstance(grace_s, (int, float)) and not isinstance(grace_s, bool)
                and math.isfinite(grace_s) and grace_s >= 0):
            raise ValueError(f"vip grace_s must be a non-negative number of seconds, "
                             f"not {grace_s!r}")
        self.grace_s = float(grace_s)

    def check(self, history: History) -> dict[str, Any]:
        ops = history.operations()
        all_samples = [op for op in ops if op.f == "sample"]
        samples = sorted((op for op in all_samples if op.type == "ok" and _valid_sample(op)),
                         key=lambda op: (op.start, op.id))
        grace_ns = self.grace_s * NS_PER_S
        split = stretches(samples, lambda op: len(_holders(op)) >= 2)
        empty = stretches(samples, lambda op: len(_holders(op)) == 0)
        violations = [s for s in split if s.at_least_ns > grace_ns]
        within = [s for s in split if s.at_least_ns <= grace_ns]
        outages = [s for s in empty if s.at_least_ns > grace_ns]

        result: dict[str, Any] = {
            "valid": not violations,
            "grace_s": self.grace_s,
            "samples": {"ok": len(samples), "not_ok": len(all_samples) - len(samples)},
            "split_brain_count": len(violations),
            "split_brain": [s.describe() for s in violations[:MAX_LISTED]],
            "within_grace_count": len(within),
            "within_grace": [s.describe() for s in within[:MAX_LISTED]],
            "no_holder": [s.describe() for s in outages[:MAX_LISTED]],
        }
        if violations:
            worst = max(violations, key=lambda s: s.at_least_ns).describe()
            result["error"] = (f"{len(violations)} stretch(es) with two or more VIP holders beyond "
                               f"the {self.grace_s:g}s grace; longest: {', '.join(worst['nodes'])} "
                               f"from {worst['from_s']}s for at least {worst['at_least_s']}s "
                               f"(samples op {worst['first_op']}..{worst['last_op']})")
        elif not samples:
            result["valid"] = "unknown"
            result["note"] = "no sample succeeded: nothing was observed"
        return result


def stretches(samples: list[Operation], condition) -> list[Stretch]:
    """Maximal runs of consecutive samples meeting `condition`, with their neighbours."""
    runs: list[Stretch] = []
    current: list[Operation] = []
    before: Operation | None = None
    for op in samples:
        if condition(op):
            current.append(op)
            continue
        if current:
            runs.append(Stretch(current, before, op))
            current = []
        before = op
    if current:
        runs.append(Stretch(current, before, None))
    return runs


def _valid_sample(op: Operation) -> bool:
    return isinstance(op.value, list) and math.isfinite(op.end)


def _holders(op: Operation) -> list[str]:
    return sorted({str(n) for n in op.value})


def _s(t: float) -> float:
    return round(t / NS_PER_S, 6)
