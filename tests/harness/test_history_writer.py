"""The history writer: one flushed line per event, readable while the writer is alive or dead."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

from checkers.history import read_jsonl
from harness.history import HistoryWriter


def test_events_are_on_disk_as_soon_as_written(tmp_path):
    w = HistoryWriter(tmp_path / "h.jsonl")
    w.append(0, "invoke", "write", 3, key="k1", node="n1")
    # Read through another descriptor while the writer is still open: nothing is buffered.
    lines = (tmp_path / "h.jsonl").read_text().splitlines()
    assert json.loads(lines[0]) == {"index": 0, "time": json.loads(lines[0])["time"], "process": 0,
                                    "type": "invoke", "f": "write", "value": 3, "key": "k1",
                                    "node": "n1"}
    w.append(0, "ok", "write", 3, key="k1", node="n1")
    h = read_jsonl(tmp_path / "h.jsonl")
    assert [e.type for e in h.events] == ["invoke", "ok"]
    assert h.events[0].time <= h.events[1].time
    w.close()


def test_index_and_time_agree_under_concurrency(tmp_path):
    w = HistoryWriter(tmp_path / "h.jsonl")

    def spam(p):
        for i in range(500):
            w.append(p, "invoke", "read", None, key=f"k{i}")

    threads = [threading.Thread(target=spam, args=(p,)) for p in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    w.close()
    events = read_jsonl(tmp_path / "h.jsonl").events
    assert [e.index for e in events] == list(range(4000))
    times = [e.time for e in events]
    assert times == sorted(times)


def test_sigkilled_writer_leaves_every_event(tmp_path):
    path = tmp_path / "h.jsonl"
    script = textwrap.dedent(f"""
        import sys, time
        from harness.history import HistoryWriter
        w = HistoryWriter({str(path)!r})
        i = 0
        while True:
            w.append(i % 4, "invoke", "write", i, key="k")
            print(i, flush=True)
            i += 1
            time.sleep(0.001)
    """)
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                         cwd=os.getcwd())
    try:
        last = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            last = int(p.stdout.readline())
            if last >= 200:
                break
        os.kill(p.pid, signal.SIGKILL)
    finally:
        p.kill()
        p.wait()
    h = read_jsonl(path)
    # Every event the child reported as written is on disk.
    assert len(h.events) >= last + 1
    assert [e.value for e in h.events[: last + 1]] == list(range(last + 1))


def test_torn_last_line_is_skipped_with_a_warning(tmp_path):
    path = tmp_path / "h.jsonl"
    w = HistoryWriter(path)
    w.append(0, "invoke", "read", None, key="k")
    w.close()
    with open(path, "a") as fh:
        fh.write('{"index": 1, "time": 5, "proc')
    h = read_jsonl(path)
    assert len(h.events) == 1
    assert any("torn" in x for x in h.warnings)
    ops = h.operations()
    assert ops[0].type == "info"  # an invoke with no completion reads as info
