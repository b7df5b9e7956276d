"""The `delivery` checker: Kafka's logs and its consumer groups' delivery promises.

    DeliveryChecker(delivery="auto", rebalance_grace=3.0, ww_deps=True, rw_deps=False,
                    cycle_search_timeout=10.0, max_cases=100).check(history)
        -> {"valid", "reason", "anomaly_types", "failing", "anomalies", "groups", "unseen", ...}

Two halves, one verdict (docs/checkers-delivery.md):

1. The log itself, under the names of Jepsen's kafka checker so results compare one to one
   (checkers/delivery/log_cases.py, order_cases.py, cycles.py). What fails a run is what fails
   it in Jepsen by default: everything but int-send-skip, G0 (and its variants), G1c (and its
   variants) while ww_deps is on, and poll-skip / nonmonotonic-poll of a subscribed consumer.
2. Each consumer group against its delivery promise (checkers/delivery/groups.py): by default
   what the commit policy its members recorded promises (before: at-most-once; after and auto:
   at-least-once; txn: exactly-once); a group with no recorded policy (Jepsen's histories) is
   reported but judged only when `delivery` names a promise.

The pipeline, one module each: ops (history -> KafkaOps, both spellings), logs (each partition's
version order), the findings, windows (the evidence the report draws).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar, Final

from checkers.base import UNKNOWN
from checkers.delivery import groups as consumer_groups
from checkers.delivery import log_cases, order_cases
from checkers.delivery.cycles import KafkaGraph
from checkers.delivery.logs import LogIndex
from checkers.delivery.ops import read_kafka_history
from checkers.delivery.windows import windows
from checkers.elle.consistency import implied_anomalies
from checkers.history import History, gc_paused
from checkers.options import Option

DELIVERY_CHOICES: Final = ("auto",) + consumer_groups.DELIVERIES
# Jepsen's allowed-error-types: findings that never fail a run
ALWAYS_ALLOWED: Final = frozenset(("int-send-skip", "G0", "G0-process", "G0-realtime"))
WW_ALLOWED: Final = frozenset(("G1c", "G1c-process", "G1c-realtime"))
# cycles through rw edges: Jepsen's analysis never builds those edges, Kafka promises nothing
RW_CYCLES: Final = frozenset(k + v for k in ("G-single", "G-nonadjacent", "G2-item")
                             for v in ("", "-process", "-realtime"))
SUBSCRIBE_ALLOWED: Final = frozenset(("poll-skip", "nonmonotonic-poll"))
# the order in which kinds are listed and drawn: the worst news first
SEVERITY: Final = ("G1a", "lost-write", "inconsistent-offsets", "duplicate", "garbage-read",
                   "precommitted-read", "G1c", "G1c-process", "G1c-realtime", "nonmonotonic-send",
                   "int-nonmonotonic-send", "int-nonmonotonic-poll", "int-poll-skip",
                   "nonmonotonic-poll", "poll-skip", "unseen", "G0", "G0-process", "G0-realtime",
                   "int-send-skip")


class OptionError(TypeError):
    """A checker option the checker cannot use. A TypeError, as an unknown keyword is: the
    harness reports both as bad arguments (exit 254)."""


class DeliveryChecker:
    """Kafka: the logs under Jepsen's names, and each consumer group's delivery promise."""

    name = "delivery"
    options: ClassVar[dict[str, Option]] = {
        "delivery": Option("auto", "the promise every consumer group must keep; auto: what its "
                           "recorded commit policy promises (before: at-most-once; after, auto: "
                           "at-least-once; txn: exactly-once)", choices=DELIVERY_CHOICES),
        "rebalance_grace": Option(3.0, "seconds two members of a group may both hold a partition "
                                  "(a rebalance in flight) before it is double-ownership",
                                  kind=float, low=0),
        "ww_deps": Option(True, "infer ww edges from offsets (Jepsen's --ww-deps); with them "
                          "G1c cycles are expected and do not fail a run", kind=bool),
        "rw_deps": Option(False, "add the rw edges Jepsen's kafka analysis describes but leaves "
                          "out; cycles through them are reported, never failed", kind=bool),
        "cycle_search_timeout": Option(10.0, "seconds for the whole cycle search; what it did "
                                       "not finish is undecided", kind=float, low=0.001),
        "max_cases": Option(100, "examples kept per finding (counts are always complete)",
                            kind=int, low=1),
    }

    def __init__(self, **given: Any) -> None:
        values = {k.replace("-", "_"): v for k, v in given.items()}
        unknown = sorted(set(values) - set(self.options))
        if unknown:
            raise OptionError(f"delivery has no option {', '.join(unknown)}; options: "
                              f"{', '.join(self.options)}")
        for key, option in self.options.items():
            setattr(self, key, _value(key, option, values.get(key, option.default)))

    def check(self, history: History) -> dict[str, Any]:
        with gc_paused():
            return self._check(history)

    def _check(self, history: History) -> dict[str, Any]:
        started = time.perf_counter()
        kafka = read_kafka_history(history)
        index = LogIndex(kafka)
        result: dict[str, Any] = {"valid": True, "delivery": self.delivery,  # type: ignore[attr-defined]
                                  "messages": index.counts, "partitions": len(index.logs)}
        if kafka.other_ops:
            result["other_ops"] = kafka.other_ops
        if not any(k.sends or k.reads for k in kafka.ops):
            result["note"] = "no send, poll or txn operation sent or polled anything"
        found: dict[str, list[dict[str, Any]]] = {}
        for cases in (log_cases.CASES, order_cases.CASES):
            for kind, find in cases.items():
                hits = find(index)
                if hits:
                    found[kind] = hits
        unseen = log_cases.Unseen(index)
        if unseen.final:
            found["unseen"] = unseen.cases()
        result["unseen"] = {"series": unseen.series, "peak": unseen.peak,
                            "final": {str(n): len(vs) for n, vs in unseen.final.items()}}
        undecided = self._cycles(index, found, result)

        groups = consumer_groups.build_groups(index, kafka.crashes, kafka.grouped)
        consumers = consumer_groups.Consumers(index, groups, self.rebalance_grace)  # type: ignore[attr-defined]
        group_results = {str(name): self._group(consumers, g) for name, g in groups.items()}

        failing = self._failing(found)
        kinds = sorted(found, key=_severity)
        result["anomaly_types"] = kinds
        result["failing"] = [k for k in kinds if k in failing]
        result["anomaly_counts"] = {k: len(found[k]) for k in kinds}
        result["anomalies"] = {k: found[k][:self.max_cases] for k in kinds}  # type: ignore[attr-defined]
        result["groups"] = group_results
        evidence = [(k, found[k]) for k in kinds if k in failing]
        evidence += [(f"{k} ({name})", cases) for name, g in group_results.items()
                     for k, cases in g["anomalies"].items() if k in g["failing"]]
        evidence += [(k, found[k]) for k in kinds if k not in failing]
        result["windows"] = windows(index, evidence)
        self._verdict(result, found, failing, undecided, group_results)
        result["elapsed_s"] = round(time.perf_counter() - started, 6)
        return result

    def _cycles(self, index: LogIndex, found: dict[str, list[dict[str, Any]]],
                result: dict[str, Any]) -> list[str]:
        graph = KafkaGraph(index, self.ww_deps, self.rw_deps)  # type: ignore[attr-defined]
        reports, search = graph.search(self.cycle_search_timeout)  # type: ignore[attr-defined]
        result["graph"] = graph.summary()
        result["cycle_search"] = search
        for report in reports:
            for name, cycle in report.found.items():
                cases = found.setdefault(name, [])
                if len(cases) < self.max_cases:  # type: ignore[attr-defined]
                    cases.append(graph.explain(cycle))
        counted = {n for r in reports for n in r.found}
        undecided = sorted({n for r in reports for n in r.undecided} - counted
                           - implied_anomalies(counted))
        unclassified = [r.size for r in reports if not r.found]
        if unclassified:  # a component with no witness still holds a cycle of some kind
            result["unclassified_cycles"] = {"components": len(unclassified),
                                             "ops": sum(unclassified)}
        if undecided:
            result["undecided"] = undecided
        return undecided

    def _failing(self, found: dict[str, list[dict[str, Any]]]) -> set[str]:
        allowed = set(ALWAYS_ALLOWED) | RW_CYCLES
        if self.ww_deps:  # type: ignore[attr-defined]
            allowed |= WW_ALLOWED
        failing = set()
        for kind, cases in found.items():
            if kind in SUBSCRIBE_ALLOWED:
                if any(not c.get("allowed") for c in cases):
                    failing.add(kind)
            elif kind not in allowed:
                failing.add(kind)
        return failing

    def _group(self, consumers: consumer_groups.Consumers,
               g: consumer_groups.Group) -> dict[str, Any]:
        promise, source = consumer_groups.promise_of(g, self.delivery)  # type: ignore[attr-defined]
        found = {}
        for kind, find in consumer_groups.CASES.items():
            hits = find(consumers, g)
            if hits:
                found[kind] = hits
        breaks = set(consumer_groups.PROMISES.get(promise, ())) if promise else set()
        failing = [k for k in consumer_groups.KINDS if k in found and k in breaks]
        out: dict[str, Any] = {
            "valid": (not failing) if promise else None,  # None: no promise to judge
            "promise": promise, "promise_from": source,
            "commit_policies": sorted(g.policies), "members": len(g.members),
            "messages_processed": g.processings,
            "distinct_processed": sum(len(v) for v in g.processed.values()),
            "partitions": len(g.logs), "crashes": len(g.crashes), "rebalances": len(g.rebalances),
            "commits": len(g.commits),
            "anomaly_types": [k for k in consumer_groups.KINDS if k in found],
            "failing": failing,
            "anomaly_counts": {k: len(v) for k, v in found.items()},
            "anomalies": {k: v[:self.max_cases] for k, v in found.items()},  # type: ignore[attr-defined]
        }
        return out

    def _verdict(self, result: dict[str, Any], found: dict[str, list[dict[str, Any]]],
                 failing: set[str], undecided: list[str],
                 group_results: dict[str, dict[str, Any]]) -> None:
        reasons = []
        for kind in result["failing"]:
            cases = found[kind]
            first = next((c for c in cases if not c.get("allowed")), cases[0])
            more = f" ({len(cases)} cases)" if len(cases) > 1 else ""
            reasons.append(f"{kind}{more}: {first['explanation']}")
        for name, g in group_results.items():
            for kind in g["failing"]:
                cases = g["anomalies"][kind]
                more = f" ({g['anomaly_counts'][kind]} cases)" if g["anomaly_counts"][kind] > 1 \
                    else ""
                reasons.append(f"{kind} in group {name}, which promises {g['promise']}{more}: "
                               f"{cases[0]['explanation']}")
        if reasons:
            result["valid"] = False
            extra = f" (and {len(reasons) - 1} more finding kinds)" if len(reasons) > 1 else ""
            result["reason"] = reasons[0] + extra
            return
        open_ = [k for k in undecided if k not in ALWAYS_ALLOWED and k not in RW_CYCLES
                 and not (self.ww_deps and k in WW_ALLOWED)]  # type: ignore[attr-defined]
        if open_:
            result["valid"] = UNKNOWN
            result["reason"] = (f"the cycle search ran out of time before it could rule out "
                                f"{', '.join(open_)}")
            return
        unjudged = [n for n, g in group_results.items() if g["promise"] is None]
        if unjudged and len(unjudged) == len(group_results) and "note" not in result:
            result["note"] = (f"consumer groups {', '.join(unjudged)} record no commit policy; "
                              f"pass delivery=at-least-once (or another promise) to judge them")


def _value(key: str, option: Option, value: Any) -> Any:
    if isinstance(value, str) and option.kind is not str:
        try:
            return option.parse(key, value)
        except ValueError as e:
            raise OptionError(f"delivery option {e}") from None
    if option.choices is not None and value not in option.choices:
        raise OptionError(f"delivery option {key}={value!r}: expected one of "
                          f"{', '.join(option.choices)}")
    if option.kind is bool and not isinstance(value, bool):
        raise OptionError(f"delivery option {key}={value!r}: expected true or false")
    if option.kind in (int, float) and value is not None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise OptionError(f"delivery option {key}={value!r}: expected a number")
        if option.low is not None and value < option.low:
            raise OptionError(f"delivery option {key}={value}: must be at least {option.low:g}")
        value = option.kind(value)
    return value


def _severity(kind: str) -> tuple[int, str]:
    return (SEVERITY.index(kind) if kind in SEVERITY else len(SEVERITY), kind)
