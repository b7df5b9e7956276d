"""Real Redis: `redis` (one server), `redis-sentinel` (a primary, two replicas, a sentinel on every
node) and `redis-cluster` (3 primaries + 3 replicas), run from the Debian redis-server package.

server.py starts and signals the processes (under the clock shim), clients.py turns the register,
set and lock workloads into Redis commands, and one module per system builds its topology and
waits until it is really what it claims to be. docs/redis.md says what each promises.
"""

from systems.redis.cluster import RedisCluster
from systems.redis.sentinel import RedisSentinel
from systems.redis.single import Redis

__all__ = ["Redis", "RedisSentinel", "RedisCluster"]
