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
