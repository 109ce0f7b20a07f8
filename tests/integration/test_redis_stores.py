"""The Redis-backed OTP store and counters keep the same guarantees as the database ones."""

from __future__ import annotations

import asyncio
import secrets

import pytest
from redis.asyncio import Redis

from immunet.security.counters import RedisCounterStore
from immunet.security.otp import LockoutPolicy, RedisOtpStore
from tests.conftest import REDIS_UP, REDIS_URL, bearer, login, require_service


@pytest.fixture
async def redis():
    require_service(REDIS_UP, "Redis")
    client = Redis.from_url(REDIS_URL)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


async def test_attempts_are_atomic_and_capped(redis):
    store = RedisOtpStore(redis)
    txn = secrets.token_hex(16)
    await store.create(
        txn_id=txn,
        mobile_index="m",
        mobile_ct=b"\x00sealed",
        purpose="p",
        code_digest="d",
        ttl_seconds=60,
    )
    results = await asyncio.gather(*(store.begin_attempt(txn, 3) for _ in range(50)))
    granted = [r for r in results if r is not None]
    assert len(granted) == 3
    assert granted[0].mobile_ct == b"\x00sealed"


async def test_new_otp_supersedes_and_consume_is_single(redis):
    store = RedisOtpStore(redis)
    await store.create(
        txn_id="t1", mobile_index="m", mobile_ct=b"x", purpose="p", code_digest="d", ttl_seconds=60
    )
    await store.create(
        txn_id="t2", mobile_index="m", mobile_ct=b"x", purpose="p", code_digest="d", ttl_seconds=60
    )
    assert await store.begin_attempt("t1", 3) is None
    assert await store.begin_attempt("t2", 3) is not None
    assert await store.consume("t2") is True
    assert await store.consume("t2") is False


async def test_lockout_after_ceiling(redis):
    store = RedisOtpStore(redis)
    policy = LockoutPolicy(ceiling=3, base_seconds=60, max_seconds=600)
    for _ in range(2):
        await store.record_failure("m", policy)
    assert await store.locked_until("m") is None
    await store.record_failure("m", policy)
    assert await store.locked_until("m") is not None


async def test_counter_windows(redis):
    store = RedisCounterStore(redis)
    counts = await asyncio.gather(*(store.increment("bucket", 30) for _ in range(20)))
    assert sorted(c for c, _ in counts) == list(range(1, 21))
    assert all(0 < ttl <= 30 for _, ttl in counts)


async def test_full_login_with_redis(client_with, outbox, redis):
    client = await client_with(redis_url=REDIS_URL)
    token = await login(client, outbox, "9833300001")
    response = await client.get("/api/v2/appointment/beneficiaries", headers=bearer(token))
    assert response.status_code == 200
    ready = await client.get("/readyz")
    assert ready.json()["checks"] == {
        "database": "ok",
        "certificate_keys": "missing",
        "redis": "ok",
        "outbox": "ok",
        "sequencer": "ok",
    }
