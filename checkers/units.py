"""Units shared by checkers and reports: history times are integer nanoseconds since the run began
(docs/op-shapes.md); findings show them in seconds, rounded to the microsecond."""

from __future__ import annotations

import math
from typing import Final

NS_PER_S: Final = 1_000_000_000


def seconds(ns: int | float) -> float | None:
    """A history time in seconds (6 decimals); None for an op that never completed (inf)."""
    return round(ns / NS_PER_S, 6) if math.isfinite(ns) else None
