"""The control layer: how splitbrain reaches the machines a cluster runs on, and their network.

Like Jepsen's control and net namespaces, which its db and nemesis namespaces both stand on, this
package sits at the bottom of systems/: systems start their processes through it and nemeses
cut, slow and probe links through it, and it imports nothing from either (nor from the harness).

- hosts: the Host protocol (run a command, start/signal a daemon), LocalHost, and CommandError,
  the one error for a command that could not run or failed.
- ssh: SshHost, the Host protocol over SSH, and SshNetwork, the Network protocol on SSH hosts.
- lab: Lab, a throwaway network of one namespace per node on a bridge (env netns).
- net: the Network protocol (cut a grudge, heal, loss, latency, probes) and its iptables / nft /
  NFQUEUE mechanics, shared by the lab and SSH networks.
- ledger: the JSON file of what a run or lab started, written before starting it, so that
  `splitbrain clean` can remove what a killed run left behind.
- clockshim: the LD_PRELOAD library that moves a process's wall clock.
- latency_delayer, probe_*: programs run on the nodes with `python -m systems.control.<name>`.
"""
