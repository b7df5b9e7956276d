"""A real 3-node raftkv cluster on 127.0.0.1: setup, clients on every node, kill, pause, teardown."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from systems.base import (Completion, HasLeader, HasLogs, HasProcesses, HealthCheck, Invocation, Killable, Pausable,
                          System, SystemError_)
from systems.raftkv import RaftKV

NODES = ["n1", "n2", "n3"]


def pids_alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
            alive.append(pid)
        except ProcessLookupError:
            pass
    return alive


@pytest.fixture
def cluster(start_cluster):
    system, ctx = start_cluster()
    clients = []
    try:
        yield system, ctx, clients
    finally:
        for c in clients:
            c.close()


def bound_client(system, ctx, clients, node, timeout=5.0):
    c = system.client("register")
    c.timeout = timeout
    c.open(ctx, node)
    clients.append(c)
    return c


def test_raftkv_has_every_capability():
    system = RaftKV()
    for protocol in (System, Killable, Pausable, HasLeader, HasLogs, HasProcesses, HealthCheck):
        assert isinstance(system, protocol)
    assert set(system.offer.bugs) == {"follower-reads", "stale-leader-reads", "early-ack",
                                      "nonatomic-txn"}
    assert system.offer.workloads == ("register", "append", "wr", "counter")
    with pytest.raises(ValueError, match="register"):
        system.client("bank")


def test_clients_on_every_node_and_teardown_leaves_no_process(cluster):
    system, ctx, clients = cluster
    c1, c2, c3 = (bound_client(system, ctx, clients, n) for n in NODES)
    assert c1.invoke(Invocation(0, "write", 5, key=1)) == Completion.ok(5)
    assert c2.invoke(Invocation(1, "read", None, key=1)) == Completion.ok(5)
    assert c3.invoke(Invocation(2, "read", None, key=2)) == Completion.ok(None)
    assert c3.invoke(Invocation(2, "cas", [5, 6], key=1)) == Completion.ok([5, 6])
    refused = c2.invoke(Invocation(1, "cas", [5, 7], key=1))
    assert refused.type == "fail" and "cas mismatch" in refused.error
    assert c1.invoke(Invocation(0, "read", None, key=1)) == Completion.ok(6)
    # the counter workload's add: a delta applied through the log, read back from any node
    assert c1.invoke(Invocation(0, "add", 3, key="c")) == Completion.ok(3)
    assert c2.invoke(Invocation(1, "add", 4, key="c")) == Completion.ok(4)
    assert c3.invoke(Invocation(2, "read", None, key="c")) == Completion.ok(7)
    bad = c3.invoke(Invocation(2, "add", "x", key="c"))
    assert bad.type == "fail" and "number" in bad.error
    assert system.healthy() and system.leader() in NODES
    assert all(system.log_files(n)[0].name == "node.log" for n in NODES)
    pids = [d.pid for d in system._daemons.values()]
    assert len(pids_alive(pids)) == 3
    system.teardown()
    system.teardown()  # idempotent
    assert pids_alive(pids) == []


def test_killed_leader_is_replaced_and_data_is_kept(cluster, wait_until):
    system, ctx, clients = cluster
    old = system.leader()
    others = [n for n in NODES if n != old]
    writer = bound_client(system, ctx, clients, others[0])
    assert writer.invoke(Invocation(0, "write", "before", key="k")).type == "ok"
    system.kill(old)
    [(host, daemon)] = system.processes(old)
    assert not host.alive(daemon)
    new = wait_until(lambda: system.healthy() and system.leader(), 10)
    assert new in others
    reader = bound_client(system, ctx, clients, others[1])
    assert reader.invoke(Invocation(1, "read", None, key="k")) == Completion.ok("before")
    assert writer.invoke(Invocation(0, "write", "after", key="k")).type == "ok"
    with pytest.raises(ConnectionError, match=old):
        bound_client(system, ctx, clients, old)  # open() refuses so the harness can retry later
    system.start(old)  # restarts from its data directory
    assert wait_until(lambda: system.statuses([old])[old], 10)
    back = bound_client(system, ctx, clients, old)
    assert wait_until(lambda: back.invoke(Invocation(2, "read", None, key="k")) == Completion.ok("after"), 10)
    assert "term" in (ctx.node_dir(old) / "node.log").read_text()


def test_paused_leader_is_replaced_and_rejoins_after_resume(cluster, wait_until):
    system, ctx, clients = cluster
    old = system.leader()
    system.pause(old)
    try:
        [(host, daemon)] = system.processes(old)
        assert wait_until(lambda: open(f"/proc/{daemon.pid}/stat").read().rsplit(")", 1)[1].split()[0] == "T", 2)
        paused_client = bound_client(system, ctx, clients, old, timeout=0.5)
        assert paused_client.invoke(Invocation(0, "read", None, key="k")).type == "info"  # a timeout
        new = wait_until(lambda: system.leader() not in (None, old) and system.leader(), 10)
        assert new and new != old
        writer = bound_client(system, ctx, clients, new)
        assert writer.invoke(Invocation(1, "write", 42, key="k")).type == "ok"
    finally:
        system.resume(old)
    status = wait_until(lambda: (s := system.statuses([old])[old]) and s["role"] == "follower" and s, 10)
    assert status and status["leader"] == new
    again = bound_client(system, ctx, clients, old)
    assert again.invoke(Invocation(2, "read", None, key="k")) == Completion.ok(42)


def test_close_from_another_thread_unblocks_an_invoke(cluster):
    system, ctx, clients = cluster
    node = NODES[0]
    c = bound_client(system, ctx, clients, node, timeout=30.0)
    system.pause(node)
    try:
        timer = threading.Timer(0.3, c.close)
        timer.start()
        started = time.monotonic()
        result = c.invoke(Invocation(0, "read", None, key="k"))
        assert result.type in ("info", "fail") and time.monotonic() - started < 5
        timer.join()
    finally:
        system.resume(node)


def test_setup_fails_clearly_when_a_port_is_taken(make_ctx):
    ctx = make_ctx()
    system = RaftKV(ready_timeout=5.0)
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", ctx.port("n2", system.base_port)))  # the port n2 will be given
    blocker.listen()
    try:
        with pytest.raises(SystemError_) as err:
            system.setup(ctx)
        message = str(err.value)
        assert "n2" in message and "node.log" in message and "\n" not in message
        assert system._daemons == {}
    finally:
        blocker.close()
        system.teardown()
        for host in ctx.hosts.values():
            host.close()


def test_setup_rejects_an_unknown_bug(make_ctx):
    with pytest.raises(SystemError_, match="no bug"):
        RaftKV().setup(make_ctx(bugs={"lost-updates"}))
