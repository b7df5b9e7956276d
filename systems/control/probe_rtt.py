"""Round-trip probe: the median time of a TCP connect to a closed port (SYN out, RST back).

Run as `python -m systems.control.probe_rtt ADDR PORT SAMPLES`; prints milliseconds.
Standard library only: on env ssh the hosts run this file's source without splitbrain installed.
"""

from __future__ import annotations

import socket
import statistics
import sys
import time


def main(argv: list[str]) -> int:
    addr, port, samples = argv[0], int(argv[1]), int(argv[2])
    times = []
    for _ in range(samples):
        s = socket.socket()
        s.settimeout(5)
        t0 = time.monotonic()
        try:
            s.connect((addr, port))
        except ConnectionRefusedError:
            pass
        times.append((time.monotonic() - t0) * 1000)
        s.close()
    print(statistics.median(times))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
