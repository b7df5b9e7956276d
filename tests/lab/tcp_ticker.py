"""A TCP peer for fault tests: each side sends a tick every 50 ms and logs what it receives.

`tcp_ticker.py serve ADDR PORT` listens; it echoes every line it gets ("echo <line>") and sends
its own ticks. `tcp_ticker.py connect ADDR PORT` connects once and keeps the connection: the
connection is established before a fault, so the test sees what the fault does to live flows.
Each received line is logged as "got <line>", so the harness can count traffic per direction.
"""

import socket
import sys
import threading
import time


def pump(conn: socket.socket, name: str) -> None:
    n = 0
    while True:
        try:
            conn.sendall(f"tick {name} {n}\n".encode())
        except OSError:
            return
        n += 1
        time.sleep(0.05)


def serve_connection(conn: socket.socket) -> None:
    threading.Thread(target=pump, args=(conn, "server"), daemon=True).start()
    for line in conn.makefile("r"):
        line = line.strip()
        print(f"got {line}", flush=True)
        if line.startswith("tick"):
            try:
                conn.sendall(f"echo {line}\n".encode())
            except OSError:
                return


def main() -> None:
    mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "serve":
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((addr, port))
        listener.listen()
        print("ready", flush=True)
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve_connection, args=(conn,), daemon=True).start()
    conn = socket.create_connection((addr, port), timeout=5)
    conn.settimeout(None)
    print("ready", flush=True)
    threading.Thread(target=pump, args=(conn, "client"), daemon=True).start()
    for line in conn.makefile("r"):
        print(f"got {line.strip()}", flush=True)


if __name__ == "__main__":
    main()
