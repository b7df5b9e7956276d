"""The vip checker: stretches with two or more VIP holders beyond the grace are split brain."""

import pytest

from checkers.history import Event, History
from checkers.registry import build_checker
from checkers.vip import VipChecker

MS = 1_000_000


def samples(holders_per_sample, every_ms=100, took_ms=5, outcomes=None):
    """One sample per entry, every `every_ms`, each taking `took_ms`."""
    events = []
    for i, holders in enumerate(holders_per_sample):
        t = i * every_ms
        outcome = outcomes[i] if outcomes else "ok"
        events.append(Event(len(events), t * MS, 0, "invoke", "sample", None))
        events.append(Event(len(events), (t + took_ms) * MS, 0, outcome, "sample",
                            holders if outcome == "ok" else None))
    return History(events)


def test_one_holder_throughout_is_valid():
    r = VipChecker().check(samples([["n1"]] * 30 + [["n2"]] * 30))
    assert r["valid"] is True
    assert r["split_brain"] == [] and r["within_grace_count"] == 0
    assert r["samples"] == {"ok": 60, "not_ok": 0}


def test_two_holders_longer_than_the_grace_is_split_brain():
    # Samples 10..39 (3 s) show both n1 and n2 holding the address.
    r = VipChecker(grace_s=2).check(samples([["n1"]] * 10 + [["n1", "n2"]] * 30 + [["n2"]] * 10))
    assert r["valid"] is False and r["split_brain_count"] == 1
    s = r["split_brain"][0]
    assert s["nodes"] == ["n1", "n2"] and s["samples"] == 30
    assert s["first_op"] == 10 and s["last_op"] == 39
    assert s["from_s"] == 1.005 and s["to_s"] == 3.9
    assert s["at_least_s"] == 2.895  # 3.900 - 1.005
    assert s["at_most_s"] == 3.105  # 4.005 (next single-holder sample ends) - 0.900
    assert "n1, n2" in r["error"]


def test_brief_overlap_within_the_grace_is_counted_but_valid():
    r = VipChecker(grace_s=2).check(samples([["n1"]] * 10 + [["n1", "n2"]] * 3 + [["n2"]] * 10))
    assert r["valid"] is True
    assert r["within_grace_count"] == 1 and r["within_grace"][0]["at_least_s"] == 0.195


def test_grace_is_a_parameter():
    h = samples([["n1"]] * 10 + [["n1", "n2"]] * 10 + [["n2"]] * 10)
    assert VipChecker(grace_s=2).check(h)["valid"] is True
    assert VipChecker(grace_s=0.5).check(h)["valid"] is False
    assert build_checker({"name": "vip", "grace_s": 0.5}).check(h)["valid"] is False


def test_holder_sets_within_a_stretch_are_listed_in_order():
    r = VipChecker(grace_s=0.1).check(samples(
        [["n1"]] + [["n1", "n2"]] * 5 + [["n1", "n2", "n3"]] * 5 + [["n3"]]))
    s = r["split_brain"][0]
    assert s["nodes"] == ["n1", "n2", "n3"]
    assert [(h["nodes"], h["samples"]) for h in s["holder_sets"]] == [
        (["n1", "n2"], 5), (["n1", "n2", "n3"], 5)]


def test_split_brain_to_the_end_of_the_history_has_no_upper_bound():
    r = VipChecker().check(samples([["n1"]] * 5 + [["n1", "n2"]] * 40))
    assert r["valid"] is False and r["split_brain"][0]["at_most_s"] is None


def test_failed_samples_are_skipped():
    holders = [["n1"]] * 5 + [["n1", "n2"]] * 30 + [["n1"]] * 5
    outcomes = ["ok"] * 5 + ["info" if i % 2 else "ok" for i in range(30)] + ["ok"] * 5
    r = VipChecker().check(samples(holders, outcomes=outcomes))
    assert r["valid"] is False
    assert r["samples"]["not_ok"] == 15 and r["split_brain"][0]["samples"] == 15


def test_no_holder_for_long_is_listed_but_not_a_split_brain():
    r = VipChecker().check(samples([["n1"]] * 5 + [[]] * 40 + [["n2"]] * 5))
    assert r["valid"] is True and len(r["no_holder"]) == 1


def test_no_samples_is_unknown():
    assert VipChecker().check(History([]))["valid"] == "unknown"
    assert VipChecker().check(samples([["n1"]] * 3, outcomes=["fail"] * 3))["valid"] == "unknown"


@pytest.mark.parametrize("bad", [-1, "2", float("nan"), True])
def test_bad_grace_is_refused(bad):
    with pytest.raises(ValueError, match="grace_s"):
        VipChecker(grace_s=bad)
