"""The `kafka-txn` checker: aborted reads and exactly-once processing of Kafka transactions.

Inputs (op shapes in docs/op-shapes.md, workload workloads/txn.py): `transform` ops, one
consume-transform-produce transaction each, whose value lists what it consumed ([offset, value]
of its input partition) and whether it was meant to abort; `read` ops of read_committed consumers
returning [partition, offset, record] with record = {"txn", "in": [partition, offset], "value"};
final `read`s (key = output partition, "phase": "final") draining each output partition, and
final `committed` ops giving the group's committed offset of each input partition.

Definitions:
* aborted-read: a read returned a record of a transaction that certainly did not commit: its
  transform is ok with abort=true (aborted on purpose), or fail (aborted after an error).
* exactly-once: each input record (partition, offset) is processed by exactly one committed
  transaction. Violations: `duplicate` (two committed transactions processed one input record:
  seen as two output records in reads, or as two ok committed transforms that consumed it),
  `missing` (an input record that a committed transform consumed, or that lies below the group's
  final committed offset, has no output record in the complete final drains), `wrong-value` (an
  output record carries a value other than the one written at its input offset).
* unknown-txn: a record whose transaction no transform started (counted; invalid).
`missing` needs complete final drains of the output partitions (the workload writes the output of
input partition p to output partition p); without them the verdict is unknown rather than valid. Transforms of unknown outcome (info) may or may not have committed.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from checkers.history import History, Operation

NS_PER_S = 1_000_000_000
MAX_LISTED = 100


def _ref(op: Operation) -> dict[str, Any]:
    return {"op": op.id, "process": op.process, "f": op.f, "type": op.type,
            "invoke_index": op.invoke_index, "complete_index": op.complete_index,
            "start_s": round(op.start / NS_PER_S, 6),
            "end_s": round(op.end / NS_PER_S, 6) if math.isfinite(op.end) else None,
            "node": op.node, "error": op.error, "final": op.extra.get("phase") == "final"}


def _record(r: Any) -> tuple[int, int, dict[str, Any]] | None:
    """(partition, offset, record) from a read's [partition, offset, record], or None."""
    if not (isinstance(r, (list, tuple)) and len(r) == 3):
        return None
    p, o, rec = r
    if not (isinstance(p, int) and isinstance(o, int) and isinstance(rec, dict)):
        return None
    inp = rec.get("in")
    if not (isinstance(inp, (list, tuple)) and len(inp) == 2 and "txn" in rec):
        return None
    return p, o, rec


class KafkaTxnChecker:
    """Invalid on an aborted read or an input record processed zero or several times."""

    name = "kafka-txn"

    def check(self, history: History) -> dict[str, Any]:
        ops = history.operations()
        transforms: dict[str, Operation] = {}
        for op in ops:
            if op.f == "transform" and isinstance(op.invoke_value, dict) \
                    and "txn" in op.invoke_value:
                transforms[str(op.invoke_value["txn"])] = op
        reads = [op for op in ops if op.f == "read" and op.type == "ok"
                 and isinstance(op.value, list)]

        def result_of(op: Operation) -> dict[str, Any]:
            return op.value if isinstance(op.value, dict) else {}

        def committed(op: Operation) -> bool:  # certainly committed
            return op.type == "ok" and not result_of(op).get("abort")

        def aborted(op: Operation) -> bool:  # certainly not committed
            return op.type == "fail" or (op.type == "ok" and bool(result_of(op).get("abort")))

        # What was written at each input position: acknowledged sends and consumed records.
        inputs: dict[tuple[int, int], Any] = {}
        for op in ops:
            if op.f == "send" and op.type == "ok" and isinstance(op.value, dict) \
                    and op.value.get("offset") is not None:
                inputs[(op.value["partition"], op.value["offset"])] = op.value["value"]
        for op in transforms.values():
            res = result_of(op)
            for item in res.get("consumed") or []:
                if isinstance(item, (list, tuple)) and len(item) == 2:
                    inputs.setdefault((res.get("partition"), item[0]), item[1])

        aborted_reads: list[dict[str, Any]] = []
        unknown_txn: list[dict[str, Any]] = []
        wrong_value: list[dict[str, Any]] = []
        malformed = 0
        # input position -> transaction ids of committed output records seen for it
        processed_by: dict[tuple[int, int], set[str]] = defaultdict(set)
        outputs: dict[tuple[int, int], list[list[Any]]] = defaultdict(list)
        seen_positions: set[tuple[int, int]] = set()
        for op in reads:
            for raw in op.value:
                rec = _record(raw)
                if rec is None:
                    malformed += 1
                    continue
                p, o, body = rec
                txn = str(body["txn"])
                inp = (body["in"][0], body["in"][1])
                t = transforms.get(txn)
                if t is None:
                    unknown_txn.append({"read": _ref(op), "record": [p, o, body]})
                    continue
                if aborted(t):
                    aborted_reads.append({"read": _ref(op), "record": [p, o, body],
                                          "transform": _ref(t),
                                          "why": "aborted on purpose" if t.type == "ok"
                                          else f"failed: {t.error}"})
                    continue
                processed_by[inp].add(txn)
                if (p, o) not in seen_positions:
                    seen_positions.add((p, o))
                    outputs[inp].append([p, o, txn])
                if inp in inputs and inputs[inp] != body.get("value"):
                    wrong_value.append({"input": list(inp), "written": inputs[inp],
                                        "record": [p, o, body], "read": _ref(op)})
        for txn, op in transforms.items():
            if committed(op):
                res = result_of(op)
                for item in res.get("consumed") or []:
                    processed_by[(res.get("partition"), item[0])].add(txn)

        duplicates = []
        for inp, txns in sorted(processed_by.items(), key=lambda kv: str(kv[0])):
            if len(txns) > 1:
                duplicates.append({"input": list(inp), "value": inputs.get(inp),
                                   "transactions": sorted(txns),
                                   "outputs": outputs.get(inp, []),
                                   "transforms": [_ref(transforms[t]) for t in sorted(txns)]})

        # Final drains and committed offsets.
        drains: dict[int, Operation] = {}
        for op in reads:
            if op.extra.get("phase") == "final" and isinstance(op.key, int):
                drains[op.key] = op
        complete = {p for p, op in drains.items() if op.extra.get("complete") is not False}
        final_committed: dict[int, int] = {}
        for op in ops:
            if op.f == "committed" and op.type == "ok" and isinstance(op.value, dict) \
                    and op.value.get("offset") is not None:
                final_committed[op.value["partition"]] = op.value["offset"]
        drained: dict[tuple[int, int], list[Any]] = defaultdict(list)
        out_partitions: set[int] = set()
        for op in drains.values():
            for raw in op.value:
                rec = _record(raw)
                if rec is not None:
                    drained[(rec[2]["in"][0], rec[2]["in"][1])].append(rec[:2])
        required: dict[tuple[int, int], str] = {}
        for txn, op in transforms.items():
            res = result_of(op)
            for part, _off, _in in (res.get("produced") or []):
                out_partitions.add(part)
            if committed(op):
                for item in res.get("consumed") or []:
                    required[(res.get("partition"), item[0])] = f"consumed by committed {txn}"
        for (p, o) in inputs:
            if p in final_committed and o < final_committed[p]:
                required.setdefault((p, o), f"below the committed offset {final_committed[p]}")
        # The workload writes the output of input partition p to output partition p; the
        # outcome of an info transform is not in the history (only its invocation), so the
        # required inputs name partitions too.
        out_partitions |= {p for p, _ in required}
        out_partitions |= {p for p, _ in seen_positions}
        drains_complete = bool(out_partitions) and out_partitions <= complete
        missing = []
        if drains_complete:
            for inp, why in sorted(required.items(), key=lambda kv: str(kv[0])):
                if not drained.get(inp):
                    missing.append({"input": list(inp), "value": inputs.get(inp), "why": why})

        counts = defaultdict(int)
        for op in transforms.values():
            kind = "committed" if committed(op) else "aborted" if aborted(op) else "unknown"
            counts[f"transforms-{kind}"] += 1
        exactly_once_ok = not duplicates and not missing and not wrong_value
        invalid = bool(aborted_reads or unknown_txn or not exactly_once_ok)
        valid: Any = False if invalid else (True if drains_complete or not required else "unknown")
        result: dict[str, Any] = {
            "valid": valid,
            "aborted-read": {"count": len(aborted_reads), "examples": aborted_reads[:MAX_LISTED]},
            "exactly-once": {
                "valid": exactly_once_ok if drains_complete or not exactly_once_ok else "unknown",
                "duplicate": {"count": len(duplicates), "examples": duplicates[:MAX_LISTED]},
                "missing": {"count": len(missing), "examples": missing[:MAX_LISTED]},
                "wrong-value": {"count": len(wrong_value), "examples": wrong_value[:MAX_LISTED]},
                "inputs-required": len(required),
                "inputs-processed": len(processed_by),
            },
            "unknown-txn": {"count": len(unknown_txn), "examples": unknown_txn[:MAX_LISTED]},
            "final-drains": {"partitions": sorted(out_partitions),
                             "complete": sorted(complete),
                             "committed-offsets": {str(k): v for k, v in
                                                   sorted(final_committed.items())}},
            "counts": dict(sorted(counts.items())),
            "malformed-records": malformed,
        }
        if not drains_complete and required:
            result["why-unknown"] = ("no complete final drain of output partitions "
                                     f"{sorted(out_partitions - complete)}: missing outputs "
                                     f"cannot be ruled out")
        return result
