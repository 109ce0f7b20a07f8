"""The public per-address limit, counted in per-worker batches, still holds.

Two :class:`RateLimiter` objects on one real shared store stand for two worker processes
(each keeps its own local counts; only the store is shared, as in production). A single
worker is exact; several overshoot by at most (workers - 1) x (batch - 1); uses far from
the limit reach the shared store ``batch`` at a time, not one round trip each.
"""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from immunet.errors import TooManyRequests
from immunet.security.counters import CounterStore, DatabaseCounterStore, RedisCounterStore
from immunet.security.keyring import Purpose
from immunet.security.ratelimit import Limit, RateLimiter, batch_for
from tests.conftest import REDIS_UP, REDIS_URL, require_service

LIMIT = Limit("public-per-address-test", 100, 300)


@pytest.fixture(params=["database", "redis"])
async def store(request, ctx):
    if request.param == "database":
        yield DatabaseCounterStore(ctx.db)
        return
    require_service(REDIS_UP, "Redis")
    client = Redis.from_url(REDIS_URL)
    await client.flushdb()
    yield RedisCounterStore(client)
    await client.flushdb()
    await client.aclose()


def _worker(store: CounterStore, keyring) -> RateLimiter:
    return RateLimiter(store, keyring.digest(Purpose.RATE_LIMIT_KEY))


async def _allowed(limiter: RateLimiter, key: str, times: int) -> int:
    ok = 0
    for _ in range(times):
        try:
            await limiter.hit_batched(LIMIT, key)
            ok += 1
        except TooManyRequests as exc:
            assert exc.retry_after is not None and exc.retry_after >= 1
    return ok


async def test_one_worker_is_exact(store, keyring):
    limiter = _worker(store, keyring)
    assert await _allowed(limiter, "203.0.113.1", 130) == LIMIT.limit
    # Every refused use was counted too (a refused address stays refused).
    assert await limiter.used(LIMIT, "203.0.113.1") == 130
    # Another address has its own budget.
    assert await _allowed(limiter, "203.0.113.2", 1) == 1


async def test_two_workers_overshoot_by_less_than_a_batch(store, keyring):
    one, two = _worker(store, keyring), _worker(store, keyring)
    batch = batch_for(LIMIT)
    allowed = 0
    for _ in range(80):  # interleaved, as a balancer spreads one address's requests
        allowed += await _allowed(one, "198.51.100.7", 1)
        allowed += await _allowed(two, "198.51.100.7", 1)
    assert LIMIT.limit <= allowed <= LIMIT.limit + (batch - 1)
    assert await _allowed(one, "198.51.100.7", 1) == 0
    assert await _allowed(two, "198.51.100.7", 1) == 0


async def test_far_from_the_limit_uses_reach_the_store_in_batches(store, keyring):
    limiter = _worker(store, keyring)
    batch = batch_for(LIMIT)
    assert batch > 1
    await _allowed(limiter, "192.0.2.5", batch - 1)
    assert await limiter.used(LIMIT, "192.0.2.5") == 0  # no round trip yet
    await _allowed(limiter, "192.0.2.5", 1)
    assert await limiter.used(LIMIT, "192.0.2.5") == batch


async def test_small_limits_are_counted_one_by_one(store, keyring):
    limiter = _worker(store, keyring)
    small = Limit("public-small", 3, 300)
    for _ in range(3):
        await limiter.hit_batched(small, "192.0.2.9")
        assert await limiter.used(small, "192.0.2.9") >= 1
    with pytest.raises(TooManyRequests):
        await limiter.hit_batched(small, "192.0.2.9")
