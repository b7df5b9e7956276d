"""The node's wall clock, which the clock nemesis can move while the node runs.

A raftkv node takes wall-clock time (log stamps, the `wall_time` its status reports) from a
Clock, never from time.time() directly. The Clock adds the offset in milliseconds written in the
file named by $SPLITBRAIN_CLOCK_FILE: the clock shim's format (systems/control/clockshim), a signed
integer, a missing file meaning 0. Like the shim, it looks at the file at most every 20 ms.
Monotonic time (what the Raft core's timers run on) is never shifted, as with a real NTP step.
"""

from __future__ import annotations

import os
import time

CLOCK_FILE_ENV = "SPLITBRAIN_CLOCK_FILE"  # the same variable the clock shim reads
_RECHECK_S = 0.02


class Clock:
    def __init__(self, offset_file: str | None = None) -> None:
        self.offset_file = offset_file
        self._offset_s = 0.0
        self._checked_at = float("-inf")
        self._seen: tuple[int, int, int] | None = None  # inode, size, mtime of the file read

    @classmethod
    def from_env(cls) -> "Clock":
        return cls(os.environ.get(CLOCK_FILE_ENV) or None)

    def _refresh(self) -> None:
        now = time.monotonic()
        if self.offset_file is None or now - self._checked_at < _RECHECK_S:
            return
        self._checked_at = now
        try:
            st = os.stat(self.offset_file)
        except OSError:
            self._seen, self._offset_s = None, 0.0
            return
        seen = (st.st_ino, st.st_size, st.st_mtime_ns)
        if seen == self._seen:
            return
        try:
            with open(self.offset_file) as f:
                self._offset_s = int(f.read().strip() or 0) / 1000.0
            self._seen = seen
        except (OSError, ValueError):
            pass  # half-written or unreadable: keep the last good offset, look again soon

    def time(self) -> float:
        """Seconds since the epoch, as this node believes."""
        self._refresh()
        return time.time() + self._offset_s


CLOCK = Clock.from_env()
