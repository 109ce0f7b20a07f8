"""The append-only, hash-chained audit log.

Each entry's hash covers its own fields and the previous entry's hash, so removing,
reordering or editing any entry breaks every later link; ``immunet audit verify``
recomputes the chain and names the first broken link. The application has no update or
delete path for these rows. Appends are serialized (a PostgreSQL advisory lock, SQLite's
single writer) and should be the last statement of their transaction so the lock is short.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.db.base import utcnow
from immunet.security.models import AuditEvent

GENESIS_HASH = "0" * 64
_AUDIT_LOCK_ID = 0x1A0D17


class AuditAction(StrEnum):
    """Typed event names, ``area:object:verb``."""

    OTP_REQUESTED = "auth:otp:requested"
    OTP_CONFIRMED = "auth:otp:confirmed"
    OTP_FAILED = "auth:otp:failed"
    CITIZEN_LOGGED_OUT = "auth:citizen:logged-out"
    ACCOUNT_CREATED = "people:account:created"
    BENEFICIARY_REGISTERED = "people:beneficiary:registered"
    BENEFICIARY_DELETED = "people:beneficiary:deleted"
    BENEFICIARY_REFUSED = "people:beneficiary:refused"
    BENEFICIARY_VIEWED = "people:beneficiary:viewed"
    STAFF_LOGIN = "staff:auth:login"
    STAFF_LOGIN_FAILED = "staff:auth:login-failed"
    STAFF_LOGOUT = "staff:auth:logout"
    STAFF_CREATED = "staff:user:created"
    STAFF_DISABLED = "staff:user:disabled"
    CENTER_CREATED = "geography:center:created"
    CENTER_UPDATED = "geography:center:updated"
    SESSION_PUBLISHED = "sessions:session:published"
    SESSION_UPDATED = "sessions:session:updated"
    SESSION_CANCELLED = "sessions:session:cancelled"
    APPOINTMENT_BOOKED = "booking:appointment:booked"
    APPOINTMENT_RESCHEDULED = "booking:appointment:rescheduled"
    APPOINTMENT_CANCELLED = "booking:appointment:cancelled"
    APPOINTMENT_SLIP_DOWNLOADED = "booking:slip:downloaded"
    KEYS_ROTATED = "security:keys:rotated"
    KEYS_REENCRYPTED = "security:keys:reencrypted"
    CENTERS_IMPORTED = "geography:center:imported"
    APPOINTMENT_CHECKED_IN = "vaccination:appointment:checked-in"
    APPOINTMENT_CODE_FAILED = "vaccination:appointment:code-failed"
    APPOINTMENT_LOCKED = "vaccination:appointment:locked"
    STAFF_LOOKUP_VERIFIED = "vaccination:lookup:otp-verified"
    DOSE_RECORDED = "vaccination:dose:recorded"
    DOSE_VOIDED = "vaccination:dose:voided"
    STOCK_RECEIVED = "vaccination:stock:received"
    STOCK_WASTED = "vaccination:stock:wasted"
    AEFI_REPORTED = "vaccination:aefi:reported"
    CERTIFICATE_ISSUED = "certificates:certificate:issued"
    CERTIFICATE_REVOKED = "certificates:certificate:revoked"
    CERTIFICATE_KEYS_CREATED = "certificates:keys:created"
    CERTIFICATE_KEYS_ROTATED = "certificates:keys:rotated"
    CERTIFICATE_ISSUER_IMPORTED = "certificates:issuer:imported"
    STAFF_SUSPENDED = "staff:user:suspended"
    STAFF_REINSTATED = "staff:user:reinstated"
    STAFF_ALERT_RAISED = "staff:alert:raised"
    STAFF_ALERT_ACKNOWLEDGED = "staff:alert:acknowledged"
    CANARY_TOUCHED = "people:canary:touched"
    CANARY_SEEDED = "people:canary:seeded"
    BREAK_GLASS_GRANTED = "people:beneficiary:break-glass"
    ACCESS_DISPUTED = "people:access:disputed"
    DISPUTE_RESOLVED = "staff:dispute:resolved"
    STAFF_LOOKUPS_FROZEN = "staff:user:lookups-frozen"
    STAFF_PASSWORD_CHANGED = "staff:user:password-changed"  # noqa: S105 - an event name


@dataclass(frozen=True)
class RequestContext:
    """Where an action came from: the request ID and the client's address."""

    request_id: str | None = None
    client_address: str | None = None

    @classmethod
    def system(cls) -> RequestContext:
        return cls(request_id=None, client_address=None)


def entry_hash(
    *,
    seq: int,
    occurred_at: dt.datetime,
    actor: str,
    action: str,
    subject_ref: str | None,
    purpose: str | None,
    request_id: str | None,
    client_address: str | None,
    detail: str | None,
    prev_hash: str,
) -> str:
    canonical = json.dumps(
        [
            seq,
            occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
            actor,
            action,
            subject_ref,
            purpose,
            request_id,
            client_address,
            detail,
            prev_hash,
        ],
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _hash_of(event: AuditEvent, prev_hash: str) -> str:
    return entry_hash(
        seq=event.seq,
        occurred_at=event.occurred_at,
        actor=event.actor,
        action=event.action,
        subject_ref=event.subject_ref,
        purpose=event.purpose,
        request_id=event.request_id,
        client_address=event.client_address,
        detail=event.detail,
        prev_hash=prev_hash,
    )


class AuditChain:
    @staticmethod
    async def append(
        session: AsyncSession,
        *,
        actor: str,
        action: AuditAction | str,
        subject_ref: str | None = None,
        purpose: str | None = None,
        context: RequestContext | None = None,
        detail: dict[str, object] | None = None,
        at: dt.datetime | None = None,
    ) -> AuditEvent:
        """Append one entry inside the caller's transaction. Never put personal data in it.

        ``at`` is the instant from the caller's clock (``ctx.clock``) when rules count these
        entries over time windows (staff reads against quotas), so rule and record agree.
        """
        ctx = context or RequestContext.system()
        if session.get_bind().dialect.name == "postgresql":
            await session.execute(
                text("SELECT pg_advisory_xact_lock(:lock_id)"), {"lock_id": _AUDIT_LOCK_ID}
            )
        last = (
            await session.execute(
                select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
            )
        ).first()
        seq = (last.seq + 1) if last else 1
        prev_hash = last.hash if last else GENESIS_HASH
        occurred_at = at.astimezone(dt.UTC) if at is not None else utcnow()
        detail_text = (
            json.dumps(detail, sort_keys=True, separators=(",", ":"), default=str)
            if detail
            else None
        )
        event = AuditEvent(
            seq=seq,
            occurred_at=occurred_at,
            actor=actor,
            action=str(action),
            subject_ref=subject_ref,
            purpose=purpose,
            request_id=ctx.request_id,
            client_address=ctx.client_address,
            detail=detail_text,
            prev_hash=prev_hash,
        )
        event.hash = _hash_of(event, prev_hash)
        session.add(event)
        await session.flush()
        return event

    @staticmethod
    async def iterate(session: AsyncSession, batch: int = 1000) -> AsyncIterator[AuditEvent]:
        after = 0
        while True:
            rows = (
                (
                    await session.execute(
                        select(AuditEvent)
                        .where(AuditEvent.seq > after)
                        .order_by(AuditEvent.seq)
                        .limit(batch)
                    )
                )
                .scalars()
                .all()
            )
            if not rows:
                return
            for row in rows:
                yield row
            after = rows[-1].seq

    @staticmethod
    async def verify(
        session: AsyncSession, progress: Callable[[int], None] | None = None
    ) -> ChainReport:
        expected_seq = 1
        prev_hash = GENESIS_HASH
        count = 0
        async for event in AuditChain.iterate(session):
            if event.seq != expected_seq:
                return ChainReport(False, count, event.seq, f"sequence gap before {event.seq}")
            if event.prev_hash != prev_hash:
                return ChainReport(False, count, event.seq, "previous-hash link broken")
            if _hash_of(event, prev_hash) != event.hash:
                return ChainReport(False, count, event.seq, "entry contents altered")
            prev_hash = event.hash
            expected_seq += 1
            count += 1
            if progress:
                progress(1)
        return ChainReport(True, count, None, None, head=prev_hash)


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    broken_at: int | None
    reason: str | None
    head: str | None = None
