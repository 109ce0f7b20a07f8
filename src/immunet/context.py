"""The per-process application context: settings, database, keys and pluggable services.

Services sit behind protocols and are chosen by configuration (Redis or database for
OTP state and counters; console, file or HTTP for SMS). Nothing here holds state that
decides correctness, so any number of worker processes can serve side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis

from immunet.clock import Clock, SystemClock
from immunet.db.engine import Database
from immunet.security.counters import CounterStore, DatabaseCounterStore, RedisCounterStore
from immunet.security.keyring import Keyring, KeyringError, Purpose
from immunet.security.otp import DatabaseOtpStore, OtpStore, RedisOtpStore
from immunet.security.ratelimit import RateLimiter
from immunet.security.tokens import TokenService
from immunet.settings import Settings
from immunet.sms import SmsGateway, build_sms_gateway


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

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.dispose()


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
    db = Database(settings.database_url, pool_size=settings.db_pool_size)
    redis: Redis | None = None
    otp_store: OtpStore
    counters: CounterStore
    if settings.redis_url:
        redis = Redis.from_url(settings.redis_url)
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
