"""The Kafka broker's jars: resolved from Maven Central by Maven into a cache directory.

Kafka is not packaged by Debian, and the project fetches nothing but registry packages, so the
broker is assembled from its Maven artifacts: a small pom naming the pinned kafka_2.13 (the
broker), kafka-tools (the metadata-quorum command) and an slf4j binding is written into the cache,
and `mvn dependency:copy-dependencies` copies every runtime jar beside it. A marker file, written
last, makes the step idempotent: a half-finished copy is never mistaken for a finished one.
"""

from __future__ import annotations

import os
import shutil
from typing import Any
import subprocess
from pathlib import Path

KAFKA_VERSION = "3.9.1"  # 3.9+: KRaft honours unclean.leader.election.enable
SLF4J_VERSION = "1.7.36"
JAVA_DEBIAN_PACKAGES = ["openjdk-17-jre-headless", "maven"]


class JarsMissing(RuntimeError):
    """The broker jars are not in the cache (run `splitbrain install kafka`) or Maven failed."""


def cache_dir() -> Path:
    """Where the jars of the pinned version live on this machine."""
    root = os.environ.get("SPLITBRAIN_CACHE") or (
        "/var/cache/splitbrain" if os.geteuid() == 0 else str(Path.home() / ".cache/splitbrain"))
    return Path(root) / f"kafka-{KAFKA_VERSION}"


def _pom() -> str:
    deps = [("org.apache.kafka", "kafka_2.13", KAFKA_VERSION),
            ("org.apache.kafka", "kafka-tools", KAFKA_VERSION),
            ("org.slf4j", "slf4j-reload4j", SLF4J_VERSION)]
    rows = "\n".join(f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
                     f"<version>{v}</version></dependency>" for g, a, v in deps)
    return ("<project xmlns=\"http://maven.apache.org/POM/4.0.0\">\n"
            "  <modelVersion>4.0.0</modelVersion>\n"
            "  <groupId>splitbrain</groupId><artifactId>kafka-broker</artifactId>"
            f"<version>{KAFKA_VERSION}</version>\n"
            "  <packaging>pom</packaging>\n"
            f"  <dependencies>\n{rows}\n  </dependencies>\n</project>\n")


def _marker(cache: Path) -> Path:
    return cache / "COMPLETE"


def jars(cache: Path | None = None) -> list[Path]:
    """The runtime jars, sorted; JarsMissing if the install step has not completed."""
    cache = cache or cache_dir()
    if not _marker(cache).exists():
        raise JarsMissing(f"Kafka {KAFKA_VERSION} jars are not installed in {cache}: "
                          f"run `splitbrain install kafka`")
    found = sorted((cache / "libs").glob("*.jar"))
    if not any(p.name.startswith("kafka_2.13-") for p in found):
        raise JarsMissing(f"{cache}/libs has no kafka_2.13 jar: remove {cache} and run "
                          f"`splitbrain install kafka` again")
    return found


def classpath(cache: Path | None = None) -> str:
    return os.pathsep.join(str(p) for p in jars(cache))


def ensure_broker_jars(cache: Path | None = None, timeout: float = 900.0) -> list[str]:
    """Resolve the pinned broker and its runtime dependencies with Maven; return what was done
    (empty when the cache was complete already)."""
    cache = cache or cache_dir()
    if _marker(cache).exists():
        return []
    if shutil.which("mvn") is None:
        raise JarsMissing("Maven (mvn) is not installed: apt-get install maven")
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "pom.xml").write_text(_pom())
    libs = cache / "libs"
    if libs.exists():
        shutil.rmtree(libs)  # the leftovers of an interrupted copy
    argv = ["mvn", "-B", "-q", "-f", str(cache / "pom.xml"), "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}", "-DincludeScope=runtime"]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise JarsMissing(f"Maven did not resolve Kafka {KAFKA_VERSION} in {timeout:g} s") from None
    if p.returncode != 0:
        lines = [x for x in (p.stdout + p.stderr).splitlines() if "ERROR" in x] or ["no output"]
        raise JarsMissing(f"Maven could not resolve Kafka {KAFKA_VERSION}: {lines[0].strip()}")
    _marker(cache).write_text(KAFKA_VERSION + "\n")
    return [f"kafka_2.13-{KAFKA_VERSION} (Maven, {len(jars(cache))} jars in {libs})"]


def ensure_broker_jars_on(host: Any, cache: Path | None = None) -> list[str]:
    """Give a remote host (a systems.control.hosts.Host) the same jars at the same path, from this
    machine's cache (resolved first if needed), so brokers started there find their classpath."""
    cache = cache or cache_dir()
    ensure_broker_jars(cache)
    marker = _marker(cache)
    if host.run(["test", "-f", str(marker)], timeout=30).exit_code == 0:
        return []
    found = jars(cache)
    for jar in found:
        host.upload(jar, str(cache / "libs" / jar.name))
    host.upload(marker, str(marker))  # last: its presence means the copy is complete
    return [f"{len(found)} Kafka jars copied to {host.name}:{cache / 'libs'}"]


def pending_broker_jars(cache: Path | None = None) -> list[str]:
    """What ensure_broker_jars would still do (empty: the jars are in place), doing nothing."""
    cache = cache or cache_dir()
    return [] if _marker(cache).exists() else [f"kafka_2.13-{KAFKA_VERSION} (Maven)"]
