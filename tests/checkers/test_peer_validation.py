"""Porcupine's published histories get the verdicts Porcupine's own test suite asserts.

The peer data sits beside the project clone, in ../shared/peer-data/porcupine (CI places it so).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from checkers.formats import read_history
from checkers.linearizable import LinearizabilityChecker

PEER = Path(__file__).resolve().parents[2] / ".." / "shared" / "peer-data" / "porcupine"
VERDICTS = PEER / "VERDICTS.tsv"

pytestmark = pytest.mark.skipif(not VERDICTS.is_file(),
                                reason=f"peer data not found at {PEER.resolve()}")


def rows() -> list[tuple[str, str, str]]:
    if not VERDICTS.is_file():
        return []
    lines = VERDICTS.read_text().splitlines()[1:]
    return [tuple(line.split("\t")) for line in lines if line.strip()]  # type: ignore[misc]


@pytest.mark.parametrize("path,model,expected", rows(), ids=[r[0] for r in rows()])
def test_peer_verdict(path, model, expected):
    result = LinearizabilityChecker(model, workers=1).check(read_history(PEER / path))
    if expected == "empty":
        assert result["valid"] is True and result["note"] == "no operations"
        return
    assert result["valid"] is (expected == "true"), result["note"]
    if expected == "false":
        assert result["failures"] and all(f["expected"] for f in result["failures"])


@pytest.mark.parametrize("name,expected", [("c01-ok", True), ("c01-bad", False)])
def test_kv_c01_as_one_unpartitioned_object(name, expected):
    history = read_history(PEER / "test_data" / "kv" / f"{name}.txt")
    result = LinearizabilityChecker("kv", split_keys=False, workers=1).check(history)
    assert result["partitions"] == 1
    assert result["valid"] is expected


def test_kv_c50_bad_reports_every_failing_key():
    history = read_history(PEER / "test_data" / "kv" / "c50-bad.txt")
    result = LinearizabilityChecker("kv").check(history)
    assert result["valid"] is False and result["partitions"] == 10
    assert len(result["failures"]) >= 1
    for f in result["failures"]:
        assert f["unplaceable"] and len(f["ops"]) <= 201
        assert set(f["unplaceable"]) <= {op["id"] for op in f["ops"]}
