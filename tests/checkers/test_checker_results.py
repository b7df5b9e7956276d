"""The queue, set and kafka-txn checkers give, key for key and in the same order, the results
recorded before they were split into one function per anomaly kind.

tests/checkers/data/checker_results.json holds, for each checker, the SHA-256 of the JSON result
(keys in the checker's order) of each seeded history of tests/checkers/random_histories.py.
A change meant to alter results rewrites it with
`python -m tests.checkers.test_checker_results` (and says why in its commit).
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any, Callable

import pytest

from checkers.history import History
from checkers.kafka_txn import KafkaTxnChecker
from checkers.queue import QueueChecker
from checkers.set import SetChecker
from tests.checkers.random_histories import kafka_txn_history, queue_history, set_history

RESULTS = Path(__file__).parent / "data" / "checker_results.json"
HISTORIES = 400  # per checker
CASES: dict[str, tuple[Callable[[random.Random], History], Callable[[], Any]]] = {
    "queue": (queue_history, QueueChecker),
    "set": (set_history, SetChecker),
    "kafka-txn": (kafka_txn_history, KafkaTxnChecker),
}


def result_json(name: str, seed: int) -> str:
    generate, checker = CASES[name]
    history = generate(random.Random(f"{name}-{seed}"))
    return json.dumps(checker().check(history), default=repr)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("name", sorted(CASES))
def test_results_are_unchanged(name):
    recorded = json.loads(RESULTS.read_text())[name]
    assert len(recorded) == HISTORIES
    for seed, expected in enumerate(recorded):
        text = result_json(name, seed)
        assert digest(text) == expected, f"{name} history seed {seed} now gives {text}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_histories_reach_every_verdict(name):
    # The recorded results are only worth comparing if the histories exercise the checker.
    verdicts = {json.dumps(json.loads(result_json(name, seed))["valid"])
                for seed in range(HISTORIES)}
    assert verdicts == {"true", "false", '"unknown"'}


def write() -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({name: [digest(result_json(name, seed))
                                          for seed in range(HISTORIES)]
                                   for name in sorted(CASES)}, indent=0) + "\n")


if __name__ == "__main__":
    write()
