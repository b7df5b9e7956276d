"""A user's first install: the project installed into a new virtualenv (from a wheel build and
editable), then `splitbrain check` run from a directory outside the checkout. The compiled
checker core must be the one that runs there; where it could not be compiled, `check` says so in
one line on stderr and still gives the verdict.

Each install goes into a copy of the checkout, so that an editable build never writes into the
tree the suite runs from.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# slow: each test compiles the checker core (minutes on a loaded 2-core machine), past the
# suite's 300 s default timeout; pip itself is given 900 s (_install)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

HISTORY = "".join(
    f'{{"index": {i}, "time": {i}, "process": 0, "type": "{t}", "f": "{f}", "value": {v}}}\n'
    for i, (t, f, v) in enumerate([("invoke", "write", 3), ("ok", "write", 3),
                                   ("invoke", "read", "null"), ("ok", "read", 4)]))


def _copy_of_checkout(dest: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    return dest


def _install(tmp: Path, editable: bool, env: dict[str, str] | None = None) -> Path:
    """A new virtualenv with a copy of the checkout installed; its bin directory."""
    source = _copy_of_checkout(tmp / "checkout")
    subprocess.run([sys.executable, "-m", "venv", str(tmp / "venv")], check=True)
    pip = [str(tmp / "venv" / "bin" / "python"), "-m", "pip", "install", "-q",
           "--disable-pip-version-check"]
    full_env = {**os.environ, **(env or {})}
    full_env.pop("PYTHONPATH", None)
    subprocess.run(pip + (["-e", str(source)] if editable else [str(source)]), check=True,
                   env=full_env, timeout=900)
    return tmp / "venv" / "bin"


def _run_outside(bin_dir: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    outside = tmp / "elsewhere"
    outside.mkdir(exist_ok=True)
    (outside / "history.jsonl").write_text(HISTORY)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "SPLITBRAIN_PURE_PYTHON")}
    return subprocess.run([str(bin_dir / args[0]), *args[1:]], cwd=outside, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("editable", [False, True], ids=["wheel", "editable"])
def test_the_compiled_core_runs_from_any_directory(tmp_path, editable):
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        pytest.skip("no C compiler: see the notice test")
    bin_dir = _install(tmp_path, editable)
    core = _run_outside(bin_dir, tmp_path, "python", "-c",
                        "import checkers.native as n, checkers.history as h; "
                        "print(*n.core(), sep='|'); print(h.__file__)")
    kind, why = core.stdout.splitlines()[0].split("|")
    assert kind == "compiled", core
    assert core.stdout.splitlines()[1].endswith(".so")  # the extension, not the .py
    # the C extensions beside the compiled core load too (none refused as older than a source)
    native = _run_outside(bin_dir, tmp_path, "python", "-c",
                          "from checkers.native import c_extension as c; "
                          "print(*(c(m) is not None for m in ('checkers._jsonl', 'checkers._edn', "
                          "'checkers.elle._graph', 'checkers.elle._append', "
                          "'checkers._arenas')))")
    assert native.stdout.split() == ["True"] * 5, native
    check = _run_outside(bin_dir, tmp_path, "splitbrain", "check", "--model", "register",
                         "history.jsonl")
    assert check.returncode == 1, check  # read 4 after write 3: not linearizable
    assert "INVALID" in check.stdout
    assert "interpreted" not in check.stderr


def test_an_sdist_holds_every_source_and_header_the_extensions_compile(tmp_path):
    # made the way that lists the fewest extensions (none), so MANIFEST.in alone must hold them
    source = _copy_of_checkout(tmp_path / "checkout")
    subprocess.run([sys.executable, "setup.py", "-q", "sdist", "-d", str(tmp_path / "dist")],
                   cwd=source, check=True, capture_output=True,
                   env={**os.environ, "SPLITBRAIN_PURE_PYTHON": "1"})
    (sdist,) = (tmp_path / "dist").glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        held = {name.partition("/")[2] for name in tar.getnames()}
    needed = set(re.findall(r'"((?:checkers|nemesis)/[\w/]+\.[ch])"',
                            (ROOT / "setup.py").read_text()))
    assert {"checkers/_jsonl.c", "checkers/_prefetch.h", "checkers/elle/_edges.h"} <= needed
    assert needed <= held, needed - held
    assert "systems/control/clockshim/clockshim.c" in held


def test_an_install_without_the_compiled_core_says_so_in_one_line(tmp_path):
    # SPLITBRAIN_PURE_PYTHON=1 at install time skips compiling, as a missing compiler would
    bin_dir = _install(tmp_path, editable=False, env={"SPLITBRAIN_PURE_PYTHON": "1"})
    check = _run_outside(bin_dir, tmp_path, "splitbrain", "check", "--model", "register",
                         "history.jsonl")
    assert check.returncode == 1 and "INVALID" in check.stdout
    notices = [line for line in check.stderr.splitlines() if "interpreted" in line]
    assert len(notices) == 1, check.stderr
    assert "not compiled" in notices[0] and "reinstall" in notices[0]
