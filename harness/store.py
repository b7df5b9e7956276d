"""The run store: store/<name>/<timestamp>/ per run, and store/latest pointing at the newest.

test.json is written and `latest` moved when a run starts, so a run that was killed can still be
found and checked. Layout: docs/contracts.md.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.errors import EnvironmentFailure, UsageError


def create_run_dir(store: str | Path, name: str) -> Path:
    """A new, absolute run directory. The store is resolved here, once: systems derive every node
    path (config files, data directories) from the run directory, and a relative one would mean
    something else to a server started in another working directory."""
    store = Path(store).resolve()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    run_dir = store / name / stamp
    try:
        run_dir.mkdir(parents=True)
        (run_dir / "nodes").mkdir()
    except OSError as e:
        raise EnvironmentFailure(f"cannot create the run directory {run_dir}: {e.strerror}") from None
    point_latest(store, run_dir)
    return run_dir


def point_latest(store: Path, run_dir: Path) -> None:
    """Atomically replace store/latest with a relative link to run_dir."""
    link = store / "latest"
    tmp = store / f".latest.{os.getpid()}"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.path.relpath(run_dir, store))
        os.replace(tmp, link)
    except OSError as e:
        raise EnvironmentFailure(f"cannot update {link}: {e.strerror}") from None


def write_json(path: Path, data: Any) -> None:
    """Write via a temporary file and rename, so a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=repr) + "\n")
    os.replace(tmp, path)


def find_run_dir(path: str | Path) -> Path:
    """A run directory from a path to it, to a file in it, or to a store (meaning its latest)."""
    p = Path(path)
    if p.is_file():
        p = p.parent
    if (p / "latest").exists() and not (p / "history.jsonl").exists():
        p = p / "latest"
    if not p.exists():
        raise UsageError(f"{path}: no such run directory")
    if not (p / "history.jsonl").exists():
        raise UsageError(f"{path}: not a run directory (no history.jsonl)")
    return p.resolve()
