"""The `set` checker (Jepsen's): every acknowledged add must be in the final read of the set.

Inputs: `add` operations (value = an element unique in the run) and the final `read` (value = the
sorted list of elements present). Definitions (docs/checkers-set-mutex-queue-vip.md):

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

from dataclasses import dataclass
from typing import Any

from checkers.evidence import op_ref
from checkers.history import History, Operation, gc_paused

MAX_LISTED = 100  # operations described in full per list; element lists are always complete


@dataclass
class SetIndex:
    """The adds by element and the final reads with the elements each returned."""

    by_element: dict[Any, list[Operation]]  # every add of an element, in invocation order
    ok_adds: dict[Any, Operation]  # the first acknowledged add of each acknowledged element
    failed: set[Any]  # elements whose every add failed
    finals: list[tuple[Operation, set[Any]]]  # each final read and what it returned
    missing: list[tuple[Operation, Any, Operation]]  # (final read, element, its ok add) absent
    malformed: list[dict[str, Any]]  # ok reads without a list, skipped


def index_set(history: History) -> SetIndex:
    ops = history.operations()
    reads = [op for op in ops if op.f == "read" and op.type == "ok"]
    malformed = [op_ref(op) for op in reads if not isinstance(op.value, list)]
    reads = [op for op in reads if isinstance(op.value, list)]
    finals = [op for op in reads if op.extra.get("phase") == "final"] or reads[-1:]
    by_element: dict[Any, list[Operation]] = {}
    for op in ops:
        if op.f == "add":
            by_element.setdefault(_hashable(op.invoke_value), []).append(op)
    ok_adds = {e: next(op for op in group if op.type == "ok")
               for e, group in by_element.items() if any(op.type == "ok" for op in group)}
    failed = {e for e, group in by_element.items() if all(op.type == "fail" for op in group)}
    read_sets = [(read, {_hashable(v) for v in read.value}) for read in finals]
    missing = [(read, element, add) for read, present in read_sets
               for element, add in ok_adds.items() if element not in present]
    return SetIndex(by_element, ok_adds, failed, read_sets, missing, malformed)


def lost_cases(ix: SetIndex) -> dict[Any, dict[str, Any]]:
    """Acknowledged before a final read began, and missing from it (the first such read)."""
    lost: dict[Any, dict[str, Any]] = {}
    for read, element, add in ix.missing:
        if add.end < read.start:
            lost.setdefault(element, {"element": element, "add": op_ref(add),
                                      "missing_from_read": read.id})
    return lost


def concurrent_missing(ix: SetIndex, lost: dict[Any, dict[str, Any]]) -> set[Any]:
    """Acknowledged, missing from a final read that began before the add completed: no loss."""
    return {element for read, element, add in ix.missing
            if not add.end < read.start} - set(lost)


def unexpected_cases(ix: SetIndex) -> dict[Any, dict[str, Any]]:
    """Read, but never added, or every add of it failed."""
    unexpected: dict[Any, dict[str, Any]] = {}
    for read, present in ix.finals:
        for element in present:
            if element not in ix.by_element:
                unexpected.setdefault(element, {"element": element,
                                                "why": "never added", "read": read.id})
            elif element in ix.failed:
                unexpected.setdefault(element, {
                    "element": element, "why": "its add failed (certainly did not happen)",
                    "add": op_ref(ix.by_element[element][0]), "read": read.id})
    return unexpected


def recovered(ix: SetIndex) -> set[Any]:
    """Read, with no acknowledged add but one of unknown outcome: it happened. Not an error."""
    return {element for _read, present in ix.finals for element in present
            if element in ix.by_element and element not in ix.failed
            and element not in ix.ok_adds}


class SetChecker:
    """Invalid when an acknowledged element is missing from the final read, or a read element was
    never (successfully or possibly) added."""

    name = "set"

    def check(self, history: History) -> dict[str, Any]:
        with gc_paused():  # the index is up to millions of acyclic containers
            ix = index_set(history)
        result: dict[str, Any] = {"valid": True, "counts": _counts(ix)}
        if ix.malformed:  # an ok read must return the list of elements; these are skipped
            result["malformed_reads"] = ix.malformed
        if not ix.finals:
            result["valid"] = "unknown"
            result["note"] = ("the set was never read successfully, so nothing can be said about "
                              f"the {len(ix.ok_adds)} acknowledged add(s)")
            return result
        lost, unexpected = lost_cases(ix), unexpected_cases(ix)
        found, concurrent = recovered(ix), concurrent_missing(ix, lost)
        result.update({
            "final_reads": [{**op_ref(read), "size": len(present)} for read, present in ix.finals],
            "ok_count": sum(1 for e in ix.ok_adds if e not in lost and e not in concurrent),
            "lost_count": len(lost),
            "unexpected_count": len(unexpected),
            "recovered_count": len(found),
            "concurrent_missing_count": len(concurrent),
            "lost": sorted(lost, key=_order),
            "unexpected": sorted(unexpected, key=_order),
            "recovered": sorted(found, key=_order),
            "lost_ops": [lost[e] for e in sorted(lost, key=_order)[:MAX_LISTED]],
            "unexpected_ops": [unexpected[e] for e in sorted(unexpected, key=_order)[:MAX_LISTED]],
        })
        _judge(result, lost, unexpected)
        return result


def _counts(ix: SetIndex) -> dict[str, int]:
    groups = ix.by_element
    return {"attempted": len(groups), "acknowledged": len(ix.ok_adds),
            "failed": len(ix.failed),
            "unknown": sum(1 for e, group in groups.items()
                           if e not in ix.ok_adds and any(op.type == "info" for op in group))}


def _judge(result: dict[str, Any], lost: dict[Any, Any], unexpected: dict[Any, Any]) -> None:
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


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _order(element: Any) -> tuple[int, Any]:
    # Elements are ints by the op shape; anything else sorts after them, by its text.
    return (0, element) if isinstance(element, (int, float)) else (1, str(element))


def _preview(elements: list[Any], n: int = 10) -> str:
    shown = ", ".join(map(str, elements[:n]))
    return shown + (f", … {len(elements) - n} more" if len(elements) > n else "")
