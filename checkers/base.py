"""The Checker protocol and how verdicts compose.

A checker reads a History and returns plain data: {"valid": True | False | "unknown", ...evidence}.
It imports nothing from harness, systems or nemesis, so it runs on a file alone.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from checkers.history import History

UNKNOWN = "unknown"


@runtime_checkable
class Checker(Protocol):
    name: str

    def check(self, history: History) -> dict[str, Any]:
        """Return {"valid": True | False | "unknown", ...}; never raise on a well-formed history."""


def merge_valid(values: list[Any]) -> Any:
    """Jepsen's composition: any False makes the whole False; else any unknown makes it unknown."""
    if any(v is False for v in values):
        return False
    if any(v is not True for v in values):
        return UNKNOWN
    return True


def exit_code_for(valid: Any) -> int:
    """0 valid, 1 invalid, 2 unknown."""
    if valid is True:
        return 0
    if valid is False:
        return 1
    return 2


# Precedence when several files or checkers give exit codes: 255 > 254 > 1 > 2 > 0.
_EXIT_RANK = {255: 4, 254: 3, 1: 2, 2: 1, 0: 0}


def worst_exit(codes: list[int]) -> int:
    return max(codes, key=lambda c: _EXIT_RANK.get(c, 4), default=0)
