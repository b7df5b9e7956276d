"""kazoo clients for ZooKeeper: the `register`, `lock` and `set` workloads.

Each client is one kazoo session, started at its worker's node (the others follow in the connect
string, as a real application lists the whole ensemble). Command retries are off (one attempt);
kazoo's own reconnection keeps running, because moving a live session to another server is what
ZooKeeper clients do. Only ZooKeeper's definite answers (NoNode, NodeExists, BadVersion) count as
`fail`; a timeout, a lost connection or an expired session is `info`.

Session facts recorded as completion extras (for the `session-order` checker):
  session  the session id (hex string) the operation ran in;
  zxid     kazoo's last_zxid when the operation completed: the zxid in the most recent reply
           header the session received, i.e. the ensemble state the server had applied when it
           last answered this session. ZooKeeper promises it never goes back within a session,
           even when the session moves to another server.
  mzxid    for register reads and writes: the mzxid of the znode read or written (the zxid of the
           write that produced the value), null when a read found no znode.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import (BadVersionError, KazooException, LockTimeout, NodeExistsError,
                              NoNodeError)
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.retry import RetryFailedError

from systems.base import ClusterContext, Completion, Invocation

REGISTER_ROOT = "/register"
LOCK_ROOT = "/locks"
SET_ROOT = "/set"
# kazoo's KazooRetry stops once its attempt count equals max_tries: 1 means a single attempt.
ONE_ATTEMPT = {"max_tries": 1}
# kazoo narrates every dropped connection at WARNING; under a nemesis that is noise on the
# terminal, and the history already records what clients saw.
KAZOO_LOG = logging.getLogger("splitbrain.zookeeper.kazoo")
KAZOO_LOG.addHandler(logging.NullHandler())
KAZOO_LOG.propagate = False


class _KazooSession:
    """One kazoo client (one ZooKeeper session) bound to a worker's node."""

    def __init__(self, connect_string: Callable[[str], str], session_timeout_s: float) -> None:
        self._connect_string = connect_string
        self.session_timeout_s = session_timeout_s
        self.zk: KazooClient | None = None
        self.node: str | None = None

    def open(self, ctx: ClusterContext, node: str) -> None:
        self.node = node
        zk = KazooClient(hosts=self._connect_string(node), timeout=self.session_timeout_s,
                         randomize_hosts=False, command_retry=ONE_ATTEMPT, logger=KAZOO_LOG)
        self.zk = zk
        self._listen(zk)
        try:
            zk.start(timeout=self.session_timeout_s)
        except (KazooTimeoutError, KazooException, OSError) as e:
            self.close()
            raise ConnectionError(f"no ZooKeeper session via {node}: {e}") from None

    def _listen(self, zk: KazooClient) -> None:
        """Subclasses watch the connection state here."""

    def wait_s(self) -> float:
        return self.session_timeout_s

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """One request, waited for at most a session timeout (a TimeoutError means unknown)."""
        assert self.zk is not None, "open() first"
        result = getattr(self.zk, method + "_async")(*args, **kwargs)
        try:
            return result.get(timeout=self.wait_s())
        except KazooTimeoutError:
            raise TimeoutError(f"no answer to {method} in {self.wait_s():g} s") from None

    def facts(self, **more: Any) -> dict[str, Any]:
        zk = self.zk
        facts: dict[str, Any] = {}
        if zk is not None:
            cid = zk.client_id
            facts["session"] = f"0x{cid[0]:x}" if cid else None
            facts["zxid"] = zk.last_zxid
        facts.update(more)
        return facts

    def close(self) -> None:
        zk, self.zk = self.zk, None
        if zk is None:
            return
        try:
            zk.stop()
            zk.close()
        except Exception:  # closing a broken session must not raise into the harness
            pass


def _unknown(e: BaseException) -> Completion:
    return Completion.info(f"{type(e).__name__}: {e}".rstrip(": "))


def _decode(data: bytes | None) -> Any:
    return None if data is None or data == b"" else int(data.decode())


class ZkRegisterClient(_KazooSession):
    """read = get; write = set, or create when absent; cas = get, then set at the version read
    (ZooKeeper's conditional write). Registers live at /register/<key>, values as decimal text."""

    def invoke(self, op: Invocation) -> Completion:
        path = f"{REGISTER_ROOT}/{op.key}"
        try:
            if op.f == "read":
                return self._read(path)
            if op.f == "write":
                return self._write(path, op.value)
            if op.f == "cas":
                if not (isinstance(op.value, (list, tuple)) and len(op.value) == 2):
                    return Completion.fail("cas needs value [expected, new]")
                return self._cas(path, op.value[0], op.value[1], op.value)
            return Completion.fail(f"zookeeper register has no {op.f!r}")
        except (TimeoutError, KazooException, OSError) as e:
            return _unknown(e)

    def _read(self, path: str) -> Completion:
        try:
            data, stat = self.call("get", path)
        except NoNodeError:
            return Completion.ok(None, **self.facts(mzxid=None))
        return Completion.ok(_decode(data), **self.facts(mzxid=stat.mzxid))

    def _write(self, path: str, value: int) -> Completion:
        data = str(value).encode()
        # Each refused step certainly did nothing, so trying the other one is safe.
        for _ in range(3):
            try:
                stat = self.call("set", path, data)
                return Completion.ok(value, **self.facts(mzxid=stat.mzxid))
            except NoNodeError:
                pass
            try:
                _, stat = self.call("create", path, data, makepath=True, include_data=True)
                return Completion.ok(value, **self.facts(mzxid=stat.mzxid))
            except NodeExistsError:
                pass
        return Completion.fail("the znode kept appearing and vanishing")

    def _cas(self, path: str, expected: Any, new: int, value: Any) -> Completion:
        data = str(new).encode()
        if expected is None:
            try:
                _, stat = self.call("create", path, data, makepath=True, include_data=True)
            except NodeExistsError:
                return Completion.fail("the register is not absent")
            return Completion.ok(list(value), **self.facts(mzxid=stat.mzxid))
        try:
            current, stat = self.call("get", path)
        except NoNodeError:
            return Completion.fail("the register is absent")
        if _decode(current) != expected:
            return Completion.fail(f"the register holds {_decode(current)}")
        try:
            written = self.call("set", path, data, version=stat.version)
        except (BadVersionError, NoNodeError):
            return Completion.fail("the register changed since it was read")
        return Completion.ok(list(value), **self.facts(mzxid=written.mzxid))


class ZkSetClient(_KazooSession):
    """add = create the znode /set/e-<element>; read = sync, then list /set's children. A znode
    per element keeps adds independent (no contended CAS), so a lost add is unambiguous."""

    def invoke(self, op: Invocation) -> Completion:
        try:
            if op.f == "add":
                try:
                    self.call("create", f"{SET_ROOT}/e-{int(op.value)}", b"", makepath=True)
                except NodeExistsError:
                    pass  # elements are unique per run, so it is this add's own znode
                return Completion.ok(op.value, **self.facts())
            if op.f == "read":
                # sync first: a plain read may come from a server that is behind the leader.
                self.call("sync", SET_ROOT)
                try:
                    children = self.call("get_children", SET_ROOT)
                except NoNodeError:
                    children = []
                elements = sorted(int(c[2:]) for c in children if c.startswith("e-"))
                return Completion.ok(elements, **self.facts())
            return Completion.fail(f"zookeeper set has no {op.f!r}")
        except (TimeoutError, KazooException, OSError) as e:
            return _unknown(e)


class ZkLockClient(_KazooSession):
    """kazoo's Lock recipe on /locks/<key>. A hold ends at release, or as soon as the session's
    connection is SUSPENDED or LOST (the client can no longer know it still holds the lock):
    release reports that moment as lost_after_ms, measured from when the acquire returned."""

    def __init__(self, connect_string: Callable[[str], str], session_timeout_s: float,
                 lock_wait_s: float) -> None:
        super().__init__(connect_string, session_timeout_s)
        self.lock_wait_s = lock_wait_s
        self._locks: dict[str, Any] = {}
        self._held: dict[str, float] = {}  # key -> monotonic time the acquire returned
        self._lost_at: float | None = None  # first SUSPENDED/LOST while something was held
        self._state_lock = threading.Lock()

    def _listen(self, zk: KazooClient) -> None:
        def on_state(state: str) -> bool | None:
            if state in (KazooState.SUSPENDED, KazooState.LOST):
                with self._state_lock:
                    if self._held and self._lost_at is None:
                        self._lost_at = time.monotonic()
            return None  # stay registered

        zk.add_listener(on_state)

    def invoke(self, op: Invocation) -> Completion:
        try:
            if op.f == "acquire":
                return self._acquire(op.key)
            if op.f == "release":
                return self._release(op.key)
            return Completion.fail(f"zookeeper lock has no {op.f!r}")
        except (TimeoutError, KazooException, OSError) as e:
            return _unknown(e)

    def _acquire(self, key: str) -> Completion:
        assert self.zk is not None, "open() first"
        if key in self._held:
            return Completion.fail("this client already holds the lock")
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = self.zk.Lock(f"{LOCK_ROOT}/{key}", identifier=self.node)
        try:
            got = lock.acquire(blocking=True, timeout=self.lock_wait_s)
        except LockTimeout:
            return Completion.fail(f"not acquired in {self.lock_wait_s:g} s")
        if not got:
            return Completion.fail(f"not acquired in {self.lock_wait_s:g} s")
        if self.zk.state != KazooState.CONNECTED:
            # Acquired, but the connection is already in doubt: the client cannot trust it.
            try:
                lock.release()
            except (KazooException, RetryFailedError):
                pass
            return Completion.info("acquired while the connection was not CONNECTED")
        with self._state_lock:
            self._held[key] = time.monotonic()
            self._lost_at = None
        return Completion.ok({"lease_ms": None, "token": lock.node}, **self.facts())

    def _release(self, key: str) -> Completion:
        with self._state_lock:
            acquired_at = self._held.pop(key, None)
            lost_at = self._lost_at
            if not self._held:
                self._lost_at = None
        if acquired_at is None:
            return Completion.fail("not the holder")
        lost_after_ms = None
        if lost_at is not None and lost_at >= acquired_at:
            lost_after_ms = round((lost_at - acquired_at) * 1000.0, 3)
        try:
            self._locks[key].release()
        except (RetryFailedError, KazooException, TimeoutError, OSError) as e:
            # The hold ended at this release's invocation either way; whether the znode is gone
            # is unknown (the session's end removes it).
            return Completion.info(f"{type(e).__name__}: {e}", {"lost_after_ms": lost_after_ms})
        return Completion.ok({"lost_after_ms": lost_after_ms}, **self.facts())


__all__ = ["ZkRegisterClient", "ZkLockClient", "ZkSetClient"]
