"""RaftKVClient against a scripted one-connection TCP server: how answers and failures map to
ok / fail / info, and that close() from another thread unblocks a waiting invoke()."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from pathlib import Path

import pytest

from systems.base import ClusterContext, Completion, Invocation
from systems.raftkv.client import RaftKVClient


class ScriptedNode:
    """Accepts one connection; for each request line calls behave(request, conn)."""

    def __init__(self, behave) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.behave = behave
        self.requests: list[dict] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            buf = b""
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    request = json.loads(line)
                    self.requests.append(request)
                    if self.behave(request, conn) == "stop":
                        return

    def close(self) -> None:
        self.sock.close()
        self.thread.join(5)


def answer(status, value=None, error=None):
    def behave(request, conn):
        conn.sendall(json.dumps({"id": request["id"], "status": status, "value": value,
                                 "error": error}).encode() + b"\n")
    return behave


def reset_connection(request, conn):
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST
    conn.close()
    return "stop"


def never_answer(request, conn):
    return None


@pytest.fixture
def node_factory(tmp_path):
    nodes = []

    def make(behave):
        node = ScriptedNode(behave)
        nodes.append(node)
        return node

    try:
        yield make
    finally:
        for node in nodes:
            node.close()


def connect(node: ScriptedNode, tmp_path: Path, timeout: float = 5.0) -> RaftKVClient:
    ctx = ClusterContext(nodes=["n1"], hosts={}, run_dir=tmp_path, seed=1, shared_host=False)
    client = RaftKVClient(timeout=timeout, base_port=node.port)  # a host of its own: port = base
    client.open(ctx, "n1")
    return client


@pytest.mark.parametrize("status,value,error,expected", [
    ("ok", 3, None, Completion.ok(3)),
    ("fail", None, "cas mismatch", Completion.fail("cas mismatch")),
    ("unknown", None, "leadership lost", Completion.info("leadership lost")),
])
def test_answers_map_to_completions(node_factory, tmp_path, status, value, error, expected):
    node = node_factory(answer(status, value, error))
    client = connect(node, tmp_path)
    try:
        assert client.invoke(Invocation(0, "read", None, key="k")) == expected
        assert node.requests[0] == {"f": "read", "key": "k", "value": None, "id": 1}
    finally:
        client.close()


def test_ok_write_and_cas_echo_their_value(node_factory, tmp_path):
    client = connect(node_factory(answer("ok")), tmp_path)
    try:
        assert client.invoke(Invocation(0, "write", 7, key="k")) == Completion.ok(7)
        assert client.invoke(Invocation(0, "cas", [7, 8], key="k")) == Completion.ok([7, 8])
        assert client.invoke(Invocation(0, "cas", 7, key="k")).type == "fail"  # malformed, not sent
    finally:
        client.close()


def test_a_reset_after_sending_is_info_not_fail(node_factory, tmp_path):
    client = connect(node_factory(reset_connection), tmp_path)
    try:
        result = client.invoke(Invocation(0, "write", 1, key="k"))
        assert result.type == "info"
    finally:
        client.close()


def test_a_timeout_is_info(node_factory, tmp_path):
    client = connect(node_factory(never_answer), tmp_path, timeout=0.3)
    try:
        assert client.invoke(Invocation(0, "write", 1, key="k")) == Completion.info("timeout")
    finally:
        client.close()


def test_close_from_another_thread_unblocks_invoke(node_factory, tmp_path):
    client = connect(node_factory(never_answer), tmp_path, timeout=30.0)
    timer = threading.Timer(0.2, client.close)
    timer.start()
    started = time.monotonic()
    result = client.invoke(Invocation(0, "read", None, key="k"))
    timer.join()
    assert result.type == "info" and time.monotonic() - started < 5


def test_open_refuses_when_nothing_listens_and_invoke_after_close_is_fail(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # the port is now closed
    ctx = ClusterContext(nodes=["n1"], hosts={}, run_dir=tmp_path, seed=1, shared_host=False)
    client = RaftKVClient(base_port=port)
    with pytest.raises(ConnectionError, match="n1"):
        client.open(ctx, "n1")
    result = client.invoke(Invocation(0, "write", 1, key="k"))
    assert result.type == "fail" and "cannot connect" in result.error  # certainly never sent
