"""Helpers for end-to-end runs of the real CLI against real node processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

PROJECT = Path(__file__).resolve().parents[2]


def pytest_configure(config):
    config.addinivalue_line("markers", "installs(target): the module's tests need `splitbrain "
                                       "install TARGET`, run once before them")


@pytest.fixture(scope="module", autouse=True)
def installed(request) -> None:
    """Runs `splitbrain install TARGET` once for a module marked installs(TARGET): installing is
    idempotent, so this is quick when the servers are there already."""
    marker = request.node.get_closest_marker("installs")
    if marker is None:
        return
    p = subprocess.run([sys.executable, "-m", "harness", "install", *marker.args], capture_output=True,
                       text=True, timeout=900)
    assert p.returncode == 0, p.stdout + p.stderr


class Splitbrain:
    """Runs `python -m harness ...` with its run store in a temporary directory."""

    def __init__(self, store: Path, pids_naming: Callable[[str], list[int]]) -> None:
        self.store = store
        self._pids_naming = pids_naming

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "harness", *args]

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        if args and args[0] == "run":
            args = (*args, "--store", str(self.store), "--quiet")
        return subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout,
                              cwd=PROJECT)

    def documented(self, text: str) -> subprocess.CompletedProcess:
        """A command of tests/documented_runs.py, run as the documented-commands test would run
        it (from the directory holding this store, which is that directory's default store),
        its stated verdict checked."""
        from tests.docs.test_documented_commands import run_documented
        return run_documented(text, self.store.parent)

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(self.argv(*args, "--store", str(self.store), "--quiet"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=PROJECT)

    @property
    def latest(self) -> Path:
        return (self.store / "latest").resolve()

    def node_pids(self) -> list[int]:
        return self._pids_naming(str(self.store))

    wait_for_history = staticmethod(lambda path, seconds, timeout=60:
                                    wait_for_history(path, seconds, timeout))

    def results(self) -> dict:
        return json.loads((self.latest / "results.json").read_text())

    def history(self) -> list[dict]:
        return [json.loads(line) for line in (self.latest / "history.jsonl").read_text().splitlines()
                if line.strip()]

    def faults_started(self) -> list[dict]:
        """The nemesis's `info` events of fault starts in the latest history, without the starts
        that found nothing to target (skipped)."""
        return [e for e in self.history() if e["process"] == "nemesis" and e["type"] == "info"
                and e["f"].startswith("start-") and not e["value"].get("skipped")]


@pytest.fixture
def sb(tmp_path, pids_naming, reap):
    store = tmp_path / "store"
    yield Splitbrain(store, pids_naming)
    # Servers never outlive a test, whatever happened to the harness.
    leftovers = reap(str(store))
    assert not leftovers, f"node processes outlived the run: {leftovers}"


def wait_for_history(path: Path, seconds: float, timeout: float = 60) -> None:
    """Block until the history has an event `seconds` into the main phase."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            lines = [line for line in path.read_text().splitlines() if line.strip()]
            client = [json.loads(x) for x in lines if '"process":"nemesis"' not in x]
            if client and (client[-1]["time"] - client[0]["time"]) / 1e9 >= seconds:
                return
        time.sleep(0.2)
    raise AssertionError(f"{path} did not reach {seconds} s of operations")
