"""Named rate limits. Keys are digested before storage so counters hold no personal data."""

from __future__ import annotations

import time
from dataclasses import dataclass

from immunet.errors import TooManyRequests
from immunet.security.counters import CounterStore
from immunet.security.keyring import KeyedDigest


@dataclass(frozen=True)
class Limit:
    name: str
    limit: int
    window_seconds: int


class RateLimiter:
    def __init__(self, store: CounterStore, digest: KeyedDigest) -> None:
        self._store = store
        self._digest = digest

    def _bucket(self, limit: Limit, key: str) -> str:
        window = int(time.time()) // limit.window_seconds
        return f"rl:{limit.name}:{self._digest(limit.name, key)[:32]}:{window}"

    async def hit(self, limit: Limit, key: str) -> None:
        """Count one use; raise :class:`TooManyRequests` once the limit is passed."""
        count, reset_in = await self._store.increment(
            self._bucket(limit, key), limit.window_seconds
        )
        if count > limit.limit:
            raise TooManyRequests(retry_after=reset_in)

    async def used(self, limit: Limit, key: str) -> int:
        return await self._store.read(self._bucket(limit, key))
