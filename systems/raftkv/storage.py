"""Durable Raft state of one raftkv node: current term, vote and log, in one append-only file.

Each record is a 4-byte big-endian payload length, a 4-byte CRC-32 of the payload, then the payload
(compact JSON): {"k": "state", "term", "vote"}, {"k": "truncate", "keep"} or {"k": "entry", "index",
"term", "cmd"}. apply() writes a batch of records and fsyncs before returning, so the caller can send
what depends on them. On open, records are replayed; a torn or corrupt tail (a crash mid-write) is
cut off, and the file is rewritten compactly (term, vote, live entries) via an atomic rename.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from systems.raftkv.core import AppendLog, Entry, PersistOp, SetHardState, TruncateLog

HEADER = struct.Struct(">II")  # payload length, crc32(payload)
FILE_NAME = "raft.log"


class StorageError(RuntimeError):
    """The data directory cannot be used (the message names the file)."""


@dataclass
class PersistentState:
    term: int = 0
    voted_for: str | None = None
    log: list[Entry] = field(default_factory=list)  # entries 1..n
    truncated_bytes: int = 0  # how much torn tail recovery cut off


def encode_record(payload: dict) -> bytes:
    data = json.dumps(payload, separators=(",", ":")).encode()
    return HEADER.pack(len(data), zlib.crc32(data)) + data


def _record_of(op: PersistOp) -> dict:
    if isinstance(op, SetHardState):
        return {"k": "state", "term": op.term, "vote": op.voted_for}
    if isinstance(op, TruncateLog):
        return {"k": "truncate", "keep": op.keep}
    if isinstance(op, AppendLog):
        return {"k": "entry", "index": op.index, "term": op.entry.term, "cmd": op.entry.command}
    raise TypeError(f"not a persist operation: {op!r}")


def replay(data: bytes, path: Path) -> tuple[PersistentState, int]:
    """The state the records in data describe, and the length of the valid prefix."""
    state = PersistentState()
    offset = 0
    while offset + HEADER.size <= len(data):
        length, crc = HEADER.unpack_from(data, offset)
        start, end = offset + HEADER.size, offset + HEADER.size + length
        if end > len(data) or zlib.crc32(data[start:end]) != crc:
            break  # torn or corrupt tail
        try:
            rec = json.loads(data[start:end])
        except ValueError:
            break
        kind = rec.get("k")
        if kind == "state":
            state.term, state.voted_for = rec["term"], rec["vote"]
        elif kind == "truncate":
            del state.log[rec["keep"]:]
        elif kind == "entry":
            if rec["index"] != len(state.log) + 1:
                raise StorageError(f"{path}: entry {rec['index']} does not follow entry {len(state.log)}")
            state.log.append(Entry(rec["term"], rec["cmd"]))
        else:
            raise StorageError(f"{path}: unknown record kind {kind!r} at byte {offset}")
        offset = end
    return state, offset


class Storage:
    """The node's raft.log in its data directory. Not thread-safe: one node, one driver."""

    def __init__(self, directory: Path | str) -> None:
        self.dir = Path(directory)
        self.path = self.dir / FILE_NAME
        self._file = None

    def open(self) -> PersistentState:
        """Recover the state from disk (creating an empty store) and get ready to append."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            data = self.path.read_bytes() if self.path.exists() else b""
        except OSError as e:
            raise StorageError(f"{self.path}: {e.strerror}") from None
        state, valid = replay(data, self.path)
        state.truncated_bytes = len(data) - valid
        self._rewrite(state)
        self._file = open(self.path, "ab")
        return state

    def _rewrite(self, state: PersistentState) -> None:
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(encode_record({"k": "state", "term": state.term, "vote": state.voted_for}))
            for i, entry in enumerate(state.log, start=1):
                f.write(encode_record({"k": "entry", "index": i, "term": entry.term, "cmd": entry.command}))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._fsync_dir()

    def _fsync_dir(self) -> None:
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def apply(self, ops: Sequence[PersistOp]) -> None:
        """Write the operations in order and fsync. Returns only when they are durable."""
        if not ops:
            return
        if self._file is None:
            raise StorageError(f"{self.path}: storage is not open")
        self._file.write(b"".join(encode_record(_record_of(op)) for op in ops))
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
