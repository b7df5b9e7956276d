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


# A process that ends with os._exit (`splitbrain check` after a big history) frees nothing at its
# end, and need not free a checker's working state when the check returns either: the index and
# graph of a million transactions, freed object by object, cost tenths of a second. The command
# turns sparing on; a checker hands its state to spare_until_exit, which keeps the last one only
# (so checking many files never holds more than one extra). Off, it frees as usual.
_sparing = False
_spared: tuple[Any, ...] = ()


def spare_until_exit(*state: Any) -> None:
    global _spared
    if _sparing:
        _spared = state


def start_sparing() -> None:
    """For a process that ends with os._exit: from now on spare_until_exit keeps its state."""
    global _sparing
    _sparing = True
