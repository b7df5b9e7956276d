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

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from checkers.evidence import op_ref
from checkers.history import History, Operation, gc_paused

MAX_LISTED = 100

Position = tuple[int, int]  # (partition, offset)


def _ref(op: Operation) -> dict[str, Any]:
    return op_ref(op, error=True, final=True)


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


def result_of(op: Operation) -> dict[str, Any]:
    return op.value if isinstance(op.value, dict) else {}


def committed(op: Operation) -> bool:
    """The transform certainly committed."""
    return op.type == "ok" and not result_of(op).get("abort")


def aborted(op: Operation) -> bool:
    """The transform certainly did not commit."""
    return op.type == "fail" or (op.type == "ok" and bool(result_of(op).get("abort")))


@dataclass(slots=True)
class ReadRecord:
    """One well-formed record a read returned, with the transform that wrote it (None: unknown)."""

    read: Operation
    partition: int
    offset: int
    body: dict[str, Any]
    txn: str
    input: Position
    transform: Operation | None
    aborted: bool  # its transform certainly did not commit


@dataclass
class TxnIndex:
    """The history's transforms, what was written at each input position, the records reads
    returned, and the final drains and committed offsets; built once, read by every `*_cases`."""

    ops: list[Operation]
    transforms: dict[str, Operation] = field(default_factory=dict)
    inputs: dict[Position, Any] = field(default_factory=dict)
    # the records reads returned that some case is about: of an unknown or aborted transaction,
    # or with a value other than the one written at their input (the rest only count)
    suspects: list[ReadRecord] = field(default_factory=list)
    malformed: int = 0
    # input position -> transaction ids of committed output records seen for it
    processed_by: dict[Position, set[str]] = field(default_factory=lambda: defaultdict(set))
    outputs: dict[Position, list[list[Any]]] = field(default_factory=lambda: defaultdict(list))
    seen_positions: set[Position] = field(default_factory=set)
    complete: set[int] = field(default_factory=set)  # output partitions drained completely
    final_committed: dict[int, int] = field(default_factory=dict)
    drained: dict[Position, list[Any]] = field(default_factory=lambda: defaultdict(list))
    required: dict[Position, str] = field(default_factory=dict)  # input -> why it needs output
    out_partitions: set[int] = field(default_factory=set)

    @property
    def drains_complete(self) -> bool:
        return bool(self.out_partitions) and self.out_partitions <= self.complete


def index_txns(history: History) -> TxnIndex:
    ix = TxnIndex(history.operations())
    for op in ix.ops:
        if op.f == "transform" and isinstance(op.invoke_value, dict) \
                and "txn" in op.invoke_value:
            ix.transforms[str(op.invoke_value["txn"])] = op
    reads = [op for op in ix.ops if op.f == "read" and op.type == "ok"
             and isinstance(op.value, list)]
    _index_inputs(ix)
    _index_reads(ix, reads)
    _index_drains(ix, reads)
    return ix


def _index_inputs(ix: TxnIndex) -> None:
    """What was written at each input position: acknowledged sends and consumed records."""
    for op in ix.ops:
        if op.f == "send" and op.type == "ok" and isinstance(op.value, dict) \
                and op.value.get("offset") is not None:
            ix.inputs[(op.value["partition"], op.value["offset"])] = op.value["value"]
    for op in ix.transforms.values():
        res = result_of(op)
        for item in res.get("consumed") or []:
            if isinstance(item, (list, tuple)) and len(item) == 2:
                ix.inputs.setdefault((res.get("partition"), item[0]), item[1])


def _index_reads(ix: TxnIndex, reads: list[Operation]) -> None:
    """The records reads returned, and which committed transactions processed each input."""
    aborted_txns = {txn for txn, op in ix.transforms.items() if aborted(op)}
    for op in reads:
        for raw in op.value:
            rec = _record(raw)
            if rec is None:
                ix.malformed += 1
                continue
            p, o, body = rec
            txn = str(body["txn"])
            inp = (body["in"][0], body["in"][1])
            transform = ix.transforms.get(txn)
            if transform is None or txn in aborted_txns or (
                    inp in ix.inputs and ix.inputs[inp] != body.get("value")):
                ix.suspects.append(ReadRecord(op, p, o, body, txn, inp, transform,
                                              txn in aborted_txns))
            if transform is None or txn in aborted_txns:
                continue
            ix.processed_by[inp].add(txn)
            if (p, o) not in ix.seen_positions:
                ix.seen_positions.add((p, o))
                ix.outputs[inp].append([p, o, txn])
    for txn, op in ix.transforms.items():
        if committed(op):
            res = result_of(op)
            for item in res.get("consumed") or []:
                ix.processed_by[(res.get("partition"), item[0])].add(txn)


def _index_drains(ix: TxnIndex, reads: list[Operation]) -> None:
    """Final drains, committed offsets, and the inputs whose output a drain must hold."""
    drains: dict[int, Operation] = {}
    for op in reads:
        if op.extra.get("phase") == "final" and isinstance(op.key, int):
            drains[op.key] = op
    ix.complete = {p for p, op in drains.items() if op.extra.get("complete") is not False}
    for op in ix.ops:
        if op.f == "committed" and op.type == "ok" and isinstance(op.value, dict) \
                and op.value.get("offset") is not None:
            ix.final_committed[op.value["partition"]] = op.value["offset"]
    for op in drains.values():
        for raw in op.value:
            rec = _record(raw)
            if rec is not None:
                ix.drained[(rec[2]["in"][0], rec[2]["in"][1])].append(rec[:2])
    for txn, op in ix.transforms.items():
        res = result_of(op)
        for part, _off, _in in (res.get("produced") or []):
            ix.out_partitions.add(part)
        if committed(op):
            for item in res.get("consumed") or []:
                ix.required[(res.get("partition"), item[0])] = f"consumed by committed {txn}"
    for (p, o) in ix.inputs:
        if p in ix.final_committed and o < ix.final_committed[p]:
            ix.required.setdefault((p, o), f"below the committed offset {ix.final_committed[p]}")
    # The workload writes the output of input partition p to output partition p; the
    # outcome of an info transform is not in the history (only its invocation), so the
    # required inputs name partitions too.
    ix.out_partitions |= {p for p, _ in ix.required}
    ix.out_partitions |= {p for p, _ in ix.seen_positions}


def aborted_read_cases(ix: TxnIndex) -> list[dict[str, Any]]:
    """A read returned a record of a transaction that certainly did not commit."""
    return [{"read": _ref(r.read), "record": [r.partition, r.offset, r.body],
             "transform": _ref(r.transform),
             "why": "aborted on purpose" if r.transform.type == "ok"
             else f"failed: {r.transform.error}"}
            for r in ix.suspects if r.aborted]


def unknown_txn_cases(ix: TxnIndex) -> list[dict[str, Any]]:
    """A read returned a record of a transaction no transform started."""
    return [{"read": _ref(r.read), "record": [r.partition, r.offset, r.body]}
            for r in ix.suspects if r.transform is None]


def wrong_value_cases(ix: TxnIndex) -> list[dict[str, Any]]:
    """An output record carries a value other than the one written at its input offset."""
    return [{"input": list(r.input), "written": ix.inputs[r.input],
             "record": [r.partition, r.offset, r.body], "read": _ref(r.read)}
            for r in ix.suspects if r.transform is not None and not r.aborted
            and r.input in ix.inputs and ix.inputs[r.input] != r.body.get("value")]


def duplicate_cases(ix: TxnIndex) -> list[dict[str, Any]]:
    """An input record processed by two or more committed transactions."""
    return [{"input": list(inp), "value": ix.inputs.get(inp), "transactions": sorted(txns),
             "outputs": ix.outputs.get(inp, []),
             "transforms": [_ref(ix.transforms[t]) for t in sorted(txns)]}
            for inp, txns in sorted(ix.processed_by.items(), key=lambda kv: str(kv[0]))
            if len(txns) > 1]


def missing_cases(ix: TxnIndex) -> list[dict[str, Any]]:
    """A required input with no output record in the complete final drains (judged only when
    every output partition was drained completely)."""
    if not ix.drains_complete:
        return []
    return [{"input": list(inp), "value": ix.inputs.get(inp), "why": why}
            for inp, why in sorted(ix.required.items(), key=lambda kv: str(kv[0]))
            if not ix.drained.get(inp)]


class KafkaTxnChecker:
    """Invalid on an aborted read or an input record processed zero or several times."""

    name = "kafka-txn"

    def check(self, history: History) -> dict[str, Any]:
        with gc_paused():  # the index and cases are up to millions of acyclic containers
            ix = index_txns(history)
            aborted_reads, unknown_txn = aborted_read_cases(ix), unknown_txn_cases(ix)
            duplicates, missing, wrong_value = (duplicate_cases(ix), missing_cases(ix),
                                                wrong_value_cases(ix))
        exactly_once_ok = not duplicates and not missing and not wrong_value
        invalid = bool(aborted_reads or unknown_txn or not exactly_once_ok)
        drains_complete = ix.drains_complete
        result: dict[str, Any] = {
            "valid": False if invalid else (True if drains_complete or not ix.required
                                            else "unknown"),
            "aborted-read": _listed(aborted_reads),
            "exactly-once": {
                "valid": exactly_once_ok if drains_complete or not exactly_once_ok else "unknown",
                "duplicate": _listed(duplicates),
                "missing": _listed(missing),
                "wrong-value": _listed(wrong_value),
                "inputs-required": len(ix.required),
                "inputs-processed": len(ix.processed_by),
            },
            "unknown-txn": _listed(unknown_txn),
            "final-drains": {"partitions": sorted(ix.out_partitions),
                             "complete": sorted(ix.complete),
                             "committed-offsets": {str(k): v for k, v in
                                                   sorted(ix.final_committed.items())}},
            "counts": _transform_counts(ix),
            "malformed-records": ix.malformed,
        }
        if not drains_complete and ix.required:
            result["why-unknown"] = ("no complete final drain of output partitions "
                                     f"{sorted(ix.out_partitions - ix.complete)}: missing outputs "
                                     f"cannot be ruled out")
        return result


def _listed(cases: list[dict[str, Any]]) -> dict[str, Any]:
    return {"count": len(cases), "examples": cases[:MAX_LISTED]}


def _transform_counts(ix: TxnIndex) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for op in ix.transforms.values():
        kind = "committed" if committed(op) else "aborted" if aborted(op) else "unknown"
        counts[f"transforms-{kind}"] += 1
    return dict(sorted(counts.items()))
