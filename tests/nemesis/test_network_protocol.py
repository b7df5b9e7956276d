"""Both networks a nemesis can be handed (the lab of env netns, the SSH hosts of env ssh) declare
the Network protocol, so nemeses call nothing else; env ssh refuses what its hosts cannot do."""

from __future__ import annotations

import inspect

import pytest

from systems.control.hosts import LocalHost
from systems.control.lab import Lab
from systems.control.net import Network, NetFaultError
from systems.control.ssh import SshNetwork

PROTOCOL_METHODS = ["address", "cut", "loss", "latency", "heal", "installed", "probe_tcp",
                    "rtt_ms", "udp_delivered"]


def _ssh_network() -> SshNetwork:
    hosts = {n: LocalHost(n) for n in ("n1", "n2")}
    return SshNetwork(hosts, {"n1": "192.0.2.1", "n2": "192.0.2.2"}, "/srv/splitbrain/x/net")


@pytest.mark.parametrize("network", [Lab(["n1", "n2"]), _ssh_network()], ids=["lab", "ssh"])
def test_lab_and_ssh_networks_implement_the_protocol(network) -> None:
    assert isinstance(network, Network)
    for name in PROTOCOL_METHODS:
        declared = inspect.signature(getattr(Network, name))
        given = inspect.signature(getattr(type(network), name))
        # Every parameter the protocol declares is accepted under the same name.
        assert list(given.parameters)[:len(declared.parameters)] == list(declared.parameters), name
    assert not hasattr(network, "netns") or isinstance(network, Lab)  # no faked namespaces


def test_env_ssh_refuses_loss_and_latency_in_one_line() -> None:
    network = _ssh_network()
    with pytest.raises(NetFaultError, match="not offered on env ssh"):
        network.loss(["n1"], 10)
    with pytest.raises(NetFaultError, match="not offered on env ssh"):
        network.latency(["n1"], 50)
    assert network.address("n2") == "192.0.2.2"
