"""The stats checker on hand-made histories: counts, throughput, latency, never-succeeding ops."""

from __future__ import annotations

from checkers.history import Event, History
from checkers.stats import StatsChecker, percentile

MS = 1_000_000


def history(*rows: tuple) -> History:
    """Events from (time_ms, process, type, f, value) rows, indexed in order."""
    events = [Event(i, int(t * MS), p, ty, f, v) for i, (t, p, ty, f, v) in enumerate(rows)]
    return History(events)


def test_counts_latency_and_throughput():
    h = history(
        (0, 0, "invoke", "write", 1), (10, 0, "ok", "write", 1),
        (0, 1, "invoke", "read", None), (30, 1, "ok", "read", 1),
        (40, 1, "invoke", "read", None), (41, 1, "fail", "read", None),
        (50, 0, "invoke", "write", 2), (60, 0, "info", "write", 2),
        (100, "nemesis", "invoke", "start-kill", {"fault": "kill"}),
        (120, "nemesis", "info", "start-kill", {"fault": "kill"}),
        (200, 2, "invoke", "read", None), (1000, 2, "ok", "read", 2),
    )
    r = StatsChecker().check(h)
    assert r["valid"] is True
    assert r["counts"] == {"read": {"ok": 2, "fail": 1, "info": 0, "total": 3},
                           "write": {"ok": 1, "fail": 0, "info": 1, "total": 2}}
    assert r["totals"] == {"ok": 3, "fail": 1, "info": 1, "total": 5}
    assert "start-kill" not in r["counts"]  # nemesis events are not operations
    # client events span 0..1000 ms: 3 ok operations in one second
    assert r["duration_s"] == 1.0
    assert r["throughput"] == 3.0
    # read latencies 30, 1 (the fail counts) and 800 ms; the info write has no latency
    assert r["latency_ms"]["read"]["count"] == 3
    assert r["latency_ms"]["read"]["p50"] == 30.0
    assert r["latency_ms"]["read"]["max"] == 800.0
    assert r["latency_ms"]["write"]["count"] == 1
    assert r["latency_ms"]["write"]["p99"] == 10.0
    assert r["latency_ms"]["all"]["count"] == 4
    assert r["never_succeeded"] == []


def test_an_f_that_never_succeeded_is_invalid_and_named():
    h = history(
        (0, 0, "invoke", "read", None), (5, 0, "ok", "read", None),
        (10, 1, "invoke", "cas", [1, 2]), (20, 1, "fail", "cas", [1, 2]),
        (30, 1, "invoke", "cas", [1, 2]), (40, 1, "info", "cas", [1, 2]),
    )
    r = StatsChecker().check(h)
    assert r["valid"] is False
    assert r["never_succeeded"] == ["cas"]
    assert "'cas'" in r["error"]


def test_open_invocation_counts_as_info():
    h = history((0, 0, "invoke", "read", None), (5, 0, "ok", "read", 3),
                (6, 0, "invoke", "read", None))
    r = StatsChecker().check(h)
    assert r["counts"]["read"] == {"ok": 1, "fail": 0, "info": 1, "total": 2}
    assert r["latency_ms"]["read"]["count"] == 1


def test_empty_history_is_valid_with_a_note():
    r = StatsChecker().check(History([]))
    assert r["valid"] is True
    assert "no client operations" in r["note"]
    only_nemesis = history((0, "nemesis", "invoke", "start-pause", {}),
                           (1, "nemesis", "info", "start-pause", {}))
    assert StatsChecker().check(only_nemesis)["valid"] is True


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
