"""Documented `splitbrain` commands (runs, and checks of them) that an integration test runs verbatim and judges in more
detail than the verdict the document states.

The integration test runs the command as tests/docs/test_documented_commands.py would (through a
shell, from a temporary directory with the default store) and checks the stated verdict too; the
documented-commands test checks that each one here is still documented, and leaves running it to
the test named here, so a long run on a real cluster costs CI once, not twice.
"""

from __future__ import annotations

# Kafka (docs/kafka.md; the first two in README.md too), run by tests/integration/test_kafka.py
KAFKA_SAFE = ("splitbrain run kafka --workload queue --env netns --nemesis partition,kill "
              "--nemesis-interval 8 --time-limit 40 --opt acks=all --opt min.insync.replicas=2 "
              "--opt unclean.leader.election.enable=false --opt enable.idempotence=true")
KAFKA_ACKS_1 = ("splitbrain run kafka --workload queue --env netns --nemesis "
                "partition:leader:duration=15 --nemesis-interval 5 --time-limit 30 --opt acks=1")
KAFKA_TXN = ("splitbrain run kafka --workload txn --env local --nemesis kill --nemesis-interval 6 "
             "--time-limit 25 --op-timeout 10")
KAFKA_ACKS_0 = ("splitbrain run kafka --workload queue --env local --nemesis kill:leader:duration=5 "
                "--nemesis-interval 4 --time-limit 30 --seed 1 --opt acks=0")
KAFKA_UNCLEAN = ("splitbrain run kafka --workload queue --env netns --nemesis-overlap "
                 "--nemesis partition:leader:port=9092:duration=30,kill:leader:duration=12 "
                 "--nemesis-interval 16 --time-limit 40 --seed 3 --opt min.insync.replicas=1 "
                 "--opt unclean.leader.election.enable=true")
KAFKA_UNCLEAN_SAFE = ("splitbrain run kafka --workload queue --env netns --nemesis-overlap "
                      "--nemesis partition:leader:port=9092:duration=30,kill:leader:duration=12 "
                      "--nemesis-interval 16 --time-limit 40 --seed 3 --opt min.insync.replicas=2 "
                      "--opt unclean.leader.election.enable=false")

# ZooKeeper (docs/zookeeper.md; the first in README.md too), run by
# tests/integration/test_zookeeper.py
ZOOKEEPER_REGISTER = ("splitbrain run zookeeper --workload register --env netns --nemesis "
                      "partition,kill --time-limit 40")
ZOOKEEPER_LOCK = ("splitbrain run zookeeper --workload lock --env netns --nemesis partition,kill "
                  "--time-limit 40")

# etcd (docs/etcd.md; the first in README.md too), run by tests/integration/test_etcd.py
ETCD_NETNS = ("splitbrain run etcd --workload register --env netns --nemesis "
              "partition,kill,pause --time-limit 40")
ETCD_LOCAL = ("splitbrain run etcd --workload register --env local --nemesis kill,pause "
              "--time-limit 30")

# keepalived (docs/keepalived.md; the first in README.md too), run by
# tests/integration/test_keepalived.py
KEEPALIVED_SPLIT = ("splitbrain run keepalived --nodes 2 --workload vip --concurrency 1 --rate 10 "
                    "--nemesis partition:halves:duration=8 --nemesis-interval 2 --time-limit 16")
KEEPALIVED_CALM = ("splitbrain run keepalived --nodes 3 --workload vip --concurrency 1 --rate 10 "
                   "--nemesis none --time-limit 10")

# Redis (docs/redis.md; the first two in README.md too), run by tests/integration/test_redis.py
REDIS_SENTINEL_SET = ("splitbrain run redis-sentinel --nodes 3 --workload set --env netns "
                      "--nemesis partition:leader:duration=12 --nemesis-interval 4 --time-limit 20")
REDIS_LOCK_CLOCK_BUMP = ("splitbrain run redis --nodes 1 --workload lock --env local --nemesis "
                         "clock:leader:mode=bump:delta=5000:duration=1.5 --nemesis-interval 3 "
                         "--time-limit 15 --concurrency 5 --opt workload.hold_ms=800")
REDIS_SENTINEL_APPEND = ("splitbrain run redis-sentinel --workload append --env netns --nemesis "
                         "partition:leader:duration=12 --nemesis-interval 4 --time-limit 20 "
                         "--seed 8")
REDIS_LOCK = ("splitbrain run redis --nodes 1 --workload lock --env local --nemesis none "
              "--time-limit 10 --concurrency 5 --opt workload.hold_ms=800")
REDIS_APPEND = "splitbrain run redis --workload append --env local --nemesis none --time-limit 10"
REDIS_REGISTER = ("splitbrain run redis --nodes 1 --workload register --env local --nemesis none "
                  "--time-limit 10")
REDIS_CLUSTER_REGISTER = ("splitbrain run redis-cluster --nodes 6 --workload register --env local "
                          "--nemesis none --time-limit 10")

# Kafka consumer groups (docs/kafka.md), run by tests/integration/test_kafka_group.py
_GROUP = "splitbrain run kafka --workload group --env local"
_CRASHING = f"{_GROUP} --concurrency 4 --time-limit 15 --op-timeout 10"
_SAFE = "--opt acks=all --opt enable.idempotence=true"
KAFKA_GROUP_AFTER = (f"{_CRASHING} --nemesis crash:uncommitted:duration=1 --nemesis-interval 5 "
                     "--opt workload.commit=after --opt workload.commit_every=3 "
                     "--opt workload.process_ms=100")
KAFKA_GROUP_AFTER_CHECK = ("splitbrain check --checker delivery --opt delivery=exactly-once "
                           "store/latest/history.jsonl")
KAFKA_GROUP_BEFORE = (f"{_CRASHING} --nemesis crash:unprocessed:duration=1 --nemesis-interval 5 "
                      f"--seed 2 --opt workload.commit=before --opt workload.process_ms=1000 {_SAFE}")
KAFKA_GROUP_AUTO = (f"{_CRASHING} --nemesis crash:uncommitted:duration=1 --nemesis-interval 5 "
                    "--seed 3 --opt workload.commit=auto --opt workload.auto.commit.interval.ms=20000 "
                    f"--opt workload.process_ms=50 {_SAFE}")
KAFKA_GROUP_TXN = (f"{_CRASHING} --nemesis crash:consumers:duration=1,crash:in-txn:duration=1,kill "
                   "--nemesis-interval 5 --seed 6 --opt workload.commit=txn "
                   f"--opt workload.process_ms=200 {_SAFE}")
KAFKA_GROUP_TWO = (f"{_GROUP} --time-limit 15 --op-timeout 10 --seed 5 --opt workload.commit=after "
                   f"--opt workload.groups=2 --opt workload.churn=0.3 {_SAFE}")

_G = "tests/integration/test_kafka_group.py::"
RUN_BY = {
    KAFKA_GROUP_AFTER: _G + "test_commit_after_redelivers_but_loses_nothing_under_consumer_crashes",
    KAFKA_GROUP_AFTER_CHECK: _G + "test_commit_after_redelivers_but_loses_nothing_under_consumer_crashes",
    KAFKA_GROUP_BEFORE: _G + "test_commit_before_loses_what_a_crash_caught_before_processing",
    KAFKA_GROUP_AUTO: _G + "test_commit_auto_with_a_long_interval_redelivers_after_a_crash",
    KAFKA_GROUP_TXN: _G + "test_commit_txn_stays_exactly_once_under_consumer_crashes_and_broker_kills",
    KAFKA_GROUP_TWO: _G + "test_two_groups_each_process_every_message_while_members_come_and_go",
    KAFKA_SAFE: "tests/integration/test_kafka.py::test_queue_safe_settings_valid_under_partition_and_kill",
    KAFKA_ACKS_1: "tests/integration/test_kafka.py::test_acks_1_loses_writes_when_the_leader_is_cut_off_past_the_session_timeout",
    KAFKA_TXN: "tests/integration/test_kafka.py::test_txn_under_kill_verdict_rests_on_listed_evidence",
    KAFKA_ACKS_0: "tests/integration/test_kafka.py::test_acks_0_loses_acknowledged_sends_to_a_killed_leader",
    KAFKA_UNCLEAN: "tests/integration/test_kafka.py::test_unclean_leader_election_loses_acknowledged_writes",
    KAFKA_UNCLEAN_SAFE: "tests/integration/test_kafka.py::test_the_same_faults_with_the_safe_settings_lose_nothing",
    ZOOKEEPER_REGISTER: "tests/integration/test_zookeeper.py::test_register_under_partition_and_kill_keeps_zookeepers_promises",
    ZOOKEEPER_LOCK: "tests/integration/test_zookeeper.py::test_lock_under_partition_and_kill_keeps_mutual_exclusion",
    ETCD_NETNS: "tests/integration/test_etcd.py::test_register_under_partition_kill_and_pause_is_valid",
    ETCD_LOCAL: "tests/integration/test_etcd.py::test_register_under_kill_and_pause_is_valid",
    KEEPALIVED_SPLIT: "tests/integration/test_keepalived.py::test_partition_between_vrrp_peers_gives_two_holders",
    KEEPALIVED_CALM: "tests/integration/test_keepalived.py::test_without_faults_exactly_one_node_holds_the_vip",
    REDIS_SENTINEL_SET: "tests/integration/test_redis.py::test_sentinel_loses_acknowledged_writes_when_the_primary_is_partitioned",
    REDIS_LOCK_CLOCK_BUMP: "tests/integration/test_redis.py::test_lock_under_clock_bump_finds_overlapping_holds",
    REDIS_SENTINEL_APPEND: "tests/integration/test_redis.py::test_sentinel_transactions_break_when_the_primary_is_partitioned",
    REDIS_LOCK: "tests/integration/test_redis.py::test_lock_without_faults_is_mutually_exclusive",
    REDIS_APPEND: "tests/integration/test_redis.py::test_single_redis_transactions_are_strict_serializable",
    REDIS_REGISTER: "tests/integration/test_redis.py::test_single_redis_register_is_linearizable",
    REDIS_CLUSTER_REGISTER: "tests/integration/test_redis.py::test_redis_cluster_register_is_linearizable",
}
