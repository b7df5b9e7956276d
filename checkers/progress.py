"""The `progress` checker: after every heal the system answered again, and the final reads all worked.

Safety checkers (linearizability and friends) are happy with a system that stops answering for
good; this one is not. It works from the history alone:

* A heal is a nemesis `stop-<fault>` event; the fault was lifted at its completion (the `info`
  half), or at the completion's `lifted_ns` where the runner gives it: the runner completes a heal
  only after waiting for the system's health, which can take longer than clients need.
* Progress is judged by what clients saw, as in Jepsen: some client operation must complete `ok`
  within `bound_s` seconds of each heal. If none did although the history goes on for at least
  `bound_s` after the heal, the heal fails; if the history ends sooner, that heal gets no verdict
  (it is listed as undecided). Where the history marks when the clients stopped (a nemesis `info`
  event `workload-end`, written by the runner at the time limit or Ctrl-C), that moment ends the
  judging instead: a heal whose bound reaches past it with no ok operation before it, or a heal
  after it (a fault still in force at the time limit), had no clients to serve until the final
  reads, which judge it; it gets no verdict of its own.
* The runner may attach `value["recovery"] = {"healthy", "leader", "seconds"}`: how long its own
  health probe took to pass after the heal. That probe asks more than clients need (ZooKeeper's,
  for instance, waits until every follower has synced), so it is kept in the heal's row as
  information and never decides the verdict: a probe that is slow while clients are served is
  not a failure.
* Every final read (client operations marked `"phase": "final"`, after the last heal) must
  eventually succeed: the runner retries a final read that failed or timed out, as Jepsen does, so
  each (f, key) of the final phase needs at least one ok attempt. Attempts that did not succeed
  before a later one did are listed as retried, not as failures.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any

from checkers.history import NEMESIS, Event, History, Operation
from checkers.units import NS_PER_S, seconds

DEFAULT_BOUND_S = 10.0
WORKLOAD_END = "workload-end"  # the nemesis event marking when the clients stopped
CLIENTS_STOPPED = "the clients stopped"


def _hashable(key: Any) -> Any:
    """Keys may be JSON lists or objects; compare them by their JSON text."""
    try:
        hash(key)
        return key
    except TypeError:
        return repr(key)


@dataclass
class Heal:
    """One stop-<fault> nemesis operation: its invocation and (if it came) its completion."""

    fault: str
    invoke: Event
    completion: Event | None

    @property
    def value(self) -> dict[str, Any]:
        for event in (self.completion, self.invoke):
            if event is not None and isinstance(event.value, dict):
                return event.value
        return {}

    @property
    def healed_at(self) -> int | float | None:
        """When the fault was lifted: the runner's `lifted_ns` (its completion comes only after
        its wait for the system's health), else the completion's time; None if it never came."""
        if self.completion is None:
            return None
        lifted = self.value.get("lifted_ns")
        if isinstance(lifted, (int, float)) and not isinstance(lifted, bool) \
                and self.invoke.time <= lifted <= self.completion.time:
            return lifted
        return self.completion.time

    def describe(self) -> str:
        targets = self.value.get("targets")
        where = f" on {', '.join(map(str, targets))}" if isinstance(targets, list) and targets else ""
        ident = self.value.get("id")
        label = f"heal of {self.fault}{where}"
        if ident is not None:
            label += f" (id {ident})"
        at = self.healed_at if self.completion is not None else self.invoke.time
        return f"{label} at {at / NS_PER_S:.3f}s"


def find_heals(history: History) -> list[Heal]:
    """Pair each nemesis stop-* invocation with the next nemesis completion of the same f."""
    heals: list[Heal] = []
    open_by_f: dict[str, list[Heal]] = {}
    for event in history.events:
        if event.process != NEMESIS or not event.f.startswith("stop-"):
            continue
        if event.type == "invoke":
            heal = Heal(_fault_name(event), event, None)
            heals.append(heal)
            open_by_f.setdefault(event.f, []).append(heal)
        else:
            waiting = open_by_f.get(event.f)
            if waiting:
                waiting.pop(0).completion = event
            else:  # a completion whose invocation was lost: it still marks a heal
                heals.append(Heal(_fault_name(event), event, event))
    return heals


def _fault_name(event: Event) -> str:
    if isinstance(event.value, dict) and event.value.get("fault"):
        return str(event.value["fault"])
    return event.f[len("stop-"):]


class ProgressChecker:
    """Invalid when the system did not come back within `bound_s` after a heal, or a final op failed."""

    name = "progress"

    def __init__(self, bound_s: float = DEFAULT_BOUND_S) -> None:
        if not (isinstance(bound_s, (int, float)) and bound_s > 0 and math.isfinite(bound_s)):
            raise ValueError(f"progress bound_s must be a positive number of seconds, not {bound_s!r}")
        self.bound_s = float(bound_s)

    def check(self, history: History) -> dict[str, Any]:
        bound_ns = int(self.bound_s * NS_PER_S)
        ok_times = sorted(e.time for e in history.events if e.is_client and e.type == "ok")
        # Heals are judged on the clients' time: until they stopped, where the history says so,
        # else until it ends.
        stopped = next((e.time for e in history.events
                        if e.process == NEMESIS and e.f == WORKLOAD_END), None)
        until = (stopped, CLIENTS_STOPPED) if stopped is not None else \
            (max((e.time for e in history.events), default=0), "the history ended")

        failures: list[str] = []
        heal_rows: list[dict[str, Any]] = []
        for heal in find_heals(history):
            row = self._judge_heal(heal, ok_times, until, bound_ns)
            heal_rows.append(row)
            failures.extend(f"{heal.describe()}: {problem}" for problem in row["problems"])

        final_ops = [op for op in history.operations() if op.extra.get("phase") == "final"]
        succeeded = {(op.f, _hashable(op.key)) for op in final_ops if op.type == "ok"}
        final_retried = [_op_summary(op) for op in final_ops
                         if op.type != "ok" and (op.f, _hashable(op.key)) in succeeded]
        final_not_ok = [_op_summary(op) for op in final_ops
                        if op.type != "ok" and (op.f, _hashable(op.key)) not in succeeded]
        for op in final_not_ok:
            failures.append(f"final {op['f']} of process {op['process']}"
                            + (f" on key {op['key']!r}" if op["key"] is not None else "")
                            + f" ended {op['type']}"
                            + (f" ({op['error']})" if op["error"] is not None else ""))

        result: dict[str, Any] = {
            "valid": not failures,
            "bound_s": self.bound_s,
            "heals": heal_rows,
            "undecided": [row["heal"] for row in heal_rows if row["verdict"] == "undecided"],
            "final": {"count": len(final_ops),
                      "ok": len(final_ops) - len(final_not_ok) - len(final_retried),
                      "retried": final_retried, "not_ok": final_not_ok},
            "failures": failures,
        }
        if failures:
            more = len(failures) - 1
            result["error"] = failures[0] + (f" (and {more} more)" if more else "")
        if not heal_rows and not final_ops:
            result["note"] = "no heals and no final operations in the history: nothing to judge"
        elif result["undecided"]:
            result["note"] = (f"{len(result['undecided'])} heal(s) got no verdict: "
                              + "; ".join(sorted({row["why_undecided"] for row in heal_rows
                                                  if row["verdict"] == "undecided"})))
        return result

    def _judge_heal(self, heal: Heal, ok_times: list[int], until: tuple[int, str],
                    bound_ns: int) -> dict[str, Any]:
        """`until`: the time judging ends, and what happened then."""
        judged_until, ended = until
        value = heal.value
        recovery = value.get("recovery") if isinstance(value.get("recovery"), dict) else None
        row: dict[str, Any] = {
            "heal": heal.describe(),
            "fault": heal.fault,
            "id": value.get("id"),
            "targets": value.get("targets"),
            "index": heal.invoke.index,
            "time_s": None,
            "recovery": recovery,
            "first_ok_after_s": None,
            "verdict": "ok",
            "problems": [],
        }
        problems: list[str] = row["problems"]
        if heal.completion is None:
            return _undecided(row, "the heal never completed in the history",
                              "a heal never completed")

        healed_at = heal.healed_at
        assert healed_at is not None
        row["time_s"] = round(healed_at / NS_PER_S, 6)
        if healed_at >= judged_until and ended == CLIENTS_STOPPED:
            return _undecided(row, "healed after the clients had stopped: the final reads judge it",
                              "healed after the clients had stopped (the final reads judge it)")
        first = bisect.bisect_left(ok_times, healed_at)
        first_ok = ok_times[first] if first < len(ok_times) else None
        if first_ok is not None:
            row["first_ok_after_s"] = round((first_ok - healed_at) / NS_PER_S, 6)
        if first_ok is None or first_ok - healed_at > bound_ns:
            if judged_until - healed_at >= bound_ns:
                later = ("none came before the history ended" if first_ok is None else
                         f"the first came {(first_ok - healed_at) / NS_PER_S:.3f}s after")
                problems.append(f"no client operation completed ok within {self.bound_s:g}s "
                                f"of the heal ({later})")
            else:
                return _undecided(row, f"{ended} {(judged_until - healed_at) / NS_PER_S:.3f}s after "
                                       f"the heal, before the {self.bound_s:g}s bound, with no ok "
                                       f"operation",
                                  f"{ended} less than {self.bound_s:g}s after it")
        row["verdict"] = "failed" if problems else "ok"
        return row


def _undecided(row: dict[str, Any], waiting: str, why: str) -> dict[str, Any]:
    """The heal's row without a verdict: `waiting` says why in full, `why_undecided` in short."""
    row.update(verdict="undecided", waiting=waiting, why_undecided=why)
    return row


def _op_summary(op: Operation) -> dict[str, Any]:
    return {"id": op.id, "process": op.process, "f": op.f, "key": op.key, "type": op.type,
            "value": op.value, "error": op.error, "node": op.node,
            "start_s": round(op.start / NS_PER_S, 6), "end_s": seconds(op.end)}
