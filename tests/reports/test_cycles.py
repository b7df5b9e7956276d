"""The elle checker's cycles in the HTML report: drawn from the checker's own result, every
transaction a node, every edge an arrow with its sentence, hostile text escaped."""

from __future__ import annotations

import html
import re

from checkers.elle import ElleChecker
from checkers.history import Event, History
from reports.cycles import MAX_DRAWN, dependency_cycles
from reports.html import render_html

EVIL = "</script><img src=x onerror=alert(1)>"


def read_skew(key_x="x"):
    rows = [(0, 0, "invoke", [["r", key_x, None], ["r", "y", None]]),
            (1, 1, "invoke", [["append", key_x, 1], ["append", "y", 1]]),
            (2, 1, "ok", [["append", key_x, 1], ["append", "y", 1]]),
            (3, 0, "ok", [["r", key_x, []], ["r", "y", [1]]])]
    return History([Event(i, t * 1_000_000, p, type_, "txn", v)
                    for i, (t, p, type_, v) in enumerate(rows)])


def test_a_g_single_is_drawn_with_its_two_transactions_and_sentences():
    history = read_skew()
    result = ElleChecker().check(history)
    page = render_html(history, {"valid": False, "checkers": {"elle": result}}, None)
    section = page[page.index('<section id="cycles">'):page.index('<section id="timeline">')]
    assert "<strong>G-single</strong>" in section
    assert section.count('<g class="node">') == 2
    assert section.count('<g class="edge rw">') == 1 and section.count('<g class="edge wr">') == 1
    assert html.escape("did not see 1, which T1 appended later", quote=True) in section
    assert re.search(r">T0</text>", section) and re.search(r">T1</text>", section)


def test_hostile_keys_are_escaped():
    history = read_skew(EVIL)
    result = ElleChecker().check(history)
    page = render_html(history, {"valid": False, "checkers": {"elle": result}}, None)
    assert EVIL not in page
    assert "&lt;/script&gt;" in page


def test_no_cycles_no_section_and_many_are_capped():
    assert dependency_cycles({"stats": {"valid": True}}) == ([], [])
    case = ElleChecker().check(read_skew())["anomalies"]["G-single"][0]
    drawings, notes = dependency_cycles({"elle": {"anomalies": {"G-single": [case] * 20}}})
    assert len(drawings) == MAX_DRAWN and "20 cycles" in notes[0]
    page = render_html(read_skew(), {"valid": True, "checkers": {"stats": {"valid": True}}}, None)
    assert '<section id="cycles">' not in page
