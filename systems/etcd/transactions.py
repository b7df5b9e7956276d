"""The `append` and `wr` transaction client for etcd: each transaction is one etcd txn.

etcd has no list append and refuses two puts of one key in one txn, so a transaction runs the
way etcd's own STM (clientv3/concurrency) runs one, optimistically:

1. read every key the transaction touches, in one txn of ranges (one revision), with each key's
   mod_revision (0: absent);
2. run the micro-ops against that snapshot here (systems/txn.py): reads see the snapshot and the
   transaction's own earlier writes, an append extends the key's list, a write replaces the
   register;
3. commit in one txn that compares every touched key's mod_revision with what step 1 saw (a
   key that was absent must still be absent) and puts the final value of every written key.

etcd applies a txn atomically at one revision and its reads (not `serializable`) are
linearizable, so a committed transaction happened at that revision: the history is strict
serializable if etcd keeps its promises. A commit whose comparison fails changed nothing: it is
retried from step 1, a few times, and then answered `fail`. Step 1 failing is `fail` (nothing
was written); step 3 timing out or erroring is `info` (etcd may have applied it).

Values: a list as JSON text (`[1,2,3]`), a register's value as JSON too. Keys live under
/txn/<key>. Op shapes: docs/op-shapes.md.
"""

from __future__ import annotations

import http.client
import json
from typing import Any

from systems.base import Completion, Invocation
from systems.etcd.client import (EtcdError, EtcdMemberClient, NotSentError, _describe, _revision,
                                 b64, unb64)
from systems.txn import COMMIT_ATTEMPTS, run_micro_ops, shape_problem, touched_keys

KEY_PREFIX = "/txn/"


class EtcdTxnClient(EtcdMemberClient):
    """An `append` or `wr` client bound to one etcd member."""

    def invoke(self, op: Invocation) -> Completion:
        if self.http is None:
            return Completion.fail("client not opened")
        problem = shape_problem(op)
        if problem:
            return Completion.fail(problem)
        micro_ops = [list(m) for m in op.value]
        keys = touched_keys(micro_ops)
        for _ in range(COMMIT_ATTEMPTS):
            try:
                snapshot = self._read(keys)
            except (NotSentError, EtcdError, OSError, http.client.HTTPException, ValueError) as e:
                return Completion.fail(f"reading the keys: {_describe(e)}")
            done, writes = run_micro_ops(micro_ops, {k: v for k, (v, _) in snapshot.items()
                                                     if v is not None})
            if not writes and all(f == "r" for f, _, _ in micro_ops):
                # read-only: the snapshot was one linearizable read at one revision
                return Completion.ok(done)
            try:
                answer = self._commit(snapshot, writes)
            except NotSentError as e:
                return Completion.fail(str(e))
            except (EtcdError, OSError, http.client.HTTPException, ValueError) as e:
                return Completion.info(_describe(e))
            if answer.get("succeeded"):  # proto3 JSON leaves out false
                return Completion.ok(done, **_revision(answer))
        return Completion.fail(f"another transaction changed its keys {COMMIT_ATTEMPTS} times "
                               f"running")

    def _read(self, keys: list[str]) -> dict[str, tuple[Any, int]]:
        """{key: (value or None, mod_revision or 0)}, all at one revision."""
        assert self.http is not None
        answer = self.http.post("/v3/kv/txn", {"success": [
            {"request_range": {"key": b64(KEY_PREFIX + k)}} for k in keys]})
        out: dict[str, tuple[Any, int]] = {}
        for key, response in zip(keys, answer.get("responses") or []):
            kvs = (response.get("response_range") or {}).get("kvs") or []
            if kvs:
                out[key] = (json.loads(unb64(kvs[0].get("value", ""))),
                            int(kvs[0].get("mod_revision", 0)))
            else:
                out[key] = (None, 0)
        for key in keys:
            out.setdefault(key, (None, 0))
        return out

    def _commit(self, snapshot: dict[str, tuple[Any, int]],
                writes: dict[str, Any]) -> dict[str, Any]:
        assert self.http is not None
        compare = []
        for key, (_, mod_revision) in snapshot.items():
            compare.append({"key": b64(KEY_PREFIX + key), "target": "MOD", "result": "EQUAL",
                            "mod_revision": str(mod_revision)})
        return self.http.post("/v3/kv/txn", {"compare": compare, "success": [
            {"request_put": {"key": b64(KEY_PREFIX + key),
                             "value": b64(json.dumps(value, separators=(",", ":")))}}
            for key, value in sorted(writes.items())]})


__all__ = ["EtcdTxnClient"]
