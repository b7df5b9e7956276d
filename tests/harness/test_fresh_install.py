"""A new user's first minutes, in a fresh virtualenv with the README's install and none of the
optional client libraries: `splitbrain list` works and says which systems are not installed yet,
`splitbrain run redis` names the command that installs it, and after that command it runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    """The bin directory of a new virtualenv holding `pip install -e PROJECT[dev]` only."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    # The compiled checker core is not what is tested here: skip its minute-long build.
    env = {**os.environ, "SPLITBRAIN_PURE_PYTHON": "1"}
    p = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-e",
                        f"{PROJECT}[dev]"], capture_output=True, text=True, env=env, timeout=900)
    assert p.returncode == 0, p.stdout + p.stderr
    return venv / "bin"


def splitbrain(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return subprocess.run([str(bin_dir / "splitbrain"), *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)


def test_list_then_run_then_install_then_run(fresh, tmp_path):
    python = str(fresh / "python")
    have = subprocess.run([python, "-c", "import redis"], capture_output=True)
    assert have.returncode != 0, "the fresh virtualenv already has redis-py"

    listed = splitbrain(fresh, "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith("│ redis "))
    assert "no: splitbrain install redis" in row
    for name in ("zookeeper", "kafka", "redis-sentinel"):
        assert any(line.startswith(f"│ {name} ") and f"no: splitbrain install {name}" in line
                   for line in listed.stdout.splitlines()), name

    refused = splitbrain(fresh, "run", "redis", cwd=tmp_path)
    assert refused.returncode == 254, refused.stdout + refused.stderr
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert "run `splitbrain install redis`" in refused.stderr
    assert not (tmp_path / "store").exists()

    installed = splitbrain(fresh, "install", "redis", cwd=tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "redis>=8.1" in installed.stdout
    systems = {s["name"]: s for s in json.loads(splitbrain(fresh, "list", "--json",
                                                           cwd=tmp_path).stdout)["systems"]}
    assert systems["redis"]["installed"] and systems["redis-cluster"]["installed"]
    assert not systems["zookeeper"]["installed"]

    ran = splitbrain(fresh, "run", "redis", "--nodes", "1", "--env", "local", "--nemesis", "none",
                     "--time-limit", "3", cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.strip().splitlines()[-1].startswith("valid: store/redis-register/")
