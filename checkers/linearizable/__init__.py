"""Linearizability checking (Wing-Gong/Lowe search with P-compositionality and cuts).

    LinearizabilityChecker(model="cas-register", timeout=None, split_keys=True, workers=None)
        .check(history) -> {"valid", "model", "operations", "partitions", "elapsed_s", "note",
                            "failures", "unknown"}
"""

from checkers.linearizable.checker import LinearizabilityChecker, check_partition

__all__ = ["LinearizabilityChecker", "check_partition"]
