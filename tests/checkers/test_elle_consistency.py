"""The consistency-model lattice: which anomalies each model rules out, and which models a set
of anomalies rules out (checkers/elle/consistency.py)."""

from __future__ import annotations

import pytest

from checkers.elle import consistency as c


def test_every_model_rules_out_what_the_weaker_ones_do():
    for model, weaker in c.STRONGER_THAN.items():
        for w in weaker:
            assert c.proscribed(w) <= c.proscribed(model), (model, w)


def test_the_chain_from_read_uncommitted_to_strict_serializable():
    chain = ["read-uncommitted", "read-committed", "repeatable-read", "serializable",
             "strict-serializable"]
    for weaker, stronger in zip(chain, chain[1:]):
        assert c.proscribed(weaker) <= c.proscribed(stronger)
    # strict except between repeatable read and serializable: without predicate reads Adya's
    # PL-2.99 and PL-3 rule out the same cycles
    assert c.proscribed("repeatable-read") == c.proscribed("serializable")
    assert c.proscribed("read-committed") < c.proscribed("repeatable-read")


@pytest.mark.parametrize("anomaly,weakest", [
    ("G0", ["read-uncommitted"]),
    ("G1a", ["read-committed"]),
    ("G1c", ["read-committed"]),
    ("G-single", ["repeatable-read", "snapshot-isolation"]),
    ("G2-item", ["repeatable-read"]),
    ("lost-update", ["cursor-stability", "snapshot-isolation"]),
    ("internal", ["read-atomic"]),
    ("G2-item-process", ["strong-session-serializable"]),
    ("G-single-realtime", ["strong-snapshot-isolation"]),
    ("G2-item-realtime", ["strict-serializable"]),
    ("G0-realtime", ["strong-read-uncommitted"]),
    ("duplicate-elements", ["read-uncommitted"]),
])
def test_weakest_model_ruled_out(anomaly, weakest):
    assert c.boundary([anomaly])["not"] == weakest


def test_snapshot_isolation_allows_write_skew_but_not_g_single():
    si = c.proscribed("snapshot-isolation")
    assert "G2-item" not in si and "G-single" in si and "G-nonadjacent" in si
    assert "G2-item" in c.proscribed("repeatable-read")
    assert "G-single-realtime" not in c.proscribed("serializable")


def test_variants_are_implied_by_the_plain_cycles():
    assert {"G0-process", "G0-realtime", "G1c", "G1c-realtime"} <= c.implied_anomalies(["G0"])
    assert "G2-item" in c.implied_anomalies(["G-single"])
    assert "G-single" not in c.implied_anomalies(["G2-item"])


def test_all_others_ruled_out_include_the_stronger_models():
    b = c.boundary(["G1c"])
    assert b["not"] == ["read-committed"]
    assert "strict-serializable" in b["also_not"] and "read-uncommitted" not in b["also_not"]
    assert c.boundary([]) == {"not": [], "also_not": []}


def test_names_and_aliases():
    assert c.canonical("PL-3") == "serializable"
    with pytest.raises(c.UnknownModel):
        c.canonical("causal")
