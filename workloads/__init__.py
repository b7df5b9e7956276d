"""Workloads: generators of operations plus the checkers that judge them (docs/op-shapes.md)."""
