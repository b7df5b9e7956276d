"""What a new user meets first: `splitbrain list` (whole cells, --json, which systems are not
installed yet), `splitbrain install SYSTEM` for every listed system, and `run` refusing a system
whose client library is missing with the command that installs it. The run store is resolved once,
so node paths are absolute whatever the working directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import cli, install, prereqs, registry
from harness.runner import prepare
from harness.spec import TestSpec as Spec  # (not a pytest test class)
from harness.store import create_run_dir

PROJECT = Path(__file__).resolve().parents[2]
CLIENT_LIBRARIES = ("redis", "kazoo", "confluent_kafka")
# A fresh interpreter in which the optional client libraries cannot be imported.
WITHOUT_CLIENTS = ("import sys\n"
                   f"for name in {CLIENT_LIBRARIES!r}:\n"
                   "    sys.modules[name] = None  # import raises ModuleNotFoundError\n"
                   "from harness.cli import main\n"
                   "sys.exit(main(sys.argv[1:]))\n")


def splitbrain_without_clients(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    return subprocess.run([sys.executable, "-c", WITHOUT_CLIENTS, *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120)


def test_list_works_without_any_client_library(tmp_path):
    p = splitbrain_without_clients("list", "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    systems = {s["name"]: s for s in json.loads(p.stdout)["systems"]}
    assert set(systems) == set(registry.names("system"))
    assert systems["redis-sentinel"]["workloads"] == ["register", "set", "lock", "append", "wr",
                                                      "counter"]
    assert "zookeeper.tick-ms" in systems["zookeeper"]["options"]
    assert "acks" in systems["kafka"]["options"]


def test_systems_are_importable_without_their_client_libraries(tmp_path):
    code = ("import sys\n"
            f"for name in {CLIENT_LIBRARIES!r}:\n"
            "    sys.modules[name] = None\n"
            "from harness import registry\n"
            "for name in registry.names('system'):\n"
            "    registry.load('system', name)()\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": str(PROJECT)}, timeout=120)
    assert p.returncode == 0, p.stderr


@pytest.fixture
def redis_not_installed(monkeypatch):
    """This machine as one on which redis-py was never installed."""
    real = prereqs.pip_installed
    monkeypatch.setattr(prereqs, "pip_installed", lambda req: not req.startswith("redis") and real(req))


@pytest.mark.parametrize("system", ["redis", "redis-sentinel", "redis-cluster"])
def test_run_of_a_system_not_installed_says_how_to_install_it(system, redis_not_installed, tmp_path,
                                                               monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = cli.main(["run", system, "--env", "local", "--time-limit", "1"])
    err = capsys.readouterr().err
    assert code == 254
    assert err.count("\n") == 1, err
    assert f"run `splitbrain install {system}`" in err
    assert "redis>=8.1" in err  # says what is missing
    assert not (tmp_path / "store").exists()  # refused before anything started


def test_list_marks_systems_not_installed(redis_not_installed, capsys):
    assert cli.main(["list", "--json"]) == 0
    systems = {s["name"]: s for s in json.loads(capsys.readouterr().out)["systems"]}
    for name in ("redis", "redis-sentinel", "redis-cluster"):
        assert systems[name]["installed"] is False
        assert systems[name]["missing"] == ["redis>=8.1,<9"]
        assert systems[name]["install"] == f"splitbrain install {name}"
    assert systems["raftkv"]["installed"] is True
    assert cli.main(["list"]) == 0
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if line.startswith("│ redis-cluster "))
    assert "no: splitbrain install redis-cluster" in row


def test_list_prints_cells_whole_when_piped(tmp_path):
    """Not on a terminal: no cell is cut ("…") or wrapped, so every name can be copied; every
    option key of every system appears whole on one line."""
    p = subprocess.run([sys.executable, "-m", "harness", "list"], capture_output=True, text=True,
                       cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(PROJECT)}, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "…" not in p.stdout
    lines = p.stdout.splitlines()
    assert all(line == line.rstrip() for line in lines)
    data = cli.catalogue()
    for s in data["systems"]:
        for key, option in s["options"].items():
            assert any(f"{key}={option['default']}: {option['doc']}" in line for line in lines), key
        for bug, doc in s["bugs"].items():
            assert any(f"{bug}: {doc}" in line for line in lines), bug
    for w in data["workloads"]:
        assert any(w["description"] in line for line in lines), w["name"]


def test_list_json_has_every_section():
    data = cli.catalogue()
    assert set(data) == {"systems", "workloads", "nemeses", "environments", "checkers", "models",
                         "formats"}
    assert {f["name"] for f in data["nemeses"]} == set(registry.names("nemesis"))
    assert {w["name"] for w in data["workloads"]} == set(registry.names("workload"))
    assert sum(e["default"] for e in data["environments"]) == 1
    assert "linearizable" in data["checkers"] and "cas-register" in data["models"]
    assert "auto" in data["formats"] and "jepsen-edn" in data["formats"]
    json.dumps(data)  # plain data throughout


def test_every_listed_system_is_an_install_target():
    for name in registry.names("system"):
        install.missing(name)  # no UsageError: a known target


@pytest.mark.parametrize("system", registry.names("system"))
def test_install_succeeds_for_every_listed_system_and_is_idempotent(system, tmp_path):
    """`splitbrain install tests` (run before the suite) installed everything, so each system's
    install has nothing left to do, twice over."""
    for _ in range(2):
        p = subprocess.run([sys.executable, "-m", "harness", "install", system],
                           capture_output=True, text=True, cwd=tmp_path, timeout=900,
                           env={**os.environ, "PYTHONPATH": str(PROJECT)})
        assert p.returncode == 0, p.stderr
        assert p.stdout.strip() == "installed: nothing (all present)"
        assert install.missing(system) == []


def test_unknown_install_target_names_the_known_ones(capsys):
    assert cli.main(["install", "no-such-system"]) == 254
    err = capsys.readouterr().err
    assert "redis-sentinel" in err and "tests" in err


def test_the_run_store_is_resolved_once_to_an_absolute_path(tmp_path, monkeypatch):
    """A relative store (the default, `store`) gives an absolute run directory: every node path
    (a Redis config file, a ZooKeeper dataDir, Kafka's log4j file) derives from it, and a server
    started in another working directory reads the same path."""
    monkeypatch.chdir(tmp_path)
    run_dir = create_run_dir("store", "demo")
    assert run_dir.is_absolute()
    assert run_dir.parent == tmp_path.resolve() / "store" / "demo"
    assert (tmp_path / "store" / "latest").resolve() == run_dir


def test_the_lab_tools_matter_to_env_netns_alone(monkeypatch, tmp_path, capsys):
    """raftkv's install target brings the network lab's tools (iptables, nftables...), which only
    env netns uses: a machine without them still runs raftkv on env local."""
    real = prereqs.missing_debian_packages
    monkeypatch.setattr(prereqs, "missing_debian_packages",
                        lambda pkgs: [p for p in pkgs if p == "nftables"] + real(pkgs))
    assert install.missing("raftkv") == ["nftables"]
    assert install.missing("raftkv", ignore=prereqs.LAB_DEBIAN_PACKAGES) == []
    prepare(Spec(system="raftkv", env="local", nemesis=("kill",)))  # accepted: nothing missing
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "raftkv", "--env", "netns", "--time-limit", "1"]) == 254
    assert "missing nftables): run `splitbrain install raftkv`" in capsys.readouterr().err
