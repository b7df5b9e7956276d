"""The linearizability checker: does some order of the history's ops, consistent with real time,
satisfy the model? Failed ops are dropped (they did not happen); ops of unknown outcome may have
taken effect at any moment after their invocation, or never.

Each independent partition (by key, or the model's own partition) is searched on its own, in
worker processes when there is enough work for more than one core. Every failing partition is
reported with its evidence; partitions the timeout cut short are reported as unknown, never as a
guess.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, ClassVar

from checkers.base import merge_valid
from checkers.history import History, Operation, gc_paused
from checkers.linearizable import kernel
from checkers.linearizable.evidence import deepest_failure, evidence, failure
from checkers.linearizable.partition import effective, partition_key, prepare, split
from checkers.linearizable.search import Deepest, SearchTimeout, search
from checkers.linearizable.sequential import replay
from checkers.models import ModelError, thaw
from checkers.options import Option
from checkers.registry import get_model

PARALLEL_MIN_OPS = 20_000  # below this, starting worker processes costs more than it saves


class LinearizabilityChecker:
    """Checks a history against a model such as "cas-register" (see checkers.registry)."""

    name = "linearizable"
    options: ClassVar[dict[str, Option]] = {
        "model": Option("cas-register", "the model the history must linearize against "
                        "(`splitbrain list` names them)"),
        "timeout": Option(None, "seconds for the search; past it, unchecked keys are unknown",
                          kind=float, low=0.001),
        "split_keys": Option(True, "check each key on its own (P-compositionality); false "
                             "checks the history as one object", kind=bool),
        "workers": Option(None, "processes for large histories (default: one per core)",
                          kind=int, low=1),
    }

    def __init__(self, model: Any = "cas-register", timeout: float | None = None,
                 split_keys: bool = True, workers: int | None = None) -> None:
        self.model = get_model(model) if isinstance(model, str) else model
        self.model_name = model if isinstance(model, str) else getattr(model, "name", "model")
        self.timeout = timeout
        self.split_keys = split_keys
        self.workers = workers

    def check(self, history: History) -> dict[str, Any]:
        with gc_paused():
            return self._check(history)

    def _check(self, history: History) -> dict[str, Any]:
        started = time.perf_counter()
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        ops = history.operations()
        result: dict[str, Any] = {
            "valid": True, "model": self.model_name, "operations": len(ops), "partitions": 0,
            "elapsed_s": 0.0, "note": "", "failures": [], "unknown": [],
        }
        if not ops:
            result["note"] = "no operations"
            result["elapsed_s"] = round(time.perf_counter() - started, 6)
            return result
        parts = split(self.model, ops, self.split_keys)  # ModelError: bad input, for the caller
        if not parts:
            result["note"] = "no operations left once failed ones are dropped"
            result["elapsed_s"] = round(time.perf_counter() - started, 6)
            return result
        outcomes = self._run(parts, deadline)
        malformed = [o["reason"] for o in outcomes if o["status"] == "malformed"]
        if malformed:  # an op the model cannot read is bad input, not an unknown verdict
            raise ModelError(malformed[0])
        failures = [o["failure"] for o in outcomes if o["status"] == "invalid"]
        unknown = [{"key": o["key"], "reason": o["reason"]} for o in outcomes
                   if o["status"] == "unknown"]
        dropped = sum(o.get("dropped_info", 0) for o in outcomes)
        result["partitions"] = len(parts)
        return self._finish(result, started, unknown, failures, dropped)

    def _finish(self, result: dict, started: float, unknown: list, failures: list,
                dropped: int) -> dict[str, Any]:
        failures.sort(key=lambda f: repr(f["key"]))
        unknown.sort(key=lambda u: repr(u["key"]))
        result["failures"] = failures
        result["unknown"] = unknown
        result["valid"] = merge_valid([False] * bool(failures) + ["unknown"] * bool(unknown)
                                      + [True])
        notes = []
        if failures:
            notes.append(f"{len(failures)} of {max(result['partitions'], 1)} partitions have "
                         f"no linearization")
        if unknown:
            notes.append(f"{len(unknown)} partitions undecided")
        if dropped:
            notes.append(f"{dropped} ops of unknown outcome could not matter and were left out")
        result["note"] = "; ".join(notes)
        result["elapsed_s"] = round(time.perf_counter() - started, 6)
        return result

    def _run(self, parts: list[list[Operation]], deadline: float | None) -> list[dict]:
        workers = self._worker_count(parts)
        if workers <= 1:
            return [check_partition(self.model, p, deadline) for p in parts]
        global _JOB
        _JOB = (self.model, parts, deadline)
        order = sorted(range(len(parts)), key=lambda i: -len(parts[i]))
        chunk = max(1, len(parts) // (workers * 16))
        import multiprocessing  # 11 ms to import: only for histories big enough to share out

        try:
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(workers) as pool:
                return list(pool.imap_unordered(_work, order, chunksize=chunk))
        finally:
            _JOB = None

    def _worker_count(self, parts: list[list[Operation]]) -> int:
        if self.workers is not None:
            wanted = self.workers
        else:
            total = sum(len(p) for p in parts)
            wanted = os.cpu_count() or 1 if total >= PARALLEL_MIN_OPS else 1
        if len(parts) < 2 or not sys.platform.startswith("linux"):
            return 1
        return max(1, min(wanted, len(parts)))


_JOB: Any = None  # (model, partitions, deadline), inherited by forked workers


def _work(index: int) -> dict:
    model, parts, deadline = _JOB
    return check_partition(model, parts[index], deadline)


def check_partition(model: Any, ops: list[Operation], deadline: float | None) -> dict[str, Any]:
    """{"status": "valid" | "invalid" | "unknown", "key", "failure" or "reason"} for one
    independent sub-history."""
    key = thaw(partition_key(ops))
    if deadline is not None and time.monotonic() > deadline:
        return {"status": "unknown", "key": key, "reason": "timed out before this partition "
                "was searched"}
    try:
        in_order = replay(model, ops)
        if in_order is not None:
            legal, count, state = in_order
            if legal:
                return {"status": "valid", "key": key, "dropped_info": 0}
            return {"status": "invalid", "key": key, "dropped_info": 0,
                    "failure": evidence(model, key, ops, ops[:count], state, [ops[count]],
                                        ops[count])}
        native = kernel.native()
        if native is not None:
            searched, starts, ends, dropped, settled = effective(model, ops)
            found = kernel.search(native, model, searched, starts, ends, settled, deadline)
            if found is not None:
                if found.linearizable:
                    return {"status": "valid", "key": key, "dropped_info": dropped}
                return {"status": "invalid", "key": key, "dropped_info": dropped,
                        "failure": deepest_failure(model, thaw(partition_key(searched)), ops,
                                                   found.path, found.state, found.unplaceable,
                                                   found.first_due)}
        prep = prepare(model, ops)
        deepest = Deepest()
        ok = search(prep, model.init(), deadline, deepest)
    except SearchTimeout:
        return {"status": "unknown", "key": key,
                "reason": f"timed out while searching {len(ops)} ops"}
    except kernel.SearchTooBig as too_big:
        return {"status": "unknown", "key": key, "reason": str(too_big)}
    except ModelError as refused:
        return {"status": "malformed", "key": key, "reason": str(refused)}
    except Exception as exc:  # a plugin model's bug must not hide the other partitions' verdicts
        # (a name of its own: compiled, one name bound by two except clauses gets the first
        # clause's type, and the second would raise TypeError)
        return {"status": "unknown", "key": key,
                "reason": f"the model failed: {type(exc).__name__}: {exc}"}
    if ok:
        return {"status": "valid", "key": key, "dropped_info": prep.dropped_info}
    return {"status": "invalid", "key": key, "dropped_info": prep.dropped_info,
            "failure": failure(model, prep, ops, deepest)}
