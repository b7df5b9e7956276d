"""UDP delivery probe: a receiver counting distinct datagrams, and a sender of numbered ones.

`python -m systems.control.probe_udp receive PORT` prints "ready" once bound, then on SIGTERM
"received N" (distinct datagrams) and exits. `python -m systems.control.probe_udp send ADDR PORT
COUNT GAP` sends COUNT datagrams GAP seconds apart and prints "sent COUNT".
Standard library only: on env ssh the hosts run this file's source without splitbrain installed.
"""

from __future__ import annotations

import signal
import socket
import sys
import time


def receive(port: int) -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    got: set[bytes] = set()

    def report(signum: int, frame: object) -> None:
        print("received", len(got), flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, report)
    print("ready", flush=True)
    while True:
        got.add(s.recvfrom(2048)[0])


def send(addr: str, port: int, count: int, gap: float) -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(count):
        try:
            s.sendto(b"probe-%d" % i, (addr, port))
        except OSError:
            pass  # a DROP on this node's own output surfaces as EPERM: that packet is lost
        time.sleep(gap)
    print("sent", count)
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["receive"]:
        return receive(int(argv[1]))
    if argv[:1] == ["send"]:
        return send(argv[1], int(argv[2]), int(argv[3]), float(argv[4]))
    print("usage: probe_udp receive PORT | send ADDR PORT COUNT GAP", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
