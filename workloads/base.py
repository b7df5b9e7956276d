"""The Workload protocol: what operations to generate, and which checkers judge the result.

A workload is pure: it draws operations from a seeded random.Random and knows nothing of time,
sockets or systems. The harness asks it for the next operation of a process, paces the requests,
and at the end asks for the final reads that make lost writes visible.
"""

from __future__ import annotations

import random
from typing import Any, Protocol, runtime_checkable

from systems.base import Invocation


@runtime_checkable
class OpGenerator(Protocol):
    def next_op(self, process: int, rng: random.Random) -> Invocation | None:
        """The next operation for this process, or None when the workload has nothing to do."""

    # Optional: wind_down(worker) -> list[Invocation], operations a worker runs when the main
    # phase ends, before its client closes (e.g. releasing a lock it holds).

    def final_ops(self) -> list[Invocation]:
        """Reads to run after the heal phase (process numbers are filled in by the harness)."""


@runtime_checkable
class Workload(Protocol):
    name: str

    def generator(self, options: dict[str, Any]) -> OpGenerator: ...

    def checkers(self, options: dict[str, Any]) -> list[dict[str, Any]]:
        """Checker specs, e.g. [{"name": "linearizable", "model": "cas-register"}]; recorded in
        test.json so `splitbrain check` can re-run the same checkers from the files alone."""
