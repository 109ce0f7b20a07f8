"""The per-process application context: settings, database, keys and pluggable services.

Services sit behind protocols and are chosen by configuration (Redis or database for
OTP state and counters; console, file or HTTP for SMS). Nothing here holds state that
decides correctness, so any number of worker processes can serve side by side.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from redis.asyncio import Redis

from immunet.clock import Clock, SystemClock
from immunet.db.engine import Database
from immunet.observability.metrics import instrument_pool, release_pool
from immunet.security.counters import CounterStore, DatabaseCounterStore, RedisCounterStore
from immunet.security.keyring import Keyring, KeyringError, Purpose
from immunet.security.otp import DatabaseOtpStore, OtpStore, RedisOtpStore
from immunet.security.ratelimit import RateLimiter
from immunet.security.tokens import TokenService
from immunet.settings import Settings
from immunet.sms import SmsGateway, build_sms_gateway

if TYPE_CHECKING:
    from immunet.outbox.service import Outbox
    from immunet.outbox.worker import DrainResult, OutboxWorker


@dataclass
class AppContext:
    settings: Settings
    db: Database
    keyring: Keyring
    sms: SmsGateway
    otp_store: OtpStore
    counters: CounterStore
    limiter: RateLimiter
    tokens: TokenService
    redis: Redis | None
    # Time-of-day and date rules read this clock; tests replace it with a FixedClock.
    clock: Clock = field(default_factory=SystemClock)
    # Where services put SMS (in their transaction); workers deliver through ``sms``.
    outbox: Outbox = field(init=False)

    def __post_init__(self) -> None:
        from immunet.outbox.service import Outbox  # its models import the re-encryptor

        self.outbox = Outbox(self.keyring, self, notify=self.settings.outbox_notify)

    def now(self) -> dt.datetime:
        """The context's clock read late, so a test that swaps ``clock`` moves the outbox too."""
        return self.clock.now()

    def outbox_worker(self) -> OutboxWorker:
        from immunet.outbox.worker import OutboxWorker

        return OutboxWorker(self.db, self.keyring, self.sms, self.settings, self)

    async def drain_outbox(self) -> DrainResult:
        """Deliver every SMS due now, in this task (tests; the workers do it otherwise)."""
        return await self.outbox_worker().drain()

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.dispose()
        release_pool("primary", 2 * self.settings.db_pool_size)


def load_keyring(settings: Settings) -> Keyring:
    keyring = Keyring.load(settings.keyring)
    if settings.is_production and keyring.environment != "production":
        raise KeyringError(
            "production refuses a development key ring; create one with "
            "`IMMUNET_ENV=production immunet keys init`"
        )
    return keyring


def build_context(settings: Settings, *, keyring: Keyring | None = None) -> AppContext:
    ring = keyring or load_keyring(settings)
    db = Database(
        settings.database_url,
        pool_size=settings.db_pool_size,
        replica_urls=settings.database_replica_urls,
        replica_max_lag_seconds=settings.replica_max_lag_seconds,
        replica_check_seconds=settings.replica_check_seconds,
        statement_cache=settings.database_statement_cache,
    )
    instrument_pool(db.engine, "primary", 2 * settings.db_pool_size)
    redis: Redis | None = None
    otp_store: OtpStore
    counters: CounterStore
    if settings.redis_url:
        # Bounded calls: a Redis that hangs fails the request (503) instead of holding it.
        redis = Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_timeout_seconds,
            socket_connect_timeout=settings.redis_timeout_seconds,
        )
        otp_store = RedisOtpStore(redis)
        counters = RedisCounterStore(redis)
    else:
        otp_store = DatabaseOtpStore(db)
        counters = DatabaseCounterStore(db)
    return AppContext(
        settings=settings,
        db=db,
        keyring=ring,
        sms=build_sms_gateway(settings),
        otp_store=otp_store,
        counters=counters,
        limiter=RateLimiter(counters, ring.digest(Purpose.RATE_LIMIT_KEY)),
        tokens=TokenService(ring, db),
        redis=redis,
    )
