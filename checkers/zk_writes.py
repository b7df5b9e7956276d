"""The `linearizable-writes` checker: are the writes and compare-and-sets linearizable, whatever
the reads saw?

ZooKeeper promises linearizable writes (every update goes through the leader's atomic broadcast
and conditional updates check the version there) but not linearizable reads: a plain read is
served by whichever server the session is connected to, which may be behind the leader. Checking
a ZooKeeper history with the full linearizability check would therefore report the stale reads
ZooKeeper never promised against. This checker runs the same search (checkers.linearizable) on
the history with every read removed, so that it judges exactly the promise ZooKeeper makes: that
some order of the updates, consistent with real time, explains every acknowledged write and cas
(a cas that succeeded proves the register held its expected value at that point). What reads
saw is judged separately, by the `session-order` checker.
"""

from __future__ import annotations

from typing import Any

from checkers.history import History
from checkers.linearizable import LinearizabilityChecker


def without_reads(history: History, read_fs: tuple[str, ...] = ("read",)) -> tuple[History, int]:
    """The history with every read invocation and its completion removed; and how many reads
    were removed. A completion is matched to its invocation by process, as pair_operations does."""
    kept = []
    open_read: dict[Any, bool] = {}  # process -> whether its open operation is a read
    removed = 0
    for e in history.events:
        if not e.is_client:
            kept.append(e)
            continue
        if e.type == "invoke":
            is_read = e.f in read_fs
            open_read[e.process] = is_read
            removed += is_read
            if not is_read:
                kept.append(e)
            continue
        if open_read.pop(e.process, False):
            continue
        kept.append(e)
    return History(kept, list(history.warnings), history.source, dict(history.meta)), removed


class LinearizableWritesChecker:
    """The linearizability check of a model (default cas-register) over updates only."""

    name = "linearizable-writes"

    def __init__(self, model: Any = "cas-register", timeout: float | None = None,
                 split_keys: bool = True, workers: int | None = None,
                 read_fs: list[str] | tuple[str, ...] = ("read",)) -> None:
        self.read_fs = tuple(read_fs)
        self.inner = LinearizabilityChecker(model=model, timeout=timeout, split_keys=split_keys,
                                            workers=workers)

    def check(self, history: History) -> dict[str, Any]:
        updates, removed = without_reads(history, self.read_fs)
        result = self.inner.check(updates)
        result["reads_removed"] = removed
        note = (f"reads removed ({removed}): only writes and cas are judged; reads are the "
                f"session-order checker's")
        result["note"] = f"{result['note']}; {note}" if result.get("note") else note
        return result


__all__ = ["LinearizableWritesChecker", "without_reads"]
