"""Checkers: read a history (from a file, from any tool) and return a verdict with evidence.

Nothing here imports harness, systems or nemesis; see checkers/history.py for the file contract.
"""

from checkers import native as _native

_native.select()
