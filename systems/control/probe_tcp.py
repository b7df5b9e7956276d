"""TCP reachability probe: connect from this node to each address at once; print the outcomes.

Run as `python -m systems.control.probe_tcp PORT TIMEOUT ADDR...`; prints one JSON object
{addr: [outcome, seconds]}, outcome one of connected, refused, timeout, unreachable, error:<why>.
Aimed at a closed port, "refused" proves packets went both ways and "timeout" that they did not.
Standard library only: on env ssh the hosts run this file's source without splitbrain installed.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time


def probe(addr: str, port: int, timeout: float) -> tuple[str, float]:
    s = socket.socket()
    s.settimeout(timeout)
    t0 = time.monotonic()
    try:
        s.connect((addr, port))
        return "connected", time.monotonic() - t0
    except ConnectionRefusedError:
        return "refused", time.monotonic() - t0
    except (socket.timeout, TimeoutError):
        return "timeout", time.monotonic() - t0
    except OSError as e:
        # ENETUNREACH (101) and EHOSTUNREACH (113): a route or ARP failure, not a silent drop.
        outcome = "unreachable" if e.errno in (101, 113) else f"error:{e.strerror}"
        return outcome, time.monotonic() - t0
    finally:
        s.close()


def main(argv: list[str]) -> int:
    port, timeout, addrs = int(argv[0]), float(argv[1]), argv[2:]
    out: dict[str, tuple[str, float]] = {}

    def one(addr: str) -> None:
        out[addr] = probe(addr, port, timeout)

    threads = [threading.Thread(target=one, args=(a,)) for a in addrs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
