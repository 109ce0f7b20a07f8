"""One-time passwords: generation, storage as keyed digests, and atomic verification.

State lives in Redis when configured, else in the database; both stores give the same
guarantees: a new OTP supersedes the previous one for that mobile, at most
``max_attempts`` codes are ever evaluated per transaction (even under concurrent
requests), a correct code is consumed exactly once, and consecutive failures per mobile
survive new OTPs and lead to a lockout with growing back-off.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from immunet.db.base import utcnow
from immunet.db.engine import Database
from immunet.security.models import MobileFailureCounter, OtpTransaction


def generate_otp() -> str:
    """Six digits from the operating system's CSPRNG."""
    return f"{secrets.randbelow(10**6):06d}"


def new_txn_id() -> str:
    """128 random bits, shaped like the UUIDs Co-WIN clients expect."""
    return str(uuid.UUID(bytes=secrets.token_bytes(16)))


@dataclass(frozen=True)
class OtpAttempt:
    mobile_index: str
    code_digest: str
    purpose: str
    mobile_ct: bytes


@dataclass(frozen=True)
class LockoutPolicy:
    ceiling: int
    base_seconds: int
    max_seconds: int

    def lock_seconds(self, lockouts: int) -> int:
        return int(min(self.max_seconds, self.base_seconds * (2 ** max(0, lockouts - 1))))


class OtpStore(Protocol):
    async def create(
        self,
        *,
        txn_id: str,
        mobile_index: str,
        mobile_ct: bytes,
        purpose: str,
        code_digest: str,
        ttl_seconds: int,
    ) -> None: ...

    async def begin_attempt(self, txn_id: str, max_attempts: int) -> OtpAttempt | None:
        """Count one attempt if the transaction is live, unexpired and has tries left."""
        ...

    async def consume(self, txn_id: str) -> bool: ...

    async def record_failure(self, mobile_index: str, policy: LockoutPolicy) -> None: ...

    async def reset_failures(self, mobile_index: str) -> None: ...

    async def locked_until(self, mobile_index: str) -> dt.datetime | None: ...


class DatabaseOtpStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(
        self,
        *,
        txn_id: str,
        mobile_index: str,
        mobile_ct: bytes,
        purpose: str,
        code_digest: str,
        ttl_seconds: int,
    ) -> None:
        now = utcnow()
        async with self._db.transaction() as session:
            await session.execute(
                update(OtpTransaction)
                .where(
                    OtpTransaction.mobile_index == mobile_index,
                    OtpTransaction.purpose == purpose,
                    OtpTransaction.state == "live",
                )
                .values(state="superseded")
            )
            session.add(
                OtpTransaction(
                    txn_id=txn_id,
                    mobile_index=mobile_index,
                    mobile_ct=mobile_ct,
                    purpose=purpose,
                    code_digest=code_digest,
                    created_at=now,
                    expires_at=now + dt.timedelta(seconds=ttl_seconds),
                    attempts=0,
                    state="live",
                )
            )

    async def begin_attempt(self, txn_id: str, max_attempts: int) -> OtpAttempt | None:
        stmt = (
            update(OtpTransaction)
            .where(
                OtpTransaction.txn_id == txn_id,
                OtpTransaction.state == "live",
                OtpTransaction.expires_at > utcnow(),
                OtpTransaction.attempts < max_attempts,
            )
            .values(attempts=OtpTransaction.attempts + 1)
            .returning(
                OtpTransaction.mobile_index,
                OtpTransaction.code_digest,
                OtpTransaction.purpose,
                OtpTransaction.mobile_ct,
            )
        )
        async with self._db.transaction() as session:
            row = (await session.execute(stmt)).first()
        if row is None:
            return None
        return OtpAttempt(row.mobile_index, row.code_digest, row.purpose, row.mobile_ct)

    async def consume(self, txn_id: str) -> bool:
        stmt = (
            update(OtpTransaction)
            .where(OtpTransaction.txn_id == txn_id, OtpTransaction.state == "live")
            .values(state="consumed")
        )
        async with self._db.transaction() as session:
            result = await session.execute(stmt)
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def record_failure(self, mobile_index: str, policy: LockoutPolicy) -> None:
        dialect = postgresql if self._db.dialect == "postgresql" else sqlite
        async with self._db.transaction() as session:
            # Insert-or-ignore first so concurrent first failures do not collide.
            await session.execute(
                dialect.insert(MobileFailureCounter)
                .values(mobile_index=mobile_index, failures=0, lockouts=0)
                .on_conflict_do_nothing(index_elements=[MobileFailureCounter.mobile_index])
            )
            row = (
                await session.execute(
                    select(MobileFailureCounter)
                    .where(MobileFailureCounter.mobile_index == mobile_index)
                    .with_for_update()
                )
            ).scalar_one()
            row.failures += 1
            if row.failures >= policy.ceiling:
                row.lockouts += 1
                row.failures = 0
                row.locked_until = utcnow() + dt.timedelta(
                    seconds=policy.lock_seconds(row.lockouts)
                )

    async def reset_failures(self, mobile_index: str) -> None:
        async with self._db.transaction() as session:
            await session.execute(
                update(MobileFailureCounter)
                .where(MobileFailureCounter.mobile_index == mobile_index)
                .values(failures=0)
            )

    async def locked_until(self, mobile_index: str) -> dt.datetime | None:
        async with self._db.reader() as session:
            row = await session.get(MobileFailureCounter, mobile_index)
        if row is None or row.locked_until is None or row.locked_until <= utcnow():
            return None
        return row.locked_until


_CREATE = """
local previous = redis.call('GET', KEYS[2])
if previous then redis.call('HSET', 'otp:txn:' .. previous, 'state', 'superseded') end
redis.call('HSET', KEYS[1], 'mobile', ARGV[1], 'digest', ARGV[2], 'purpose', ARGV[3],
           'attempts', 0, 'state', 'live', 'sealed', ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('SET', KEYS[2], ARGV[5], 'EX', ARGV[4])
return 1
"""

_ATTEMPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
local state = redis.call('HGET', KEYS[1], 'state')
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts'))
if state ~= 'live' or attempts >= tonumber(ARGV[1]) then return nil end
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
return redis.call('HMGET', KEYS[1], 'mobile', 'digest', 'purpose', 'sealed')
"""

_CONSUME = """
if redis.call('HGET', KEYS[1], 'state') ~= 'live' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'consumed')
return 1
"""

_FAIL = """
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
redis.call('EXPIRE', KEYS[1], 86400 * 30)
if failures >= tonumber(ARGV[1]) then
  local lockouts = redis.call('HINCRBY', KEYS[1], 'lockouts', 1)
  local seconds = math.min(tonumber(ARGV[3]), tonumber(ARGV[2]) * 2 ^ (lockouts - 1))
  redis.call('HSET', KEYS[1], 'failures', 0, 'locked_until', tonumber(ARGV[4]) + seconds)
end
return failures
"""


class RedisOtpStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._create = redis.register_script(_CREATE)
        self._attempt = redis.register_script(_ATTEMPT)
        self._consume = redis.register_script(_CONSUME)
        self._fail = redis.register_script(_FAIL)

    async def create(
        self,
        *,
        txn_id: str,
        mobile_index: str,
        mobile_ct: bytes,
        purpose: str,
        code_digest: str,
        ttl_seconds: int,
    ) -> None:
        await self._create(
            keys=[f"otp:txn:{txn_id}", f"otp:mobile:{purpose}:{mobile_index}"],
            args=[mobile_index, code_digest, purpose, ttl_seconds, txn_id, mobile_ct],
        )

    async def begin_attempt(self, txn_id: str, max_attempts: int) -> OtpAttempt | None:
        result = await self._attempt(keys=[f"otp:txn:{txn_id}"], args=[max_attempts])
        if not result:
            return None
        mobile, digest, purpose, sealed = result
        return OtpAttempt(mobile.decode(), digest.decode(), purpose.decode(), bytes(sealed))

    async def consume(self, txn_id: str) -> bool:
        return bool(await self._consume(keys=[f"otp:txn:{txn_id}"]))

    async def record_failure(self, mobile_index: str, policy: LockoutPolicy) -> None:
        await self._fail(
            keys=[f"otp:fail:{mobile_index}"],
            args=[
                policy.ceiling,
                policy.base_seconds,
                policy.max_seconds,
                int(utcnow().timestamp()),
            ],
        )

    async def reset_failures(self, mobile_index: str) -> None:
        await self._redis.hset(f"otp:fail:{mobile_index}", "failures", 0)

    async def locked_until(self, mobile_index: str) -> dt.datetime | None:
        value = await self._redis.hget(f"otp:fail:{mobile_index}", "locked_until")
        if not value:
            return None
        until = dt.datetime.fromtimestamp(float(value), dt.UTC)
        return until if until > utcnow() else None
