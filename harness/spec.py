"""The test spec: a run described as plain data, written to test.json so it can be run again.

The seed fixes the schedule of faults and the generated operations and values; the interleavings
are real (threads, sockets, processes) and differ between runs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from harness.errors import UsageError


@dataclass(frozen=True)
class TestSpec:
    system: str
    workload: str = "register"
    nemesis: tuple[str, ...] = ("kill", "pause")
    nodes: int = 3
    concurrency: int = 6
    time_limit: float = 30.0
    rate: float = 100.0
    seed: int = 0
    env: str = "local"
    bugs: tuple[str, ...] = ()
    store: str = "store"
    name: str = ""
    nemesis_interval: float = 10.0
    op_timeout: float = 5.0
    options: dict[str, str] = field(default_factory=dict)
    nemesis_overlap: bool = False  # faults may overlap (default: one at a time)
    # Environment settings: the lab subnet (env netns) and the SSH hosts and login (env ssh).
    subnet: str = ""
    hosts: tuple[str, ...] = ()
    ssh_user: str = "root"
    ssh_key: str = ""
    ssh_port: int = 22
    accept_new_host_keys: bool = False
    # Filled in when the run starts, so test.json says exactly what ran:
    checkers: tuple[dict[str, Any], ...] = ()
    schedule: tuple[dict[str, Any], ...] = ()
    command: str = ""

    def run_name(self) -> str:
        if self.name:
            return self.name
        suffix = "-" + "+".join(self.bugs) if self.bugs else ""
        return f"{self.system}-{self.workload}{suffix}"

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("nemesis", "bugs", "checkers", "schedule", "hosts"):
            d[k] = list(d[k])
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any], where: str = "test.json") -> "TestSpec":
        if not isinstance(d, dict) or "system" not in d:
            raise UsageError(f"{where}: not a splitbrain test spec (no \"system\")")
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in known}
        for k in ("nemesis", "bugs", "checkers", "schedule", "hosts"):
            if k in kwargs:
                kwargs[k] = tuple(kwargs[k] or ())
        try:
            spec = cls(**kwargs)
        except TypeError as e:
            raise UsageError(f"{where}: {e}") from None
        return spec.validated(where)

    @classmethod
    def load(cls, path: str | Path) -> "TestSpec":
        """The spec in a run's test.json; `path` may name the run directory itself."""
        path = Path(path)
        if path.is_dir():
            if not (path / "test.json").is_file():
                raise UsageError(f"{path}: a directory without test.json (not a run directory)")
            path = path / "test.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise UsageError(f"{path}: no such file") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise UsageError(f"{path}: not valid JSON ({e})") from None
        except OSError as e:
            raise UsageError(f"{path}: cannot be read ({e.strerror})") from None
        return cls.from_json(data, str(path))

    def validated(self, where: str = "arguments") -> "TestSpec":
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise UsageError(f"{where}: {msg}")

        need(isinstance(self.nodes, int) and 1 <= self.nodes <= 64, "--nodes must be 1..64")
        need(isinstance(self.concurrency, int) and 1 <= self.concurrency <= 1000,
             "--concurrency must be 1..1000")
        need(_number(self.time_limit) and 0 < self.time_limit <= 86400,
             "--time-limit must be seconds, > 0")
        need(_number(self.rate) and 0 < self.rate <= 100000, "--rate must be ops/s, > 0")
        need(isinstance(self.seed, int), "--seed must be an integer")
        need(_number(self.nemesis_interval) and self.nemesis_interval > 0,
             "--nemesis-interval must be seconds, > 0")
        need(_number(self.op_timeout) and self.op_timeout > 0, "--op-timeout must be > 0")
        need(isinstance(self.ssh_port, int) and 1 <= self.ssh_port <= 65535,
             "--ssh-port must be 1..65535")
        need(all(isinstance(h, str) and h for h in self.hosts), "--hosts must be host names")
        return self

    def with_(self, **changes: Any) -> "TestSpec":
        return replace(self, **changes)


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)
