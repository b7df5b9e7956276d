"""Jepsen and Knossos histories of the shapes users have, each read by auto-detection and checked
with its expected verdict (hand-written here from Jepsen's documented op shapes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from checkers.formats import detect_format, read_history
from checkers.linearizable import LinearizabilityChecker

# Knossos's layout: one vector across many lines, comments between ops, no :index and no :time.
KNOSSOS_VECTOR_VALID = """; a cas-register history, as Knossos's test data holds them
[{:process 0, :type :invoke, :f :write, :value 1}
 {:process 1, :type :invoke, :f :read, :value nil}
 ; process 0's write completes while 1 is reading
 {:process 0, :type :ok, :f :write, :value 1}
 {:process 1, :type :ok, :f :read, :value 1}
 {:process 2, :type :invoke, :f :cas, :value [1 2]}
 {:process 2, :type :ok, :f :cas, :value [1 2]}
 {:process 0, :type :invoke, :f :read, :value nil}
 {:process 0, :type :ok, :f :read, :value 2}]
"""
KNOSSOS_VECTOR_INVALID = KNOSSOS_VECTOR_VALID.replace(
    "{:process 0, :type :ok, :f :read, :value 2}", "{:process 0, :type :ok, :f :read, :value 1}")

# One op per line as Jepsen writes history.edn, :time from several threads going backwards.
TIMES_BACKWARDS = """{:type :invoke, :f :write, :value 3, :process 0, :time 584353142, :index 0}
{:type :invoke, :f :read, :value nil, :process 1, :time 584350000, :index 1}
{:type :ok, :f :write, :value 3, :process 0, :time 584360000, :index 2}
{:type :ok, :f :read, :value 3, :process 1, :time 584359000, :index 3}
{:type :invoke, :f :read, :value nil, :process 1, :time 584370000, :index 4}
{:type :ok, :f :read, :value 3, :process 1, :time 584380000, :index 5}
"""
# The index order, not the file order or the times, is the history's order: here the read of 0
# starts after the write of 5 completed, so it is stale.
INDEX_ORDER_STALE = """{:index 3, :time 40, :process 1, :type :invoke, :f :read, :value nil}
{:index 0, :time 10, :process 0, :type :invoke, :f :write, :value 5}
{:index 4, :time 50, :process 1, :type :ok, :f :read, :value 0}
{:index 1, :time 20, :process 0, :type :ok, :f :write, :value 5}
"""

# jepsen.independent: every value a [key value] tuple; a list, not a vector, around the ops.
INDEPENDENT_REGISTER = """({:process 0, :type :invoke, :f :write, :value [7 3]}
 {:process 0, :type :ok, :f :write, :value [7 3]}
 {:process 1, :type :invoke, :f :read, :value [7 nil]}
 {:process 1, :type :ok, :f :read, :value [7 3]}
 {:process 2, :type :invoke, :f :cas, :value [8 [nil 4]]}
 {:process 2, :type :fail, :f :cas, :value [8 [nil 4]], :error :precondition-failed}
 {:process 2, :type :invoke, :f :read, :value [8 nil]}
 {:process 2, :type :ok, :f :read, :value [8 nil]})
"""

# Jepsen's mutex test: keyword ops and errors, nemesis events between.
MUTEX = """{:type :invoke, :f :acquire, :value nil, :process 0, :time 100, :index 0}
{:type :ok, :f :acquire, :value nil, :process 0, :time 200, :index 1}
{:type :info, :f :start, :value [:isolated {"n1" #{"n2" "n3"}}], :process :nemesis, :time 250, :index 2}
{:type :invoke, :f :acquire, :value nil, :process 1, :time 300, :index 3}
{:type :fail, :f :acquire, :value nil, :process 1, :time 400, :index 4, :error :not-held}
{:type :invoke, :f :release, :value nil, :process 1, :time 500, :index 5}
{:type :fail, :f :release, :value nil, :process 1, :time 600, :index 6, :error :not-held}
{:type :invoke, :f :release, :value nil, :process 0, :time 700, :index 7}
{:type :ok, :f :release, :value nil, :process 0, :time 800, :index 8}
"""
MUTEX_DOUBLE_HOLD = MUTEX.replace(
    "{:type :fail, :f :acquire, :value nil, :process 1, :time 400, :index 4, :error :not-held}",
    "{:type :ok, :f :acquire, :value nil, :process 1, :time 400, :index 4}")

# Jepsen 0.3's records as printed by pr: a tag before each op map.
RECORDS = """#jepsen.history.Op{:index 0, :time 5, :type :invoke, :process 0, :f :write, :value 2}
#jepsen.history.Op{:index 1, :time 9, :type :ok, :process 0, :f :write, :value 2}
#jepsen.history.Op{:index 2, :time 12, :type :invoke, :process 1, :f :read, :value nil}
#jepsen.history.Op{:index 3, :time 15, :type :ok, :process 1, :f :read, :value 1}
"""

CASES = [
    ("knossos-vector-valid.edn", KNOSSOS_VECTOR_VALID, "cas-register", True),
    ("knossos-vector-invalid.edn", KNOSSOS_VECTOR_INVALID, "cas-register", False),
    ("times-backwards.edn", TIMES_BACKWARDS, "register", True),
    ("index-order.edn", INDEX_ORDER_STALE, "register", False),
    ("independent.edn", INDEPENDENT_REGISTER, "cas-register", True),
    ("mutex.edn", MUTEX, "mutex", True),
    ("mutex-double-hold.edn", MUTEX_DOUBLE_HOLD, "mutex", False),
    ("records.edn", RECORDS, "register", False),
]


@pytest.mark.parametrize("name,text,model,valid", CASES, ids=[c[0] for c in CASES])
def test_each_shape_is_detected_read_and_checked(tmp_path, name, text, model, valid):
    path = tmp_path / name
    path.write_text(text)
    assert detect_format(path) == "jepsen-edn"
    result = LinearizabilityChecker(model).check(read_history(path))
    assert result["valid"] is valid, result


def test_backward_times_keep_the_history_order_and_say_so(tmp_path):
    path = tmp_path / "h.edn"
    path.write_text(TIMES_BACKWARDS)
    h = read_history(path)
    assert [e.index for e in h.events] == list(range(6))
    assert [e.time for e in h.events] == list(range(6))
    assert h.events[1].extra["original_time"] == 584350000
    assert any(":time goes backwards at :index 1" in w for w in h.warnings)


def test_indexes_out_of_file_order_are_sorted_and_duplicates_refused(tmp_path):
    path = tmp_path / "h.edn"
    path.write_text(INDEX_ORDER_STALE)
    h = read_history(path)
    assert [e.index for e in h.events] == [0, 1, 3, 4]
    path.write_text(INDEX_ORDER_STALE.replace(":index 4", ":index 3"))
    with pytest.raises(ValueError, match="two operations have :index 3"):
        read_history(path)


def test_keyword_values_read_as_names(tmp_path):
    path = tmp_path / "m.edn"
    path.write_text(MUTEX)
    h = read_history(path)
    assert h.events[4].error == "not-held" and h.events[0].f == "acquire"
    assert h.events[2].process == "nemesis"
    assert h.events[2].value == ["isolated", {"n1": ["n2", "n3"]}]


def test_independent_keys_from_a_list_of_ops(tmp_path):
    path = tmp_path / "i.edn"
    path.write_text(INDEPENDENT_REGISTER)
    h = read_history(path)
    assert h.meta["independent"] is True
    assert [(o.key, o.f, o.value) for o in h.operations()] == [
        (7, "write", 3), (7, "read", 3), (8, "cas", [None, 4]), (8, "read", None)]


def test_a_history_whose_first_op_holds_megabytes_is_detected(tmp_path):
    big = "x" * (5 * 2**20)
    jsonl = tmp_path / "big.jsonl"
    jsonl.write_text(f'{{"index": 0, "time": 1, "process": 0, "type": "invoke", "f": "write", '
                     f'"value": "{big}"}}\n'
                     f'{{"index": 1, "time": 2, "process": 0, "type": "ok", "f": "write", '
                     f'"value": "{big}"}}\n')
    edn = tmp_path / "big.edn"
    edn.write_text(f'{{:index 0, :time 1, :process 0, :type :invoke, :f :write, :value "{big}"}}\n'
                   f'{{:index 1, :time 2, :process 0, :type :ok, :f :write, :value "{big}"}}\n')
    for path, fmt in ((jsonl, "jsonl"), (edn, "jepsen-edn")):
        assert detect_format(path) == fmt
        assert LinearizabilityChecker("register").check(read_history(path))["valid"] is True


def test_a_log_whose_first_op_line_is_far_down_is_detected(tmp_path):
    path = tmp_path / "jepsen.log"
    noise = "".join(f"2017-01-01 INFO  jepsen.core - setting up node {i}\n" for i in range(50000))
    path.write_text(noise + "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n"
                    "INFO  jepsen.util - 0\t:ok\t:read\tnil\n")
    assert detect_format(path) == "jepsen-log"


@pytest.mark.parametrize("name,text,why", [
    ("empty-vector.edn", "[]\n", None),
    ("not-a-map.edn", "[{:process 0, :type :invoke, :f :read} 7]\n", "op 1: expected an "
                                                                      "operation map"),
    ("no-type.edn", "{:process 0, :f :read, :value nil}\n", "operation lacks :type"),
    ("bad-type.edn", "{:process 0, :type :maybe, :f :read}\n", ":type 'maybe' is not one of"),
    ("bad-process.edn", "{:process [1], :type :invoke, :f :read}\n", ":process must be"),
    ("bad-time.edn", '{:process 0, :type :invoke, :f :read, :time "x"}\n', ":time must be a "
                                                                          "number"),
])
def test_malformed_edn_ops_name_the_line(tmp_path, name, text, why):
    path = tmp_path / name
    path.write_text(text)
    if why is None:
        assert read_history(path).events == []
        return
    with pytest.raises(ValueError) as err:
        read_history(path)
    assert str(err.value).startswith(f"{path}:1") and why in str(err.value)


def test_a_malformed_op_is_a_254_one_liner(tmp_path):
    path = tmp_path / "cas.jsonl"
    path.write_text('{"index": 0, "time": 1, "process": 4, "type": "invoke", "f": "cas", '
                    '"value": 7}\n{"index": 1, "time": 2, "process": 4, "type": "ok", '
                    '"f": "cas", "value": 7}\n')
    out = subprocess.run([sys.executable, "-m", "harness", "check", "--model", "cas-register",
                          str(path)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 254, out
    lines = [ln for ln in out.stderr.splitlines() if not ln.startswith("splitbrain: the checker")]
    assert lines == [f"{path}\terror\top 0 (:index 0, process 4, cas): a cas needs the value "
                     f"[expected, new], got 7"]


def test_auto_detection_of_the_peer_logs_still_holds():
    peer = Path(__file__).resolve().parents[2] / ".." / "shared" / "peer-data" / "porcupine"
    logs = sorted((peer / "test_data" / "jepsen").glob("etcd_00*.log"))
    if not logs:
        pytest.skip("peer data not present")
    assert {detect_format(p) for p in logs if p.stat().st_size} == {"jepsen-log"}
