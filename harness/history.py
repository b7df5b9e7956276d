"""Writing the history: every event appended to history.jsonl the moment it happens.

Index and time are taken under one lock, so index order is time order. Each line goes to the
kernel with a single os.write on an O_APPEND descriptor: a harness killed with SIGKILL leaves every
event written up to that moment on disk (at worst a torn last line, which readers skip). The
reading half of the contract is checkers/history.py.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from checkers.history import Event


class HistoryWriter:
    def __init__(self, path: str | Path, clock: Callable[[], int] = time.monotonic_ns) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._lock = threading.Lock()
        self._clock = clock
        self._origin = clock()
        self._index = 0
        self.counts: Counter[str] = Counter()  # by completion type, for the live display
        self.closed = False

    def elapsed_ns(self) -> int:
        return self._clock() - self._origin

    def append(self, process: int | str, type_: str, f: str, value: Any = None, *,
               key: Any = None, node: str | None = None, error: Any = None,
               **extra: Any) -> dict[str, Any]:
        """Record one event now and return it (with its index and time)."""
        with self._lock:
            # The record checkers read back (checkers.history.Event), so the fields and their
            # order are written where they are read.
            event = Event(self._index, self._clock() - self._origin, process, type_, f, value,
                          key, node, error, extra).to_dict()
            line = (json.dumps(event, default=_jsonable, separators=(",", ":")) + "\n").encode()
            if not self.closed:
                os.write(self._fd, line)
            self._index += 1
            if process != "nemesis" and type_ != "invoke":
                self.counts[type_] += 1
            return event

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self.closed = True
                os.close(self._fd)


def _jsonable(x: Any) -> Any:
    if isinstance(x, (set, frozenset, tuple)):
        return list(x)
    if isinstance(x, bytes):
        return x.decode("utf-8", "replace")
    return repr(x)
