"""The `queue` checker: Kafka-style partitioned logs, judged from acknowledged sends and polls.

Inputs (op shapes in docs/op-shapes.md): `send` ops whose ok value is {"partition", "value",
"offset"}, and `poll` ops whose ok value is a list of [partition, offset, value] records in the
order the consumer received them; final drains are polls with "phase": "final" and key = the
partition. A consumer is one process reading one partition. Definitions
(docs/checkers-set-mutex-queue-vip.md):

* inconsistent-offsets: one (partition, offset) observed with two or more values (observations are
  ok polls and acknowledged sends).
* duplicate: one value observed at two or more (partition, offset) positions.
* unexpected: a polled value that no send tried to write, or whose every send failed.
* lost-write: a send acknowledged at offset o of partition p whose value no poll ever returned,
  while polls of p reached o (returned an offset >= o); or acknowledged without an offset (acks=0)
  and missing from an ok, complete final drain of p.
* unseen: acknowledged, never polled, and no poll of p reached o. It proves a loss (invalid) when
  an ok final drain of p exists (the drained log ends before o); otherwise it is unknown.
* nonmonotonic-poll: a consumer received offset o' after offset o with o' <= o.
* poll-skip: a consumer received o' right after o (or as its first record) while some poll
  returned an offset strictly between them (below o' for a first record): it jumped over a record
  that exists. Gaps no poll ever filled (e.g. transaction markers) are not skips.
Sends that failed are dropped; info sends may or may not have happened and are only counted.
"""

from checkers.queue.checker import QueueChecker

__all__ = ["QueueChecker"]
