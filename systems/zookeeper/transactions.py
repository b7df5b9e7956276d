"""The `wr` and `append` transaction client for ZooKeeper: each transaction commits as one multi.

A plain ZooKeeper read is only sequentially consistent: the client's server may be behind the
leader (per session, reads never go back, and a session sees its own writes). So reads are not
trusted as they come. A transaction runs optimistically (systems/txn.py):

1. read every key it touches (get: the value and the znode's version; absent keys too);
2. run the micro-ops against those values here;
3. commit one multi that re-checks every key it read, at the version it read (check, or for a
   key that was absent a create and delete, which fails if it exists), and sets or creates every
   key it wrote at that version.

ZooKeeper applies a multi atomically through the leader, linearizably, so a committed
transaction read exactly the state it committed on, at its multi: transactions are strict
serializable, read-only ones included (their multi holds only checks). A multi that fails
changed nothing: the transaction is retried from step 1, a few times, then answered `fail`.
Reading failing is `fail`; the multi timing out or its connection dropping is `info`.

Keys live at /txn/<key>, values as JSON text.
"""

from __future__ import annotations

import json
from typing import Any

from kazoo.exceptions import KazooException, NoNodeError

from systems.base import ClusterContext, Completion, Invocation
from systems.txn import COMMIT_ATTEMPTS, run_micro_ops, shape_problem, touched_keys
from systems.zookeeper.client import _KazooSession, _unknown

TXN_ROOT = "/txn"


class ZkTxnClient(_KazooSession):
    """A transaction client on one kazoo session."""

    def open(self, ctx: ClusterContext, node: str) -> None:
        super().open(ctx, node)
        try:
            self.call("ensure_path", TXN_ROOT)
        except (TimeoutError, KazooException, OSError) as e:
            self.close()
            raise ConnectionError(f"cannot create {TXN_ROOT} via {node}: {e}") from None

    def invoke(self, op: Invocation) -> Completion:
        problem = shape_problem(op)
        if problem:
            return Completion.fail(problem)
        micro_ops = [list(m) for m in op.value]
        keys = touched_keys(micro_ops)
        for _ in range(COMMIT_ATTEMPTS):
            try:
                snapshot = {key: self._get(key) for key in keys}
            except (TimeoutError, KazooException, OSError) as e:
                return Completion.fail(f"reading the keys: {type(e).__name__}: {e}")
            done, writes = run_micro_ops(micro_ops, {k: v for k, (v, version) in snapshot.items()
                                                     if version >= 0})
            try:
                committed = self._commit(snapshot, writes)
            except (TimeoutError, KazooException, OSError) as e:
                return _unknown(e)
            if committed:
                return Completion.ok(done, **self.facts())
        return Completion.fail(f"another transaction changed its keys {COMMIT_ATTEMPTS} times "
                               f"running")

    def _get(self, key: str) -> tuple[Any, int]:
        """(value, version), or (None, -1) when the znode is absent."""
        try:
            data, stat = self.call("get", f"{TXN_ROOT}/{key}")
        except NoNodeError:
            return None, -1
        return (json.loads(data) if data else None), stat.version

    def _commit(self, snapshot: dict[str, tuple[Any, int]], writes: dict[str, Any]) -> bool:
        """One multi; True when it committed, False when a check refused it (nothing changed)."""
        assert self.zk is not None, "open() first"
        multi = self.zk.transaction()
        for key, (_, version) in snapshot.items():
            path = f"{TXN_ROOT}/{key}"
            if key in writes:
                data = json.dumps(writes[key], separators=(",", ":")).encode()
                if version < 0:
                    multi.create(path, data)
                else:
                    multi.set_data(path, data, version=version)
            elif version < 0:  # read as absent: still absent, or the multi fails
                multi.create(path, b"")
                multi.delete(path)
            else:
                multi.check(path, version)
        try:
            results = multi.commit_async().get(timeout=self.wait_s())
        except Exception as e:  # kazoo's timeout type; the outcome is unknown
            if isinstance(e, (KazooException, OSError)):
                raise
            raise TimeoutError(f"no answer to the commit in {self.wait_s():g} s") from None
        return not any(isinstance(r, Exception) for r in results)


__all__ = ["ZkTxnClient"]
