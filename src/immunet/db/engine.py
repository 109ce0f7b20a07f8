"""Engine construction: plain database URLs in, the right async driver out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

POOL_RECYCLE_SECONDS = 1800
PREPARED_STATEMENT_CACHE_SIZE = 1024


class UnsupportedDatabase(ValueError):
    pass


def async_url(url: str) -> URL:
    """``sqlite:///PATH`` and ``postgresql://USER@HOST:PORT/DB`` → the async driver URL."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg")
    raise UnsupportedDatabase(f"unsupported database backend {backend!r}")


def sync_url(url: str) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite")
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg")
    raise UnsupportedDatabase(f"unsupported database backend {backend!r}")


def _configure_sqlite(engine: AsyncEngine) -> None:
    # SQLite runs every write transaction as BEGIN IMMEDIATE so that two processes never
    # both read a seat count and then both write it: the second waits for the first.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        engine = create_async_engine(target, poolclass=NullPool)
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        target,
        pool_size=pool_size,
        max_overflow=pool_size,
        # No ping on every checkout (a round trip per transaction: 5 % of a booking's CPU
        # in the profile). Connections are recycled after half an hour instead, and a
        # connection the server dropped raises a disconnect error on first use, on which
        # SQLAlchemy invalidates the whole pool: that request fails (its transaction
        # never ran), the next ones get fresh connections.
        pool_pre_ping=False,
        pool_recycle=POOL_RECYCLE_SECONDS,
        connect_args={
            "server_settings": {"application_name": "immunet"},
            # Prepared statements are reused per connection from an LRU of this size; the
            # default 100 is fewer than the distinct statements the hot paths send, so an
            # LRU that evicts re-prepares (a round trip and a plan) every time.
            "prepared_statement_cache_size": PREPARED_STATEMENT_CACHE_SIZE,
        },
    )


class Database:
    """The process's engine and session factory."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size=pool_size)
        # Reference data (vaccine series rules) read once per process: it is loaded by
        # `immunet db upgrade` before the server starts and never written while it runs.
        self.reference: dict[object, object] = {}
        self.sessionmaker = async_sessionmaker(
            self.engine, expire_on_commit=False, info={"reference": self.reference}
        )

    @staticmethod
    def reference_of(session: AsyncSession) -> dict[object, object] | None:
        """The reference-data cache of the :class:`Database` that opened ``session``."""
        cache = session.info.get("reference")
        return cache if isinstance(cache, dict) else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits on success, rolls back on any exception."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
