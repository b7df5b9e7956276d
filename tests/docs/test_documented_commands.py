"""Every `splitbrain` command README.md and docs/*.md show, run as written from a temporary
directory with the default store, and judged by what the text around it states.

Commands are read from the documents themselves, so a newly documented command is tested without
touching this file: every line of a code block that starts a `splitbrain` command (also after
`&&`, joined over `\\` continuations), and every inline code span that is one. How a command is
judged:

* a synopsis (placeholders such as SYSTEM, RUN_DIR, `<run_dir>`, `[--seed S]`) names a real
  subcommand, and every option it shows is one that subcommand takes;
* a command whose trailing comment, or the comment line right above it, ends in a verdict
  (`valid`, `invalid`, `unknown`, `exit N`) exits with that verdict's code and says it;
* `install`, `list` and `clean` succeed; `report` renders the report; `check` and `run --from`
  (which read the store, so they run after the other commands of their document) give a verdict;
* anything else, notably a `run` whose verdict the text does not state, fails the test: the
  documentation must say what a command shows.

Files a document shows between `<!-- begin PATH -->` and `<!-- end PATH -->` (a helper script, a
plugin's package) are written to the directory first, as the reader would save them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.documented_runs import RUN_BY

PROJECT = Path(__file__).resolve().parents[2]
DOCUMENTS = [PROJECT / "README.md", *sorted((PROJECT / "docs").glob("*.md"))]
VERDICT_CODES = {"valid": 0, "invalid": 1, "unknown": 2}
VERDICT_LINES = {0: "valid", 1: "INVALID", 2: "unknown"}  # how `run` says it on its last line
# A verdict stated at the end of a comment: "...: invalid", "(valid)", "exit 1".
STATED = re.compile(r"(?:^|[\s:(,;])(valid|invalid|unknown|exit (\d+))\)?\.?\s*$", re.I)
PLACEHOLDER = re.compile(r"\b[A-Z][A-Z_]{2,}\b|<[^>]+>|\[|\.\.\.|\|")
READS_THE_STORE = ("check", "report")


@dataclass
class DocCommand:
    text: str  # the command as a shell would take it, on one line
    where: list[str]  # "FILE:LINE" of every place showing it
    stated: list[tuple[str, str]] = field(default_factory=list)  # (where, verdict or "exit N")
    document: str = ""

    @property
    def words(self) -> list[str]:
        return shlex.split(self.text)

    @property
    def argv(self) -> list[str]:
        """The words after `splitbrain` (an env prefix such as PYTHONPATH=. dropped)."""
        words = self.words
        return words[words.index("splitbrain") + 1:]

    @property
    def subcommand(self) -> str:
        return self.argv[0] if self.argv else ""

    @property
    def synopsis(self) -> bool:
        after = self.text[self.text.index("splitbrain"):]  # an env prefix is no placeholder
        return bool(PLACEHOLDER.search(after))

    @property
    def reads_store(self) -> bool:
        return self.subcommand in READS_THE_STORE or (self.subcommand == "run"
                                                      and "--from" in self.argv)


# -- reading the documents ------------------------------------------------------------------------

def _code_blocks(text: str) -> list[tuple[int, list[str]]]:
    """(first line number, lines) of every fenced or indented code block."""
    blocks: list[tuple[int, list[str]]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^(\s*)```", lines[i])
        if fence:
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith("```"):
                j += 1
            indent = len(fence.group(1))
            blocks.append((i + 2, [line[indent:] for line in lines[i + 1:j]]))
            i = j + 1
            continue
        if lines[i].startswith("    ") and (i == 0 or not lines[i - 1].strip()):
            j = i
            while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()):
                j += 1
            blocks.append((i + 1, [line[4:] for line in lines[i:j]]))
            i = j
            continue
        i += 1
    return blocks


def _split_comment(line: str) -> tuple[str, str]:
    """(code, comment) of a shell line; a # inside quotes is not a comment."""
    quote = None
    for k, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (k == 0 or line[k - 1].isspace()):
            return line[:k].rstrip(), line[k + 1:].strip()
    return line.rstrip(), ""


def _verdict(comment: str) -> str | None:
    m = STATED.search(comment)
    if not m:
        return None
    return f"exit {m.group(2)}" if m.group(2) else m.group(1).lower()


def _block_commands(name: str, first: int, lines: list[str]) -> list[tuple[str, str, str | None]]:
    """(text, where, stated verdict) of the splitbrain commands of one code block."""
    found = []
    above: str | None = None  # the verdict the comment line right above states
    i = 0
    while i < len(lines):
        raw = lines[i]
        code, comment = _split_comment(raw)
        if not code.strip():
            above = _verdict(comment) if comment else None
            i += 1
            continue
        start = i
        while code.endswith("\\") and i + 1 < len(lines):  # shell continuation
            i += 1
            more, comment = _split_comment(lines[i])
            code = code[:-1].rstrip() + " " + more.strip()
        # A synopsis continues on indented lines without a backslash.
        while (i + 1 < len(lines) and lines[i + 1][:1].isspace() and lines[i + 1].strip()
               and code.strip().startswith("splitbrain")):
            i += 1
            more, comment = _split_comment(lines[i])
            code += " " + more.strip()
        for part in re.split(r"\s*&&\s*", code.strip()):
            if re.match(r"^(\w+=\S*\s+)*splitbrain\b", part):
                found.append((" ".join(part.split()), f"{name}:{first + start}",
                              _verdict(comment) or above))
        above = None
        i += 1
    return found


def _inline_commands(name: str, text: str) -> list[tuple[str, str, str | None]]:
    found = []
    for m in re.finditer(r"(?<!`)`(?!`)((?:\w+=\S*\s+)*splitbrain\s[^`]*?)`(?!`)", text):
        line = text.count("\n", 0, m.start()) + 1
        found.append((" ".join(m.group(1).split()), f"{name}:{line}", None))
    return found


def documented_commands() -> list[DocCommand]:
    """Every command shown, once, in the order of the documents; within a document the commands
    that read the store come after the others (they read what those recorded)."""
    ordered: list[DocCommand] = []
    by_text: dict[str, DocCommand] = {}
    for path in DOCUMENTS:
        name = str(path.relative_to(PROJECT))
        text = path.read_text()
        found = [c for first, lines in _code_blocks(text)
                 for c in _block_commands(name, first, lines)]
        found += _inline_commands(name, text)
        mine: list[DocCommand] = []
        for cmd_text, where, stated in found:
            cmd = by_text.get(cmd_text)
            if cmd is None:
                cmd = by_text[cmd_text] = DocCommand(cmd_text, [], document=name)
                mine.append(cmd)
            cmd.where.append(where)
            if stated:
                cmd.stated.append((where, stated))
        ordered += [c for c in mine if not c.reads_store] + [c for c in mine if c.reads_store]
    return ordered


# -- judging --------------------------------------------------------------------------------------

class CannotJudge(Exception):
    pass


@dataclass(frozen=True)
class Judgement:
    kind: str  # "synopsis", "succeeds", "verdict" (any of 0/1/2), or "stated"
    exit_codes: tuple[int, ...] = ()
    word: str = ""  # the first word of the verdict line, for a stated verdict


def judge(cmd: DocCommand) -> Judgement:
    if cmd.synopsis:
        return Judgement("synopsis")
    stated = {v for _, v in cmd.stated}
    if len(stated) > 1:
        raise CannotJudge(f"{cmd.text!r}: the documents state different outcomes: {cmd.stated}")
    if stated:
        (verdict,) = stated
        code = int(verdict.split()[1]) if verdict.startswith("exit ") else VERDICT_CODES[verdict]
        return Judgement("stated", (code,), VERDICT_LINES.get(code, ""))
    if cmd.subcommand in ("install", "list", "clean", "report"):
        return Judgement("succeeds", (0,))
    if cmd.reads_store:
        return Judgement("verdict", (0, 1, 2))
    raise CannotJudge(f"{', '.join(cmd.where)}: {cmd.text!r}: the text does not say what this "
                      f"command shows; end its comment with its verdict (valid, invalid, unknown "
                      f"or exit N)")


def check_synopsis(cmd: DocCommand) -> None:
    from harness.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    words = cmd.text.split()
    name = words[words.index("splitbrain") + 1]
    assert name in sub.choices, f"{cmd.where}: no subcommand {name!r}"
    known = {o for a in sub.choices[name]._actions for o in a.option_strings}
    shown = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", cmd.text))
    assert shown <= known, f"{cmd.where}: {name} takes no {sorted(shown - known)}"


COMMANDS = documented_commands()


def test_every_documented_command_is_found_and_can_be_judged():
    assert len(COMMANDS) > 40
    subcommands = {c.subcommand for c in COMMANDS}
    assert {"run", "check", "report", "list", "install", "clean"} <= subcommands
    problems = []
    for cmd in COMMANDS:
        try:
            judge(cmd)
        except CannotJudge as e:
            problems.append(str(e))
    assert not problems, "\n".join(problems)


def test_a_run_without_a_stated_verdict_cannot_be_judged():
    bare = DocCommand("splitbrain run raftkv --time-limit 5", ["x.md:1"])
    with pytest.raises(CannotJudge, match="does not say what this command shows"):
        judge(bare)
    both = DocCommand("splitbrain run raftkv", ["a:1", "b:2"], [("a:1", "valid"), ("b:2", "invalid")])
    with pytest.raises(CannotJudge, match="different outcomes"):
        judge(both)


def test_reading_a_document_finds_blocks_continuations_chains_and_stated_verdicts():
    text = ("Intro `splitbrain list` and `splitbrain install SYSTEM`.\n\n"
            "```sh\n"
            "# a finding: invalid\n"
            "splitbrain run raftkv --bug early-ack \\\n"
            "  --time-limit 20\n"
            "python3 -m pip install x && splitbrain install raftkv && splitbrain run raftkv  # valid\n"
            "```\n\n"
            "    splitbrain run etcd --nemesis none \\\n"
            "      --time-limit 5                 # exit 1\n")
    blocks = [c for first, lines in _code_blocks(text) for c in _block_commands("d.md", first, lines)]
    assert blocks == [("splitbrain run raftkv --bug early-ack --time-limit 20", "d.md:5", "invalid"),
                      ("splitbrain install raftkv", "d.md:7", "valid"),
                      ("splitbrain run raftkv", "d.md:7", "valid"),
                      ("splitbrain run etcd --nemesis none --time-limit 5", "d.md:10", "exit 1")]
    assert [c[0] for c in _inline_commands("d.md", text)] == ["splitbrain list",
                                                             "splitbrain install SYSTEM"]


@pytest.mark.parametrize("cmd", [c for c in COMMANDS if c.synopsis],
                         ids=lambda c: f"{c.where[0]} {c.text[:60]}")
def test_synopsis_names_real_subcommands_and_options(cmd):
    check_synopsis(cmd)


# -- running --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
    """The reader's own directory for each document: outside the checkout, with the default
    store, so `store/latest` is the last run that document showed."""
    made: dict[str, Path] = {}

    def workdir(document: str) -> Path:
        if document not in made:
            made[document] = tmp_path_factory.mktemp(Path(document).stem)
        return made[document]

    return workdir


def _write_shown_files(cmd: DocCommand, where: Path) -> None:
    text = (PROJECT / cmd.document).read_text()
    for m in re.finditer(r"<!-- begin (\S+) -->\s*```\w*\n(.*?)```\s*<!-- end \1 -->", text, re.S):
        path = where / m.group(1)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(m.group(2))


def _shell(text: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    """The command through a shell, as a reader types it; `splitbrain` and `python3` are the
    ones of the interpreter running the tests."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(["bash", "-c", text], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, start_new_session=True)


def _timeout(cmd: DocCommand) -> float:
    argv = cmd.argv
    limit = float(argv[argv.index("--time-limit") + 1]) if "--time-limit" in argv else 30.0
    return limit + 420  # setup of a JVM cluster, heal, final reads, teardown, check


@pytest.fixture
def run_in(reap):
    """`run_in(text, cwd, timeout)`: the command through a shell; afterwards no process it
    started may be left (node servers name the directory on their command lines)."""
    def run(text: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
        try:
            return _shell(text, cwd, timeout)
        finally:
            leftovers = reap(str(cwd))
            assert not leftovers, f"processes outlived {text!r}: {leftovers}"

    return run


def _given_a_recorded_run(workdir: Path, run_in) -> None:
    """Commands reading store/latest read the document's last run; a document showing none (or a
    single test selected alone) reads a short one made here."""
    if not (workdir / "store" / "latest" / "history.jsonl").exists():
        p = run_in("splitbrain run raftkv --env local --nemesis none --time-limit 3 --quiet",
                   workdir, 300)
        assert p.returncode == 0, p.stdout + p.stderr


def _marks(cmd: DocCommand) -> list:
    return [pytest.mark.slow] if cmd.subcommand == "run" or cmd.reads_store else []


RUNNABLE = [pytest.param(c, marks=_marks(c), id=f"{c.where[0]} {c.text[:80]}")
            for c in COMMANDS if not c.synopsis and c.text not in RUN_BY]


def test_commands_run_by_integration_tests_are_documented_with_a_verdict():
    texts = {c.text: c for c in COMMANDS}
    for text, test in RUN_BY.items():
        assert text in texts, f"{test} runs a command no document shows: {text}"
        assert judge(texts[text]).kind == "stated", f"{texts[text].where}: state its verdict"
        path, name = test.split("::")
        assert f"def {name}(" in (PROJECT / path).read_text(), f"{test} does not exist"


def run_documented(text: str, cwd: Path) -> subprocess.CompletedProcess:
    """A command of tests/documented_runs.py run as test_documented_command runs the others
    (through a shell, from `cwd` with the default store), its stated verdict checked."""
    cmd = next(c for c in COMMANDS if c.text == text)
    judgement = judge(cmd)
    p = _shell(cmd.text, cwd, _timeout(cmd))
    told = f"{', '.join(cmd.where)}: {cmd.text}\nexit {p.returncode}\n{p.stdout}\n{p.stderr[-3000:]}"
    assert p.returncode in judgement.exit_codes, told
    assert "Traceback" not in p.stderr, told
    if cmd.subcommand == "run":
        assert p.stdout.strip().splitlines()[-1].startswith(f"{judgement.word}: "), told
    return p


@pytest.mark.parametrize("cmd", RUNNABLE)
def test_documented_command(cmd, workdirs, run_in):
    judgement = judge(cmd)
    workdir = workdirs(cmd.document)
    _write_shown_files(cmd, workdir)
    if cmd.reads_store:
        _given_a_recorded_run(workdir, run_in)
    p = run_in(cmd.text, workdir, _timeout(cmd))
    told = f"{', '.join(cmd.where)}: {cmd.text}\nexit {p.returncode}\n{p.stdout}\n{p.stderr[-3000:]}"
    assert p.returncode in judgement.exit_codes, told
    assert "internal error" not in p.stderr and "Traceback" not in p.stderr, told
    if cmd.subcommand == "run" and p.returncode in VERDICT_LINES:
        last = p.stdout.strip().splitlines()[-1]
        if judgement.word:
            assert last.startswith(f"{judgement.word}: "), told
        report = workdir / last.split(": ", 1)[1]
        assert report.exists(), told  # the path printed is right from where the reader stands
    if cmd.subcommand == "list" and "--json" in cmd.argv:
        json.loads(p.stdout)
