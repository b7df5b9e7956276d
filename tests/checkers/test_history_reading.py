"""Reading history.jsonl: the orjson reader and the json fallback give the same History, damaged
lines are reported the same way, and History.operations() pairs once."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

import checkers.history as history_module
from checkers.history import Event, History, HistoryError, Operation, read_jsonl

_FIELD_NAMES = [f.name for f in dataclasses.fields(Operation)]


def line(**fields) -> bytes:
    return json.dumps(fields).encode()


# Every kind of line the fast path must hand over to the json module, or read the same way.
ODD = b"".join([
    line(index=0, time=10, process=0, type="invoke", f="write", key="k1", value=3) + b"\r\n",
    b"\n",
    b"   \t \n",
    "\u00a0\u3000\n".encode(),  # blank to str.strip(), not to bytes.strip()
    line(index=1, time=20, process="nemesis", type="info", f="start-kill",
         value={"targets": ["n1"], "at": 2.5}) + b"\r",  # a lone CR ends a line too
    line(index=2, time=30, process=0, type="ok", f="write", key="k1", value=3, node="n2") + b"\n",
    b'{"index": 3, "time": 40, "process": 1, "type": "invoke", "f": "read", "key": "k1", '
    b'"value": null, "phase": "final"}\n',
    b'{"index": 4, "time": 50, "process": 1, "type": "ok", "f": "read", "key": "k1", '
    b'"value": 123456789012345678901234567890}\n',  # beyond 64 bits: stays an int
    b'{"index": 5, "time": 60, "process": 2, "type": "invoke", "f": "write", "key": "k\xff", '
    b'"value": NaN}\n',  # invalid UTF-8 and NaN, as the json module reads them
    b'{"index": 6, "time": 70, "process": 2, "type": "info", "f": "write", "key": 7, '
    b'"value": [1, -9223372036854775809], "error": "\\ud800"}\n',
    b'{"index": 7, "time": 80, "process": true, "type": "invoke", "f": 5, "value": 1e400}\n',
    b'{"index": 8, "time": 90, "process": 3, "type": "invoke", "f": "cas", "key": "k1", '
    b'"value": [3, 4], "value": [3, 5]}\n',  # the last of a repeated field wins
    b'{"index": 9, "time": 100, "process": 3, "type": "ok", "f": "cas", "key": "k1", '
    b'"value": [3, 5], "extra": {"n": 18446744073709551616}}\n',
    b'{"index": 10, "time": 110, "proc',  # torn: the writer was killed mid-line
])


def typed(value):
    """A value with its types spelled out, so that 1, 1.0 and True differ."""
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [typed(v) for v in value])
    if isinstance(value, dict):
        return ("dict", [(k, typed(v)) for k, v in value.items()])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


def snapshot(h: History) -> tuple:
    events = [typed((e.index, e.time, e.process, e.type, e.f, e.value, e.key, e.node, e.error,
                     e.extra)) for e in h.events]
    ops = [typed([getattr(op, name) for name in _FIELD_NAMES]) for op in h.operations()]
    return events, list(h.warnings), ops


@pytest.fixture(params=["orjson", "json"])
def reader(request, monkeypatch):
    """read_jsonl with orjson (when installed) and with the json module only."""
    history_module._load_orjson()
    if request.param == "json":
        monkeypatch.setattr(history_module, "_orjson_loads", None)
    elif history_module._orjson_loads is None:
        pytest.skip("orjson is not installed")
    return read_jsonl


def test_orjson_and_json_read_the_same_history(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_bytes(ODD)
    fast = read_jsonl(path)  # loads orjson when it is installed
    saved = history_module._orjson_loads
    history_module._orjson_loads = None
    try:
        slow = read_jsonl(path)
    finally:
        history_module._orjson_loads = saved
    assert snapshot(fast) == snapshot(slow)


def test_odd_lines_read_as_the_json_module_reads_them(tmp_path, reader):
    path = tmp_path / "h.jsonl"
    path.write_bytes(ODD)
    h = reader(path)
    assert [e.index for e in h.events] == list(range(10))
    assert h.warnings == [f"{path}:14: torn last line skipped (the writer was interrupted)"]
    by_index = {e.index: e for e in h.events}
    assert by_index[1].value == {"targets": ["n1"], "at": 2.5}
    assert by_index[3].extra == {"phase": "final"}
    assert by_index[4].value == 123456789012345678901234567890
    assert type(by_index[4].value) is int
    assert by_index[5].key == "k\ufffd" and math.isnan(by_index[5].value)
    assert by_index[6].value == [1, -9223372036854775809] and by_index[6].error == "\ud800"
    assert by_index[7].process is True and by_index[7].f == "5" and by_index[7].value == math.inf
    assert by_index[8].value == [3, 5]
    assert by_index[9].extra == {"extra": {"n": 18446744073709551616}}
    assert all(type(e.extra) is dict for e in h.events)


def test_ordinary_lines_read_as_event_from_dict_builds_them(tmp_path, reader):
    rows = [
        dict(index=0, time=1, process=0, type="invoke", f="write", key="k1", value=3),
        dict(index=1, time=2, process=0, type="ok", f="write", key="k1", value=3, node="n1"),
        dict(index=2, time=3, process=1, type="invoke", f="cas", key=7, value=[1, 2]),
        dict(index=3, time=4, process=1, type="fail", f="cas", key=7, value=[1, 2],
             error="precondition", node="n2"),
        dict(time=5, index=4, f="read", type="invoke", process=2),  # another order, no value
        dict(index=5, time=6, process=2, type="info", f="read", value=None, key=None,
             node=None, error={"why": "timeout", "after": [1.5, None]}),
        dict(index=6, time=7, process="nemesis", type="info", f="kill", value={"n": ["n1"]}),
        dict(index=7, time=8, process=3, type="invoke", f="add", value=[[1, 2], "x", True]),
        dict(index=8, time=9, process=3, type="ok", f="add", value=-1, key="", node=""),
    ]
    path = tmp_path / "h.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    h = reader(path)
    expected = [Event.from_dict(r) for r in rows]
    assert h.events == expected
    assert [typed((e.value, e.key, e.node, e.error, e.extra)) for e in h.events] == \
        [typed((e.value, e.key, e.node, e.error, e.extra)) for e in expected]
    if history_module._orjson_loads is not None:  # the orjson reader shares equal strings
        assert h.events[0].f is h.events[1].f and h.events[0].key is h.events[1].key


def test_line_numbers_across_blocks(tmp_path, monkeypatch, reader):
    """Lines split over the reader's blocks (a CR LF too) keep their numbers."""
    monkeypatch.setattr(history_module, "_BLOCK", 7)
    path = tmp_path / "h.jsonl"
    good = line(index=0, time=1, process=0, type="invoke", f="read", value=None)
    path.write_bytes(good + b"\r\n\r\n" + good + b"\r" + b'{"index": 2,\r\n' + good + b"\n")
    with pytest.raises(HistoryError) as err:
        reader(path)
    assert str(err.value) == f"{path}:4: not a JSON object"


@pytest.mark.parametrize("text,where,what", [
    ('{"index": 1, "time": 2, "process": 0, "type": "invoke", "f" "read"}\n', 2,
     "not a JSON object"),
    ("[1, 2]\n", 2, "not a JSON object"),
    ('"just a string"\n', 2, "not a JSON object"),
    ('{"index": 1, "time": 2, "process": 0, "type": "invoke"}\n', 2,
     "event lacks the field 'f'"),
    ('{"index": 1, "time": 2, "process": 0, "type": "maybe", "f": "read"}\n', 2,
     "type 'maybe' is not one of"),
    ('{"index": 1.0, "time": 2, "process": 0, "type": "ok", "f": "read"}\n', 2,
     "index and time must be integers"),
    ('{"index": 1, "time": 2, "process": null, "type": "ok", "f": "read"}\n', 2,
     "process must be an integer"),
    ('{"index": 1, "time": 2, "process": 0, "type": ["ok"], "f": "read"}\n', 2,
     "type ['ok'] is not one of"),
])
def test_a_bad_middle_line_names_file_and_line(tmp_path, reader, text, where, what):
    first = line(index=0, time=1, process=0, type="invoke", f="read", value=None).decode()
    last = line(index=2, time=3, process=0, type="ok", f="read", value=None).decode()
    path = tmp_path / "bad.jsonl"
    path.write_text(first + "\n" + text + last + "\n")
    with pytest.raises(HistoryError) as err:
        reader(path)
    assert str(err.value).startswith(f"{path}:{where}: {what}")


def test_a_damaged_last_line_with_its_newline_is_an_error_not_a_tear(tmp_path, reader):
    path = tmp_path / "h.jsonl"
    path.write_text(line(index=0, time=1, process=0, type="invoke", f="read").decode()
                    + '\n{"index": 1, "ti\n\n')
    with pytest.raises(HistoryError, match=r"h\.jsonl:2: not a JSON object"):
        reader(path)


def test_blank_and_empty_files(tmp_path, reader):
    path = tmp_path / "h.jsonl"
    for data in (b"", b"\n\n", b"  \r\n\t\r"):
        path.write_bytes(data)
        h = reader(path)
        assert h.events == [] and h.warnings == []


def test_events_share_equal_strings_but_not_their_extra(tmp_path, reader):
    path = tmp_path / "h.jsonl"
    path.write_text("".join(
        line(index=i, time=i, process=300, type="invoke" if i % 2 == 0 else "ok", f="read",
             key="k1", value=None).decode() + "\n" for i in range(4)))
    h = reader(path)
    assert h.events[0] == Event(0, 0, 300, "invoke", "read", None, "k1")
    assert h.events[0].extra is not h.events[2].extra
    h.events[0].extra["mark"] = 1
    assert h.events[2].extra == {}
    ops = h.operations()
    ops[0].extra["seen"] = True
    assert h.events[0].extra == {"mark": 1} and ops[1].extra == {}


def history_with_orphan() -> History:
    events = [Event(0, 10, 0, "invoke", "write", 1, "k"), Event(1, 20, 0, "ok", "write", 1, "k"),
              Event(2, 30, 1, "ok", "read", 1, "k"),  # no invocation: a warning
              Event(3, 40, 1, "invoke", "read", None, "k"), Event(4, 50, 1, "ok", "read", 1, "k")]
    return History(events, ["read: something else"])


def test_operations_are_paired_once_and_warn_once():
    h = history_with_orphan()
    first = h.operations()
    second = h.operations()
    # pairing builds new Operation objects: the same objects mean it ran once (a patched
    # pair_operations would not show it: compiled, the module calls its own function directly)
    assert all(a is b for a, b in zip(first, second))
    assert first == second and first is not second
    assert h.warnings[0] == "read: something else"
    assert len(h.warnings) == 2 and "no open invocation" in h.warnings[1]
    h.operations()
    assert len(h.warnings) == 2


def test_a_callers_sort_does_not_change_the_next_call():
    h = history_with_orphan()
    ops = h.operations()
    ids = [op.id for op in ops]
    ops.sort(key=lambda op: -op.start)
    ops.pop()
    assert [op.id for op in h.operations()] == ids


def test_new_events_are_paired_again_without_duplicate_warnings():
    h = history_with_orphan()
    assert len(h.operations()) == 2
    h.events.append(Event(5, 60, 2, "invoke", "read", None, "k"))
    ops = h.operations()
    assert len(ops) == 3 and ops[2].type == "info" and math.isinf(ops[2].end)
    assert len(h.warnings) == 2
    h.events = h.events[:2]
    assert len(h.operations()) == 1
    assert h.warnings == ["read: something else"]


def test_operations_equal_a_fresh_pairing(tmp_path, reader):
    path = tmp_path / "h.jsonl"
    path.write_bytes(ODD)
    h = reader(path)
    fresh = history_module.pair_operations(h.events, [])
    assert h.operations() == fresh


def test_iter_jsonl_shows_lines_as_text_mode_did(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_bytes(b'{"a": 1}\r\n\n[2]\r{"b": \xff}\n{"c"')
    rows = list(history_module.iter_jsonl(Path(path)))
    assert rows == [(1, {"a": 1}, '{"a": 1}\n'), (3, [2], "[2]\n"),
                    (4, None, '{"b": \ufffd}\n'), (5, None, '{"c"')]


def test_the_module_reads_without_orjson_installed(tmp_path):
    """With orjson absent (import fails), the json module reads the same events."""
    import subprocess
    import sys

    path = tmp_path / "h.jsonl"
    path.write_bytes(ODD)
    root = Path(history_module.__file__).resolve().parents[1]
    code = ("import sys; sys.modules['orjson'] = None; sys.path.insert(0, sys.argv[1]); "
            "import checkers.history as h; r = h.read_jsonl(sys.argv[2]); "
            "assert h._orjson_loads is None; print(len(r.events), len(r.warnings))")
    out = subprocess.run([sys.executable, "-c", code, str(root), str(path)],
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == ["10", "1"]
