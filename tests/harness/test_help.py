"""Every option's --help says what it does, its default, and where its choices are listed."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from harness.cli import build_parser

# Options whose value is a name from a list: their help must say where that list is.
NAMED_CHOICES = {"--workload", "--nemesis", "--nodes", "--env", "--bug", "--opt", "--checker",
                 "--model", "--format", "system", "targets"}


def subcommands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def options() -> list:
    return [pytest.param(command, action, id=f"{command} {action.dest}")
            for command, parser in subcommands().items() for action in parser._actions
            if not isinstance(action, argparse._HelpAction)]


def test_every_subcommand_is_described():
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            assert all(choice.help for choice in action._choices_actions)


@pytest.mark.parametrize("command, action", options())
def test_every_option_says_what_it_does_its_default_and_where_its_choices_are(command, action):
    name = action.option_strings[0] if action.option_strings else action.dest
    text = action.help or ""
    assert len(text.split()) >= 4, f"{command} {name}: no help"
    if action.option_strings and action.nargs != 0 and action.dest not in ("from_spec",):
        assert "default" in text, f"{command} {name}: help does not give the default"
    if name in NAMED_CHOICES:
        assert "splitbrain list" in text or "(see `splitbrain list`)" in text, \
            f"{command} {name}: help does not say where the choices are listed"


def test_help_prints_and_exits_zero():
    for command in subcommands():
        p = subprocess.run([sys.executable, "-m", "harness", command, "--help"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith(f"usage: splitbrain {command}"), p.stdout
