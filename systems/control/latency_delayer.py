"""Packet delayer: holds each packet of an NFQUEUE queue for a set time, then lets it go.

This kernel has no netem, so latency is made in user space: an iptables rule inside a node's
namespace sends its outgoing packets to an NFQUEUE queue, and this process (running in the same
namespace) accepts each one after `delay +/- jitter` ms. Packets are accepted unchanged, so their
source addresses stay the node's own and partition rules keep matching them.

Run as `python -m systems.control.latency_delayer --queue N --delay-ms MS [--jitter-ms J] [--seed S]`.
It prints "ready" once bound (the rule must only be added after that, or packets are dropped);
on SIGTERM it releases every held packet at once and exits, so removing latency never loses
traffic. Needs the PyPI package NetfilterQueue (Debian libnetfilter-queue-dev to build it).
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import random
import select
import signal
import socket
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="latency_delayer", description=__doc__.splitlines()[0])
    parser.add_argument("--queue", type=int, required=True, help="NFQUEUE queue number")
    parser.add_argument("--delay-ms", type=float, required=True)
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="uniform +/- around the delay")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        from netfilterqueue import NetfilterQueue
    except ImportError:
        print("latency_delayer: the Python package NetfilterQueue is not installed", file=sys.stderr)
        return 2

    rng = random.Random(args.seed)
    held: list[tuple[float, int, object]] = []  # (release time, arrival order, packet)
    order = itertools.count()
    stopping = False

    def hold(packet: object) -> None:
        delay = args.delay_ms + rng.uniform(-args.jitter_ms, args.jitter_ms)
        # Equal delays keep arrival order (the counter breaks ties), so without jitter no reordering.
        heapq.heappush(held, (time.monotonic() + max(0.0, delay) / 1000.0, next(order), packet))

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    queue = NetfilterQueue()
    try:
        queue.bind(args.queue, hold, max_len=65536)
    except OSError as e:
        print(f"latency_delayer: cannot bind NFQUEUE {args.queue}: {e}", file=sys.stderr)
        return 1
    sock = socket.fromfd(queue.get_fd(), socket.AF_NETLINK, socket.SOCK_RAW)
    print("ready", flush=True)
    try:
        while not stopping:
            timeout = max(0.0, held[0][0] - time.monotonic()) if held else 0.5
            try:
                readable, _, _ = select.select([sock], [], [], timeout)
            except InterruptedError:
                continue
            if readable:
                # Reads every queued packet without blocking; each goes to hold() with no verdict yet.
                queue.run(block=False)
            now = time.monotonic()
            while held and held[0][0] <= now:
                heapq.heappop(held)[2].accept()
    finally:
        while held:
            heapq.heappop(held)[2].accept()
        queue.unbind()
        sock.close()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
