"""The clock-skew shim moves a running process's wall clock, and only its wall clock."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from systems.control.hosts import LocalHost
from harness.prereqs import CLOCK_SHIM_DEBIAN_PACKAGES, PrerequisiteError, ensure_debian_packages
from systems.control.clockshim import build_shim, env_for, set_offset

pytestmark = pytest.mark.timeout(120)

# Prints its shimmed wall clock next to its (unshimmed, machine-wide) monotonic clock, so the
# harness can compute the skew exactly from its own clocks whatever the log delay.
_CLOCK_REPORTER = r"""
import ctypes, time
libc = ctypes.CDLL(None)
libc.time.restype = ctypes.c_long
print("ready", flush=True)
while True:
    print("clock", time.time(), time.monotonic(), libc.time(None), flush=True)
    time.sleep(0.05)
"""


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@pytest.fixture(scope="module")
def shim(tmp_path_factory) -> Path:
    if shutil.which("gcc") is None:
        try:
            ensure_debian_packages(CLOCK_SHIM_DEBIAN_PACKAGES)
        except PrerequisiteError as e:
            pytest.skip(f"cannot build the clock shim: {e}")
    return build_shim(tmp_path_factory.mktemp("shim"))


def test_build_is_cached_by_source_hash(shim):
    again = build_shim(shim.parent)
    assert again == shim and again.stat().st_mtime == shim.stat().st_mtime
    assert shim.name.startswith("clockshim-") and shim.suffix == ".so"


def skew_seconds(host: LocalHost, daemon) -> tuple[float, float]:
    """(wall skew from clock_gettime, wall skew from time()) of the last line the process wrote."""
    lines = [line.split() for line in host.read_log(daemon).splitlines() if line.startswith("clock ")]
    _, wall, mono, whole = lines[-1]
    true_wall = time.time() - (time.monotonic() - float(mono))
    return float(wall) - true_wall, float(whole) - true_wall


def test_a_running_process_jumps_60_s_ahead_and_back(shim, tmp_path):
    host = LocalHost("clock-test")
    offset_file = tmp_path / "offset-ms"
    set_offset(host, offset_file, 0)
    daemon = host.start_daemon("clock-reporter", [sys.executable, "-c", _CLOCK_REPORTER],
                               str(tmp_path / "reporter.log"), env=env_for(offset_file, shim))
    try:
        assert wait_until(lambda: "clock " in host.read_log(daemon), 10), host.read_log(daemon)
        assert abs(skew_seconds(host, daemon)[0]) < 0.05

        set_offset(host, offset_file, 60_000)
        assert wait_until(lambda: abs(skew_seconds(host, daemon)[0] - 60) < 0.05, 3), skew_seconds(host, daemon)
        assert abs(skew_seconds(host, daemon)[1] - 60) <= 1  # time() has whole seconds

        set_offset(host, offset_file, -1500)
        assert wait_until(lambda: abs(skew_seconds(host, daemon)[0] + 1.5) < 0.05, 3), skew_seconds(host, daemon)

        set_offset(host, offset_file, 0)
        assert wait_until(lambda: abs(skew_seconds(host, daemon)[0]) < 0.05, 3), skew_seconds(host, daemon)
        assert host.alive(daemon)
    finally:
        host.close()


def test_the_shim_leaves_processes_without_it_and_monotonic_time_alone(shim, tmp_path):
    offset_file = tmp_path / "offset-ms"
    set_offset(LocalHost(), offset_file, 3_600_000)
    script = "import time; print(time.time(), time.monotonic())"
    shimmed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             env=dict(os.environ, **env_for(offset_file, shim)), check=True)
    plain = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    (s_wall, s_mono), (p_wall, p_mono) = (map(float, r.stdout.split()) for r in (shimmed, plain))
    assert 3590 < s_wall - p_wall < 3610
    assert abs(s_mono - p_mono) < 10  # same machine-wide monotonic clock, not shifted


def test_redis_time_moves_with_the_offset(shim, tmp_path, lab):
    if shutil.which("redis-server") is None:
        try:
            ensure_debian_packages(["redis-server"])
        except PrerequisiteError as e:
            pytest.skip(f"redis-server is not installable here: {e}")
    host = lab.host("n1")
    offset_file = tmp_path / "redis-offset-ms"
    set_offset(host, offset_file, 0)
    addr = lab.address("n1")
    daemon = host.start_daemon("redis", ["redis-server", "--bind", addr, "--port", "6390", "--save", "",
                                         "--appendonly", "no", "--protected-mode", "no",
                                         "--dir", str(tmp_path)],
                               str(tmp_path / "redis.log"), env=env_for(offset_file, shim))

    def redis_time() -> float:
        with socket.create_connection((addr, 6390), timeout=2) as s:
            s.sendall(b"*1\r\n$4\r\nTIME\r\n")
            data = b""
            while data.count(b"\r\n") < 5:
                chunk = s.recv(256)
                if not chunk:
                    raise ConnectionError(f"redis closed the connection after {data!r}")
                data += chunk
        parts = data.split(b"\r\n")  # *2, $n, seconds, $n, microseconds
        return int(parts[2]) + int(parts[4]) / 1e6

    def reachable() -> bool:
        try:
            redis_time()
            return True
        except OSError:
            return False

    try:
        assert wait_until(reachable, 10), host.read_log(daemon)
        assert abs(redis_time() - time.time()) < 1
        set_offset(host, offset_file, 3_600_000)
        assert wait_until(lambda: abs(redis_time() - time.time() - 3600) < 1, 3)
        set_offset(host, offset_file, 0)
        assert wait_until(lambda: abs(redis_time() - time.time()) < 1, 3)
    finally:
        host.signal(daemon, 9)
