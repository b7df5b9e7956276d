"""Consistency models, the anomalies each one rules out, and which models a set of anomalies
rules out.

Two small graphs, read from the literature (Adya's thesis for read uncommitted through
serializable and for the G-anomalies; Berenson et al. and Bailis et al. for cursor stability,
lost update and read atomic; Cerone et al., Fekete et al. and Daudjee & Salem for snapshot
isolation and the strong and strong-session variants, as the Elle paper summarizes them):

- `STRONGER_THAN`: model -> the models it implies (a history that satisfies serializable also
  satisfies repeatable read and snapshot isolation, ...);
- `IMPLIES`: anomaly -> anomalies its presence implies (a G-single cycle is also a
  G-nonadjacent one, and a G2-item one; any cycle is also its -process and -realtime variant,
  since session and real-time order only add edges).

`PROSCRIBES` gives each model the anomalies it rules out itself; a model rules out those of the
models it implies too, and every anomaly that implies one of them. A history then rules out a
model when it shows any anomaly the model rules out.

Choices worth knowing (they are where the literature leaves room):
- without predicate reads (keys only, as here) repeatable read (PL-2.99) and serializable (PL-3)
  rule out the same anomalies, as Adya notes; they stay two models because users ask for both;
- repeatable read implies read atomic: re-reading a key and seeing something else is the very
  thing repeatable read forbids, so an `internal` anomaly rules it out (Elle's lattice lets it
  through);
- snapshot isolation rules out G-nonadjacent (every cycle it allows has two adjacent rw edges:
  Fekete et al.'s dangerous structure) and lost updates (first committer wins);
- duplicate-elements, cyclic-versions and garbage-read rule out even read uncommitted: no
  execution of appends and writes, however dirty, produces them; incompatible-order and
  dirty-update are dirty reads of a kind and rule out read committed.
"""

from __future__ import annotations

from typing import Final, Iterable

CYCLE_KINDS: Final = ("G0", "G1c", "G-single", "G-nonadjacent", "G2-item")
VARIANTS: Final = ("", "-process", "-realtime")
CYCLE_ANOMALIES: Final = tuple(k + v for v in VARIANTS for k in CYCLE_KINDS)
OTHER_ANOMALIES: Final = ("G1a", "G1b", "dirty-update", "incompatible-order", "internal",
                          "future-read", "lost-update", "duplicate-elements", "cyclic-versions",
                          "garbage-read")
ANOMALIES: Final = CYCLE_ANOMALIES + OTHER_ANOMALIES

STRONGER_THAN: Final[dict[str, tuple[str, ...]]] = {
    "strict-serializable": ("serializable", "strong-session-serializable",
                            "strong-snapshot-isolation"),
    "strong-session-serializable": ("serializable", "strong-session-snapshot-isolation"),
    "serializable": ("repeatable-read", "snapshot-isolation"),
    "strong-snapshot-isolation": ("strong-session-snapshot-isolation", "strong-read-committed"),
    "strong-session-snapshot-isolation": ("snapshot-isolation", "strong-session-read-committed"),
    "snapshot-isolation": ("read-atomic",),
    "repeatable-read": ("cursor-stability", "read-atomic"),
    "cursor-stability": ("read-committed",),
    "read-atomic": ("read-committed",),
    "strong-read-committed": ("strong-session-read-committed", "strong-read-uncommitted"),
    "strong-session-read-committed": ("read-committed", "strong-session-read-uncommitted"),
    "strong-read-uncommitted": ("strong-session-read-uncommitted",),
    "strong-session-read-uncommitted": ("read-uncommitted",),
    "read-committed": ("read-uncommitted",),
    "read-uncommitted": (),
}
MODELS: Final = tuple(STRONGER_THAN)
ALIASES: Final = {"strong-serializable": "strict-serializable", "PL-1": "read-uncommitted",
                  "PL-2": "read-committed", "PL-2.99": "repeatable-read", "PL-3": "serializable",
                  "PL-SI": "snapshot-isolation", "PL-CS": "cursor-stability",
                  "PL-SS": "strict-serializable"}

PROSCRIBES: Final[dict[str, tuple[str, ...]]] = {
    "read-uncommitted": ("G0", "duplicate-elements", "cyclic-versions", "garbage-read"),
    "read-committed": ("G1a", "G1b", "G1c", "dirty-update", "incompatible-order"),
    "read-atomic": ("internal", "future-read"),
    "cursor-stability": ("lost-update",),
    "repeatable-read": ("G2-item",),
    "snapshot-isolation": ("G-nonadjacent", "lost-update"),
    "serializable": (),
    "strong-session-read-uncommitted": ("G0-process",),
    "strong-session-read-committed": ("G1c-process",),
    "strong-read-uncommitted": ("G0-realtime",),
    "strong-read-committed": ("G1c-realtime",),
    "strong-session-snapshot-isolation": ("G-nonadjacent-process",),
    "strong-snapshot-isolation": ("G-nonadjacent-realtime",),
    "strong-session-serializable": ("G2-item-process",),
    "strict-serializable": ("G2-item-realtime",),
}


def _implies() -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for kind in CYCLE_KINDS:
        # a cycle is its own -process and -realtime variant (those only allow more edges)
        out.setdefault(kind, []).append(kind + "-process")
        out.setdefault(kind + "-process", []).append(kind + "-realtime")
    for v in VARIANTS:
        out.setdefault("G0" + v, []).append("G1c" + v)  # Adya: G1c is any dependency cycle
        out.setdefault("G-single" + v, []).append("G-nonadjacent" + v)  # one rw: none adjacent
        out.setdefault("G-nonadjacent" + v, []).append("G2-item" + v)  # some rw edge
    return {k: tuple(v) for k, v in out.items()}


IMPLIES: Final = _implies()


class UnknownModel(LookupError):
    """A consistency model name that is not in MODELS (nor an alias of one)."""


def canonical(model: str) -> str:
    name = ALIASES.get(model, model)
    if name not in STRONGER_THAN:
        raise UnknownModel(f"unknown consistency model {model!r}; known: "
                           f"{', '.join(sorted(MODELS))}")
    return name


def implied_models(model: str) -> set[str]:
    """The model and every model it implies."""
    seen = {model}
    todo = [model]
    while todo:
        for weaker in STRONGER_THAN[todo.pop()]:
            if weaker not in seen:
                seen.add(weaker)
                todo.append(weaker)
    return seen


def implied_anomalies(anomalies: Iterable[str]) -> set[str]:
    """The anomalies and every anomaly they imply."""
    seen = set(anomalies)
    todo = list(seen)
    while todo:
        for implied in IMPLIES.get(todo.pop(), ()):
            if implied not in seen:
                seen.add(implied)
                todo.append(implied)
    return seen


def proscribed(model: str) -> set[str]:
    """Every anomaly the model rules out: its own, its weaker models', and every anomaly that
    implies one of those."""
    direct = {a for m in implied_models(model) for a in PROSCRIBES[m]}
    return {a for a in ANOMALIES if implied_anomalies([a]) & direct}


def ruled_out(anomalies: Iterable[str]) -> set[str]:
    """The models a history showing these anomalies does not satisfy."""
    present = implied_anomalies(anomalies)
    return {m for m in MODELS if present & {a for w in implied_models(m) for a in PROSCRIBES[w]}}


def weakest(models: set[str]) -> list[str]:
    """The models of the set that imply no other model of the set."""
    return sorted(m for m in models if not (implied_models(m) - {m}) & models)


def boundary(anomalies: Iterable[str], one_of: Iterable[str] = ()) -> dict[str, list[str]]:
    """{"not": the weakest models ruled out, "also_not": the other models ruled out}, by the
    anomalies present and, when `one_of` is given, by the fact that at least one of those is
    present (which rules out the models that rule out each of them)."""
    out = ruled_out(anomalies)
    alternatives = list(one_of)
    if alternatives:
        out |= set.intersection(*(ruled_out([a]) for a in alternatives))
    weakest_out = weakest(out)
    return {"not": weakest_out, "also_not": sorted(out - set(weakest_out))}
