"""`splitbrain check --checker elle HISTORY` on our history.jsonl and on Jepsen EDN :txn
histories, as a user runs it (a fresh process, from a directory outside the checkout)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from checkers.elle import ElleChecker
from checkers.formats import read_history


def splitbrain(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def jsonl(path: Path, events: list[dict]) -> Path:
    path.write_text("".join(json.dumps({"index": i, **e}) + "\n" for i, e in enumerate(events)))
    return path


READ_SKEW = [  # T0 reads x empty but sees T1's y: G-single
    {"time": 0, "process": 0, "type": "invoke", "f": "txn",
     "value": [["r", "x", None], ["r", "y", None]]},
    {"time": 1, "process": 1, "type": "invoke", "f": "txn",
     "value": [["append", "x", 1], ["append", "y", 1]]},
    {"time": 2, "process": 1, "type": "ok", "f": "txn",
     "value": [["append", "x", 1], ["append", "y", 1]]},
    {"time": 3, "process": 0, "type": "ok", "f": "txn", "value": [["r", "x", []], ["r", "y", [1]]]},
]


def test_check_finds_g_single_in_jsonl(tmp_path):
    h = jsonl(tmp_path / "history.jsonl", READ_SKEW)
    p = splitbrain("check", "--checker", "elle", str(h), cwd=tmp_path)
    assert p.returncode == 1, p.stderr
    assert "INVALID" in p.stdout and "G-single" in p.stdout
    assert "Traceback" not in p.stderr


def test_check_passes_a_valid_history(tmp_path):
    h = jsonl(tmp_path / "history.jsonl", READ_SKEW[1:3] + [
        {"time": 5, "process": 0, "type": "invoke", "f": "txn", "value": [["r", "x", None]]},
        {"time": 6, "process": 0, "type": "ok", "f": "txn", "value": [["r", "x", [1]]]}])
    p = splitbrain("check", "--checker", "elle", str(h), cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "\tvalid\t" in p.stdout


EDN = """[{:type :invoke, :f :txn, :value [[:append :x 1] [:r :y nil]], :process 0, :time 0, :index 0}
{:type :invoke, :f :txn, :value [[:append :y 1] [:r :x nil]], :process 1, :time 1, :index 1}
{:type :ok, :f :txn, :value [[:append :x 1] [:r :y [1]]], :process 0, :time 2, :index 2}
{:type :ok, :f :txn, :value [[:append :y 1] [:r :x [1]]], :process 1, :time 3, :index 3}
{:type :invoke, :f :txn, :value [[:append :z 1]], :process 2, :time 4, :index 4}
{:type :fail, :f :txn, :value [[:append :z 1]], :process 2, :time 5, :index 5}
{:type :invoke, :f :txn, :value [[:r :z nil]], :process 2, :time 6, :index 6}
{:type :ok, :f :txn, :value [[:r :z nil]], :process 2, :time 7, :index 7}]
"""


def test_jepsen_edn_txn_history(tmp_path):
    h = tmp_path / "history.edn"
    h.write_text(EDN)
    result = ElleChecker().check(read_history(h))
    assert result["valid"] is False and result["anomaly_types"] == ["G1c"]
    cycle = result["anomalies"]["G1c"][0]
    assert [t["index"] for t in cycle["cycle"]] in ([0, 1], [1, 0])
    p = splitbrain("check", "--checker", "elle", str(h), cwd=tmp_path)
    assert p.returncode == 1 and "G1c" in p.stdout, p.stdout + p.stderr


def test_malformed_transactions_are_unknown_not_a_traceback(tmp_path):
    h = jsonl(tmp_path / "history.jsonl", [
        {"time": 0, "process": 0, "type": "invoke", "f": "txn", "value": [["incr", "x", 1]]},
        {"time": 1, "process": 0, "type": "ok", "f": "txn", "value": [["incr", "x", 1]]}])
    p = splitbrain("check", "--checker", "elle", str(h), cwd=tmp_path)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "f must be r, append or w" in p.stdout
    assert "Traceback" not in p.stdout + p.stderr


GENERATE = Path(__file__).resolve().parents[2] / "bench" / "elle" / "generate.py"


def test_the_benchmark_generator_makes_histories_the_checker_agrees_with(tmp_path):
    serial = tmp_path / "serial.jsonl"
    subprocess.run([sys.executable, str(GENERATE), str(serial), "--txns", "400"], check=True,
                   timeout=120)
    assert ElleChecker().check(read_history(serial))["valid"] is True
    edn = tmp_path / "serial.edn"
    subprocess.run([sys.executable, str(GENERATE), str(edn), "--txns", "200", "--format", "edn"],
                   check=True, timeout=120)
    assert ElleChecker().check(read_history(edn))["valid"] is True
    # generalized snapshot isolation: valid at snapshot-isolation, not strict-serializable
    gsi = tmp_path / "gsi.jsonl"
    subprocess.run([sys.executable, str(GENERATE), str(gsi), "--txns", "1500",
                    "--snapshot-isolation", "--snapshot-lag", "50"], check=True, timeout=120)
    history = read_history(gsi)
    assert ElleChecker(consistency="snapshot-isolation").check(history)["valid"] is True
    strict = ElleChecker().check(history)
    assert strict["valid"] is False and "G2-item" in strict["anomaly_types"]


def test_the_command_spares_only_the_last_checks_state_and_a_library_call_none(monkeypatch,
                                                                                tmp_path):
    """checkers.base.spare_until_exit: kept only once the command (which may end with os._exit)
    has started sparing, and then only the last check's state."""
    import checkers.base as base

    monkeypatch.setattr(base, "_spared", ())
    monkeypatch.setattr(base, "_sparing", False)
    path = tmp_path / "serial.jsonl"
    subprocess.run([sys.executable, str(GENERATE), str(path), "--txns", "300"], check=True,
                   timeout=120)
    history = read_history(path)
    assert ElleChecker().check(history)["valid"] is True
    assert base._spared == ()
    base.start_sparing()
    first = ElleChecker().check(history)
    txns = base._spared[0]
    assert len(txns) == sum(first["txns"].values()) == 300
    ElleChecker().check(history)
    assert base._spared[0] is not txns  # the second check's state replaced the first's
