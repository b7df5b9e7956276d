"""Reading history.jsonl: the C reader (checkers/_jsonl.c), the orjson reader and the json
fallback give the same History, damaged lines are reported the same way, and
History.operations() pairs once."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


READERS = ("native", "orjson", "json")


def use_reader(name: str, monkeypatch) -> None:
    """Make read_jsonl read with checkers/_jsonl.c (lines it leaves go to orjson), with orjson
    only, or with the json module only; skip when that one is not there."""
    history_module._load_orjson()
    history_module._load_native_reader()
    if name == "native" and history_module._native_reader is None:
        pytest.skip("checkers/_jsonl.c is not built")
    if name == "orjson" and history_module._orjson_loads is None:
        pytest.skip("orjson is not installed")
    if name != "native":
        monkeypatch.setattr(history_module, "_native_reader", None)
    if name == "json":
        monkeypatch.setattr(history_module, "_orjson_loads", None)


@pytest.fixture(params=READERS)
def reader(request, monkeypatch):
    """read_jsonl with each of READERS."""
    use_reader(request.param, monkeypatch)
    return read_jsonl


def read_with(name: str, path: Path):
    """(snapshot, None) of read_jsonl(path) with reader `name`, or (None, the error's text)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_reader(name, monkeypatch)
        try:
            return snapshot(read_jsonl(path)), None
        except HistoryError as e:
            return None, str(e)


@pytest.mark.parametrize("name", ["native", "orjson"])
def test_each_reader_reads_what_the_json_module_reads(tmp_path, name):
    path = tmp_path / "h.jsonl"
    path.write_bytes(ODD)
    assert read_with(name, path) == read_with("json", path)


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
    if history_module._orjson_loads is not None:  # the fast readers share equal strings
        assert h.events[0].f is h.events[1].f and h.events[0].key is h.events[1].key


def test_the_c_reader_makes_equal_lists_once(tmp_path, monkeypatch):
    """An invocation's micro-ops and its completion's equal ones, and equal reads, are one list
    each (read-only data: see the module docstring); dicts never are."""
    use_reader("native", monkeypatch)
    path = tmp_path / "h.jsonl"
    rows = [dict(index=0, time=1, process=0, type="invoke", f="txn",
                 value=[["append", 7, 1], ["r", 7, None]], error={"a": [1]}),
            dict(index=1, time=2, process=0, type="ok", f="txn",
                 value=[["append", 7, 1], ["r", 7, [1, 2]]], error={"a": [1]}),
            dict(index=2, time=3, process=1, type="invoke", f="txn", value=[["r", 7, None]]),
            dict(index=3, time=4, process=1, type="ok", f="txn", value=[["r", 7, [1, 2]]])]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    h = read_jsonl(path)
    assert [e.value for e in h.events] == [r["value"] for r in rows]
    invoke, ok, _, later = h.events
    assert invoke.value[0] is ok.value[0] and invoke.value[1] is not ok.value[1]
    assert ok.value[1][2] is later.value[0][2]
    assert invoke.error == ok.error and invoke.error is not ok.error
    assert invoke.error["a"] is ok.error["a"]  # a list inside: equal, so one


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


# -- the C reader against the json module, on random lines ---------------------------------------

INTS = (st.integers(-300, 300) | st.integers(-2 ** 64, 2 ** 64) | st.integers(-10 ** 30, 10 ** 30)
        | st.sampled_from([10 ** 18 - 1, 10 ** 18, -(10 ** 18 - 1), -(10 ** 18), 2 ** 63 - 1,
                           2 ** 63, -2 ** 63, -2 ** 63 - 1, 0]))
# lone surrogates and the characters around them, control characters, quotes, non-ASCII
TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x7f), max_size=6) | st.text(
    st.sampled_from(["a", '"', "\\", "/", "\x00", "\x1f", "\x7f", "\u00e9", "\u2028", "\ud800",
                     "\udfff", "\ud83d", "\ude00", "\U0001f600", "\r", "\n"]), max_size=6)
SCALARS = (st.none() | st.booleans() | INTS | st.floats() | TEXT
           | st.sampled_from([1e308, 1e-320, -0.0, 0.1, 1e16, 123456789.125]))
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(TEXT, inner, max_size=3), max_leaves=10)
FIELD_VALUES = {
    "index": INTS | JSON_VALUES, "time": INTS | JSON_VALUES,
    "process": st.integers(-3, 300) | st.sampled_from(["nemesis", "p1", "", True]) | JSON_VALUES,
    "type": st.sampled_from(["invoke", "ok", "fail", "info", "maybe", "OK"]) | JSON_VALUES,
    "f": st.sampled_from(["txn", "read", "write", "append", "r", "\u00e9", "a\\b"])
    | JSON_VALUES,
    "value": JSON_VALUES, "key": JSON_VALUES, "node": TEXT | JSON_VALUES, "error": JSON_VALUES,
}
KEY_NAMES = st.sampled_from(list(FIELD_VALUES)) | TEXT


@st.composite
def json_text(draw, value):
    """`value` as JSON, as one of several writers might spell it (the json module's escapes, or
    raw UTF-8, or raw encoded surrogates)."""
    ascii_only = draw(st.booleans())
    text = json.dumps(value, ensure_ascii=ascii_only, separators=(",", ":"))
    return text.encode("utf-8", "surrogatepass")


@st.composite
def event_lines(draw):
    """One line: an event object, mostly well formed, sometimes not in every way there is."""
    fields = {name: draw(st.sampled_from([1, 2, 3, 300, 10 ** 12, 10 ** 18]) | INTS)
              for name in ("index", "time")}
    fields["process"] = draw(st.integers(0, 20))
    fields["type"] = draw(st.sampled_from(["invoke", "ok", "fail", "info"]))
    fields["f"] = draw(st.sampled_from(["txn", "read", "write"]))
    for name in draw(st.lists(st.sampled_from(list(FIELD_VALUES)), max_size=4)):
        fields[name] = draw(FIELD_VALUES[name])
    if draw(st.integers(0, 4)) == 0:
        fields[draw(TEXT)] = draw(JSON_VALUES)  # an extra field, or a known one again
    members = [(json.dumps(k).encode(), draw(json_text(v))) for k, v in fields.items()]
    members = draw(st.permutations(members))
    if members and draw(st.integers(0, 9)) == 0:
        members = members + [members[0]]  # a field given twice
    if members and draw(st.integers(0, 9)) == 0:
        del members[draw(st.integers(0, len(members) - 1))]  # a field missing
    space = st.sampled_from([b"", b" ", b"\t", b" \t "])
    body = b"{" + draw(space) + b",".join(
        k + draw(space) + b":" + draw(space) + v + draw(space) for k, v in members) + b"}"
    line = draw(space) + body + draw(space)
    if draw(st.integers(0, 12)) == 0:  # damage: a byte changed, or a piece cut out
        at = draw(st.integers(0, len(line)))
        line = line[:at] + draw(st.sampled_from([b"", b"x", b"\xff", b"NaN", b"\r", b",", b"}"])) \
            + line[at + draw(st.integers(0, 3)):]
    return line


LINE_ENDS = st.sampled_from([b"\n"] * 6 + [b"\r\n", b"\r"])
OTHER_LINES = st.sampled_from([b"", b"  ", b"\t", b"\x0c", "\u00a0".encode(), b"[1]", b"null",
                               b'{"index": 1}', b"\xef\xbb\xbf{}"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(event_lines() | OTHER_LINES, LINE_ENDS), max_size=8), st.booleans(),
       st.integers(0, 3))
def test_the_c_reader_reads_random_lines_as_the_json_module_does(tmp_path_factory, lines, torn,
                                                                 cut):
    data = b"".join(line + end for line, end in lines)
    if torn and lines:  # the last line without its line ending, and maybe shorter still
        data = data[:len(data) - len(lines[-1][1]) - cut]
    path = tmp_path_factory.mktemp("h") / "h.jsonl"
    path.write_bytes(data)
    expected = read_with("json", path)
    assert read_with("native", path) == expected
    assert read_with("orjson", path) == expected


@settings(max_examples=100, deadline=None)
@given(st.lists(event_lines(), min_size=1, max_size=30), st.integers(1, 200))
def test_the_c_reader_reads_across_blocks(tmp_path_factory, lines, block):
    """Lines cut by the reader's blocks anywhere, the C reader handing some back midway."""
    path = tmp_path_factory.mktemp("h") / "h.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(history_module, "_BLOCK", block)
        assert read_with("native", path) == read_with("json", path)


def native_stop(data: bytes) -> tuple[int, int, int]:
    history_module._load_native_reader()
    native = history_module._native_reader
    if native is None:
        pytest.skip("checkers/_jsonl.c is not built")
    events: list = []
    return native.Reader(Event, history_module.EVENT_TYPES).read(data, 0, len(data), events)


TAKEN = [  # lines the C reader reads itself (so that it is the fast path it claims to be)
    b'{"index":0,"time":5,"process":3,"type":"invoke","f":"txn","value":[["r",1,null],'
    b'["append",1,2]]}',
    b'{"index": 1, "time": 6, "process": "nemesis", "type": "info", "f": "kill", '
    b'"value": {"nodes": ["n1"], "at": 2.5e-3}, "node": "n1", "error": null}',
    b'{"index":2,"time":7,"process":3,"type":"ok","f":"txn","value":[["r",1,[1,2,-3]]],'
    b'"phase":"final","zxid":123456789012345678}',
    '{"index":3,"time":8,"process":3,"type":"fail","f":"w","key":"k\u00e9","error":'
    '"no \\"quorum\\" \\u00e9 \\ud83d\\ude00"}'.encode(),
    b'  {"f":"r","type":"ok","process":0,"time":-1,"index":4,"value":[true,false,1.5,[],{}]}\t',
]
LEFT = [  # lines it leaves to Python, each for a reason of the module docstring
    b'{"index":0,"time":5,"process":3,"type":"ok","f":"r","value":12345678901234567890}',
    b'{"index":0,"time":5,"process":3,"type":"ok","f":"r","value":NaN}',
    b'{"index":0,"time":5,"process":3,"type":"ok","f":"r","value":"\\ud800"}',
    b'{"index":0,"time":5,"process":3,"type":"ok","f":"r","value":"\xff"}',
    b'{"index":0,"time":5,"process":3,"type":"ok","f":"r","f":"w"}',
    b'{"ind\\u0065x":0,"time":5,"process":3,"type":"ok","f":"r"}',
    b'{"index":0,"time":5,"process":true,"type":"ok","f":"r"}',
    b'{"index":0,"time":5,"process":3,"type":"maybe","f":"r"}',
    b'{"index":0,"time":5.0,"process":3,"type":"ok","f":"r"}',
    b'{"index":0,"time":5,"process":3,"type":"ok","f":1}',
    b'{"index":0,"time":5,"process":3,"type":"ok"}',
    b'{"index":0,"time":5,"process":3,"type":"ok","f":"r","node":3}',
    b'{"index":0,"time":5,"process":3,"type":"ok","f":"r","value":"a\tb"}',
    b'{"index":0,"time":5,"process":3,"type":"ok","f":"r","value":01}',
    b'[1]',
    b'{"index":0,"time":5,"process":3,"type":"ok","f":"r"} x',
]


def test_the_c_reader_takes_ordinary_lines_and_leaves_the_rest():
    taken = b"".join(line + end for line, end in zip(TAKEN, [b"\n", b"\r\n"] * 3)) + b" \t\n\r\n"
    assert native_stop(taken) == (len(taken), len(taken), len(TAKEN) + 2)
    first = TAKEN[0] + b"\n"
    for line in LEFT:
        for end in (b"\n", b"\r\n"):
            assert native_stop(first + line + end) == (len(first), len(first + line + end), 1)
    for tail in (TAKEN[0], TAKEN[0] + b"\r", TAKEN[0] + b"\r" + TAKEN[1] + b"\n"):
        # a torn last line, or a lone CR ending a line: where the line ends is Python's to say
        assert native_stop(first + tail)[:2] == (len(first), len(first) + len(TAKEN[0])
                                                 + (tail != TAKEN[0]))


def test_a_node_that_is_not_a_string_is_read_as_its_text(tmp_path, reader):
    path = tmp_path / "h.jsonl"
    path.write_bytes(b'{"index":0,"time":1,"process":0,"type":"invoke","f":"r","node":3}\n'
                     b'{"index":1,"time":2,"process":0,"type":"ok","f":"r","node":["n1"]}\n')
    assert [e.node for e in reader(path).events] == ["3", "['n1']"]
