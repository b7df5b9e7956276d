"""Small transactional histories for the elle checker's tests, written the way the anomalies are
defined: a transaction is T(micro-ops..., process=, start=, end=, type=).

    history(T(["append", "x", 1]), T(["r", "x", [1]]))

Unless told otherwise each transaction has a process of its own and all of them overlap in time
(every invocation comes before every completion), so no session or real-time order relates them
and only their reads and writes do.
"""

from __future__ import annotations

from typing import Any

from checkers.history import Event, History

MS = 1_000_000


def T(*mops: Any, process: Any = None, start: float | None = None, end: float | None = None,
      type: str = "ok") -> dict[str, Any]:
    return {"mops": [list(m) for m in mops], "process": process, "start": start, "end": end,
            "type": type}


def history(*txns: dict[str, Any]) -> History:
    rows = []
    n = len(txns)
    for i, t in enumerate(txns):
        process = i if t["process"] is None else t["process"]
        start = i if t["start"] is None else t["start"]
        end = n + 1000 + i if t["end"] is None else t["end"]
        invoked = [[m[0], m[1], None] if len(m) == 3 and m[0] in ("r", "read") else m
                   for m in t["mops"]]
        rows.append((start, 0, i, process, "invoke", invoked))
        if t["type"] is not None:
            done = t["mops"] if t["type"] == "ok" else invoked
            rows.append((end, 1, i, process, t["type"], done))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    events = [Event(index, int(r[0] * MS), r[3], r[4], "txn", r[5])
              for index, r in enumerate(rows)]
    return History(events)
