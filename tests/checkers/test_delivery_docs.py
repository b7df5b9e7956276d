"""Every command and snippet docs/checkers-delivery.md shows, run as shown, from a temporary
directory holding a history.jsonl and a history.edn; and the docs name every finding the checker
can report."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from checkers.delivery import groups, log_cases, order_cases
from tests.checkers.kafka_histories import Kafka

DOC = Path(__file__).resolve().parents[2] / "docs" / "checkers-delivery.md"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(), re.DOTALL)


def example(tmp_path: Path) -> None:
    h = Kafka()
    for i, v in enumerate([1, 2, 3]):
        h.send(0, v, offset=i)
    h.poll({0: [(0, 1), (1, 2), (2, 3)]}, process=1)
    h.jsonl(tmp_path / "history.jsonl")
    h.edn(tmp_path / "history.edn")


def test_the_commands_run_as_shown(tmp_path):
    example(tmp_path)
    commands = [line.split("#")[0] for block in blocks("") for line in block.splitlines()
                if line.startswith("splitbrain ")]
    assert commands
    # The synopsis's HISTORY, as our jsonl and as Jepsen's EDN.
    runs = [line.replace("HISTORY", name) for line in commands
            for name in ("history.jsonl", "history.edn")]
    for line in runs:
        args = shlex.split(line)[1:]
        p = subprocess.run([sys.executable, "-m", "harness", *args], cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, (line, p.stdout, p.stderr)


def test_the_python_snippet_runs(tmp_path, monkeypatch):
    example(tmp_path)
    monkeypatch.chdir(tmp_path)
    snippet, = blocks("python")
    scope: dict = {}
    exec(snippet, scope)
    assert scope["result"]["valid"] is True


def test_every_finding_is_documented():
    text = DOC.read_text()
    names = [*log_cases.CASES, *order_cases.CASES, "unseen", *groups.KINDS, "G0", "G1c",
             "G0-realtime", "G1c-process"]
    missing = [n for n in names if f"`{n}`" not in text]
    assert not missing
