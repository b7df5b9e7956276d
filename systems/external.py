"""external: test a cluster the user runs, through the user's own commands and client class.

Nothing here knows what the system is. The user says (as --opt KEY=VALUE, docs/external.md):

- which nodes there are: `nodes=a=10.0.0.1:7000,b=10.0.0.2:7000` or `nodes-file=PATH` (one per
  line, NAME=ADDRESS or ADDRESS, `#` comments); the i-th entry is the harness's node n<i>. A
  port given with a node is the port the client connects to; without one, the client's own.
- how to drive a node: shell templates `start-cmd`, `stop-cmd`, `kill-cmd`, `pause-cmd`,
  `resume-cmd`, run on the node's host (over SSH on env ssh, on this machine otherwise) with
  {node} {name} {address} {port} {index} {node_dir} {peers} {cluster} filled in. With
  `start-mode=foreground` (the default) start-cmd *is* the node process: the harness keeps it as
  a daemon, logs its output, and kills or pauses its process group unless kill-cmd / pause-cmd
  say otherwise. With `start-mode=background` start-cmd returns once the node is up (systemctl
  start, docker start).
- the client: `client=package.module:Class`, built with no arguments, speaking the workload's
  op shapes (docs/op-shapes.md); it sees each node at the address (and port) given above.
- optionally `leader-cmd` (prints the leading node's name or address) and `health-cmd` (exit 0
  when the cluster serves again), run on this machine, the control node, with {cluster}.

Capabilities follow the options: a cluster with no way to restart a node is not offered `kill`,
one without pause commands (or a process of ours to stop) is not offered `pause`, and so on.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import shlex
import signal
import string
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.hosts import Daemon, HostError
from systems.base import ClusterContext, Completion, Invocation, Offer, Option, SystemError_

PLACEHOLDERS = ("node", "name", "address", "port", "index", "node_dir", "peers", "cluster")
NODE_COMMANDS = ("start-cmd", "stop-cmd", "kill-cmd", "pause-cmd", "resume-cmd")
CONTROL_COMMANDS = ("leader-cmd", "health-cmd")
CONTROL_PLACEHOLDERS = ("cluster",)  # cluster-wide commands have no node of their own
COMMAND_TIMEOUT_S = 60.0
QUERY_TIMEOUT_S = 5.0  # leader-cmd / health-cmd are asked often, after every heal
STOP_GRACE_S = 3.0


@dataclass(frozen=True)
class NodeSpec:
    """One node as the user named it: NAME=HOST[:PORT] or HOST[:PORT]."""

    name: str
    address: str
    port: int | None = None


def parse_node(text: str, index: int) -> NodeSpec:
    """One entry of `nodes` or a line of `nodes-file`; ValueError with a one-line reason."""
    entry = text.strip()
    name, sep, where = entry.partition("=")
    if not sep:
        name, where = "", entry
    name, where = name.strip(), where.strip()
    if not where:
        raise ValueError(f"node {index}: {text.strip()!r} has no address")
    host, port = where, None
    if where.count(":") == 1:  # host:port (a bare IPv6 address has several colons)
        host, _, port_text = where.partition(":")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"node {index}: {where!r}: the port must be a number from 1 to 65535")
        port = int(port_text)
    if not host or any(c.isspace() for c in host) or any(c.isspace() for c in name):
        raise ValueError(f"node {index}: {text.strip()!r} is not NAME=ADDRESS or ADDRESS")
    return NodeSpec(name or host, host, port)


def parse_nodes(text: str) -> list[NodeSpec]:
    """`nodes=...`: entries separated by commas."""
    entries = [e for e in text.split(",") if e.strip()]
    if not entries:
        raise ValueError("nodes: no node given")
    return _distinct([parse_node(e, i) for i, e in enumerate(entries, start=1)])


def read_nodes_file(path: str) -> list[NodeSpec]:
    try:
        text = Path(path).expanduser().read_text()
    except OSError as e:
        raise ValueError(f"nodes-file {path}: {e.strerror or e}") from None
    lines = [line.split("#", 1)[0] for line in text.splitlines()]
    entries = [line for line in lines if line.strip()]
    if not entries:
        raise ValueError(f"nodes-file {path}: no node listed")
    try:
        return _distinct([parse_node(e, i) for i, e in enumerate(entries, start=1)])
    except ValueError as e:
        raise ValueError(f"nodes-file {path}: {e}") from None


def _distinct(nodes: list[NodeSpec]) -> list[NodeSpec]:
    seen: set[str] = set()
    for n in nodes:
        if n.name in seen:
            raise ValueError(f"nodes: {n.name!r} is listed twice")
        seen.add(n.name)
    return nodes


def check_template(key: str, template: str, known: tuple[str, ...] = PLACEHOLDERS) -> None:
    """Refuse a command template with an unknown or malformed {placeholder}."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as e:
        raise ValueError(f"{key}: {e} (write {{{{ and }}}} for literal braces)") from None
    for f in fields:
        if f not in known:
            raise ValueError(f"{key}: unknown placeholder {{{f}}}; known: "
                             + ", ".join("{" + p + "}" for p in known))


def load_client_class(target: str) -> type:
    """`package.module:Class`, importable from here; ValueError saying what is wrong."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"client {target!r}: expected package.module:Class")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as e:  # ImportError, or the module failing as it loads
        raise ValueError(f"client {target!r}: cannot import {module_name}: "
                         f"{type(e).__name__}: {e}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"client {target!r}: {module_name} has no {attr}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"client {target!r} is not a class")
    return obj


@dataclass
class ExternalClusterContext(ClusterContext):
    """What the user's client sees: the nodes at the addresses the user gave. A node given with
    a port answers every `port(node, base)` with it; one without, with `base`."""

    node_ports: dict[str, int] = field(default_factory=dict)

    def port(self, node: str, base: int) -> int:
        return self.node_ports.get(node, base)


class ExternalClient:
    """The user's client, opened against the user's view of the cluster."""

    def __init__(self, inner: Any, ctx: ExternalClusterContext) -> None:
        self.inner = inner
        self.ctx = ctx

    def open(self, ctx: ClusterContext, node: str) -> None:
        self.inner.open(self.ctx, node)

    def invoke(self, op: Invocation) -> Completion:
        return self.inner.invoke(op)

    def close(self) -> None:
        self.inner.close()


class ExternalSystem:
    """A cluster run by the user, driven by the user's commands. See the module docstring."""

    name = "external"
    # Any workload (whatever the user's client speaks) and any node count (the node list decides;
    # setup refuses a run with another count).
    offer = Offer(options={
        "nodes": Option("", "the nodes, NAME=HOST[:PORT],... (the i-th is n<i>); or use "
                            "nodes-file; neither: the run's own hosts"),
        "nodes-file": Option("", "a file listing the nodes, one NAME=HOST[:PORT] or HOST[:PORT] "
                                 "per line"),
        "client": Option("", "the client class, package.module:Class (required)"),
        "start-cmd": Option("", "shell command starting node {node} on its host (placeholders: "
                                "{node} {name} {address} {port} {index} {node_dir}, and {peers} "
                                "/ {cluster}: NAME=HOST[:PORT] of the others / of all)"),
        "start-mode": Option("foreground", "foreground: start-cmd is the node process itself; "
                                           "background: it returns once the node is up",
                             ("foreground", "background")),
        "stop-cmd": Option("", "shell command stopping a node at the end of the run"),
        "kill-cmd": Option("", "shell command killing a node hard (default with start-mode="
                               "foreground: SIGKILL its process group)"),
        "pause-cmd": Option("", "shell command pausing a node (default with start-mode="
                                "foreground: SIGSTOP its process group)"),
        "resume-cmd": Option("", "shell command resuming a paused node"),
        "leader-cmd": Option("", "shell command on this machine printing the leader's name or "
                                 "address (empty: none); placeholder {cluster}"),
        "health-cmd": Option("", "shell command on this machine exiting 0 when the cluster "
                                 "serves; placeholder {cluster}"),
        "ready-timeout": Option("30", "seconds setup waits for every node to accept the client "
                                      "(and health-cmd to pass)"),
    })

    def __init__(self) -> None:
        self.opts: dict[str, str] = {k: o.default for k, o in self.offer.options.items()}
        self.node_specs: list[NodeSpec] | None = None  # None: the run's own hosts
        self.client_class: type | None = None
        self.ctx: ClusterContext | None = None
        self.client_ctx: ExternalClusterContext | None = None
        self._daemons: dict[str, Daemon] = {}
        self._last: dict[str, Daemon] = {}

    # ---- options --------------------------------------------------------------------------------

    def check_options(self, options: dict[str, str]) -> None:
        """Refuse contradictory or malformed options (ValueError, one line), and keep them: the
        capabilities this instance offers then match the commands given."""
        opts = {k: o.default for k, o in self.offer.options.items()} | dict(options)
        if opts["nodes"] and opts["nodes-file"]:
            raise ValueError("give nodes or nodes-file, not both")
        nodes = None
        if opts["nodes"]:
            nodes = parse_nodes(opts["nodes"])
        elif opts["nodes-file"]:
            nodes = read_nodes_file(opts["nodes-file"])
        if not opts["client"]:
            raise ValueError("client is required: --opt client=package.module:Class")
        client_class = load_client_class(opts["client"])
        for key in NODE_COMMANDS:
            if opts[key]:
                check_template(key, opts[key])
        for key in CONTROL_COMMANDS:
            if opts[key]:
                check_template(key, opts[key], CONTROL_PLACEHOLDERS)
        if bool(opts["pause-cmd"]) != bool(opts["resume-cmd"]):
            raise ValueError("pause-cmd and resume-cmd go together")
        if opts["kill-cmd"] and not opts["start-cmd"]:
            raise ValueError("kill-cmd needs start-cmd (a killed node must be started again)")
        if opts["stop-cmd"] and not opts["start-cmd"]:
            raise ValueError("stop-cmd needs start-cmd (the harness only stops what it started)")
        if opts["start-mode"] == "background" and opts["start-cmd"] and not opts["stop-cmd"] \
                and not opts["kill-cmd"]:
            raise ValueError("start-mode=background needs stop-cmd or kill-cmd: the harness has "
                             "no process of its own to stop")
        try:
            ready = float(opts["ready-timeout"])
        except ValueError:
            raise ValueError(f"ready-timeout {opts['ready-timeout']!r}: expected seconds") from None
        if not ready > 0:
            raise ValueError("ready-timeout must be positive")
        self.opts, self.node_specs, self.client_class = opts, nodes, client_class
        # The nemeses ask isinstance(system, Killable) and the like, which looks at the class:
        # this instance becomes a subclass with exactly the capabilities its commands give.
        self.__class__ = _with_capabilities(self.capabilities())

    def capabilities(self) -> tuple[str, ...]:
        o = self.opts
        foreground = bool(o["start-cmd"]) and o["start-mode"] == "foreground"
        caps = []
        if o["start-cmd"] and (o["kill-cmd"] or foreground):
            caps.append("kill")
        if o["pause-cmd"] or foreground:
            caps.append("pause")
        if foreground:
            caps += ["processes", "logs"]
        if o["leader-cmd"]:
            caps.append("leader")
        if o["health-cmd"]:
            caps.append("health")
        return tuple(caps)

    # ---- System ---------------------------------------------------------------------------------

    def setup(self, ctx: ClusterContext) -> None:
        if self.client_class is None:  # not configured through prepare(): do it now
            try:
                self.check_options(dict(ctx.options))
            except ValueError as e:
                raise SystemError_(str(e)) from None
        self.ctx = ctx
        specs = self.node_specs
        if specs is not None and len(specs) != len(ctx.nodes):
            raise SystemError_(f"the node list has {len(specs)} nodes but the run has "
                               f"{len(ctx.nodes)}; pass --nodes {len(specs)}")
        if specs is None:
            specs = [NodeSpec(n, ctx.address(n)) for n in ctx.nodes]
        self.node_specs = specs
        by_node = dict(zip(ctx.nodes, specs))
        self.client_ctx = ExternalClusterContext(
            **{f.name: getattr(ctx, f.name) for f in dataclasses.fields(ClusterContext)
               if f.init and f.name != "_ports"},
            node_ports={n: s.port for n, s in by_node.items() if s.port is not None})
        self.client_ctx.addresses = {n: s.address for n, s in by_node.items()}
        self.client_ctx.shared_host = False
        try:
            if self.opts["start-cmd"]:
                for node in ctx.nodes:
                    self._start(node)
            self._wait_ready(float(self.opts["ready-timeout"]))
        except BaseException:
            self.teardown()
            raise

    def teardown(self) -> None:
        if self.ctx is None or not self.opts["start-cmd"]:
            return  # a cluster the harness did not start is left running
        for node in self.ctx.nodes:
            if self.opts["stop-cmd"]:
                try:
                    self._run_node_command("stop-cmd", node)
                except SystemError_:
                    pass  # the process group below still goes
            daemon = self._daemons.get(node)
            if daemon is not None:
                self._signal(node, daemon, signal.SIGCONT)
                self._signal(node, daemon, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for node, daemon in list(self._daemons.items()):
            while time.monotonic() < deadline and self._host(node).alive(daemon):
                time.sleep(0.05)
            self._stop_daemon(node)

    def client(self, workload: str) -> ExternalClient:
        assert self.client_class is not None and self.client_ctx is not None, "setup() first"
        return ExternalClient(self.client_class(), self.client_ctx)

    # ---- capabilities (offered through _with_capabilities) ----------------------------------------

    def kill(self, node: str) -> None:
        if self.opts["kill-cmd"]:
            self._run_node_command("kill-cmd", node)
            self._daemons.pop(node, None)
        else:
            self._stop_daemon(node)

    def start(self, node: str) -> None:
        daemon = self._daemons.get(node)
        if daemon is not None and self._host(node).alive(daemon):
            return
        self._start(node)

    def pause(self, node: str) -> None:
        if self.opts["pause-cmd"]:
            self._run_node_command("pause-cmd", node)
        elif node in self._daemons:
            self._signal(node, self._daemons[node], signal.SIGSTOP)

    def resume(self, node: str) -> None:
        if self.opts["resume-cmd"]:
            self._run_node_command("resume-cmd", node)
        elif node in self._daemons:
            self._signal(node, self._daemons[node], signal.SIGCONT)

    def processes(self, node: str) -> list[tuple[Any, Any]]:
        daemon = self._last.get(node)
        return [(self._host(node), daemon)] if daemon is not None else []

    def log_files(self, node: str) -> list[Path]:
        if self.ctx is None:
            return []
        return [p for p in (self.ctx.node_dir(node) / "node.log",) if p.exists()]

    def leader(self) -> str | None:
        """The node leader-cmd names (by harness name, the user's name or address), or None."""
        result = self._run_control("leader-cmd")
        if result is None or result.returncode != 0:
            return None
        words = result.stdout.split()
        return self._node_named(words[0]) if words else None

    def healthy(self) -> bool:
        result = self._run_control("health-cmd")
        return result is not None and result.returncode == 0

    # ---- helpers --------------------------------------------------------------------------------

    def _host(self, node: str) -> Any:
        assert self.ctx is not None, "setup() first"
        return self.ctx.hosts[node]

    def _node_named(self, word: str) -> str | None:
        assert self.ctx is not None and self.node_specs is not None
        for node, spec in zip(self.ctx.nodes, self.node_specs):
            port = f"{spec.address}:{spec.port}" if spec.port is not None else None
            if word in (node, spec.name, spec.address, port):
                return node
        return None

    def _members(self) -> list[str]:
        assert self.node_specs is not None
        return [f"{s.name}={s.address}" + ("" if s.port is None else f":{s.port}")
                for s in self.node_specs]

    def fill(self, key: str, node: str | None) -> str:
        """The command `key` for `node` (None: a cluster-wide command), placeholders filled in
        (shell-quoted)."""
        assert self.ctx is not None and self.node_specs is not None
        members = self._members()
        if node is None:
            return self.opts[key].format(cluster=shlex.quote(",".join(members)))
        spec = self.node_specs[self.ctx.nodes.index(node)]
        values = {"node": node, "name": spec.name, "address": spec.address,
                  "port": "" if spec.port is None else str(spec.port),
                  "index": str(self.ctx.nodes.index(node) + 1),
                  "node_dir": self.ctx.remote_dir(node),
                  "peers": ",".join(m for m, s in zip(members, self.node_specs) if s is not spec),
                  "cluster": ",".join(members)}
        return self.opts[key].format(**{k: shlex.quote(v) if v else v for k, v in values.items()})

    def _run_node_command(self, key: str, node: str) -> None:
        command = self.fill(key, node)
        try:
            r = self._host(node).run(["sh", "-c", command], timeout=COMMAND_TIMEOUT_S)
        except HostError as e:
            raise SystemError_(f"{key} on {node}: {e}") from None
        if r.exit_code != 0:
            why = (r.stderr.strip() or r.stdout.strip() or "no output").splitlines()[-1]
            raise SystemError_(f"{key} on {node} exited {r.exit_code}: {why}")

    def _run_control(self, key: str) -> subprocess.CompletedProcess | None:
        """A cluster-wide query on this machine; None when it cannot run or takes too long."""
        try:
            return subprocess.run(["sh", "-c", self.fill(key, None)], capture_output=True, text=True,
                                  timeout=QUERY_TIMEOUT_S, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            return None

    def _start(self, node: str) -> None:
        assert self.ctx is not None
        if self.opts["start-mode"] == "background":
            self._run_node_command("start-cmd", node)
            return
        log = f"{self.ctx.remote_dir(node)}/node.log"
        try:
            daemon = self._host(node).start_daemon(f"external-{node}",
                                                   ["sh", "-c", self.fill("start-cmd", node)], log,
                                                   cwd=os.getcwd() if self.ctx.remote_root is None
                                                   else None)
        except HostError as e:
            raise SystemError_(f"start-cmd on {node}: {e} (log: {log})") from None
        self._daemons[node] = self._last[node] = daemon

    def _signal(self, node: str, daemon: Daemon, sig: int) -> None:
        try:
            self._host(node).signal(daemon, sig)
        except HostError:
            pass

    def _stop_daemon(self, node: str) -> None:
        daemon = self._daemons.pop(node, None)
        if daemon is not None:
            self._signal(node, daemon, signal.SIGCONT)  # a paused node must die too
            self._signal(node, daemon, signal.SIGKILL)

    def _wait_ready(self, timeout: float) -> None:
        """Until the client opens on every node (and health-cmd passes, if given)."""
        assert self.ctx is not None and self.client_class is not None
        deadline = time.monotonic() + timeout
        waiting = list(self.ctx.nodes)
        why = ""
        while True:
            for node in list(waiting):
                daemon = self._daemons.get(node)
                if daemon is not None and not self._host(node).alive(daemon):
                    tail = _last_line(self._host(node).read_log(daemon))
                    raise SystemError_(f"{node} exited during setup: {tail} (log: {daemon.log})")
                client = self.client("")
                try:
                    client.open(self.ctx, node)
                    waiting.remove(node)
                except Exception as e:
                    why = f"{node} does not accept the client: {type(e).__name__}: {e}"
                finally:
                    try:
                        client.close()
                    except Exception:
                        pass
            if not waiting:
                if not self.opts["health-cmd"] or self.healthy():
                    return
                why = "health-cmd does not pass"
            if time.monotonic() >= deadline:
                node = waiting[0] if waiting else self.ctx.nodes[0]
                daemon = self._last.get(node)
                where = f" (log: {daemon.log})" if daemon is not None else ""
                raise SystemError_(f"not ready after {timeout:g} s: {why}{where}")
            time.sleep(0.2)


_CAPABILITY_METHODS = {
    "kill": ("kill", "start"),
    "pause": ("pause", "resume"),
    "processes": ("processes",),
    "logs": ("log_files",),
    "leader": ("leader",),
    "health": ("healthy",),
}


class _Base(ExternalSystem):
    """ExternalSystem without any capability method: the subclasses add back what applies."""


for _method in {m for ms in _CAPABILITY_METHODS.values() for m in ms}:
    setattr(_Base, _method, None)
_classes: dict[tuple[str, ...], type] = {}


def _with_capabilities(caps: tuple[str, ...]) -> type:
    """A subclass of ExternalSystem whose class namespace has exactly the methods of `caps`
    (runtime_checkable protocols look at the class, so a None there means "not offered")."""
    if caps not in _classes:
        methods = {m: getattr(ExternalSystem, m) for c in caps for m in _CAPABILITY_METHODS[c]}
        _classes[caps] = type("ExternalSystem", (_Base,), methods)
    return _classes[caps]


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


__all__ = ["ExternalSystem", "ExternalClient", "ExternalClusterContext", "NodeSpec",
           "parse_nodes", "read_nodes_file"]
