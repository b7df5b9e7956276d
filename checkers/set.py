"""The `set` checker (Jepsen's): every acknowledged add must be in the final read of the set.

Inputs: `add` operations (value = an element unique in the run) and the final `read` (value = the
sorted list of elements present). Definitions (docs/checkers-issue5.md):

* final read: the ok `read` operations marked "phase": "final"; if none is marked, the last ok
  read. Without one the verdict is unknown: nothing was read.
* lost: an element whose add completed ok before a final read was invoked, and which that read did
  not return. Invalid.
* unexpected: an element a final read returned that no add ever tried to add, or whose every add
  failed (a failed add certainly did not happen). Invalid.
* recovered: an element whose add ended info (unknown) and which the read returned. Not an error.
* Adds still running when the read was invoked may or may not be in it; they are counted, never
  lost.
"""

from __future__ import annotations

import math
from typing import Any

from checkers.history import History, Operation

NS_PER_S = 1_000_000_000
MAX_LISTED = 100  # operations described in full per list; element lists are always complete


def op_ref(op: Operation) -> dict[str, Any]:
    """Where to find an operation in the history: its id, process, indexes and times."""
    return {"op": op.id, "process": op.process, "f": op.f, "type": op.type,
            "invoke_index": op.invoke_index, "complete_index": op.complete_index,
            "start_s": round(op.start / NS_PER_S, 6),
            "end_s": round(op.end / NS_PER_S, 6) if math.isfinite(op.end) else None,
            "node": op.node}


class SetChecker:
    """Invalid when an acknowledged element is missing from the final read, or a read element was
    never (successfully or possibly) added."""

    name = "set"

    def check(self, history: History) -> dict[str, Any]:
        ops = history.operations()
        adds = [op for op in ops if op.f == "add"]
        reads = [op for op in ops if op.f == "read" and op.type == "ok"]
        malformed = [op_ref(op) for op in reads if not isinstance(op.value, list)]
        reads = [op for op in reads if isinstance(op.value, list)]
        finals = [op for op in reads if op.extra.get("phase") == "final"] or reads[-1:]

        by_element: dict[Any, list[Operation]] = {}
        for op in adds:
            by_element.setdefault(_hashable(op.invoke_value), []).append(op)
        ok_adds = {e: next(op for op in group if op.type == "ok")
                   for e, group in by_element.items() if any(op.type == "ok" for op in group)}

        counts = {"attempted": len(by_element), "acknowledged": len(ok_adds),
                  "failed": sum(1 for group in by_element.values()
                                if all(op.type == "fail" for op in group)),
                  "unknown": sum(1 for e, group in by_element.items()
                                 if e not in ok_adds and any(op.type == "info" for op in group))}
        result: dict[str, Any] = {"valid": True, "counts": counts}
        if malformed:  # an ok read must return the list of elements; these are skipped
            result["malformed_reads"] = malformed
        if not finals:
            result["valid"] = "unknown"
            result["note"] = ("the set was never read successfully, so nothing can be said about "
                              f"the {len(ok_adds)} acknowledged add(s)")
            return result

        lost: dict[Any, dict[str, Any]] = {}
        unexpected: dict[Any, dict[str, Any]] = {}
        recovered: set[Any] = set()
        concurrent: set[Any] = set()
        read_rows = []
        for read in finals:
            present = {_hashable(v) for v in read.value}
            for element, add in ok_adds.items():
                if element in present:
                    continue
                if add.end < read.start:
                    lost.setdefault(element, {"element": element, "add": op_ref(add),
                                              "missing_from_read": read.id})
                else:
                    concurrent.add(element)
            for element in present:
                group = by_element.get(element)
                if group is None:
                    unexpected.setdefault(element, {"element": element,
                                                    "why": "never added", "read": read.id})
                elif all(op.type == "fail" for op in group):
                    unexpected.setdefault(element, {
                        "element": element, "why": "its add failed (certainly did not happen)",
                        "add": op_ref(group[0]), "read": read.id})
                elif element not in ok_adds:
                    recovered.add(element)
            read_rows.append({**op_ref(read), "size": len(present)})

        concurrent -= set(lost)
        result.update({
            "final_reads": read_rows,
            "ok_count": sum(1 for e in ok_adds if e not in lost and e not in concurrent),
            "lost_count": len(lost),
            "unexpected_count": len(unexpected),
            "recovered_count": len(recovered),
            "concurrent_missing_count": len(concurrent),
            "lost": sorted(lost, key=_order),
            "unexpected": sorted(unexpected, key=_order),
            "recovered": sorted(recovered, key=_order),
            "lost_ops": [lost[e] for e in sorted(lost, key=_order)[:MAX_LISTED]],
            "unexpected_ops": [unexpected[e] for e in sorted(unexpected, key=_order)[:MAX_LISTED]],
        })
        problems = []
        if lost:
            problems.append(f"{len(lost)} acknowledged add(s) missing from the final read "
                            f"(lost: {_preview(result['lost'])})")
        if unexpected:
            problems.append(f"{len(unexpected)} element(s) read that were never added "
                            f"(unexpected: {_preview(result['unexpected'])})")
        if problems:
            result["valid"] = False
            result["error"] = "; ".join(problems)
        if len(lost) > MAX_LISTED or len(unexpected) > MAX_LISTED:
            result["note"] = f"lost_ops and unexpected_ops describe the first {MAX_LISTED} each"
        return result


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _order(element: Any) -> tuple[int, Any]:
    # Elements are ints by the op shape; anything else sorts after them, by its text.
    return (0, element) if isinstance(element, (int, float)) else (1, str(element))


def _preview(elements: list[Any], n: int = 10) -> str:
    shown = ", ".join(map(str, elements[:n]))
    return shown + (f", … {len(elements) - n} more" if len(elements) > n else "")
