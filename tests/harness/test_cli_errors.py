"""Bad input: one line on stderr, exit 254, no traceback."""

import subprocess
import sys

import pytest

BAD = [
    (["run", "nosuch"], "unknown system"),
    (["run", "raftkv", "--workload", "nosuch"], "unknown workload"),
    (["run", "raftkv", "--nemesis", "explode"], "unknown nemesis"),
    (["run", "raftkv", "--nemesis", "kill:everywhere"], "no target"),
    (["run", "raftkv", "--nemesis", "kill:one:duration=x"], "expected a number"),
    (["run", "raftkv", "--time-limit", "-3"], "positive"),
    (["run", "raftkv", "--nodes", "three"], "whole number"),
    (["run", "raftkv", "--bug", "nosuch"], "no bug"),
    # One option scheme: the same line for a bad value, whoever declared the option.
    (["run", "raftkv", "--opt", "raftkv.base-port=x"], "--opt raftkv.base-port=x: expected a whole number"),
    (["run", "raftkv", "--opt", "workload.active_keys=x"],
     "--opt workload.active_keys=x: expected a whole number"),
    (["run", "raftkv", "--workload", "counter", "--opt", "workload.max_delta=0"],
     "--opt workload.max_delta=0: must be at least 1"),
    (["run", "raftkv", "--workload", "append", "--opt", "consistency=strong"],
     "checker 'elle': unknown consistency model 'strong'"),
    (["run", "raftkv", "--opt", "workload.nosuch=1"], "has no option 'workload.nosuch'"),
    (["run", "raftkv", "--opt", "nosuch=1"], "no checker here takes 'nosuch'"),
    (["run", "raftkv", "--env", "mars"], "unknown environment"),
    (["run"], "needs a SYSTEM"),
    (["run", "--from", "/nonexistent/test.json"], "no such file"),
    (["frobnicate"], "invalid choice"),
    (["check", "/nonexistent/history.jsonl", "--model", "register"], "no such file"),
    (["check", "x.jsonl", "--model", "nosuch"], "unknown model"),
    (["check", "x.jsonl", "--model", "register", "--format", "nosuch"], "unknown format"),
    (["report", "/nonexistent"], "no such run directory"),
]


@pytest.mark.parametrize("argv,message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_and_254(argv, message, tmp_path):
    p = subprocess.run([sys.executable, "-m", "harness", *argv], capture_output=True, text=True,
                       cwd=tmp_path, timeout=60)
    assert p.returncode == 254, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert message in lines[0]
    assert "Traceback" not in p.stderr


def test_malformed_history_is_254_naming_file_and_line(tmp_path):
    h = tmp_path / "history.jsonl"
    h.write_text('{"index": 0, "time": 1, "process": 0, "type": "invoke", "f": "read", "value": null}\n'
                 'this is not json\n'
                 '{"index": 2, "time": 3, "process": 0, "type": "ok", "f": "read", "value": null}\n')
    p = subprocess.run([sys.executable, "-m", "harness", "check", str(h), "--model", "register"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 254
    assert f"{h}:2" in p.stderr
    assert "Traceback" not in p.stderr
