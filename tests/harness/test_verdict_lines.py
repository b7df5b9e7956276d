"""The verdict line of `run` and `check`: the first finding of an invalid or unknown checker,
shortened to whole sentences, never cut in the middle of one (issue 22: Kafka's line ended
"...(send op 482) was")."""

from __future__ import annotations

from harness.cli import FINDING_CHARS, _first_finding, shorten

KAFKA = ("found 37 lost-write, 2 unseen after a final drain (the log ends before their acknowledged "
         "offsets); e.g. value 4817 acknowledged at partition 1 offset 2291 (send op 482) was never "
         "polled although polls reached offset 2513")


def test_a_short_finding_is_printed_whole():
    assert shorten("found 1 lost-write") == "found 1 lost-write"
    assert _first_finding({"valid": False, "error": "two  spaces\nand a newline"}) == \
        ": two spaces and a newline"


def test_kafka_finding_keeps_whole_clauses():
    line = _first_finding({"valid": False, "error": KAFKA})
    assert line == (": found 37 lost-write, 2 unseen after a final drain (the log ends before their "
                    "acknowledged offsets) […]")


def test_what_fits_is_kept_whole_and_the_first_sentence_always():
    text = "First sentence here. Second one, e.g. with 12.5 s in it. " + "Third " * 60
    assert shorten(text) == "First sentence here. Second one, e.g. with 12.5 s in it. […]"
    long_first = "A sentence " + "that goes on " * 30 + "to its end. And another."
    assert shorten(long_first) == long_first.removesuffix(" And another.") + " […]"


def test_no_shortened_finding_ends_mid_sentence():
    for text in (KAFKA, KAFKA + ". " + KAFKA.capitalize(), "x; " * 200, "Word. " * 100):
        whole = " ".join(text.split())
        short = shorten(text)
        assert short.endswith(" […]")
        kept = short.removesuffix(" […]")
        assert whole.startswith(kept)
        rest = whole[len(kept):]
        assert rest.startswith("; ") or kept.endswith(".") and rest[0] == " " and rest[1].isupper()
        assert len(kept) <= FINDING_CHARS


def test_several_failures_say_how_many_more():
    res = {"valid": False, "failures": [{"key": "k1", "expected": "a read of 3"}, {"key": "k2"}]}
    assert _first_finding(res) == ": key 'k1': a read of 3 (+1 more keys)"
    res = {"valid": False, "failures": ["heal of kill: no ok op", "final read ended info"]}
    assert _first_finding(res) == ": heal of kill: no ok op (+1 more)"
