"""The Workload protocol: what operations to generate, and which checkers judge the result.

A workload is pure: it draws operations from a seeded random.Random and knows nothing of time,
sockets or systems. The harness asks it for the next operation of a process, paces the requests,
and at the end asks for the final reads that make lost writes visible.

Settings: a workload declares `options` ({name: systems.base.Option}), given on the command line
as `--opt workload.NAME=VALUE`. The harness refuses an unknown name or a bad value before anything
starts, with Option.parse's one-line reason; generator() and checkers() read them through
`settings()`, which parses with the same declarations (so a test may pass text too).
"""

from __future__ import annotations

import random
from typing import Any, Protocol, runtime_checkable

from systems.base import Invocation, Option, parse_options

# Every workload's generator gets the harness's --concurrency as the setting "concurrency".
CONCURRENCY = Option(6, "client workers (set by --concurrency)", kind=int, low=1)


def share(default: float, doc: str) -> Option:
    """An option that is a share of operations, from 0 to 1 (e.g. the reads among them)."""
    return Option(default, doc, kind=float, low=0, high=1)


@runtime_checkable
class OpGenerator(Protocol):
    """What the harness asks a workload for during a run. Generator gives the defaults."""

    def next_op(self, process: int, rng: random.Random) -> Invocation | None:
        """The next operation for this worker, or None when the workload has nothing to do."""

    def next_delay_s(self, process: int) -> float | None:
        """Pacing: seconds this worker waits before its next operation (a lock's hold, a
        sampling interval), or None for the harness's own pacing (--rate, drawn from the seed)."""

    def wind_down(self, process: int) -> list[Invocation]:
        """Operations this worker runs when the main phase ends, before its client closes (e.g.
        releasing a lock it holds); an `info` among them ends the list."""

    def final_ops(self) -> list[Invocation]:
        """Reads to run after the heal phase (process numbers are filled in by the harness)."""


class Generator:
    """A base for generators: paced by the harness, nothing to wind down, no final reads."""

    def next_delay_s(self, process: int) -> float | None:
        return None

    def wind_down(self, process: int) -> list[Invocation]:
        return []

    def final_ops(self) -> list[Invocation]:
        return []


@runtime_checkable
class Workload(Protocol):
    name: str
    description: str  # one line, for `splitbrain list`
    options: dict[str, Option]  # --opt workload.NAME=VALUE

    def generator(self, options: dict[str, Any]) -> OpGenerator: ...

    def checkers(self, options: dict[str, Any]) -> list[dict[str, Any]]:
        """Checker specs, e.g. [{"name": "linearizable", "model": "cas-register"}]; recorded in
        test.json so `splitbrain check` can re-run the same checkers from the files alone."""


def settings(workload: Workload, options: dict[str, Any]) -> dict[str, Any]:
    """The workload's declared options (and concurrency) read from `options`, defaults filled in;
    names it does not declare are left to the harness, which refuses them. ValueError with a
    one-line reason naming the workload when a value does not fit."""
    try:
        return parse_options({"concurrency": CONCURRENCY, **workload.options}, options)
    except ValueError as e:
        raise ValueError(f"{workload.name} workload: {e}") from None
