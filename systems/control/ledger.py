"""Ledgers: a JSON file listing what a run or a lab is about to start, written before it starts.

A harness killed with SIGKILL cannot clean up after itself. So whatever it starts that would
outlive it (daemons, namespaces, links, firewall rules) is first written to a ledger together
with the owner's pid and start time; `splitbrain clean` later reads the ledgers whose owner is
gone and removes what they list. Labs keep theirs under /run/splitbrain/labs (systems/control/
lab.py), runs under the harness's RUN_STATE_DIR (harness/envs.py); both are this one class.

A pid alone is not an identity (the kernel reuses them), so every process is recorded with its
start time (psutil's create_time) and only the process with both the pid and the start time is
ever signalled.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, Iterable

import psutil


def start_time(pid: int) -> float | None:
    """When pid started (seconds since the epoch), or None when there is no such process."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, ValueError):
        return None


# Ledgers written before psutil recorded `start` as /proc/<pid>/stat's field 22: clock ticks
# since boot, an int far below any epoch time. A ledger outlives an upgrade, and misreading its
# owner as gone would make `clean` tear down a live run's namespaces.
_TICKS_BELOW = 10**9


def same_process_alive(pid: int, start: float | None) -> bool:
    """pid runs and, when `start` is known, is the very process that started then."""
    now = start_time(pid)
    if now is None or start is None:
        return now is not None
    if isinstance(start, int) and start < _TICKS_BELOW:
        ticks_per_s = os.sysconf("SC_CLK_TCK")
        return abs((now - psutil.boot_time()) * ticks_per_s - start) < 2
    # create_time has the kernel's clock-tick resolution (10 ms); JSON keeps the float exactly.
    return abs(now - start) < 0.005


def owner_record(pid: int | None = None) -> dict[str, Any]:
    pid = os.getpid() if pid is None else pid
    return {"pid": pid, "start": start_time(pid)}


def kill(pid: int, start: float | None = None, group: bool = False) -> str | None:
    """SIGCONT then SIGKILL pid (its whole process group with `group`) if that very process still
    runs (a stopped process must die too); the process's name when signalled, else None."""
    if pid == os.getpid():
        return None
    try:
        proc = psutil.Process(pid)
        name = proc.name()
    except (psutil.Error, ValueError):
        return None
    if start is not None and not same_process_alive(pid, start):
        return None
    for sig in (signal.SIGCONT, signal.SIGKILL):
        try:
            if group:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            return None
        except PermissionError:
            if not group:
                return None
            try:
                os.kill(pid, sig)  # not allowed to signal the group: at least the daemon itself
            except OSError:
                return None
    return name


def wait_gone(pids: Iterable[int], timeout: float = 5.0) -> None:
    """Wait (at most `timeout` in all) until every pid is gone or a zombie; reap our children."""
    deadline = time.monotonic() + timeout
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)  # our own child: reap it, or it stays a zombie
            except ChildProcessError:
                pass
            try:
                if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.Error:
                break
            time.sleep(0.02)


class Ledger:
    """One ledger file: `owner` (pid and start time of the process that writes it) plus lists of
    entries under named keys ("items" of a lab; "daemons" and "rules" of a run) and any other
    fields its writer adds. Every change is written at once (atomically, by rename), and only
    once there is something to record, unless `save()` is called."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data
        self._saved = False
        self._lock = threading.Lock()

    @classmethod
    def create(cls, path: Path, lists: Iterable[str], **fields: Any) -> "Ledger":
        """A ledger owned by this process (not written until the first entry or save())."""
        return cls(path, {**fields, "owner": owner_record(), **{key: [] for key in lists}})

    @classmethod
    def load_all(cls, directory: Path, pattern: str) -> list["Ledger"]:
        """Every readable ledger in `directory` whose name matches `pattern`, by name."""
        ledgers = []
        if directory.is_dir():
            for path in sorted(directory.glob(pattern)):
                try:
                    ledgers.append(cls(path, json.loads(path.read_text())))
                except (OSError, ValueError):
                    continue
        return ledgers

    def save(self) -> None:
        with self._lock:
            self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1))
        os.replace(tmp, self.path)
        self._saved = True

    def add(self, key: str, entry: dict[str, Any]) -> dict[str, Any]:
        """Append `entry` to the list `key` and write the ledger; returns the entry."""
        with self._lock:
            self.data.setdefault(key, []).append(entry)
            self._save()
        return entry

    def discard(self, key: str, entry: dict[str, Any]) -> None:
        """Drop `entry` from the list `key` (no-op when absent) and write the ledger."""
        with self._lock:
            if entry in self.data.get(key, []):
                self.data[key].remove(entry)
                self._save()

    def entries(self, key: str, kind: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.data.get(key, []) if kind is None or e.get("kind") == kind]

    def owner_alive(self) -> bool:
        owner = self.data.get("owner") or {}
        return "pid" in owner and same_process_alive(owner["pid"], owner.get("start"))

    def remove(self) -> None:
        """Delete the file (the run ended and cleaned up after itself)."""
        if self._saved or self.path.exists():
            self.path.unlink(missing_ok=True)
