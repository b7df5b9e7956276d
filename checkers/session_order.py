"""The `session-order` checker: does every client session see the system's history in order?

This is ZooKeeper's read guarantee (sequential consistency per session, "single system image"),
which is weaker than linearizability: a session may read stale data, but never older data than it
has already seen, and always its own writes. It works from facts the client records as extra
fields of each ok completion (systems/zookeeper/client.py defines them):

  session  which session ran the operation (ops without it are not judged);
  zxid     the newest zxid the session had been shown when the operation completed (the zxid of
           the last reply header), a position in the ensemble's total order of updates;
  mzxid    for reads and writes of a key: the zxid of the update that produced the value the
           operation read or wrote (null when a read found the key absent).

Within one session, in the order its operations ran (a session belongs to one process, whose
operations never overlap), the checker reports:

  zxid-went-back       an operation completed with a smaller zxid than an earlier one: the session
                       was shown an older state of the system than before;
  read-own-write-missed  a read of a key returned a value older than (or absent after) the
                       session's own earlier acknowledged write or cas of that key;
  read-went-back       a read of a key returned a value older than one the session had already
                       read of that key.

"Older" compares mzxids. Keys are assumed never deleted (the register workload never deletes),
so an absent read after a present one is always older. Failed and unknown operations carry no
facts and are skipped: only what the session was certainly shown counts.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from checkers.history import History, Operation

KINDS = ("zxid-went-back", "read-own-write-missed", "read-went-back")


def _summary(op: Operation, session_field: str, zxid_field: str,
             version_field: str) -> dict[str, Any]:
    return {"index": op.invoke_index, "complete_index": op.complete_index,
            "process": op.process, "node": op.node, "f": op.f, "key": op.key, "value": op.value,
            "session": op.extra.get(session_field), "zxid": op.extra.get(zxid_field),
            version_field: op.extra.get(version_field)}


def _older(a: int | None, b: int | None) -> bool:
    """Is version a older than version b? None (absent) is older than any version."""
    if b is None:
        return False
    return a is None or a < b


class SessionOrderChecker:
    """Per-session monotonic zxids, read-your-writes and monotonic reads, from recorded facts."""

    name = "session-order"

    def __init__(self, session_field: str = "session", zxid_field: str = "zxid",
                 version_field: str = "mzxid",
                 read_fs: list[str] | tuple[str, ...] = ("read",),
                 write_fs: list[str] | tuple[str, ...] = ("write", "cas"),
                 max_listed: int = 50) -> None:
        self.session_field = session_field
        self.zxid_field = zxid_field
        self.version_field = version_field
        self.read_fs = tuple(read_fs)
        self.write_fs = tuple(write_fs)
        self.max_listed = max_listed

    def check(self, history: History) -> dict[str, Any]:
        sessions: dict[Any, list[Operation]] = defaultdict(list)
        for op in history.operations():
            if op.type == "ok" and op.extra.get(self.session_field) is not None:
                sessions[op.extra[self.session_field]].append(op)
        checked = sum(len(ops) for ops in sessions.values())
        result: dict[str, Any] = {"valid": True, "sessions": len(sessions), "operations": checked,
                                  "anomaly_counts": {k: 0 for k in KINDS}, "anomalies": [],
                                  "note": ""}
        if not sessions:
            result["valid"] = "unknown"
            result["note"] = (f"no ok operation records a {self.session_field!r}: there is "
                              f"nothing to check session order against")
            return result
        anomalies: list[dict[str, Any]] = []
        for session, ops in sessions.items():
            ops.sort(key=lambda o: o.invoke_index)
            anomalies.extend(self._check_session(session, ops))
        for a in anomalies:
            result["anomaly_counts"][a["kind"]] += 1
        anomalies.sort(key=lambda a: a["op"]["index"])
        result["anomalies"] = anomalies[: self.max_listed]
        if anomalies:
            result["valid"] = False
            shown = "" if len(anomalies) <= self.max_listed else f" (first {self.max_listed} listed)"
            result["note"] = (f"{len(anomalies)} session-order anomalies{shown}: "
                              + ", ".join(f"{n} {k}" for k, n in result["anomaly_counts"].items()
                                          if n))
        return result

    def _check_session(self, session: Any, ops: list[Operation]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        newest: Operation | None = None  # the op with the largest zxid so far
        seen: dict[Any, Operation] = {}  # key -> the op that showed the newest version of it
        s = lambda op: _summary(op, self.session_field, self.zxid_field, self.version_field)
        for op in ops:
            zxid = op.extra.get(self.zxid_field)
            if isinstance(zxid, int):
                if newest is not None and zxid < newest.extra[self.zxid_field]:
                    found.append({"kind": "zxid-went-back", "session": session,
                                  "earlier": s(newest), "op": s(op),
                                  "explanation": f"zxid {zxid:#x} after {newest.extra[self.zxid_field]:#x} "
                                                 f"was already shown to this session"})
                elif newest is None or zxid > newest.extra[self.zxid_field]:
                    newest = op
            if self.version_field not in op.extra or op.key is None:
                continue
            version = op.extra.get(self.version_field)
            before = seen.get(op.key)
            if op.f in self.read_fs and before is not None:
                old = before.extra.get(self.version_field)
                if _older(version, old):
                    kind = ("read-own-write-missed" if before.f in self.write_fs
                            else "read-went-back")
                    found.append({"kind": kind, "session": session, "key": op.key,
                                  "earlier": s(before), "op": s(op),
                                  "explanation": f"read {op.value!r} (mzxid {_hex(version)}) after "
                                                 f"this session {'wrote' if kind == 'read-own-write-missed' else 'read'} "
                                                 f"{before.value!r} (mzxid {_hex(old)})"})
                    continue
            # Strictly newer only: a read of the session's own write keeps the write as witness.
            if op.f in self.read_fs + self.write_fs and (
                    before is None or _older(before.extra.get(self.version_field), version)):
                seen[op.key] = op
        return found


def _hex(v: Any) -> str:
    return f"{v:#x}" if isinstance(v, int) else "none"


__all__ = ["SessionOrderChecker", "KINDS"]
