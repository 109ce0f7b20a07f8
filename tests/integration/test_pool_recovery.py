"""Without a ping per checkout, a pool whose connections the server dropped still recovers.

PostgreSQL only: ``pg_terminate_backend`` is the real "database restarted" event (every
pooled connection is cut by the server, not by us). The first statement on a dead
connection fails with a disconnect error, SQLAlchemy invalidates the pool, and the next
transaction runs on a fresh connection.
"""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from immunet.db.engine import Database


async def test_pool_recovers_after_the_server_drops_its_connections(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("connection termination is a PostgreSQL event")
    db = Database(database_url, pool_size=2)
    try:
        assert db.engine.pool._pre_ping is False  # type: ignore[attr-defined]
        async with db.reader() as session:
            assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
        parsed = make_url(database_url)
        admin = await asyncpg.connect(
            host=parsed.host, port=parsed.port or 5432, user=parsed.username, database="postgres"
        )
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = $1 AND application_name = 'immunet' AND pid <> pg_backend_pid()",
                parsed.database,
            )
        finally:
            await admin.close()
        assert killed >= 1
        failures = 0
        for _ in range(3):
            try:
                async with db.transaction() as session:
                    value = (await session.execute(text("SELECT 2"))).scalar_one()
                break
            except DBAPIError as exc:
                assert exc.connection_invalidated
                failures += 1
        assert value == 2
        assert failures <= 1  # one dead connection, then the pool is invalidated
    finally:
        await db.dispose()


async def test_prepared_statements_stay_cached_past_asyncpgs_default(database_url):
    """A statement prepared 200 distinct statements ago on the same pooled connection is
    still prepared (SQLAlchemy's asyncpg LRU, default 100, would have evicted it and
    prepared it again: a round trip and a plan per use)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("prepared statements are asyncpg's")
    db = Database(database_url, pool_size=1)
    try:
        for n in range(200):
            async with db.reader() as session:
                await session.execute(text(f"SELECT {n} AS n"))
        async with db.reader() as session:
            conn = await session.connection()
            adapted = (await conn.get_raw_connection()).dbapi_connection
            cache = adapted._prepared_statement_cache  # type: ignore[union-attr]
            assert cache is not None
            assert "SELECT 0 AS n" in cache
            assert len(cache) >= 200
    finally:
        await db.dispose()
