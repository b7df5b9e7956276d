"""The Fault protocol, target resolution, and the checks a spec must pass before a run starts.

A Fault knows how to start and stop one kind of trouble on chosen nodes. It declares its targets,
its parameters with defaults and a short doc, so `splitbrain list` can show them and a spec naming
anything else is refused before the run (exit 254). A fault whose system lacks the capability it
needs (systems.base.Killable, Pausable, ...) is refused too: never a silent run that tested nothing.
"""

from __future__ import annotations

import random
from typing import Any, Protocol, runtime_checkable

from nemesis.spec import FaultSpec, NemesisSpecError
from systems.base import ClusterContext, HasLeader, Option

NODE_TARGETS = ("one", "minority", "majority", "all", "leader")


class FaultError(RuntimeError):
    """A fault could not be applied or verified on this host (exit 255)."""


@runtime_checkable
class Fault(Protocol):
    name: str
    doc: str
    targets: tuple[str, ...]
    default_target: str
    params: dict[str, Option]  # always includes "duration" (seconds)

    def refusal(self, system: Any, ctx_nodes: int) -> str | None:
        """Why this fault cannot run against that system (None when it can)."""

    def start(self, system: Any, ctx: ClusterContext, targets: list[str],
              params: dict[str, Any]) -> dict[str, Any]:
        """Inject the fault, verify it took effect, and return details (with the probe) to record."""

    def stop(self, system: Any, ctx: ClusterContext, targets: list[str],
             params: dict[str, Any], started: dict[str, Any]) -> dict[str, Any]:
        """Undo the fault; idempotent."""


def resolve_params(fault: Fault, spec: FaultSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, p in fault.params.items():
        raw = spec.params.get(name)
        if raw is None:
            out[name] = p.default
            continue
        try:
            out[name] = p.parse(name, raw)
        except ValueError as e:
            raise NemesisSpecError(f"{spec}: {e}") from None
    unknown = set(spec.params) - set(fault.params)
    if unknown:
        raise NemesisSpecError(f"{spec}: {fault.name} takes no parameter {sorted(unknown)[0]!r}; "
                               f"it takes {', '.join(sorted(fault.params))}")
    if "duration" in out and not out["duration"] > 0:
        raise NemesisSpecError(f"{spec}: duration must be > 0 seconds")
    return out


def validate(fault: Fault, spec: FaultSpec, system: Any, nodes: int, env: Any = None) -> None:
    """Refuse (NemesisSpecError, exit 254) a spec this fault, system, cluster size or environment
    cannot honour. Optional fault hooks: `target_refusal(target, nodes)` (e.g. a grudge needing
    more nodes), `param_refusal(params)` (values out of range), and `needs_network = True`
    (links the environment can cut for it: fault.name in `env.network_faults`)."""
    target = spec.target or fault.default_target
    if target not in fault.targets:
        raise NemesisSpecError(f"{spec}: {fault.name} has no target {target!r}; "
                               f"targets: {', '.join(fault.targets)}")
    if target == "leader" and not isinstance(system, HasLeader):
        raise NemesisSpecError(f"{spec}: system {getattr(system, 'name', system)!r} cannot tell its "
                               f"leader")
    params = resolve_params(fault, spec)
    why = fault.refusal(system, nodes)
    if not why and hasattr(fault, "target_refusal"):
        why = fault.target_refusal(target, nodes)
    if not why and hasattr(fault, "param_refusal"):
        why = fault.param_refusal(params)
    if not why and getattr(fault, "needs_network", False) and env is not None \
            and fault.name not in getattr(env, "network_faults", ()):
        why = (f"{fault.name} needs links the harness can cut, which env {env.name!r} does not "
               f"offer for it; use --env netns")
    if why:
        raise NemesisSpecError(f"{spec}: {why}")


def resolve_target(fault: Fault, target: str, nodes: list[str], rng: random.Random,
                   system: Any) -> tuple[list[str], dict[str, Any]]:
    """The nodes a fault acts on when it starts, plus details to record and pass to start().

    A fault with its own kind of targets (partition grudges) resolves them itself through
    `resolve_target(target, nodes, rng, system)`; node targets go through choose_nodes."""
    own = getattr(fault, "resolve_target", None)
    if own is not None:
        return own(target, nodes, rng, system)
    return choose_nodes(target, nodes, rng, system), {}


def choose_nodes(target: str, nodes: list[str], rng: random.Random, system: Any) -> list[str]:
    """Resolve a node target at the moment the fault starts (the leader may have moved)."""
    n = len(nodes)
    if target == "one":
        return [rng.choice(nodes)]
    if target == "all":
        return list(nodes)
    if target == "minority":
        return sorted(rng.sample(nodes, max(1, (n - 1) // 2)))
    if target == "majority":
        return sorted(rng.sample(nodes, n // 2 + 1))
    if target == "leader":
        leader = system.leader() if isinstance(system, HasLeader) else None
        if leader is None:
            raise FaultError("no leader to target: the system reports none")
        return [leader]
    raise NemesisSpecError(f"unknown target {target!r}")
