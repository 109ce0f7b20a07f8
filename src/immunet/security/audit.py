"""The append-only, verifiable audit log: leaves written without a lock, sequenced later.

A business transaction appends its leaf (:meth:`AuditChain.append`) as its last statement
with no shared lock: the row's ``hash`` covers its own canonical fields and its ``seq``
(the access log's entry id), nothing else. A single sequencer
(:mod:`immunet.security.sequencer`) later gives each committed leaf its position in an
RFC 9162 Merkle tree, stores the new subtree hashes and signs a checkpoint, about once a
second. ``immunet audit verify`` recomputes every leaf hash, the positions, the stored
subtrees and every signed root, so an edited, removed or reordered entry is named.
Entries written before the sequencer (v1) keep their hash chain, which is checked too.
The application has no update or delete path for these rows, and on PostgreSQL a trigger
refuses both (decision 0006).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.db.base import utcnow
from immunet.security.merkle import leaf_hash, node_hash, root_of
from immunet.security.models import AuditEvent, AuditPosition, AuditSubtree

GENESIS_HASH = "0" * 64
LEAF_FORMAT = "immunet-audit-leaf/v2"


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
    IDENTIFIER_CONFLICT = "people:identifier:registered-again"
    PREGNANCY_RECORDED = "people:pregnancy:recorded"
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
    REMINDERS_QUEUED = "vaccination:reminders:queued"
    REGIONAL_VACCINES_SET = "vaccination:regional:set"
    ROUTINE_SESSION_PLANNED = "vaccination:routine-session:planned"
    REMINDER_SETTINGS_CHANGED = "people:account:reminder-settings"
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
    PARTNER_CREATED = "partners:client:created"
    PARTNER_SUSPENDED = "partners:client:suspended"
    PARTNER_REINSTATED = "partners:client:reinstated"
    PARTNER_KEY_ROTATED = "partners:client:key-rotated"
    PARTNER_CONSENT_GRANTED = "partners:consent:granted"
    PARTNER_CONSENT_DENIED = "partners:consent:denied"
    PARTNER_CONSENT_REVOKED = "partners:consent:revoked"
    PARTNER_PERSON_READ = "partners:person:read"
    PARTNER_ALERT_ACKNOWLEDGED = "partners:alert:acknowledged"
    RESEARCH_AGGREGATE_READ = "research:aggregate:read"
    RESEARCH_DP_COUNT_READ = "research:dp-count:read"
    RESEARCH_EXTRACT_CREATED = "research:extract:created"
    RESEARCH_QUERY_REFUSED = "research:query:refused"
    RESEARCH_BUDGET_SET = "research:budget:set"


@dataclass(frozen=True)
class RequestContext:
    """Where an action came from: the request ID and the client's address."""

    request_id: str | None = None
    client_address: str | None = None

    @classmethod
    def system(cls) -> RequestContext:
        return cls(request_id=None, client_address=None)


def _digest(values: list[object]) -> str:
    """SHA-256 of the compact, ASCII-only JSON array of ``values`` (a leaf's canonical form)."""
    canonical = json.dumps(values, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


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
    return _digest(
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
        ]
    )


def content_hash(
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
) -> str:
    """The v2 leaf hash: its own fields and id only, so no append waits for another."""
    return _digest(
        [
            LEAF_FORMAT,
            seq,
            occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
            actor,
            action,
            subject_ref,
            purpose,
            request_id,
            client_address,
            detail,
        ]
    )


def _fields(event: AuditEvent) -> dict[str, object]:
    return {
        "seq": event.seq,
        "occurred_at": event.occurred_at,
        "actor": event.actor,
        "action": event.action,
        "subject_ref": event.subject_ref,
        "purpose": event.purpose,
        "request_id": event.request_id,
        "client_address": event.client_address,
        "detail": event.detail,
    }


def _hash_of(event: AuditEvent, prev_hash: str) -> str:
    return entry_hash(**_fields(event), prev_hash=prev_hash)  # type: ignore[arg-type]


def expected_hash(event: AuditEvent) -> str:
    """What the row's ``hash`` must be: v1 rows chain, v2 rows stand alone."""
    if event.prev_hash is not None:
        return _hash_of(event, event.prev_hash)
    return content_hash(**_fields(event))  # type: ignore[arg-type]


async def _next_seqs(session: AsyncSession, n: int) -> list[int]:
    """``n`` leaf ids in one statement (see :func:`_next_seq`); on PostgreSQL the
    transaction id is still taken before the first of them (the first row's select list
    is evaluated left to right before the second row's)."""
    if session.get_bind().dialect.name == "postgresql":
        rows = await session.execute(
            text(
                "SELECT pg_current_xact_id(), "
                "nextval(pg_get_serial_sequence('audit_events', 'seq')) "
                "FROM generate_series(1, :n)"
            ),
            {"n": n},
        )
        return sorted(int(row[1]) for row in rows)
    value = await session.execute(select(func.coalesce(func.max(AuditEvent.seq), 0)))
    top = int(value.scalar_one())
    return list(range(top + 1, top + 1 + n))


async def _next_seq(session: AsyncSession) -> int:
    """The leaf's id, known before the insert so that its hash can cover it.

    PostgreSQL: the column's sequence, no lock. The transaction id is taken first, in
    the same statement, so that the sequencer can tell an id still in flight from one
    rolled back (see :mod:`immunet.security.sequencer`). SQLite: every write transaction
    is ``BEGIN IMMEDIATE``, so the maximum cannot move under us.
    """
    if session.get_bind().dialect.name == "postgresql":
        value = await session.execute(
            text(
                "SELECT pg_current_xact_id(), "
                "nextval(pg_get_serial_sequence('audit_events', 'seq'))"
            )
        )
        return int(value.one()[1])
    value = await session.execute(select(func.coalesce(func.max(AuditEvent.seq), 0)))
    return int(value.scalar_one()) + 1


@dataclass(frozen=True)
class AuditEntry:
    """One leaf to append with :meth:`AuditChain.append_many` (never personal data)."""

    actor: str
    action: AuditAction | str
    subject_ref: str | None = None
    purpose: str | None = None
    context: RequestContext | None = None
    detail: dict[str, object] | None = None
    at: dt.datetime | None = None


def _event(seq: int, entry: AuditEntry) -> AuditEvent:
    ctx = entry.context or RequestContext.system()
    occurred_at = entry.at.astimezone(dt.UTC) if entry.at is not None else utcnow()
    detail_text = (
        json.dumps(entry.detail, sort_keys=True, separators=(",", ":"), default=str)
        if entry.detail
        else None
    )
    event = AuditEvent(
        seq=seq,
        occurred_at=occurred_at,
        actor=entry.actor,
        action=str(entry.action),
        subject_ref=entry.subject_ref,
        purpose=entry.purpose,
        request_id=ctx.request_id,
        client_address=ctx.client_address,
        detail=detail_text,
        prev_hash=None,
    )
    event.hash = expected_hash(event)
    return event


async def _insert(session: AsyncSession, events: Sequence[AuditEvent]) -> None:
    """One bulk INSERT of the leaves' values: no unit of work per leaf (the objects stay
    transient; nothing reads a leaf back in the transaction that wrote it)."""
    rows = [{**_fields(e), "prev_hash": None, "hash": e.hash} for e in events]
    # render_nulls: one statement for all rows, whichever fields are None in which row.
    await session.execute(insert(AuditEvent).execution_options(render_nulls=True), rows)


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
        """Append one leaf inside the caller's transaction. Never put personal data in it.

        Takes no shared lock: the leaf commits or rolls back with the change it records,
        and the sequencer gives it a tree position within about a second. ``at`` is the
        instant from the caller's clock (``ctx.clock``) when rules count these entries over
        time windows (staff reads against quotas), so rule and record agree.
        """
        seq = await _next_seq(session)
        event = _event(seq, AuditEntry(actor, action, subject_ref, purpose, context, detail, at))
        await _insert(session, [event])
        return event

    @staticmethod
    async def append_many(session: AsyncSession, entries: Sequence[AuditEntry]) -> list[int]:
        """Append several leaves at once: one id statement and one INSERT for all of them;
        returns their ids.

        Each entry is its own leaf with its own id, hash and tree position, exactly as if
        appended one by one in this order (a roster page audits every person shown, and
        each person's access log and inclusion proof name that person's own leaf).
        """
        if not entries:
            return []
        seqs = await _next_seqs(session, len(entries))
        await _insert(session, [_event(s, e) for s, e in zip(seqs, entries, strict=True)])
        return seqs

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
                session.expunge(row)  # an audit of millions of rows keeps none in memory
            after = rows[-1].seq

    @staticmethod
    async def verify(
        session: AsyncSession, progress: Callable[[int], None] | None = None
    ) -> ChainReport:
        """Every leaf, every position and every stored subtree, recomputed from the rows.

        Checked: each row's hash over its fields (v1 rows also their chain link, and v1
        rows form the log's gap-free prefix); positions ``0..n-1`` each name an existing
        leaf exactly once; each stored subtree hash equals the one recomputed from those
        leaves. Signed roots are checked by ``transparency.verify_checkpoints``.
        """
        hashes: dict[int, str] = {}
        prev_hash = GENESIS_HASH
        v1_open = True
        expected_v1 = 1
        async for event in AuditChain.iterate(session):
            if event.prev_hash is not None:
                if not v1_open or event.seq != expected_v1:
                    return ChainReport(False, len(hashes), event.seq, "chained entry out of order")
                if event.prev_hash != prev_hash:
                    return ChainReport(False, len(hashes), event.seq, "previous-hash link broken")
                prev_hash = event.hash
                expected_v1 += 1
            else:
                v1_open = False
            if expected_hash(event) != event.hash:
                return ChainReport(False, len(hashes), event.seq, "entry contents altered")
            hashes[event.seq] = event.hash
            if progress:
                progress(1)

        leaves: list[bytes] = []
        placed: set[int] = set()
        result = await session.stream(
            select(AuditPosition.position, AuditPosition.seq).order_by(AuditPosition.position)
        )
        async for position, seq in result:
            if position != len(leaves):
                return ChainReport(
                    False, len(hashes), None, f"tree position {len(leaves)} missing (reordered?)"
                )
            if seq not in hashes:
                return ChainReport(False, len(hashes), seq, "sequenced entry removed")
            if seq in placed:  # pragma: no cover - also a unique constraint
                return ChainReport(False, len(hashes), seq, "entry sequenced twice")
            placed.add(seq)
            leaves.append(leaf_hash(bytes.fromhex(hashes[seq])))

        problem = await _check_subtrees(session, leaves)
        if problem is not None:
            return ChainReport(False, len(hashes), None, problem)
        return ChainReport(
            True,
            len(hashes),
            None,
            None,
            head=root_of(leaves).hex(),
            sequenced=len(leaves),
            pending=len(hashes) - len(leaves),
        )


async def _check_subtrees(session: AsyncSession, leaves: list[bytes]) -> str | None:
    """Every stored subtree hash equals the recomputed one, and every complete one exists."""
    levels = [leaves]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
    seen = 0
    result = await session.stream(
        select(AuditSubtree.level, AuditSubtree.idx, AuditSubtree.hash).order_by(
            AuditSubtree.level, AuditSubtree.idx
        )
    )
    async for level, index, digest in result:
        if level >= len(levels) or index >= len(levels[level]):
            return f"stored subtree ({level}, {index}) lies outside the sequenced tree"
        if bytes(digest) != levels[level][index]:
            return f"stored subtree ({level}, {index}) differs from the recomputed leaves"
        seen += 1
    if seen != sum(len(level) for level in levels if level):
        return "stored subtrees missing for the sequenced tree"
    return None


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    broken_at: int | None
    reason: str | None
    head: str | None = None
    sequenced: int = 0
    pending: int = 0
