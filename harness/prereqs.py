"""Prerequisites: make sure the Debian and Python packages a lab or a fault needs are installed.

Labs, faults and systems depend on tools from the distribution (iptables, nftables, sshd, ...)
that a fresh machine may not have. Rather than failing half way through a test with "command
not found", callers declare what they need once, at the start, and get one clear error if it
cannot be installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from importlib import metadata
from typing import Sequence


class PrerequisiteError(RuntimeError):
    """A required package is missing and could not be installed."""


_apt_updated = False
_apt_lock = threading.Lock()


def missing_debian_packages(pkgs: Sequence[str]) -> list[str]:
    """The packages among `pkgs` that dpkg does not report as installed (one dpkg-query for all)."""
    if shutil.which("dpkg-query") is None:
        raise PrerequisiteError("this machine has no dpkg: install " + " ".join(pkgs) + " by hand")
    if not pkgs:
        return []
    query = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Status}\n", *pkgs],
                           capture_output=True, text=True)
    # "install ok installed"; a removed package with leftover config shows "deinstall ok config-files"
    installed = {line.split(" ", 1)[0] for line in query.stdout.splitlines()
                 if line.strip().endswith(" installed")}
    return [p for p in pkgs if p not in installed]


def _apt(argv: list[str], timeout: float) -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise PrerequisiteError(f"{' '.join(argv)} did not finish in {timeout:g} s") from None
    if p.returncode != 0:
        last = (p.stderr.strip() or p.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise PrerequisiteError(f"{' '.join(argv)} failed (exit {p.returncode}): {last[0]}")


def ensure_debian_packages(pkgs: Sequence[str], timeout: float = 900.0) -> list[str]:
    """Install whichever of `pkgs` are missing; return the ones that were installed.

    Runs `apt-get update` at most once per process, and only when something is missing.
    Needs root; raises PrerequisiteError with one line saying what failed.
    """
    global _apt_updated
    missing = missing_debian_packages(pkgs)
    if not missing:
        return []
    if os.geteuid() != 0:
        raise PrerequisiteError("missing Debian packages " + " ".join(missing)
                                + "; installing them needs root (apt-get install -y ...)")
    with _apt_lock:
        missing = missing_debian_packages(missing)  # another thread may have installed them
        if not missing:
            return []
        if not _apt_updated:
            _apt(["apt-get", "update"], timeout)
            _apt_updated = True
        _apt(["apt-get", "install", "-y", "--no-install-recommends", *missing], timeout)
    still = missing_debian_packages(missing)
    if still:
        raise PrerequisiteError("apt-get reported success but these are not installed: " + " ".join(still))
    return missing


def pip_installed(requirement: str) -> bool:
    """Whether the distribution a requirement names is installed (its version is pip's business)."""
    name = requirement
    for sep in ("==", ">=", "<=", "~=", "!=", ">", "<", "[", ";", " "):
        name = name.split(sep, 1)[0]
    try:
        metadata.version(name.strip())
    except metadata.PackageNotFoundError:
        return False
    return True


def ensure_pip(pkgs: Sequence[str], timeout: float = 900.0) -> list[str]:
    """pip-install whichever of `pkgs` (requirement strings) are missing; return those installed."""
    missing = [p for p in pkgs if not pip_installed(p)]
    if not missing:
        return []
    argv = [sys.executable, "-m", "pip", "install", "--quiet", *missing]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise PrerequisiteError(f"pip install {' '.join(missing)} did not finish in {timeout:g} s") from None
    if p.returncode != 0:
        last = (p.stderr.strip() or p.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise PrerequisiteError(f"pip install {' '.join(missing)} failed: {last[0]}")
    return missing


# What the network lab and its faults need (see docs/hosts-and-faults.md).
LAB_DEBIAN_PACKAGES = ["iproute2", "iptables", "nftables", "procps", "psmisc"]
LATENCY_DEBIAN_PACKAGES = ["libnetfilter-queue-dev", "build-essential", "python3-dev"]
LATENCY_PIP_PACKAGES = ["NetfilterQueue"]
SSH_DEBIAN_PACKAGES = ["openssh-server", "openssh-client"]
CLOCK_SHIM_DEBIAN_PACKAGES = ["gcc", "libc6-dev"]
