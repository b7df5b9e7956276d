"""Which checker core runs: the mypyc-compiled one (built by setup.py at install) or the same
modules interpreted.

Both give the same verdicts and evidence; the compiled one is 2-3x faster. The interpreted one is
used when nothing was compiled, when SPLITBRAIN_PURE_PYTHON=1, and when any compiled module's
source is newer than its build (an edited checkout: running the old build would silently test
old code). In the last case one line on stderr says so and how to rebuild.

Never compiled itself: it has to run before the compiled modules are imported.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

# Keep in step with setup.py's COMPILED.
COMPILED = (
    "checkers.history",
    "checkers.models",
    "checkers.linearizable.partition",
    "checkers.linearizable.search",
    "checkers.linearizable.sequential",
    "checkers.linearizable.evidence",
    "checkers.linearizable.checker",
    "checkers.linearizable.kernel",
    "checkers.elle.transactions",
    "checkers.elle.list_append",
    "checkers.elle.rw_register",
    "checkers.elle.orders",
    "checkers.elle.graph",
    "checkers.delivery.ops",
    "checkers.delivery.logs",
    "checkers.delivery.cycles",
    "checkers.delivery.log_cases",
    "checkers.delivery.order_cases",
    "checkers.delivery.groups",
)
ROOT = Path(__file__).resolve().parent.parent
# The C search kernel.py runs (setup.py's NATIVE_SEARCH), under ROOT: part of the compiled core,
# though not mypyc's.
NATIVE_SEARCH = Path("checkers", "linearizable", "_wgl.c")
# the library the compiled modules share (setup.py's group_name), installed beside the packages
SHARED = "splitbrain_checkers_core__mypyc"

_kind = "interpreted"
_why = "not compiled"


def core() -> tuple[str, str]:
    """("compiled" | "interpreted", why) for the checker core this process runs."""
    return _kind, _why


def sources() -> dict[str, Path]:
    return {name: ROOT.joinpath(*name.split(".")).with_suffix(".py") for name in COMPILED}


def built_extension(source: Path) -> Path | None:
    """The compiled module next to `source`, if any."""
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = source.with_suffix(suffix)
        if candidate.exists():
            return candidate
    return None


def decide(paths: dict[str, Path], env: dict[str, str]) -> tuple[str, str]:
    """Compiled only when every module has its extension and no source is newer than the
    shared library that holds their compiled code (the per-module extensions are thin shims a
    rebuild may leave untouched)."""
    if env.get("SPLITBRAIN_PURE_PYTHON") == "1":
        return "interpreted", "SPLITBRAIN_PURE_PYTHON=1"
    if any(built_extension(source) is None for source in paths.values()):
        return "interpreted", "not compiled"
    shared = built_extension(ROOT / f"{SHARED}.py")
    if shared is None:
        return "interpreted", f"the compiled core's shared library {SHARED} is missing"
    if not (ROOT / "setup.py").exists():
        # an installed wheel, not a source tree: nobody edits it, and pip gives its files the
        # time of unpacking, in no particular order, so their mtimes say nothing
        return "compiled", "installed build"
    built_at = shared.stat().st_mtime
    for source in paths.values():
        if source.exists() and source.stat().st_mtime > built_at:
            return "interpreted", f"{source.relative_to(ROOT)} is newer than its compiled build"
    c_source = ROOT / NATIVE_SEARCH
    c_build = built_extension(c_source)
    if c_source.exists() and c_build is not None and \
            c_source.stat().st_mtime > c_build.stat().st_mtime:
        return "interpreted", f"{NATIVE_SEARCH} is newer than its build"
    return "compiled", "built by setup.py"


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Loads the listed modules from their .py files, ahead of the compiled extensions that
    Python's own finder would prefer."""

    def __init__(self, paths: dict[str, Path]) -> None:
        self.paths = paths

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        source = self.paths.get(fullname)
        if source is None:
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def select() -> None:
    """Run once, from checkers/__init__.py, before any compiled module is imported."""
    global _kind, _why
    paths = sources()
    _kind, _why = decide(paths, dict(os.environ))
    if _kind == "compiled":
        return
    if any(built_extension(p) for p in paths.values()):
        sys.meta_path.insert(0, _SourceFinder(paths))
        if _why != "SPLITBRAIN_PURE_PYTHON=1":
            print(f"splitbrain: {_why}; the checker core runs interpreted (rebuild it with "
                  f"`pip install -e .`)", file=sys.stderr)
