"""`splitbrain install TARGET...`: install what a system, or the test suite, needs; idempotent.

Each target lists Debian packages and Python packages; what is there already is left alone, so
the command is cheap to run before every test run (the README's test command does).
"""

from __future__ import annotations

import importlib

from harness import prereqs
from harness.errors import EnvironmentFailure, UsageError

TARGETS: dict[str, dict[str, list[str]]] = {
    # raftkv itself is pure Python; what it needs is the default environment (netns) and its faults.
    "raftkv": {"debian": prereqs.LAB_DEBIAN_PACKAGES, "pip": []},
    "redis": {"debian": ["redis-server", "redis-sentinel", "redis-tools", "gcc", "libc6-dev"],
              "pip": ["redis>=8.1,<9"]},
    "lab": {"debian": prereqs.LAB_DEBIAN_PACKAGES + prereqs.SSH_DEBIAN_PACKAGES
            + prereqs.CLOCK_SHIM_DEBIAN_PACKAGES + prereqs.LATENCY_DEBIAN_PACKAGES,
            "pip": prereqs.LATENCY_PIP_PACKAGES},
    "zookeeper": {"debian": ["zookeeper", "openjdk-17-jre-headless"], "pip": ["kazoo==2.11.0"]},
    "etcd": {"debian": ["etcd-server", "etcd-client"], "pip": []},
    "keepalived": {"debian": ["keepalived", "iproute2"], "pip": []},
    "kafka": {"debian": ["openjdk-17-jre-headless", "maven"], "pip": ["confluent-kafka>=2.6,<3"]},
}
TARGETS["tests"] = {k: sorted({x for t in TARGETS.values() for x in t[k]}) for k in ("debian", "pip")}
# Steps beyond packages, run after them ("module:function" returning what it did, raising a
# RuntimeError with one line when it fails): Kafka's broker jars come from Maven Central.
STEPS: dict[str, list[str]] = {"kafka": ["systems.kafka.install:ensure_broker_jars"]}
STEPS["tests"] = sorted({s for steps in STEPS.values() for s in steps})
# The same steps for a remote host ("module:function" taking the host): what it needs beyond
# Debian packages (Python clients run on the harness, so hosts need no pip packages).
REMOTE_STEPS: dict[str, list[str]] = {"kafka": ["systems.kafka.install:ensure_broker_jars_on"]}


def install(targets: list[str]) -> list[str]:
    """Install every target's packages; return what was newly installed."""
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        raise UsageError(f"unknown install target {unknown[0]!r}; known: {', '.join(sorted(TARGETS))}")
    debian = sorted({p for t in targets for p in TARGETS[t]["debian"]})
    pip = sorted({p for t in targets for p in TARGETS[t]["pip"]})
    try:
        done = prereqs.ensure_debian_packages(debian) if debian else []
        done += prereqs.ensure_pip(pip) if pip else []
    except prereqs.PrerequisiteError as e:
        raise EnvironmentFailure(str(e)) from None
    for step in sorted({s for t in targets for s in STEPS.get(t, [])}):
        module, _, name = step.partition(":")
        try:
            done += getattr(importlib.import_module(module), name)()
        except RuntimeError as e:
            raise EnvironmentFailure(str(e)) from None
        except OSError as e:  # e.g. a cache directory that cannot be created
            where = f" ({e.filename})" if e.filename else ""
            raise EnvironmentFailure(f"install step {step} failed: {e.strerror}{where}") from None
    return done


def install_on_hosts(targets: list[str], hosts: list) -> list[str]:
    """`splitbrain install TARGET --hosts ...`: the same install on SSH hosts (harness.ssh.SshHost,
    sudo where the login is not root): missing Debian packages through apt-get, then the remote
    steps. Returns what was done, per host."""
    from harness.hosts import HostError

    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        raise UsageError(f"unknown install target {unknown[0]!r}; known: {', '.join(sorted(TARGETS))}")
    debian = sorted({p for t in targets for p in TARGETS[t]["debian"]})
    steps = sorted({s for t in targets for s in REMOTE_STEPS.get(t, [])})
    done: list[str] = []
    for host in hosts:
        try:
            missing = [p for p in debian if not _remote_dpkg_installed(host, p)]
            if missing:
                for argv in (["apt-get", "update"],
                             ["apt-get", "install", "-y", "--no-install-recommends", *missing]):
                    r = host.run(["env", "DEBIAN_FRONTEND=noninteractive", *argv], timeout=900)
                    if r.exit_code != 0:
                        why = (r.stderr.strip() or r.stdout.strip() or "no output").splitlines()[-1]
                        raise EnvironmentFailure(f"{host.name}: {' '.join(argv)} failed: {why}")
                done += [f"{host.name}: {p}" for p in missing]
            for step in steps:
                module, _, name = step.partition(":")
                done += [f"{host.name}: {x}"
                         for x in getattr(importlib.import_module(module), name)(host)]
        except (HostError, RuntimeError, OSError) as e:  # unreachable, refused, a failed copy
            raise EnvironmentFailure(f"{host.name}: install failed: {e}") from None
        finally:
            host.close()
    return done


def _remote_dpkg_installed(host, package: str) -> bool:
    r = host.run(["dpkg-query", "-W", "-f=${Status}", package], timeout=60)
    return r.exit_code == 0 and r.stdout.strip().endswith(" installed")
