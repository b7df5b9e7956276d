"""The System and Client protocols, and the optional capabilities a system may have.

As in Jepsen, a System only sets up and tears down a cluster; everything else it can do is a
separate, optional capability (Killable, Pausable, HasLeader, HasLogs, ClockSkewable) that the nemesis checks for
with isinstance() before offering a fault, so a system that cannot pause is simply not offered the
`pause` nemesis instead of pretending.

Systems are synchronous (they start processes and wait on sockets); the harness runs them in
threads. They stand on systems/control (hosts, the network, the clock shim) and never import
the harness, nemesis, checkers or reports.
"""

from __future__ import annotations

import random
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from systems.control.hosts import Host
from systems.control.net import Network


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

    `hosts[node]` is the systems.control.hosts.Host to run a node's processes on; `address(node)` is the IP
    clients and peers use; `port(node, base)` gives the port for a service (on one shared host,
    e.g. env local, each node gets base + its index; on hosts of their own every node uses base).
    """

    nodes: list[str]
    hosts: dict[str, Host]
    run_dir: Path
    seed: int
    bugs: frozenset[str] = frozenset()
    options: dict[str, str] = field(default_factory=dict)
    shared_host: bool = True  # all nodes on one host (env local): ports must differ
    addresses: dict[str, str] = field(default_factory=dict)
    # The links nemeses may cut (the lab of env netns, the SSH hosts' firewalls of env ssh); None
    # where links cannot be cut (env local).
    network: Network | None = None
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
        the clock shim's format (systems/control/clockshim): a signed integer; missing means 0."""
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


@dataclass(frozen=True)
class Option:
    """A system-specific setting, given as `--opt KEY=VALUE`; listed by `splitbrain list`."""

    default: str
    doc: str
    choices: tuple[str, ...] | None = None


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

    Optional class attributes the harness reads: `workloads` (names it has clients for), `bugs`
    ({name: description}), `options` ({key: Option}; any other --opt key is refused),
    `node_counts` (the node counts it accepts, e.g. (1,) or (6,); None for any), and an optional
    method `check_options(options: dict[str, str]) -> None` raising ValueError with a one-line
    reason when options contradict each other.
    """

    name: str

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
        """(systems.control.hosts.Host, systems.control.hosts.Daemon) pairs of the node's running processes, so a
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
    started under the LD_PRELOAD clock shim (systems.control.clockshim.env_for) reading the same file.
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
