"""The delivery checker's evidence in the HTML report: partition logs drawn around the findings
from the checker's own result (offsets, senders, polls per group, gaps, marks), the unseen count
over time, hostile values escaped."""

from __future__ import annotations

import html
import re

from checkers.delivery import DeliveryChecker
from reports.delivery import delivery_evidence, draw_window
from reports.html import render_html
from tests.checkers.kafka_histories import Kafka

EVIL = "</script><img src=x onerror=alert(1)>"


def lossy(value=2) -> Kafka:
    """Messages at offsets 0, 1, 3 (offset 2 is a gap), group g processes 0 and 3 but never 1,
    and processes 3 twice."""
    h = Kafka()
    h.send(0, 1, offset=0).send(0, value, offset=1).send(0, 3, offset=3)
    who = {"group": "g", "member": "c1", "process": 1}
    h.subscribe([0], commit="after", **who)
    h.poll({0: [(0, 1), (3, 3)]}, extra={"rebalance_log": [{"assigned": [0]}]}, **who)
    h.poll({0: [(3, 3)]}, **who)
    return h


def page_of(h: Kafka, tmp_path) -> tuple[str, dict]:
    history = h.history(tmp_path, "jsonl")
    result = DeliveryChecker().check(history)
    page = render_html(history, {"valid": result["valid"], "checkers": {"delivery": result}},
                       None)
    return page, result


def test_the_log_around_a_lost_message_is_drawn(tmp_path):
    page, result = page_of(lossy(), tmp_path)
    assert result["valid"] is False
    section = page[page.index('<section id="delivery">'):page.index('<section id="timeline">')]
    assert "<strong>partition 0</strong>" in section
    window = result["windows"][0]
    assert window["partition"] == 0 and window["from"] == 0
    cells = {c["offset"]: c for c in window["cells"]}
    assert cells[2]["values"] == [] and cells[1]["polled_by"] == []  # a gap; never polled
    assert "lost-write" in cells[1]["findings"] and "lost-message (g)" in cells[1]["findings"]
    assert [p["group"] for p in cells[3]["polled_by"]] == ["g", "g"]
    assert section.count('<g class="gap">') >= 1
    assert section.count('<g class="again">') == 1  # offset 3, polled twice by g
    assert 'class="sent-ok"' in section
    assert re.search(r"<title>offset 1: [^<]*lost-write[^<]*</title>", section)
    assert ">group g</text>" in section
    assert 'class="logwin unseen"' in section  # the unseen count rose and stayed above zero


def test_hostile_values_are_escaped(tmp_path):
    page, result = page_of(lossy(EVIL), tmp_path)
    assert EVIL not in page
    assert "&lt;/script&gt;" in page


def test_a_valid_run_shows_only_the_unseen_count(tmp_path):
    assert delivery_evidence({"stats": {"valid": True}}) == ([], [])
    h = Kafka().send(0, 1, offset=0).poll({0: [(0, 1)]}, process=1)
    page, result = page_of(h, tmp_path)
    assert result["valid"] is True and result["windows"] == []
    section = page[page.index('<section id="delivery">'):page.index('<section id="timeline">')]
    assert 'class="logwin unseen"' in section and "0 at the end" in section
    assert '<div class="logwin">' not in section
    page = render_html(h.history(tmp_path, "jsonl"), {"valid": True, "checkers": {}}, None)
    assert '<section id="delivery">' not in page


def test_many_pollers_are_folded_into_others():
    cell = {"offset": 0, "values": [1], "sent_by": [], "findings": [],
            "polled_by": [{"op": f"poll #{i}", "process": i, "group": None, "type": "ok"}
                          for i in range(10)]}
    w = draw_window("delivery", {"partition": 0, "from": 0, "to": 0, "cells": [cell]})
    assert [label for _y, label in w.labels][-2] == "others"
    assert len(w.labels) == 2 + 6 + 1 + 1
