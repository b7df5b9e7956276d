"""Which checker core runs: the mypyc-compiled one (built by setup.py at install) or the same
modules interpreted.

Both give the same verdicts and evidence; the compiled one is 2-3x faster. The interpreted one is
used when nothing was compiled, when SPLITBRAIN_PURE_PYTHON=1, and when any compiled module's
source is newer than its build (an edited checkout: running the old build would silently test
old code). In the last case one line on stderr says so and how to rebuild.

Never compiled itself: it has to run before the compiled modules are imported.
"""

from __future__ import annotations

import importlib
import importlib.machinery
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
# The library the compiled modules share (setup.py's group_name plus mypyc's suffix). It sits at
# ROOT, beside the packages, where the compiled modules look for it as a top-level module; that
# directory is on sys.path only in some installs (a wheel's site-packages) and not in others (an
# editable install, run from another directory), so select() loads it from its file.
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


class _SourceFinder:
    """Loads the listed modules from their .py files, ahead of the compiled extensions that
    Python's own finder would prefer. (A meta path finder needs only find_spec; not deriving
    from importlib.abc spares every start-up the 8 ms that module takes to import.)"""

    def __init__(self, paths: dict[str, Path]) -> None:
        self.paths = paths

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        source = self.paths.get(fullname)
        if source is None:
            return None
        loader = importlib.machinery.SourceFileLoader(fullname, str(source))
        spec = importlib.machinery.ModuleSpec(fullname, loader, origin=str(source))
        spec.has_location = True  # so that the module's __file__ is its source
        return spec


def select() -> None:
    """Run once, from checkers/__init__.py, before any compiled module is imported."""
    global _kind, _why
    paths = sources()
    _kind, _why = decide(paths, dict(os.environ))
    if _kind == "compiled":
        _load_shared_library()
        return
    if any(built_extension(p) for p in paths.values()):
        sys.meta_path.insert(0, _SourceFinder(paths))
        if _why != "SPLITBRAIN_PURE_PYTHON=1":
            print(f"splitbrain: {_why}; the checker core runs interpreted (rebuild it with "
                  f"`pip install -e .`)", file=sys.stderr)


def _load_shared_library() -> None:
    """Import SHARED from its file at ROOT, whatever sys.path holds, so that the compiled
    modules (which import it by name) find it already loaded."""
    if SHARED in sys.modules:
        return
    library = built_extension(ROOT / f"{SHARED}.py")
    if library is None:  # pragma: no cover - decide() saw the file
        return
    loader = importlib.machinery.ExtensionFileLoader(SHARED, str(library))
    spec = importlib.machinery.ModuleSpec(SHARED, loader, origin=str(library))
    spec.has_location = True
    module = loader.create_module(spec)
    sys.modules[SHARED] = module
    loader.exec_module(module)


def c_extension(name: str, depends: tuple[str, ...] = ()) -> Any:
    """The C extension module `name` (checkers._jsonl, checkers.elle._graph, ...), or None when
    its Python twin is to run: it was not built, SPLITBRAIN_PURE_PYTHON=1 asks for Python, or
    its source (NAME.c beside it) or one of `depends` (paths relative to its directory) is
    newer than its build, as in an edited checkout, which must not run old code."""
    if os.environ.get("SPLITBRAIN_PURE_PYTHON") == "1":
        return None
    try:
        module = importlib.import_module(name)
    except ImportError:
        return None
    if not (ROOT / "setup.py").exists():
        return module  # an installed build: its files' mtimes are unpacking times (see decide)
    build = Path(str(module.__file__))
    built = build.stat().st_mtime
    for source in (build.with_name(name.rpartition(".")[2] + ".c"),
                   *(build.parent / d for d in depends)):
        if source.exists() and source.stat().st_mtime > built:
            return None
    return module


def interpreted_notice() -> str | None:
    """One line for the user when the core runs interpreted although nobody asked for that (the
    compile failed or was skipped at install), saying how to get the compiled one; None when it
    is compiled, asked to be interpreted, or already said so (an edited checkout, see select)."""
    if _kind == "compiled" or _why == "SPLITBRAIN_PURE_PYTHON=1" or "newer than" in _why:
        return None
    return (f"splitbrain: the checker core runs interpreted ({_why}), 2-3x slower; to compile "
            f"it, install a C compiler and Python's headers (apt-get install gcc python3-dev) "
            f"and reinstall splitbrain (in a checkout: pip install -e .); "
            f"SPLITBRAIN_PURE_PYTHON=1 chooses the interpreted core and silences this")
