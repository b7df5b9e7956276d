"""Build step for the compiled checker core; everything else about the package is in pyproject.toml.

The linearizability checker's hot modules are plain, type-annotated Python that mypyc compiles to
C extensions (2-3x faster on small histories, where interpreter overhead is most of the cost), and
its search runs in a small C extension (checkers/linearizable/_wgl.c) over integer-encoded states.
Compiling is optional: without a C compiler, or with SPLITBRAIN_PURE_PYTHON=1, the same modules
run interpreted and give the same verdicts. checkers/native.py decides at import time which of
the two is used.
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# Keep in step with checkers/native.py's COMPILED.
COMPILED = [
    "checkers/history.py",
    "checkers/models.py",
    "checkers/linearizable/partition.py",
    "checkers/linearizable/search.py",
    "checkers/linearizable/sequential.py",
    "checkers/linearizable/evidence.py",
    "checkers/linearizable/checker.py",
    "checkers/linearizable/kernel.py",
    "checkers/elle/transactions.py",
    "checkers/elle/list_append.py",
    "checkers/elle/rw_register.py",
    "checkers/elle/orders.py",
    "checkers/elle/graph.py",
    "checkers/delivery/ops.py",
    "checkers/delivery/logs.py",
    "checkers/delivery/cycles.py",
    "checkers/delivery/log_cases.py",
    "checkers/delivery/order_cases.py",
    "checkers/delivery/groups.py",
]
# The search itself, in C (kernel.py feeds it); used only together with the compiled core.
NATIVE_SEARCH = Extension("checkers.linearizable._wgl", ["checkers/linearizable/_wgl.c"],
                          extra_compile_args=["-O2"])
# The EDN reader's fast path (checkers/edn.py uses it when built, with or without mypyc).
NATIVE_EDN = Extension("checkers._edn", ["checkers/_edn.c"], extra_compile_args=["-O2"])
# history.jsonl's fast path (checkers/history.py uses it when built, with or without mypyc).
NATIVE_JSONL = Extension("checkers._jsonl", ["checkers/_jsonl.c"], depends=["checkers/_prefetch.h"],
                         extra_compile_args=["-O2"])
# Python's object arenas faulted in 16 MiB at a time, for `splitbrain check` of a big history
# (harness/cli.py installs it; without it, the same arenas come page fault by page fault).
NATIVE_ARENAS = Extension("checkers._arenas", ["checkers/_arenas.c"], extra_compile_args=["-O2"])
# The elle checker's graph kernels and list-append loops, in C (each has a Python twin that runs
# without it: checkers/elle/native.py).
ELLE_GRAPH = Extension("checkers.elle._graph", ["checkers/elle/_graph.c"],
                       depends=["checkers/elle/_edges.h", "checkers/_prefetch.h"],
                       extra_compile_args=["-O2"])
ELLE_APPEND = Extension("checkers.elle._append", ["checkers/elle/_append.c"],
                        depends=["checkers/elle/_edges.h", "checkers/_prefetch.h"],
                        extra_compile_args=["-O2"])


class OptionalBuildExt(build_ext):
    """A failed compile leaves the pure-Python modules in charge instead of failing the install."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler, missing headers: the interpreted core still works
            self._skip(exc)

    def build_extension(self, ext) -> None:  # type: ignore[no-untyped-def]
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._skip(exc)

    @staticmethod
    def _skip(exc: Exception) -> None:
        print(f"splitbrain: compiled checker core not built ({exc}); the pure-Python one is used",
              file=sys.stderr)


def compiled_extensions() -> list:
    if os.environ.get("SPLITBRAIN_PURE_PYTHON") == "1":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("splitbrain: mypyc not available; the checker core stays pure Python",
              file=sys.stderr)
        return [NATIVE_EDN, NATIVE_JSONL, NATIVE_ARENAS]
    try:
        # group_name: the shared library checkers/native.py looks for (SHARED)
        return mypycify(COMPILED, opt_level="3",
                        group_name="splitbrain_checkers_core") + [NATIVE_SEARCH, NATIVE_EDN,
                                                                  NATIVE_JSONL, ELLE_GRAPH,
                                                                  ELLE_APPEND, NATIVE_ARENAS]
    except (Exception, SystemExit) as exc:  # mypyc exits on a type error it cannot compile
        print(f"splitbrain: mypyc refused the checker core ({exc}); it stays pure Python",
              file=sys.stderr)
        return [NATIVE_EDN, NATIVE_JSONL, NATIVE_ARENAS]


setup(ext_modules=compiled_extensions(), cmdclass={"build_ext": OptionalBuildExt})
