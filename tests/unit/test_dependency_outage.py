"""Which failures are dependency outages (503 + Retry-After) and which are bugs (500).

The exception classes are asyncpg's, redis-py's and SQLAlchemy's own, with the SQLSTATEs
PostgreSQL defines (class 08 connection, 53 insufficient resources, 57 operator
intervention, 25006 read-only transaction); a constraint violation is never an outage.
"""

from __future__ import annotations

import asyncpg
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeout
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from immunet.http import dependency_outage


def _wrapped(orig: BaseException) -> DBAPIError:
    return DBAPIError("INSERT ...", None, orig)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (RedisConnectionError("refused"), "redis"),
        (RedisTimeout("slow"), "redis"),
        (_wrapped(asyncpg.exceptions.DiskFullError("no space")), "database"),
        (_wrapped(asyncpg.exceptions.AdminShutdownError("shutdown")), "database"),
        (_wrapped(asyncpg.exceptions.CannotConnectNowError("starting")), "database"),
        (_wrapped(asyncpg.exceptions.ReadOnlySQLTransactionError("standby")), "database"),
        (ConnectionRefusedError(111, "refused"), "database"),
        (PoolTimeout("pool exhausted"), "database"),
        (_wrapped(asyncpg.exceptions.UniqueViolationError("dup")), None),
        (_wrapped(asyncpg.exceptions.SerializationError("retry")), None),
        (ValueError("a bug"), None),
        (KeyError("a bug"), None),
    ],
)
def test_outages_are_told_from_bugs(exc: BaseException, expected: str | None) -> None:
    assert dependency_outage(exc) == expected


def test_an_outage_behind_another_exception_is_found() -> None:
    try:
        try:
            raise RedisConnectionError("refused")
        except RedisConnectionError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert dependency_outage(outer) == "redis"
