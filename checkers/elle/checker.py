"""The `elle` checker: transactional anomalies and the consistency models they rule out.

    ElleChecker(consistency="strict-serializable", workload="auto", process=None,
                realtime=None, wfr=True, sequential_keys=False, linearizable_keys=False,
                cycle_search_timeout=10.0, max_cases=100)
        .check(history) -> {"valid", "not", "also_not", "anomaly_types", "anomalies", ...}

Options arrive as keyword arguments from a checker spec ({"name": "elle", "consistency":
"serializable"}), so from `--opt consistency=serializable` too: strings are parsed, dashes may
stand for underscores (`cycle-search-timeout=5`), `elle.` may prefix a name, and names with
another prefix (`workload.keys`) are someone else's and left alone.

- consistency: the model the history must satisfy (consistency.MODELS); anomalies it allows are
  reported but do not make the history invalid.
- workload: list-append (alias append), rw-register (alias wr), or auto (decided by the
  micro-ops).
- process / realtime: add session-order / real-time-order edges (default: when the model rules
  out the -process / -realtime anomalies those edges reveal).
- wfr: rw-register only; infer that a transaction's write follows the version it read.
- sequential_keys / linearizable_keys: rw-register only; the store promises each key is
  sequentially consistent / linearizable, so versions follow session / real-time order.
- cycle_search_timeout: seconds for the whole cycle search; what it did not finish is reported
  as undecided, and the verdict is unknown if the model needed it.
- max_cases: examples kept per anomaly kind (counts are always complete).

The pipeline, one module each: transactions (history -> Txn list), list_append / rw_register
(version orders, non-cycle anomalies, ww/wr/rw edges, their explanations), orders (process and
real-time edges), graph (the edge arrays and their strongly connected components), cycles (the
search inside components), anomalies (what a cycle is), consistency (the model lattice) and
explain (cycles in words). The hot loops of list_append, orders and graph have C twins
(_append.c, _graph.c: checkers/elle/native.py picks them when built), which tests hold to the
Python code's results.
"""

from __future__ import annotations

import time
from typing import Any, Callable, ClassVar, Final

from checkers.base import spare_until_exit
from checkers.elle import consistency, list_append, rw_register
from checkers.elle.cycles import search_graph, suffix
from checkers.elle.explain import explain_cycle
from checkers.elle.graph import KIND_NAMES, PROCESS, REALTIME, DependencyGraph
from checkers.elle.orders import add_order_edges
from checkers.elle.transactions import (FAIL, INFO, LIST_APPEND, OK, WORKLOAD_NAMES, Txn,
                                        TxnShapeError, detect_workload, outcome_codes,
                                        transactions)
from checkers.history import History, gc_paused
from checkers.options import Option

DEFAULT_TIMEOUT_S: Final = 10.0


class OptionError(TypeError):
    """A checker option with a value the checker cannot use. A TypeError, as an unknown keyword
    is: the harness reports both as bad arguments (exit 254)."""


def _bool(name: str, value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    if text in ("auto", ""):
        return None
    raise OptionError(f"elle option {name}={value!r}: expected true, false or auto")


def _number(name: str, value: Any, kind: Callable[[Any], Any]) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise OptionError(f"elle option {name}={value!r}: expected a number") from None
    if number <= 0:
        raise OptionError(f"elle option {name}={value!r}: must be positive")
    return number


# What `--opt KEY=VALUE` may set (see checkers.options; `splitbrain list` shows them). Values
# arrive as text and __init__ reads them, so each is declared as a string here.
DECLARED: Final = {
    "consistency": Option("strict-serializable", "the consistency model the history must "
                          "satisfy; anomalies it allows are reported but do not fail the check "
                          "(docs/checkers-elle.md lists the models)"),
    "workload": Option("auto", "the kind of history", choices=("auto", "list-append", "append",
                                                              "rw-register", "wr")),
    "process": Option("auto", "add session-order edges (auto: when the model needs them)",
                      choices=("auto", "true", "false")),
    "realtime": Option("auto", "add real-time-order edges (auto: when the model needs them)",
                       choices=("auto", "true", "false")),
    "wfr": Option("true", "rw-register: a transaction's write follows the version it read",
                  choices=("true", "false")),
    "sequential_keys": Option("false", "rw-register: each key is sequentially consistent",
                              choices=("true", "false")),
    "linearizable_keys": Option("false", "rw-register: each key is linearizable",
                                choices=("true", "false")),
    "cycle_search_timeout": Option(str(DEFAULT_TIMEOUT_S), "seconds for the whole cycle search; "
                                   "what it leaves undecided makes the verdict unknown"),
    "max_cases": Option("100", "examples kept per anomaly kind (counts are always complete)"),
}
OPTIONS: Final = tuple(DECLARED)


class ElleChecker:
    """Checks a transactional history (list-append or rw-register) against a consistency
    model."""

    name = "elle"
    options: ClassVar[dict[str, Option]] = DECLARED

    def __init__(self, **options: Any) -> None:
        given: dict[str, Any] = {}
        for key, value in options.items():
            owner, dot, name = str(key).replace("-", "_").rpartition(".")
            if dot and owner not in ("elle", "checker"):
                continue  # addressed to another part (workload.keys=...)
            given[name] = value
        unknown = sorted(set(given) - set(OPTIONS))
        if unknown:
            raise OptionError(f"elle has no option {', '.join(unknown)}; options: "
                              f"{', '.join(OPTIONS)}")
        try:
            self.consistency = consistency.canonical(
                str(given.get("consistency") or "strict-serializable"))
        except consistency.UnknownModel as e:
            raise OptionError(str(e)) from None
        workload = str(given.get("workload") or "auto")
        if workload != "auto" and workload not in WORKLOAD_NAMES:
            raise OptionError(f"elle option workload={workload!r}: expected auto, "
                              f"{', '.join(WORKLOAD_NAMES)}")
        self.workload = WORKLOAD_NAMES.get(workload)
        needed = consistency.proscribed(self.consistency)
        process = _bool("process", given.get("process"))
        realtime = _bool("realtime", given.get("realtime"))
        self.process = any(a.endswith("-process") for a in needed) if process is None else process
        self.realtime = any(a.endswith("-realtime") for a in needed) if realtime is None \
            else realtime
        self.wfr = _bool("wfr", given.get("wfr"))
        if self.wfr is None:
            self.wfr = True
        self.sequential_keys = bool(_bool("sequential_keys", given.get("sequential_keys")))
        self.linearizable_keys = bool(_bool("linearizable_keys", given.get("linearizable_keys")))
        timeout = given.get("cycle_search_timeout")
        self.timeout = DEFAULT_TIMEOUT_S if timeout is None else \
            _number("cycle_search_timeout", timeout, float)
        cases = given.get("max_cases")
        self.max_cases = list_append.MAX_CASES if cases is None else \
            _number("max_cases", cases, int)

    def check(self, history: History) -> dict[str, Any]:
        with gc_paused():
            return self._check(history)

    def _check(self, history: History) -> dict[str, Any]:
        started = time.perf_counter()
        result: dict[str, Any] = {"valid": True, "consistency": self.consistency}
        try:
            txns, others = transactions(history.operations())
            workload = self.workload or detect_workload(txns)
            result["workload"] = workload
            if workload == LIST_APPEND:
                la_index = list_append.ListAppendIndex(txns)
                index: Any = la_index
                cases: dict[str, Any] = dict(list_append.CASES)
                add_dependencies: Callable[[Any, DependencyGraph], None] = \
                    list_append.add_dependencies
                explain_data: Callable[[Txn, Txn, int], str | None] = \
                    lambda a, b, k: list_append.explain_edge(la_index, a, b, k)
            else:
                rw_index = rw_register.RegisterIndex(txns, bool(self.wfr), self.sequential_keys,
                                                     self.linearizable_keys)
                index = rw_index
                cases = dict(rw_register.CASES)
                add_dependencies = rw_register.add_dependencies
                explain_data = lambda a, b, k: rw_register.explain_edge(rw_index, a, b, k)
        except TxnShapeError as e:
            result.update(valid="unknown", error=str(e),
                          elapsed_s=round(time.perf_counter() - started, 6))
            return result
        codes = outcome_codes(txns)  # 0 ok, 1 info, 2 failed
        result["txns"] = {OK: codes.count(0), INFO: codes.count(1), FAIL: codes.count(2)}
        if others:
            result["other_ops"] = others  # not transactions: not this checker's business
        anomalies: dict[str, list[Any]] = {}
        counts: dict[str, int] = {}
        for kind, find in cases.items():
            found = find(index)
            if found:
                counts[kind] = len(found)
                anomalies[kind] = found[:self.max_cases]

        graph = DependencyGraph(len(txns))
        add_dependencies(index, graph)
        add_order_edges(txns, graph, self.process, self.realtime)
        kinds = graph.kind.tobytes()  # bytes.count is memchr's speed; array.count boxes each
        result["graph"] = {"edges": len(graph), **{
            name: kinds.count(kind) for kind, name in KIND_NAMES.items()
            if kind not in (REALTIME,) or self.realtime}}
        reports, search = search_graph(graph, txns, self._variants(), self.timeout)
        for report in reports:
            for name, cycle in report.found.items():
                counts[name] = counts.get(name, 0) + 1
                listed = anomalies.setdefault(name, [])
                if len(listed) < self.max_cases:
                    listed.append(explain_cycle(cycle, txns, explain_data))
        undecided = sorted({n for r in reports for n in r.undecided} - set(counts))
        result["cycle_search"] = search
        # a component with no witness still has a cycle: of some kind, with at most the
        # strongest variant's edges
        strongest = suffix(self._variants()[-1])
        unclassified = [r.size for r in reports if not r.found]
        self._verdict(result, anomalies, counts, undecided, unclassified, strongest)
        result["elapsed_s"] = round(time.perf_counter() - started, 6)
        spare_until_exit(txns, index, graph, reports)
        return result

    def _variants(self) -> list[int]:
        variants = [0]
        if self.process:
            variants.append(PROCESS)
        if self.realtime:
            variants.append(PROCESS | REALTIME if self.process else REALTIME)
        return variants

    def _verdict(self, result: dict[str, Any], anomalies: dict[str, list[Any]],
                 counts: dict[str, int], undecided: list[str], unclassified: list[int],
                 strongest: str) -> None:
        found = set(counts)
        bad = consistency.proscribed(self.consistency)
        # a cycle of unknown kind: G0 and G1c imply G1c, the rest G2-item
        some_cycle = ["G1c" + strongest, "G2-item" + strongest] if unclassified else []
        unchecked = []
        if not self.process:
            unchecked += [a for a in consistency.CYCLE_ANOMALIES if a.endswith("-process")]
        if not self.realtime:
            unchecked += [a for a in consistency.CYCLE_ANOMALIES if a.endswith("-realtime")]
        result["anomaly_types"] = sorted(found, key=_severity)
        result["anomalies"] = {k: anomalies[k] for k in result["anomaly_types"]}
        result["anomaly_counts"] = {k: counts[k] for k in result["anomaly_types"]}
        result.update(consistency.boundary(found, some_cycle))
        if undecided:
            result["undecided"] = undecided
        if unclassified:
            result["unclassified_cycles"] = {"components": len(unclassified),
                                             "transactions": sum(unclassified)}
        failing = [a for a in result["anomaly_types"] if a in bad]
        open_ = [a for a in undecided + unchecked
                 if a in bad and a not in consistency.implied_anomalies(found)]
        if failing:
            result["valid"] = False
            first = failing[0]
            more = f" (and {len(failing) - 1} more anomaly kinds)" if len(failing) > 1 else ""
            result["reason"] = (f"{first}, which {self.consistency} rules out: "
                                f"{result['anomalies'][first][0]['explanation']}{more}")
        elif some_cycle and set(some_cycle) <= bad:
            result["valid"] = False
            result["reason"] = (f"{len(unclassified)} strongly connected components "
                                f"({sum(unclassified)} transactions) hold dependency cycles, "
                                f"which {self.consistency} rules out whatever their kind; the "
                                f"time budget ran out before the search could name one")
        elif open_:
            result["valid"] = "unknown"
            why = "the cycle search ran out of time" if set(open_) & set(undecided) else \
                "process or real-time edges were switched off"
            result["reason"] = (f"{self.consistency} rules out {', '.join(open_[:4])}, which "
                                f"were not searched for to the end: {why}")


def _severity(anomaly: str) -> tuple[int, str]:
    """More models ruled out first: those are the worse news."""
    return (-len(consistency.ruled_out([anomaly])), anomaly)
