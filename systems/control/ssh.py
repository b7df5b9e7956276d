"""SshHost: the Host protocol over SSH (paramiko), for clusters on real machines; SshNetwork.

Host keys are checked by default: an unknown host key is refused (paramiko's RejectPolicy)
unless `accept_new_host_keys=True`, which trusts a first-seen key and saves it to `known_hosts`
(a changed key is always refused). Every argument is shell-quoted, and when the login user is
not root commands run through `sudo -n` (passwordless sudo is required, as Jepsen requires).

Daemons run in their own session (`setsid`) with output appended to a log on the remote host,
so signals go to the whole process group, exactly as with LocalHost.
"""

from __future__ import annotations

import base64
import os
import shlex
import socket
import threading
import time
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Sequence

import paramiko

from systems.control.hosts import CommandError, CommandResult, Daemon, Host, HostError
from systems.control.ledger import Ledger
from systems.control.net import (FirewallNetwork, LatencyHandle, LossHandle, NetFaultError,
                                 program_source)


class SshError(HostError):
    """Something went wrong talking to a host over SSH."""


class SshUnreachableError(SshError):
    """The host did not accept a TCP connection on its SSH port (down, refused, timed out)."""


class SshAuthError(SshError):
    """The host refused the key (wrong key, wrong user, or key not authorized)."""


class SshHostKeyError(SshError):
    """The host's key could not be trusted."""


class SshUnknownHostKeyError(SshHostKeyError):
    """The host's key is not in known_hosts and new keys are not accepted."""


class SshHostKeyMismatchError(SshHostKeyError):
    """The host presented a key different from the one in known_hosts."""


class SshHost:
    """A node reached over SSH; implements systems.control.hosts.Host."""

    def __init__(self, hostname: str, user: str = "root", port: int = 22,
                 key_path: str | Path | None = None, accept_new_host_keys: bool = False,
                 known_hosts: str | Path | None = None, name: str | None = None,
                 connect_timeout: float = 10.0,
                 on_daemon: Callable[[Daemon], None] | None = None) -> None:
        self.name = name or hostname
        self._on_daemon = on_daemon  # told of each daemon as it starts (the run's ledger)
        self.hostname = hostname
        self.user = user
        self.port = port
        self.key_path = str(key_path) if key_path is not None else None
        self.accept_new_host_keys = accept_new_host_keys
        self.known_hosts = Path(known_hosts).expanduser() if known_hosts else Path("~/.ssh/known_hosts").expanduser()
        self.connect_timeout = connect_timeout
        self._client: paramiko.SSHClient | None = None
        self._lock = threading.Lock()
        self._daemons: dict[int, Daemon] = {}

    # --- connection --------------------------------------------------------------------------

    def _where(self) -> str:
        return f"{self.user}@{self.hostname}:{self.port}"

    def _connect(self) -> paramiko.SSHClient:
        with self._lock:
            if self._client is not None and self._client.get_transport() is not None \
                    and self._client.get_transport().is_active():
                return self._client
            client = paramiko.SSHClient()
            if self.accept_new_host_keys:
                # New keys are saved to the file load_host_keys() read (save_host_keys below).
                self.known_hosts.parent.mkdir(parents=True, exist_ok=True)
                self.known_hosts.touch(exist_ok=True)
                client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            else:
                client.set_missing_host_key_policy(paramiko.RejectPolicy())
            if self.known_hosts.exists():
                try:
                    client.load_host_keys(str(self.known_hosts))
                except (OSError, paramiko.SSHException) as e:
                    raise SshHostKeyError(f"{self.name}: cannot read known_hosts {self.known_hosts}: {e}") from None
            try:
                client.connect(self.hostname, port=self.port, username=self.user,
                               key_filename=self.key_path, timeout=self.connect_timeout,
                               banner_timeout=self.connect_timeout, auth_timeout=self.connect_timeout,
                               allow_agent=False, look_for_keys=self.key_path is None)
            except paramiko.BadHostKeyException:
                client.close()
                raise SshHostKeyMismatchError(
                    f"{self.name}: host key of {self.hostname}:{self.port} differs from the one in "
                    f"{self.known_hosts} (possible man-in-the-middle, or the host was reinstalled)") from None
            except paramiko.AuthenticationException:
                client.close()
                raise SshAuthError(f"{self.name}: {self._where()} refused the key "
                                   f"{self.key_path or '(default keys)'}") from None
            except paramiko.SSHException as e:
                client.close()
                if "not found in known_hosts" in str(e):
                    raise SshUnknownHostKeyError(
                        f"{self.name}: host key of {self.hostname}:{self.port} is not in "
                        f"{self.known_hosts} (add it, or set accept_new_host_keys)") from None
                raise SshUnreachableError(f"{self.name}: SSH to {self._where()} failed: {e}") from None
            except (socket.timeout, TimeoutError):
                client.close()
                raise SshUnreachableError(f"{self.name}: {self._where()} did not answer within "
                                          f"{self.connect_timeout:g} s") from None
            except OSError as e:
                client.close()
                raise SshUnreachableError(f"{self.name}: cannot reach {self._where()}: "
                                          f"{e.strerror or e}") from None
            if self.accept_new_host_keys:
                client.save_host_keys(str(self.known_hosts))
            self._client = client
            return client

    def _command(self, argv: Sequence[str]) -> str:
        command = shlex.join(argv)
        if self.user != "root":
            # sh -c keeps redirections and && inside the privileged part.
            command = "sudo -n -- sh -c " + shlex.quote(command)
        return command

    def _exec(self, command: str, timeout: float, input: str | None = None) -> CommandResult:
        client = self._connect()
        try:
            stdin, stdout, stderr = client.exec_command(command, timeout=timeout)
            if input is not None:
                stdin.write(input)
            stdin.channel.shutdown_write()
            channel = stdout.channel
            deadline = time.monotonic() + timeout
            out, err = bytearray(), bytearray()
            while True:
                # Drain both streams while waiting, so a chatty command cannot fill a window.
                while channel.recv_ready():
                    out += channel.recv(65536)
                while channel.recv_stderr_ready():
                    err += channel.recv_stderr(65536)
                if channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
                    break
                if time.monotonic() > deadline:
                    channel.close()
                    raise CommandError(self.name, [command], why=f"did not finish in {timeout:g} s")
                time.sleep(0.005)
            code = channel.recv_exit_status()
        except paramiko.SSHException as e:
            raise SshError(f"{self.name}: SSH command failed: {e}") from None
        return CommandResult(code, out.decode(errors="replace"), err.decode(errors="replace"))

    # --- Host protocol -----------------------------------------------------------------------

    def run(self, argv: Sequence[str], timeout: float = 30.0, input: str | None = None) -> CommandResult:
        return self._exec(self._command(argv), timeout, input)

    def _sftp(self) -> paramiko.SFTPClient:
        try:
            return self._connect().open_sftp()
        except paramiko.SSHException as e:
            raise SshError(f"{self.name}: cannot open SFTP: {e}") from None

    def _checked(self, argv: Sequence[str], what: str) -> None:
        r = self.run(argv)
        if r.exit_code != 0:
            why = (r.stderr.strip() or f"exit {r.exit_code}").splitlines()[-1]
            raise HostError(f"{self.name}: {what}: {why}")

    def upload(self, local: Path, remote: str) -> None:
        self._checked(["mkdir", "-p", os.path.dirname(remote) or "/"], f"cannot create the folder of {remote}")
        # Without root, SFTP can only write where the user may: stage in /tmp, then sudo install.
        target = remote if self.user == "root" else f"/tmp/.splitbrain-upload-{os.getpid()}-{id(self)}"
        sftp = self._sftp()
        try:
            sftp.put(str(local), target)
        except OSError as e:
            raise HostError(f"{self.name}: cannot upload {local} to {target}: {e}") from None
        finally:
            sftp.close()
        if target != remote:
            self._checked(["mv", "-f", target, remote], f"cannot move the upload to {remote}")

    def download(self, remote: str, local: Path) -> None:
        Path(local).parent.mkdir(parents=True, exist_ok=True)
        if self.user == "root":
            sftp = self._sftp()
            try:
                sftp.get(remote, str(local))
            except OSError as e:
                raise HostError(f"{self.name}: cannot download {remote}: {e}") from None
            finally:
                sftp.close()
            return
        r = self.run(["base64", remote], timeout=120)
        if r.exit_code != 0:
            raise HostError(f"{self.name}: cannot download {remote}: {r.stderr.strip()}")
        Path(local).write_bytes(base64.b64decode(r.stdout))

    def start_daemon(self, name: str, argv: Sequence[str], log: str,
                     env: dict[str, str] | None = None, cwd: str | None = None) -> Daemon:
        # In a non-interactive sh a background job is not a process-group leader, so setsid
        # makes it one without forking: $! is the daemon's pid and its group id.
        env_words = [f"{k}={v}" for k, v in (env or {}).items()]
        inner = shlex.join(["env", *env_words, *argv]) if env_words else shlex.join(argv)
        script = (f"mkdir -p {shlex.quote(os.path.dirname(log) or '.')} && "
                  + (f"cd {shlex.quote(cwd)} && " if cwd else "")
                  + f"setsid {inner} >> {shlex.quote(log)} 2>&1 < /dev/null & echo $!")
        r = self.run(["sh", "-c", script])
        pid = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
        if r.exit_code != 0 or not pid.isdigit():
            raise HostError(f"{self.name}: cannot start {name}: {(r.stderr.strip() or 'no pid').splitlines()[-1]}")
        daemon = Daemon(self.name, name, int(pid), log)
        self._daemons[daemon.pid] = daemon
        if self._on_daemon is not None:
            self._on_daemon(daemon)
        return daemon

    def signal(self, daemon: Daemon, sig: int) -> None:
        self.run(["kill", f"-{int(sig)}", "--", f"-{daemon.pid}"])  # a gone group is not an error

    def alive(self, daemon: Daemon) -> bool:
        # A zombie (state Z) has exited; so has a pid whose /proc entry is gone.
        script = (f"s=$(cat /proc/{daemon.pid}/stat 2>/dev/null) || exit 1; s=${{s##*) }}; "
                  "case $s in Z*) exit 1;; esac")
        return self.run(["sh", "-c", script]).exit_code == 0

    def read_log(self, daemon: Daemon) -> str:
        r = self.run(["cat", daemon.log], timeout=60)
        return r.stdout if r.exit_code == 0 else ""

    def close(self) -> None:
        try:
            for pid in list(self._daemons):
                for sig in (18, 9):  # SIGCONT first: a paused daemon must die too
                    self.run(["kill", f"-{sig}", "--", f"-{pid}"])
                self._daemons.pop(pid, None)
        except HostError:
            pass
        finally:
            with self._lock:
                if self._client is not None:
                    self._client.close()
                    self._client = None


class SshNetwork(FirewallNetwork):
    """The Network protocol on the hosts of env ssh: iptables rules on each host matching the
    peers' addresses (the harness's own address is never cut). Probes run with the hosts' own
    python3, from this package's probe modules' source (the hosts need not have splitbrain).
    Partitions only: loss and latency assume a known interface (the lab's eth0). Rules in force
    go to the run's ledger, so `splitbrain clean` removes them after a SIGKILLed run."""

    def __init__(self, hosts: dict[str, Host], addresses: dict[str, str], workdir: str,
                 run_ledger: Ledger | None = None) -> None:
        self._ledger = run_ledger
        self.nodes = list(hosts)
        self._hosts = hosts
        self.addresses = dict(addresses)
        self.workdir = PurePosixPath(workdir)
        self.items: list[dict[str, Any]] = []  # what is in force, for the record

    def address(self, node: str) -> str:
        return self.addresses[node]

    def host(self, node: str) -> Host:
        return self._hosts[node]

    def program(self, module: str) -> list[str]:
        return ["python3", "-c", program_source(module)]

    def note(self, kind: str, node: str, **fields: Any) -> dict[str, Any]:
        item = {"kind": kind, "node": node, **fields}
        self.items.append(item)
        if kind == "rule" and self._ledger is not None:
            self._ledger.add("rules", {"node": node, "fault": str(fields.get("fault", ""))})
        return item

    def forget(self, item: dict[str, Any]) -> None:
        if item in self.items:
            self.items.remove(item)
        if item.get("kind") == "rule" and self._ledger is not None:
            self._ledger.discard("rules", {"node": item["node"], "fault": str(item.get("fault", ""))})

    def forget_process(self, pid: int) -> None:
        self.items = [i for i in self.items if not (i["kind"] == "process" and i["pid"] == pid)]

    def loss(self, nodes: Sequence[str], percent: float) -> LossHandle:
        raise NetFaultError("packet loss is not offered on env ssh (use --env netns)")

    def latency(self, nodes: Sequence[str], ms: float, jitter: float = 0.0,
                seed: int | None = None, method: str = "auto",
                ready_timeout: float = 10.0) -> LatencyHandle:
        raise NetFaultError("latency is not offered on env ssh (use --env netns)")
