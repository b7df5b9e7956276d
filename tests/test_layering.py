"""Imports run one way only: checkers < systems (systems/control at its bottom) < workloads <
nemesis < reports < harness, as BRIEF.md and issue 14 lay it out.

A module may import its own layer and the layers below it; besides, systems (control included)
never import checkers or reports, and reports import nothing from systems, workloads, nemesis or
the harness (they work on a history file alone). Every import counts, at module level or inside
a function, absolute or relative: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("checkers", "systems", "workloads", "nemesis", "reports", "harness")
RANK = {"checkers": 0, "systems.control": 1, "systems": 2, "workloads": 3, "nemesis": 4,
        "reports": 5, "harness": 6}
# Layers a layer must not import even where the order alone would let it.
FORBIDDEN = {
    "systems.control": {"checkers"},
    "systems": {"checkers"},
    "reports": {"systems", "systems.control", "workloads", "nemesis"},
}

# (file, layer it imports) -> why it is tolerated for now. Keep empty: a new entry needs an issue.
ALLOWED: dict[tuple[str, str], str] = {}


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] not in PACKAGES:
        return None  # the standard library or a third-party package
    if parts[:2] == ["systems", "control"]:
        return "systems.control"
    return parts[0]


def imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, at any depth."""
    rel = path.relative_to(root).with_suffix("")
    package = list(rel.parts[:-1])  # the package a relative import starts from
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
    return found


def violations(root: Path) -> list[str]:
    """`file:line: importer-layer imports imported-layer (module)` for each import against the
    order, except those ALLOWED."""
    bad = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            importer = layer_of(".".join(path.relative_to(root).with_suffix("").parts))
            assert importer is not None
            for line, module in imported_modules(path, root):
                imported = layer_of(module)
                if imported is None or imported == importer:
                    continue
                if importer == "harness":
                    continue  # the harness composes everything
                against_order = RANK[imported] > RANK[importer]
                if (against_order or imported in FORBIDDEN.get(importer, set())) \
                        and (rel, imported) not in ALLOWED:
                    bad.append(f"{rel}:{line}: {importer} imports {imported} ({module})")
    return bad


def test_imports_run_down_the_layers() -> None:
    bad = violations(ROOT)
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


def test_nothing_below_the_harness_imports_it() -> None:
    """The issue's figures: 0 imports from systems/ or nemesis/ into harness/, 0 from systems/
    into nemesis/ (allowed exceptions aside)."""
    counts = {"systems->harness": 0, "nemesis->harness": 0, "systems->nemesis": 0}
    for package in ("systems", "nemesis"):
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            for _, module in imported_modules(path, ROOT):
                target = module.split(".")[0]
                key = f"{package}->{target}"
                if key in counts and (rel, layer_of(module)) not in ALLOWED:
                    counts[key] += 1
    assert counts == {"systems->harness": 0, "nemesis->harness": 0, "systems->nemesis": 0}


@pytest.mark.parametrize("importer, source, expected", [
    ("systems/control/hosts.py", "import nemesis.base\n", "systems/control/hosts.py:1: systems.control imports nemesis"),
    ("systems/db.py", "def f():\n    from harness import cli\n", "systems/db.py:2: systems imports harness"),
    ("systems/db.py", "from checkers import base\n", "systems/db.py:1: systems imports checkers"),
    ("systems/control/net.py", "from .. import base\n", "systems/control/net.py:1: systems.control imports systems"),
    ("checkers/x.py", "import workloads.register\n", "checkers/x.py:1: checkers imports workloads"),
    ("reports/html.py", "\n\nfrom nemesis import spec\n", "reports/html.py:3: reports imports nemesis"),
    ("nemesis/net.py", "from harness.envs import LocalEnv\n", "nemesis/net.py:1: nemesis imports harness"),
])
def test_a_bad_import_is_named_by_file_and_line(tmp_path: Path, importer: str, source: str,
                                                expected: str) -> None:
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "systems" / "control").mkdir()
    (tmp_path / importer).write_text(source)
    (tmp_path / "harness" / "cli.py").write_text("import systems.control.hosts\nimport reports\n")
    (tmp_path / "systems" / "fine.py").write_text("from systems.control import hosts\nimport json\n")
    bad = violations(tmp_path)
    assert len(bad) == 1 and bad[0].startswith(expected), bad
