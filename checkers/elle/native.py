"""The elle checker's C extensions (_graph.c, _append.c), when they are built and current.

Each has a pure-Python twin that gives the same results (tests compare them): the C one is used
unless it was not built, SPLITBRAIN_PURE_PYTHON=1 asks for Python, or its source is newer than
its build (an edited checkout must not run old code).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

_loaded: dict[str, Any] = {}


def extension(name: str) -> Any:
    """The module checkers.elle.<name>, or None when the Python twin is to run."""
    if name not in _loaded:
        _loaded[name] = _load(name)
    return _loaded[name]


def _load(name: str) -> Any:
    if os.environ.get("SPLITBRAIN_PURE_PYTHON") == "1":
        return None
    try:
        module = importlib.import_module(f"checkers.elle.{name}")
    except ImportError:
        return None
    built = Path(str(module.__file__)).stat().st_mtime
    for source in (Path(__file__).with_name(f"{name}.c"), Path(__file__).with_name("_edges.h")):
        if source.exists() and source.stat().st_mtime > built:
            return None
    return module
