"""Report pages with linearizability anomalies are byte for byte the pages recorded before
reports/anomaly.py was split into one function per part of the drawing.

tests/reports/data/anomaly_pages.json holds the SHA-256 of each rendered page: Porcupine's etcd
histories that are not linearizable (peer data, when present beside the clone) with the
linearizable checker's real failures, and seeded random failures (many ops, open-ended ones,
later ops, odd values) drawn on a small history. A change meant to alter the pages rewrites it
with `python -m tests.reports.test_anomaly_results` (and says why in its commit).
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest

from checkers.formats import read_history
from checkers.history import Event, History
from checkers.linearizable import LinearizabilityChecker
from reports.html import render_html

PAGES = Path(__file__).parent / "data" / "anomaly_pages.json"
PEER = Path(__file__).resolve().parents[2] / ".." / "shared" / "peer-data" / "porcupine"
RANDOM_PAGES = 150
PEER_PAGES = 25  # the first non-linearizable etcd histories, in file order


def peer_files() -> list[str]:
    verdicts = PEER / "VERDICTS.tsv"
    if not verdicts.is_file():
        return []
    rows = [line.split("\t") for line in verdicts.read_text().splitlines()[1:] if line.strip()]
    return [r[0] for r in rows if r[1] == "cas-register" and r[2] == "false"][:PEER_PAGES]


def peer_page(path: str) -> str:
    history = read_history(PEER / path)
    result = LinearizabilityChecker("cas-register", workers=1).check(history)
    result["elapsed_s"] = 0.0  # the one figure that differs from run to run
    page = render_html(history, {"valid": result["valid"], "checkers": {"linearizable": result}},
                       {"system": "etcd", "workload": "register"})
    return page.replace(str(PEER / path), f"peer-data/{path}")  # the same page in any clone


def random_failure(rng: random.Random) -> dict[str, Any]:
    ms = 1_000_000
    count = rng.choice([1, 3, 8, 20, 60, 230])
    ops = []
    for i in range(count):
        start = rng.randrange(0, 2_000) * ms
        end = None if rng.random() < 0.15 else start + rng.randrange(1, 400) * ms
        f = rng.choice(["read", "write", "cas"])
        iv = rng.choice([None, rng.randrange(9), [1, 2], "x" * rng.randrange(1, 40)])
        op = {"id": rng.choice([i, str(i)]) if rng.random() < 0.1 else i,
              "process": rng.choice([0, 1, 2, 3, "p9", 11]), "f": f, "invoke_value": iv,
              "value": rng.choice([iv, rng.randrange(9), None]),
              "type": "info" if end is None else rng.choice(["ok", "ok", "fail"]),
              "start": start, "end": end, "node": rng.choice(["n1", None]),
              "description": rng.choice(["", f"{f} of {iv}", "<b>&amp;</b>"])}
        if rng.random() < 0.02:
            op["start"] = rng.choice([None, "soon", float("inf")])
        ops.append(op)
    ids = [op["id"] for op in ops]
    linearized = rng.sample(ids, k=rng.randrange(0, min(len(ids), 12) + 1))
    failure: dict[str, Any] = {
        "key": rng.choice(["x", 3, None]), "ops": ops, "linearized": linearized,
        "unplaceable": rng.sample(ids, k=min(len(ids), rng.randrange(1, 3))),
        "state": rng.choice([2, [1, 2], {"v": 1}, "s" * 300]),
        "state_description": rng.choice(["", "register holds 2"]),
        "expected": rng.choice(["", "the read of 1 came after the write of 2"])}
    if rng.random() < 0.5:
        failure["later_ops"] = rng.choice([0, 1, 12, "many"])
    if rng.random() < 0.05:
        failure["ops"].append("not an op")
    return failure


def random_page(seed: int) -> str:
    rng = random.Random(f"anomaly-{seed}")
    failures = [random_failure(rng) for _ in range(rng.choice([1, 1, 2]))]
    history = History([Event(0, 0, 0, "invoke", "read", None, "x"),
                       Event(1, 5_000_000, 0, "ok", "read", 1, "x")])
    result = {"valid": False, "failures": failures}
    return render_html(history, {"valid": False, "checkers": {"linearizable": result}}, None)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_random_anomaly_pages_are_unchanged():
    recorded = json.loads(PAGES.read_text())["random"]
    assert len(recorded) == RANDOM_PAGES
    for seed, expected in enumerate(recorded):
        assert digest(random_page(seed)) == expected, f"random anomaly page seed {seed} changed"


@pytest.mark.skipif(not peer_files(), reason=f"peer data not found at {PEER.resolve()}")
def test_peer_anomaly_pages_are_unchanged():
    recorded = json.loads(PAGES.read_text())["peer"]
    assert sorted(recorded) == sorted(peer_files())
    for path in peer_files():
        page = peer_page(path)
        assert 'class="a-op unplaceable"' in page, path
        assert digest(page) == recorded[path], f"the report page of {path} changed"


def write() -> None:
    PAGES.parent.mkdir(exist_ok=True)
    PAGES.write_text(json.dumps({"random": [digest(random_page(s)) for s in range(RANDOM_PAGES)],
                                 "peer": {p: digest(peer_page(p)) for p in peer_files()}},
                                indent=0) + "\n")


if __name__ == "__main__":
    write()
