"""Lab: a throwaway cluster network on this machine, one Linux network namespace per node.

Jepsen runs its nodes on separate machines and drives them from a control node. A Lab gives the
same shape on one machine: a bridge in the root namespace (the harness is the control node and
reaches every node through the bridge's own address), one namespace per node joined to the bridge
by a veth pair whose inside end is called eth0, and addresses on a private /24 that does not clash
with this machine's routes. Faults (systems/control/net.py) then act on real links and firewalls.

Name resolution: inside a node, names n1..nN (and "control" for the harness) resolve through
/etc/netns/<ns>/hosts, which `ip netns exec` bind-mounts over /etc/hosts. The harness itself does
not touch the machine's /etc/hosts (other labs and users share it): it uses `lab.address(node)`.

Leftovers: a run that is killed must not leave namespaces, bridges or delay processes behind. Every
lab keeps a state file under /run/splitbrain/labs/<labid>.json that lists each thing it is about to
create *before* creating it, plus the pid of its owner. `clean_all()` (backing `splitbrain clean`)
removes what the state files list for labs whose owner is gone, and then sweeps anything else whose
name carries the lab prefix.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import random
import re
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from systems.control import ledger
from systems.control.hosts import CommandError, Daemon, HostError, LocalHost
from systems.control.ledger import Ledger
from systems.control.net import FirewallNetwork, local_program

LAB_STATE_DIR = Path(os.environ.get("SPLITBRAIN_LAB_STATE_DIR", "/run/splitbrain/labs"))
NETNS_ETC_DIR = Path("/etc/netns")
DEFAULT_PREFIX = "sb"
CONTROL_NAME = "control"

_IFNAMSIZ = 15  # Linux interface names hold at most 15 characters
_NODE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,30}$")
_PREFIX = re.compile(r"^[a-z][a-z0-9]{0,3}$")


class LabError(RuntimeError):
    """A lab could not be set up, used or torn down."""


class LabPermissionError(LabError):
    """Labs need root (network namespaces, bridges, firewall rules)."""


class SubnetClashError(LabError):
    """The requested lab subnet overlaps a route of this machine or another lab."""


def run_command(argv: Sequence[str], timeout: float = 20.0, check: bool = True,
                input: str | None = None) -> subprocess.CompletedProcess:
    """Run a command in the root namespace; CommandError (one line) if it fails and `check`."""
    try:
        p = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, input=input)
    except FileNotFoundError:
        raise CommandError(None, argv, why=f"{argv[0]} is not installed (see harness/prereqs.py)") from None
    except subprocess.TimeoutExpired:
        raise CommandError(None, argv, why=f"did not finish in {timeout:g} s") from None
    if check and p.returncode != 0:
        raise CommandError(None, argv, p.returncode, p.stdout, p.stderr)
    return p


def _kill_all(pids: Iterable[int], removed: list[str]) -> None:
    pids = list(pids)
    for pid in pids:
        name = ledger.kill(pid)
        if name is not None:
            removed.append(f"process {pid} ({name})")
    ledger.wait_gone(pids)


def netns_pids(netns: str) -> list[int]:
    """Pids of every process whose network namespace is `netns` (any mount namespace)."""
    p = run_command(["ip", "netns", "pids", netns], check=False)
    return [int(x) for x in p.stdout.split() if x.isdigit()]


def _existing_netns() -> list[str]:
    p = run_command(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in p.stdout.splitlines() if line.strip()]


def _existing_links() -> list[str]:
    p = run_command(["ip", "-o", "link", "show"], check=False)
    names = []
    for line in p.stdout.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            names.append(parts[1].strip().split("@", 1)[0])
    return names


def _used_networks() -> list[ipaddress.IPv4Network]:
    """Networks this machine routes to or has addresses on (default routes excluded)."""
    nets: list[ipaddress.IPv4Network] = []
    out = run_command(["ip", "-4", "route", "show", "table", "all"], check=False).stdout
    out += run_command(["ip", "-4", "-o", "addr", "show"], check=False).stdout.replace(" inet ", "\n")
    for line in out.splitlines():
        for word in line.split():
            if word[0].isdigit() and ("/" in word or word.count(".") == 3):
                try:
                    nets.append(ipaddress.ip_network(word, strict=False))
                except ValueError:
                    pass
                break
    return [n for n in nets if n.prefixlen > 0 and not n.is_loopback]


def _teardown(state: Ledger, removed: list[str]) -> None:
    """Remove everything a state file lists, in an order that works for a half-built lab."""
    netnses = [i["name"] for i in state.entries("items", "netns")]
    # Processes first: a process inside a namespace keeps its network alive after `ip netns del`.
    for item in state.entries("items", "process"):
        if ledger.same_process_alive(item["pid"], item.get("start")):
            _kill_all([item["pid"]], removed)
    for ns in netnses:
        _kill_all(netns_pids(ns), removed)
    present = set(_existing_links())
    for item in state.entries("items", "link"):
        if item["name"] in present:
            if run_command(["ip", "link", "del", item["name"]], check=False).returncode == 0:
                removed.append(f"link {item['name']}")
    existing = set(_existing_netns())
    for ns in netnses:
        if ns in existing:
            if run_command(["ip", "netns", "del", ns], check=False).returncode == 0:
                removed.append(f"netns {ns}")
    for item in state.entries("items", "dir"):
        path = Path(item["path"])
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(f"dir {path}")
    # Rules live inside the namespaces and are gone with them; listed so the record is complete.
    for item in state.entries("items", "rule"):
        if item.get("netns") in netnses:
            removed.append(f"rule {item.get('netns')}: {item.get('describe', '')}".rstrip())
    if state.path.exists():
        state.path.unlink()
        removed.append(f"state {state.path}")


class NetnsHost(LocalHost):
    """A node of a Lab: commands and daemons run inside its network namespace.

    Files are the machine's own (namespaces share the file system), so upload/download are
    local copies. Daemons are reported to the lab so `clean_all()` can find them after a crash
    (`ip netns exec` execs the command, so the pid recorded is the daemon's own).
    """

    def __init__(self, name: str, netns: str,
                 on_daemon: Callable[[Daemon], None] | None = None) -> None:
        super().__init__(name, prefix=["ip", "netns", "exec", netns], on_daemon=on_daemon)
        self.netns = netns


class Lab(FirewallNetwork):
    """A bridge plus one network namespace per node, reachable from the harness; the Network of
    env netns (its faults act inside the nodes' namespaces, never on the bridge's own address).

    `Lab(["n1", "n2", "n3"])` builds nothing until `up()` (or `with Lab(...) as lab:`);
    `down()` removes everything and may be called any number of times.
    """

    def __init__(self, nodes: Sequence[str], subnet: str | None = None,
                 prefix: str = DEFAULT_PREFIX) -> None:
        if not nodes:
            raise LabError("a lab needs at least one node")
        if len(set(nodes)) != len(nodes):
            raise LabError("node names in a lab must be distinct")
        for node in nodes:
            if not _NODE_NAME.match(node) or node == CONTROL_NAME:
                raise LabError(f"node name {node!r} is not usable (letters, digits, '-', not {CONTROL_NAME!r})")
        if not _PREFIX.match(prefix):
            raise LabError(f"lab prefix {prefix!r} must be 1-4 lowercase letters or digits, starting with a letter")
        self.nodes = list(nodes)
        self.prefix = prefix
        self.labid = secrets.token_hex(3)
        longest = self._link_name(f"v{len(self.nodes)}")
        if len(longest) > _IFNAMSIZ:
            raise LabError(f"too many nodes for prefix {prefix!r}: interface name {longest} is over 15 characters")
        self._requested_subnet = subnet
        self.subnet: ipaddress.IPv4Network | None = None
        self.addresses: dict[str, str] = {}
        self.control_address: str | None = None
        self.bridge = self._link_name("br")
        self._state: Ledger | None = None
        self._hosts: dict[str, NetnsHost] = {}

    # --- names -------------------------------------------------------------------------------

    def _link_name(self, suffix: str) -> str:
        return f"{self.prefix}-{self.labid}-{suffix}"

    def netns(self, node: str) -> str:
        """Name of the network namespace holding `node`."""
        self._check_node(node)
        return f"{self.prefix}-{self.labid}-{node}"

    def address(self, node: str) -> str:
        """IPv4 address of `node` on the lab network (reachable from the harness)."""
        self._check_node(node)
        if node not in self.addresses:
            raise LabError("the lab is not up")
        return self.addresses[node]

    def host(self, node: str) -> NetnsHost:
        """The Host that runs commands inside `node`'s namespace."""
        self._check_node(node)
        if self._state is None:
            raise LabError("the lab is not up")
        if node not in self._hosts:
            self._hosts[node] = NetnsHost(node, self.netns(node), on_daemon=self._record_daemon)
        return self._hosts[node]

    @property
    def state_path(self) -> Path:
        return LAB_STATE_DIR / f"{self.labid}.json"

    @property
    def workdir(self) -> Path:
        """A directory for this lab's logs and scratch files, removed by down()."""
        return LAB_STATE_DIR / self.labid

    def _check_node(self, node: str) -> None:
        if node not in self.nodes:
            raise LabError(f"{node!r} is not a node of this lab ({', '.join(self.nodes)})")

    # --- bookkeeping used by faults (systems/control/net.py) ----------------------------------------

    def record(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Note in the state file something about to be created (kind: rule, process, ...)."""
        if self._state is None:
            raise LabError("the lab is not up")
        return self._state.add("items", {"kind": kind, **fields})

    def forget(self, item: dict[str, Any]) -> None:
        """Drop a record once the thing it describes has been removed."""
        if self._state is not None:
            self._state.discard("items", item)

    def record_process(self, pid: int, netns: str, what: str) -> dict[str, Any]:
        return self.record("process", pid=pid, start=ledger.start_time(pid), netns=netns, what=what)

    def forget_process(self, pid: int) -> None:
        """Drop the record of a process that has been stopped."""
        if self._state is not None:
            for item in self._state.entries("items", "process"):
                if item["pid"] == pid:
                    self._state.discard("items", item)

    def note(self, kind: str, node: str, **fields: Any) -> dict[str, Any]:
        return self.record(kind, netns=self.netns(node), **fields)

    def program(self, module: str) -> list[str]:
        return local_program(module)

    def _record_daemon(self, daemon: Daemon) -> None:
        self.record_process(daemon.pid, self.netns(daemon.host), daemon.name)

    # --- building ----------------------------------------------------------------------------

    def _pick_subnet(self) -> ipaddress.IPv4Network:
        used = _used_networks()
        for path in LAB_STATE_DIR.glob("*.json"):
            try:
                used.append(ipaddress.ip_network(json.loads(path.read_text())["subnet"]))
            except (OSError, ValueError, KeyError):
                pass
        if self._requested_subnet is not None:
            try:
                net = ipaddress.ip_network(self._requested_subnet, strict=True)
            except ValueError as e:
                raise LabError(f"lab subnet {self._requested_subnet!r} is not valid: {e}") from None
            if not isinstance(net, ipaddress.IPv4Network) or not net.is_private:
                raise LabError(f"lab subnet {net} must be a private IPv4 network")
            if net.num_addresses < len(self.nodes) + 3:
                raise LabError(f"lab subnet {net} is too small for {len(self.nodes)} nodes")
            for other in used:
                if net.overlaps(other):
                    raise SubnetClashError(f"lab subnet {net} overlaps {other}, already in use on this machine")
            return net
        thirds = list(range(256))
        random.shuffle(thirds)  # parallel labs start their search at different places
        for third in thirds:
            net = ipaddress.ip_network(f"10.77.{third}.0/24")
            if not any(net.overlaps(other) for other in used):
                return net
        raise SubnetClashError("no free /24 left in 10.77.0.0/16; pass a subnet explicitly")

    def up(self) -> "Lab":
        """Create the bridge, namespaces, links and addresses. Leaves nothing behind on failure."""
        if self._state is not None:
            return self
        if os.geteuid() != 0:
            raise LabPermissionError("a lab needs root (network namespaces and bridges)")
        if shutil.which("ip") is None:
            raise CommandError(None, ["ip"], why="`ip` (iproute2) is not installed (see harness/prereqs.py)")
        LAB_STATE_DIR.mkdir(parents=True, exist_ok=True)
        # Choosing a subnet and claiming it in a state file happen under one lock, so two labs
        # starting together never take the same /24.
        with open(LAB_STATE_DIR / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.subnet = self._pick_subnet()
            hosts = list(self.subnet.hosts())
            self.control_address = str(hosts[0])
            self.addresses = {node: str(hosts[i + 1]) for i, node in enumerate(self.nodes)}
            self._state = Ledger.create(
                self.state_path, ["items"], labid=self.labid, prefix=self.prefix,
                subnet=str(self.subnet), nodes=self.nodes, addresses=self.addresses,
                bridge=self.bridge, control_address=self.control_address)
            self._state.save()
        try:
            self._build()
        except BaseException:
            self.down()
            raise
        return self

    def _build(self) -> None:
        assert self._state is not None and self.subnet is not None
        plen = self.subnet.prefixlen
        self.record("dir", path=str(self.workdir))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.record("link", name=self.bridge)
        run_command(["ip", "link", "add", self.bridge, "type", "bridge"])
        run_command(["ip", "addr", "add", f"{self.control_address}/{plen}", "dev", self.bridge])
        run_command(["ip", "link", "set", self.bridge, "up"])
        hosts_text = self.hosts_file_text()
        for i, node in enumerate(self.nodes, start=1):
            ns = self.netns(node)
            outside, inside = self._link_name(f"v{i}"), self._link_name(f"p{i}")
            self.record("netns", name=ns)
            run_command(["ip", "netns", "add", ns])
            etc = NETNS_ETC_DIR / ns
            self.record("dir", path=str(etc))
            etc.mkdir(parents=True, exist_ok=True)
            (etc / "hosts").write_text(hosts_text)
            self.record("link", name=outside)
            self.record("link", name=inside)  # only exists by this name until moved and renamed
            run_command(["ip", "link", "add", outside, "type", "veth", "peer", "name", inside])
            run_command(["ip", "link", "set", inside, "netns", ns])
            in_ns = ["ip", "netns", "exec", ns]
            run_command(in_ns + ["ip", "link", "set", inside, "name", "eth0"])
            run_command(in_ns + ["ip", "addr", "add", f"{self.addresses[node]}/{plen}", "dev", "eth0"])
            run_command(in_ns + ["ip", "link", "set", "eth0", "up"])
            run_command(in_ns + ["ip", "link", "set", "lo", "up"])
            run_command(["ip", "link", "set", outside, "master", self.bridge])
            run_command(["ip", "link", "set", outside, "up"])

    def hosts_file_text(self) -> str:
        lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback",
                 f"{self.control_address} {CONTROL_NAME}"]
        lines += [f"{addr} {node}" for node, addr in self.addresses.items()]
        return "\n".join(lines) + "\n"

    def down(self) -> list[str]:
        """Remove everything this lab created (safe to call twice); returns what was removed."""
        removed: list[str] = []
        for host in self._hosts.values():
            try:
                host.close()
            except HostError:
                pass
        self._hosts.clear()
        if self._state is not None:
            _teardown(self._state, removed)
            self._state = None
        return removed

    def __enter__(self) -> "Lab":
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    def __repr__(self) -> str:
        return f"Lab({self.labid}, nodes={self.nodes}, subnet={self.subnet})"


def clean_all(prefix: str = DEFAULT_PREFIX, force: bool = False) -> list[str]:
    """Remove leftovers of labs whose owning process is gone; returns a line per removed thing.

    First whatever each such lab's state file lists, then any namespace, interface or
    /etc/netns directory named `<prefix>-<labid>-...` that no live lab owns. With `force`, labs
    whose owner is still running are removed too.
    """
    if os.geteuid() != 0:
        raise LabPermissionError("cleaning labs needs root")
    removed: list[str] = []
    live: set[str] = set()
    for state in Ledger.load_all(LAB_STATE_DIR, "*.json"):
        if not force and state.owner_alive():
            live.add(state.data.get("labid", ""))
            continue
        _teardown(state, removed)
    pattern = re.compile(rf"^{re.escape(prefix)}-([0-9a-f]{{6}})-")

    def orphan(name: str) -> bool:
        m = pattern.match(name)
        return bool(m) and m.group(1) not in live

    for ns in _existing_netns():
        if orphan(ns):
            _kill_all(netns_pids(ns), removed)
            if run_command(["ip", "netns", "del", ns], check=False).returncode == 0:
                removed.append(f"netns {ns}")
    for link in _existing_links():
        if orphan(link) and link in _existing_links():  # deleting one veth end removes the other
            if run_command(["ip", "link", "del", link], check=False).returncode == 0:
                removed.append(f"link {link}")
    if NETNS_ETC_DIR.is_dir():
        for etc in NETNS_ETC_DIR.iterdir():
            if orphan(etc.name):
                shutil.rmtree(etc, ignore_errors=True)
                removed.append(f"dir {etc}")
    if LAB_STATE_DIR.is_dir():
        for workdir in LAB_STATE_DIR.iterdir():
            # A lab's work directory whose state file is gone (removed above, or never written).
            if workdir.is_dir() and re.fullmatch(r"[0-9a-f]{6}", workdir.name) \
                    and workdir.name not in live and not (LAB_STATE_DIR / f"{workdir.name}.json").exists():
                shutil.rmtree(workdir, ignore_errors=True)
                removed.append(f"dir {workdir}")
    return removed
