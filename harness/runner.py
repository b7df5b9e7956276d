"""The runner: one test from setup to verdict, under trio structured concurrency.

Phases: setup (the system says when it is ready), main (one task per client worker, one for the
nemesis, one for the live display, until the time limit), heal (every active fault undone, then
wait until the system answers again: a health condition, not a sleep), final reads (so lost writes
show up), teardown, and checking of the history as read back from disk.

Ctrl-C (or SIGTERM) at any point cancels the main phase; faults are still healed, every process the
run started is stopped, the history so far is kept, the checkers still run and the exit code says
what was found. A second Ctrl-C skips the waiting, never the cleanup.

Client libraries are blocking, so each operation runs in a thread under the op timeout; a call that
times out is recorded as `info`, abandoned (its late result discarded, its connection closed) and
its worker continues under a fresh process number, as in Jepsen.
"""

from __future__ import annotations

import math
import random
import shlex
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from checkers.base import exit_code_for
from harness import registry
from harness.checking import (checker_from_spec, read_history_file, run_checkers,
                              with_checker_options)
from harness.errors import EnvironmentFailure, SplitbrainError, UsageError
from harness.history import HistoryWriter
from harness.envs import check_environment, make_environment
from harness.live import LiveStatus
from harness.spec import TestSpec
from harness.store import create_run_dir, write_json
from nemesis.base import FaultError, resolve_params, resolve_target, validate
from nemesis.schedule import plan
from nemesis.spec import NemesisSpecError, parse_fault
from checkers.history import KNOWN_FIELDS
from systems.base import (ClusterContext, Completion, HasLeader, HealthCheck, Invocation, Offer,
                          SystemError_, parse_options)
from workloads.base import OpGenerator

# A client's extra facts never overwrite the history's own fields (or the run's "phase").
_RESERVED_FIELDS = frozenset(KNOWN_FIELDS) | {"phase"}
WORKLOAD_END = "workload-end"  # the f of the event marking when the clients stopped
HEAL_WAIT_S = 30.0  # how long the heal phase waits for the system to answer again
OPEN_RETRY_S = 0.5
FINAL_RETRY_S = 0.5


@dataclass
class Prepared:
    """Everything resolved from a spec before anything touches the machine."""

    spec: TestSpec
    system: Any
    workload: Any
    faults: dict[str, Any]  # spec string -> Fault instance
    generator: OpGenerator


@dataclass
class RunOutcome:
    run_dir: Path
    valid: Any
    exit_code: int
    interrupted: bool
    results: dict[str, Any]


def prepare(spec: TestSpec, argv: list[str] | None = None) -> Prepared:
    """Resolve names and check the spec; every problem here is a UsageError (exit 254)."""
    spec = spec.validated()
    env = make_environment(spec.env)  # an unknown environment is bad input, before anything starts
    check_environment(spec)
    system = registry.load("system", spec.system)()
    _check_installed(spec)
    workload = registry.load("workload", spec.workload)()
    offer: Offer = system.offer
    if offer.workloads is not None and spec.workload not in offer.workloads:
        raise UsageError(f"system {spec.system!r} has no workload {spec.workload!r}; "
                         f"it offers: {', '.join(offer.workloads)}")
    if offer.envs and spec.env not in offer.envs:
        raise UsageError(f"system {spec.system!r} needs --env {' or '.join(offer.envs)}, "
                         f"not {spec.env}")
    for bug in spec.bugs:
        if bug not in offer.bugs:
            raise UsageError(f"system {spec.system!r} has no bug {bug!r}; known: "
                             f"{', '.join(sorted(offer.bugs)) or 'none'}")
    given = _split_options(spec, offer)
    _check_system_options(spec, system, given.system)
    faults: dict[str, Any] = {}
    defaults: dict[str, dict[str, Any]] = {}
    try:
        for text in spec.nemesis:
            fs = parse_fault(text)
            fault = registry.load("nemesis", fs.fault)()
            validate(fault, fs, system, spec.nodes, env)
            faults[str(fs)] = fault
            defaults[str(fs)] = {"target": fs.target or fault.default_target,
                                 "params": resolve_params(fault, fs)}
        specs = [parse_fault(t) for t in spec.nemesis]
    except NemesisSpecError as e:
        raise UsageError(str(e)) from None
    options = workload_options(spec, workload, given.workload)
    try:  # built now so a bad workload option is refused before anything starts
        generator = workload.generator(options)
        workload_checkers = workload.checkers(options)
    except ValueError as e:
        raise UsageError(f"workload {spec.workload!r}: {e}") from None
    schedule = spec.schedule or tuple(plan(specs, defaults, spec.seed, spec.time_limit,
                                           spec.nemesis_interval, overlap=spec.nemesis_overlap))
    # A system may judge a workload differently (e.g. ZooKeeper: writes linearizable, reads only
    # sequentially consistent per session); otherwise the workload's own checkers apply.
    checkers = list(spec.checkers) or offer.checkers_for(spec.workload, workload_checkers)
    if given.checkers:  # e.g. --opt consistency=serializable, as `check --opt` takes it
        checkers = _with_checker_options(spec, offer, checkers, given.checkers)
    command = spec.command or (shlex.join(["splitbrain", *argv]) if argv else "")
    spec = spec.with_(schedule=tuple(schedule), checkers=tuple(checkers), command=command)
    return Prepared(spec, system, workload, faults, generator)


def _check_installed(spec: TestSpec) -> None:
    """Refuse a system whose client library (or, for nodes on this machine, whose servers) is not
    installed yet, with the command that installs it, before anything starts."""
    from harness.install import missing
    from harness.prereqs import LAB_DEBIAN_PACKAGES

    # env ssh: the servers are the hosts' to have; the lab's tools matter to env netns alone.
    lacking = missing(spec.system, debian=spec.env != "ssh",
                      ignore=() if spec.env == "netns" else LAB_DEBIAN_PACKAGES)
    if lacking:
        raise UsageError(f"{spec.system} is not installed yet (missing {', '.join(lacking)}): "
                         f"run `splitbrain install {spec.system}`")


WORKLOAD_OPTION = "workload."  # --opt workload.KEY=VALUE goes to the workload, not the system


@dataclass(frozen=True)
class _GivenOptions:
    """`run --opt KEY=VALUE` by whom it is for: the system (a key it declares), the workload
    (workload.KEY) or the run's checkers (any other key, as `check --opt` takes it)."""

    system: dict[str, str]
    workload: dict[str, str]
    checkers: dict[str, str]


def _split_options(spec: TestSpec, offer: Offer) -> _GivenOptions:
    system, workload, checkers = {}, {}, {}
    for key, value in spec.options.items():
        if key.startswith(WORKLOAD_OPTION):
            workload[key[len(WORKLOAD_OPTION):]] = value
        elif key in offer.options:
            system[key] = value
        else:
            checkers[key] = value
    return _GivenOptions(system, workload, checkers)


def workload_options(spec: TestSpec, workload: Any, given: dict[str, str]) -> dict[str, Any]:
    """The workload's settings, each declared option parsed once (defaults filled in), plus the
    run's concurrency; an undeclared name or a bad value is a UsageError."""
    declared = workload.options
    for key in given:
        if key not in declared:
            takes = ", ".join(WORKLOAD_OPTION + k for k in sorted(declared)) or "none"
            raise UsageError(f"workload {spec.workload!r} has no option "
                             f"{WORKLOAD_OPTION + key!r}; it takes: {takes}")
    try:
        return {"concurrency": spec.concurrency,
                **parse_options(declared, given, WORKLOAD_OPTION)}
    except ValueError as e:
        raise UsageError(f"--opt {e}") from None


def _check_system_options(spec: TestSpec, system: Any, given: dict[str, str]) -> None:
    offer: Offer = system.offer
    counts = offer.node_counts
    if counts and spec.nodes not in counts:
        raise UsageError(f"system {spec.system!r} runs on {' or '.join(map(str, counts))} nodes, "
                         f"not {spec.nodes}; pass --nodes {counts[0]}")
    try:
        parse_options(offer.options, given)  # each value once, by its declaration
    except ValueError as e:
        raise UsageError(f"--opt {e}") from None
    try:
        system.check_options({**{k: o.default for k, o in offer.options.items()}, **given})
    except ValueError as e:
        raise UsageError(f"system {spec.system!r}: {e}") from None


def _with_checker_options(spec: TestSpec, offer: Offer, checkers: list[dict[str, Any]],
                          given: dict[str, str]) -> list[dict[str, Any]]:
    """The run's checkers with the options meant for them; a key neither the system nor any of
    them takes is refused, naming what each does take."""
    try:
        checkers = with_checker_options(checkers, given)
    except UsageError as e:
        key = next(k for k in given if k in str(e))
        raise UsageError(f"system {spec.system!r} has no option {key!r}; it takes: "
                         f"{', '.join(sorted(offer.options)) or 'none'}; "
                         f"{str(e).partition(': ')[2]}") from None
    for checker in checkers:  # a value the checker refuses is refused before anything starts
        checker_from_spec(checker)
    return checkers


def execute(prepared: Prepared, live: LiveStatus | None = None) -> RunOutcome:
    """Run the test and check it. Raises SplitbrainError subclasses for setup failures."""
    spec = prepared.spec
    run_dir = create_run_dir(spec.store, spec.run_name())
    write_json(run_dir / "test.json", {**spec.to_json(), "run_dir": str(run_dir)})
    run = _Run(prepared, run_dir, live or LiveStatus(spec.time_limit, quiet=True))
    error: SplitbrainError | None = None
    try:
        trio.run(run.main)
    except SplitbrainError as e:
        error = e
    except BaseExceptionGroup as group:
        error = _first_user_error(group)
        if error is None:
            raise
    finally:
        run.writer.close()
    history = read_history_file(run_dir / "history.jsonl", "jsonl")
    results = run_checkers(history, list(spec.checkers), strict=False)
    results["interrupted"] = run.interrupted
    results["faults"] = run.fault_summary()
    results["run_dir"] = str(run_dir)
    if error is not None:
        results["error"] = str(error)
    write_json(run_dir / "results.json", results)
    try:
        from reports.html import render_report
        render_report(run_dir)
    except Exception as e:  # the verdict stands even if drawing it fails
        print(f"warning: could not render the report: {e}", file=sys.stderr)
    if error is not None:
        raise error
    return RunOutcome(run_dir, results["valid"], exit_code_for(results["valid"]),
                      run.interrupted, results)


@dataclass
class _ActiveFault:
    item: dict[str, Any]
    fault: Any
    targets: list[str]
    params: dict[str, Any] = field(default_factory=dict)  # the item's, plus resolved target shape
    started: dict[str, Any] = field(default_factory=dict)


class _Run:
    def __init__(self, prepared: Prepared, run_dir: Path, live: LiveStatus) -> None:
        self.p = prepared
        self.spec = prepared.spec
        self.run_dir = run_dir
        self.live = live
        self.writer = HistoryWriter(run_dir / "history.jsonl")
        self.nodes = [f"n{i + 1}" for i in range(self.spec.nodes)]
        self.env = make_environment(self.spec.env)
        self.ctx: ClusterContext | None = None  # opened in the setup phase
        self.generator = prepared.generator
        self.interrupted = False
        self.interrupts = 0
        self.main_scope = trio.CancelScope()
        self.heal_scope = trio.CancelScope()
        self.active: dict[int, _ActiveFault] = {}
        # Per fault spec: how often it was applied, and how often it found nothing to target.
        self.faults_ran: dict[str, int] = {}
        self.faults_skipped: dict[str, int] = {}
        self.next_process = self.spec.concurrency
        # Abandoned calls keep their thread until their connection is closed under them.
        self.limiter = trio.CapacityLimiter(max(40, 4 * self.spec.concurrency))

    # -- top level ---------------------------------------------------------------------------

    async def main(self) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._watch_signals, signals)
                try:
                    await self._phases()
                finally:
                    with trio.CancelScope(shield=True):
                        await self._teardown()
                    nursery.cancel_scope.cancel()

    async def _watch_signals(self, signals: Any) -> None:
        async for _ in signals:
            self.interrupts += 1
            self.interrupted = True
            self.live.note("interrupted: healing, stopping the cluster, checking what was recorded")
            self.main_scope.cancel()
            if self.interrupts > 1:
                self.heal_scope.cancel()

    async def _phases(self) -> None:
        self.live.phase("setup")
        self.ctx = await trio.to_thread.run_sync(self.env.open, self.spec, self.run_dir)
        if self.interrupted:
            return
        try:
            await trio.to_thread.run_sync(self.p.system.setup, self.ctx)
        except SystemError_ as e:
            raise EnvironmentFailure(f"{self.spec.system}: {e}") from None
        if self.interrupted:
            return
        self.live.phase("main")
        self.live.start()
        with self.main_scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.live.run, self.writer, self._nemesis_state)
                nursery.start_soon(self._nemesis)
                try:
                    async with trio.open_nursery() as workers:
                        for w in range(self.spec.concurrency):
                            workers.start_soon(self._worker, w)
                finally:
                    # When the clients stopped (time limit or Ctrl-C): a heal after this, or one
                    # whose bound reaches past it, has no clients to serve until the final reads.
                    self.writer.append("nemesis", "info", WORKLOAD_END,
                                       {"interrupted": self.interrupted})
                nursery.cancel_scope.cancel()
        self.live.phase("heal")
        with self.heal_scope:  # a second Ctrl-C cancels the waiting, never the cleanup
            await self._heal_all()
            await self._await_health(HEAL_WAIT_S)
            if self.interrupted:
                return
            self.live.phase("final reads")
            await self._final_reads()

    async def _teardown(self) -> None:
        self.live.phase("teardown")
        try:
            await self._heal_all()
        except Exception as e:  # teardown kills everything anyway
            self.live.note(f"heal during teardown failed: {e}")
        try:
            if self.ctx is not None:
                await trio.to_thread.run_sync(self.p.system.teardown)
        finally:
            await trio.to_thread.run_sync(self.env.close)
            self.live.stop()

    # -- clients -----------------------------------------------------------------------------

    def _fresh_process(self) -> int:
        p = self.next_process
        self.next_process += 1
        return p

    async def _open_client(self, node: str, deadline: float = math.inf) -> Any:
        """A connected client for the node, retried while the node is down (no op is recorded);
        None if the deadline passes first."""
        while trio.current_time() < deadline:
            client = self.p.system.client(self.spec.workload)
            try:
                with trio.fail_after(self.spec.op_timeout):
                    await trio.to_thread.run_sync(client.open, self.ctx, node,
                                                  abandon_on_cancel=True, limiter=self.limiter)
                return client
            except Exception:
                _close_quietly(client)
                await trio.sleep(OPEN_RETRY_S)
        return None

    async def _invoke(self, client: Any, process: int, inv: Invocation, node: str,
                      phase: str) -> Completion:
        self.writer.append(process, "invoke", inv.f, inv.value, key=inv.key, node=node, phase=phase)
        completion: Completion | None = None
        try:
            with trio.move_on_after(self.spec.op_timeout):
                completion = await trio.to_thread.run_sync(client.invoke, inv,
                                                            abandon_on_cancel=True,
                                                            limiter=self.limiter)
        except trio.Cancelled:
            self.writer.append(process, "info", inv.f, inv.value, key=inv.key, node=node,
                               error="interrupted", phase=phase)
            raise
        except Exception as e:  # a client bug: the outcome is unknown
            completion = Completion.info(f"client error: {type(e).__name__}: {e}")
        if completion is None:
            completion = Completion.info("timeout")
        if completion.type not in ("ok", "fail", "info"):
            completion = Completion.info(f"client returned type {completion.type!r}")
        value = completion.value if completion.type == "ok" or completion.value is not None \
            else inv.value
        extra = {k: v for k, v in (completion.extra or {}).items() if k not in _RESERVED_FIELDS}
        self.writer.append(process, completion.type, inv.f, value, key=inv.key, node=node,
                           error=completion.error, phase=phase, **extra)
        return completion

    async def _worker(self, w: int) -> None:
        node = self.nodes[w % len(self.nodes)]
        rng = random.Random(f"worker:{self.spec.seed}:{w}")
        deadline = self.live.started_at + self.spec.time_limit
        mean_gap = self.spec.concurrency / self.spec.rate
        process = w
        client = await self._open_client(node, deadline)
        try:
            while client is not None:
                # The pacing draws from the seed too, so the schedule of requests is reproducible.
                gap = rng.uniform(0, 2 * mean_gap)  # always drawn: the seeded schedule holds
                # A workload may pace itself (a lock hold, a sampling interval).
                delay = self.generator.next_delay_s(w)
                await trio.sleep(gap if delay is None else delay)
                if trio.current_time() >= deadline:
                    await self._wind_down(w, client, process, node)
                    return
                inv = self.generator.next_op(w, rng)
                if inv is None:
                    return
                inv = Invocation(process, inv.f, inv.value, inv.key)
                completion = await self._invoke(client, process, inv, node, "main")
                if completion.type == "info":
                    # Retire the process: its op may still be in flight, and a process has at most
                    # one op open. Close the connection so the abandoned call returns.
                    await _close_in_thread(client)
                    process = self._fresh_process()
                    client = await self._open_client(node, deadline)
        finally:
            await _close_in_thread(client)

    async def _wind_down(self, w: int, client: Any, process: int, node: str) -> None:
        for inv in self.generator.wind_down(w):
            c = await self._invoke(client, process, Invocation(process, inv.f, inv.value, inv.key),
                                   node, "main")
            if c.type == "info":
                return  # the process is retired; closing its client ends whatever it held

    async def _final_reads(self) -> None:
        ops = self.generator.final_ops()
        if not ops:
            return
        per_node: dict[str, list[Invocation]] = {n: [] for n in self.nodes}
        for i, inv in enumerate(ops):
            per_node[self.nodes[i % len(self.nodes)]].append(inv)

        window = max(30.0, 2 * self.spec.op_timeout * len(ops) / len(self.nodes))
        # Leave time for a last connection attempt (up to the op timeout) to end inside the window.
        connect_by = trio.current_time() + max(1.0, window - self.spec.op_timeout - 1)

        async def reader(node: str, invs: list[Invocation]) -> None:
            process = self._fresh_process()
            client = await self._open_client(node, connect_by)
            if client is None:
                # The node took no connection in the whole final phase: say so in the history,
                # or a system that never came back would leave no final read to fail.
                for inv in invs:
                    for type_, error in (("invoke", None), ("info", "no connection to the node")):
                        self.writer.append(process, type_, inv.f, inv.value, key=inv.key,
                                           node=node, error=error, phase="final")
                return
            try:
                for inv in invs:
                    # Retried until it succeeds (as Jepsen's final reads are): right after a heal
                    # a system may still hold an election, and a read is safe to repeat.
                    while True:
                        c = await self._invoke(client, process, Invocation(
                            process, inv.f, inv.value, inv.key), node, "final")
                        if c.type == "ok":
                            break
                        if c.type == "info":
                            await _close_in_thread(client)
                            process = self._fresh_process()
                            client = await self._open_client(node)
                        await trio.sleep(FINAL_RETRY_S)
            finally:
                await _close_in_thread(client)

        with trio.move_on_after(window):
            async with trio.open_nursery() as nursery:
                for node, invs in per_node.items():
                    if invs:
                        nursery.start_soon(reader, node, invs)

    # -- nemesis -----------------------------------------------------------------------------

    def fault_summary(self) -> dict[str, Any]:
        """Which of the faults the run was given ran, and how often (results.json "faults")."""
        given = [str(parse_fault(text)) for text in self.spec.nemesis]  # as the schedule names them
        return {"given": given,
                "planned": {g: sum(1 for i in self.spec.schedule if i["spec"] == g) for g in given},
                "ran": {g: self.faults_ran.get(g, 0) for g in given},
                "skipped": {g: n for g, n in self.faults_skipped.items() if n}}

    def _nemesis_state(self) -> str:
        if not self.spec.schedule:
            return "none"
        if not self.active:
            return "quiet"
        return ", ".join(f"{a.item['fault']} {'+'.join(a.targets)}" for a in self.active.values())

    async def _nemesis(self) -> None:
        if self.spec.nemesis_overlap:
            # Each fault on its own clock: one may start while another is still in force.
            async with trio.open_nursery() as nursery:
                for item in self.spec.schedule:
                    nursery.start_soon(self._one_fault, item)
            return
        for item in self.spec.schedule:
            await self._one_fault(item)

    async def _one_fault(self, item: dict[str, Any]) -> None:
        at = self.live.started_at + float(item["at"])
        if at >= self.live.started_at + self.spec.time_limit:
            return
        await trio.sleep_until(at)
        await self._start_fault(item)
        await trio.sleep(float(item["duration"]))
        await self._stop_fault(item["id"])

    async def _start_fault(self, item: dict[str, Any]) -> None:
        fault = self.p.faults[item["spec"]]
        base = {"fault": item["fault"], "id": item["id"], "spec": item["spec"]}
        with trio.CancelScope(shield=True):
            try:
                targets, shape = await trio.to_thread.run_sync(
                    resolve_target, fault, item["target"], self.nodes,
                    random.Random(item["target_seed"]), self.p.system)
            except FaultError as e:
                # Nothing to target right now (no leader): recorded, and the schedule goes on.
                self.writer.append("nemesis", "info", f"start-{item['fault']}",
                                   {**base, "targets": [], "skipped": str(e)})
                self.faults_skipped[item["spec"]] = self.faults_skipped.get(item["spec"], 0) + 1
                return
            value = {**base, "targets": targets, **shape}  # e.g. a partition's groups
            self.writer.append("nemesis", "invoke", f"start-{item['fault']}", value)
            active = _ActiveFault(item, fault, targets, params={**item["params"], **shape})
            self.active[item["id"]] = active
            try:
                active.started = await trio.to_thread.run_sync(
                    fault.start, self.p.system, self.ctx, targets, active.params)
            except Exception as e:
                self.writer.append("nemesis", "info", f"start-{item['fault']}",
                                   {**value, "error": str(e)})
                raise EnvironmentFailure(f"nemesis {item['spec']} on {', '.join(targets)} failed "
                                         f"to apply: {e}") from None
            self.writer.append("nemesis", "info", f"start-{item['fault']}",
                               {**value, **active.started})
            self.faults_ran[item["spec"]] = self.faults_ran.get(item["spec"], 0) + 1

    async def _stop_fault(self, fault_id: int, wait_health: bool = True) -> None:
        active = self.active.get(fault_id)
        if active is None:
            return
        item = active.item
        value = {"fault": item["fault"], "id": item["id"], "spec": item["spec"],
                 "targets": active.targets}
        with trio.CancelScope(shield=True):
            self.writer.append("nemesis", "invoke", f"stop-{item['fault']}", value)
            try:
                details = await trio.to_thread.run_sync(
                    active.fault.stop, self.p.system, self.ctx, active.targets, active.params,
                    active.started)
            except Exception as e:
                self.writer.append("nemesis", "info", f"stop-{item['fault']}",
                                   {**value, "error": str(e)})
                raise EnvironmentFailure(f"nemesis {item['spec']} could not be healed: {e}") from None
            del self.active[fault_id]
            # The completion below waits for the system's health; this is when the fault ended.
            details = {**details, "lifted_ns": self.writer.elapsed_ns()}
        recovery = None
        try:
            recovery = await self._await_health(HEAL_WAIT_S) if wait_health else None
        finally:
            # The heal happened even if the wait for health was cancelled (the main phase ended).
            if recovery is not None:
                details = {**details, "recovery": recovery}
            self.writer.append("nemesis", "info", f"stop-{item['fault']}", {**value, **details})

    async def _heal_all(self) -> None:
        for fault_id in list(self.active):
            await self._stop_fault(fault_id, wait_health=False)

    async def _await_health(self, bound: float) -> dict[str, Any] | None:
        """Poll the system's own health condition until it holds or the bound passes."""
        system = self.p.system
        if not isinstance(system, HealthCheck):
            return None
        started = time.monotonic()
        healthy = False
        with trio.move_on_after(bound):
            while True:
                healthy = await trio.to_thread.run_sync(system.healthy, abandon_on_cancel=True,
                                                        limiter=self.limiter)
                if healthy:
                    break
                await trio.sleep(0.1)
        leader = None
        if healthy and isinstance(system, HasLeader):
            leader = await trio.to_thread.run_sync(system.leader, abandon_on_cancel=True,
                                                   limiter=self.limiter)
        return {"healthy": bool(healthy), "leader": leader,
                "seconds": round(time.monotonic() - started, 3)}


def _first_user_error(group: BaseExceptionGroup) -> SplitbrainError | None:
    """Several tasks may fail at once (e.g. a fault and a worker); report the user-facing one."""
    for exc in group.exceptions:
        if isinstance(exc, SplitbrainError):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            found = _first_user_error(exc)
            if found is not None:
                return found
    return None


async def _close_in_thread(client: Any) -> None:
    if client is None:
        return
    with trio.CancelScope(shield=True):
        with trio.move_on_after(5):
            await trio.to_thread.run_sync(_close_quietly, client, abandon_on_cancel=True)


def _close_quietly(client: Any) -> None:
    try:
        client.close()
    except Exception:
        pass


def worst_case_runtime(spec: TestSpec) -> float:
    """An upper bound on a run's wall time, for callers that supervise runs."""
    return spec.time_limit + HEAL_WAIT_S * 2 + spec.op_timeout * 4 + 60


__all__ = ["prepare", "execute", "RunOutcome", "Prepared"]
