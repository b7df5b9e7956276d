"""Benchmark: splitbrain's linearizability checker against Porcupine on Porcupine's own histories,
plus a generated 1,000,000-operation register history.

    python bench/linearizability/run.py [--skip-million] [--verbose-cap-gib 4] [--ops N]
                                        [--repeats 9] [--python VENV_PYTHON]

First it installs splitbrain from this checkout into a new virtualenv (as a user would, `pip
install` of the checkout; `--python` reuses the interpreter of an existing install instead) and
says how long that took and which checker core the install runs.

The headline, per group: the whole process as a user runs it, `splitbrain check --model M
FILES...` started from a directory outside the checkout, against Porcupine's whole process on
the same files (the program in porcupine/), both timed from fork to exit. Second column, per
group: the in-process check time (parsing, including the pairing of invocations with
completions, excluded on both sides) and peak RSS; the ratio ours/Porcupine of check times
(against Porcupine's fast check, which answers the verdict only and stops at the first failing
partition, while ours reports every failing partition with evidence); and Porcupine's verbose
check, run under an RSS cap and a timeout so it cannot eat the machine. Both sides drop failed
ops. Groups Porcupine checks in under a second are run --repeats times on each side
(alternating); the medians and the range of the per-run ratios are printed.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PEER = ROOT / ".." / "shared" / "peer-data" / "porcupine" / "test_data"
GO_DIR = HERE / "porcupine"
QUICK_S = 1.0  # groups Porcupine checks faster than this are run --repeats times, medians shown


def groups() -> list[tuple[str, str, bool, list[Path]]]:
    """(name, model, split by key, files)."""
    etcd = sorted((PEER / "jepsen").glob("etcd_*.log"))
    kv = PEER / "kv"
    pair = lambda c: [kv / f"{c}-ok.txt", kv / f"{c}-bad.txt"]  # noqa: E731
    return [
        ("etcd set (103 files)", "cas-register", True, etcd),
        ("kv per key c01", "kv", True, pair("c01")),
        ("kv per key c10", "kv", True, pair("c10")),
        ("kv per key c50", "kv", True, pair("c50")),
        ("kv un-partitioned c01", "kv", False, pair("c01")),
        ("kv un-partitioned c10", "kv", False, pair("c10")),
    ]


def whole_groups() -> list[tuple[str, str, bool, list[Path]]]:
    """The groups of the whole-process comparison: what a user checks in one command."""
    etcd, c01, c10, c50 = (g[3] for g in groups()[:4])
    return [
        ("etcd set (103 files)", "cas-register", True, etcd),
        ("kv c50 ok+bad", "kv", True, c50),
        ("kv c01+c10 one batch", "kv", True, c01 + c10),
        # a directory of small histories: 25 copies of each c01/c10 file, 100 files
        ("kv c01+c10 x25 batch", "kv", True, (c01 + c10) * 25),
    ]


def run_measured(cmd: list[str], timeout: float | None = None,
                 rss_cap_kib: int | None = None, cwd: Path = ROOT) -> dict:
    """Run cmd; wall time from start to exit, peak RSS (KiB, the child and the workers it waited
    for), stdout, stderr, and whether it was killed for the RSS cap or the timeout. Without a cap
    or a timeout the wait blocks, so the wall time is exact; with one, it polls every 5 ms."""
    import threading

    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=cwd)
    streams: dict[str, str] = {}
    readers = [threading.Thread(target=lambda n=name, f=pipe: streams.__setitem__(n, f.read()),
                                daemon=True)
               for name, pipe in (("out", proc.stdout), ("err", proc.stderr))]
    for reader in readers:
        reader.start()
    killed = None
    peak_seen = 0
    if timeout is None and rss_cap_kib is None:
        _, status, usage = os.wait4(proc.pid, 0)
    else:
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            rss = _rss_kib(proc.pid)
            peak_seen = max(peak_seen, rss)
            if rss_cap_kib and rss > rss_cap_kib:
                killed = f"killed at {rss / 2**20:.1f} GiB"
                proc.kill()
            elif timeout and time.perf_counter() - started > timeout:
                killed = f"timed out after {timeout:.0f} s (RSS then {rss / 2**20:.2f} GiB)"
                proc.kill()
            time.sleep(0.005)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join(5)
    return {"wall_s": wall, "peak_kib": max(usage.ru_maxrss, peak_seen),
            "stdout": streams.get("out", ""), "stderr": streams.get("err", ""),
            "killed": killed, "rc": proc.returncode}


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def build_porcupine() -> Path:
    binary = Path(tempfile.gettempdir()) / "splitbrain-porcupine-bench"
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=GO_DIR, check=True)
    return binary


def ours_worker(model: str, split: bool, files: list[str]) -> None:
    """In a child process: check files, print {"check_s", "verdicts"} (parsing excluded)."""
    from checkers.formats import read_history
    from checkers.linearizable import LinearizabilityChecker
    histories = [read_history(f) for f in files]
    for h in histories:
        h.operations()  # pairing invokes with completions is parsing, as in Porcupine's reader
    checker = LinearizabilityChecker(model, split_keys=split)
    total = 0.0
    verdicts = []
    for h in histories:
        t = time.perf_counter()
        r = checker.check(h)
        total += time.perf_counter() - t
        verdicts.append(r["valid"])
    print(json.dumps({"check_s": total, "verdicts": verdicts}))


def porcupine_cmd(binary: Path, model: str, split: bool, files: list[Path], verbose: bool,
                  timeout_s: float) -> list[str]:
    cmd = [str(binary), "-model", model, "-timeout", f"{timeout_s}s"]
    if not split:
        cmd.append("-nopartition")
    if verbose:
        cmd.append("-verbose")
    return cmd + [str(f) for f in files]


def porcupine_check_s(run: dict) -> tuple[float, list[str]]:
    rows = [json.loads(line) for line in run["stdout"].splitlines() if line.strip()]
    return sum(r["check_s"] for r in rows), [r["result"] for r in rows]


def gib(kib: int) -> str:
    return f"{kib / 2**20:.2f} GiB" if kib >= 2**20 else f"{kib / 1024:.0f} MiB"


def checker_core(python: Path) -> str:
    """Which checker core the install runs (checkers/native.py), asked from outside the checkout."""
    with tempfile.TemporaryDirectory() as outside:
        out = subprocess.run([str(python), "-c", "import checkers.native as n; "
                              "print(*n.core(), sep=': ')"], cwd=outside, capture_output=True,
                             text=True)
    return (out.stdout.strip() or out.stderr.strip()) + (f"; {out.stderr.strip()}"
                                                         if out.stdout and out.stderr else "")


def fresh_install(python: str | None) -> tuple[Path, str]:
    """The interpreter of an install of this checkout, and how it came to be: by default a new
    virtualenv into which `pip install` puts the checkout, as a user's first install does."""
    if python:
        return Path(python), f"the install of {python}"
    venv = Path(tempfile.mkdtemp(prefix="splitbrain-bench-venv-"))
    atexit.register(shutil.rmtree, venv, True)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                    "--disable-pip-version-check", str(ROOT)], check=True)
    return venv / "bin" / "python", (f"a new virtualenv, `pip install` of the checkout took "
                                     f"{time.perf_counter() - started:.0f} s")


def our_verdicts(stdout: str) -> list[str]:
    """Per file, from `splitbrain check`'s lines (FILE<TAB>valid|INVALID|unknown<TAB>...)."""
    words = {"valid": "ok", "INVALID": "illegal", "unknown": "unknown"}
    return [words[cols[1]] for cols in (line.split("\t") for line in stdout.splitlines())
            if len(cols) >= 2 and cols[1] in words]


def compare_whole(python: Path, binary: Path, repeats: int) -> None:
    """The headline: whole processes, as a user runs them, from a directory outside the checkout."""
    splitbrain = python.parent / "splitbrain"
    print("whole process, `splitbrain check` vs Porcupine's program, started from a directory "
          "outside the checkout")
    print(f"{'group':24} {'ours wall':>10} {'ours RSS':>9} | {'porc wall':>10} {'porc RSS':>9} | "
          f"{'ratio':>6} | {'ratio range':>11}")
    with tempfile.TemporaryDirectory() as outside:
        for name, model, split, files in whole_groups():
            ours_cmd = [str(splitbrain), "check", "--model", model] + \
                ([] if split else ["--no-split"]) + [str(f) for f in files]
            porc_cmd = porcupine_cmd(binary, model, split, files, False, 600)
            runs: list[tuple[dict, dict]] = []
            while len(runs) < repeats:
                ours = run_measured(ours_cmd, cwd=Path(outside))
                porc = run_measured(porc_cmd, cwd=Path(outside))
                if ours["rc"] not in (0, 1, 2):
                    print(name, "ours failed:", ours["stderr"][-500:])
                    break
                runs.append((ours, porc))
                if porc["wall_s"] > 5 * QUICK_S:
                    break
            if not runs:
                continue
            ratios = sorted(o["wall_s"] / p["wall_s"] for o, p in runs)
            o_wall = statistics.median(o["wall_s"] for o, _ in runs)
            p_wall = statistics.median(p["wall_s"] for _, p in runs)
            o_rss = max(o["peak_kib"] for o, _ in runs)
            p_rss = max(p["peak_kib"] for _, p in runs)
            agree = our_verdicts(runs[0][0]["stdout"]) == \
                [r.lower() for r in porcupine_check_s(runs[0][1])[1]]
            spread = f"{ratios[0]:.2f}-{ratios[-1]:.2f}" if len(runs) > 1 else "1 run"
            print(f"{name:24} {o_wall:9.3f}s {gib(o_rss):>9} | {p_wall:9.3f}s {gib(p_rss):>9} | "
                  f"{o_wall / p_wall:6.2f} | {spread:>11}{'' if agree else '  VERDICTS DIFFER'}")
            sys.stdout.flush()


def compare(python: Path, binary: Path, cap_gib: float, verbose_timeout: float,
            repeats: int) -> None:
    print("check only, parsing excluded, in one process per group")
    print(f"{'group':24} {'ours wall':>10} {'ours check':>11} {'ours RSS':>9} | "
          f"{'porc wall':>10} {'porc check':>11} {'porc RSS':>9} | {'ratio':>6} | "
          f"{'ratio range':>11} | porcupine verbose")
    for name, model, split, files in groups():
        ours_cmd = [str(python), str(Path(__file__)), "--ours-worker", model,
                    "1" if split else "0"] + [str(f) for f in files]
        fast_cmd = porcupine_cmd(binary, model, split, files, False, 600)
        runs: list[tuple[dict, dict, float, dict, float]] = []
        while True:
            ours = run_measured(ours_cmd)
            if ours["rc"] != 0:
                print(name, "ours failed:", ours["stderr"][-500:])
                break
            o = json.loads(ours["stdout"].strip().splitlines()[-1])
            fast = run_measured(fast_cmd)
            p_check, p_results = porcupine_check_s(fast)
            runs.append((ours, o, o["check_s"], fast, p_check))
            # a group checked in well under a second is at the mercy of the scheduler: the
            # median of several runs of each side says more than one draw
            if len(runs) >= repeats or p_check > QUICK_S:
                break
        if not runs:
            continue
        ratios = sorted(r[2] / r[4] if r[4] > 0 else float("inf") for r in runs)
        ours, o, o_check, fast, p_check = sorted(runs, key=lambda r: r[2])[len(runs) // 2]
        o_check = statistics.median(r[2] for r in runs)
        p_check = statistics.median(r[4] for r in runs)
        verbose = run_measured(porcupine_cmd(binary, model, split, files, True, verbose_timeout),
                               timeout=verbose_timeout + 5,
                               rss_cap_kib=int(cap_gib * 2**20))
        if verbose["killed"]:
            v_text = verbose["killed"]
        else:
            v_check, _ = porcupine_check_s(verbose)
            v_text = f"{v_check:.3f} s check, {gib(verbose['peak_kib'])}"
        ours_v = ["ok" if v is True else "illegal" if v is False else "unknown"
                  for v in o["verdicts"]]
        agree = [a.lower() for a in porcupine_check_s(fast)[1]] == ours_v
        ratio = o_check / p_check if p_check > 0 else float("inf")
        spread = f"{ratios[0]:.2f}-{ratios[-1]:.2f}" if len(runs) > 1 else "1 run"
        print(f"{name:24} {ours['wall_s']:9.3f}s {o_check:10.4f}s "
              f"{gib(ours['peak_kib']):>9} | "
              f"{fast['wall_s']:9.3f}s {p_check:10.4f}s {gib(fast['peak_kib']):>9} | "
              f"{ratio:6.2f} | {spread:>11} | {v_text}{'' if agree else '  VERDICTS DIFFER'}")
        sys.stdout.flush()


def generate_register_history(path: Path, ops: int, keys: int = 100, processes: int = 20,
                              info_rate: float = 0.01, seed: int = 7) -> None:
    """A linearizable register history: processes invoke read/write/cas on random keys; each op
    takes effect at its completion instant; 1% end as info (half of them took effect). A process
    whose op ended info is retired and replaced by a fresh process number, as in Jepsen."""
    rng = random.Random(seed)
    value: dict[int, int | None] = {}
    proc_ids = list(range(processes))
    busy: dict[int, tuple] = {}
    next_value = 1
    index = 0
    t = 0
    done = 0
    with open(path, "w") as fh:
        write = fh.write
        while done < ops or busy:
            slot = rng.randrange(processes)
            t += rng.randint(1, 1000)
            p = proc_ids[slot]
            if slot not in busy:
                if done + len(busy) >= ops:
                    if not busy:
                        break
                    continue
                key = rng.randrange(keys)
                r = rng.random()
                if r < 0.5:
                    f, v = "read", None
                elif r < 0.8:
                    f, v = "write", next_value
                    next_value += 1
                else:
                    expected = (value.get(key) if rng.random() < 0.7
                                else rng.randint(1, next_value))
                    f, v = "cas", [expected, next_value]
                    next_value += 1
                busy[slot] = (f, key, v)
                write(json.dumps({"index": index, "time": t, "process": p, "type": "invoke",
                                  "f": f, "key": f"k{key}", "value": v}) + "\n")
                index += 1
                continue
            f, key, v = busy.pop(slot)
            done += 1
            info = rng.random() < info_rate
            applies = not info or rng.random() < 0.5
            out_type, out_value = "ok", v
            if f == "read":
                out_value = value.get(key)
            elif f == "write":
                if applies:
                    value[key] = v
            else:
                if value.get(key) == v[0]:
                    if applies:
                        value[key] = v[1]
                else:
                    out_type = "fail"
            if info:
                out_type = "info"
                out_value = v
                proc_ids[slot] = p + processes
            write(json.dumps({"index": index, "time": t, "process": p, "type": out_type,
                              "f": f, "key": f"k{key}", "value": out_value}) + "\n")
            index += 1


def million(python: Path, ops: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.jsonl"
        t = time.perf_counter()
        generate_register_history(path, ops)
        print(f"generated {ops:,} ops ({path.stat().st_size / 2**20:.0f} MiB) in "
              f"{time.perf_counter() - t:.1f} s")
        whole = run_measured([str(python.parent / "splitbrain"), "check", "--model",
                              "cas-register", str(path)], cwd=Path(tmp))
        verdict = (whole["stdout"].split("\t") + ["?", "?"])[1]
        print(f"1M register history, whole process (`splitbrain check --model cas-register`): "
              f"{whole['wall_s']:.1f} s, peak RSS {gib(whole['peak_kib'])}, {verdict}")
        run = run_measured([str(python), str(Path(__file__)), "--million-worker", str(path)])
        if run["rc"] != 0:
            print("million check failed:", run["stderr"][-800:])
            return
        r = json.loads(run["stdout"].strip().splitlines()[-1])
        print(f"  in one process: read {r['read_s']:.1f} s, check {r['check_s']:.1f} s "
              f"(valid={r['valid']}, {r['partitions']} partitions), that process "
              f"{run['wall_s']:.1f} s, peak RSS {gib(run['peak_kib'])}")


def million_worker(path: str) -> None:
    from checkers.formats import read_history
    from checkers.linearizable import LinearizabilityChecker
    t = time.perf_counter()
    h = read_history(path)
    h.operations()
    read_s = time.perf_counter() - t
    t = time.perf_counter()
    r = LinearizabilityChecker("cas-register").check(h)
    check_s = time.perf_counter() - t
    print(json.dumps({"read_s": read_s, "check_s": check_s, "valid": r["valid"],
                      "partitions": r["partitions"]}))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--ours-worker":
        ours_worker(sys.argv[2], sys.argv[3] == "1", sys.argv[4:])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--million-worker":
        million_worker(sys.argv[2])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-million", action="store_true")
    ap.add_argument("--ops", type=int, default=1_000_000)
    ap.add_argument("--verbose-cap-gib", type=float, default=4.0)
    ap.add_argument("--verbose-timeout", type=float, default=120.0)
    ap.add_argument("--repeats", type=int, default=9,
                    help="runs of each side for groups Porcupine checks in under a second")
    ap.add_argument("--python", default=None,
                    help="the interpreter of an existing install of splitbrain to measure "
                         "(default: a new virtualenv with this checkout installed)")
    args = ap.parse_args()
    if not PEER.is_dir():
        sys.exit(f"peer data not found at {PEER.resolve()}")
    binary = build_porcupine()
    python, how = fresh_install(args.python)
    print(f"splitbrain: {how}; checker core: {checker_core(python)}")
    compare_whole(python, binary, args.repeats)
    print()
    compare(python, binary, args.verbose_cap_gib, args.verbose_timeout, args.repeats)
    if not args.skip_million:
        million(python, args.ops)


if __name__ == "__main__":
    main()
