"""Elle-style transactional checking (Kingsbury & Alvaro, VLDB 2020): list-append and
rw-register histories, dependency cycles and the consistency models they rule out.

    ElleChecker(consistency="strict-serializable", ...).check(history)
        -> {"valid", "not", "also_not", "anomaly_types", "anomalies", "cycle_search", ...}

See checkers/elle/checker.py for the options and the pipeline, and docs/checkers-elle.md for
what each anomaly and verdict means.
"""

from checkers.elle.checker import ElleChecker

__all__ = ["ElleChecker"]
