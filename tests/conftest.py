"""Shared fixtures: every storage, service and API test runs on SQLite and on PostgreSQL.

PostgreSQL is the machine's server at 127.0.0.1:5432 (``IMMUNET_TEST_POSTGRES_URL``
overrides); the suite creates its own database there, migrates it once, and empties the
non-reference tables before each test. Without a reachable server the PostgreSQL half is
skipped with a plain reason, except under CI (``CI=true``) where that is a failure.
Redis-backed stores are tested the same way against ``IMMUNET_TEST_REDIS_URL``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy.engine import make_url

from immunet.app import create_app
from immunet.clock import FixedClock
from immunet.context import AppContext, build_context
from immunet.db.migrate import seed_reference_data, upgrade
from immunet.db.models import Base
from immunet.people.identifiers import normalize_mobile
from immunet.security.keyring import Keyring
from immunet.settings import Settings

# Property tests check rules, not speed: no per-example deadline (a loaded CI machine
# would otherwise turn a slow example into a flaky failure).
hypothesis_settings.register_profile("immunet", deadline=None, print_blob=True)
hypothesis_settings.load_profile("immunet")

PG_URL = os.environ.get("IMMUNET_TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test")


def _worker_redis_url(base: str) -> str:
    """``make test`` runs the suite in two pytest-xdist workers: each worker takes its own
    pair of Redis databases (this one, and the one below it that the availability-cache
    tests use), so no worker flushes another's keys. PostgreSQL test databases are already
    per process (``pg_database``)."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    parsed = make_url(base)
    number = int(parsed.database or 0)
    return parsed.set(database=str((number - 2 * worker) % 16)).render_as_string(
        hide_password=False
    )


REDIS_URL = _worker_redis_url(os.environ.get("IMMUNET_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Tables loaded by `immunet db upgrade` and never changed by tests.
REFERENCE_TABLES = {
    "alembic_version",
    "states",
    "districts",
    "pincodes",
    "programmes",
    "antigens",
    "vaccines",
    "vaccine_antigens",
    "series",
    "series_doses",
}


def _reachable(url: str, default_port: int) -> bool:
    parsed = make_url(url)
    try:
        with socket.create_connection((parsed.host or "127.0.0.1", parsed.port or default_port), 2):
            return True
    except OSError:
        return False


PG_UP = _reachable(PG_URL, 5432)
REDIS_UP = _reachable(REDIS_URL, 6379)


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    lines.append(
        f"postgresql: {'reachable' if PG_UP else 'NOT reachable — PostgreSQL suites skipped'}"
    )
    lines.append(f"redis: {'reachable' if REDIS_UP else 'NOT reachable — Redis suites skipped'}")
    return lines


def require_service(up: bool, name: str) -> None:
    if up:
        return
    if IN_CI:
        pytest.fail(f"{name} is not reachable, and CI must test against it")
    pytest.skip(f"{name} not reachable on this machine: its suite is skipped")


@pytest.fixture(scope="session")
def keyring() -> Keyring:
    return Keyring.generate(environment="test")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    url = f"sqlite:///{path}"
    upgrade(url)
    asyncio.run(seed_reference_data(url))
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    require_service(PG_UP, "PostgreSQL")
    name = f"immunet_test_{os.getpid()}"
    admin = make_url(PG_URL)

    async def admin_exec(sql: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(
            host=admin.host, port=admin.port or 5432, user=admin.username, database=admin.database
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(admin_exec(f'CREATE DATABASE "{name}"'))
    url = admin.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    asyncio.run(seed_reference_data(url))
    yield url
    asyncio.run(admin_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _mutable_tables() -> list[str]:
    return [t.name for t in Base.metadata.sorted_tables if t.name not in REFERENCE_TABLES]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "immunet.sqlite3"
        shutil.copyfile(template, target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("pg_database")

    async def truncate() -> None:
        import asyncpg

        parsed = make_url(url)
        conn = await asyncpg.connect(
            host=parsed.host,
            port=parsed.port or 5432,
            user=parsed.username,
            database=parsed.database,
        )
        try:
            tables = ", ".join(f'"{t}"' for t in _mutable_tables())
            await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        finally:
            await conn.close()

    asyncio.run(truncate())
    return url


@pytest.fixture
def sms_path(tmp_path: Path) -> Path:
    return tmp_path / "sms.jsonl"


@pytest.fixture
def settings(database_url: str, sms_path: Path, tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        sms_backend=f"file:{sms_path}",
        keyring=tmp_path / "keyring.json",
        redis_url=None,
    )


INDIA = dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")
# The pinned time of day: inside every test centre's opening hours (09:00-17:00).
PINNED_INDIA_TIME = dt.time(11, 0)


def pinned_instant(local_time: dt.time = PINNED_INDIA_TIME) -> dt.datetime:
    """Today's date in India (the date the factories book sessions for) at ``local_time``."""
    today = dt.datetime.now(dt.UTC).astimezone(INDIA).date()
    return dt.datetime.combine(today, local_time, tzinfo=INDIA)


@pytest.fixture
def clock() -> FixedClock:
    """The clock every time-of-day and date rule reads (``ctx.clock``), pinned so the suite
    passes at any hour and in any TZ; move it with ``clock.set`` / ``clock.advance``."""
    return FixedClock(pinned_instant())


@pytest.fixture
async def ctx(settings: Settings, keyring: Keyring, clock: FixedClock) -> AsyncIterator[AppContext]:
    context = build_context(settings, keyring=keyring)
    context.clock = clock
    yield context
    await context.close()


class DrainingTransport(httpx.AsyncBaseTransport):
    """The app over ASGI, then the SMS outbox drained: tests read the SMS of a request as
    soon as it has answered, deterministically (the real worker is not started: the app
    is given its context, so the lifespan starts no background tasks)."""

    def __init__(self, app: Any, ctx: AppContext, client: tuple[str, int]) -> None:
        self._inner = httpx.ASGITransport(app=app, client=client)
        self._ctx = ctx
        self.app = app  # as on httpx.ASGITransport: tests reach the app's own context

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        await self._ctx.drain_outbox()
        return response


@pytest.fixture
async def client(settings: Settings, ctx: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, context=ctx)
    transport = DrainingTransport(app, ctx, ("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@dataclass
class Outbox:
    path: Path

    def messages(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines()]

    def last_otp(self, to: str | None = None) -> str:
        for message in reversed(self.messages()):
            if message["template"] == "otp" and (to is None or message["to"] == to):
                return str(message["text"].split("code is ")[1][:6])
        raise AssertionError("no OTP was sent")


@pytest.fixture
def outbox(sms_path: Path) -> Outbox:
    return Outbox(sms_path)


def sha(otp: str) -> str:
    return hashlib.sha256(otp.encode()).hexdigest()


async def login(client: httpx.AsyncClient, outbox: Outbox, mobile: str) -> str:
    """The real OTP flow: generate, read the SMS, confirm; returns the bearer token."""
    response = await client.post("/api/v2/auth/public/generateOTP", json={"mobile": mobile})
    assert response.status_code == 200, response.text
    txn = response.json()["txnId"]
    response = await client.post(
        "/api/v2/auth/public/confirmOTP",
        json={"otp": sha(outbox.last_otp(normalize_mobile(mobile))), "txnId": txn},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def client_with(
    settings: Settings, keyring: Keyring, clock: FixedClock
) -> AsyncIterator[Any]:
    """Build a client with some settings changed: ``await client_with(otp_sends_per_15min=9)``."""
    opened: list[tuple[AppContext, httpx.AsyncClient]] = []

    async def make(peer: str = "203.0.113.7", **overrides: Any) -> httpx.AsyncClient:
        changed = settings.model_copy(update=overrides)
        context = build_context(changed, keyring=keyring)
        context.clock = clock  # the same pinned clock as `ctx`
        app = create_app(changed, context=context)
        transport = DrainingTransport(app, context, (peer, 40000))
        http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        opened.append((context, http))
        return http

    yield make
    for context, http in opened:
        await http.aclose()
        await context.close()


async def register(client: httpx.AsyncClient, token: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post(
        "/api/v2/registration/beneficiary/new", json=body, headers=bearer(token)
    )


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Say plainly which suites were skipped and why, one line per reason."""
    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    if not reasons:
        return
    terminalreporter.section("skipped suites and tests")
    for reason, count in sorted(reasons.items(), key=lambda item: -item[1]):
        terminalreporter.write_line(f"{count:5d} skipped: {reason}")
