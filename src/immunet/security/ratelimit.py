"""Named rate limits. Keys are digested before storage so counters hold no personal data.

:meth:`RateLimiter.hit` adds every use to the shared counter (one Redis or database round
trip per use). :meth:`RateLimiter.hit_batched` is for the public, unauthenticated paths
whose answers come from a cache and would otherwise cost more in counting than in
answering: each worker counts uses locally and adds them to the shared counter ``batch``
at a time while the key is far from its limit, and on every use once it is within
``batch`` of it. The trade-off: with W workers a key can get at most (W - 1) x (batch - 1)
uses past its limit in a window (uses another worker holds uncounted), and a worker's
uncounted remainder (< batch) is forgotten when a window ends; in one worker the limit is
exact. The shared counter stays the authority: a refusal always comes from it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.exceptions import RedisError

from immunet.errors import TooManyRequests
from immunet.observability.metrics import REDIS_ERRORS
from immunet.security.counters import CounterStore
from immunet.security.keyring import KeyedDigest


@dataclass(frozen=True)
class Limit:
    name: str
    limit: int
    window_seconds: int


@dataclass
class _LocalCount:
    window: int
    known: int = 0  # the shared count as last read back
    pending: int = 0  # uses counted here and not yet added to the shared count


# Keys with uncounted local uses kept per worker; past this the table is emptied (each
# key then forgets fewer than ``batch`` uses: the slack documented above, no more).
_LOCAL_MAX_KEYS = 65_536


def batch_for(limit: Limit) -> int:
    """Uses added to the shared count at once: 1/20 of the limit, between 1 and 16."""
    return max(1, min(16, limit.limit // 20))


class RateLimiter:
    def __init__(self, store: CounterStore, digest: KeyedDigest) -> None:
        self._store = store
        self._digest = digest
        self._local: dict[tuple[str, str], _LocalCount] = {}

    def _bucket(self, limit: Limit, key: str) -> str:
        window = int(time.time()) // limit.window_seconds
        return f"rl:{limit.name}:{self._digest(limit.name, key)[:32]}:{window}"

    async def hit(self, limit: Limit, key: str) -> int:
        """Count one use and return the window's count (each value is returned once: the
        increment is atomic); raise :class:`TooManyRequests` once the limit is passed."""
        count, reset_in = await self._store.increment(
            self._bucket(limit, key), limit.window_seconds
        )
        if count > limit.limit:
            raise TooManyRequests(retry_after=reset_in)
        return count

    async def hit_batched(self, limit: Limit, key: str) -> None:
        """Count one use, adding to the shared count in batches (see the module notes)."""
        batch = batch_for(limit)
        if batch <= 1:
            await self.hit(limit, key)
            return
        window = int(time.time()) // limit.window_seconds
        slot = (limit.name, key)
        local = self._local.get(slot)
        if local is None or local.window != window:
            if len(self._local) >= _LOCAL_MAX_KEYS:
                self._local.clear()
            local = self._local[slot] = _LocalCount(window)
        local.pending += 1
        if local.pending < batch and local.known + local.pending + batch <= limit.limit:
            return
        by, local.pending = local.pending, 0
        try:
            count, reset_in = await self._store.increment(
                self._bucket(limit, key), limit.window_seconds, by=by
            )
        except RedisError:
            # The shared counter is down: public answers keep coming (they are aggregate
            # data from the database or a cache), counted against the limit in this worker
            # alone until Redis is back; its count then resumes from the shared one.
            REDIS_ERRORS.labels("rate-limit").inc()
            local.known += by
            if local.known > limit.limit:
                reset = limit.window_seconds - int(time.time()) % limit.window_seconds
                raise TooManyRequests(retry_after=reset) from None
            return
        local.known = max(local.known, count)
        if count > limit.limit:
            raise TooManyRequests(retry_after=reset_in)

    async def used(self, limit: Limit, key: str) -> int:
        return await self._store.read(self._bucket(limit, key))
