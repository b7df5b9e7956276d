"""RaftKVClient: the client of raftkv's workloads (register: read, write, cas; counter: add, read;
append and wr: txn), bound to one node.

Workers are bound to nodes (not to the leader) so that a node that answers from stale state shows
up in the history. Each invoke sends one request line and waits for its answer; it never retries.
The answer maps to the history: ok -> ok, fail (certainly not applied) -> fail, unknown, a timeout
or a dropped connection -> info. open() raises ConnectionError when the node does not accept a
connection; after a dropped connection, invoke() reconnects first, and a failed reconnect (nothing
was sent) is a fail.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
from typing import Any

from systems.base import ClusterContext, Completion, Invocation
from systems.raftkv.core import OPS

DEFAULT_TIMEOUT = 5.0


class NotSentError(ConnectionError):
    """No connection to the node, so the request was certainly not sent."""


class RaftKVClient:
    """A client of one raftkv node. close() is safe from another thread while invoke() blocks."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, base_port: int = 7000) -> None:
        self.timeout = timeout
        self.base_port = base_port
        self.node: str | None = None
        self._address: tuple[str, int] | None = None
        self._sock: socket.socket | None = None
        self._buf = b""
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # guards _sock against a concurrent close()
        self._closed = False

    def open(self, ctx: ClusterContext, node: str) -> None:
        self.node = node
        self._address = (ctx.address(node), ctx.port(node, self.base_port))
        self._closed = False
        try:
            self._connect()
        except OSError as e:  # the harness retries open() while a node is down
            raise ConnectionError(f"cannot connect to {node} at {self._address[0]}:{self._address[1]}: "
                                  f"{e.strerror or e}") from None

    def _connect(self) -> socket.socket:
        with self._lock:
            if self._sock is not None:
                return self._sock
            if self._closed:
                raise OSError("client closed")
        sock = socket.create_connection(self._address, timeout=min(self.timeout, 2.0))
        sock.settimeout(self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            if self._closed:
                sock.close()
                raise OSError("client closed")
            self._sock, self._buf = sock, b""
        return sock

    def _drop(self, sock: socket.socket) -> None:
        """Forget a connection whose state is unknown (late answers must not be mistaken)."""
        with self._lock:
            if self._sock is sock:
                self._sock = None
        try:
            sock.close()
        except OSError:
            pass

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one request and return the node's answer. Raises NotSentError (nothing was sent)
        or TimeoutError / OSError (sent, answer unknown)."""
        if self._address is None:
            raise NotSentError("client not opened")
        try:
            sock = self._connect()
        except OSError as e:
            raise NotSentError(f"cannot connect to {self.node}: {e}") from None
        rid = next(self._ids)
        line = json.dumps({**request, "id": rid}, separators=(",", ":")).encode() + b"\n"
        try:
            sock.sendall(line)
            while True:
                answer = self._read_line(sock)
                if answer.get("id") == rid:
                    return answer
        except BaseException:
            self._drop(sock)
            raise

    def _read_line(self, sock: socket.socket) -> dict[str, Any]:
        while b"\n" not in self._buf:
            data = sock.recv(65536)
            if not data:
                raise OSError("connection closed by the node")
            self._buf += data
        line, _, self._buf = self._buf.partition(b"\n")
        return json.loads(line)

    def invoke(self, op: Invocation) -> Completion:
        if op.f not in OPS:
            return Completion.fail(f"raftkv does not support {op.f!r}")
        if op.f == "cas" and not (isinstance(op.value, (list, tuple)) and len(op.value) == 2):
            return Completion.fail("cas needs value [expected, new]")
        # a transaction (append, wr) is one request: the node applies it as one log entry and
        # answers with its micro-ops, reads filled in
        request = {"f": op.f, "key": op.key, "value": None if op.f == "read" else op.value}
        try:
            answer = self.call(request)
        except NotSentError as e:
            return Completion.fail(str(e))
        except (TimeoutError, socket.timeout):
            return Completion.info("timeout")
        except (OSError, ValueError) as e:
            return Completion.info(f"connection lost: {e}")
        status, error = answer.get("status"), answer.get("error")
        if status == "ok":
            return Completion.ok(answer.get("value") if op.f in ("read", "txn") else op.value)
        if status == "fail":
            return Completion.fail(error or "refused")
        return Completion.info(error or "unknown")

    def status(self) -> dict[str, Any]:
        """The node's {id, role, term, leader, commit_index, last_applied, ...}."""
        answer = self.call({"f": "status"})
        return answer["value"]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a recv() blocked in another thread
            except OSError:
                pass
            sock.close()
