"""SshHost against real sshd servers, one per lab node, each with its own private /srv/splitbrain.

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
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.lab import Lab
from harness.prereqs import SSH_DEBIAN_PACKAGES, ensure_debian_packages
from harness.ssh import (SshAuthError, SshHost, SshHostKeyMismatchError, SshUnknownHostKeyError,
                         SshUnreachableError)

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="needs root: namespaces and sshd"),
              pytest.mark.timeout(120)]

SRV = Path("/srv/splitbrain")


@dataclass
class SshLab:
    lab: Lab
    key: Path
    known_hosts: Path
    host_pubkeys: dict[str, str]
    private_dirs: dict[str, Path]

    def host(self, node: str, **kwargs) -> SshHost:
        options = dict(user="root", port=22, key_path=self.key, known_hosts=self.known_hosts,
                       connect_timeout=3)
        options.update(kwargs)
        return SshHost(self.lab.address(node), name=node, **options)


def keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def port_open(addr: str, port: int) -> bool:
    try:
        socket.create_connection((addr, port), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def ssh_lab(tmp_path_factory, lab_prereqs):
    ensure_debian_packages(SSH_DEBIAN_PACKAGES)
    tmp = tmp_path_factory.mktemp("ssh")
    made_srv = not SRV.exists()
    SRV.mkdir(parents=True, exist_ok=True)  # the mount point; every sshd hides it behind its own dir
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    lab = Lab(["n1", "n2", "n3"])
    try:
        lab.up()
        key = tmp / "client_key"
        keygen(key)
        pubkeys, dirs = {}, {}
        for node in ("n1", "n2"):
            node_dir = tmp / node
            (node_dir / "srv").mkdir(parents=True)
            keygen(node_dir / "host_key")
            (node_dir / "authorized_keys").write_text((tmp / "client_key.pub").read_text())
            config = node_dir / "sshd_config"
            config.write_text("\n".join([
                f"ListenAddress {lab.address(node)}", "Port 22",
                f"HostKey {node_dir / 'host_key'}", "PidFile none",
                f"AuthorizedKeysFile {node_dir / 'authorized_keys'}",
                "PermitRootLogin prohibit-password", "PasswordAuthentication no",
                "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
                "Subsystem sftp internal-sftp", ""]))
            command = f"mount --bind {node_dir / 'srv'} {SRV} && exec /usr/sbin/sshd -D -e -f {config}"
            lab.host(node).start_daemon("sshd", ["unshare", "--mount", "--propagation", "private",
                                                 "sh", "-c", command], str(node_dir / "sshd.log"))
            pubkeys[node] = " ".join((node_dir / "host_key.pub").read_text().split()[:2])
            dirs[node] = node_dir / "srv"
        known_hosts = tmp / "known_hosts"
        known_hosts.write_text("".join(f"{lab.address(n)} {pubkeys[n]}\n" for n in pubkeys))
        for node in pubkeys:
            deadline = time.monotonic() + 10
            while not port_open(lab.address(node), 22):
                assert time.monotonic() < deadline, (tmp / node / "sshd.log").read_text()
                time.sleep(0.05)
        yield SshLab(lab, key, known_hosts, pubkeys, dirs)
    finally:
        lab.down()  # kills every process in the namespaces, sshd included
        if made_srv:
            try:
                SRV.rmdir()
            except OSError:
                pass


def test_upload_lands_on_that_host_only(ssh_lab, tmp_path):
    h1, h2 = ssh_lab.host("n1"), ssh_lab.host("n2")
    try:
        local = tmp_path / "payload.txt"
        local.write_text("for n1 only\n")
        h1.upload(local, "/srv/splitbrain/sub/payload.txt")
        assert h1.run(["cat", "/srv/splitbrain/sub/payload.txt"]).stdout == "for n1 only\n"
        assert (ssh_lab.private_dirs["n1"] / "sub" / "payload.txt").read_text() == "for n1 only\n"
        assert h2.run(["test", "-e", "/srv/splitbrain/sub/payload.txt"]).exit_code == 1
        assert not (ssh_lab.private_dirs["n2"] / "sub").exists()
        assert not (SRV / "sub").exists()  # nor on the harness's own file system
        back = tmp_path / "back.txt"
        h1.download("/srv/splitbrain/sub/payload.txt", back)
        assert back.read_text() == "for n1 only\n"
    finally:
        h1.close()
        h2.close()


def test_commands_are_quoted_and_take_input(ssh_lab):
    h1 = ssh_lab.host("n1")
    try:
        tricky = ["a b", "c'd", "$HOME;echo pwned", "*", ""]
        r = h1.run(["sh", "-c", 'printf "[%s]" "$@"', "sh", *tricky])
        assert r.exit_code == 0 and r.stdout == "".join(f"[{t}]" for t in tricky)
        assert h1.run(["cat"], input="from stdin\n").stdout == "from stdin\n"
        assert h1.run(["sh", "-c", "echo oops >&2; exit 3"]) .exit_code == 3
        # Really on n1: its address is on its eth0.
        assert ssh_lab.lab.address("n1") in h1.run(["ip", "-4", "addr", "show", "eth0"]).stdout
    finally:
        h1.close()


def test_daemon_start_signal_and_stop(ssh_lab):
    h1 = ssh_lab.host("n1")
    try:
        daemon = h1.start_daemon("sleeper", ["sh", "-c", "echo started $X; exec sleep 300"],
                                 "/srv/splitbrain/logs/sleeper.log", env={"X": "with env"})
        deadline = time.monotonic() + 5
        while "started" not in h1.read_log(daemon) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert h1.read_log(daemon).strip() == "started with env"
        assert h1.alive(daemon)

        def state() -> str:
            stat = h1.run(["cat", f"/proc/{daemon.pid}/stat"]).stdout
            return stat.rsplit(")", 1)[1].split()[0]

        h1.signal(daemon, signal.SIGSTOP)
        assert state() == "T"
        h1.signal(daemon, signal.SIGCONT)
        assert state() == "S"
        h1.signal(daemon, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while h1.alive(daemon) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not h1.alive(daemon)
        h1.signal(daemon, signal.SIGTERM)  # a gone process is not an error
    finally:
        h1.close()


def test_close_kills_the_daemons_it_started(ssh_lab):
    h1 = ssh_lab.host("n1")
    daemon = h1.start_daemon("sleeper", ["sleep", "300"], "/srv/splitbrain/logs/close.log")
    h1.signal(daemon, signal.SIGSTOP)  # even a paused one
    h1.close()
    checker = ssh_lab.host("n1")
    try:
        deadline = time.monotonic() + 5
        while checker.alive(daemon) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not checker.alive(daemon)
    finally:
        checker.close()


def test_unknown_host_key_is_refused_unless_new_keys_are_accepted(ssh_lab, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(SshUnknownHostKeyError, match="not in"):
        ssh_lab.host("n1", known_hosts=empty).run(["true"])
    trusting = ssh_lab.host("n1", known_hosts=empty, accept_new_host_keys=True)
    try:
        assert trusting.run(["echo", "hi"]).stdout == "hi\n"
    finally:
        trusting.close()
    assert ssh_lab.host_pubkeys["n1"].split()[1] in empty.read_text()
    strict = ssh_lab.host("n1", known_hosts=empty)  # the key saved above is now known
    try:
        assert strict.run(["true"]).exit_code == 0
    finally:
        strict.close()


def test_changed_host_key_is_refused_even_when_accepting_new_keys(ssh_lab, tmp_path):
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"{ssh_lab.lab.address('n1')} {ssh_lab.host_pubkeys['n2']}\n")
    with pytest.raises(SshHostKeyMismatchError, match="differs"):
        ssh_lab.host("n1", known_hosts=wrong, accept_new_host_keys=True).run(["true"])


def test_wrong_key_is_an_auth_error(ssh_lab, tmp_path):
    other = tmp_path / "other_key"
    keygen(other)
    with pytest.raises(SshAuthError, match="refused the key"):
        ssh_lab.host("n1", key_path=other).run(["true"])


def test_unreachable_hosts(ssh_lab):
    # n3 runs no sshd: connection refused.
    with pytest.raises(SshUnreachableError, match="cannot reach"):
        ssh_lab.host("n3").run(["true"])
    # An address on the lab network that nobody holds: no answer at all.
    nobody = str(list(ssh_lab.lab.subnet.hosts())[-1])
    with pytest.raises(SshUnreachableError):
        SshHost(nobody, key_path=ssh_lab.key, known_hosts=ssh_lab.known_hosts, connect_timeout=1).run(["true"])
