"""Engine construction: plain database URLs in, the right async driver out."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from immunet.observability.metrics import REPLICA_LAG, REPLICA_SKIPPED, REPLICA_UP

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


def _pgbouncer_connect_args() -> dict[str, Any]:
    """asyncpg behind PgBouncer in transaction mode (before 1.21, which cannot track
    prepared statements): no statement cache, and every statement a unique name, so two
    clients sharing a server connection never collide (SQLAlchemy's documented recipe)."""
    return {
        "server_settings": {"application_name": "immunet"},
        "statement_cache_size": 0,
        "prepared_statement_cache_size": 0,
        "prepared_statement_name_func": lambda: f"__immunet_{uuid.uuid4().hex}__",
    }


def create_engine(url: str, *, pool_size: int = 10, statement_cache: bool = True) -> AsyncEngine:
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        engine = create_async_engine(target, poolclass=NullPool)
        _configure_sqlite(engine)
        return engine
    if not statement_cache:
        return create_async_engine(
            target,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=False,
            pool_recycle=POOL_RECYCLE_SECONDS,
            connect_args=_pgbouncer_connect_args(),
        )
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


# Seconds behind the primary: 0 when the replica has replayed all it received, else the age
# of the last transaction it replayed (PostgreSQL's documented way to read standby lag).
REPLICA_LAG_SQL = (
    "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0"
    " WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
    " ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 1e9) END"
)


class Replica:
    """A streaming replica: its engine, and its lag as last measured (None: unreachable)."""

    def __init__(self, index: int, url: str, pool_size: int, statement_cache: bool = True) -> None:
        self.index = index
        self.label = f"replica-{index}"
        self.engine = create_engine(url, pool_size=pool_size, statement_cache=statement_cache)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self.lag: float | None = None
        self.checked_at = -1e18

    async def measure(self) -> float | None:
        try:
            async with self.engine.connect() as conn:
                value = (await conn.execute(text(REPLICA_LAG_SQL))).scalar()
            self.lag = float(value) if value is not None else None
        except Exception:  # unreachable or failing: skipped until the next measurement
            self.lag = None
        REPLICA_UP.labels(self.label).set(0 if self.lag is None else 1)
        if self.lag is not None:
            REPLICA_LAG.labels(self.label).set(self.lag)
        return self.lag


class Database:
    """The process's engine and session factory (the primary), and its read replicas."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        replica_urls: list[str] | tuple[str, ...] = (),
        replica_max_lag_seconds: float = 5.0,
        replica_check_seconds: float = 1.0,
        statement_cache: bool = True,
    ) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size=pool_size, statement_cache=statement_cache)
        self.replicas = [
            Replica(n, u, pool_size, statement_cache) for n, u in enumerate(replica_urls)
        ]
        self.replica_max_lag_seconds = replica_max_lag_seconds
        self.replica_check_seconds = replica_check_seconds
        self._next_replica = 0
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

    async def pick_replica(self) -> Replica | None:
        """A replica within the lag threshold (round robin), or None: read the primary.

        Each replica's lag is measured at most once per ``replica_check_seconds`` per
        process (one small query), when a read asks for it.
        """
        if not self.replicas:
            return None
        now = time.monotonic()
        count = len(self.replicas)
        for step in range(count):
            replica = self.replicas[(self._next_replica + step) % count]
            if now - replica.checked_at >= self.replica_check_seconds:
                replica.checked_at = now  # before the await: one measurement at a time
                await replica.measure()
            if replica.lag is not None and replica.lag <= self.replica_max_lag_seconds:
                self._next_replica = (self._next_replica + step + 1) % count
                return replica
            REPLICA_SKIPPED.labels(replica.label).inc()
        return None

    @asynccontextmanager
    async def replica_reader(self) -> AsyncIterator[AsyncSession]:
        """A read-only session on a replica close enough to the primary, else the primary.

        Only for reads that may be a few seconds stale (public availability, calendars,
        aggregate reports): whatever must show a caller its own writes uses ``reader``.
        """
        replica = await self.pick_replica()
        if replica is None:
            async with self.sessionmaker(info={"reference": self.reference}) as session:
                yield session
            return
        async with replica.sessionmaker(info={"reference": self.reference}) as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
        for replica in self.replicas:
            await replica.engine.dispose()
