"""Each raftkv bug shows up on a real cluster in the way the checkers are meant to catch it."""

from __future__ import annotations

import threading

from systems.base import Completion, Invocation

NODES = ["n1", "n2", "n3"]


def client(system, ctx, node):
    c = system.client("register")
    c.open(ctx, node)
    return c


def stale_follower_reads(system, ctx, tries=10) -> int:
    """Write through the leader, read right away through a follower; count reads of the old value."""
    leader = system.leader()
    follower = next(n for n in NODES if n != leader)
    w, r = client(system, ctx, leader), client(system, ctx, follower)
    stale = 0
    try:
        for i in range(tries):
            assert w.invoke(Invocation(0, "write", i, key="k")).type == "ok"
            if r.invoke(Invocation(1, "read", None, key="k")) != Completion.ok(i):
                stale += 1
    finally:
        w.close()
        r.close()
    return stale


def test_follower_reads_are_stale_without_any_fault(start_cluster):
    # A follower learns the new commit index only with the next heartbeat, so it lags the leader.
    assert stale_follower_reads(*start_cluster({"follower-reads"})) > 0


def test_reads_through_followers_are_linearizable_without_the_bug(start_cluster):
    assert stale_follower_reads(*start_cluster(set())) == 0


def test_early_ack_loses_an_acknowledged_write_when_the_leader_is_killed(start_cluster, wait_until):
    system, ctx = start_cluster({"early-ack"})
    leader = system.leader()
    w = client(system, ctx, leader)
    assert w.invoke(Invocation(0, "write", "kept", key="k")).type == "ok"
    assert w.invoke(Invocation(0, "read", None, key="k")) == Completion.ok("kept")  # fault-free: fine
    # A heartbeat may carry the write out before the kill: try a few times.
    lost = False
    for attempt in range(5):
        leader = system.leader()
        w = client(system, ctx, leader)
        assert w.invoke(Invocation(0, "write", f"acked-{attempt}", key="k")).type == "ok"
        system.kill(leader)
        w.close()
        assert wait_until(system.healthy, 10)
        r = client(system, ctx, system.leader())
        value = r.invoke(Invocation(1, "read", None, key="k")).value
        r.close()
        system.start(leader)
        if value != f"acked-{attempt}":
            lost = True
            break
        assert wait_until(lambda: all(system.statuses().values()), 10)
    assert lost


def reads_buffered_at_a_paused_leader(system, ctx, wait_until) -> list[Completion]:
    """Pause the leader while its (already connected) clients send reads, let a new leader commit
    a write, resume the old leader, and return what those reads answered."""
    old = system.leader()
    writer = client(system, ctx, old)
    assert writer.invoke(Invocation(0, "write", "old", key="k")).type == "ok"
    writer.close()
    readers = [client(system, ctx, old) for _ in range(3)]
    for r in readers:  # connected and served once, as a worker bound to this node would be
        r.timeout = 10.0
        assert r.invoke(Invocation(1, "read", None, key="k")) == Completion.ok("old")
    results: list[Completion] = []
    system.pause(old)
    try:
        threads = [threading.Thread(target=lambda r=r: results.append(r.invoke(Invocation(1, "read", None, key="k"))))
                   for r in readers]
        for t in threads:
            t.start()
        new = wait_until(lambda: (leader := system.leader()) not in (None, old) and leader, 10)
        assert new
        w = client(system, ctx, new)
        assert w.invoke(Invocation(2, "write", "new", key="k")).type == "ok"
        w.close()
    finally:
        system.resume(old)
    for t in threads:
        t.join(15)
    for r in readers:
        r.close()
    return results


def test_stale_leader_reads_answer_buffered_reads_from_a_resumed_old_leader(start_cluster, wait_until):
    system, ctx = start_cluster({"stale-leader-reads"})
    results = reads_buffered_at_a_paused_leader(system, ctx, wait_until)
    assert Completion.ok("old") in results


def test_buffered_reads_at_a_resumed_old_leader_are_fresh_without_the_bug(start_cluster, wait_until):
    system, ctx = start_cluster()
    results = reads_buffered_at_a_paused_leader(system, ctx, wait_until)
    assert len(results) == 3 and Completion.ok("old") not in results
