"""Every history format is read into the same History; auto-detection; damaged files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from checkers.formats import FORMATS, detect_format, read_history
from checkers.history import HistoryError
from checkers.linearizable import LinearizabilityChecker

JSONL = [
    {"index": 0, "time": 10, "process": 0, "type": "invoke", "f": "write", "value": 3, "key": "a"},
    {"index": 1, "time": 20, "process": "nemesis", "type": "invoke", "f": "start-kill",
     "value": {"fault": "kill", "targets": ["n1"], "id": 1}},
    {"index": 2, "time": 30, "process": 0, "type": "ok", "f": "write", "value": 3, "key": "a"},
    {"index": 3, "time": 40, "process": 1, "type": "invoke", "f": "read", "value": None,
     "key": "a", "phase": "final"},
    {"index": 4, "time": 50, "process": 1, "type": "ok", "f": "read", "value": 3, "key": "a"},
]

EDN_LINES = """{:process 0, :type :invoke, :f :write, :value 3, :index 0, :time 10}
{:process :nemesis, :type :info, :f :start-partition, :value :majority, :index 1, :time 15}
{:process 0, :type :ok, :f :write, :value 3, :index 2, :time 20}
{:process 1, :type :invoke, :f :cas, :value [3 4], :index 3, :time 30}
{:process 1, :type :fail, :f :cas, :value [3 4], :index 4, :time 40}
{:process 1, :type :invoke, :f :read, :value nil, :index 5, :time 50}
{:process 1, :type :ok, :f :read, :value 3, :index 6, :time 60}
"""

LOG = """2017-01-01 INFO  jepsen.core - Running test
INFO  jepsen.util - 0\t:invoke\t:write\t4
INFO  jepsen.util - 1\t:invoke\t:cas\t[4 2]
INFO  jepsen.util - 0\t:ok\t:write\t4
INFO  jepsen.util - 1\t:info\t:cas\t:timed-out
INFO  jepsen.util - :nemesis\t:info\t:start\tnil
INFO  jepsen.util - 2   :invoke :read   nil
INFO  jepsen.util - 2   :ok     :read   2
some other noise line
"""

KV = """{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}
{:process 0, :type :ok, :f :append, :key "0", :value "x 0 0 y"}
{:process 1, :type :invoke, :f :get, :key "0", :value nil}
{:process 1, :type :ok, :f :get, :key "0", :value "x 0 0 y"}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def jsonl_text() -> str:
    return "".join(json.dumps(e) + "\n" for e in JSONL)


def test_formats_constant():
    assert FORMATS == ("auto", "jsonl", "jepsen-edn", "jepsen-log", "porcupine-kv")


def test_jsonl(tmp_path):
    h = read_history(write(tmp_path, "h.jsonl", jsonl_text()), "jsonl")
    assert len(h.events) == 5 and len(h.nemesis_events()) == 1
    ops = h.operations()
    assert [(o.f, o.key, o.value, o.type) for o in ops] == [("write", "a", 3, "ok"),
                                                             ("read", "a", 3, "ok")]
    assert ops[1].extra == {"phase": "final"}


def test_jepsen_edn_lines_and_vector(tmp_path):
    h = read_history(write(tmp_path, "history.edn", EDN_LINES), "jepsen-edn")
    assert [e.type for e in h.events][:3] == ["invoke", "info", "ok"]
    assert h.events[1].process == "nemesis" and h.events[1].f == "start-partition"
    assert h.events[3].value == [3, 4] and h.events[3].time == 30
    vector = "[" + EDN_LINES + "]"
    hv = read_history(write(tmp_path, "v.edn", vector), "jepsen-edn")
    assert [(e.process, e.type, e.f, e.value) for e in hv.events] == \
        [(e.process, e.type, e.f, e.value) for e in h.events]
    assert LinearizabilityChecker("cas-register").check(h)["valid"] is True


def test_jepsen_edn_independent_keys(tmp_path):
    text = """{:process 0, :type :invoke, :f :write, :value [7 3], :index 0, :time 1}
{:process 0, :type :ok, :f :write, :value [7 3], :index 1, :time 2}
{:process 1, :type :invoke, :f :read, :value [7 nil], :index 2, :time 3}
{:process 1, :type :ok, :f :read, :value [7 3], :index 3, :time 4}
{:process 1, :type :invoke, :f :cas, :value [8 [1 2]], :index 4, :time 5}
{:process 1, :type :info, :f :cas, :value :timeout, :index 5, :time 6}
"""
    h = read_history(write(tmp_path, "ind.edn", text))
    assert h.meta.get("independent") is True
    assert [(e.key, e.value) for e in h.events[:4]] == [(7, 3), (7, 3), (7, None), (7, 3)]
    assert h.events[4].key == 8 and h.events[4].value == [1, 2]
    # a plain cas-register history (nil read invocation) is never read as independent
    plain = read_history(write(tmp_path, "plain.edn", EDN_LINES))
    assert "independent" not in plain.meta and plain.events[3].value == [3, 4]
    forced = read_history(write(tmp_path, "f.edn", EDN_LINES), independent=False)
    assert forced.events[3].key is None


def test_jepsen_log(tmp_path):
    h = read_history(write(tmp_path, "etcd.log", LOG), "jepsen-log")
    client = h.client_events()
    assert [(e.process, e.type, e.f, e.value) for e in client] == [
        (0, "invoke", "write", 4), (1, "invoke", "cas", [4, 2]), (0, "ok", "write", 4),
        (1, "info", "cas", "timed-out"), (2, "invoke", "read", None), (2, "ok", "read", 2)]
    assert len(h.nemesis_events()) == 1
    assert [e.index for e in h.events] == list(range(len(h.events)))
    assert LinearizabilityChecker("cas-register").check(h)["valid"] is True


def test_porcupine_kv(tmp_path):
    h = read_history(write(tmp_path, "c01.txt", KV), "porcupine-kv")
    ops = h.operations()
    assert [(o.f, o.key, o.value) for o in ops] == [("append", "0", "x 0 0 y"),
                                                    ("get", "0", "x 0 0 y")]
    assert LinearizabilityChecker("kv").check(h)["valid"] is True


@pytest.mark.parametrize("name,text", [("h.jsonl", None), ("history.edn", EDN_LINES),
                                       ("v.edn", "[" + EDN_LINES + "]"), ("etcd.log", LOG),
                                       ("c01.txt", KV)])
def test_event_types_and_op_names_are_interned(tmp_path, name, text):
    # the checkers compare them with literals: interned, that is a pointer comparison
    h = read_history(write(tmp_path, name, jsonl_text() if text is None else text))
    assert h.events and all(e.type is sys.intern(e.type) and e.f is sys.intern(e.f)
                            for e in h.events)
    assert all(op.type is sys.intern(op.type) for op in h.operations())


def test_auto_detection_by_content_not_name(tmp_path):
    assert read_history(write(tmp_path, "a.txt", jsonl_text())).meta["format"] == "jsonl"
    assert read_history(write(tmp_path, "b.txt", EDN_LINES)).meta["format"] == "jepsen-edn"
    assert read_history(write(tmp_path, "c.txt", LOG)).meta["format"] == "jepsen-log"
    assert read_history(write(tmp_path, "d.edn", KV)).meta["format"] == "porcupine-kv"
    assert detect_format(write(tmp_path, "e", "[" + EDN_LINES + "]")) == "jepsen-edn"
    with pytest.raises(HistoryError, match="not a history"):
        read_history(write(tmp_path, "f.txt", "hello world\nnothing here\n"))


def test_empty_file_is_an_empty_history(tmp_path):
    for fmt in FORMATS:
        h = read_history(write(tmp_path, f"empty-{fmt}", ""), fmt)
        assert h.events == []
    r = LinearizabilityChecker().check(read_history(write(tmp_path, "e", "\n\n")))
    assert r["valid"] is True and r["note"] == "no operations"


@pytest.mark.parametrize("fmt,text,torn", [
    ("jsonl", jsonl_text(), '{"index": 5, "ti'),
    ("jepsen-edn", EDN_LINES, "{:process 0, :type :inv"),
    ("porcupine-kv", KV, '{:process 0, :type :invoke, :f :get, :key "0"'),
    ("jepsen-log", LOG, "INFO  jepsen.util - 3\t:invoke\t:cas\t[1 "),
])
def test_torn_last_line_is_skipped_with_a_warning(tmp_path, fmt, text, torn):
    whole = read_history(write(tmp_path, "whole", text), fmt)
    h = read_history(write(tmp_path, "torn", text + torn), fmt)
    assert len(h.events) == len(whole.events)
    assert any("torn last line" in w for w in h.warnings)


@pytest.mark.parametrize("fmt,text,line", [
    ("jsonl", jsonl_text().replace('"f": "read"', '"f" "read"'), 4),
    ("jepsen-edn", EDN_LINES.replace(":value nil, :index 5", ":value [nil, :index 5"), 6),
    ("porcupine-kv", KV.replace(':f :get, :key "0", :value nil}', ":f :get :key"), 3),
    ("jepsen-log", LOG.replace("[4 2]", "[4 2"), 3),
    ("jepsen-edn", EDN_LINES.replace(":type :ok, :f :write", ":type :maybe, :f :write"), 3),
])
def test_malformed_line_names_file_and_line(tmp_path, fmt, text, line):
    path = write(tmp_path, "bad", text)
    with pytest.raises(HistoryError) as err:
        read_history(path, fmt)
    assert f"{path}:{line}:" in str(err.value)


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(HistoryError, match="unknown history format"):
        read_history(write(tmp_path, "x", KV), "csv")
    with pytest.raises(HistoryError, match="no such file"):
        read_history(tmp_path / "absent.jsonl")
