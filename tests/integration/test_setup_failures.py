"""Setup that cannot succeed: one clear line naming what to do, exit 255 (254 for a system not
installed yet, refused before it starts), nothing left running.

(A port already taken: tests/integration/test_redis.py and tests/systems/test_raftkv_cluster.py;
a cluster whose nodes never answer: tests/integration/test_external.py.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]


def _splitbrain(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env={**os.environ, **env})


def test_a_failed_install_is_one_line_and_255(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory should go")
    p = _splitbrain("install", "kafka", env={"SPLITBRAIN_CACHE": str(blocker / "cache")},
                    cwd=PROJECT)
    assert p.returncode == 255, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr
    assert "install" in lines[0] and str(blocker) in lines[0]


def test_a_system_that_is_not_installed_is_refused_before_anything_starts(sb, tmp_path):
    """Kafka's broker jars missing (an empty cache): refused as not installed yet, one line
    naming the command that installs it, exit 254, before a run directory or process exists."""
    empty = tmp_path / "empty-cache"
    empty.mkdir()
    p = subprocess.run(sb.argv("run", "kafka", "--env", "local", "--time-limit", "5",
                               "--store", str(sb.store), "--quiet"),
                       capture_output=True, text=True, timeout=300, cwd=PROJECT,
                       env={**os.environ, "SPLITBRAIN_CACHE": str(empty)})
    assert p.returncode == 254, p.stdout + p.stderr
    lines = [x for x in p.stderr.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in p.stderr
    assert "kafka_2.13-3.9.1" in lines[0] and "run `splitbrain install kafka`" in lines[0]
    assert not sb.store.exists()


VANISHING_CLIENT = '''
"""A client of a cluster that serves for a while and then takes no connection at all."""
import threading
import time

from systems.base import Completion

SERVES_FOR_S = 3.0  # past setup and the workers' connections, before the final reads
_started = time.monotonic()
_values = {}
_lock = threading.Lock()


class VanishingClient:
    def open(self, ctx, node):
        if time.monotonic() - _started > SERVES_FOR_S:
            raise ConnectionRefusedError("the cluster is gone")

    def invoke(self, op):
        with _lock:
            if op.f == "read":
                return Completion.ok(_values.get(op.key))
            if op.f == "write":
                _values[op.key] = op.value
                return Completion.ok(op.value)
            expected, new = op.value
            if _values.get(op.key) != expected:
                return Completion.fail("cas mismatch")
            _values[op.key] = new
            return Completion.ok(op.value)

    def close(self):
        pass
'''


@pytest.mark.slow
def test_a_system_gone_for_the_final_reads_fails_progress(sb, tmp_path):
    """A node that takes no connection in the whole final phase leaves its final reads recorded as
    info ("no connection to the node"), so the run is invalid instead of vacuously valid."""
    (tmp_path / "vanishing_client.py").write_text(VANISHING_CLIENT)
    p = subprocess.run(sb.argv("run", "external", "--env", "local", "--nodes", "1",
                               "--opt", "nodes=n1=127.0.0.1:9", "--opt",
                               "client=vanishing_client:VanishingClient", "--opt",
                               "health-cmd=true", "--workload", "register", "--nemesis", "none",
                               "--time-limit", "6", "--op-timeout", "1", "--store", str(sb.store),
                               "--quiet"),
                       capture_output=True, text=True, timeout=300, cwd=PROJECT,
                       env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{PROJECT}"})
    assert p.returncode == 1, p.stdout + p.stderr
    progress = sb.results()["checkers"]["progress"]
    assert progress["valid"] is False and progress["final"]["not_ok"]
    assert all(op["error"] == "no connection to the node" for op in progress["final"]["not_ok"])
    assert "ended info (no connection to the node)" in p.stdout
