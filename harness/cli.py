"""The `splitbrain` command line: run, check, report, list, install, clean.

Exit codes (Jepsen's): 0 valid, 1 invalid, 2 unknown, 254 bad arguments or input, 255 harness or
environment failure; across several files the precedence is 255 > 254 > 1 > 2 > 0. Errors meant
for the user are one line on stderr; a traceback only ever means a bug of ours, and even then it
goes to a file, not the terminal.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from typing import Any, NoReturn

from checkers.base import exit_code_for, worst_exit
from harness import registry
from harness.errors import EXIT_ENVIRONMENT, EnvironmentFailure, SplitbrainError, UsageError

VERDICT_WORDS = {True: "valid", False: "INVALID"}


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting 2 (2 means 'unknown' here)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, told the terminal's width: left to find it, it imports shutil, a
    few ms of every start-up, help or not."""

    def __init__(self, prog: str) -> None:
        columns = os.environ.get("COLUMNS", "")  # as shutil.get_terminal_size reads it
        if columns.isdigit():
            width = int(columns)
        else:
            try:
                width = os.get_terminal_size(sys.stdout.fileno()).columns
            except (OSError, ValueError):
                width = 80
        super().__init__(prog, width=max(40, width - 2))


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return v


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return v


def _host_list(text: str) -> tuple[str, ...]:
    hosts = tuple(h.strip() for h in text.split(","))
    if not all(hosts):
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of hosts")
    return hosts


def _option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


def build_parser() -> argparse.ArgumentParser:
    from harness.spec import TestSpec

    p = _Parser(prog="splitbrain", description="Jepsen-style correctness and chaos testing.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser("run", help="run a test against a system and check it")
    run.add_argument("system", nargs="?", help="system under test (see `splitbrain list`)")
    run.add_argument("--from", dest="from_spec", metavar="TEST_JSON",
                     help="run the spec recorded in a run's test.json again")
    spec = TestSpec  # the defaults a run gets for what is not given
    run.add_argument("--workload", default=None,
                     help="what the clients do; the workloads, and which system offers which, are "
                          "listed by `splitbrain list` (default: the system's first)")
    run.add_argument("--nemesis", default=None, metavar="FAULT[:TARGET][:k=v...],...",
                     help="faults to inject, comma-separated, or none; faults, targets and "
                          "parameters are listed by `splitbrain list` and docs/nemesis.md "
                          f"(default: {','.join(spec.nemesis)})")
    run.add_argument("--nemesis-interval", type=_positive_float, default=None, metavar="S",
                     help="seconds between faults: each gap is 0.5..1 x S "
                          f"(default: {spec.nemesis_interval:g})")
    run.add_argument("--nodes", type=_positive_int, default=None, metavar="N",
                     help="cluster size; systems that take only certain sizes list them in "
                          f"`splitbrain list` (default: {spec.nodes}; with --hosts: one per host)")
    run.add_argument("--concurrency", type=_positive_int, default=None, metavar="N",
                     help=f"client workers, spread over the nodes (default: {spec.concurrency})")
    run.add_argument("--time-limit", type=_positive_float, default=None, metavar="S",
                     help=f"seconds of the main phase, before heal and final reads "
                          f"(default: {spec.time_limit:g})")
    run.add_argument("--rate", type=_positive_float, default=None, metavar="OPS",
                     help=f"operations per second over all workers (default: {spec.rate:g})")
    run.add_argument("--op-timeout", type=_positive_float, default=None, metavar="S",
                     help="seconds before an operation is recorded as info (unknown outcome) "
                          f"(default: {spec.op_timeout:g})")
    run.add_argument("--seed", type=int, default=None,
                     help="fixes the fault schedule, the operations and their values "
                          f"(default: {spec.seed})")
    run.add_argument("--env", default=None,
                     help="where nodes run: netns (own network namespace per node), local "
                          "(127.0.0.1) or ssh (--hosts); listed by `splitbrain list` (default: "
                          "netns as root on Linux, else local)")
    run.add_argument("--nemesis-overlap", action="store_true", default=None,
                     help="let faults overlap (default: one at a time)")
    run.add_argument("--subnet", default=None, metavar="CIDR",
                     help="env netns: the lab's private IPv4 subnet (default: a free 10.77.X.0/24)")
    run.add_argument("--hosts", type=_host_list, default=None, metavar="H1,H2,...",
                     help="env ssh: one host per node (default: none; implies --env ssh)")
    run.add_argument("--ssh-user", default=None,
                     help=f"env ssh: login user, sudo when not root (default: {spec.ssh_user})")
    run.add_argument("--ssh-key", default=None, metavar="PATH",
                     help="env ssh: private key (default: the keys in ~/.ssh)")
    run.add_argument("--ssh-port", type=_positive_int, default=None,
                     help=f"env ssh: port (default: {spec.ssh_port})")
    run.add_argument("--accept-new-host-keys", action="store_true", default=None,
                     help="env ssh: trust and save host keys not yet in known_hosts "
                          "(default: refuse them)")
    run.add_argument("--bug", action="append", default=None, metavar="BUG",
                     help="switch on one of the system's bugs, repeatable; each system's bugs are "
                          "listed by `splitbrain list` (default: none)")
    run.add_argument("--opt", action="append", type=_option, default=None, metavar="KEY=VALUE",
                     help="a system option, or workload.KEY=VALUE for the workload, repeatable; "
                          "each system's options and defaults are listed by `splitbrain list`")
    run.add_argument("--store", default=None, metavar="DIR",
                     help=f"where runs are recorded, as DIR/NAME/TIMESTAMP/ (default: "
                          f"{spec.store}, in the working directory)")
    run.add_argument("--name", default=None,
                     help="the run's directory name in the store (default: SYSTEM-WORKLOAD[-BUGS])")
    run.add_argument("--quiet", action="store_true",
                     help="no live progress on stderr (default: show it)")

    check = sub.add_parser("check", help="check recorded histories offline")
    check.add_argument("histories", nargs="+", metavar="HISTORY", help="history files to check")
    check.add_argument("--checker", action="append", default=[],
                       help="a checker to run, repeatable; listed by `splitbrain list` (default: "
                            "the checkers the test.json beside the history names)")
    check.add_argument("--model", default=None,
                       help="run the linearizability check with MODEL; listed by `splitbrain list` "
                            "(default: none)")
    check.add_argument("--format", default="auto",
                       help="the history format: auto (told from the content) or one listed by "
                            "`splitbrain list` (default: auto)")
    check.add_argument("--timeout", type=_positive_float, default=None,
                       help="seconds for the linearizability search, then: unknown (default: no "
                            "limit)")
    check.add_argument("--no-split", action="store_true",
                       help="check the history as one object, not per key (default: per key)")
    check.add_argument("--opt", action="append", type=_option, default=None, metavar="KEY=VALUE",
                       help="a checker option, as `run` takes them (e.g. consistency=serializable;"
                            " CHECKER.KEY=VALUE for one checker only), repeatable; each checker's "
                            "options and defaults are listed by `splitbrain list` (default: none)")

    report = sub.add_parser("report", help="render report.html again from a run's files")
    report.add_argument("run_dir", metavar="RUN_DIR",
                        help="a run directory, a file in it, or a store (its latest run)")

    listing = sub.add_parser("list", help="systems (and whether they are installed), workloads, "
                                          "nemeses, environments, checkers, models and bugs")
    listing.add_argument("--json", action="store_true",
                         help="print it all as one JSON object instead of tables")

    sub.add_parser("clean", help="remove what runs killed with SIGKILL left behind (namespaces, "
                                 "bridges, firewall rules, delayers, node processes)")

    install = sub.add_parser("install", help="install what systems or the test suite need")
    install.add_argument("targets", nargs="+", metavar="TARGET",
                         help="a system (as `splitbrain list` shows them), lab (every fault's "
                              "tools) or tests (everything the test suite needs)")
    install.add_argument("--hosts", type=_host_list, default=None, metavar="H1,H2,...",
                         help="install on these SSH hosts too, the nodes of --env ssh (default: "
                              "this machine only)")
    install.add_argument("--ssh-user", default="root",
                         help="with --hosts: login user, sudo when not root (default: root)")
    install.add_argument("--ssh-key", default=None, metavar="PATH",
                         help="with --hosts: private key (default: the keys in ~/.ssh)")
    install.add_argument("--ssh-port", type=_positive_int, default=22,
                         help="with --hosts: port (default: 22)")
    install.add_argument("--accept-new-host-keys", action="store_true",
                         help="with --hosts: trust and save host keys not yet in known_hosts "
                              "(default: refuse them)")
    return p


# -- run ------------------------------------------------------------------------------------------

def _spec_from_args(args: argparse.Namespace) -> Any:
    from harness.spec import TestSpec
    from nemesis.spec import NemesisSpecError, parse_nemesis

    overrides: dict[str, Any] = {}
    for name in ("workload", "nodes", "concurrency", "time_limit", "rate", "seed", "env", "store",
                 "name", "nemesis_interval", "op_timeout", "nemesis_overlap", "subnet", "hosts",
                 "ssh_user", "ssh_key", "ssh_port", "accept_new_host_keys"):
        v = getattr(args, name)
        if v is not None:
            overrides[name] = v
    if args.hosts is not None and args.nodes is None:
        overrides["nodes"] = len(args.hosts)  # the number of hosts is the number of nodes
    if args.bug is not None:
        overrides["bugs"] = tuple(args.bug)
    if args.opt is not None:
        overrides["options"] = dict(args.opt)
    if args.nemesis is not None:
        try:
            overrides["nemesis"] = tuple(str(s) for s in parse_nemesis(args.nemesis))
        except NemesisSpecError as e:
            raise UsageError(str(e)) from None
    if args.from_spec:
        if args.system:
            raise UsageError("give either SYSTEM or --from TEST_JSON, not both")
        spec = TestSpec.load(args.from_spec)
        if {"nemesis", "time_limit", "nemesis_interval", "seed", "nemesis_overlap"} & set(overrides):
            spec = spec.with_(schedule=())  # a changed plan needs a new schedule
        if {"workload", "concurrency"} & set(overrides):
            spec = spec.with_(checkers=())
        return spec.with_(command="", **overrides)
    if not args.system:
        raise UsageError("run needs a SYSTEM (see `splitbrain list`) or --from TEST_JSON")
    if "env" not in overrides:
        from harness.envs import default_environment
        overrides["env"] = "ssh" if args.hosts else default_environment()
    offer = registry.load("system", args.system).offer
    if "workload" not in overrides and offer.workloads:
        # Without --workload, a system's first workload (raftkv: register, kafka: queue, ...).
        overrides["workload"] = offer.workloads[0]
    counts = offer.node_counts
    if "nodes" not in overrides and counts and TestSpec.nodes not in counts:
        overrides["nodes"] = counts[0]  # redis runs on 1 node, redis-cluster on 6: no --nodes needed
    return TestSpec(system=args.system, **overrides)


def cmd_run(args: argparse.Namespace, argv: list[str]) -> int:
    from rich.console import Console

    from harness.live import LiveStatus
    from harness.runner import execute, prepare

    prepared = prepare(_spec_from_args(args), ["run", *argv])
    console = Console(stderr=True)
    spec = prepared.spec
    live = LiveStatus(spec.time_limit, console, quiet=args.quiet)
    if not args.quiet:
        faults = ", ".join(spec.nemesis) or "none"
        console.print(f"[bold]splitbrain[/bold] {spec.system} / {spec.workload}, nemesis {faults}, "
                      f"{spec.nodes} nodes, {spec.concurrency} workers, {spec.time_limit:g} s, "
                      f"seed {spec.seed}" + (f", bugs {', '.join(spec.bugs)}" if spec.bugs else ""))
    outcome = execute(prepared, live)
    if spec.nemesis:
        print(f"  {'faults':<14} {describe_faults(outcome.results.get('faults') or {})}")
    _print_verdicts(outcome.results)
    word = VERDICT_WORDS.get(outcome.valid, "unknown")
    suffix = " (interrupted)" if outcome.interrupted else ""
    print(f"{word}{suffix}: {_shown(outcome.run_dir / 'report.html')}")
    return outcome.exit_code


def _shown(path: Any) -> str:
    """A path as short as it can be said: relative to the working directory when inside it."""
    import os

    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def describe_faults(summary: dict[str, Any]) -> str:
    """Which of the given faults ran and how often; why one that did not run did not."""
    ran, planned = summary.get("ran", {}), summary.get("planned", {})
    slots = sum(planned.values())
    parts = []
    for spec in summary.get("given", []):
        n = ran.get(spec, 0)
        if n:
            parts.append(f"{spec} ran {n}x")
        elif not planned.get(spec):
            parts.append(f"{spec} did not run (the time limit left room for {slots} "
                         f"fault{'s' if slots != 1 else ''})")
        elif summary.get("skipped", {}).get(spec):
            parts.append(f"{spec} did not run (nothing to target when it was due)")
        else:
            parts.append(f"{spec} did not run (the run ended before it was due)")
    return ", ".join(parts) or "none"


def _print_verdicts(results: dict[str, Any]) -> None:
    for name, res in results.get("checkers", {}).items():
        word = VERDICT_WORDS.get(res.get("valid"), "unknown")
        print(f"  {name:<14} {word}{_first_finding(res)}")


FINDING_CHARS = 200  # a verdict line's evidence: whole sentences up to this, at least one


def _first_finding(res: dict[str, Any]) -> str:
    """One short line of evidence for an invalid or unknown verdict."""
    if res.get("valid") is True:
        return ""
    failures = res.get("failures") or []
    if failures:
        f = failures[0]
        more = f" (+{len(failures) - 1} more)" if len(failures) > 1 else ""
        if not isinstance(f, dict):  # some checkers list their failures as sentences
            return f": {shorten(str(f))}{more}"
        finding = f"key {f.get('key')!r}: {f.get('expected', '')}"
        return f": {shorten(finding)}{more.replace(' more', ' more keys')}"
    for field in ("error", "reason", "note", "problems"):
        if res.get(field):
            text = res[field] if isinstance(res[field], str) else str(res[field])
            return f": {shorten(text)}"
    return ""


def shorten(text: str, limit: int = FINDING_CHARS) -> str:
    """`text` on one line, shortened to the whole sentences (or `;` clauses) that fit in `limit`
    characters, and always at least the first one: never cut in the middle of one."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    # A sentence ends at ". " before a capital (so "e.g. value" and "12.5 s" stay whole) or at "; ".
    pieces = re.split(r"(?<=\.)\s+(?=[A-Z])|(?<=;)\s+", text)
    kept = pieces[0]
    for piece in pieces[1:]:
        if len(kept) + 1 + len(piece) > limit:
            break
        kept += " " + piece
    return kept.rstrip(";") + " […]"


# -- check ----------------------------------------------------------------------------------------

def cmd_check(args: argparse.Namespace) -> int:
    from checkers.native import interpreted_notice
    from harness.checking import (checker_specs_beside, count_operations, history_path,
                                  read_history_file, run_checkers, with_checker_options)

    if args.format not in _formats():
        raise UsageError(f"unknown format {args.format!r}; known: {', '.join(_formats())}")
    notice = interpreted_notice()
    if notice:
        print(notice, file=sys.stderr)
    options = dict(args.opt or ())
    given = _check_specs(args)
    if given and options:
        given = with_checker_options(given, options)  # a bad option fails before any file
    codes: list[int] = []
    for target in args.histories:
        started = time.monotonic()
        try:
            path = history_path(target)
            history = read_history_file(path, args.format)
            specs = given or checker_specs_beside(path)
            if not specs:
                empty = " (and it holds no operations)" if not history.events else ""
                raise UsageError(f"{target}: no checkers to run{empty}: pass --model M or "
                                 f"--checker C; no test.json of a run beside it names them")
            if not given and options:
                specs = with_checker_options(specs, options)
            results = run_checkers(history, specs)
        except SplitbrainError as e:
            message = str(e)
            if message.startswith(f"{target}: "):  # the line names the file already
                message = message[len(target) + 2:]
            print(f"{target}\terror\t{message}", file=sys.stderr)
            codes.append(e.exit_code)
            continue
        for w in history.warnings:
            print(f"warning: {w}", file=sys.stderr)
        word = VERDICT_WORDS.get(results["valid"], "unknown")
        print(f"{target}\t{word}\t{count_operations(history)} ops\t"
              f"{time.monotonic() - started:.2f} s")
        if results["valid"] is not True:
            _print_verdicts(results)
        codes.append(exit_code_for(results["valid"]))
    return worst_exit(codes)


def _formats() -> tuple[str, ...]:
    from checkers.formats import FORMATS
    return FORMATS


def _check_specs(args: argparse.Namespace) -> list[dict[str, Any]]:
    specs: list[dict[str, Any]] = []
    lin_params: dict[str, Any] = {}
    if args.timeout is not None:
        lin_params["timeout"] = args.timeout
    if args.no_split:
        lin_params["split_keys"] = False
    if args.model:
        specs.append({"name": "linearizable", "model": args.model, **lin_params})
    for name in args.checker:
        if name == "linearizable" and args.model:
            continue
        specs.append({"name": name, **(lin_params if name == "linearizable" else {})})
    if args.model:
        from checkers.registry import is_model, model_names
        if not is_model(args.model):
            raise UsageError(f"unknown model {args.model!r}; known: {', '.join(model_names())}")
    return specs


# -- report ---------------------------------------------------------------------------------------

def cmd_report(args: argparse.Namespace) -> int:
    from harness.checking import checker_specs_beside, read_history_file, run_checkers
    from harness.store import find_run_dir, write_json
    from reports.html import render_report

    run_dir = find_run_dir(args.run_dir)
    if not (run_dir / "results.json").exists():
        # A run killed before checking: check it now from the files.
        specs = checker_specs_beside(run_dir / "history.jsonl") or [{"name": "stats"}]
        results = run_checkers(read_history_file(run_dir / "history.jsonl", "jsonl"), specs)
        write_json(run_dir / "results.json", results)
    path = render_report(run_dir)
    print(path)
    return 0


# -- list -----------------------------------------------------------------------------------------

def catalogue() -> dict[str, Any]:
    """Everything `splitbrain list` shows, as plain data (what `list --json` prints)."""
    from checkers.formats import FORMATS
    from checkers.registry import checker_names, model_names
    from harness.envs import ENVIRONMENTS, default_environment
    from harness.install import missing

    systems = []
    for name in registry.names("system"):
        # client libraries load only when a system is used
        offer = registry.load("system", name).offer
        lacking = missing(name)
        systems.append({
            "name": name, "workloads": list(offer.workloads or ()),
            "node_counts": list(offer.node_counts) if offer.node_counts else None,
            "bugs": dict(offer.bugs),
            "options": {k: {"default": o.default, "doc": o.doc,
                            "choices": list(o.choices) if o.choices else None}
                        for k, o in offer.options.items()},
            "installed": not lacking, "missing": lacking, "install": f"splitbrain install {name}"})
    faults = []
    for name in registry.names("nemesis"):
        f = registry.load("nemesis", name)
        faults.append({"name": name, "doc": f.doc, "default_target": f.default_target,
                       "targets": [f.default_target] + [t for t in f.targets
                                                        if t != f.default_target],
                       "params": {k: {"default": p.default, "doc": p.doc}
                                  for k, p in f.params.items()}})
    return {
        "systems": systems,
        "workloads": [{"name": n, "description": registry.load("workload", n).description}
                      for n in registry.names("workload")],
        "nemeses": faults,
        "environments": [{"name": n, "doc": e.doc, "default": n == default_environment()}
                         for n, e in ENVIRONMENTS.items()],
        "checkers": list(checker_names()),
        "models": list(model_names()),
        "formats": list(FORMATS),
    }


def cmd_list(as_json: bool) -> int:
    import json

    from rich.console import Console
    from rich.table import Table

    data = catalogue()
    if as_json:
        print(json.dumps(data, indent=2))
        return 0
    console = Console()
    piped = not console.is_terminal
    if piped:
        # Piped or redirected: never wrap or cut a cell, so every name can be copied or parsed.
        console = Console(width=100_000)

    def table(title: str, *columns: str) -> Table:
        t = Table(title=title, title_justify="left")
        for c in columns:
            t.add_column(c, overflow="fold")  # on a narrow terminal: fold, never cut with "…"
        return t

    systems = table("systems", "system", "workloads", "bugs (--bug)", "options (--opt KEY=VALUE)",
                    "installed")
    for s in data["systems"]:
        counts = s["node_counts"]
        systems.add_row(s["name"] + (f"\n(nodes: {', '.join(map(str, counts))})" if counts else ""),
                        ", ".join(s["workloads"]),
                        "\n".join(f"{b}: {d}" for b, d in s["bugs"].items()) or "-",
                        "\n".join(f"{k}={o['default']}: {o['doc']}"
                                  for k, o in s["options"].items()) or "-",
                        "yes" if s["installed"] else f"no: {s['install']}")
    workloads = table("workloads", "workload", "description")
    for w in data["workloads"]:
        workloads.add_row(w["name"], w["description"])
    faults = table("nemeses: FAULT[:TARGET][:key=value...]", "fault", "targets (default first)",
                   "parameters", "what it does")
    for f in data["nemeses"]:
        faults.add_row(f["name"], ", ".join(f["targets"]),
                       "\n".join(f"{k}={p['default']} ({p['doc']})" for k, p in f["params"].items()),
                       f["doc"])
    default = next(e["name"] for e in data["environments"] if e["default"])
    envs = table(f"environments (--env; default here: {default})", "environment", "what it is")
    for e in data["environments"]:
        envs.add_row(e["name"], e["doc"])
    parts = [systems, workloads, faults, envs,
             "[bold]checkers[/bold] (--checker): " + ", ".join(data["checkers"]),
             "[bold]models[/bold] (--model): " + ", ".join(data["models"]),
             "[bold]history formats[/bold] (check --format): " + ", ".join(data["formats"])]
    with console.capture() as captured:
        for part in parts:
            console.print(part)
    text = captured.get()
    if piped:  # a title is padded to its table's width
        text = "\n".join(line.rstrip() for line in text.splitlines()) + "\n"
    sys.stdout.write(text)
    return 0


# -- clean ----------------------------------------------------------------------------------------

def cmd_clean() -> int:
    from harness.envs import clean_leftovers
    from harness.lab import LabError

    try:
        removed = clean_leftovers()
    except LabError as e:
        raise EnvironmentFailure(f"clean: {e}") from None
    for line in removed:
        print(f"removed {line}")
    print(f"clean: {len(removed)} leftover{'s' if len(removed) != 1 else ''} removed")
    return 0


# -- install --------------------------------------------------------------------------------------

def cmd_install(args: argparse.Namespace) -> int:
    from harness.install import install, install_on_hosts

    done = install(args.targets)
    if args.hosts:
        from harness.ssh import SshHost
        hosts = [SshHost(h, user=args.ssh_user, port=args.ssh_port, key_path=args.ssh_key,
                         accept_new_host_keys=args.accept_new_host_keys) for h in args.hosts]
        done += install_on_hosts(args.targets, hosts)
    print("installed: " + (", ".join(done) if done else "nothing (all present)"))
    return 0


# -- entry point ----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        if args.command == "run":
            return cmd_run(args, argv[1:])
        if args.command == "check":
            return cmd_check(args)
        if args.command == "report":
            return cmd_report(args)
        if args.command == "list":
            return cmd_list(args.json)
        if args.command == "clean":
            return cmd_clean()
        if args.command == "install":
            return cmd_install(args)
        build_parser().print_help()
        return 254
    except SplitbrainError as e:
        print(f"splitbrain: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("splitbrain: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        import tempfile
        import traceback

        with tempfile.NamedTemporaryFile("w", prefix="splitbrain-crash-", suffix=".txt",
                                         delete=False) as fh:
            traceback.print_exc(file=fh)
        print(f"splitbrain: internal error: {type(e).__name__}: {e} (traceback in {fh.name}; "
              f"please report it)", file=sys.stderr)
        return EXIT_ENVIRONMENT


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
