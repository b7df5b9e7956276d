"""The `counter` checker (Jepsen's): every ok read of a counter lies within what adds allow.

Inputs: `add` operations (invoke value = a delta, a number; `incr`/`increment` read the same, a
null delta is 1) and `read` operations (ok value = the count; a counter never added to reads 0,
and a null read means 0). Keys are judged independently; a history without keys is one counter.

For each ok read R of a key:

* lower bound: the sum of the deltas of ok adds that completed before R was invoked (they
  certainly took effect before R began);
* upper bound: the sum of the deltas of ok and info adds invoked before R completed (any of them
  may have taken effect by then; a failed add certainly did not).

R is valid when lower <= value <= upper. "Before" is history order (event indexes), which is time
order in a recorded history. Deltas are positive in the counter workload; a negative delta is
still judged soundly, since it moves the bounds the other way: the lower bound then counts it only
when it may have happened, the upper bound only when it certainly did.
"""

from __future__ import annotations

from bisect import bisect_left
from itertools import accumulate
from typing import Any

from checkers.history import History, Operation

ADD_FS = frozenset(("add", "incr", "increment"))
MAX_LISTED = 100  # reads out of bounds described in full; the count is always complete


class CounterChecker:
    """Invalid when an ok read returns less than the adds certainly done before it, or more than
    the adds possibly done by the time it returned."""

    name = "counter"

    def check(self, history: History) -> dict[str, Any]:
        by_key: dict[Any, list[Operation]] = {}
        for op in history.operations():
            if op.f in ADD_FS or op.f == "read":
                by_key.setdefault(_hashable(op.key), []).append(op)
        errors: list[dict[str, Any]] = []
        malformed: list[str] = []
        reads = 0
        for key, ops in by_key.items():
            bounds = _Bounds([op for op in ops if op.f in ADD_FS])
            for read in ops:
                if read.f != "read" or read.type != "ok":
                    continue
                reads += 1
                value = 0 if read.value is None else read.value
                if not _is_number(value):
                    malformed.append(f"read op {read.id} (index {read.invoke_index}) returned "
                                     f"{read.value!r}, not a number")
                    continue
                lower, upper = bounds.lower(read), bounds.upper(read)
                if not lower <= value <= upper:
                    errors.append({"op": read.id, "process": read.process, "key": read.key,
                                   "node": read.node, "invoke_index": read.invoke_index,
                                   "complete_index": read.complete_index, "value": value,
                                   "lower": lower, "upper": upper})
        result: dict[str, Any] = {"valid": not errors and not malformed, "reads": reads,
                                  "keys": len(by_key)}
        if errors:
            result["errors"] = errors[:MAX_LISTED]
            result["error_count"] = len(errors)
            result["failures"] = [_sentence(e) for e in errors[:MAX_LISTED]]
        if malformed:
            result["malformed_reads"] = malformed[:MAX_LISTED]
            result.setdefault("failures", []).extend(malformed[:MAX_LISTED])
        if reads == 0 and result["valid"]:
            result["valid"] = "unknown"
            result["note"] = "no read of the counter succeeded, so no add was ever checked"
        return result


class _Bounds:
    """Prefix sums of one key's adds, so each read's bounds cost two binary searches."""

    def __init__(self, adds: list[Operation]) -> None:
        done = sorted((op.complete_index, _delta(op)) for op in adds
                      if op.type == "ok" and op.complete_index is not None)
        maybe = sorted((op.invoke_index, _delta(op)) for op in adds if op.type != "fail")
        # Split by sign: a negative delta lowers the least value only if it may have happened.
        self._done_at = [i for i, _ in done]
        self._done_pos = [0, *accumulate(max(d, 0) for _, d in done)]
        self._done_neg = [0, *accumulate(min(d, 0) for _, d in done)]
        self._maybe_at = [i for i, _ in maybe]
        self._maybe_pos = [0, *accumulate(max(d, 0) for _, d in maybe)]
        self._maybe_neg = [0, *accumulate(min(d, 0) for _, d in maybe)]

    def lower(self, read: Operation) -> Any:
        certain = bisect_left(self._done_at, read.invoke_index)
        possible = bisect_left(self._maybe_at, _end_index(read))
        return self._done_pos[certain] + self._maybe_neg[possible]

    def upper(self, read: Operation) -> Any:
        certain = bisect_left(self._done_at, read.invoke_index)
        possible = bisect_left(self._maybe_at, _end_index(read))
        return self._maybe_pos[possible] + self._done_neg[certain]


def _end_index(read: Operation) -> float:
    return read.complete_index if read.complete_index is not None else float("inf")


def _delta(op: Operation) -> Any:
    delta = 1 if op.invoke_value is None else op.invoke_value
    return delta if _is_number(delta) else 0


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def _sentence(error: dict[str, Any]) -> str:
    key = "" if error["key"] is None else f" of key {error['key']!r}"
    return (f"read op {error['op']}{key} (process {error['process']}, events "
            f"{error['invoke_index']}-{error['complete_index']}) returned {error['value']}, outside "
            f"[{error['lower']}, {error['upper']}]: at least {error['lower']} was certainly added "
            f"before it began and at most {error['upper']} may have been added before it ended")
