"""Workload clients for every Redis system: register, set, lock, counter and the append and wr
transactions over one redis-py connection (RedisClient.HANDLERS lists them, once).

The three Redis systems differ only in how a client finds the node to talk to (straight to the
server, through Sentinel, through the cluster's routing); they hand RedisClient a `connect`
function returning a redis-py client (redis.Redis or redis.cluster.RedisCluster, retries off), and
RedisClient turns invocations into commands:

- register: GET / SET; cas by a Lua script that compares and sets atomically on the server.
- set: SADD of the element; the final read is SMEMBERS (after the system says its topology is
  stable, e.g. the old Sentinel primary has rejoined as a replica).
- lock: SET key token NX PX lease; release by a Lua compare-and-delete of the client's token.
- counter: INCRBY of the delta; a read is GET (a counter never added to reads 0).
- append / wr: a transaction is one Lua script (TXN_SCRIPT), which Redis runs atomically: RPUSH
  and LRANGE for list-append, SET and GET for rw-register, in the transaction's order. Keys carry
  the hash tag {txn}, so a transaction's keys share one slot (a cluster runs the script too).

Outcomes (docs/contracts.md): `fail` only when Redis certainly did not execute the command (it
refused it before running it: READONLY, NOREPLICAS, MOVED, CLUSTERDOWN, ...; or no connection
could be made, so nothing was sent; or a cas / lock whose condition did not hold); `info` for a
timeout, a dropped connection or any other doubt.
"""

from __future__ import annotations

import uuid
from typing import Any, Callable, ClassVar

from systems.base import ClusterContext, Completion, Invocation

SET_KEY = "splitbrain-set"  # the set workload's key when the op names none

# Compare-and-set: ARGV[1] is "absent" (expect no value) or "value" (expect ARGV[2]).
CAS_SCRIPT = """
local current = redis.call('GET', KEYS[1])
if ARGV[1] == 'absent' then
  if current then return 0 end
elseif current ~= ARGV[2] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
"""

# A transaction: ARGV holds (f, key index, value) per micro-op; reads answer in order. Redis runs a
# script atomically, nothing else in between (and replicates it as a whole).
TXN_SCRIPT = """
local reads = {}
for i = 1, #ARGV, 3 do
  local f, key, value = ARGV[i], KEYS[tonumber(ARGV[i + 1])], ARGV[i + 2]
  if f == 'append' then
    redis.call('RPUSH', key, value)
  elseif f == 'w' then
    redis.call('SET', key, value)
  elseif redis.call('TYPE', key).ok == 'list' then
    reads[#reads + 1] = redis.call('LRANGE', key, 0, -1)
  else
    local current = redis.call('GET', key)
    if current then reads[#reads + 1] = {current} else reads[#reads + 1] = {} end
  end
end
return reads
"""
TXN_KEY = "{txn}:"  # the hash tag keeps one transaction's keys in one cluster slot

# Release a lock only if this client's token still holds it.
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# Error replies Redis sends instead of running a command: the command had no effect.
REFUSALS = ("READONLY", "NOREPLICAS", "MASTERDOWN", "LOADING", "MOVED", "ASK", "CLUSTERDOWN",
            "TRYAGAIN", "BUSY", "NOSCRIPT", "OOM", "MISCONF", "NOAUTH", "WRONGTYPE")


def completion_for_error(e: Exception) -> Completion:
    """fail when the command certainly did not run, info otherwise."""
    from redis.exceptions import (ConnectionError as RedisConnectionError, RedisClusterException,
                                  ResponseError, TimeoutError as RedisTimeoutError)

    text = str(e).strip() or type(e).__name__
    name = type(e).__name__
    if name in ("MasterNotFoundError", "SlaveNotFoundError", "SlotNotCoveredError",
                "ClusterDownError", "MasterDownError", "ReadOnlyError", "BusyLoadingError", "NoScriptError",
                "TryAgainError", "AskError", "MovedError"):
        return Completion.fail(f"{name}: {text}")
    if isinstance(e, ResponseError):
        if text.split(" ", 1)[0].upper() in REFUSALS:
            return Completion.fail(text)
        return Completion.info(f"error reply: {text}")
    if isinstance(e, RedisTimeoutError):
        if "connecting" in text:  # the connection was never made, so nothing was sent
            return Completion.fail(f"timeout: {text}")
        return Completion.info(f"timeout: {text}")
    if isinstance(e, RedisConnectionError):
        # redis-py's Sentinel pool turns a READONLY reply from a demoted primary into this.
        if "previous master is now a slave" in text:
            return Completion.fail(f"READONLY: {text}")
        if "connecting to" in text:
            return Completion.fail(f"cannot connect: {text}")
        return Completion.info(f"connection: {text}")
    if isinstance(e, RedisClusterException) and "No targets" in text:
        return Completion.fail(text)  # the client found no node to send it to
    return Completion.info(f"{name}: {text}")


def _int_or_none(raw: Any) -> int | None:
    return None if raw is None else int(raw)


class RedisClient:
    """A client for one workload. `connect(ctx, node)` returns the redis-py object to talk
    through and a list of further objects to close with it (e.g. Sentinel connections).

    `settle(timeout_s)` (optional) blocks until the system's topology is stable, and runs before
    the set workload's final read.
    """

    def __init__(self, workload: str,
                 connect: Callable[[ClusterContext, str], tuple[Any, list[Any]]],
                 settle: Callable[[float], None] | None = None, settle_s: float = 3.0) -> None:
        if workload not in self.HANDLERS:
            raise ValueError(f"redis has no client for the workload {workload!r}")
        self.workload = workload
        self._connect = connect
        self._settle = settle
        self._settle_s = settle_s
        self.conn: Any = None
        self._also_close: list[Any] = []
        self.tokens: dict[str, str] = {}  # lock key -> this client's token while it holds it

    def open(self, ctx: ClusterContext, node: str) -> None:
        self.conn, self._also_close = self._connect(ctx, node)

    def close(self) -> None:
        import redis

        conn, self.conn = self.conn, None
        others, self._also_close = self._also_close, []
        for c in [conn, *others]:
            if c is not None:
                try:
                    c.close()
                except (redis.RedisError, OSError):
                    pass  # closing a connection whose peer is gone

    def invoke(self, op: Invocation) -> Completion:
        import redis

        if self.conn is None:
            return Completion.fail("not connected")
        handler = self.HANDLERS[self.workload].get(op.f)
        if handler is None:
            return Completion.fail(f"unknown operation {op.f!r} for the {self.workload} workload")
        try:
            return handler(self, op)
        except (redis.RedisError, redis.RedisClusterException) as e:
            return completion_for_error(e)
        except OSError as e:  # a socket error redis-py did not wrap: the outcome is unknown
            return Completion.info(f"connection: {e}")

    # ---- register -------------------------------------------------------------------------------

    def _register_read(self, op: Invocation) -> Completion:
        return Completion.ok(_int_or_none(self.conn.get(op.key)))

    def _register_write(self, op: Invocation) -> Completion:
        self.conn.set(op.key, str(op.value))
        return Completion.ok(op.value)

    def _register_cas(self, op: Invocation) -> Completion:
        expected, new = op.value
        args = ["absent", ""] if expected is None else ["value", str(expected)]
        applied = self.conn.eval(CAS_SCRIPT, 1, op.key, *args, str(new))
        if int(applied) == 1:
            return Completion.ok([expected, new])
        return Completion.fail("precondition did not hold", [expected, new])

    # ---- set ------------------------------------------------------------------------------------

    def _set_add(self, op: Invocation) -> Completion:
        self.conn.sadd(op.key or SET_KEY, str(op.value))
        return Completion.ok(op.value)

    def _set_read(self, op: Invocation) -> Completion:
        if self._settle is not None:
            self._settle(self._settle_s)
        members = self.conn.smembers(op.key or SET_KEY)
        return Completion.ok(sorted(int(m) for m in members))

    # ---- lock -----------------------------------------------------------------------------------

    def _lock_acquire(self, op: Invocation) -> Completion:
        lease_ms = (op.value or {}).get("lease_ms")
        token = uuid.uuid4().hex
        got = self.conn.set(op.key, token, nx=True, px=int(lease_ms) if lease_ms else None)
        if not got:
            return Completion.fail("held by another client")
        self.tokens[op.key] = token
        return Completion.ok({"lease_ms": lease_ms, "token": token})

    def _lock_release(self, op: Invocation) -> Completion:
        token = self.tokens.pop(op.key, None)
        if token is None:
            return Completion.fail("not the holder: this client acquired no lock")
        released = self.conn.eval(RELEASE_SCRIPT, 1, op.key, token)
        if int(released) == 1:
            return Completion.ok({"lost_after_ms": None})
        return Completion.fail("not the holder: the lease ran out or another client holds it")


    # ---- append and wr: one script per transaction --------------------------------------------

    def _txn(self, op: Invocation) -> Completion:
        micro_ops = op.value
        if not isinstance(micro_ops, (list, tuple)) or not micro_ops or not all(
                isinstance(m, (list, tuple)) and len(m) == 3 and m[0] in ("r", "w", "append")
                for m in micro_ops):
            return Completion.fail("a txn needs micro-ops [r|w|append, key, value]")
        keys: list[str] = []
        args: list[str] = []
        for f, key, value in micro_ops:
            name = f"{TXN_KEY}{self.workload}:{key}"
            if name not in keys:
                keys.append(name)
            args += [f, str(keys.index(name) + 1), "" if value is None else str(value)]
        reads = iter(self.conn.eval(TXN_SCRIPT, len(keys), *keys, *args))
        done: list[list[Any]] = []
        for f, key, value in micro_ops:
            if f != "r":
                done.append([f, key, value])
                continue
            seen = [int(v) for v in next(reads)]
            if self.workload == "wr":  # a register: its value, or absent
                done.append([f, key, seen[0] if seen else None])
            else:
                done.append([f, key, seen])
        return Completion.ok(done)

    # ---- counter --------------------------------------------------------------------------------

    def _counter_add(self, op: Invocation) -> Completion:
        self.conn.incrby(op.key, int(op.value))
        return Completion.ok(op.value)

    def _counter_read(self, op: Invocation) -> Completion:
        return Completion.ok(_int_or_none(self.conn.get(op.key)) or 0)  # never added to: 0

    # The one place saying which workloads Redis serves (every Redis system offers these) and
    # which method runs each of a workload's operations.
    HANDLERS: ClassVar[dict[str, dict[str, Callable[["RedisClient", Invocation], Completion]]]] = {
        "register": {"read": _register_read, "write": _register_write, "cas": _register_cas},
        "set": {"add": _set_add, "read": _set_read},
        "lock": {"acquire": _lock_acquire, "release": _lock_release},
        "append": {"txn": _txn},
        "wr": {"txn": _txn},
        "counter": {"add": _counter_add, "read": _counter_read},
    }


WORKLOADS = tuple(RedisClient.HANDLERS)

__all__ = ["RedisClient", "WORKLOADS", "completion_for_error", "CAS_SCRIPT", "RELEASE_SCRIPT", "SET_KEY",
           "TXN_SCRIPT"]
