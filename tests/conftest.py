"""Fixtures for more than one test directory: real sshd servers inside a lab.

tests/lab drives SshHost against them and tests/envs runs whole tests over env ssh on them. They
live here because with --import-mode=importlib one test directory cannot import another's
helpers: what both need reaches them as a fixture.

Each sshd runs inside its node's network namespace and in a mount namespace of its own where a
per-node directory is bind-mounted over /srv/splitbrain, so a file uploaded to the wrong host
shows up in the wrong directory and the test notices.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import pytest

from systems.control.lab import Lab

SRV = Path("/srv/splitbrain")


@dataclass
class SshdLab:
    """A 3-node lab (n1-n3) in which the nodes of `private_dirs` run sshd, logging in root."""

    lab: Lab
    key: Path  # the client's private key, authorized on every sshd
    known_hosts: Path  # every sshd's host key, by address
    home: Path  # a $HOME whose .ssh/known_hosts is that file (paramiko reads ~/.ssh/known_hosts)
    host_pubkeys: dict[str, str]  # node -> its host key, "TYPE BASE64"
    private_dirs: dict[str, Path]  # node -> the directory its sshd shows as /srv/splitbrain

    @property
    def hosts(self) -> str:
        """The sshd nodes' addresses, as --hosts takes them."""
        return ",".join(self.lab.address(n) for n in self.private_dirs)

    def args(self, *extra: str) -> list[str]:
        """`splitbrain run` arguments for env ssh on these hosts."""
        return ["--env", "ssh", "--hosts", self.hosts, "--ssh-key", str(self.key), *extra]

    def host(self, node: str, **options: Any) -> Any:
        """An SshHost logged in to `node` as root with this lab's key (`options` override)."""
        from systems.control.ssh import SshHost

        login = dict(user="root", port=22, key_path=self.key, known_hosts=self.known_hosts,
                     connect_timeout=3)
        return SshHost(self.lab.address(node), name=node, **(login | options))


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def _port_open(addr: str, port: int) -> bool:
    try:
        socket.create_connection((addr, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def _start_sshd(lab: Lab, node: str, node_dir: Path, client_pubkey: str) -> None:
    """sshd in `node`, its host key, config and log in node_dir, node_dir/srv as /srv/splitbrain."""
    (node_dir / "srv").mkdir(parents=True)
    _keygen(node_dir / "host_key")
    (node_dir / "authorized_keys").write_text(client_pubkey)
    config = node_dir / "sshd_config"
    config.write_text("\n".join([
        f"ListenAddress {lab.address(node)}", "Port 22",
        f"HostKey {node_dir / 'host_key'}", "PidFile none",
        f"AuthorizedKeysFile {node_dir / 'authorized_keys'}",
        "PermitRootLogin prohibit-password", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
        "MaxStartups 100",  # a run opens many sessions at once
        "Subsystem sftp internal-sftp", ""]))
    command = f"mount --bind {node_dir / 'srv'} {SRV} && exec /usr/sbin/sshd -D -e -f {config}"
    lab.host(node).start_daemon("sshd", ["unshare", "--mount", "--propagation", "private",
                                         "sh", "-c", command], str(node_dir / "sshd.log"))


@contextmanager
def _sshd_lab(tmp: Path, serving: Sequence[str]) -> Iterator[SshdLab]:
    from harness.prereqs import LAB_DEBIAN_PACKAGES, SSH_DEBIAN_PACKAGES, ensure_debian_packages

    ensure_debian_packages([*LAB_DEBIAN_PACKAGES, *SSH_DEBIAN_PACKAGES])
    made_srv = not SRV.exists()
    SRV.mkdir(parents=True, exist_ok=True)  # the mount point; every sshd hides it behind its own dir
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    lab = Lab(["n1", "n2", "n3"])
    try:
        lab.up()
        key = tmp / "client_key"
        _keygen(key)
        pubkeys, dirs = {}, {}
        for node in serving:
            _start_sshd(lab, node, tmp / node, (tmp / "client_key.pub").read_text())
            pubkeys[node] = " ".join((tmp / node / "host_key.pub").read_text().split()[:2])
            dirs[node] = tmp / node / "srv"
        home = tmp / "home"
        (home / ".ssh").mkdir(parents=True)
        known_hosts = home / ".ssh" / "known_hosts"
        known_hosts.write_text("".join(f"{lab.address(n)} {pubkeys[n]}\n" for n in serving))
        for node in serving:
            deadline = time.monotonic() + 10
            while not _port_open(lab.address(node), 22):
                assert time.monotonic() < deadline, (tmp / node / "sshd.log").read_text()
                time.sleep(0.05)
        yield SshdLab(lab, key, known_hosts, home, pubkeys, dirs)
    finally:
        lab.down()  # kills every process in the namespaces, sshd included
        if made_srv:
            try:
                SRV.rmdir()
            except OSError:
                pass


@pytest.fixture(scope="session")
def sshd_lab():
    """`with sshd_lab(tmp_dir, serving=("n1", "n2")) as s:` a lab whose `serving` nodes run
    sshd (an SshdLab), taken down on leaving the block. Needs root."""
    return _sshd_lab


def _pids_naming(marker: str) -> list[int]:
    """Pids of the processes but this one whose command line names `marker` (a run store or a
    reader's directory: node servers name their files there)."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            cmdline = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline and "pytest" not in cmdline:
            pids.append(int(d.name))
    return pids


def _kill(pids: list[int]) -> None:
    """SIGKILL each, after SIGCONT in case it is paused."""
    for pid in pids:
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


def _reap(marker: str) -> list[int]:
    """Kill every process naming `marker`; return their pids."""
    pids = _pids_naming(marker)
    _kill(pids)
    return pids


@pytest.fixture(scope="session")
def pids_naming():
    """`pids_naming(marker)`: the processes whose command line names `marker`."""
    return _pids_naming


@pytest.fixture(scope="session")
def kill_pids():
    """`kill_pids(pids)`: SIGKILL each (after SIGCONT, in case it is paused)."""
    return _kill


@pytest.fixture(scope="session")
def reap():
    """`reap(marker)`: kill what a run left behind (servers never outlive a test) and return the
    pids, so the test can fail on them."""
    return _reap
