"""checkers/_arenas.c, the arena allocator `splitbrain check` installs before a big history:
objects are where they always were to Python, so a check's result is the same with it as
without, and arenas freed are reused rather than carved anew."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from checkers.native import c_extension

pytestmark = pytest.mark.skipif(c_extension("checkers._arenas") is None,
                                reason="checkers/_arenas.c is not built")

GENERATE = Path(__file__).resolve().parents[2] / "bench" / "elle" / "generate.py"
CHECK = """
import json, sys
from checkers.elle import ElleChecker
from checkers.formats import read_history
from checkers.native import c_extension

arenas = c_extension("checkers._arenas")
if sys.argv[1] == "install":
    assert arenas.install() is True and arenas.install() is True  # a second call changes nothing
result = ElleChecker().check(read_history(sys.argv[2]))
result.pop("elapsed_s"), result["cycle_search"].pop("seconds", None)
carved = [arenas.carved()]
for _ in range(4):  # make and drop 20-odd MiB of objects: freed arenas come back
    garbage = [[i] for i in range(200_000)]
    del garbage
    carved.append(arenas.carved())
print(json.dumps({"result": result, "carved": carved}, default=str, sort_keys=True))
"""


def test_a_check_is_the_same_with_the_arenas_and_freed_arenas_are_reused(tmp_path):
    path = tmp_path / "gsi.jsonl"
    subprocess.run([sys.executable, str(GENERATE), str(path), "--txns", "3000",
                    "--snapshot-isolation", "--snapshot-lag", "50"], check=True, timeout=120)
    runs = {}
    for how in ("install", "default"):
        p = subprocess.run([sys.executable, "-c", CHECK, how, str(path)], capture_output=True,
                           text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        runs[how] = json.loads(p.stdout)
    assert runs["install"]["result"] == runs["default"]["result"]
    assert runs["install"]["result"]["valid"] is False  # G2-item: the evidence is compared too
    assert runs["default"]["carved"] == [0] * 5
    carved = runs["install"]["carved"]
    assert carved[0] > 0
    assert carved[-1] - carved[1] <= 2 << 20, carved  # the later rounds reuse the first's arenas
