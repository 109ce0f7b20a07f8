"""Citizen login with a mobile number and an OTP (Co-WIN's generateOTP / confirmOTP).

The answers never depend on whether the mobile is registered: every valid mobile gets a
transaction and an SMS, and an account is created only when its OTP is confirmed.
"""

from __future__ import annotations

import hashlib
import logging
import secrets

from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from immunet.context import AppContext
from immunet.db.base import utcnow
from immunet.errors import ApiError, TooManyRequests, Unauthenticated
from immunet.observability.metrics import OTP_REQUESTS
from immunet.outbox.models import PRIORITY_OTP
from immunet.people.identifiers import normalize_mobile
from immunet.people.models import CitizenAccount
from immunet.security.access import CitizenPrincipal
from immunet.security.audit import AuditAction, AuditChain, RequestContext
from immunet.security.keyring import Purpose
from immunet.security.otp import LockoutPolicy, generate_otp, new_txn_id
from immunet.security.ratelimit import Limit
from immunet.security.tokens import TokenAudience

log = logging.getLogger("immunet.auth")

LOGIN_PURPOSE = "citizen-login"


class InvalidOtp(Unauthenticated):
    error_code = "USRAUT0004"
    message = "Invalid OTP or transaction. Please request a new OTP."


class InvalidMobile(ApiError):
    status_code = 400
    error_code = "USRRES0001"
    message = "Please enter a valid mobile number."


def mobile_index(ctx: AppContext, normalized_mobile: str) -> str:
    return ctx.keyring.blind_index(Purpose.MOBILE_INDEX)(normalized_mobile)


def lockout_policy(ctx: AppContext) -> LockoutPolicy:
    s = ctx.settings
    return LockoutPolicy(
        s.otp_mobile_failure_ceiling, s.otp_lockout_base_seconds, s.otp_lockout_max_seconds
    )


async def request_otp(
    ctx: AppContext,
    raw_mobile: str,
    *,
    context: RequestContext,
    purpose: str = LOGIN_PURPOSE,
    actor: str = "anonymous",
    template: str = "otp",
) -> str:
    """Send an OTP to ``raw_mobile`` for ``purpose``; return the transaction ID."""
    try:
        mobile = normalize_mobile(raw_mobile)
    except ValueError as exc:
        raise InvalidMobile() from exc
    s = ctx.settings
    index = mobile_index(ctx, mobile)
    address = context.client_address or "unknown"
    try:
        await ctx.limiter.hit(
            Limit("otp-send-address", s.otp_sends_per_address_per_hour, 3600), address
        )
        await ctx.limiter.hit(Limit("otp-send-mobile-15m", s.otp_sends_per_15min, 900), index)
        await ctx.limiter.hit(Limit("otp-send-mobile-day", s.otp_sends_per_day, 86400), index)
        locked = await ctx.otp_store.locked_until(index)
    except TooManyRequests:
        OTP_REQUESTS.labels("throttled").inc()
        raise
    except RedisError:
        OTP_REQUESTS.labels("unavailable").inc()
        raise
    if locked is not None:
        OTP_REQUESTS.labels("throttled").inc()
        raise TooManyRequests(retry_after=int((locked - utcnow()).total_seconds()) + 1)

    txn_id = new_txn_id()
    code = generate_otp()
    code_sha = hashlib.sha256(code.encode("ascii")).hexdigest()
    digest = ctx.keyring.digest(Purpose.OTP_DIGEST)(txn_id, index, code_sha)
    await ctx.otp_store.create(
        txn_id=txn_id,
        mobile_index=index,
        mobile_ct=ctx.keyring.field_cipher.encrypt(mobile, context=f"otp:{txn_id}:mobile"),
        purpose=purpose,
        code_digest=digest,
        ttl_seconds=s.otp_ttl_seconds,
    )
    async with ctx.db.transaction() as session:
        await AuditChain.append(
            session,
            actor=actor,
            action=AuditAction.OTP_REQUESTED,
            subject_ref=f"otp:{txn_id[:8]}",
            purpose=None if purpose == LOGIN_PURPOSE else purpose,
            context=context,
        )
        # First in line, and never delivered once the code it carries has expired.
        await ctx.outbox.enqueue(
            session,
            to=mobile,
            template=template,
            values={"otp": code, "minutes": str(max(1, s.otp_ttl_seconds // 60))},
            priority=PRIORITY_OTP,
            dedup_key=f"otp:{txn_id}",
            valid_seconds=s.otp_ttl_seconds,
        )
    del code
    OTP_REQUESTS.labels("queued").inc()
    log.info("otp queued txn=%s request=%s", txn_id[:8], context.request_id)
    return txn_id


async def confirm_otp(
    ctx: AppContext, txn_id: str, otp_sha256: str, *, context: RequestContext
) -> str:
    """Exchange a correct OTP for a citizen token; every failure looks the same."""
    s = ctx.settings
    index, mobile = await verify_otp(ctx, txn_id, otp_sha256, context=context)
    account_id = await _account_for(ctx, index, mobile, context=context)
    issued = await ctx.tokens.issue(
        TokenAudience.CITIZEN, account_id, lifetime_seconds=s.citizen_token_seconds
    )
    return issued.token


async def verify_otp(
    ctx: AppContext,
    txn_id: str,
    otp_sha256: str,
    *,
    context: RequestContext,
    purpose: str = LOGIN_PURPOSE,
    actor: str = "anonymous",
) -> tuple[str, str]:
    """Check and consume an OTP of ``purpose``: (mobile blind index, mobile) or InvalidOtp."""
    s = ctx.settings
    address = context.client_address or "unknown"
    await ctx.limiter.hit(
        Limit("otp-confirm-address", s.otp_sends_per_address_per_hour * 4, 3600), address
    )
    attempt = await ctx.otp_store.begin_attempt(txn_id, s.otp_max_attempts)
    if attempt is None or attempt.purpose != purpose:
        raise InvalidOtp()
    digest = ctx.keyring.digest(Purpose.OTP_DIGEST)
    correct = digest.matches(attempt.code_digest, txn_id, attempt.mobile_index, otp_sha256)
    if await ctx.otp_store.locked_until(attempt.mobile_index) is not None:
        raise InvalidOtp()
    if not correct:
        await ctx.otp_store.record_failure(attempt.mobile_index, lockout_policy(ctx))
        async with ctx.db.transaction() as session:
            await AuditChain.append(
                session,
                actor=actor,
                action=AuditAction.OTP_FAILED,
                subject_ref=f"otp:{txn_id[:8]}",
                context=context,
            )
        raise InvalidOtp()
    if not await ctx.otp_store.consume(txn_id):
        raise InvalidOtp()
    await ctx.otp_store.reset_failures(attempt.mobile_index)
    mobile = ctx.keyring.field_cipher.decrypt(attempt.mobile_ct, context=f"otp:{txn_id}:mobile")
    return attempt.mobile_index, mobile


async def _account_for(ctx: AppContext, index: str, mobile: str, *, context: RequestContext) -> str:
    """The account of a verified mobile, created on first login."""
    async with ctx.db.transaction() as session:
        existing = (
            await session.execute(
                select(CitizenAccount.id).where(CitizenAccount.mobile_index == index)
            )
        ).scalar_one_or_none()
        if existing is not None:
            await AuditChain.append(
                session,
                actor=f"citizen:{existing}",
                action=AuditAction.OTP_CONFIRMED,
                subject_ref=f"account:{existing}",
                context=context,
            )
            return str(existing)
        account_id = secrets.token_hex(16)
        dialect = postgresql if ctx.db.dialect == "postgresql" else sqlite
        sealed = ctx.keyring.field_cipher.encrypt(mobile, context=f"account:{account_id}:mobile")
        # RETURNING says whether this insert won; only a concurrent first login that won
        # instead needs the read of its row.
        final_id = (
            await session.execute(
                dialect.insert(CitizenAccount)
                .values(id=account_id, mobile_index=index, mobile_ct=sealed, created_at=utcnow())
                .on_conflict_do_nothing(index_elements=[CitizenAccount.mobile_index])
                .returning(CitizenAccount.id)
            )
        ).scalar_one_or_none()
        if final_id is None:
            final_id = (
                await session.execute(
                    select(CitizenAccount.id).where(CitizenAccount.mobile_index == index)
                )
            ).scalar_one()
        await AuditChain.append(
            session,
            actor=f"citizen:{final_id}",
            action=AuditAction.ACCOUNT_CREATED,
            subject_ref=f"account:{final_id}",
            context=context,
        )
        return str(final_id)


async def logout(ctx: AppContext, principal: CitizenPrincipal) -> None:
    await ctx.tokens.revoke(principal.session_id)
    async with ctx.db.transaction() as session:
        await AuditChain.append(
            session,
            actor=principal.actor,
            action=AuditAction.CITIZEN_LOGGED_OUT,
            subject_ref=f"account:{principal.account_id}",
            context=principal.context,
        )


async def account_for_verified_mobile(
    ctx: AppContext, index: str, mobile: str, *, context: RequestContext
) -> str:
    """The account of a mobile whose OTP was just verified (created on first verification)."""
    return await _account_for(ctx, index, mobile, context=context)
