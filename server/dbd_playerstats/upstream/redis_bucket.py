"""`RedisTokenBucket`: the Steam budget's GCRA kept in Redis, one atomic Lua script per step, shared by replicas.

The arithmetic is exactly `ratelimit.InMemoryTokenBucket`'s (see that module): emission interval
``T = 60 / RATE_LIMIT_PER_MIN`` s, tolerance ``tau = (BURST_LIMIT - 1) * T``, state ``TAT`` and ``paused``, and

- reserve(max_wait): ``due = max(now, max(TAT, now) - tau)``; granted (``TAT = max(TAT, now) + T``) when
  ``due - now < max_wait`` or ``due == now``; else TokenUnavailable(due - now) and nothing changes.
- pause(s): ``paused = max(paused, now + s)``, ``TAT = max(TAT, now + s + tau)`` (no grant before now + s, burst
  drained); refund(r): ``TAT -= T`` when TAT is still r's mark; still_valid(r): ``paused <= r.due``.

so every replica's grants together form one GCRA-conforming sequence: in any window of W seconds, at most
``BURST_LIMIT + W / T`` tokens are due, whichever replica took them, and a 429 seen by one replica pauses all.

Redis-specific choices:

- **One clock**: ``now`` is Redis's ``TIME`` read inside the script, so replicas' clocks never matter; the
  reply carries ``due - now`` and the caller sleeps that long from when it got the reply (a little later than
  due: never earlier). A jump of the Redis host's clock moves every grant with it (backwards: grants wait up to
  the jump; forwards: at most one burst early). Scripts are replicated by effect (Redis >= 5), so TIME is allowed.
- **Integer microseconds** for every time (exact in Lua's doubles up to 2^53 us, i.e. centuries); T is rounded
  up to a whole microsecond, so the shared rate is never above the configured one.
- **State**: one hash ``<key>`` with fields ``tat`` and ``paused``; it expires one second after both lie in the
  past, when it is equivalent to a fresh, full bucket (an idle budget leaves nothing behind in Redis).
- **Atomic** because a script runs alone on the server: two replicas can never take the same token.

Why not pyrate-limiter's Redis bucket (the library notes' candidate): it stamps items with each client's own
clock, keeps a sliding log (a sorted set of every grant in the window) instead of a due time, grants only "now"
(a caller that must wait polls until its timeout, so it can neither be refused at once when no token can come
before its deadline, nor be told when the next token will be due behind other waiters, nor keep its place in
the queue), and has no pause for a 429. Those are the semantics the resilient upstream relies on; the GCRA is
twenty lines of Lua.

All replicas must use the same RATE_LIMIT_PER_MIN and BURST_LIMIT: the script takes T and tau from the caller,
so replicas configured differently each apply their own to the one shared TAT.
"""

from __future__ import annotations

import math
from typing import Any, Final

from redis.asyncio import Redis

from dbd_playerstats.upstream.deadline import Clock
from dbd_playerstats.upstream.policy import RateLimitPolicy
from dbd_playerstats.upstream.ratelimit import Reservation, TokenUnavailable

MICROS: Final = 1_000_000

# Common prologue: `now` in microseconds (ARGV[1], empty: the server's TIME), and the bucket's state.
_PROLOGUE: Final = """
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[1])
end
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat') or 0)
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused') or 0)
local function keep(tat_, paused_)
  local last = math.max(tat_, paused_)
  redis.call('PEXPIRE', KEYS[1], math.floor((last - now) / 1000) + 1000)
end
"""

# ARGV[4]: the longest wait accepted in microseconds, -1 for no limit.
# Reply: {1, wait, due, mark} when reserved, {0, wait} when not.
RESERVE_SCRIPT: Final = (
    _PROLOGUE
    + """
local max_wait = tonumber(ARGV[4])
if tat < now then tat = now end
local due = tat - tolerance
if due < now then due = now end
local wait = due - now
if wait > 0 and max_wait >= 0 and wait >= max_wait then
  return {0, wait}
end
local mark = tat + interval
redis.call('HSET', KEYS[1], 'tat', mark)
keep(mark, paused)
return {1, wait, due, mark}
"""
)

# ARGV[4]: the pause in microseconds.
PAUSE_SCRIPT: Final = (
    _PROLOGUE
    + """
local pause_end = now + tonumber(ARGV[4])
if pause_end > paused then paused = pause_end end
if pause_end + tolerance > tat then tat = pause_end + tolerance end
redis.call('HSET', KEYS[1], 'tat', tat, 'paused', paused)
keep(tat, paused)
return tat
"""
)

# ARGV[4]: the reservation's mark.
REFUND_SCRIPT: Final = (
    _PROLOGUE
    + """
if tat == tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'tat', tat - interval)
  return 1
end
return 0
"""
)


class RedisTokenBucket:
    """The module docstring's GCRA on the hash `key` of `client` (a `TokenBucket`; reservations are "shared").

    Every method is one round trip and raises redis errors (ConnectionError, TimeoutError, ...) unchanged:
    `shared.FailoverTokenBucket` turns them into the fall-back. `clock` is for tests only: seconds sent as
    ``now`` instead of the server's TIME (None, the default: Redis TIME).
    """

    def __init__(self, client: Redis, key: str, policy: RateLimitPolicy, *, clock: Clock | None = None) -> None:
        self.key = key
        self._client = client
        # Rounded up (a hair slower, never faster); the epsilon keeps exact quotients such as 60e6 / (100 / 3).
        self._interval_us = math.ceil(60 * MICROS / policy.per_min - 1e-6)
        self._tolerance_us = (policy.burst - 1) * self._interval_us
        self._clock = clock
        self._reserve = client.register_script(RESERVE_SCRIPT)
        self._pause = client.register_script(PAUSE_SCRIPT)
        self._refund = client.register_script(REFUND_SCRIPT)

    async def reserve(self, max_wait_secs: float) -> Reservation:
        """Reserve the next token if it is due within `max_wait_secs` (or now); else raise TokenUnavailable."""
        if math.isinf(max_wait_secs) and max_wait_secs > 0:
            max_wait_us = -1
        else:
            max_wait_us = max(0, math.floor(max_wait_secs * MICROS))
        reply = await self._run(self._reserve, max_wait_us)
        wait_secs = int(reply[1]) / MICROS
        if int(reply[0]) != 1:
            raise TokenUnavailable(wait_secs)
        due, mark = int(reply[2]), int(reply[3])
        debt_us = mark - (due - int(reply[1]))  # TAT - now, in the script's microseconds
        tokens_left = max(0.0, (self._tolerance_us + self._interval_us - debt_us) / self._interval_us)
        return Reservation(wait_secs, float(due), float(mark), origin="shared", tokens_left=tokens_left)

    async def refund(self, reservation: Reservation) -> None:
        """Give back `reservation`'s token if no later one was reserved (best effort, like in memory)."""
        await self._run(self._refund, int(reservation.mark))

    async def pause(self, seconds: float) -> None:
        """No token is due before `seconds` from now (Redis's now), and the burst is drained."""
        await self._run(self._pause, max(0, math.ceil(seconds * MICROS)))

    async def still_valid(self, reservation: Reservation) -> bool:
        """False when a pause that began after `reservation` covers its due time (take a new token)."""
        paused = await self._client.hget(self.key, "paused")
        return int(paused or 0) <= reservation.due

    async def _run(self, script: Any, arg: int) -> Any:
        now = "" if self._clock is None else str(round(self._clock() * MICROS))
        return await script(keys=[self.key], args=[now, self._interval_us, self._tolerance_us, arg])


__all__ = ["RedisTokenBucket"]
