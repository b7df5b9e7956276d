"""Systems under test: each module sets up a cluster and provides clients for workloads.

Bundled systems keep their node logic free of sockets and clocks (see systems/raftkv/core.py) so a
deterministic simulator can drive the same code.
"""
