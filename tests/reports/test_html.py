"""The HTML report: content from a hand-made run, escaping of hostile values, missing files."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from checkers.history import Event, History, read_jsonl
from reports.html import ReportError, render_html, render_report

EVIL = "</script><img src=x onerror=alert(1)>"


def test_report_shows_verdicts_spec_anomaly_and_nemesis(run_dir: Path):
    out = render_report(run_dir)
    assert out == run_dir / "report.html"
    page = out.read_text(encoding="utf-8")
    # overall and per-checker verdicts
    assert re.search(r'class="verdict invalid">invalid<', page)
    assert re.search(r'<span class="name">linearizable</span>\s*<span class="badge invalid">', page)
    assert re.search(r'<span class="name">stats</span>\s*<span class="badge valid">', page)
    assert re.search(r'<span class="name">custom</span>\s*<span class="badge unknown">', page)
    # the spec and the command to re-run it
    assert "424242" in page and "toykv" in page and "stale-read" in page
    assert f"splitbrain run --from {run_dir / 'test.json'}" in page
    # the anomaly: key, expected sentence, state, linearized order, the unplaceable op
    assert "the register held 2 since the write of 2 completed at 180 ms" in page
    assert "register holds 2" in page
    assert page.count('class="a-op linearized"') == 3
    assert page.count('class="a-op unplaceable"') == 1
    assert page.count('class="a-op other open"') == 1  # the concurrent info write, open-ended
    # the info write that began after them all is in the table only
    assert "1 operation(s) began after every linearized and unplaceable one" in page
    # the checker's count of the ops it left out after the failure point
    assert "12 later operation(s) of this partition began after the failure point" in page
    assert re.search(r'<td class="mono">5</td>\s*<td>—</td>', page)
    assert "<strong>unplaceable</strong>" in page
    assert re.search(r"<td>#1</td>\s*<td>0</td>\s*<td>write</td>", page)
    # the timeline: every op drawn, coloured by outcome, and the nemesis band labelled
    assert page.count('class="op ok"') == 7 + 1  # seven ok client ops plus the final read
    assert page.count('class="op fail"') == 1
    assert page.count('class="op info"') == 1
    assert 'class="band"' in page and ">partition n3</text>" in page
    # stats and progress findings
    stats = page[page.index('<section id="stats">'):]
    # five ok reads (one of them the final read), no failed or unknown ones
    assert re.search(r'<td>read</td><td class="n">5</td><td class="n">0</td>\s*'
                     r'<td class="n">0</td><td class="n">5</td>', stats)
    assert "Final reads: 1 of 1 ok" in page
    assert "heal of partition on n3 (id 7)" in page
    # the custom checker's details, shown generically
    assert "budget ran out" in page and "checked_keys" in page
    assert "a sample warning" in page
    # embedded results are valid JSON
    data = re.search(r'<script type="application/json" id="splitbrain-results">(.*?)</script>',
                     page, re.S).group(1)
    assert json.loads(data)["checkers"]["linearizable"]["valid"] is False
    # self-contained: nothing fetched from elsewhere
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_hostile_values_render_as_text(tmp_path: Path, runs):
    events = runs.sample_events(key=EVIL, node=EVIL, error=EVIL)
    for e in events:
        if e["f"] == "write" and e["process"] == 0:
            e["value"] = EVIL
    failure = runs.lin_failure(key=EVIL, node=EVIL, text=EVIL)
    run = runs.write_run(tmp_path / "run", events, failure, runs.spec(system=EVIL, bugs=[EVIL]),
                    {"valid": False, EVIL: EVIL, "error": EVIL, "nested": {"x": [EVIL]}})
    page = render_report(run).read_text(encoding="utf-8")
    assert "<img src=x" not in page
    assert "onerror=alert(1)>" not in page
    assert html.escape(EVIL, quote=False) in page or html.escape(EVIL) in page
    # the escaped form appears in text (expected sentence, key, error, node, custom details)
    assert page.count("&lt;img src=x onerror=alert(1)&gt;") >= 5
    # the only </script> is the one closing the embedded results
    assert page.count("</script>") == 1
    data = re.search(r'id="splitbrain-results">(.*?)</script>', page, re.S).group(1)
    assert "\\u003c/script\\u003e" in data
    assert json.loads(data)["checkers"]["custom"]["error"] == EVIL


def test_renders_without_test_json(tmp_path: Path, runs):
    run = runs.write_run(tmp_path / "run", runs.sample_events(), runs.lin_failure(), spec=None)
    page = render_report(run).read_text(encoding="utf-8")
    assert "No test.json" in page
    assert "splitbrain run --from" not in page
    assert 'class="verdict invalid"' in page


def test_renders_a_bare_history_without_results(tmp_path: Path, runs):
    run = tmp_path / "bare"
    run.mkdir()
    with open(run / "history.jsonl", "w") as fh:
        for e in runs.sample_events():
            fh.write(json.dumps(e) + "\n")
    page = render_report(run).read_text(encoding="utf-8")
    assert 'class="verdict unknown"' in page
    assert "results.json is missing" in page
    assert "computed from the history for this report" in page  # stats still shown


def test_render_html_directly_and_empty_history():
    page = render_html(History([]), {"valid": True, "checkers": {}}, None)
    assert 'class="verdict valid"' in page
    assert "No client operations in the history." in page


def test_big_history_is_binned_and_says_so(tmp_path: Path):
    events, i = [], 0
    for n in range(20_000):
        p, t = n % 10, n * 100_000
        events.append({"index": i, "time": t, "process": p, "type": "invoke", "f": "read",
                       "value": None})
        events.append({"index": i + 1, "time": t + 50_000, "process": p,
                       "type": "ok" if n % 97 else "fail", "f": "read", "value": n})
        i += 2
    history = History([Event.from_dict(e) for e in events])
    page = render_html(history, {"valid": True, "checkers": {}}, None)
    assert "too many to draw one by one" in page
    assert page.count('<g class="bin">') <= 10 * 260
    assert page.count('class="op fail closed"') > 50  # one op in 97 failed: rare, still drawn
    assert "p0</text>" in page and "p9</text>" in page
    assert len(page) < 2_000_000


def test_unreadable_run_dir_gives_one_line_errors(tmp_path: Path, runs):
    with pytest.raises(ReportError, match="not a directory"):
        render_report(tmp_path / "nope")
    run = runs.write_run(tmp_path / "run", runs.sample_events(), runs.lin_failure(), runs.spec())
    (run / "results.json").write_text("{oops")
    with pytest.raises(ReportError, match=r"results\.json: not valid JSON"):
        render_report(run)


def test_history_read_back_matches_report_counts(run_dir: Path):
    history = read_jsonl(run_dir / "history.jsonl")
    page = render_report(run_dir).read_text()
    ops = history.operations()
    assert f"{len(ops)} operations" in page
