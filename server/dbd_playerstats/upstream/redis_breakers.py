"""purgatory's Redis storage of the circuit breakers, on our Redis client, with keys that expire.

purgatory's `AsyncRedisRepository` builds a client of its own from a URL (with redis-py's default retries, which
would stall a call while Redis is away) and sets its keys without expiry. This subclass uses the shared state's
client (short timeouts, one reconnect) and refreshes an expiry on every write.
"""

from __future__ import annotations

import math
from typing import Final

from purgatory.domain.model import Context
from purgatory.service._async.repository import AsyncRedisRepository
from redis.asyncio import Redis

from dbd_playerstats.upstream.policy import BreakerPolicy

BREAKER_KEY_MIN_TTL_SECS: Final = 3600.0


def breaker_key_ttl_secs(breaker: BreakerPolicy) -> float:
    """How long a shared breaker's keys outlive their last write: an hour, or ten open periods if longer."""
    return max(BREAKER_KEY_MIN_TTL_SECS, 10 * breaker.reset_timeout_secs)


class RedisBreakerContexts(AsyncRedisRepository):
    """purgatory's Redis storage of breakers, on our client (timeouts, no long retries) under our prefix.

    purgatory sets its two keys per breaker without expiry; every write here also gives both `ttl_secs`, so a
    deployment that is gone (or a configuration no replica uses any more) leaves nothing behind. A breaker not
    written for that long was closed or long due for half-open: forgetting it is starting closed.
    """

    def __init__(self, client: Redis, prefix: str, *, ttl_secs: float) -> None:
        # Not super().__init__: it would build a client of its own from a URL, with redis-py's default retries.
        self.redis = client
        self.messages = []
        self.prefix = prefix
        self._ttl_ms = max(1, math.ceil(ttl_secs * 1000))

    async def _expire(self, name: str) -> None:
        await self.redis.pexpire(f"{self.prefix}{name}", self._ttl_ms)
        await self.redis.pexpire(f"{self.prefix}{name}::failure_count", self._ttl_ms)

    async def register(self, context: Context) -> None:
        await super().register(context)
        await self._expire(context.name)

    async def update_state(self, name: str, state: str, opened_at: float | None) -> None:
        await super().update_state(name, state, opened_at)
        await self._expire(name)

    async def inc_failures(self, name: str, failure_count: int) -> None:
        await super().inc_failures(name, failure_count)
        await self._expire(name)

    async def reset_failure(self, name: str) -> None:
        await super().reset_failure(name)
        await self._expire(name)


__all__ = ["BREAKER_KEY_MIN_TTL_SECS", "RedisBreakerContexts", "breaker_key_ttl_secs"]
