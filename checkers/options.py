"""Settings given on the command line as `--opt KEY=VALUE`, typed and documented in one place.

A part that takes settings (a checker here; systems, workloads and nemeses use the same class)
declares them as `options = {"key": Option(default, "what it does", kind=int)}`. The value
arrives as text and `Option.parse` turns it into the declared kind, or raises ValueError with a
one-line reason naming the key. `splitbrain list` shows the declarations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

_TRUE = frozenset(("true", "yes", "on", "1"))
_FALSE = frozenset(("false", "no", "off", "0"))


@dataclass(frozen=True)
class Option:
    """One setting: its default, a sentence saying what it does, the kind of its value (str,
    int, float or bool), the values it may take (if only a few) and, for numbers, its least."""

    default: Any
    doc: str
    kind: type = str
    choices: tuple[str, ...] | None = None
    low: float | None = None

    def parse(self, key: str, text: str) -> Any:
        """The value of `key=text`; ValueError with a one-line reason when it does not fit."""
        if self.choices is not None and text not in self.choices:
            raise ValueError(f"{key}={text!r}: expected one of {', '.join(self.choices)}")
        if self.kind is bool:
            lowered = text.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError(f"{key}={text!r}: expected true or false")
        if self.kind in (int, float):
            try:
                value = self.kind(text)
            except ValueError:
                what = "a whole number" if self.kind is int else "a number"
                raise ValueError(f"{key}={text!r}: expected {what}") from None
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{key}={text!r}: expected a finite number")
            if self.low is not None and value < self.low:
                raise ValueError(f"{key}={text}: must be at least {self.low:g}")
            return value
        return text

    def describe(self) -> str:
        """`doc (default X; one of a, b)` for listings and --help."""
        extra = f"default {self.default}" if self.default is not None else "no default"
        if self.choices:
            extra += f"; one of {', '.join(self.choices)}"
        return f"{self.doc} ({extra})"
