"""Running checkers on a history file and composing their verdicts into results.json.

Used both at the end of a run and by `splitbrain check`, so a verdict reproduces offline: the run
itself checks the history as read back from disk, exactly as a later re-check would.
"""

from __future__ import annotations

import json
import time
import traceback
from pathlib import Path
from typing import Any

from checkers.base import merge_valid
from checkers.history import History, HistoryError
from checkers.registry import UnknownName, build_checker
from harness.errors import UsageError


def read_history_file(path: str | Path, fmt: str = "auto") -> History:
    """Any supported format; HistoryError and unknown formats become UsageError (exit 254)."""
    from checkers.formats import read_history  # formats pull in optional parsers; load lazily

    p = Path(path)
    if not p.exists():
        raise UsageError(f"{path}: no such file")
    if p.is_dir():
        raise UsageError(f"{path}: is a directory; name its history file")
    try:
        return read_history(p, fmt)
    except HistoryError as e:
        raise UsageError(str(e)) from None


def checker_specs_beside(path: str | Path) -> list[dict[str, Any]] | None:
    """The checkers named in the test.json next to a history file, if there is one."""
    test_json = Path(path).parent / "test.json"
    if not test_json.exists():
        return None
    try:
        specs = json.loads(test_json.read_text()).get("checkers")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None
    return list(specs) if specs else None


def run_checkers(history: History, specs: list[dict[str, Any]]) -> dict[str, Any]:
    """{"valid", "checkers": {name: result}, "stats", "warnings"}; a crashing checker is unknown."""
    results: dict[str, Any] = {}
    for spec in specs:
        name = spec["name"]
        label = name if name not in results else f"{name}-{len(results)}"
        started = time.monotonic()
        try:
            checker = build_checker(spec)
        except UnknownName as e:
            raise UsageError(str(e)) from None
        except TypeError as e:
            raise UsageError(f"checker {name!r}: {e}") from None
        try:
            res = dict(checker.check(history))
        except Exception as e:  # a checker bug must not lose the other verdicts
            res = {"valid": "unknown", "error": f"{type(e).__name__}: {e}",
                   "traceback": traceback.format_exc()}
        res.setdefault("check_seconds", round(time.monotonic() - started, 3))
        results[label] = res
    out: dict[str, Any] = {
        "valid": merge_valid([r.get("valid") for r in results.values()]),
        "checkers": results,
        "warnings": list(history.warnings),
    }
    if "stats" in results:
        out["stats"] = {k: v for k, v in results["stats"].items() if k != "valid"}
    return out


def count_operations(history: History) -> int:
    return sum(1 for e in history.events if e.is_client and e.type == "invoke")
