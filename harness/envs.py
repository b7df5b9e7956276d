"""Environments: where the nodes of a run live, and how the harness reaches them.

An environment opens a ClusterContext (hosts and addresses for every node) before the system is
set up, and closes it after the system is torn down. Three exist:

- `local`: every node a process on this machine at 127.0.0.1 (ports differ per node); kill,
  pause and clock faults, no network faults.
- `netns`: a Lab (systems/control/lab.py): a bridge plus one network namespace per node on a private
  subnet, the harness on the bridge. Network faults cut nodes from each other, never the harness
  from the nodes. The default where the user is root on Linux and iproute2 is installed.
- `ssh`: one SshHost per `--hosts` entry; node files live under a private directory on each
  host (ClusterContext.remote_dir) and are copied into run_dir/nodes/<node>/ at close.

Leftovers: a run killed with SIGKILL cannot clean up after itself. Labs keep their own state
files (systems.control.lab); local runs keep a ledger of the daemons they started under
RUN_STATE_DIR/<id>.json, written before each daemon counts as started. `clean_leftovers()`
(backing `splitbrain clean`) removes both for runs whose harness process is gone.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import socket
import sys
from pathlib import Path
from typing import Any, Callable, Protocol

from harness.errors import EnvironmentFailure, UsageError
from systems.control import ledger
from systems.control.hosts import CommandError, Daemon, HostError, LocalHost
from systems.control.ledger import Ledger
from systems.base import ClusterContext

RUN_STATE_DIR = Path(os.environ.get(
    "SPLITBRAIN_RUN_STATE_DIR",
    "/run/splitbrain/runs" if os.geteuid() == 0 else str(Path.home() / ".cache/splitbrain/runs")))
REMOTE_ROOT = "/srv/splitbrain"  # where env ssh keeps node files on each host


class Environment(Protocol):
    name: str
    network_faults: frozenset[str]  # the network faults (partition, ...) its links can take

    def open(self, spec: Any, run_dir: Path) -> ClusterContext:
        """Create the hosts (and whatever network they need); called in a worker thread."""

    def close(self) -> None:
        """Stop every process on the hosts and remove what open() created; idempotent."""


def _node_names(count: int) -> list[str]:
    return [f"n{i + 1}" for i in range(count)]


def _run_ledger(kind: str, **fields: Any) -> Ledger:
    """The ledger of the daemons one harness process starts (and, on env ssh, the hosts and the
    partition rules in force), so `clean` can find what a SIGKILLed run left behind."""
    path = RUN_STATE_DIR / f"{kind}-{os.getpid()}-{secrets.token_hex(3)}.json"
    return Ledger.create(path, ["daemons", "rules"], **fields)


def _daemon_recorder(run_ledger: Ledger, local: bool) -> Callable[[Daemon], None]:
    """What a host calls as each daemon starts: write it to the run's ledger."""

    def record(daemon: Daemon) -> None:
        try:
            run_ledger.add("daemons", {"pid": daemon.pid, "host": daemon.host, "name": daemon.name,
                                       "start": ledger.start_time(daemon.pid) if local else None})
        except OSError:
            pass  # no ledger (read-only state dir): the run still works, `clean` cannot help it

    return record


class LocalEnv:
    name = "local"
    doc = "every node a process on 127.0.0.1 (kill, pause and clock faults; no network faults)"
    network_faults: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self.ctx: ClusterContext | None = None
        self._ledger: Ledger | None = None

    def open(self, spec: Any, run_dir: Path) -> ClusterContext:
        nodes = _node_names(spec.nodes)
        self._ledger = _run_ledger("local")
        record = _daemon_recorder(self._ledger, local=True)
        self.ctx = ClusterContext(nodes=nodes,
                                  hosts={n: LocalHost(n, on_daemon=record) for n in nodes},
                                  run_dir=run_dir, seed=spec.seed, bugs=frozenset(spec.bugs),
                                  options=dict(spec.options), shared_host=True)
        return self.ctx

    def close(self) -> None:
        if self.ctx is not None:
            for host in self.ctx.hosts.values():
                host.close()
        if self._ledger is not None:
            self._ledger.remove()


class NetnsEnv:
    name = "netns"
    doc = ("a namespace per node on a private bridge (--subnet); the harness sits on the bridge "
           "(every fault; needs root)")
    network_faults = frozenset({"partition", "loss", "latency"})

    def __init__(self) -> None:
        self.lab: Any = None
        self.ctx: ClusterContext | None = None

    def open(self, spec: Any, run_dir: Path) -> ClusterContext:
        from systems.control.lab import Lab, LabError, LabPermissionError, SubnetClashError

        nodes = _node_names(spec.nodes)
        try:
            lab = Lab(nodes, subnet=spec.subnet or None)
        except LabError as e:
            raise UsageError(f"--env netns: {e}") from None
        self.lab = lab
        # Written before the lab exists, so whoever reads the run (or cleans up after it) can tell
        # which namespaces and interfaces were its own: they are all named sb-<labid>-...
        (run_dir / "env.json").write_text(json.dumps({"env": self.name, "labid": lab.labid,
                                                      "prefix": lab.prefix}) + "\n")
        try:
            lab.up()
        except SubnetClashError as e:
            raise UsageError(f"--subnet: {e}; pick another (or leave --subnet out)") from None
        except LabPermissionError as e:
            raise EnvironmentFailure(f"--env netns: {e}; run as root or use --env local") from None
        except CommandError as e:
            raise EnvironmentFailure(f"--env netns: cannot build the lab: {e}") from None
        except LabError as e:
            # A bad subnet (not private, too small, malformed) is bad input.
            raise UsageError(f"--subnet: {e}") from None
        (run_dir / "env.json").write_text(json.dumps({
            "env": self.name, "labid": lab.labid, "prefix": lab.prefix, "subnet": str(lab.subnet),
            "control_address": lab.control_address, "addresses": lab.addresses}, indent=1) + "\n")
        self.ctx = ClusterContext(nodes=nodes, hosts={n: lab.host(n) for n in nodes},
                                  run_dir=run_dir, seed=spec.seed, bugs=frozenset(spec.bugs),
                                  options=dict(spec.options), shared_host=False,
                                  addresses=dict(lab.addresses), network=lab)
        return self.ctx

    def close(self) -> None:
        if self.lab is not None:
            self.lab.down()  # kills every process in the namespaces, then removes them


class SshEnv:
    name = "ssh"
    doc = "one node per --hosts entry, reached over SSH (kill, pause, clock and partition faults)"
    network_faults = frozenset({"partition"})  # loss and latency assume the lab's eth0

    def __init__(self) -> None:
        self.ctx: ClusterContext | None = None
        self.hosts: dict[str, Any] = {}
        self._reached: list[str] = []  # nodes whose remote directory exists
        self._ledger: Ledger | None = None

    def open(self, spec: Any, run_dir: Path) -> ClusterContext:
        from systems.control.ssh import SshHost, SshNetwork

        if not spec.hosts:
            raise UsageError("--env ssh needs --hosts h1,h2,...")
        nodes = _node_names(len(spec.hosts))
        run_id = f"{run_dir.parent.name}-{run_dir.name}-{secrets.token_hex(2)}"
        remote_root = f"{REMOTE_ROOT}/runs/{run_id}"
        login = {"user": spec.ssh_user, "port": spec.ssh_port,
                 "key": str(Path(spec.ssh_key).expanduser().resolve()) if spec.ssh_key else None}
        self._ledger = _run_ledger("ssh", remote_root=remote_root, login=login,
                                   hosts=dict(zip(nodes, spec.hosts)))
        record = _daemon_recorder(self._ledger, local=False)
        addresses: dict[str, str] = {}
        for node, hostname in zip(nodes, spec.hosts):
            self.hosts[node] = SshHost(
                hostname, user=spec.ssh_user, port=spec.ssh_port, key_path=login["key"],
                accept_new_host_keys=spec.accept_new_host_keys, name=node, connect_timeout=5.0,
                on_daemon=record)
            try:
                addresses[node] = socket.gethostbyname(hostname)
            except OSError as e:
                raise EnvironmentFailure(f"{node}: cannot resolve SSH host {hostname!r}: "
                                         f"{e.strerror or e}") from None
        self.ctx = ClusterContext(nodes=nodes, hosts=dict(self.hosts), run_dir=run_dir,
                                  seed=spec.seed, bugs=frozenset(spec.bugs),
                                  options=dict(spec.options), shared_host=False,
                                  addresses=addresses, remote_root=remote_root,
                                  network=SshNetwork(self.hosts, addresses,
                                                     f"{remote_root}/net", self._ledger))
        for node, host in self.hosts.items():
            try:
                r = host.run(["mkdir", "-p", self.ctx.remote_dir(node)], timeout=20)
            except HostError as e:
                raise EnvironmentFailure(f"--env ssh: {e}") from None
            if r.exit_code != 0:
                raise EnvironmentFailure(f"{node}: cannot create {self.ctx.remote_dir(node)}: "
                                         f"{(r.stderr.strip() or 'exit ' + str(r.exit_code))}")
            self._reached.append(node)
        return self.ctx

    def _copy_back(self, node: str, host: Any) -> None:
        """Every file of the node's remote directory into run_dir/nodes/<node>/, then remove it."""
        assert self.ctx is not None
        remote = self.ctx.remote_dir(node)
        r = host.run(["find", remote, "-type", "f"], timeout=60)
        if r.exit_code != 0:
            return  # never created (setup failed before): nothing to copy
        local_dir = self.ctx.node_dir(node)
        for path in r.stdout.splitlines():
            if path.startswith(remote + "/"):
                host.download(path, local_dir / path[len(remote) + 1:])
        host.run(["rm", "-rf", "--", remote], timeout=60)

    def close(self) -> None:
        errors = []
        for node, host in self.hosts.items():
            try:
                host.close()  # kills the daemons first, so their files are complete
                if self.ctx is not None and node in self._reached:
                    self._copy_back(node, host)
                    host.run(["rmdir", "--", self.ctx.remote_root or REMOTE_ROOT], timeout=20)
            except HostError as e:
                errors.append(str(e))
            finally:
                try:
                    host.close()
                except HostError:
                    pass
        self._reached.clear()
        if self._ledger is not None and not errors:
            self._ledger.remove()
        if errors:
            print(f"warning: could not copy node files back: {errors[0]}", file=sys.stderr)


ENVIRONMENTS: dict[str, type] = {
    "local": LocalEnv,
    "netns": NetnsEnv,
    "ssh": SshEnv,
}


def default_environment() -> str:
    """netns where it can work (root on Linux with iproute2), local otherwise."""
    if sys.platform.startswith("linux") and os.geteuid() == 0 and shutil.which("ip") \
            and shutil.which("iptables"):
        return "netns"
    return "local"


def make_environment(name: str) -> Environment:
    if name not in ENVIRONMENTS:
        raise UsageError(f"--env {name}: unknown environment; available: "
                         f"{', '.join(sorted(ENVIRONMENTS))}")
    return ENVIRONMENTS[name]()


def check_environment(spec: Any) -> None:
    """Refuse, before anything starts, an environment the spec cannot use (exit 254)."""
    if spec.env == "ssh":
        if not spec.hosts:
            raise UsageError("--env ssh needs --hosts h1,h2,... (one host per node)")
        if len(set(spec.hosts)) != len(spec.hosts):
            raise UsageError("--hosts: a host is listed twice")
        if spec.nodes != len(spec.hosts):
            raise UsageError(f"--env ssh: {len(spec.hosts)} hosts but --nodes {spec.nodes}; the "
                             f"number of hosts is the number of nodes")
        if spec.ssh_key and not Path(spec.ssh_key).expanduser().is_file():
            raise UsageError(f"--ssh-key {spec.ssh_key}: no such file")
    elif spec.hosts:
        raise UsageError(f"--hosts is for --env ssh, not --env {spec.env}")
    if spec.subnet and spec.env != "netns":
        raise UsageError(f"--subnet is for --env netns, not --env {spec.env}")


# -- leftovers ------------------------------------------------------------------------------------

def clean_local_runs(directory: Path | None = None) -> list[str]:
    """Kill the daemons of local runs whose harness is gone; a line per thing removed."""
    removed: list[str] = []
    for run in Ledger.load_all(directory or RUN_STATE_DIR, "local-*.json"):
        if run.owner_alive():
            continue  # that run is still going
        killed = []
        for d in run.entries("daemons"):
            if ledger.kill(d["pid"], d.get("start"), group=True) is not None:
                killed.append(d["pid"])
                removed.append(f"process {d['pid']} ({d.get('name', '?')} of {d.get('host', '?')})")
        ledger.wait_gone(killed)
        run.remove()
        removed.append(f"state {run.path}")
    return removed


def _clean_ssh_host(host: Any, remote_root: str, pids: list[int], faults: list[str]) -> list[str]:
    """On one host: kill the run's daemons (only processes whose command line names the run's
    directory, so a reused pid is left alone), delete its partition rules, remove its files."""
    removed = []
    for pid in pids:
        if host.run(["grep", "-qF", "--", remote_root, f"/proc/{pid}/cmdline"],
                    timeout=20).exit_code != 0:
            continue  # gone, or the pid now belongs to something else
        for sig in ("CONT", "KILL"):  # a paused daemon must die too
            host.run(["kill", f"-{sig}", "--", f"-{pid}"], timeout=20)
        removed.append(f"process {pid} on {host.name}")
    if faults:
        listing = host.run(["iptables", "-w", "-S"], timeout=20).stdout
        for line in listing.splitlines():
            if line.startswith("-A ") and any(f"splitbrain-{f}" in line for f in faults):
                if host.run(["iptables", "-w", "-D", *shlex.split(line)[1:]], timeout=20).exit_code == 0:
                    removed.append(f"rule on {host.name}: {line}")
    if host.run(["test", "-e", remote_root], timeout=20).exit_code == 0:
        host.run(["rm", "-rf", "--", remote_root], timeout=60)
        removed.append(f"dir {host.name}:{remote_root}")
    return removed


def clean_ssh_runs(directory: Path | None = None) -> tuple[list[str], list[str]]:
    """Undo on their hosts what SIGKILLed ssh runs left; (removed, problems)."""
    from systems.control.ssh import SshHost

    removed: list[str] = []
    problems: list[str] = []
    for run in Ledger.load_all(directory or RUN_STATE_DIR, "ssh-*.json"):
        if run.owner_alive():
            continue
        data, path = run.data, run.path
        login = data.get("login", {})
        failed = False
        for node, hostname in data.get("hosts", {}).items():
            host = SshHost(hostname, user=login.get("user", "root"), port=login.get("port", 22),
                           key_path=login.get("key"), name=node, connect_timeout=5.0)
            try:
                removed += _clean_ssh_host(
                    host, data["remote_root"],
                    [d["pid"] for d in data.get("daemons", []) if d.get("host") == node],
                    [r["fault"] for r in data.get("rules", []) if r.get("node") == node])
            except HostError as e:
                failed = True
                problems.append(f"{path.name}: {e}")
            finally:
                host.close()
        if not failed:
            path.unlink(missing_ok=True)
            removed.append(f"state {path}")
    return removed, problems


def clean_leftovers() -> list[str]:
    """Everything runs killed with SIGKILL left behind: labs (root only), local daemons, and
    what ssh runs left on their hosts. Hosts that cannot be reached are reported as a warning
    and their ledger kept, so a later `clean` can try again."""
    removed = clean_local_runs()
    ssh_removed, problems = clean_ssh_runs()
    removed += ssh_removed
    for problem in problems:
        print(f"warning: clean: {problem} (kept for a later clean)", file=sys.stderr)
    if os.geteuid() == 0 and shutil.which("ip"):
        from systems.control.lab import clean_all
        removed += clean_all()
    return removed


__all__ = ["Environment", "LocalEnv", "NetnsEnv", "SshEnv", "ENVIRONMENTS", "make_environment",
           "default_environment", "check_environment", "clean_leftovers", "clean_local_runs"]
