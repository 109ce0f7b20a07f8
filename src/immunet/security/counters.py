"""Shared counters behind the rate limiter: Redis when configured, else the database.

Nothing that decides correctness lives in process memory, so any number of worker
processes see one count.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Protocol

from redis.asyncio import Redis
from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from immunet.db.base import utcnow
from immunet.db.engine import Database
from immunet.security.models import RateCounter


class CounterStore(Protocol):
    async def increment(self, bucket: str, window_seconds: int, by: int = 1) -> tuple[int, int]:
        """Add ``by`` to ``bucket``; return the new count and the seconds until it resets."""
        ...

    async def read(self, bucket: str) -> int: ...


_INCR_SCRIPT = """
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
if count == tonumber(ARGV[2]) then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}
"""


class RedisCounterStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._script = redis.register_script(_INCR_SCRIPT)

    async def increment(self, bucket: str, window_seconds: int, by: int = 1) -> tuple[int, int]:
        count, ttl = await self._script(keys=[bucket], args=[window_seconds, by])
        return int(count), int(ttl)

    async def read(self, bucket: str) -> int:
        value = await self._redis.get(bucket)
        return int(value) if value else 0


class DatabaseCounterStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def increment(self, bucket: str, window_seconds: int, by: int = 1) -> tuple[int, int]:
        now = utcnow()
        window_end = now + dt.timedelta(seconds=window_seconds)
        dialect = postgresql if self._db.dialect == "postgresql" else sqlite
        stmt = dialect.insert(RateCounter).values(bucket=bucket, count=by, expires_at=window_end)
        stmt = stmt.on_conflict_do_update(
            index_elements=[RateCounter.bucket],
            set_={"count": RateCounter.count + by},
        ).returning(RateCounter.count, RateCounter.expires_at)
        async with self._db.transaction() as session:
            row = (await session.execute(stmt)).one()
            if random.random() < 0.01:
                await session.execute(delete(RateCounter).where(RateCounter.expires_at < now))
        count, expires_at = row[0], row[1]
        remaining = max(1, int((expires_at - now).total_seconds()))
        return int(count), remaining

    async def read(self, bucket: str) -> int:
        async with self._db.reader() as session:
            row = await session.get(RateCounter, bucket)
            if row is None or row.expires_at < utcnow():
                return 0
            return row.count
