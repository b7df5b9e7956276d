"""Running checkers on a history file and composing their verdicts into results.json.

Used both at the end of a run and by `splitbrain check`, so a verdict reproduces offline: the run
itself checks the history as read back from disk, exactly as a later re-check would.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from checkers.base import merge_valid
from checkers.history import History, HistoryError
from checkers.registry import UnknownName, build_checker, checker_class
from harness.errors import UsageError

RUN_HISTORY = "history.jsonl"  # a run directory's history (see harness.store)


def history_path(target: str | Path) -> Path:
    """The history file `target` names: the file itself, or a run directory's history.jsonl."""
    p = Path(target)
    if p.is_dir():
        if (p / RUN_HISTORY).is_file():
            return p / RUN_HISTORY
        raise UsageError(f"{target}: a directory, not a history file, and no run directory "
                         f"(it has no {RUN_HISTORY}); name the history files in it")
    if not p.exists():
        raise UsageError(f"{target}: no such file")
    return p


def read_history_file(path: str | Path, fmt: str = "auto") -> History:
    """Any supported format; HistoryError and unknown formats become UsageError (exit 254)."""
    from checkers.formats import read_history  # formats pull in optional parsers; load lazily

    try:
        return read_history(history_path(path), fmt)
    except HistoryError as e:
        raise UsageError(str(e)) from None


def checker_specs_beside(path: str | Path) -> list[dict[str, Any]] | None:
    """The checkers named in the test.json of the run a history belongs to, if there is one."""
    test_json = history_path(path).parent / "test.json"
    if not test_json.exists():
        return None
    try:
        specs = json.loads(test_json.read_text()).get("checkers")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None
    return list(specs) if specs else None


def with_checker_options(specs: list[dict[str, Any]],
                         options: dict[str, str]) -> list[dict[str, Any]]:
    """`specs` with each `--opt KEY=VALUE` given to every checker among them that declares KEY
    (or, written CHECKER.KEY=VALUE, to that checker only). An option none of them takes is a
    UsageError naming the ones they do take."""
    out = [dict(spec) for spec in specs]
    for key, text in options.items():
        target, _, given = key.rpartition(".")
        name = given.replace("-", "_")  # cycle-search-timeout, as Elle spells its options
        takers = 0
        for spec in out:
            if target and spec["name"] != target:
                continue
            declared = _declared_options(spec["name"])
            if name in declared:
                try:
                    spec[name] = declared[name].parse(key, text)
                except ValueError as e:
                    raise UsageError(f"--opt {e}") from None
                takers += 1
        if not takers:
            offered = sorted({_options_line(spec["name"]) for spec in out})
            raise UsageError(f"--opt {key}: no checker here takes {name!r} (options per checker: "
                             f"{'; '.join(offered)})")
    return out


def _options_line(checker: str) -> str:
    return f"{checker}: {', '.join(sorted(_declared_options(checker))) or 'none'}"


def _declared_options(checker: str) -> dict[str, Any]:
    try:
        cls = checker_class(checker)
    except UnknownName as e:
        raise UsageError(str(e)) from None
    return dict(getattr(cls, "options", None) or {})


def checker_from_spec(spec: dict[str, Any]) -> Any:
    """The checker a spec names, built with its parameters; UsageError (exit 254) when the name
    or a parameter is wrong, so a run can refuse it before it starts."""
    try:
        return build_checker(spec)
    except UnknownName as e:
        raise UsageError(str(e)) from None
    except (TypeError, ValueError) as e:
        raise UsageError(f"checker {spec['name']!r}: {e}") from None


def run_checkers(history: History, specs: list[dict[str, Any]],
                 strict: bool = True) -> dict[str, Any]:
    """{"valid", "checkers": {name: result}, "stats", "warnings"}; a crashing checker is unknown.

    An op a checker cannot read (HistoryError) is bad input: with `strict` (checking a file
    someone gives us) a UsageError, else (our own run's history) that checker's verdict is
    unknown, so the other verdicts and the history survive."""
    results: dict[str, Any] = {}
    for spec in specs:
        name = spec["name"]
        label = name if name not in results else f"{name}-{len(results)}"
        started = time.monotonic()
        checker = checker_from_spec(spec)
        try:
            res = dict(checker.check(history))
        except HistoryError as e:  # an op this checker cannot read: bad input, not a verdict
            if strict:
                raise UsageError(f"{history.source}: {e}" if history.source else str(e)) from None
            res = {"valid": "unknown", "error": f"unreadable operation: {e}"}
        except Exception as e:  # a checker bug must not lose the other verdicts
            import traceback

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
