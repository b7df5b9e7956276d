"""The HTML report: one self-contained page (inline CSS and SVG, no scripts fetched) for a run.

`render_report(run_dir)` reads a run directory (test.json if present, history.jsonl,
results.json) and writes run_dir/report.html; `render_html(history, results, spec)` is the pure
part. The page shows the verdict of the run and of each checker, the spec and the command that
re-runs it, counts and latency, every linearizability anomaly drawn op by op, the timeline of all
operations with nemesis faults shaded, and progress findings. Any other checker's details appear
as a generic key/value table, so a new checker shows up without a template change.

Everything from the history or the results is untrusted text: the jinja2 environment autoescapes
every template, and the JSON embedded in <script> goes through |tojson (which escapes <, >, &, ').
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from checkers.history import History, HistoryError, read_jsonl
from checkers.stats import StatsChecker
from reports.anomaly import Anomaly, build_anomaly, looks_like_failure
from reports.cycles import dependency_cycles
from reports.delivery import delivery_evidence
from reports.timeline import build_timeline, nemesis_intervals, short

TEMPLATES = Path(__file__).parent / "templates"
MAX_ANOMALIES = 10
MAX_DETAIL_CHARS = 20_000
SPEC_FIELDS = (("system", "System"), ("workload", "Workload"), ("nemesis", "Nemesis"),
               ("nodes", "Nodes"), ("concurrency", "Concurrency"), ("time_limit", "Time limit (s)"),
               ("rate", "Rate (ops/s)"), ("seed", "Seed"), ("bugs", "Bugs injected"),
               ("checkers", "Checkers"), ("started_at", "Started at"))


class ReportError(Exception):
    """A run directory that cannot be turned into a report; the message says which file and why."""


_environment: jinja2.Environment | None = None


def environment() -> jinja2.Environment:
    """The jinja2 environment, autoescaping every template whatever its file name."""
    global _environment
    if _environment is None:
        _environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATES)),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        _environment.filters["short"] = short
        _environment.filters["num"] = _number
        # results built in memory may hold sets or paths; |tojson must not fail on them
        _environment.policies["json.dumps_kwargs"] = {"sort_keys": True, "default": str}
    return _environment


def render_report(run_dir: Path) -> Path:
    """Write run_dir/report.html from the files in run_dir and return its path."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir} is not a directory")
    spec = _read_json(run_dir / "test.json") if (run_dir / "test.json").exists() else None
    history_path = run_dir / "history.jsonl"
    extra_warnings: list[str] = []
    if history_path.exists():
        try:
            history = read_jsonl(history_path)
        except HistoryError as err:
            raise ReportError(str(err)) from None
    else:
        history = History([])
        extra_warnings.append(f"{history_path} is missing: the report has no operations to show")
    results_path = run_dir / "results.json"
    if results_path.exists():
        results = _read_json(results_path)
    else:
        results = {"valid": "unknown", "checkers": {}}
        extra_warnings.append(f"{results_path} is missing: no checker has judged this history "
                              f"(run `splitbrain check` on it)")
    if not isinstance(results, dict):
        raise ReportError(f"{results_path}: expected a JSON object")
    if extra_warnings:
        results = dict(results, warnings=list(results.get("warnings") or []) + extra_warnings)
    html = render_html(history, results, spec if isinstance(spec, dict) else None,
                       run_dir=run_dir)
    out = run_dir / "report.html"
    out.write_text(html, encoding="utf-8")
    return out


def render_html(history: History, results: dict, spec: dict | None, *,
                run_dir: Path | None = None) -> str:
    """The report page as a string; `run_dir` only fills in the re-run command."""
    checkers = results.get("checkers") if isinstance(results.get("checkers"), dict) else {}
    ops = history.operations()
    run_end = max((e.time for e in history.events), default=0)
    timeline = build_timeline(ops, nemesis_intervals(history.nemesis_events()), run_end)

    stats, stats_source = _stats(checkers, results, history)
    anomalies, anomaly_notes = _anomalies(checkers)
    cycles, cycle_notes = dependency_cycles(checkers)
    log_windows, unseen_charts = delivery_evidence(checkers)
    title_bits = [str(spec.get(k)) for k in ("system", "workload", "nemesis")
                  if spec and spec.get(k)] if spec else []
    context = {
        "title": " · ".join(title_bits) if title_bits else (history.source or "history"),
        "verdict": _verdict(results.get("valid", "unknown")),
        "checkers": [_checker_card(name, result) for name, result in checkers.items()],
        "spec_rows": _spec_rows(spec),
        "schedule": _pretty(spec.get("schedule")) if spec and spec.get("schedule") else None,
        "rerun": _rerun_command(spec, run_dir),
        "stats": stats,
        "stats_source": stats_source,
        "progress": checkers.get("progress") if isinstance(checkers.get("progress"), dict) else None,
        "anomalies": anomalies,
        "anomaly_notes": anomaly_notes,
        "cycles": cycles,
        "cycle_notes": cycle_notes,
        "log_windows": log_windows,
        "unseen_charts": unseen_charts,
        "timeline": timeline,
        "warnings": [str(w) for w in (results.get("warnings") or [])] + list(history.warnings),
        "history_source": history.source,
        "event_count": len(history.events),
        "results": results,
    }
    return environment().get_template("report.html.j2").render(**context)


@dataclass
class Verdict:
    css: str  # valid | invalid | unknown
    text: str


def _verdict(valid: Any) -> Verdict:
    if valid is True:
        return Verdict("valid", "valid")
    if valid is False:
        return Verdict("invalid", "invalid")
    return Verdict("unknown", "unknown" if valid in (None, "unknown") else f"unknown ({short(valid)})")


def _checker_card(name: str, result: Any) -> dict[str, Any]:
    if not isinstance(result, dict):
        return {"name": name, "verdict": _verdict("unknown"), "summary": "", "details": [
            ("result", _pretty(result))]}
    summary = next((str(result[k]) for k in ("error", "note", "message", "reason")
                    if result.get(k)), "")
    failures = result.get("failures")
    if not summary and isinstance(failures, list) and failures:
        summary = f"{len(failures)} failure(s)"
    details = []
    for key, value in result.items():
        if key == "valid":
            continue
        if key == "failures" and isinstance(value, list) and any(map(looks_like_failure, value)):
            details.append((key, f"{len(value)} failure(s), drawn under Anomalies"))
            continue
        details.append((key, _pretty(value)))
    return {"name": name, "verdict": _verdict(result.get("valid", "unknown")),
            "summary": summary, "details": details}


def _pretty(value: Any) -> str:
    """Scalars as they are, anything else as indented JSON, cut at MAX_DETAIL_CHARS."""
    if isinstance(value, str):
        text = value
    elif value is None or isinstance(value, (bool, int, float)):
        text = json.dumps(value)
    else:
        text = json.dumps(value, indent=2, default=str, ensure_ascii=False)
    if len(text) > MAX_DETAIL_CHARS:
        text = (text[:MAX_DETAIL_CHARS] + f"\n… cut here: {len(text) - MAX_DETAIL_CHARS:,} more "
                f"characters in results.json")
    return text


def _spec_rows(spec: dict | None) -> list[tuple[str, str]]:
    if not spec:
        return []
    rows = []
    for key, label in SPEC_FIELDS:
        if key not in spec:
            continue
        value = spec[key]
        if key == "checkers" and isinstance(value, list):
            value = ", ".join(_checker_spec_text(c) for c in value)
        elif isinstance(value, list):
            value = ", ".join(short(v, 120) for v in value) or "none"
        rows.append((label, short(value, 400)))
    return rows


def _checker_spec_text(spec: Any) -> str:
    """{"name": "linearizable", "model": "cas-register"} -> "linearizable (model cas-register)"."""
    if not isinstance(spec, dict) or "name" not in spec:
        return short(spec, 120)
    params = ", ".join(f"{k} {short(v, 40)}" for k, v in spec.items() if k != "name")
    return f"{spec['name']} ({params})" if params else str(spec["name"])


def _rerun_command(spec: dict | None, run_dir: Path | None) -> str | None:
    if spec is None:
        return None
    test_json = str(Path(run_dir) / "test.json") if run_dir is not None else "test.json"
    return f"splitbrain run --from {shlex.quote(test_json)}"


def _stats(checkers: dict, results: dict, history: History) -> tuple[dict | None, str]:
    """The stats checker's result if the run has one, else the same numbers computed here."""
    for source, candidate in (("stats checker", checkers.get("stats")),
                              ("results.json stats", results.get("stats"))):
        if isinstance(candidate, dict) and isinstance(candidate.get("counts"), dict):
            return candidate, source
    if not history.events:
        return None, ""
    return StatsChecker().check(history), "computed from the history for this report"


def _anomalies(checkers: dict) -> tuple[list[tuple[str, Anomaly]], list[str]]:
    found: list[tuple[str, dict]] = []
    for name, result in checkers.items():
        if isinstance(result, dict) and isinstance(result.get("failures"), list):
            found.extend((name, f) for f in result["failures"] if looks_like_failure(f))
    notes = []
    if len(found) > MAX_ANOMALIES:
        notes.append(f"{len(found)} anomalies; the first {MAX_ANOMALIES} are drawn, the rest "
                     f"are in results.json.")
    return [(name, build_anomaly(f)) for name, f in found[:MAX_ANOMALIES]], notes


def _number(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ReportError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
    except OSError as err:
        raise ReportError(f"{path}: cannot read it ({err.strerror})") from None
