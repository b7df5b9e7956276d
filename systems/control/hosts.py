"""Hosts: one control interface for running commands and daemons where a node lives.

Every nemesis and every system goes through a Host, so a fault works the same on every kind of
host. Implementations: LocalHost (processes on this machine, 127.0.0.1); namespace and SSH hosts
implement the same protocol.

Daemons are started in their own session (process group) so that a kill or pause reaches every
process the daemon forked, and so Ctrl-C at the terminal does not reach them before the harness
has decided what to do.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence, runtime_checkable


class HostError(RuntimeError):
    """A command or daemon could not be run on a host (exit 255)."""


class CommandError(HostError):
    """A command that could not be started, did not finish, or exited non-zero.

    The one error for a failed command, wherever it ran (this machine's root namespace, a lab
    node, an SSH host): `host` (None for this machine outside any node), `argv`, `exit_code`
    (None when the command never ran or timed out), `stdout` and `stderr`. Its message is one
    line: where, the command, and the last line it wrote (or why it did not run).
    """

    def __init__(self, host: str | None, argv: Sequence[str], exit_code: int | None = None,
                 stdout: str = "", stderr: str = "", why: str | None = None) -> None:
        self.host = host
        self.argv = list(argv)
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr
        if why is None:
            why = (stderr.strip() or stdout.strip() or f"exit {exit_code}").splitlines()[-1]
        self.why = why  # the reason alone, for messages that name the host and command their way
        where = f"{host}: " if host else ""
        super().__init__(f"{where}{shlex.join(self.argv)}: {why}")


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    stdout: str
    stderr: str


def run_checked(host: "Host", argv: Sequence[str], timeout: float = 30.0,
                input: str | None = None) -> CommandResult:
    """host.run(argv), raising CommandError unless the command exits 0."""
    result = host.run(argv, timeout=timeout, input=input)
    if result.exit_code != 0:
        raise CommandError(host.name, argv, result.exit_code, result.stdout, result.stderr)
    return result


@dataclass(frozen=True)
class Daemon:
    """A long-running process started on a host."""

    host: str
    name: str
    pid: int
    log: str


@runtime_checkable
class Host(Protocol):
    name: str

    def run(self, argv: Sequence[str], timeout: float = 30.0, input: str | None = None) -> CommandResult:
        """Run a command to completion; HostError when it cannot be started or times out."""

    def upload(self, local: Path, remote: str) -> None: ...

    def download(self, remote: str, local: Path) -> None: ...

    def start_daemon(self, name: str, argv: Sequence[str], log: str,
                     env: dict[str, str] | None = None, cwd: str | None = None) -> Daemon:
        """Start a process that outlives this call, stdout and stderr appended to `log`."""

    def signal(self, daemon: Daemon, sig: int) -> None:
        """Send a signal to the daemon's whole process group; a gone process is not an error."""

    def alive(self, daemon: Daemon) -> bool: ...

    def read_log(self, daemon: Daemon) -> str: ...

    def close(self) -> None:
        """Kill every daemon this host started and release connections."""


class LocalHost:
    """Processes on this machine. Used by env `local` (all nodes share 127.0.0.1)."""

    def __init__(self, name: str = "localhost", prefix: Sequence[str] = (),
                 on_daemon: Callable[[Daemon], None] | None = None) -> None:
        self.name = name
        self._prefix = list(prefix)  # e.g. ["ip", "netns", "exec", NS] for a namespace host
        self._on_daemon = on_daemon  # told of each daemon as it starts (a run's or lab's ledger)
        self._procs: dict[int, subprocess.Popen] = {}
        self._lock = threading.Lock()

    def run(self, argv: Sequence[str], timeout: float = 30.0, input: str | None = None) -> CommandResult:
        try:
            p = subprocess.run(self._prefix + list(argv), capture_output=True, text=True,
                               timeout=timeout, input=input)
        except FileNotFoundError as e:
            raise CommandError(self.name, argv, why=f"cannot run: {e.strerror}") from None
        except subprocess.TimeoutExpired:
            raise CommandError(self.name, argv, why=f"did not finish in {timeout:g} s") from None
        return CommandResult(p.returncode, p.stdout, p.stderr)

    def upload(self, local: Path, remote: str) -> None:
        Path(remote).parent.mkdir(parents=True, exist_ok=True)
        Path(remote).write_bytes(Path(local).read_bytes())

    def download(self, remote: str, local: Path) -> None:
        Path(local).parent.mkdir(parents=True, exist_ok=True)
        Path(local).write_bytes(Path(remote).read_bytes())

    def start_daemon(self, name: str, argv: Sequence[str], log: str,
                     env: dict[str, str] | None = None, cwd: str | None = None) -> Daemon:
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        full_env = dict(os.environ)
        full_env.update(env or {})
        with open(log, "ab") as out:
            try:
                p = subprocess.Popen(self._prefix + list(argv), stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=full_env, cwd=cwd,
                                     start_new_session=True)
            except OSError as e:
                raise HostError(f"{self.name}: cannot start {name}: {e}") from None
        with self._lock:
            self._procs[p.pid] = p
        daemon = Daemon(self.name, name, p.pid, str(log))
        if self._on_daemon is not None:
            self._on_daemon(daemon)
        return daemon

    def signal(self, daemon: Daemon, sig: int) -> None:
        try:
            os.killpg(daemon.pid, sig)
        except ProcessLookupError:
            pass
        if sig == signal.SIGKILL:
            self._reap(daemon.pid)

    def _reap(self, pid: int) -> None:
        with self._lock:
            p = self._procs.pop(pid, None)
        if p is not None:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def alive(self, daemon: Daemon) -> bool:
        with self._lock:
            p = self._procs.get(daemon.pid)
        if p is not None:
            return p.poll() is None
        try:
            os.kill(daemon.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def read_log(self, daemon: Daemon) -> str:
        try:
            return Path(daemon.log).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def close(self) -> None:
        with self._lock:
            pids = list(self._procs)
        for pid in pids:
            for sig in (signal.SIGCONT, signal.SIGKILL):  # a paused process must die too
                try:
                    os.killpg(pid, sig)
                except ProcessLookupError:
                    pass
            self._reap(pid)
