"""The elle checker's C extensions (_graph.c, _append.c), when they are built and current.

Each has a pure-Python twin that gives the same results (tests compare them): the C one is used
unless it was not built, SPLITBRAIN_PURE_PYTHON=1 asks for Python, or its source is newer than
its build (an edited checkout must not run old code).
"""

from __future__ import annotations

from typing import Any

from checkers.native import c_extension

_loaded: dict[str, Any] = {}


def extension(name: str) -> Any:
    """The module checkers.elle.<name>, or None when the Python twin is to run."""
    if name not in _loaded:
        _loaded[name] = c_extension(f"checkers.elle.{name}", depends=("_edges.h", "../_prefetch.h"))
    return _loaded[name]
