"""Kafka delivery: the logs under Jepsen's kafka checker's names, and each consumer group's
delivery promise (at-most-once, at-least-once, exactly-once) with the crash or rebalance that
explains each lost or duplicated message.

    DeliveryChecker(delivery="auto", ...).check(history)
        -> {"valid", "reason", "anomaly_types", "failing", "anomalies", "groups", "windows", ...}

See checkers/delivery/checker.py for the options and the pipeline, docs/checkers-delivery.md for
every finding and verdict, and docs/op-shapes.md (workload `group`) for the ops it reads.
"""

from checkers.delivery.checker import DeliveryChecker

__all__ = ["DeliveryChecker"]
