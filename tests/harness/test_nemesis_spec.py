"""The nemesis grammar and the checks a spec passes before a run."""

import pytest

from nemesis.base import validate
from nemesis.process import KillFault, PauseFault
from nemesis.schedule import plan
from nemesis.spec import NemesisSpecError, parse_fault, parse_nemesis


def test_grammar():
    assert parse_nemesis("none") == []
    fs = parse_fault("pause:leader:duration=3")
    assert (fs.fault, fs.target, fs.params) == ("pause", "leader", {"duration": "3"})
    assert str(fs) == "pause:leader:duration=3"
    assert parse_fault("kill").target is None
    assert parse_fault("kill:duration=2").params == {"duration": "2"}
    assert [str(s) for s in parse_nemesis("kill,pause:one")] == ["kill", "pause:one"]


@pytest.mark.parametrize("bad", ["", ":leader", "kill:leader:one", "kill:=3", "kill:duration=",
                                 "Kill", "kill:duration=1:duration=2", "kill;pause"])
def test_malformed_specs_are_refused(bad):
    with pytest.raises(NemesisSpecError):
        parse_nemesis(bad) if bad else parse_fault(bad)


class _Dumb:
    name = "dumb"


class _Full:
    name = "full"

    def kill(self, node): ...
    def start(self, node): ...
    def pause(self, node): ...
    def resume(self, node): ...
    def leader(self): return "n1"


def test_validation_against_a_system():
    validate(KillFault(), parse_fault("kill:leader:duration=2"), _Full(), 3)
    with pytest.raises(NemesisSpecError, match="no target"):
        validate(KillFault(), parse_fault("kill:everyone"), _Full(), 3)
    with pytest.raises(NemesisSpecError, match="no parameter"):
        validate(KillFault(), parse_fault("kill:one:speed=3"), _Full(), 3)
    with pytest.raises(NemesisSpecError, match="expected a number"):
        validate(KillFault(), parse_fault("kill:one:duration=soon"), _Full(), 3)
    with pytest.raises(NemesisSpecError, match="cannot kill"):
        validate(KillFault(), parse_fault("kill"), _Dumb(), 3)
    with pytest.raises(NemesisSpecError, match="cannot pause"):
        validate(PauseFault(), parse_fault("pause"), _Dumb(), 3)


def test_schedule_is_a_function_of_the_seed():
    specs = parse_nemesis("kill,pause:leader:duration=2")
    defaults = {"kill": {"target": "one", "params": {"duration": 5.0}},
                "pause:leader:duration=2": {"target": "leader", "params": {"duration": 2.0}}}
    a = plan(specs, defaults, 7, 60, 10)
    assert a == plan(specs, defaults, 7, 60, 10)
    assert a != plan(specs, defaults, 8, 60, 10)
    assert {x["fault"] for x in a} <= {"kill", "pause"}
    # One at a time: each fault ends before the next begins, and all start within the time limit.
    for x, y in zip(a, a[1:]):
        assert x["at"] + x["duration"] <= y["at"]
    assert all(x["at"] < 60 for x in a)
    assert plan([], {}, 7, 60, 10) == []
