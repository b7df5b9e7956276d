"""The nemesis grammar, one spelling per fault: FAULT[:TARGET][:key=value...].

Examples: `kill`, `kill:leader`, `pause:minority:duration=4`. Parsing is pure (no system needed);
checking a spec against a fault's declared targets and parameters happens in nemesis.base.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


class NemesisSpecError(ValueError):
    """A nemesis spec that does not parse or names an unknown fault, target or parameter (254)."""


@dataclass(frozen=True)
class FaultSpec:
    fault: str
    target: str | None = None
    params: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        parts = [self.fault] + ([self.target] if self.target else [])
        parts += [f"{k}={v}" for k, v in self.params.items()]
        return ":".join(parts)


def parse_fault(text: str) -> FaultSpec:
    parts = text.strip().split(":")
    if not parts or not parts[0]:
        raise NemesisSpecError(f"empty nemesis spec in {text!r}")
    fault, rest = parts[0], parts[1:]
    if not _NAME.match(fault):
        raise NemesisSpecError(f"malformed nemesis spec {text!r}: fault name {fault!r}")
    target = None
    params: dict[str, str] = {}
    for i, part in enumerate(rest):
        if "=" in part:
            k, _, v = part.partition("=")
            if not _NAME.match(k) or not v:
                raise NemesisSpecError(f"malformed parameter {part!r} in nemesis spec {text!r}")
            if k in params:
                raise NemesisSpecError(f"parameter {k!r} given twice in {text!r}")
            params[k] = v
        elif i == 0 and _NAME.match(part):
            target = part
        else:
            raise NemesisSpecError(f"malformed nemesis spec {text!r}: {part!r} "
                                   f"(expected FAULT[:TARGET][:key=value...])")
    return FaultSpec(fault, target, params)


def parse_nemesis(text: str) -> list[FaultSpec]:
    """A comma-separated list of fault specs; "none" (or empty) is the fault-free baseline."""
    text = text.strip()
    if text in ("", "none"):
        return []
    return [parse_fault(p) for p in text.split(",")]
