"""Each network fault observed from outside, on a real 3-node lab: partition, loss, latency, pause."""

from __future__ import annotations

import json
import os
import random
import signal
import time

import pytest

from harness.prereqs import (LATENCY_DEBIAN_PACKAGES, LATENCY_PIP_PACKAGES,
                             ensure_debian_packages, ensure_pip)
from nemesis import grudge as grudges
from nemesis import verify
from nemesis.grudge import grudge_from_groups
from systems.control import net

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces and iptables"),
              pytest.mark.timeout(120)]


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def recorded_kinds(lab) -> list[str]:
    return [item["kind"] for item in json.loads(lab.state_path.read_text())["items"]]


@pytest.fixture(scope="module")
def latency_prereqs(lab_prereqs):
    ensure_debian_packages(LATENCY_DEBIAN_PACKAGES)
    ensure_pip(LATENCY_PIP_PACKAGES)


def test_partition_cuts_new_and_established_flows_both_ways_and_heals(lab, tickers):
    # Flows established before the cut, one opened from each side.
    server2 = tickers.start("n2", "serve")
    client1 = tickers.start("n1", "connect", peer="n2")
    server1 = tickers.start("n1", "serve", port=7002)
    client2 = tickers.start("n2", "connect", peer="n1", port=7002)
    flows = [client1, server2, server1, client2]
    assert wait_until(lambda: all(tickers.received(d, "tick") >= 3 for d in flows), 5)

    handle = lab.cut(grudge_from_groups([["n1"], ["n2", "n3"]]))
    try:
        time.sleep(0.5)  # what was in flight when the rules went in
        before = [tickers.received(d, "tick") for d in flows]
        time.sleep(1.5)
        assert [tickers.received(d, "tick") for d in flows] == before, "an established flow crossed the cut"

        # New connections, both directions, stall; the uncut pair answers.
        assert lab.probe_tcp("n1", ["n2", "n3"]) == {"n2": "timeout", "n3": "timeout"}
        assert lab.probe_tcp("n2", ["n1", "n3"]) == {"n1": "timeout", "n3": "refused"}
        assert lab.udp_delivered("n1", "n2", count=20) == 0
        assert lab.udp_delivered("n2", "n1", count=20) == 0
        assert lab.udp_delivered("n2", "n3", count=20) == 20
        verify.verify_partition(lab, handle)
    finally:
        lab.heal(handle)

    verify.verify_connected(lab)
    assert lab.udp_delivered("n1", "n2", count=20) == 20
    # The old connections resume once TCP retransmits (backoff: give it some seconds).
    after_heal = [tickers.received(d, "tick") for d in flows]
    assert wait_until(lambda: all(tickers.received(d, "tick") > n + 3 for d, n in zip(flows, after_heal)), 15)
    assert handle.healed and "rule" not in recorded_kinds(lab)


def test_verify_partition_notices_a_partition_that_did_not_take(lab):
    handle = lab.cut(grudge_from_groups([["n1"], ["n2", "n3"]]))
    lab.heal(handle)  # rules gone, but the handle still claims the cut
    with pytest.raises(verify.FaultNotEffectiveError, match="n1->n2 refused"):
        verify.verify_partition(lab, handle)


def test_a_partition_of_one_port_leaves_every_other_port_alone(lab):
    port = 41234  # nothing listens: an uncut probe is refused, a cut one times out
    handle = lab.cut(grudge_from_groups([["n1"], ["n2", "n3"]]), port=port)
    try:
        assert handle.port == port
        verify.verify_partition(lab, handle)
        assert lab.probe_tcp("n1", ["n2", "n3"], port=port) == {"n2": "timeout", "n3": "timeout"}
        assert lab.probe_tcp("n2", ["n1"], port=port) == {"n1": "timeout"}
        assert lab.probe_tcp("n2", ["n3"], port=port) == {"n3": "refused"}
        # other ports and UDP cross the cut
        assert lab.probe_tcp("n1", ["n2", "n3"]) == {"n2": "refused", "n3": "refused"}
        assert lab.udp_delivered("n1", "n2", count=20) == 20
    finally:
        lab.heal(handle)
    assert lab.installed(handle) == []
    assert lab.probe_tcp("n1", ["n2", "n3"], port=port) == {"n2": "refused", "n3": "refused"}


def test_grudge_bridge_partition_on_a_lab(lab):
    grudge = grudges.grudge("bridge", lab.nodes, random.Random(3))
    handle = lab.cut(grudge)
    try:
        results = verify.verify_partition(lab, handle)
        middle = next(node for node, others in grudge.items() if not others)
        assert all(results[(middle, other)] == "refused" for other in lab.nodes if other != middle)
    finally:
        lab.heal(handle)


def test_loss_of_half_the_packets_on_one_side(lab):
    handle = lab.loss(["n1"], 50)
    try:
        delivered = lab.udp_delivered("n1", "n2", count=200)
        # Binomial(200, 0.5): sd 7.1, so +/- 25 fails about once in 2000 runs.
        assert 75 <= delivered <= 125, delivered
        assert lab.udp_delivered("n2", "n3", count=50) == 50
    finally:
        lab.heal(handle)
    assert lab.udp_delivered("n1", "n2", count=100) == 100


def test_latency_adds_the_delay_and_a_partition_still_cuts_under_it(lab, latency_prereqs):
    baseline = lab.rtt_ms("n1", "n2")
    handle = lab.latency(lab.nodes, ms=100)
    try:
        delayed = lab.rtt_ms("n1", "n2")
        # Each node delays what it sends: a round trip crosses two delays, one per direction.
        one_way_increase = (delayed - baseline) / 2
        assert 90 <= one_way_increase <= 130, (baseline, delayed)
        cut = lab.cut(grudge_from_groups([["n1"], ["n2", "n3"]]))
        try:
            verify.verify_partition(lab, cut, timeout=1.5)
        finally:
            lab.heal(cut)
        verify.verify_connected(lab, timeout=2)
        delayers = [d.pid for d in handle.delayers.values()]
    finally:
        lab.heal(handle)
    assert lab.rtt_ms("n1", "n2") < baseline + 20
    assert not any(os.path.exists(f"/proc/{pid}") for pid in delayers)
    assert "process" not in recorded_kinds(lab) and "rule" not in recorded_kinds(lab)


def test_latency_only_on_one_node_delays_only_its_side(lab, latency_prereqs):
    baseline = lab.rtt_ms("n2", "n3")
    handle = lab.latency(["n1"], ms=80)
    try:
        assert 70 <= lab.rtt_ms("n2", "n1") - baseline <= 110
        assert lab.rtt_ms("n2", "n3") < baseline + 20
        verify.verify_latency(lab, handle, "n2")
    finally:
        lab.heal(handle)


def test_sigstop_silences_a_process_and_sigcont_brings_it_back(lab, tickers):
    server = tickers.start("n2", "serve")
    client = tickers.start("n1", "connect", peer="n2")
    assert wait_until(lambda: tickers.received(client, "echo") >= 3, 5)
    host = lab.host("n2")

    host.signal(server, signal.SIGSTOP)
    try:
        time.sleep(0.3)
        before = tickers.received(client, "echo")
        time.sleep(1.0)
        assert tickers.received(client, "echo") == before, "a stopped server kept answering"
        assert host.alive(server)
    finally:
        host.signal(server, signal.SIGCONT)
    assert wait_until(lambda: tickers.received(client, "echo") > before + 5, 5)


def test_latency_method_netem_where_the_kernel_has_it(lab, latency_prereqs):
    probe = lab.host("n3").run(["tc", "qdisc", "add", "dev", "eth0", "root", "netem", "delay", "1ms"])
    lab.host("n3").run(["tc", "qdisc", "del", "dev", "eth0", "root"])
    if probe.exit_code != 0:
        # This kernel lacks netem: asking for it says so; "auto" falls back to the delayer.
        with pytest.raises(net.NetFaultError, match="no netem"):
            lab.latency(["n1"], ms=50, method="netem")
        handle = lab.latency(["n1"], ms=50)
        assert handle.method == "nfqueue"
    else:
        handle = lab.latency(["n1"], ms=50)
        assert handle.method == "netem"
    try:
        verify.verify_latency(lab, handle, "n2")
    finally:
        lab.heal(handle)
    assert lab.rtt_ms("n1", "n2") < 20
    assert "tc qdisc" not in lab.state_path.read_text()
