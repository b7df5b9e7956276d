"""Small Kafka histories for the delivery checker's tests, written once and spelled two ways:
as our history.jsonl (docs/op-shapes.md, workload `group`) and as Jepsen's kafka history.edn.

    h = Kafka()
    h.send(0, "a", offset=0)                 # a producer's send to partition 0, acknowledged
    h.poll({0: [(0, "a")]}, process=1)       # a consumer's poll
    h.jsonl(path) / h.edn(path)              # the same history in each format

Ops run one after another (each completes before the next is invoked) unless `overlap=True`
keeps an op open until the end of the history, which takes it out of real-time order. Features
only our format has (groups, members, rebalance logs with times, commits, nemesis crashes) are
written to jsonl only; in EDN a crash is Jepsen's client op `crash`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from checkers.formats import read_history
from checkers.history import History


class Kafka:
    def __init__(self, step_ms: float = 1.0) -> None:
        self.ops: list[dict[str, Any]] = []
        self.step_ns = step_ms * 1_000_000  # time from one op's invocation to its completion

    def _op(self, **op: Any) -> "Kafka":
        op.setdefault("process", 0)
        op.setdefault("type", "ok")
        op.setdefault("overlap", False)
        op.setdefault("extra", {})
        self.ops.append(op)
        return self

    def send(self, p: Any, v: Any, offset: int | None = None, **kw: Any) -> "Kafka":
        """One message to partition p; `offset` is what Kafka returned (ok sends need one)."""
        return self._op(f="send", sends=[(p, v, offset)], **kw)

    def sends(self, *records: tuple[Any, Any, int | None], **kw: Any) -> "Kafka":
        """Several messages in one op (Jepsen's shape; in jsonl a txn of sends only)."""
        return self._op(f="txn" if kw.pop("txn", True) else "send", sends=list(records), **kw)

    def poll(self, polled: dict[Any, list[tuple[int, Any]]], **kw: Any) -> "Kafka":
        return self._op(f="poll", polled=polled, **kw)

    def txn(self, polled: dict[Any, list[tuple[int, Any]]] | None = None,
            sends: list[tuple[Any, Any, int | None]] | None = None, **kw: Any) -> "Kafka":
        return self._op(f="txn", polled=polled or {}, sends=sends or [], **kw)

    def subscribe(self, logs: list[Any], commit: str | None = None, **kw: Any) -> "Kafka":
        return self._op(f="subscribe", logs=logs, commit=commit, **kw)

    def assign(self, logs: list[Any], commit: str | None = None, **kw: Any) -> "Kafka":
        return self._op(f="assign", logs=logs, commit=commit, **kw)

    def commit(self, offsets: dict[Any, int], **kw: Any) -> "Kafka":
        return self._op(f="commit", offsets=offsets, **kw)

    def crash(self, process: Any, member: Any = None) -> "Kafka":
        """The consumer of `process` killed (jsonl: a nemesis event; EDN: Jepsen's crash op)."""
        return self._op(f="crash", process=process, member=member, type="info")

    # -- our jsonl -----------------------------------------------------------------------------

    def events(self) -> list[dict[str, Any]]:
        rows: list[tuple[float, dict[str, Any]]] = []
        end = 2 * len(self.ops) + 10
        for i, op in enumerate(self.ops):
            start, stop = 2 * i, (end + i if op["overlap"] else 2 * i + 1)
            if op["f"] == "crash":
                value = {"fault": "crash", "id": i, "spec": "crash:consumers", "targets": [],
                         "processes": [op["process"]]}
                if op["member"] is not None:
                    value["members"] = [op["member"]]
                rows.append((start, {"process": "nemesis", "type": "invoke", "f": "start-crash",
                                     "value": value}))
                rows.append((stop, {"process": "nemesis", "type": "info", "f": "start-crash",
                                    "value": value}))
                continue
            invoke, done = self._values(op)
            fields = {k: op[k] for k in ("group", "member") if op.get(k) is not None}
            rows.append((start, {"process": op["process"], "type": "invoke", "f": op["f"],
                                 "value": invoke, **fields}))
            if op["type"] is not None:
                rows.append((stop, {"process": op["process"], "type": op["type"], "f": op["f"],
                                    "value": done, **fields, **op["extra"]}))
        rows.sort(key=lambda r: r[0])
        return [{"index": n, "time": int(t * self.step_ns), **e} for n, (t, e) in enumerate(rows)]

    def _values(self, op: dict[str, Any]) -> tuple[Any, Any]:
        f, ok = op["f"], op["type"] == "ok"
        if f == "send":
            (p, v, o), = op["sends"]
            invoke = {"key": f"k{v}", "value": v}
            return invoke, ({**invoke, "partition": p, "offset": o} if ok else invoke)
        if f == "poll":
            return None, ({str(p): [list(x) for x in xs] for p, xs in op["polled"].items()}
                          if ok else None)
        if f == "txn":
            sent = [{"key": f"k{v}", "value": v, "partition": p,
                     **({"offset": o} if o is not None else {})} for p, v, o in op["sends"]]
            polled = {str(p): [list(x) for x in xs] for p, xs in op.get("polled", {}).items()}
            return None, {"poll": polled, "send": sent}
        if f in ("subscribe", "assign"):
            value: dict[str, Any] = ({"topics": ["t"]} if f == "subscribe" else
                                     {"partitions": op["logs"]})
            if f == "subscribe" and op.get("named"):
                value = {"partitions": op["logs"]}
            if op.get("commit"):
                value["commit"] = op["commit"]
            return value, value
        if f == "commit":
            value = {"offsets": {str(p): o for p, o in op["offsets"].items()}}
            return value, value
        return None, None

    def jsonl(self, path: Path) -> Path:
        path.write_text("".join(json.dumps(e) + "\n" for e in self.events()))
        return path

    # -- Jepsen's EDN --------------------------------------------------------------------------

    def edn(self, path: Path) -> Path:
        rows: list[tuple[float, str]] = []
        end = 2 * len(self.ops) + 10
        for i, op in enumerate(self.ops):
            start, stop = 2 * i, (end + i if op["overlap"] else 2 * i + 1)
            invoke, done = self._mops(op)
            rows.append((start, _edn_op(op["process"], "invoke", op["f"], invoke, {})))
            if op["type"] is not None:
                extra = {}
                log = op["extra"].get("rebalance_log")
                if log:
                    extra["rebalance-log"] = [{"keys": e.get("assigned", e.get("revoked", e.get(
                        "lost", e.get("keys", []))))} for e in log]
                rows.append((stop, _edn_op(op["process"], op["type"], op["f"], done, extra)))
        rows.sort(key=lambda r: r[0])
        lines = [text.replace("{", f"{{:index {n}, :time {int(t * self.step_ns)}, ", 1)
                 for n, (t, text) in enumerate(rows)]
        path.write_text("[" + "\n".join(lines) + "]\n")
        return path

    def _mops(self, op: dict[str, Any]) -> tuple[Any, Any]:
        f, ok = op["f"], op["type"] == "ok"
        if f in ("send", "txn", "poll"):
            sends = op.get("sends", [])
            invoke = [[_K("send"), p, v] for p, v, _o in sends]
            done = [[_K("send"), p, [o, v]] if ok or o is not None else [_K("send"), p, v]
                    for p, v, o in sends]
            if f in ("poll", "txn") and (op.get("polled") is not None):
                invoke = invoke + [[_K("poll")]]
                done = done + ([[_K("poll"), {p: [list(x) for x in xs]
                                              for p, xs in op["polled"].items()}]]
                               if ok else [[_K("poll")]])
            return invoke, done
        if f in ("subscribe", "assign"):
            return list(op["logs"]), list(op["logs"])
        return None, None

    def history(self, tmp: Path, fmt: str) -> History:
        path = self.jsonl(tmp / "history.jsonl") if fmt == "jsonl" else self.edn(tmp / "h.edn")
        return read_history(path)


class _K(str):
    """An EDN keyword."""


def _edn(x: Any) -> str:
    if x is None:
        return "nil"
    if isinstance(x, _K):
        return ":" + x
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, (int, float)):
        return repr(x)
    if isinstance(x, str):
        return json.dumps(x)
    if isinstance(x, dict):
        return "{" + ", ".join(f"{_edn(k)} {_edn(v)}" for k, v in x.items()) + "}"
    if isinstance(x, (list, tuple)):
        return "[" + " ".join(_edn(v) for v in x) + "]"
    raise TypeError(x)


def _edn_op(process: Any, type_: str, f: str, value: Any, extra: dict[str, Any]) -> str:
    fields = {_K("process"): process, _K("type"): _K(type_), _K("f"): _K(f), _K("value"): value}
    fields.update({_K(k): v for k, v in extra.items()})
    return _edn(fields)
