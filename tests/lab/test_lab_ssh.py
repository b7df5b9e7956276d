"""SshHost against real sshd servers, one per lab node, each with its own private /srv/splitbrain.

The servers (tests/conftest.py, sshd_lab) run inside their nodes' network namespaces, each in a
mount namespace of its own where a per-node directory is bind-mounted over /srv/splitbrain, so a
file uploaded to the wrong host shows up in the wrong directory and the test notices.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from systems.control.ssh import (SshAuthError, SshHost, SshHostKeyMismatchError, SshUnknownHostKeyError,
                         SshUnreachableError)

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="needs root: namespaces and sshd"),
              pytest.mark.timeout(120)]

SRV = Path("/srv/splitbrain")


def keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@pytest.fixture(scope="module")
def ssh_lab(tmp_path_factory, lab_prereqs, sshd_lab):
    """sshd on n1 and n2 (tests/conftest.py); n3 runs none."""
    with sshd_lab(tmp_path_factory.mktemp("ssh"), serving=("n1", "n2")) as lab:
        yield lab


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
