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


def test_run_opt_reaches_the_checkers_as_check_opt_does():
    from harness.runner import prepare
    from harness.spec import TestSpec

    spec = TestSpec(system="raftkv", workload="append", env="local",
                    options={"consistency": "serializable", "raftkv.read-mode": "log"})
    elle = prepare(spec).spec.checkers[0]
    assert elle == {"name": "elle", "workload": "append", "consistency": "serializable"}


def test_every_system_declares_an_offer_and_every_workload_its_options():
    from harness import registry
    from systems.base import Offer, Option
    from workloads.base import OpGenerator

    for name in registry.names("system"):
        system = registry.load("system", name)
        assert isinstance(system.offer, Offer), name
        assert all(isinstance(o, Option) for o in system.offer.options.values()), name
        for workload in system.offer.workloads or ():
            assert workload in registry.names("workload"), (name, workload)
    for name in registry.names("workload"):
        workload = registry.load("workload", name)()
        assert workload.description and all(isinstance(o, Option)
                                             for o in workload.options.values())
        assert isinstance(workload.generator({"concurrency": 4}), OpGenerator), name
