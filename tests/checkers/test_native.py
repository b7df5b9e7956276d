"""The compiled checker core: when it is used, when the interpreted one is, and that both agree.

checkers/native.py picks the core at import time, so the import-level tests run in a fresh
interpreter (sys.executable -c ...). The equivalence test needs Porcupine's data beside the
project clone, in ../shared/peer-data/porcupine (CI places it so).
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import checkers.native as native

ROOT = Path(__file__).resolve().parents[2]
PEER = ROOT / ".." / "shared" / "peer-data" / "porcupine"
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def fake_module(root: Path, name: str, source_mtime: float, build_mtime: float | None) -> Path:
    """root/name.py and, unless build_mtime is None, root/name<SUFFIX>, with those mtimes."""
    source = root / f"{name}.py"
    source.write_text("X = 1\n")
    os.utime(source, (source_mtime, source_mtime))
    if build_mtime is not None:
        build = root / f"{name}{SUFFIX}"
        build.write_bytes(b"")
        os.utime(build, (build_mtime, build_mtime))
    return source


@pytest.fixture
def tmp_root(tmp_path, monkeypatch):
    """A temporary directory standing in for the project root (decide() names files under it),
    holding the compiled modules' shared library."""
    monkeypatch.setattr(native, "ROOT", tmp_path)
    shared = tmp_path / f"{native.SHARED}{SUFFIX}"
    shared.write_bytes(b"")
    os.utime(shared, (2000, 2000))
    (tmp_path / "setup.py").write_text("")  # a source tree, where sources may be edited
    return tmp_path


def run_python(code: str, *args: str, pure: bool, timeout: float = 60,
               python_search: bool = False) -> subprocess.CompletedProcess:
    """`code` (given `args`) in a fresh interpreter, with SPLITBRAIN_PURE_PYTHON=1 or without
    it at all; `python_search`: with SPLITBRAIN_PYTHON_SEARCH=1 (search.py, not the C search)."""
    env = dict(os.environ)
    env.pop("SPLITBRAIN_PURE_PYTHON", None)
    env.pop("SPLITBRAIN_PYTHON_SEARCH", None)
    if pure:
        env["SPLITBRAIN_PURE_PYTHON"] = "1"
    if python_search:
        env["SPLITBRAIN_PYTHON_SEARCH"] = "1"
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr
    return out


def compiled_build_or_skip() -> None:
    """Skip unless every compiled module has a build, and it is not older than its source."""
    paths = native.sources()
    missing = [name for name, p in paths.items() if native.built_extension(p) is None]
    if missing:
        pytest.skip(f"no compiled build of {', '.join(missing)} (pip install -e . builds it)")
    kind, why = native.decide(paths, {})
    if kind != "compiled":
        pytest.skip(f"compiled build is stale ({why}): an edited checkout; "
                    f"rebuild with pip install -e .")


# -- decide() -----------------------------------------------------------------------------------


def test_compiled_when_the_build_is_at_least_as_new_as_every_source(tmp_root):
    """The shared library (mtime 2000) holds the compiled code; the per-module shims may be
    older, as a rebuild leaves an unchanged shim alone."""
    paths = {"a": fake_module(tmp_root, "a", 1000, 1500),
             "b": fake_module(tmp_root, "b", 2000, 1000)}  # same mtime counts as up to date
    assert native.decide(paths, {}) == ("compiled", "built by setup.py")


def test_interpreted_naming_the_file_when_a_source_is_newer_than_the_build(tmp_root):
    paths = {"a": fake_module(tmp_root, "a", 1000, 2000),
             "b": fake_module(tmp_root, "b", 3000, 3000)}
    kind, why = native.decide(paths, {})
    assert kind == "interpreted"
    assert why == "b.py is newer than its compiled build"


def test_interpreted_when_the_c_search_source_is_newer_than_its_build(tmp_root):
    folder = tmp_root / native.NATIVE_SEARCH.parent
    folder.mkdir(parents=True)
    c_source = tmp_root / native.NATIVE_SEARCH
    c_source.write_text("/* edited */\n")
    build = c_source.with_suffix(SUFFIX)
    build.write_bytes(b"")
    paths = {"a": fake_module(tmp_root, "a", 1000, 2000)}
    os.utime(build, (2000, 2000))
    os.utime(c_source, (1500, 1500))
    assert native.decide(paths, {}) == ("compiled", "built by setup.py")
    os.utime(c_source, (2500, 2500))
    assert native.decide(paths, {}) == \
        ("interpreted", "checkers/linearizable/_wgl.c is newer than its build")


def test_interpreted_not_compiled_when_a_build_is_missing(tmp_root):
    paths = {"a": fake_module(tmp_root, "a", 1000, 2000),
             "b": fake_module(tmp_root, "b", 1000, None)}
    assert native.decide(paths, {}) == ("interpreted", "not compiled")


def test_interpreted_when_the_shared_library_is_missing(tmp_root):
    """The per-module extensions cannot load without the library they share."""
    paths = {"a": fake_module(tmp_root, "a", 1000, 2000)}
    (tmp_root / f"{native.SHARED}{SUFFIX}").unlink()
    kind, why = native.decide(paths, {})
    assert kind == "interpreted" and native.SHARED in why


def test_an_installed_wheel_is_not_judged_by_mtimes(tmp_root):
    """pip unpacks a wheel's files in any order, so a source may look newer than the build."""
    paths = {"a": fake_module(tmp_root, "a", 3000, 3000)}
    (tmp_root / "setup.py").unlink()
    assert native.decide(paths, {}) == ("compiled", "installed build")


def test_pure_python_env_wins_over_an_up_to_date_build(tmp_root):
    paths = {"a": fake_module(tmp_root, "a", 1000, 2000)}
    assert native.decide(paths, {"SPLITBRAIN_PURE_PYTHON": "1"}) == \
        ("interpreted", "SPLITBRAIN_PURE_PYTHON=1")
    assert native.decide(paths, {"SPLITBRAIN_PURE_PYTHON": "0"})[0] == "compiled"


def test_select_with_a_stale_build_warns_once_and_loads_the_source(tmp_root, monkeypatch,
                                                                    capsys):
    """The user-visible half of a stale build: one stderr line, and imports go to the .py."""
    (tmp_root / "fakepkg").mkdir()
    source = fake_module(tmp_root / "fakepkg", "x", 3000, 2000)
    monkeypatch.setattr(native, "COMPILED", ("fakepkg.x",))
    monkeypatch.setattr(native, "_kind", native._kind)
    monkeypatch.setattr(native, "_why", native._why)
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    monkeypatch.delenv("SPLITBRAIN_PURE_PYTHON", raising=False)
    native.select()
    assert native.core() == ("interpreted", "fakepkg/x.py is newer than its compiled build")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fakepkg/x.py is newer" in err and "pip install -e ." in err
    spec = sys.meta_path[0].find_spec("fakepkg.x")
    assert spec is not None and spec.origin == str(source)


# -- what a fresh interpreter loads -------------------------------------------------------------

LOADED = """
import importlib, json
import checkers.native as n
print(json.dumps({"core": n.core(),
                  "files": {m: importlib.import_module(m).__file__ for m in n.COMPILED}}))
"""


def test_pure_python_env_loads_every_module_from_its_source():
    out = run_python(LOADED, pure=True)
    seen = json.loads(out.stdout)
    assert seen["core"] == ["interpreted", "SPLITBRAIN_PURE_PYTHON=1"]
    assert set(seen["files"]) == set(native.COMPILED)
    for name, file in seen["files"].items():
        assert file.endswith(".py"), (name, file)
    assert out.stderr == ""  # asked for, so nothing to warn about


def test_plain_import_loads_the_compiled_build_when_it_is_up_to_date():
    compiled_build_or_skip()
    out = run_python(LOADED, pure=False)
    seen = json.loads(out.stdout)
    assert seen["core"][0] == "compiled", seen["core"]
    for name, file in seen["files"].items():
        assert file.endswith(SUFFIX), (name, file)
        assert Path(file) == native.built_extension(native.sources()[name])
    assert out.stderr == ""


# -- same verdicts and evidence -----------------------------------------------------------------

CHECK_ALL = """
import json, sys
from pathlib import Path
import checkers.native as n
from checkers.formats import read_history
from checkers.linearizable import LinearizabilityChecker

peer = Path(sys.argv[1])
kv = sorted((peer / "test_data" / "kv").glob("c*.txt"))
etcd = sorted((peer / "test_data" / "jepsen").glob("etcd_*.log"))[:10]
jobs = [(p, "kv", True) for p in kv]
jobs += [(p, "kv", False) for p in kv if p.name.startswith("c01-")]
jobs += [(p, "cas-register", True) for p in etcd]
results = {}
for path, model, split in jobs:
    r = LinearizabilityChecker(model, split_keys=split, workers=1).check(read_history(path))
    r.pop("elapsed_s")
    results[f"{path.name} {model} split_keys={split}"] = r
print(json.dumps({"core": n.core(), "results": results}, sort_keys=True))
"""


needs_peer_data = pytest.mark.skipif(not (PEER / "test_data").is_dir(),
                                     reason=f"peer data not found at {PEER.resolve()}")


@needs_peer_data
def test_compiled_and_interpreted_cores_give_identical_verdicts_and_evidence():
    """Porcupine's kv files (per key, and c01 as one object) and ten etcd logs: the whole result
    but the time, failures with their linearized/unplaceable/state/expected included, when both
    cores run search.py."""
    compiled_build_or_skip()
    peer = str(PEER.resolve())
    pure = json.loads(run_python(CHECK_ALL, peer, pure=True).stdout)
    compiled = json.loads(run_python(CHECK_ALL, peer, pure=False, python_search=True).stdout)
    assert pure["core"][0] == "interpreted" and compiled["core"][0] == "compiled"
    assert len(pure["results"]) == 6 + 2 + 10
    # the data must exercise the evidence, not only valid verdicts
    invalid = [r for r in pure["results"].values() if r["valid"] is False]
    assert invalid and all(f["unplaceable"] and f["expected"]
                           for r in invalid for f in r["failures"])
    assert set(compiled["results"]) == set(pure["results"])
    for name, expected in pure["results"].items():
        assert compiled["results"][name] == expected, name


@needs_peer_data
def test_the_c_search_gives_the_same_verdicts_and_sound_evidence():
    """The C search (the compiled core's default) on the same files: every verdict, note and
    failing key as search.py's; its evidence may stop at another deepest point (it has no
    look-ahead guards), so each failure is checked for being true of the history instead."""
    compiled_build_or_skip()
    from checkers.formats import read_history
    from checkers.registry import get_model
    from tests.checkers.soundness import assert_sound_failure
    peer = str(PEER.resolve())
    python = json.loads(run_python(CHECK_ALL, peer, pure=False, python_search=True).stdout)
    native_run = json.loads(run_python(CHECK_ALL, peer, pure=False).stdout)
    assert set(native_run["results"]) == set(python["results"])
    failures = 0
    for name, expected in python["results"].items():
        got = native_run["results"][name]
        assert {k: v for k, v in got.items() if k != "failures"} == \
            {k: v for k, v in expected.items() if k != "failures"}, name
        assert [f["key"] for f in got["failures"]] == [f["key"] for f in expected["failures"]]
        file, model, split = name.split(" ")
        folder = "kv" if model == "kv" else "jepsen"
        ops = read_history(PEER / "test_data" / folder / file).operations()
        for failure in got["failures"]:
            part = [op for op in ops if op.type != "fail"
                    and (split == "split_keys=False" or op.key == failure["key"])]
            assert_sound_failure(get_model(model), part, failure)
            failures += 1
    assert failures >= 20


# -- users' models ------------------------------------------------------------------------------

SUBCLASSES = """
import json
from checkers.history import Event, History
from checkers.linearizable import LinearizabilityChecker
from checkers.models import KV, Model
import checkers.native as n


class Toggle(Model):
    '''A user's own model: a bit that "flip" inverts and "read" observes.'''
    name = "toggle"
    read_fs = frozenset({"read"})

    def init(self):
        return 0

    def step(self, state, op):
        if op.f == "flip":
            return True, 1 - state
        return op.value == state, state


class LoudKV(KV):
    '''A user's variant of a bundled model.'''
    name = "loud-kv"


def history(ops):
    events = []
    for i, (f, key, value) in enumerate(ops):
        events.append(Event(2 * i, 10 * i, 0, "invoke", f, None if f in ("read", "get") else value,
                            key))
        events.append(Event(2 * i + 1, 10 * i + 5, 0, "ok", f, value, key))
    return History(events)


toggle_ok = history([("flip", None, None), ("read", None, 1), ("flip", None, None),
                     ("read", None, 0)])
toggle_bad = history([("flip", None, None), ("read", None, 0)])
kv_bad = history([("put", "k", "a"), ("get", "k", "b")])
print(json.dumps({"core": n.core()[0], "verdicts": [
    LinearizabilityChecker(Toggle()).check(toggle_ok)["valid"],
    LinearizabilityChecker(Toggle()).check(toggle_bad)["valid"],
    LinearizabilityChecker(LoudKV()).check(kv_bad)["valid"]]}))
"""


@pytest.mark.parametrize("pure", [False, True], ids=["default core", "interpreted core"])
def test_a_users_model_may_subclass_the_bundled_models(pure):
    """Compiled classes refuse interpreted subclasses unless marked: a user's model (defined in
    plain Python, as a plugin would) subclassing Model or KV must work with either core."""
    seen = json.loads(run_python(SUBCLASSES, pure=pure).stdout)
    assert seen["verdicts"] == [True, False, False]
    if pure:
        assert seen["core"] == "interpreted"
