"""A ledger's owner is alive only while the very process that wrote it runs, whichever way its
start time was recorded (psutil's epoch seconds now, clock ticks since boot before)."""

import os
import subprocess
import sys

from systems.control import ledger


def _ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def test_a_running_owner_is_alive_in_both_formats():
    me = os.getpid()
    assert ledger.same_process_alive(me, ledger.start_time(me))
    assert ledger.same_process_alive(me, _ticks(me))  # a ledger from before psutil
    assert ledger.same_process_alive(me, None)


def test_a_reused_pid_or_a_gone_process_is_not_the_owner():
    me = os.getpid()
    assert not ledger.same_process_alive(me, ledger.start_time(me) - 60)
    assert not ledger.same_process_alive(me, _ticks(me) - 6000)
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    start = ledger.start_time(p.pid)
    p.wait()
    assert not ledger.same_process_alive(p.pid, start)
