"""The harness wires systems, workloads, nemeses and checkers into a run, and owns the CLI."""
