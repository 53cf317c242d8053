"""Which replica looks at a watched player: a lease in Redis, one holder per player at a time.

With REDIS_URL, the replica whose poller holds `<prefix>watch:<steam_id>` asks Steam; the others read the look
from the shared store (DATABASE_URL) instead, so however many replicas have watchers of a player, Steam is asked
once per interval between them. The lease is taken with ``SET NX PX`` and renewed by its holder (a compare in
one Lua script, so a holder never renews a lease another replica took after it expired); it lapses on its own
when the holder stops, and another replica takes over within one lease time. While Redis does not answer, every
replica leads for its own watchers (as without Redis): watchers are served, Steam is asked a little more.
"""

from __future__ import annotations

import logging
import math
import uuid
from typing import Final

from redis.asyncio import Redis

from dbd_playerstats.upstream.shared import REDIS_ERRORS, SharedState

log = logging.getLogger(__name__)

# 1: this replica holds the lease now (taken or renewed); 0: another one does.
_HOLD: Final = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if current then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


class WatchLeases:
    """Leases of watched players in the shared state's Redis, for this replica (a random id per process)."""

    def __init__(self, client: Redis, *, key_prefix: str) -> None:
        self._client = client
        self._prefix = f"{key_prefix}watch:"
        self._me = uuid.uuid4().hex
        self._hold = client.register_script(_HOLD)

    @classmethod
    def of(cls, shared: SharedState) -> WatchLeases:
        return cls(shared.client, key_prefix=shared.key_prefix)

    async def hold(self, steam_id: str, ttl_secs: float) -> bool:
        """Whether this replica leads the looks at `steam_id` for the next `ttl_secs` (True while Redis is away)."""
        try:
            held = await self._hold(keys=[self._prefix + steam_id], args=[self._me, max(1, math.ceil(ttl_secs * 1000))])
        except REDIS_ERRORS as exc:
            log.debug("watch lease of %s: Redis unavailable (%s); looking ourselves", steam_id, type(exc).__name__)
            return True
        return bool(held)


__all__ = ["WatchLeases"]
