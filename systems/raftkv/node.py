"""The raftkv node process: drives a RaftCore with real sockets, a real clock and real disk.

    python -m systems.raftkv.node --id n1 --listen 127.0.0.1:7000 \
        --peers n2=127.0.0.1:7001,n3=127.0.0.1:7002 --data DIR [--bug NAME]...

One TCP port serves clients and peers with line-delimited JSON. A line with a "type" is a Raft
message from a peer (see core.message_to_wire); messages to a peer go over an outbound connection
this node keeps to it, so each connection carries traffic one way. A client line is
{"id": ..., "f": "read"|"write"|"cas"|"status", "key": ..., "value": ...}; the answer is
{"id": ..., "status": "ok"|"fail"|"unknown", "value": ..., "error": ...}, where fail means certainly
not applied and unknown means it may or may not have been. Followers forward requests to the leader
and relay its answer.

Everything the core returns is carried out synchronously in the trio loop, persistent writes (fsync)
first, so nothing that depends on a write leaves the node before the write is durable. Peer messages
are queued to one Raft-loop task; client requests go to the core from their connection's task. So
when a paused node resumes, requests already buffered on client connections reach the core before
the peer messages that would tell it about a newer term (which is what a stale leader really does).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import sys
import time
from typing import Any

import trio

from systems.raftkv.core import BUGS, ClientReply, Output, RaftConfig, RaftCore, message_from_wire, message_to_wire
from systems.raftkv.clock import CLOCK
from systems.raftkv.storage import Storage, StorageError

MAX_LINE = 16 * 1024 * 1024
TICK = 0.01  # seconds between core.tick() calls
PEER_QUEUE = 1000  # messages buffered per peer; more are dropped (Raft tolerates loss)
INBOUND_QUEUE = 10000  # peer messages waiting for the Raft loop


def log(node_id: str, text: str) -> None:
    now = CLOCK.time()  # the node's own wall clock, which the clock nemesis may skew
    stamp = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
    print(f"{stamp} {node_id} {text}", flush=True)


def encode_line(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


async def read_lines(stream: trio.abc.ReceiveStream):
    """Yield complete lines (without the newline) from a stream until it closes."""
    buf = bytearray()
    while True:
        data = await stream.receive_some(65536)
        if not data:
            return
        buf += data
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                break
            line = bytes(buf[:nl])
            del buf[:nl + 1]
            yield line
        if len(buf) > MAX_LINE:
            raise ValueError("line too long")


class Node:
    """One raftkv node: listener, peer links, ticker, and the core they all feed."""

    def __init__(self, node_id: str, listen: tuple[str, int], peers: dict[str, tuple[str, int]],
                 storage: Storage, core: RaftCore) -> None:
        self.id = node_id
        self.listen = listen
        self.peers = peers
        self.storage = storage
        self.core = core
        self._request_ids = itertools.count(1)
        self._waiting: dict[int, tuple[trio.MemorySendChannel, Any]] = {}  # request id -> (conn, client id)
        self._peer_send: dict[str, trio.MemorySendChannel] = {}
        self._peer_recv: dict[str, trio.MemoryReceiveChannel] = {}
        for peer in peers:
            self._peer_send[peer], self._peer_recv[peer] = trio.open_memory_channel(PEER_QUEUE)
        # Peer messages reach the core through this queue and the _raft_loop task, as a transport
        # hands messages to a Raft loop; client requests are handed to the core by their connection.
        self._inbound_send, self._inbound_recv = trio.open_memory_channel(INBOUND_QUEUE)

    async def run(self, listeners: list) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, self._serve_connection, listeners)
            for peer in self.peers:
                nursery.start_soon(self._peer_link, peer)
            nursery.start_soon(self._ticker)
            nursery.start_soon(self._raft_loop)

    # ---- carrying out what the core decided ---------------------------------------------------

    def _drive(self, out: Output) -> None:
        self.storage.apply(out.persist)  # durable before anything below leaves the node
        for event in out.events:
            log(self.id, event)
        for msg in out.messages:
            try:
                self._peer_send[msg.dst].send_nowait(message_to_wire(msg))
            except trio.WouldBlock:
                pass  # the peer is slow or gone: drop, as a network would
        for reply in out.replies:
            self._deliver(reply)

    def _deliver(self, reply: ClientReply) -> None:
        conn, client_id = self._waiting.pop(reply.request_id, (None, None))
        if conn is None:
            return  # the client went away
        try:
            conn.send_nowait({"id": client_id, "status": reply.status, "value": reply.value,
                              "error": reply.error})
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            pass

    async def _raft_loop(self) -> None:
        async for msg in self._inbound_recv:
            self._drive(self.core.receive(msg, time.monotonic()))

    async def _ticker(self) -> None:
        while True:
            self._drive(self.core.tick(time.monotonic()))
            await trio.sleep(TICK)

    # ---- inbound connections (clients and peers) ----------------------------------------------

    async def _serve_connection(self, stream: trio.SocketStream) -> None:
        replies_in, replies_out = trio.open_memory_channel(10000)
        mine: set[int] = set()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._write_replies, stream, replies_out, nursery.cancel_scope)
                try:
                    async for line in read_lines(stream):
                        self._on_line(line, replies_in, mine)
                except (trio.BrokenResourceError, trio.ClosedResourceError, ValueError, OSError):
                    pass
                nursery.cancel_scope.cancel()
        finally:
            for rid in mine:
                self._waiting.pop(rid, None)
            replies_in.close()
            await trio.aclose_forcefully(stream)

    async def _write_replies(self, stream: trio.SocketStream, replies: trio.MemoryReceiveChannel,
                             scope: trio.CancelScope) -> None:
        try:
            async for reply in replies:
                await stream.send_all(encode_line(reply))
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            scope.cancel()

    def _on_line(self, line: bytes, replies: trio.MemorySendChannel, mine: set[int]) -> None:
        now = time.monotonic()
        try:
            d = json.loads(line)
            if not isinstance(d, dict):
                raise ValueError("not an object")
        except ValueError:
            replies.send_nowait({"id": None, "status": "fail", "error": "request is not a JSON object"})
            return
        if "type" in d:
            try:
                msg = message_from_wire(d)
            except ValueError as e:
                log(self.id, f"dropping bad peer message: {e}")
                return
            try:
                self._inbound_send.send_nowait(msg)
            except trio.WouldBlock:
                pass  # overloaded: drop, Raft retries
            return
        client_id = d.get("id")
        if d.get("f") == "status":
            replies.send_nowait({"id": client_id, "status": "ok",
                                 "value": {**self.core.status(), "wall_time": CLOCK.time()}})
            return
        rid = next(self._request_ids)
        self._waiting[rid] = (replies, client_id)
        mine.add(rid)
        self._drive(self.core.request(rid, {"f": d.get("f"), "key": d.get("key"), "value": d.get("value")}, now))
        if rid not in self._waiting:
            mine.discard(rid)

    # ---- outbound links to peers --------------------------------------------------------------

    async def _peer_link(self, peer: str) -> None:
        host, port = self.peers[peer]
        queue = self._peer_recv[peer]
        up = None
        while True:
            try:
                with trio.fail_after(1.0):
                    stream = await trio.open_tcp_stream(host, port)
            except (OSError, trio.TooSlowError):
                if up is not False:
                    log(self.id, f"link to {peer} down")
                up = False
                _drain(queue)  # messages to an unreachable peer are lost, as on a network
                await trio.sleep(0.1)
                continue
            if up is not True:
                log(self.id, f"link to {peer} up")
            up = True
            try:
                async for msg in queue:
                    with trio.fail_after(2.0):  # a peer that stopped reading: reconnect
                        await stream.send_all(encode_line(msg))
            except (OSError, trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError):
                pass
            finally:
                await trio.aclose_forcefully(stream)
            await trio.sleep(0.05)


def _drain(queue: trio.MemoryReceiveChannel) -> None:
    while True:
        try:
            queue.receive_nowait()
        except trio.WouldBlock:
            return


def parse_address(text: str, what: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"{what}: expected HOST:PORT, got {text!r}")
    return host, int(port)


def parse_peers(text: str) -> dict[str, tuple[str, int]]:
    peers: dict[str, tuple[str, int]] = {}
    for item in filter(None, text.split(",")):
        name, sep, address = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--peers: expected NAME=HOST:PORT, got {item!r}")
        peers[name] = parse_address(address, f"--peers {name}")
    return peers


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m systems.raftkv.node", description="A raftkv node.")
    p.add_argument("--id", required=True, help="this node's name")
    p.add_argument("--listen", required=True, help="HOST:PORT for clients and peers")
    p.add_argument("--peers", default="", help="NAME=HOST:PORT,... of the other nodes")
    p.add_argument("--data", required=True, help="data directory (term, vote, log)")
    p.add_argument("--bug", action="append", default=[], choices=sorted(BUGS), help="switch a bug on")
    p.add_argument("--election-timeout-ms", default="300,600", help="MIN,MAX randomized election timeout")
    p.add_argument("--heartbeat-ms", type=float, default=100.0)
    p.add_argument("--read-mode", choices=("index", "log"), default="index")
    p.add_argument("--seed", type=int, default=None, help="seed for election timeouts")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    node_id = args.id
    try:
        listen = parse_address(args.listen, "--listen")
        peers = parse_peers(args.peers)
        lo, _, hi = args.election_timeout_ms.partition(",")
        config = RaftConfig(election_timeout_min=float(lo) / 1000, election_timeout_max=float(hi or lo) / 1000,
                            heartbeat_interval=args.heartbeat_ms / 1000, read_mode=args.read_mode)
        storage = Storage(args.data)
        state = storage.open()
    except (ValueError, StorageError) as e:
        print(f"{node_id}: {e}", file=sys.stderr, flush=True)
        return 2
    if state.truncated_bytes:
        log(node_id, f"recovery cut a torn tail of {state.truncated_bytes} bytes from {storage.path}")
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(8), "big")
    core = RaftCore(node_id, list(peers), rng=random.Random(seed), now=time.monotonic(), config=config,
                    bugs=frozenset(args.bug), term=state.term, voted_for=state.voted_for, log=state.log)
    node = Node(node_id, listen, peers, storage, core)

    async def start() -> None:
        try:
            listeners = await trio.open_tcp_listeners(listen[1], host=listen[0])
        except OSError as e:
            raise SystemExit(f"{node_id}: cannot listen on {listen[0]}:{listen[1]}: {e.strerror or e}")
        log(node_id, f"pid {os.getpid()} listening on {listen[0]}:{listen[1]}, term {state.term}, "
                     f"{len(state.log)} log entries, bugs: {', '.join(sorted(args.bug)) or 'none'}")
        await node.run(listeners)

    try:
        trio.run(start)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - one line in the node log, not a traceback
        for leaf in _leaves(e):
            log(node_id, f"fatal: {type(leaf).__name__}: {leaf}")
        return 1
    return 0


def _leaves(e: BaseException) -> list[BaseException]:
    if isinstance(e, BaseExceptionGroup):
        return [leaf for sub in e.exceptions for leaf in _leaves(sub)]
    return [e]


if __name__ == "__main__":
    sys.exit(main())
