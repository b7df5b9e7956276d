"""Hand-made run directories for the report tests: a history with a partition and a
linearizability failure, results from the real stats and progress checkers, and a spec."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from checkers.history import read_jsonl
from checkers.progress import ProgressChecker
from checkers.stats import StatsChecker

MS = 1_000_000


def event(index: int, t_ms: float, process: Any, type_: str, f: str, value: Any = None,
          **extra: Any) -> dict[str, Any]:
    return {"index": index, "time": int(t_ms * MS), "process": process, "type": type_, "f": f,
            "value": value, **extra}


def sample_events(key: Any = "x", node: str = "n1", error: str = "timeout") -> list[dict]:
    """Three processes on one register; a partition of n3 from 1000 to 3000 ms. Process 1's read
    of 1 after process 2 wrote 2 is the anomaly."""
    rows = [
        (0, 0, "invoke", "write", 1), (40, 0, "ok", "write", 1),
        (50, 1, "invoke", "read", None), (90, 1, "ok", "read", 1),
        (100, 2, "invoke", "write", 2), (180, 2, "ok", "write", 2),
        (200, 1, "invoke", "read", None), (260, 1, "ok", "read", 1),
        (300, 0, "invoke", "cas", [2, 3]), (350, 0, "fail", "cas", [2, 3]),
        (1100, 2, "invoke", "write", 4), (1500, 2, "info", "write", 4),
        (1600, 0, "invoke", "read", None), (1700, 0, "ok", "read", 4),
        (3300, 1, "invoke", "read", None), (3400, 1, "ok", "read", 4),
        (3500, 0, "invoke", "cas", [4, 5]), (3560, 0, "ok", "cas", [4, 5]),
    ]
    events = []
    for t, p, ty, f, v in rows:
        extra: dict[str, Any] = {"key": key, "node": node}
        if ty in ("fail", "info"):
            extra["error"] = error
        events.append(event(0, t, p, ty, f, v, **extra))
    part = {"fault": "partition", "targets": ["n3"], "id": 7}
    healed = dict(part, recovery={"healthy": True, "leader": "n1", "seconds": 0.2})
    events += [event(0, 1000, "nemesis", "invoke", "start-partition", part),
               event(0, 1010, "nemesis", "info", "start-partition", part),
               event(0, 3000, "nemesis", "invoke", "stop-partition", part),
               event(0, 3200, "nemesis", "info", "stop-partition", healed)]
    events += [event(0, 3700, 3, "invoke", "read", None, key=key, phase="final"),
               event(0, 3750, 3, "ok", "read", 5, key=key, phase="final")]
    events.sort(key=lambda e: e["time"])
    for i, e in enumerate(events):
        e["index"] = i
    return events


def lin_failure(key: Any = "x", node: str = "n1", text: str = "") -> dict[str, Any]:
    def op(i, p, f, iv, v, ty, s, e):
        return {"id": i, "process": p, "f": f, "key": key, "invoke_value": iv, "value": v,
                "type": ty, "start": s * MS, "end": None if e is None else e * MS, "node": node,
                "invoke_index": i * 2, "complete_index": i * 2 + 1,
                "description": f"{f} {iv} -> {v} {text}".strip()}
    return {
        "key": key,
        "linearized": [0, 1, 2],
        "state": 2,
        "state_description": f"register holds 2 {text}".strip(),
        "unplaceable": [3],
        "expected": f"process 1 read 1 at 200-260 ms, but the register held 2 since the write "
                    f"of 2 completed at 180 ms {text}".strip(),
        "ops": [op(0, 0, "write", 1, 1, "ok", 0, 40), op(1, 1, "read", None, 1, "ok", 50, 90),
                op(2, 2, "write", 2, 2, "ok", 100, 180), op(3, 1, "read", None, 1, "ok", 200, 260),
                op(4, 0, "write", 3, 3, "info", 150, None),
                op(5, 2, "write", 4, 4, "info", 1100, None)],
        "later_ops": 12,
    }


def write_run(run_dir: Path, events: list[dict], failure: dict, spec: dict | None,
              extra_checker: dict | None = None) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "history.jsonl", "w", encoding="utf-8") as fh:
        for e in events:
            fh.write(json.dumps(e) + "\n")
    history = read_jsonl(run_dir / "history.jsonl")
    checkers = {"linearizable": {"valid": False, "model": "cas-register", "failures": [failure]},
                "stats": StatsChecker().check(history),
                "progress": ProgressChecker(bound_s=10).check(history)}
    if extra_checker is not None:
        checkers["custom"] = extra_checker
    results = {"valid": False, "checkers": checkers, "stats": {}, "warnings": ["a sample warning"]}
    (run_dir / "results.json").write_text(json.dumps(results), encoding="utf-8")
    if spec is not None:
        (run_dir / "test.json").write_text(json.dumps(spec), encoding="utf-8")
    return run_dir


SPEC = {"system": "toykv", "workload": "register", "nemesis": "partition",
        "nodes": ["n1", "n2", "n3"], "concurrency": 3, "time_limit": 4, "rate": 50, "seed": 424242,
        "bugs": ["stale-read"], "checkers": [{"name": "linearizable", "model": "cas-register"},
                                              {"name": "stats"}, {"name": "progress"}],
        "schedule": [{"at": 1.0, "fault": "partition", "targets": ["n3"], "for": 2.0}],
        "started_at": "2024-05-01T12:00:00Z"}


@pytest.fixture
def runs() -> SimpleNamespace:
    """The helpers above, for test modules (pytest imports them with importlib, so they cannot
    import this conftest by name)."""
    return SimpleNamespace(sample_events=sample_events, lin_failure=lin_failure,
                           write_run=write_run, spec=lambda **changes: dict(SPEC, **changes))


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return write_run(tmp_path / "run", sample_events(), lin_failure(), dict(SPEC),
                     {"valid": "unknown", "checked_keys": 3, "reason": "budget ran out"})
