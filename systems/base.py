"""The System and Client protocols, and the optional capabilities a system may have.

As in Jepsen, a System only sets up and tears down a cluster; everything else it can do is a
separate, optional capability (Killable, Pausable, HasLeader, HasLogs, ClockSkewable) that the nemesis checks for
with isinstance() before offering a fault, so a system that cannot pause is simply not offered the
`pause` nemesis instead of pretending.

Systems are synchronous (they start processes and wait on sockets); the harness runs them in
threads. They may import harness (for hosts) but never checkers or reports.
"""

from __future__ import annotations

import random
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable


class SystemError_(RuntimeError):
    """The system could not be set up or driven (exit 255). The message names node and log."""


@dataclass(frozen=True)
class Invocation:
    """What a worker asks a client to do. `value` follows the op-shape table in docs/."""

    process: int
    f: str
    value: Any = None
    key: Any = None


@dataclass(frozen=True)
class Completion:
    """What happened: `ok` it happened, `fail` it certainly did not, `info` unknown."""

    type: str
    value: Any = None
    error: str | None = None
    # Facts for checkers beyond the value (e.g. ZooKeeper's zxid and session), written into the
    # completion event as extra fields; names must not clash with the history's own fields.
    extra: dict[str, Any] | None = None

    @staticmethod
    def ok(value: Any = None, **extra: Any) -> "Completion":
        return Completion("ok", value, None, extra or None)

    @staticmethod
    def fail(error: str, value: Any = None) -> "Completion":
        return Completion("fail", value, error)

    @staticmethod
    def info(error: str, value: Any = None) -> "Completion":
        return Completion("info", value, error)


@dataclass
class ClusterContext:
    """Everything a System needs to know about where it runs.

    `hosts[node]` is the harness.hosts.Host to run a node's processes on; `address(node)` is the IP
    clients and peers use; `port(node, base)` gives the port for a service (on one shared host,
    e.g. env local, each node gets base + its index; on hosts of their own every node uses base).
    """

    nodes: list[str]
    hosts: dict[str, Any]
    run_dir: Path
    seed: int
    bugs: frozenset[str] = frozenset()
    options: dict[str, str] = field(default_factory=dict)
    shared_host: bool = True  # all nodes on one host (env local): ports must differ
    addresses: dict[str, str] = field(default_factory=dict)
    # The harness.lab.Lab of env netns, on which network faults act; None where links cannot be cut.
    network: Any = None
    # Where node files live as the node's host sees them, when that is not this machine's run_dir
    # (env ssh): node n's data and logs go under f"{remote_root}/{n}" and are copied back into
    # node_dir(n) when the environment closes.
    remote_root: str | None = None

    def address(self, node: str) -> str:
        return self.addresses.get(node, "127.0.0.1")

    def remote_dir(self, node: str) -> str:
        """The node's own directory on its host: put its data, logs and clock file here."""
        if self.remote_root is None:
            return str(self.node_dir(node))
        return f"{self.remote_root}/{node}"

    def clock_file(self, node: str) -> str:
        """The file (on the node's host) holding the node's wall-clock offset in milliseconds, in
        the clock shim's format (nemesis/clockshim): a signed integer; missing means 0."""
        return f"{self.remote_dir(node)}/clock-offset"

    _ports: dict[tuple[str, int], int] = field(default_factory=dict, repr=False)

    def port(self, node: str, base: int) -> int:
        """The port of a service on a node. On hosts of their own every node uses `base`; on one
        shared host (env local) each (node, service) gets a port the OS says is free, chosen once
        and then stable for the run, so concurrent runs on one machine never talk to each other's
        nodes."""
        if not self.shared_host:
            return base
        key = (node, base)
        if key not in self._ports:
            self._ports[key] = _free_port(self.address(node), set(self._ports.values()))
        return self._ports[key]

    def node_dir(self, node: str) -> Path:
        d = self.run_dir / "nodes" / node
        d.mkdir(parents=True, exist_ok=True)
        return d


def _free_port(address: str, taken: set[int]) -> int:
    """A port that is free now and lies below the kernel's ephemeral range, so that no outgoing
    connection can take it while a killed node waits to be restarted on it."""
    low = 32768
    try:
        low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(max(1024, low - 12000), low)
        if port in taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((address, port))
            except OSError:
                continue
        return port
    raise SystemError_(f"no free port found on {address}")


_TRUE = frozenset(("true", "yes", "on", "1"))
_FALSE = frozenset(("false", "no", "off", "0"))


@dataclass(frozen=True)
class Option:
    """One setting of a system (`--opt KEY=VALUE`), a workload (`--opt workload.KEY=VALUE`) or a
    nemesis fault (`FAULT:KEY=VALUE`): the one scheme all three declare their settings in.

    `default` is shown by `splitbrain list` as written; `kind` (str, int, float or bool) is what
    parse() turns the text into; `choices` the only texts allowed (if few); `low`/`high` bound a
    number. The harness parses every value given on the command line before anything starts, so a
    bad one is refused (exit 254) with parse()'s one-line reason, wherever it comes from.
    (Checkers declare theirs with checkers.options.Option: checkers import nothing from systems.)
    """

    default: Any
    doc: str
    choices: tuple[str, ...] | None = None
    kind: type = str
    low: float | None = None
    high: float | None = None

    def parse(self, key: str, text: Any) -> Any:
        """The value of `key=text` as `kind`; ValueError with a one-line reason otherwise."""
        if self.choices is not None and str(text) not in self.choices:
            raise ValueError(f"{key}={text}: expected one of {', '.join(self.choices)}")
        if self.kind is bool:
            lowered = str(text).strip().lower()
            if lowered not in _TRUE | _FALSE:
                raise ValueError(f"{key}={text}: expected true or false")
            return lowered in _TRUE
        if self.kind is str:
            return text
        if self.kind not in (int, float):  # a parsing function of its own, e.g. "none" or ms
            try:
                return self.kind(text)
            except (TypeError, ValueError) as e:
                raise ValueError(f"{key}={text}: {e}") from None
        try:
            value = self.kind(text)
        except (TypeError, ValueError):
            what = "a whole number" if self.kind is int else "a number"
            raise ValueError(f"{key}={text}: expected {what}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{key}={text}: expected a finite number")
        if (self.low is not None and value < self.low) or (self.high is not None
                                                            and value > self.high):
            bound = (f"between {self.low:g} and {self.high:g}" if self.low is not None
                     and self.high is not None else f"at least {self.low:g}"
                     if self.low is not None else f"at most {self.high:g}")
            raise ValueError(f"{key}={text}: must be {bound}")
        return value

    def value(self, options: dict[str, Any], key: str) -> Any:
        """The option `key` of `options` (its default when not given), parsed."""
        return self.parse(key, options.get(key, self.default))


def parse_options(declared: dict[str, Option], given: dict[str, Any],
                  prefix: str = "") -> dict[str, Any]:
    """Every declared option parsed from `given` (its default where not given); ValueError with
    Option.parse's one-line reason for a value that does not fit. `prefix` is how the keys are
    spelt on the command line (e.g. "workload."), for that reason. Keys nobody declared are the
    caller's to refuse."""
    return {key: option.parse(prefix + key, given.get(key, option.default))
            for key, option in declared.items()}


def whole_number(options: dict[str, str], declared: dict[str, Option], key: str, low: int,
                 expected: str = "a whole number") -> int:
    """The option `key` (its declared default when not given) as an int of at least `low`;
    ValueError with a one-line reason otherwise, saying what was `expected`."""
    raw = options.get(key, declared[key].default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{key}={raw!r}: expected {expected}") from None
    if value < low:
        raise ValueError(f"{key}={value}: must be at least {low}")
    return value


@dataclass(frozen=True)
class Offer:
    """What a system offers, declared once as its class attribute `offer` and read by the harness
    (run's checks before anything starts) and by `splitbrain list`.

    `workloads`: the workloads its client serves, the default first (None: any, e.g. a cluster
    the user brings); `options`: its `--opt KEY=VALUE` settings (any other key is refused);
    `bugs`: {name: what it breaks} for `--bug`; `node_counts`: the cluster sizes it runs on (None:
    any); `envs`: the environments it needs (None: any); `checkers`: per workload, checker specs
    that replace the workload's own (a system that promises something else, e.g. ZooKeeper's
    sequentially consistent reads); `checker_params`: per checker name, parameters merged into
    every spec of that checker (e.g. a slower progress bound).
    """

    workloads: tuple[str, ...] | None = None
    options: dict[str, Option] = field(default_factory=dict)
    bugs: dict[str, str] = field(default_factory=dict)
    node_counts: tuple[int, ...] | None = None
    envs: tuple[str, ...] | None = None
    checkers: dict[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)
    checker_params: dict[str, dict[str, Any]] = field(default_factory=dict)

    def require_workload(self, system: str, workload: str) -> None:
        """ValueError naming what `system` serves unless its client serves `workload` (the
        harness refuses such a run first; this guards a client asked for directly)."""
        if self.workloads is not None and workload not in self.workloads:
            raise ValueError(f"{system} supports the workloads {', '.join(self.workloads)}, "
                             f"not {workload!r}")

    def checkers_for(self, workload: str,
                     workload_checkers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The checker specs that judge `workload` on this system."""
        specs = [dict(s) for s in self.checkers.get(workload, workload_checkers)]
        return [{**s, **self.checker_params.get(s.get("name", ""), {})} for s in specs]


@runtime_checkable
class Client(Protocol):
    """Turns invocations into calls against one node.

    open() connects (to the node the worker is bound to); invoke() performs one operation and
    returns its Completion; it must answer `fail` only when the operation certainly had no effect,
    and `info` on a timeout, a dropped connection or any doubt. Library-level retries are off.
    close() releases the connection; the harness calls it after a timeout, from another thread.
    """

    def open(self, ctx: ClusterContext, node: str) -> None: ...

    def invoke(self, op: Invocation) -> Completion: ...

    def close(self) -> None: ...


@runtime_checkable
class System(Protocol):
    """Sets up and tears down a cluster. setup() returns only when the cluster is ready.

    `offer` declares what it offers (workloads, options, bugs, node counts, environments,
    checkers; see Offer). `check_options(options)` gets every declared option (defaults filled in,
    as given on the command line, each already parsed once by its Option) and raises ValueError
    with a one-line reason when they contradict each other.
    """

    name: str
    offer: ClassVar[Offer]

    def check_options(self, options: dict[str, str]) -> None: ...

    def setup(self, ctx: ClusterContext) -> None: ...

    def teardown(self) -> None: ...

    def client(self, workload: str) -> Client: ...


@runtime_checkable
class Killable(Protocol):
    def kill(self, node: str) -> None:
        """SIGKILL every process of the node."""

    def start(self, node: str) -> None:
        """Start the node again (after kill) from its persisted state."""


@runtime_checkable
class Pausable(Protocol):
    def pause(self, node: str) -> None:
        """SIGSTOP every process of the node."""

    def resume(self, node: str) -> None:
        """SIGCONT every process of the node."""


@runtime_checkable
class HasProcesses(Protocol):
    def processes(self, node: str) -> list[tuple[Any, Any]]:
        """(harness.hosts.Host, harness.hosts.Daemon) pairs of the node's running processes, so a
        nemesis can verify that a kill or pause really took effect."""


@runtime_checkable
class HasLeader(Protocol):
    def leader(self) -> str | None:
        """The node that currently leads, as the system itself reports it, or None."""


@runtime_checkable
class HasLogs(Protocol):
    def log_files(self, node: str) -> list[Path]:
        """Files worth keeping for a person reading the report."""


@runtime_checkable
class ClockSkewable(Protocol):
    """The system's nodes take wall-clock time from something the nemesis can move: an
    injectable clock reading ctx.clock_file(node) (bundled Python systems), or real processes
    started under the LD_PRELOAD clock shim (nemesis.clockshim.env_for) reading the same file.
    A system without this capability is refused clock faults."""

    def set_clock_offset(self, node: str, ms: int) -> None:
        """Make the node's wall clock run `ms` milliseconds off the true time (0 restores it)."""

    def wall_clock(self, node: str) -> float | None:
        """The node's wall-clock time (seconds since the epoch) as the node itself reports it now,
        or None when it does not answer; used to verify that a skew took effect."""


@runtime_checkable
class HealthCheck(Protocol):
    def healthy(self) -> bool:
        """True when the cluster answers again (used after heals instead of a sleep)."""
