"""The `group` client's side of a member's pipe (systems/kafka/group_client.py), against a
stand-in member process speaking the same line protocol (the real member needs a Kafka: its
runs are tests/integration/test_kafka_group.py). What is tested here is the client's own
bookkeeping: which op a crash's progress belongs to, and the crash windows the nemesis kills in."""

from __future__ import annotations

import sys
import textwrap
import time

import pytest

from systems.base import Invocation
from systems.kafka import group_client
from systems.kafka.group_client import KafkaGroupClient, MemberProcess, MemberRegistry

# join: ok; txn: reports its committed value, then replies with it; poll: commits, reports the
# window it is in while "processing" for 30 s, then replies.
STAND_IN = textwrap.dedent('''
    import json, sys, time
    def say(obj):
        sys.stdout.write(json.dumps(obj) + "\\n"); sys.stdout.flush()
    sent = {"poll": {"0": [[3, 7]]}, "send": [{"key": "k1", "value": 7,
            "topic": "splitbrain-out", "partition": 0, "offset": 5}]}
    for line in sys.stdin:
        op = json.loads(line)["op"]
        if op == "txn":
            say({"progress": {"value": sent}})
            say({"type": "ok", "value": sent})
        elif op == "poll":
            say({"progress": {"commits": [{"offsets": {"0": 4}}], "window": "unprocessed"}})
            time.sleep(30)
            say({"type": "ok", "value": {"0": [[3, 7]]}})
        else:
            say({"type": "ok", "value": None})
''')


@pytest.fixture
def member(tmp_path, monkeypatch):
    script = tmp_path / "member.py"
    script.write_text(STAND_IN)
    monkeypatch.setattr(group_client, "MEMBER_COMMAND", [sys.executable, str(script)])
    made = []

    def make(policy: str) -> MemberProcess:
        m = MemberProcess("p1", "g0", 1, "n1", policy)
        made.append(m)
        assert m.request({"op": "join"})["type"] == "ok"
        return m
    yield make
    for m in made:
        if m.alive():
            m.kill()


def _client(m: MemberProcess) -> KafkaGroupClient:
    client = KafkaGroupClient(2, MemberRegistry())
    client.member = m
    return client


def test_a_member_killed_between_ops_leaves_the_next_op_without_the_last_ones_value(member):
    m = member("txn")
    client = _client(m)
    first = client.invoke(Invocation(1, "txn", None, "g0"))
    assert first.type == "ok" and first.value["send"][0]["offset"] == 5
    assert m.kill()  # idle: between two requests
    second = client.invoke(Invocation(1, "txn", None, "g0"))
    # Before the fix the second op completed with the first one's progress, so one process
    # sent the same record twice at one offset (the nonmonotonic-send CI reported).
    assert second.type == "info" and second.value is None and "crashed" in second.error


def test_the_window_a_member_reports_is_where_a_window_kill_lands(member):
    m = member("before")
    assert m.window is None and not m.kill("unprocessed")  # not in it: not killed
    client = _client(m)
    import threading
    done = []
    threading.Thread(target=lambda: done.append(client.invoke(Invocation(1, "poll", None, "g0"))),
                     daemon=True).start()
    deadline = time.monotonic() + 10
    while m.window != "unprocessed":
        assert time.monotonic() < deadline, "the member never reported its window"
        time.sleep(0.01)
    assert not m.kill("uncommitted") and m.kill("unprocessed") and m.killed_in == "unprocessed"
    while not done:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    # the op the kill stopped: info, with the commit the member made of the batch it lost
    assert done[0].type == "info" and done[0].extra["commits"] == [{"offsets": {"0": 4}}]


def test_uncommitted_is_known_from_polls_and_commits_under_commit_after(member):
    m = member("after")
    m._after("poll", {"type": "ok", "value": {"0": [[1, 2]]}})
    assert m.window == "uncommitted"
    m._after("commit", {"type": "fail", "value": None})
    assert m.window == "uncommitted"
    m._after("commit", {"type": "ok", "value": None})
    assert m.window is None
