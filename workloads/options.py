"""Reading workload options (`--opt workload.KEY=VALUE`, which arrive as text) into numbers.

A bad value is a ValueError whose one-line message names the workload, the option and the value.
"""

from __future__ import annotations

from typing import Any


def int_option(options: dict[str, Any], workload: str, name: str, default: int) -> int:
    value = options.get(name, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{workload} workload: option {name} must be an integer, "
                         f"not {value!r}") from None


def float_option(options: dict[str, Any], workload: str, name: str, default: float) -> float:
    value = options.get(name, default)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{workload} workload: option {name} must be a number, "
                         f"not {value!r}") from None
