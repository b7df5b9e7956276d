"""One daemon per node: starting, killing, pausing and watching it through the node's Host.

Most systems run exactly one long-lived process per node (an etcd member, a ZooKeeper or Kafka
JVM, a raftkv node, a keepalived daemon) and drive it the same way: start it in a process group of
its own with its output appended to a log in the node's directory, SIGKILL it (after a SIGCONT, so
that a paused one dies too), SIGSTOP and SIGCONT it, and during setup poll until the cluster is
ready while failing at once, naming the log to read, when a process exits.

OneDaemonPerNode is that machinery as a base class. A system that inherits it is Killable,
Pausable, HasProcesses and HasLogs, and writes only how to start its process (`_argv`, or
`_launch` when it needs more) and what "ready" means (its `_wait_ready`, most often a
`why_not_ready` callable handed to `_wait_until_ready`).

The Redis systems run several processes per node and keep their own machinery
(systems/redis/server.py).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any, Callable

from systems.control.hosts import Daemon
from systems.base import ClusterContext, SystemError_

# What a readiness check answers: None when ready, else (what is missing, the log that tells more).
NotReady = tuple[str, str | Path] | None


class OneDaemonPerNode:
    """The lifecycle of one daemon per node, and the capabilities that follow from it.

    A subclass sets `name` (the system's), `daemon_role` (what its process is called when it
    cannot start: "member", "server"; None for no name), `daemon_log` (the file in the node's
    directory its output goes to) and `kept_files` (the files there worth keeping for the report).
    It says how to start a node in `_argv(node)`, or in `_launch(node)` when that needs more, and
    when the cluster is ready in `_wait_ready(timeout)`, which `_start_all` calls with
    `ready_timeout`.
    """

    name: str
    ready_timeout: float  # seconds setup waits for the cluster to be ready
    daemon_role: str | None = None
    daemon_log: str
    kept_files: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.ctx: ClusterContext | None = None
        self._daemons: dict[str, Daemon] = {}  # node -> its running daemon
        # node -> the processes of its last start, kept after a kill so a nemesis can see them gone
        self._last_started: dict[str, list[Daemon]] = {}

    # ---- capabilities ---------------------------------------------------------------------------

    def teardown(self) -> None:
        for node in list(self._daemons):
            self._stop(node)

    def kill(self, node: str) -> None:
        self._stop(node)

    def start(self, node: str) -> None:
        if node in self._daemons and self._alive(node, self._daemons[node]):
            return
        self._launch(node)

    def pause(self, node: str) -> None:
        if node in self._daemons:
            self._signal(node, self._daemons[node], signal.SIGSTOP)

    def resume(self, node: str) -> None:
        if node in self._daemons:
            self._signal(node, self._daemons[node], signal.SIGCONT)

    def processes(self, node: str) -> list[tuple[Any, Any]]:
        """The node's processes as last started (even when killed, so a nemesis can see it)."""
        return [(self._host(node), daemon) for daemon in self._last_started.get(node, [])]

    def log_files(self, node: str) -> list[Path]:
        if self.ctx is None:
            return []
        node_dir = self.ctx.node_dir(node)
        return [p for p in (node_dir / name for name in self.kept_files) if p.exists()]

    # ---- setup ----------------------------------------------------------------------------------

    def _start_all(self, prepare: Callable[[str], Any]) -> None:
        """prepare(node) for every node (its config, a fresh data directory), then start every
        node and wait until the cluster is ready; whatever fails, no process is left running."""
        assert self.ctx is not None, "setup() first"
        try:
            for node in self.ctx.nodes:
                prepare(node)
            for node in self.ctx.nodes:
                self._launch(node)
            self._wait_ready(self.ready_timeout)
        except BaseException:
            self.teardown()
            raise

    def _wait_ready(self, timeout: float) -> None:
        raise NotImplementedError(f"{type(self).__name__} must say when its cluster is ready")

    # ---- processes ------------------------------------------------------------------------------

    def _host(self, node: str) -> Any:
        assert self.ctx is not None, "setup() first"
        return self.ctx.hosts[node]

    def _remote_log(self, node: str) -> str:
        """The daemon's log where the daemon writes it: in the node's directory on its host."""
        assert self.ctx is not None, "setup() first"
        return f"{self.ctx.remote_dir(node)}/{self.daemon_log}"

    def _local_log(self, node: str) -> Path:
        """The daemon's log in the run directory here: the same file, or on env ssh its copy."""
        assert self.ctx is not None, "setup() first"
        return self.ctx.node_dir(node) / self.daemon_log

    def _argv(self, node: str) -> list[str]:
        raise NotImplementedError(f"{type(self).__name__} must say how to start a node")

    def _launch(self, node: str) -> None:
        assert self.ctx is not None, "setup() first"
        self._start_daemon(node, self._argv(node), cwd=self.ctx.remote_dir(node))

    def _start_daemon(self, node: str, argv: list[str], env: dict[str, str] | None = None,
                      cwd: str | None = None) -> Daemon:
        log = self._remote_log(node)
        try:
            daemon = self._host(node).start_daemon(f"{self.name}-{node}", argv, log, env=env,
                                                   cwd=cwd)
        except Exception as e:  # HostError and kin: one line naming the node
            what = f"cannot start the {self.daemon_role}" if self.daemon_role else "cannot start"
            raise SystemError_(f"{self.name} {node}: {what}: {e} (log: {log})") from None
        self._daemons[node] = daemon
        self._last_started[node] = [daemon]
        return daemon

    def _stop(self, node: str) -> None:
        daemon = self._daemons.pop(node, None)
        if daemon is None:
            return
        self._signal(node, daemon, signal.SIGCONT)  # a paused process must die too
        self._signal(node, daemon, signal.SIGKILL)

    def _signal(self, node: str, daemon: Daemon, sig: int) -> None:
        self._host(node).signal(daemon, sig)

    def _alive(self, node: str, daemon: Daemon) -> bool:
        return self._host(node).alive(daemon)

    # ---- readiness ------------------------------------------------------------------------------

    def _exit_reason(self, node: str, daemon: Daemon) -> str:
        """Why a daemon that exited during setup stopped: its log's last line, and the log."""
        return f"{last_line(self._host(node).read_log(daemon))} (log: {daemon.log})"

    def _check_alive(self) -> None:
        """SystemError_ naming the node and its log when a daemon has exited (its port was
        taken, its config refused): waiting any longer for it would only hide why."""
        for node, daemon in self._daemons.items():
            if not self._alive(node, daemon):
                raise SystemError_(f"{self.name} {node} exited during setup: "
                                   f"{self._exit_reason(node, daemon)}")

    def _not_ready(self, timeout: float, what: str, log: str | Path) -> SystemError_:
        return SystemError_(f"{self.name} not ready after {timeout:g} s: {what} (log: {log})")

    def _wait_until_ready(self, why_not_ready: Callable[[], NotReady], timeout: float,
                          poll_s: float = 0.25, deadline: float | None = None) -> None:
        """Poll why_not_ready() until it answers None, failing at once when a daemon exits; at
        the deadline (`timeout` s from now, or a time.monotonic() shared by several waits) its
        last answer becomes the SystemError_."""
        if deadline is None:
            deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            missing = why_not_ready()
            if missing is None:
                return
            if time.monotonic() >= deadline:
                raise self._not_ready(timeout, *missing)
            time.sleep(poll_s)


def last_line(text: str) -> str:
    """The last non-blank line of a log, or "no output"."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


__all__ = ["OneDaemonPerNode", "NotReady", "last_line"]
