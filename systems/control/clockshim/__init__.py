"""Clock skew: build the LD_PRELOAD clock shim, start processes under it, move their clocks.

A process started with `env_for(offset_file, shim)` in its environment reads the wall clock
through clockshim.c, which adds the offset (milliseconds) written in `offset_file`. Writing a new
offset with `set_offset(host, offset_file, ms)` moves that process's clock within about 20 ms,
while it runs. Only the realtime clocks move; monotonic time stays true, as with a real NTP step.

Time namespaces cannot do this (they shift only the monotonic and boot clocks) and libfaketime
breaks Redis (see docs/hosts-and-faults.md), hence the shim.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
from pathlib import Path

from systems.control.hosts import CommandError, Host, HostError, run_checked

SOURCE = Path(__file__).with_name("clockshim.c")
CLOCK_FILE_ENV = "SPLITBRAIN_CLOCK_FILE"


class ClockShimError(RuntimeError):
    """The clock shim could not be built or its offset could not be set."""


def build_shim(cache_dir: Path | str) -> Path:
    """Compile clockshim.c into `cache_dir`, named by the source's hash; reuse it if present."""
    source = SOURCE.read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    cache = Path(cache_dir)
    target = cache / f"clockshim-{digest}.so"
    if target.exists():
        return target
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise ClockShimError("building the clock shim needs gcc (Debian package gcc)")
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".clockshim-{digest}-{os.getpid()}.so"  # concurrent builders never clash
    p = subprocess.run([compiler, "-O2", "-fPIC", "-shared", "-Wall", "-Wextra", "-o", str(tmp),
                        str(SOURCE)], capture_output=True, text=True)
    if p.returncode != 0:
        tmp.unlink(missing_ok=True)
        first = (p.stderr.strip().splitlines() or ["no output"])[0]
        raise ClockShimError(f"gcc could not build the clock shim: {first}")
    os.replace(tmp, target)
    return target


def env_for(offset_file: Path | str, shim: Path | str) -> dict[str, str]:
    """Environment entries that put a process under the shim, reading `offset_file`."""
    return {"LD_PRELOAD": str(shim), CLOCK_FILE_ENV: str(offset_file)}


def set_offset(host: Host, offset_file: Path | str, ms: int) -> None:
    """Make every shimmed process reading `offset_file` on `host` run `ms` milliseconds off.

    The file is replaced atomically (write, then rename), so a reader never sees half a number.
    0 restores the true time.
    """
    path = str(offset_file)
    tmp = f"{path}.tmp"
    script = f"mkdir -p {shlex.quote(os.path.dirname(path) or '.')} && cat > {shlex.quote(tmp)} " \
             f"&& mv -f {shlex.quote(tmp)} {shlex.quote(path)}"
    try:
        run_checked(host, ["sh", "-c", script], input=f"{int(ms)}\n", timeout=15)
    except CommandError as e:
        raise ClockShimError(f"cannot set the clock offset on {host.name}: {e.why}") from None
    except HostError as e:
        raise ClockShimError(f"cannot set the clock offset on {host.name}: {e}") from None
