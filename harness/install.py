"""`splitbrain install TARGET...`: install what a system, or the test suite, needs; idempotent.

Each target lists Debian packages and Python packages; what is there already is left alone, so
the command is cheap to run before every test run (the README's test command does). Every system
`splitbrain list` shows is a target; `missing(target)` says what installing it would still do,
which is how `list` marks systems not installed yet and `run` refuses them up front.
"""

from __future__ import annotations

import importlib
from typing import Collection

from harness import prereqs
from harness.errors import EnvironmentFailure, UsageError

REDIS = {"debian": ["redis-server", "redis-sentinel", "redis-tools", "gcc", "libc6-dev"],
         "pip": ["redis>=8.1,<9"]}
TARGETS: dict[str, dict[str, list[str]]] = {
    # raftkv itself is pure Python; what it needs is the default environment (netns) and its faults.
    "raftkv": {"debian": prereqs.LAB_DEBIAN_PACKAGES, "pip": []},
    "redis": REDIS, "redis-sentinel": REDIS, "redis-cluster": REDIS,
    "lab": {"debian": prereqs.LAB_DEBIAN_PACKAGES + prereqs.SSH_DEBIAN_PACKAGES
            + prereqs.CLOCK_SHIM_DEBIAN_PACKAGES + prereqs.LATENCY_DEBIAN_PACKAGES,
            "pip": prereqs.LATENCY_PIP_PACKAGES},
    "zookeeper": {"debian": ["zookeeper", "openjdk-17-jre-headless"], "pip": ["kazoo==2.11.0"]},
    "etcd": {"debian": ["etcd-server", "etcd-client"], "pip": []},
    "keepalived": {"debian": ["keepalived", "iproute2"], "pip": []},
    "kafka": {"debian": ["openjdk-17-jre-headless", "maven"], "pip": ["confluent-kafka>=2.6,<3"]},
    # The user's cluster and client class: what they need is theirs to install.
    "external": {"debian": [], "pip": []},
}
TARGETS["tests"] = {k: sorted({x for t in TARGETS.values() for x in t[k]}) for k in ("debian", "pip")}
# Steps beyond packages, run after them ("module:function" returning what it did, raising a
# RuntimeError with one line when it fails): Kafka's broker jars come from Maven Central.
STEPS: dict[str, list[str]] = {"kafka": ["systems.kafka.install:ensure_broker_jars"]}
STEPS["tests"] = sorted({s for steps in STEPS.values() for s in steps})
# For each step, "module:function" returning what the step would still do, doing nothing.
STEP_PENDING = {"systems.kafka.install:ensure_broker_jars": "systems.kafka.install:pending_broker_jars"}
# The same steps for a remote host ("module:function" taking the host): what it needs beyond
# Debian packages (Python clients run on the harness, so hosts need no pip packages).
REMOTE_STEPS: dict[str, list[str]] = {"kafka": ["systems.kafka.install:ensure_broker_jars_on"]}
NOTHING: dict[str, list[str]] = {"debian": [], "pip": []}


def _target(name: str) -> dict[str, list[str]]:
    """A target's packages. A system added by a plugin is a target too: its own distribution
    brought what it needs, so there is nothing left to install."""
    if name in TARGETS:
        return TARGETS[name]
    from harness import registry
    if name in registry.names("system"):
        return NOTHING
    raise UsageError(f"unknown install target {name!r}; known: "
                     f"{', '.join(sorted(set(TARGETS) | set(registry.names('system'))))}")


def missing(target: str, debian: bool = True, ignore: Collection[str] = ()) -> list[str]:
    """What `splitbrain install target` would still install on this machine (empty: nothing),
    without installing it: Python packages first, then (with `debian`) Debian packages, except
    those in `ignore`, and steps. Debian packages are not judged on a machine without dpkg (they
    may come from elsewhere)."""
    wanted = _target(target)
    lacking = [p for p in wanted["pip"] if not prereqs.pip_installed(p)]
    if debian:
        packages = [p for p in wanted["debian"] if p not in ignore]
        try:
            lacking += prereqs.missing_debian_packages(packages) if packages else []
        except prereqs.PrerequisiteError:
            pass
        for step in STEPS.get(target, []):
            lacking += _call(STEP_PENDING[step])
    return lacking


def _call(step: str, *args: object) -> list[str]:
    module, _, name = step.partition(":")
    return getattr(importlib.import_module(module), name)(*args)


def install(targets: list[str]) -> list[str]:
    """Install every target's packages; return what was newly installed."""
    wanted = [_target(t) for t in targets]  # every name checked before anything is installed
    debian = sorted({p for t in wanted for p in t["debian"]})
    pip = sorted({p for t in wanted for p in t["pip"]})
    try:
        done = prereqs.ensure_debian_packages(debian) if debian else []
        done += prereqs.ensure_pip(pip) if pip else []
    except prereqs.PrerequisiteError as e:
        raise EnvironmentFailure(str(e)) from None
    for step in sorted({s for t in targets for s in STEPS.get(t, [])}):
        try:
            done += _call(step)
        except RuntimeError as e:
            raise EnvironmentFailure(str(e)) from None
        except OSError as e:  # e.g. a cache directory that cannot be created
            where = f" ({e.filename})" if e.filename else ""
            raise EnvironmentFailure(f"install step {step} failed: {e.strerror}{where}") from None
    return done


def install_on_hosts(targets: list[str], hosts: list) -> list[str]:
    """`splitbrain install TARGET --hosts ...`: the same install on SSH hosts (systems.control.ssh.SshHost,
    sudo where the login is not root): missing Debian packages through apt-get, then the remote
    steps. Returns what was done, per host."""
    from systems.control.hosts import HostError

    debian = sorted({p for t in targets for p in _target(t)["debian"]})
    steps = sorted({s for t in targets for s in REMOTE_STEPS.get(t, [])})
    done: list[str] = []
    for host in hosts:
        try:
            absent = [p for p in debian if not _remote_dpkg_installed(host, p)]
            if absent:
                for argv in (["apt-get", "update"],
                             ["apt-get", "install", "-y", "--no-install-recommends", *absent]):
                    r = host.run(["env", "DEBIAN_FRONTEND=noninteractive", *argv], timeout=900)
                    if r.exit_code != 0:
                        why = (r.stderr.strip() or r.stdout.strip() or "no output").splitlines()[-1]
                        raise EnvironmentFailure(f"{host.name}: {' '.join(argv)} failed: {why}")
                done += [f"{host.name}: {p}" for p in absent]
            for step in steps:
                done += [f"{host.name}: {x}" for x in _call(step, host)]
        except (HostError, RuntimeError, OSError) as e:  # unreachable, refused, a failed copy
            raise EnvironmentFailure(f"{host.name}: install failed: {e}") from None
        finally:
            host.close()
    return done


def _remote_dpkg_installed(host, package: str) -> bool:
    r = host.run(["dpkg-query", "-W", "-f=${Status}", package], timeout=60)
    return r.exit_code == 0 and r.stdout.strip().endswith(" installed")
