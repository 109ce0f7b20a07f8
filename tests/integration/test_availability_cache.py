"""The shared availability cache on Redis: answers are reused, and invalidation is immediate."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit, urlunsplit

import pytest
from redis.asyncio import Redis
from sqlalchemy import update

from immunet.context import build_context
from immunet.sessions.availability import invalidate_availability
from immunet.sessions.models import VaccinationSession
from immunet.sessions.rules import today_ist
from tests.conftest import REDIS_UP, REDIS_URL, require_service
from tests.factories.staff import make_staff

FIND = "/api/v2/appointment/sessions/public/findByPin"
# A database of its own, so other suites' FLUSHDB on the shared test Redis cannot interfere.
# The database below the suite's own (tests/conftest.py gives each worker such a pair).
CACHE_REDIS_URL = urlunsplit(
    urlsplit(REDIS_URL)._replace(path=f"/{(int(urlsplit(REDIS_URL).path[1:] or 0) - 1) % 16}")
)


@pytest.fixture
async def redis():
    require_service(REDIS_UP, "Redis")
    client = Redis.from_url(CACHE_REDIS_URL)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


def day(offset: int = 1) -> str:
    return (today_ist() + dt.timedelta(days=offset)).strftime("%d-%m-%Y")


async def _set_booked(ctx, session_id: str, booked: int) -> None:
    async with ctx.db.transaction() as session:
        await session.execute(
            update(VaccinationSession)
            .where(VaccinationSession.session_id == session_id)
            .values(booked_dose1=booked)
        )


@pytest.mark.parametrize("backend", ["redis", "local"])
async def test_cache_reuse_and_invalidation(redis, client_with, settings, keyring, backend):
    overrides = {
        "redis_url": CACHE_REDIS_URL if backend == "redis" else None,
        "public_cache_seconds": 60,
        # The strict cross-node check below needs no per-worker layer in front of Redis.
        "public_cache_local_seconds": 0,
    }
    client = await client_with(**overrides)
    ctx = client._transport.app.state.ctx  # the application's own context
    admin = await make_staff(ctx, "national_admin")
    center = await client.post(
        "/api/staff/centers",
        json={
            "name": "PHC",
            "address": "1 Road",
            "district_id": 294,
            "block_name": "East",
            "pincode": "560001",
            "lat": 12.98,
            "long": 77.59,
            "from": "09:00",
            "to": "17:00",
            "fee_type": "Free",
        },
        headers=admin.headers,
    )
    center_id = center.json()["center_id"]
    published = await client.post(
        "/api/staff/sessions",
        json={
            "center_id": center_id,
            "date": day(),
            "vaccine": "COVISHIELD",
            "min_age_limit": 18,
            "capacity_dose1": 10,
            "capacity_dose2": 0,
            "slots": ["09:00AM-11:00AM"],
            "fee": 0,
        },
        headers=admin.headers,
    )
    session_id = published.json()["session_id"]
    params = {"pincode": "560001", "date": day()}
    first = await client.get(FIND, params=params)
    assert first.json()["sessions"][0]["available_capacity_dose1"] == 10
    if backend == "redis":
        assert await redis.keys("avail:body:*")

    # Changed behind the cache's back: the cached answer stands (bounded by max-age)...
    await _set_booked(ctx, session_id, 7)
    assert (await client.get(FIND, params=params)).content == first.content
    # ...until the change is announced, as booking does after its commit.
    if backend == "redis":
        # Any node's context invalidates every node's cache.
        other = build_context(settings.model_copy(update=overrides), keyring=keyring)
        try:
            await invalidate_availability(other, center_id)
        finally:
            await other.close()
    else:
        await invalidate_availability(ctx, center_id)
    fresh = await client.get(FIND, params=params)
    assert fresh.json()["sessions"][0]["available_capacity_dose1"] == 3
    assert fresh.headers["etag"] != first.headers["etag"]
    assert fresh.headers["cache-control"] == "public, max-age=60"
