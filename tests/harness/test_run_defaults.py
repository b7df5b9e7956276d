"""What `splitbrain run SYSTEM` picks when an option is left out."""

import subprocess
import sys

import pytest

from harness.cli import _spec_from_args, build_parser


@pytest.mark.parametrize("argv,nodes,workload", [
    (["run", "raftkv"], 3, "register"),
    (["run", "redis"], 1, "register"),  # a system that cannot run on 3 runs on its own count
    (["run", "redis-cluster"], 6, "register"),
    (["run", "redis", "--workload", "append"], 1, "append"),
    (["run", "zookeeper", "--nodes", "5"], 5, "register"),
])
def test_nodes_and_workload_default_to_what_the_system_runs(argv, nodes, workload):
    spec = _spec_from_args(build_parser().parse_args(argv))
    assert (spec.nodes, spec.workload) == (nodes, workload)


def test_a_count_the_system_cannot_run_is_still_refused(tmp_path):
    p = subprocess.run([sys.executable, "-m", "harness", "run", "redis-cluster", "--nodes", "3"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert p.returncode == 254 and "runs on 6 nodes, not 3; pass --nodes 6" in p.stderr, p.stderr
