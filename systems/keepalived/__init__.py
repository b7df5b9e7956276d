"""keepalived: 2 or 3 nodes running VRRP (Debian keepalived 2.2) for one virtual IP.

The system under test is the VRRP group's promise that one node, and only one, holds the virtual
IP. setup() writes each node's keepalived.conf (systems/keepalived/config.py), starts
`keepalived --dont-fork --vrrp` on each node's Host and waits until exactly one node has held the
VIP for longer than a master-down interval, which only happens when the backups hear the master's
advertisements. The `vip` workload's client (client.py) samples the holders from the nodes'
kernels. It needs hosts with interfaces of their own: env netns (the VIP defaults to the last
address of the lab subnet) or env ssh (give --opt keepalived.vip=ADDR/LEN).

A node killed with SIGKILL cannot remove its VIP: the address stays on its interface, as it does
on a real machine, and the samples say so.
"""

from __future__ import annotations

import ipaddress
import signal
import time

from harness.hosts import Daemon, HostError
from systems.base import ClusterContext, Offer, Option, SystemError_
from systems.daemons import NotReady, OneDaemonPerNode
from systems.keepalived.client import SampleError, VipClient, sample_holders
from systems.keepalived.config import VrrpSettings, parse_vip, render

KEEPALIVED = "/usr/sbin/keepalived"
SAMPLE_TIMEOUT_S = 2.0
STOP_GRACE_S = 3.0  # SIGTERM lets keepalived remove its VIP; SIGKILL after this


class Keepalived(OneDaemonPerNode):
    """A VRRP group of keepalived daemons, one per node, for one virtual IP."""

    name = "keepalived"
    daemon_log = "keepalived.log"
    kept_files = (daemon_log, "keepalived.conf")
    offer = Offer(workloads=("vip",),
                  envs=("netns", "ssh"),  # the VIP needs a real interface per node
                  node_counts=(2, 3), options={
        "keepalived.vip": Option("auto", "the virtual IP, ADDR or ADDR/LEN; auto: the last host "
                                         "address of the lab subnet (env netns only)"),
        "keepalived.interface": Option("eth0", "the interface VRRP speaks on and the VIP is added "
                                               "to, on every node"),
        "keepalived.vrid": Option("51", "VRRP virtual router id (1-255)"),
        "keepalived.advert-int": Option("1", "seconds between the master's advertisements "
                                             "(backups take over after about 3.5 of them)"),
        "keepalived.mode": Option("unicast", "how advertisements travel: to each peer's address, "
                                             "or to the VRRP multicast group",
                                  ("unicast", "multicast")),
        "keepalived.preempt": Option("on", "whether a higher-priority node takes the VIP back "
                                           "when it can reach the group again", ("on", "off")),
    })

    def __init__(self, ready_timeout: float = 30.0) -> None:
        super().__init__()
        self.ready_timeout = ready_timeout
        self.settings: VrrpSettings | None = None

    # ---- options --------------------------------------------------------------------------------

    @staticmethod
    def check_options(options: dict[str, str]) -> None:
        if options.get("keepalived.vip", "auto") != "auto":
            parse_vip(options["keepalived.vip"])
        vrid = options.get("keepalived.vrid", "51")
        if not vrid.isdigit() or not 1 <= int(vrid) <= 255:
            raise ValueError(f"keepalived.vrid {vrid!r}: expected a number from 1 to 255")
        advert = options.get("keepalived.advert-int", "1")
        try:
            seconds = float(advert)
        except ValueError:
            raise ValueError(f"keepalived.advert-int {advert!r}: expected seconds") from None
        if not 0.01 <= seconds <= 255:
            raise ValueError(f"keepalived.advert-int {advert!r}: expected 0.01 to 255 seconds")
        interface = options.get("keepalived.interface", "eth0")
        if not interface or len(interface) > 15 or any(c.isspace() or c in "{}/" for c in interface):
            raise ValueError(f"keepalived.interface {interface!r} is not an interface name")

    def _settings(self, ctx: ClusterContext) -> VrrpSettings:
        opts = {k: o.default for k, o in self.offer.options.items()} | dict(ctx.options)
        try:
            self.check_options(opts)
        except ValueError as e:
            raise SystemError_(str(e)) from None
        subnet = getattr(ctx.network, "subnet", None)
        if opts["keepalived.vip"] == "auto":
            if not isinstance(subnet, ipaddress.IPv4Network):
                raise SystemError_("keepalived.vip=auto needs the lab of --env netns; give "
                                   "--opt keepalived.vip=ADDR/LEN on the nodes' shared subnet")
            vip = ipaddress.IPv4Interface(f"{list(subnet.hosts())[-1]}/{subnet.prefixlen}")
        else:
            vip = parse_vip(opts["keepalived.vip"],
                            subnet.prefixlen if isinstance(subnet, ipaddress.IPv4Network) else 32)
        taken = {ctx.address(n) for n in ctx.nodes}
        if str(vip.ip) in taken:
            raise SystemError_(f"keepalived.vip {vip.ip} is a node's own address")
        return VrrpSettings(vip=vip, interface=opts["keepalived.interface"],
                            vrid=int(opts["keepalived.vrid"]),
                            advert_int=float(opts["keepalived.advert-int"]),
                            unicast=opts["keepalived.mode"] == "unicast",
                            preempt=opts["keepalived.preempt"] == "on")

    # ---- System ---------------------------------------------------------------------------------

    def setup(self, ctx: ClusterContext) -> None:
        self.ctx = ctx
        self.settings = self._settings(ctx)
        try:
            already = self._holders()
        except SampleError as e:
            raise SystemError_(f"cannot read the nodes' addresses: {e}") from None
        if already:
            raise SystemError_(f"{already[0]} already holds {self.settings.vip.ip} before keepalived "
                               f"started (a leftover? remove it with `ip addr del "
                               f"{self.settings.vip.with_prefixlen} dev {self.settings.interface}`)")
        self._start_all(self._write_config)

    def teardown(self) -> None:
        """SIGTERM first, so each keepalived removes its VIP (on SSH hosts nothing else would),
        then SIGKILL whatever is left, then remove a VIP a killed node left behind."""
        if self.ctx is None:
            return
        running = dict(self._daemons)
        for node, daemon in running.items():
            self._signal(node, daemon, signal.SIGCONT)
            self._signal(node, daemon, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for node, daemon in running.items():
            while time.monotonic() < deadline and self._alive(node, daemon):
                time.sleep(0.05)
        super().teardown()
        for node in self.ctx.nodes:
            self._drop_vip(node)

    def client(self, workload: str) -> VipClient:
        self.offer.require_workload(self.name, workload)
        assert self.settings is not None, "setup() first"
        return VipClient(self.settings.vip.ip, timeout=SAMPLE_TIMEOUT_S)

    # ---- capabilities ---------------------------------------------------------------------------

    def leader(self) -> str | None:
        """The node holding the VIP when exactly one does; None when none or several do."""
        try:
            holders = self._holders()
        except SampleError:
            return None
        return holders[0] if len(holders) == 1 else None

    def healthy(self) -> bool:
        """Exactly one node holds the VIP."""
        return self.leader() is not None

    # ---- helpers --------------------------------------------------------------------------------

    def _holders(self) -> list[str]:
        assert self.ctx is not None and self.settings is not None
        return sample_holders(self.ctx, self.settings.vip.ip, SAMPLE_TIMEOUT_S)

    def _paths(self, node: str) -> dict[str, str]:
        assert self.ctx is not None
        d = self.ctx.remote_dir(node)
        return {"conf": f"{d}/keepalived.conf", "log": self._remote_log(node),
                "pid": f"{d}/keepalived.pid", "vrrp_pid": f"{d}/vrrp.pid",
                "checkers_pid": f"{d}/checkers.pid", "bfd_pid": f"{d}/bfd.pid"}

    def _write_config(self, node: str) -> None:
        ctx, settings = self.ctx, self.settings
        assert ctx is not None and settings is not None
        index = ctx.nodes.index(node)
        text = render(node, index, ctx.address(node),
                      [ctx.address(p) for p in ctx.nodes if p != node], settings)
        local = ctx.node_dir(node) / "keepalived.conf"
        local.write_text(text)
        remote = self._paths(node)["conf"]
        if remote != str(local):
            try:
                self._host(node).upload(local, remote)
            except (HostError, OSError) as e:
                raise SystemError_(f"keepalived {node}: cannot copy its config: {e}") from None

    def _argv(self, node: str) -> list[str]:
        p = self._paths(node)
        # --dont-fork keeps the parent ours to signal; its VRRP child shares its process group.
        return [KEEPALIVED, "--dont-fork", "--vrrp", "--log-console", "--log-detail", "--no-syslog",
                "--use-file", p["conf"], "--pid", p["pid"], "--vrrp_pid", p["vrrp_pid"],
                "--checkers_pid", p["checkers_pid"], "--bfd_pid", p["bfd_pid"]]

    def _launch(self, node: str) -> None:
        host = self._host(node)
        p = self._paths(node)
        for stale in ("pid", "vrrp_pid", "checkers_pid", "bfd_pid"):
            try:
                host.run(["rm", "-f", "--", p[stale]], timeout=10)
            except HostError:
                pass
        daemon = self._start_daemon(node, self._argv(node))
        # Its VRRP child is one of the node's processes too: a kill or pause must reach it.
        child = self._await_vrrp_child(node, daemon)
        if child is not None:
            self._last_started[node].append(child)

    def _await_vrrp_child(self, node: str, daemon: Daemon, timeout: float = 5.0) -> Daemon | None:
        """The VRRP child keepalived forks, from its pid file; a kill or pause verifies it too."""
        host = self._host(node)
        path = self._paths(node)["vrrp_pid"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._alive(node, daemon):
            try:
                r = host.run(["cat", path], timeout=5)
            except HostError:
                r = None
            if r is not None and r.exit_code == 0 and r.stdout.strip().isdigit():
                pid = int(r.stdout.strip())
                if pid != daemon.pid:
                    return Daemon(daemon.host, f"{daemon.name}-vrrp", pid, daemon.log)
            time.sleep(0.05)
        return None

    def _signal(self, node: str, daemon: Daemon, sig: int) -> None:
        try:
            self._host(node).signal(daemon, sig)
        except HostError:
            pass

    def _alive(self, node: str, daemon: Daemon) -> bool:
        try:
            return bool(self._host(node).alive(daemon))
        except HostError:
            return False

    def _drop_vip(self, node: str) -> None:
        settings = self.settings
        if settings is None:
            return
        try:
            self._host(node).run(["ip", "addr", "del", settings.vip.with_prefixlen, "dev",
                                  settings.interface], timeout=10)
        except HostError:
            pass  # the namespace may be gone already; nothing to remove then

    def _wait_ready(self, timeout: float) -> None:
        """Until one node has held the VIP, alone, for longer than a master-down interval (3
        advertisements plus skew): only then have the backups been hearing the master."""
        ctx, settings = self.ctx, self.settings
        assert ctx is not None and settings is not None
        settle = 4 * settings.advert_int + 0.5
        sole: str | None = None
        since = time.monotonic()

        def why_not_ready() -> NotReady:
            nonlocal sole, since
            try:
                holders = self._holders()
            except SampleError as e:
                raise SystemError_(f"cannot read the nodes' addresses: {e}") from None
            now = time.monotonic()
            current = holders[0] if len(holders) == 1 else None
            if current != sole:
                sole, since = current, now
            if sole is not None and now - since >= settle:
                return None
            what = (f"{' and '.join(holders)} all hold {settings.vip.ip}" if holders
                    else f"no node took {settings.vip.ip}")
            return what, self._remote_log(holders[0] if holders else ctx.nodes[0])

        self._wait_until_ready(why_not_ready, timeout, poll_s=0.1)


__all__ = ["Keepalived", "VipClient"]
