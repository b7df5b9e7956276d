"""`splitbrain check` says what is wrong with a path (one line, exit 254), and takes a run
directory, checking its history with the checkers its test.json names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import EXIT_WITHOUT_FREEING

EVENTS = [
    {"index": 0, "time": 10, "process": 0, "type": "invoke", "f": "write", "value": 1},
    {"index": 1, "time": 20, "process": 0, "type": "ok", "f": "write", "value": 1},
    {"index": 2, "time": 30, "process": 1, "type": "invoke", "f": "read", "value": None},
    {"index": 3, "time": 40, "process": 1, "type": "ok", "f": "read", "value": 1},
]


def check(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", "check", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=60)


def run_dir(tmp_path: Path) -> Path:
    d = tmp_path / "store" / "raftkv-register" / "20261206T000000.000000Z"
    d.mkdir(parents=True)
    (d / "history.jsonl").write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    (d / "test.json").write_text(json.dumps(
        {"system": "raftkv", "checkers": [{"name": "linearizable", "model": "register"},
                                          {"name": "stats"}]}, indent=2))
    return d


def test_a_run_directory_is_checked_with_its_checkers(tmp_path):
    d = run_dir(tmp_path)
    p = check(str(d), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(f"{d}\tvalid\t2 ops\t")
    # --model replaces the checkers of test.json: a write of 1 then a read of 1 is no cas
    q = check(str(d), "--model", "mutex", cwd=tmp_path)
    assert q.returncode == 254 and "the mutex model has no operation 'write'" in q.stderr


@pytest.mark.parametrize("make,message", [
    (lambda t: t / "absent.jsonl", "no such file"),
    (lambda t: t, "a directory, not a history file, and no run directory (it has no "
                  "history.jsonl)"),
    (lambda t: _write(t / "empty.jsonl", b""), "no checkers to run (and it holds no "
                                               "operations): pass --model M"),
    (lambda t: _write(t / "blob.bin", bytes(range(256)) * 10), "binary data, not a history"),
    (lambda t: _write(t / "notes.txt", b"shopping list\neggs\n"),
     "not a history: it starts with 'shopping list'"),
    (lambda t: _write(t / "test.json", b'{\n  "system": "raftkv"\n}\n'),
     "a JSON document spread over several lines"),
    (lambda t: _write(t / "results.jsonl", b'{"valid": true}\n'), "JSON, but not a history event"),
])
def test_a_bad_path_says_what_is_wrong(tmp_path, make, message):
    path = make(tmp_path)
    p = check(str(path), "--model", "register", cwd=tmp_path) if "checkers" not in message \
        else check(str(path), cwd=tmp_path)
    assert p.returncode == 254, (p.stdout, p.stderr)
    lines = [ln for ln in p.stderr.splitlines() if "checker core runs interpreted" not in ln]
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith(f"{path}\terror\t") and message in lines[0], lines[0]
    assert "Traceback" not in p.stderr


def test_an_empty_history_with_a_model_is_valid_with_no_operations(tmp_path):
    path = _write(tmp_path / "empty.edn", b"\n")
    p = check(str(path), "--model", "cas-register", cwd=tmp_path)
    assert p.returncode == 0 and f"{path}\tvalid\t0 ops" in p.stdout


def test_every_file_gets_its_line_and_the_worst_exit_wins(tmp_path):
    d = run_dir(tmp_path)
    p = check(str(d), str(tmp_path / "absent"), cwd=tmp_path)
    assert p.returncode == 254
    assert f"{d}\tvalid" in p.stdout and f"{tmp_path / 'absent'}\terror\tno such file" in p.stderr


def test_checker_options_with_opt(tmp_path):
    d = run_dir(tmp_path)
    p = check(str(d / "history.jsonl"), "--opt", "linearizable.split_keys=false", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    bad = check(str(d), "--opt", "consistency=serializable", cwd=tmp_path)
    assert bad.returncode == 254
    assert "no checker here takes 'consistency'" in bad.stderr
    assert "linearizable: model, split_keys, timeout, workers" in bad.stderr
    typo = check(str(d), "--model", "register", "--opt", "timeout=soon", cwd=tmp_path)
    assert typo.returncode == 254 and "timeout='soon': expected a number" in typo.stderr


def test_run_from_a_directory_without_test_json_is_one_line(tmp_path):
    p = subprocess.run([sys.executable, "-m", "harness", "run", "--from", str(tmp_path)],
                       capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert p.returncode == 254
    assert p.stderr.strip() == f"splitbrain: error: {tmp_path}: a directory without test.json " \
                               f"(not a run directory)"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _big_list_append_history(path: Path) -> Path:
    """Serial list-append transactions making EXIT_WITHOUT_FREEING events or more, one of them
    reading a value never appended (garbage: invalid), and a torn last line (a warning)."""
    lines, index, appended = [], 0, {}
    for t in range(EXIT_WITHOUT_FREEING // 2 + 1):
        key = t // 10  # a key retires after 10 appends
        appended.setdefault(key, []).append(t)
        read = list(appended[key]) if t != 7 else [*appended[key], -1]
        txn = [["append", key, t], ["r", key, read]]
        for type_, value in (("invoke", [["append", key, t], ["r", key, None]]), ("ok", txn)):
            lines.append(json.dumps({"index": index, "time": index, "process": 0,
                                     "type": type_, "f": "txn", "value": value}) + "\n")
            index += 1
    path.write_text("".join(lines) + '{"index": ' + str(index) + ', "ti')
    return path


def test_a_big_history_checked_by_the_command_itself_says_everything_before_it_ends(tmp_path):
    # The command ends with os._exit after a history this big (harness/cli.py: _exit_now): what
    # it prints must all be written first, also when stdout is a file (fully buffered), and a
    # caller of main() must get the same output and its exit code back instead of an exit.
    big = _big_list_append_history(tmp_path / "big.jsonl")
    small = run_dir(tmp_path) / "history.jsonl"
    args = ["check", "--checker", "elle", str(big), str(small)]
    ran = tmp_path / "command.out", tmp_path / "command.err"
    # atexit handlers do not run after os._exit: proof that the early end was taken
    script = ("import atexit, sys; atexit.register(lambda: print('atexit ran', file=sys.stderr));"
              f" sys.argv = ['splitbrain', *{args!r}]; from harness.cli import entry; entry()")
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    with open(ran[0], "w") as out, open(ran[1], "w") as err:
        code = subprocess.run([sys.executable, "-c", script], stdout=out, stderr=err,
                              cwd=tmp_path, env=buffered, timeout=300).returncode
    in_process = subprocess.run([sys.executable, "-c", (
        "import atexit, sys; atexit.register(lambda: print('atexit ran', file=sys.stderr));"
        f" from harness.cli import main; print('returned', main({args!r}), file=sys.stderr)")],
        capture_output=True, text=True, cwd=tmp_path, timeout=300)
    command_out, command_err = ran[0].read_text(), ran[1].read_text()
    assert code == 1, (command_out, command_err)
    assert "atexit ran" not in command_err  # ended by os._exit
    assert in_process.stderr.endswith("returned 1\natexit ran\n"), in_process.stderr
    timeless = lambda text: [line.rsplit("\t", 1)[0] if "\t" in line else line
                             for line in text.splitlines()]
    assert timeless(command_out) == timeless(in_process.stdout)
    assert timeless(command_out)[0] == f"{big}\tINVALID\t{EXIT_WITHOUT_FREEING // 2 + 1} ops"
    assert "garbage" in command_out.splitlines()[1]
    assert timeless(command_out)[-1] == f"{small}\tvalid\t2 ops"
    assert command_err == in_process.stderr.replace("returned 1\natexit ran\n", "")
    assert "torn last line skipped" in command_err
