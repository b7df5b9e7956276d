"""raftkv storage: durable term, vote and log; recovery cuts a torn tail; reopening compacts."""

from __future__ import annotations

import pytest

from systems.raftkv.core import AppendLog, Entry, SetHardState, TruncateLog
from systems.raftkv.storage import HEADER, Storage, StorageError, encode_record

W1 = {"f": "write", "key": "k", "value": 1}


def fill(storage: Storage) -> None:
    storage.apply([SetHardState(1, "n1"), AppendLog(1, Entry(1)), AppendLog(2, Entry(1, W1))])
    storage.apply([SetHardState(2, None), TruncateLog(1), AppendLog(2, Entry(2)), AppendLog(3, Entry(2, W1))])


def test_state_survives_reopen(tmp_path):
    s = Storage(tmp_path)
    assert s.open().term == 0
    fill(s)
    s.close()
    state = Storage(tmp_path).open()
    assert (state.term, state.voted_for) == (2, None)
    assert state.log == [Entry(1), Entry(2), Entry(2, W1)]
    assert state.truncated_bytes == 0


@pytest.mark.parametrize("cut", [1, HEADER.size - 1, HEADER.size + 3])
def test_torn_tail_is_cut_off(tmp_path, cut):
    s = Storage(tmp_path)
    s.open()
    fill(s)
    s.close()
    good = s.path.read_bytes()
    torn = encode_record({"k": "entry", "index": 4, "term": 2, "cmd": W1})[:cut]
    s.path.write_bytes(good + torn)
    s2 = Storage(tmp_path)
    state = s2.open()
    assert state.truncated_bytes == cut and len(state.log) == 3
    s2.apply([AppendLog(4, Entry(2))])  # appends after recovery land where they should
    s2.close()
    assert Storage(tmp_path).open().log[-1] == Entry(2)


def test_corrupt_record_ends_the_log(tmp_path):
    s = Storage(tmp_path)
    s.open()
    fill(s)
    s.close()
    data = bytearray(s.path.read_bytes())
    data[-2] ^= 0xFF  # flip a byte in the last record's payload: its checksum no longer matches
    s.path.write_bytes(bytes(data))
    state = Storage(tmp_path).open()
    assert state.log == [Entry(1), Entry(2)] and state.truncated_bytes > 0


def test_reopen_rewrites_the_file_compactly(tmp_path):
    s = Storage(tmp_path)
    s.open()
    for term in range(1, 50):
        s.apply([SetHardState(term, None)])
    s.close()
    before = s.path.stat().st_size
    Storage(tmp_path).open()
    assert s.path.stat().st_size < before / 10


def test_gap_in_the_log_is_an_error(tmp_path):
    (tmp_path / "raft.log").write_bytes(encode_record({"k": "entry", "index": 2, "term": 1, "cmd": None}))
    with pytest.raises(StorageError, match="raft.log"):
        Storage(tmp_path).open()
