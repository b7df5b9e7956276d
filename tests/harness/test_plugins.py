"""Plugins: a throwaway distribution (a dist-info with entry_points.txt, put on PYTHONPATH; no pip)
adds a system and a checker; `splitbrain list` shows them and a run uses both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]

PLUGIN_MODULE = '''
"""A user's package: a configured raftkv variant and a checker of its own."""
from dataclasses import replace

from checkers.options import Option
from systems.raftkv import RaftKV


class DemoKV(RaftKV):
    name = "demo-kv"
    offer = replace(RaftKV.offer, checkers={"register": (
        {"name": "linearizable", "model": "cas-register"}, {"name": "ok-count", "at_least": 1})})


class OkCount:
    """Valid when at least `at_least` operations completed ok."""

    name = "ok-count"
    options = {"at_least": Option(1, "the fewest ok operations that pass", kind=int, low=0)}

    def __init__(self, at_least=1):
        self.at_least = at_least

    def check(self, history):
        ok = [op for op in history.operations() if op.type == "ok"]
        return {"valid": len(ok) >= self.at_least, "ok": len(ok), "at_least": self.at_least}
'''

ENTRY_POINTS = """
[splitbrain.systems]
demo-kv = sb_demo_plugin:DemoKV

[splitbrain.checkers]
ok-count = sb_demo_plugin:OkCount
"""


@pytest.fixture
def plugin_path(tmp_path) -> Path:
    """A directory holding the package and its dist-info, as pip would lay them out."""
    site = tmp_path / "site"
    (site / "sb_demo_plugin").mkdir(parents=True)
    (site / "sb_demo_plugin" / "__init__.py").write_text(textwrap.dedent(PLUGIN_MODULE))
    info = site / "sb_demo_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sb-demo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return site


@pytest.fixture
def store(tmp_path, reap):
    store = tmp_path / "store"
    yield store
    # Every node the runs started is gone, whatever happened (their --data paths name the store).
    leftovers = reap(str(store))
    assert not leftovers, f"node processes outlived the run: {leftovers}"


def splitbrain(args: list[str], plugin: Path | None) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="250")
    paths = [str(plugin)] if plugin else []
    env["PYTHONPATH"] = os.pathsep.join(paths + [str(PROJECT)])
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, cwd=PROJECT, env=env, timeout=120)


def test_list_shows_the_plugins(plugin_path):
    r = splitbrain(["list"], plugin_path)
    assert r.returncode == 0, r.stderr
    assert "demo-kv" in r.stdout
    checkers_line = next(line for line in r.stdout.splitlines() if line.startswith("checkers"))
    assert "ok-count" in checkers_line and "linearizable" in checkers_line
    # Without the distribution on the path, neither exists.
    r = splitbrain(["list"], None)
    assert "demo-kv" not in r.stdout and "ok-count" not in r.stdout


def test_a_run_uses_the_plugin_system_and_checker(plugin_path, store):
    run = ["run", "demo-kv", "--env", "local", "--nodes", "3", "--workload", "register",
           "--nemesis", "none", "--time-limit", "3", "--store", str(store), "--quiet"]
    r = splitbrain(run, plugin_path)
    assert r.returncode == 0, r.stdout + r.stderr
    results = json.loads((store / "latest" / "results.json").read_text())
    assert results["checkers"]["ok-count"]["valid"] is True
    assert results["checkers"]["ok-count"]["ok"] > 0
    test = json.loads((store / "latest" / "test.json").read_text())
    assert test["system"] == "demo-kv"
    assert {"name": "ok-count", "at_least": 1} in test["checkers"]
    # The plugin checker really judges: an unreachable bar makes the run invalid (exit 1).
    r = splitbrain([*run, "--opt", "at_least=1000000"], plugin_path)  # run --opt reaches checkers
    assert r.returncode == 1, r.stdout + r.stderr
    results = json.loads((store / "latest" / "results.json").read_text())
    assert results["checkers"]["ok-count"]["valid"] is False
    assert results["checkers"]["linearizable"]["valid"] is True


def test_without_the_plugin_the_names_are_unknown(store):
    r = splitbrain(["run", "demo-kv", "--env", "local", "--store", str(store)], None)
    assert r.returncode == 254
    assert "unknown system 'demo-kv'" in r.stderr
