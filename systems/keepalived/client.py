"""Who holds the virtual IP: asked of each node's kernel, and the `vip` workload's client.

A node holds the VIP when the address is configured on one of its interfaces, which is what makes
its kernel answer ARP and traffic for it; keepalived's own idea of its state does not matter. The
question goes to every node at once (`ip -o -4 addr show` through the node's Host: inside its
namespace on env netns, over SSH on env ssh), so one sample spans only the few milliseconds those
commands take. A node that does not answer makes the sample unknown, never "not a holder".
"""

from __future__ import annotations

import ipaddress
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from systems.base import ClusterContext, Completion, Invocation


class SampleError(RuntimeError):
    """A node could not be asked whether it holds the VIP."""


def holds_vip(host: Any, vip: ipaddress.IPv4Address, timeout: float) -> bool:
    """True when `vip` is configured on an interface of the host (HostError, SampleError if it
    cannot be told)."""
    result = host.run(["ip", "-o", "-4", "addr", "show"], timeout=timeout)
    if result.exit_code != 0:
        why = (result.stderr.strip() or f"exit {result.exit_code}").splitlines()[-1]
        raise SampleError(f"{host.name}: ip addr show failed: {why}")
    return vip in addresses_in(result.stdout)


def addresses_in(ip_o_addr: str) -> set[ipaddress.IPv4Address]:
    """The IPv4 addresses in `ip -o -4 addr show` output ("2: eth0    inet 10.0.0.2/24 ...")."""
    found = set()
    for line in ip_o_addr.splitlines():
        words = line.split()
        for i, word in enumerate(words[:-1]):
            if word == "inet":
                try:
                    found.add(ipaddress.IPv4Interface(words[i + 1]).ip)
                except ValueError:
                    pass
                break
    return found


def sample_holders(ctx: ClusterContext, vip: ipaddress.IPv4Address, timeout: float,
                   pool: ThreadPoolExecutor | None = None) -> list[str]:
    """The sorted nodes holding `vip` now; SampleError naming a node that could not be asked."""
    own_pool = pool is None
    pool = pool or ThreadPoolExecutor(max_workers=len(ctx.nodes))
    try:
        futures = {node: pool.submit(holds_vip, ctx.hosts[node], vip, timeout) for node in ctx.nodes}
        holders = []
        for node, future in futures.items():
            try:
                if future.result():
                    holders.append(node)
            except SampleError:
                raise
            except Exception as e:  # HostError: timeout, SSH down
                raise SampleError(f"{node}: {e}") from None
        return sorted(holders)
    finally:
        if own_pool:
            pool.shutdown(wait=False)


class VipClient:
    """The `vip` workload's client: f "sample" -> ok with the sorted list of holders.

    The worker's own node does not matter: every sample asks every node. A node that cannot be
    asked in time makes the op `info` (the harness then retires the process, as for any info).
    """

    def __init__(self, vip: ipaddress.IPv4Address, timeout: float = 1.0) -> None:
        self.vip = vip
        self.timeout = timeout
        self.ctx: ClusterContext | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def open(self, ctx: ClusterContext, node: str) -> None:
        self.ctx = ctx
        with self._lock:
            self._pool = ThreadPoolExecutor(max_workers=len(ctx.nodes),
                                            thread_name_prefix="vip-sample")

    def invoke(self, op: Invocation) -> Completion:
        if op.f != "sample":
            return Completion.fail(f"the vip client has no operation {op.f!r}")
        with self._lock:
            pool = self._pool
        if self.ctx is None or pool is None:
            return Completion.fail("client not open")
        try:
            return Completion.ok(sample_holders(self.ctx, self.vip, self.timeout, pool))
        except SampleError as e:
            return Completion.info(str(e))
        except RuntimeError as e:  # the pool was shut down by close() from another thread
            return Completion.info(f"sample abandoned: {e}")

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
