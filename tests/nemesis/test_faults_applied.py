"""The faults on real things: network faults on a lab, clock faults on a running raftkv cluster."""

from __future__ import annotations

import os
import random
import time
from types import SimpleNamespace

import pytest

from harness.envs import LocalEnv
from systems.control.lab import Lab
from nemesis import verify
from nemesis.base import resolve_target
from nemesis.clock import ClockFault
from nemesis.network import LatencyFault, LossFault, PartitionFault
from systems.base import ClusterContext
from systems.raftkv import RaftKV
from systems.raftkv.clock import Clock

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: namespaces and iptables")


@pytest.fixture
def lab_ctx(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    lab = Lab(["n1", "n2", "n3"])
    try:
        lab.up()
        yield ClusterContext(nodes=lab.nodes, hosts={n: lab.host(n) for n in lab.nodes},
                             run_dir=tmp_path, seed=0, shared_host=False,
                             addresses=dict(lab.addresses), network=lab)
    finally:
        lab.down()


@root_only
@pytest.mark.timeout(90)
def test_loss_latency_and_partition_are_verified_when_applied_and_healed(lab_ctx):
    lab = lab_ctx.network
    loss = LossFault()
    started = loss.start(None, lab_ctx, ["n1"], {"p": 40.0, "duration": 1})
    assert started["probe"]["verified"] and 25 <= started["probe"]["lost_percent"] <= 55
    loss.stop(None, lab_ctx, ["n1"], {"p": 40.0}, started)
    assert lab.udp_delivered("n1", "n2", count=100) >= 97

    latency = LatencyFault()
    params = {"ms": 80.0, "jitter": 0.0, "duration": 1}
    started = latency.start(None, lab_ctx, ["n2"], params)
    probe = started["probe"]
    assert probe["rtt_ms"] >= probe["baseline_ms"] + 60
    latency.stop(None, lab_ctx, ["n2"], params, started)
    assert lab.rtt_ms("n2", "n1", samples=3) < 40

    partition = PartitionFault()
    targets, shape = resolve_target(partition, "one", lab.nodes, random.Random(4), None)
    started = partition.start(None, lab_ctx, targets, shape)
    (victim,) = targets
    others = [n for n in lab.nodes if n != victim]
    assert sorted(started["probe"]["cut"]) == sorted(
        [f"{victim}->{o}" for o in others] + [f"{o}->{victim}" for o in others])
    # The harness (on the bridge) still reaches the cut-off node.
    assert lab.probe_tcp(others[0], [others[1]])[others[1]] == "refused"
    partition.stop(None, lab_ctx, targets, shape, started)
    verify.verify_connected(lab)


def test_the_injectable_clock_follows_its_offset_file(tmp_path):
    offset = tmp_path / "clock-offset"
    clock = Clock(str(offset))
    assert abs(clock.time() - time.time()) < 0.1  # no file: true time
    offset.write_text("-90000\n")
    time.sleep(0.03)
    assert abs(clock.time() - (time.time() - 90)) < 0.1
    offset.write_text("not a number")
    time.sleep(0.03)
    assert abs(clock.time() - (time.time() - 90)) < 0.1  # a bad file keeps the last good offset
    offset.unlink()
    time.sleep(0.03)
    assert abs(clock.time() - time.time()) < 0.1


@pytest.fixture
def raftkv_local(tmp_path):
    env = LocalEnv()
    spec = SimpleNamespace(nodes=3, seed=1, bugs=(), options={})
    system = RaftKV()
    try:
        system.setup(env.open(spec, tmp_path))
        yield system
    finally:
        system.teardown()
        env.close()


@pytest.mark.timeout(60)
def test_clock_bump_and_strobe_move_only_the_target_nodes_clock(raftkv_local):
    system = raftkv_local
    fault = ClockFault()
    bump = {"mode": "bump", "delta": 60000, "period": 500, "duration": 1}
    started = fault.start(system, system.ctx, ["n1"], bump)
    assert 59500 <= started["probe"]["measured_ms"]["n1"] <= 60500
    assert abs(system.wall_clock("n2") - time.time()) < 0.5  # the others keep true time
    stopped = fault.stop(system, system.ctx, ["n1"], bump, started)
    assert abs(stopped["probe"]["measured_ms"]["n1"]) < 500

    strobe = {"mode": "strobe", "delta": 3000, "period": 100, "duration": 1}
    started = fault.start(system, system.ctx, ["n2"], strobe)
    seen = set()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and len(seen) < 2:
        seen.add(round(system.wall_clock("n2") - time.time()))
        time.sleep(0.03)
    assert seen == {0, 3}, seen  # flipping between true time and +3 s
    fault.stop(system, system.ctx, ["n2"], strobe, started)
    time.sleep(0.3)  # no flip may come after the heal
    assert abs(system.wall_clock("n2") - time.time()) < 0.5


@root_only
@pytest.mark.timeout(90)
def test_overlapping_network_faults_verify_against_what_is_in_force(lab_ctx):
    lab = lab_ctx.network
    first, second, loss = PartitionFault(), PartitionFault(), LossFault()
    a_targets, a = resolve_target(first, "halves", lab.nodes, random.Random(0), None)  # n1 | n2 n3
    a_started = first.start(None, lab_ctx, a_targets, a)
    b = {"grudge": {"n2": ["n3"], "n3": ["n2"]}, "groups": [["n1", "n2"], ["n1", "n3"]]}
    b_started = second.start(None, lab_ctx, ["n2", "n3"], b)  # now every pair is cut
    assert sorted(b_started["probe"]["cut"]) == ["n2->n3", "n3->n2"]
    # Loss on n2 while it is cut from both others: nothing to measure against, said so.
    l_params = {"p": 50.0, "duration": 1}
    l_started = loss.start(None, lab_ctx, ["n2"], l_params)
    assert l_started["probe"]["verified"] is False
    loss.stop(None, lab_ctx, ["n2"], l_params, l_started)
    # Healing the first partition restores only what the second does not cut.
    stopped = first.stop(None, lab_ctx, a_targets, a, a_started)
    assert stopped["probe"]["restored"] == ["n1->n2", "n1->n3", "n2->n1", "n3->n1"]
    assert lab.probe_tcp("n2", ["n3"])["n3"] == "timeout"
    # Loss on n1 with n1 reachable again: measured against n2 with the expected share.
    l_started = loss.start(None, lab_ctx, ["n1"], l_params)
    assert l_started["probe"]["verified"] and l_started["probe"]["expected_percent"] == 50
    loss.stop(None, lab_ctx, ["n1"], l_params, l_started)
    second.stop(None, lab_ctx, ["n2", "n3"], b, b_started)
    verify.verify_connected(lab)
