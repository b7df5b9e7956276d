"""The `register` client for etcd, over etcd's v3 JSON gateway (HTTP/1.1, base64 keys and values).

read = POST /v3/kv/range (linearizable: not `serializable`); write = /v3/kv/put; cas = /v3/kv/txn
comparing the key's value (or, for an expected absence, its create_revision with 0) and putting the
new value only if the comparison holds. One request per operation, never retried.

Outcomes: a read has no effect, so any error is `fail`; a write or cas is `fail` only when the
connection could not even be made (nothing was sent) and `info` on a timeout, a dropped connection
or an error answer (etcd may have proposed the write before answering with an error). Each ok
completion records the cluster revision of its answer as the extra `revision`.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
from typing import Any

from systems.base import ClusterContext, Completion, Invocation

KEY_PREFIX = "/register/"


class EtcdError(RuntimeError):
    """etcd answered with an error (HTTP status not 200, or an error body)."""


class NotSentError(ConnectionError):
    """No connection could be made, so the request was certainly not sent."""


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def unb64(text: str) -> str:
    return base64.b64decode(text).decode()


class EtcdHttp:
    """One keep-alive HTTP connection to one member. close() is safe from another thread."""

    def __init__(self, address: str, port: int, timeout: float) -> None:
        self.address, self.port, self.timeout = address, port, timeout
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _connection(self) -> http.client.HTTPConnection:
        with self._lock:
            if self._closed:
                raise NotSentError("client closed")
            if self._conn is not None:
                return self._conn
        conn = http.client.HTTPConnection(self.address, self.port, timeout=self.timeout)
        try:
            conn.connect()
        except OSError as e:
            conn.close()
            raise NotSentError(f"cannot connect to {self.address}:{self.port}: "
                               f"{e.strerror or e}") from None
        with self._lock:
            if self._closed:
                conn.close()
                raise NotSentError("client closed")
            self._conn = conn
        return conn

    def _drop(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if self._conn is conn:
                self._conn = None
        conn.close()

    def request(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        conn = self._connection()
        payload = json.dumps(body).encode() if body is not None else None
        try:
            conn.request(method, path, body=payload,
                         headers={"Content-Type": "application/json"} if payload else {})
            response = conn.getresponse()
            data = response.read()
        except BaseException:
            self._drop(conn)  # a late answer must never be taken for the next request's
            raise
        try:
            answer = json.loads(data or b"{}")
        except ValueError:
            raise EtcdError(f"HTTP {response.status}: {data[:200]!r}") from None
        if response.status != 200 or "error" in answer:
            message = answer.get("message") or answer.get("error") or f"HTTP {response.status}"
            raise EtcdError(str(message))
        return answer

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", path, body)

    def get(self, path: str) -> dict[str, Any]:
        return self.request("GET", path, None)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None:
            sock = conn.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)  # wakes a read blocked in another thread
                except OSError:
                    pass
            conn.close()


class EtcdMemberClient:
    """What every etcd client shares: one HTTP connection to its own member, opened and closed."""

    def __init__(self, base_port: int, timeout: float) -> None:
        self.base_port = base_port
        self.timeout = timeout
        self.http: EtcdHttp | None = None

    def open(self, ctx: ClusterContext, node: str) -> None:
        self.http = EtcdHttp(ctx.address(node), ctx.port(node, self.base_port), self.timeout)
        try:
            self.http._connection()
        except NotSentError as e:
            raise ConnectionError(f"{node}: {e}") from None

    def close(self) -> None:
        http_, self.http = self.http, None
        if http_ is not None:
            http_.close()


class EtcdClient(EtcdMemberClient):
    """A `register` client bound to one etcd member."""

    def invoke(self, op: Invocation) -> Completion:
        if self.http is None:
            return Completion.fail("client not opened")
        key = b64(f"{KEY_PREFIX}{op.key}")
        try:
            if op.f == "read":
                return self._read(key)
            if op.f == "write":
                answer = self.http.post("/v3/kv/put", {"key": key, "value": b64(str(op.value))})
                return Completion.ok(op.value, **_revision(answer))
            if op.f == "cas":
                if not (isinstance(op.value, (list, tuple)) and len(op.value) == 2):
                    return Completion.fail("cas needs value [expected, new]")
                return self._cas(key, op.value[0], op.value[1])
            return Completion.fail(f"etcd register has no {op.f!r}")
        except NotSentError as e:
            return Completion.fail(str(e))
        except (EtcdError, OSError, http.client.HTTPException) as e:
            if op.f == "read":  # a read changes nothing: whatever went wrong, it did not happen
                return Completion.fail(_describe(e))
            return Completion.info(_describe(e))

    def _read(self, key: str) -> Completion:
        assert self.http is not None
        answer = self.http.post("/v3/kv/range", {"key": key})
        kvs = answer.get("kvs") or []
        value = int(unb64(kvs[0]["value"])) if kvs and kvs[0].get("value") else None
        return Completion.ok(value, **_revision(answer))

    def _cas(self, key: str, expected: Any, new: Any) -> Completion:
        assert self.http is not None
        if expected is None:
            # Absent: a key that was never created has create_revision 0 (proto3 JSON needs it
            # spelled out as the comparison's operand).
            compare = {"key": key, "target": "CREATE", "result": "EQUAL", "create_revision": "0"}
        else:
            compare = {"key": key, "target": "VALUE", "result": "EQUAL",
                       "value": b64(str(expected))}
        answer = self.http.post("/v3/kv/txn", {
            "compare": [compare],
            "success": [{"request_put": {"key": key, "value": b64(str(new))}}],
        })
        if answer.get("succeeded"):  # proto3 JSON leaves out false
            return Completion.ok([expected, new], **_revision(answer))
        return Completion.fail("comparison failed")


def _revision(answer: dict[str, Any]) -> dict[str, Any]:
    revision = (answer.get("header") or {}).get("revision")
    return {"revision": int(revision)} if revision is not None else {}


def _describe(e: BaseException) -> str:
    if isinstance(e, (TimeoutError, socket.timeout)):
        return "timeout"
    return f"{type(e).__name__}: {e}" if not isinstance(e, EtcdError) else str(e)


__all__ = ["EtcdClient", "EtcdHttp", "EtcdError"]
