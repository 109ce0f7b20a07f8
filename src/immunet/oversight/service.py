"""Oversight services: alerts, reinstatement, break-glass, disputes and the access log.

Staff-facing lists are filtered in the query by the caller's jurisdiction and rank
(:func:`immunet.staff.misuse.place_filter`); rows outside it are indistinguishable from
missing ones. Citizen-facing reads cover the account's own beneficiaries only. Every
time rule here (grant expiry, quotas, dispute limits) reads ``ctx.clock``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.context import AppContext
from immunet.db.base import utcnow
from immunet.errors import Conflict, NotFound, TooManyRequests, Unprocessable
from immunet.oversight.models import (
    AccessDispute,
    BreakGlassGrant,
    StaffActivity,
    StaffAlert,
    dispute_reason_context,
    grant_reason_context,
)
from immunet.people.models import Beneficiary, CitizenAccount
from immunet.people.service import account_mobile
from immunet.security import transparency
from immunet.security.access import CitizenPrincipal
from immunet.security.audit import AuditAction, AuditChain
from immunet.security.models import AuditEvent
from immunet.security.transparency import CheckpointView
from immunet.staff import misuse
from immunet.staff.jurisdiction import jurisdiction_contains
from immunet.staff.models import StaffUser
from immunet.staff.permissions import ROLE_RANK, Role
from immunet.staff.principal import InvalidJurisdiction, Jurisdiction, StaffPrincipal
from immunet.staff.service import StaffForbidden, StaffNotFound, normalize_username

log = logging.getLogger("immunet.oversight")

PAGE_MAX = 50
REASON_MIN = 20


class AlertNotFound(NotFound):
    error_code = "OVS0404"
    message = "No such alert."


class DisputeNotFound(NotFound):
    error_code = "OVS0405"
    message = "No such dispute."


class EntryNotFound(NotFound):
    error_code = "OVS0406"
    message = "No such access-log entry."


class AlreadyDisputed(Conflict):
    error_code = "OVS0409"
    message = "This entry has been reported already."


class NotSuspended(Conflict):
    error_code = "OVS0410"
    message = "This account is not suspended."


class DisputeClosed(Conflict):
    error_code = "OVS0411"
    message = "This dispute has been resolved already."


class BreakGlassActive(Conflict):
    error_code = "OVS0412"
    message = "You already hold a live break-glass grant for this person."


class DisputeNotOpen(Conflict):
    error_code = "OVS0413"
    message = "Only an open dispute can freeze look-ups."


class TooManyDisputes(TooManyRequests):
    error_code = "OVS0429"
    message = "You have reported as many accesses as allowed for now. Try again later."


class InvalidBreakGlass(Unprocessable):
    error_code = "OVS0422"
    message = "A break-glass request needs a written reason of at least 20 characters."


class BreakGlassUnavailable(NotFound):
    error_code = "OVS0407"
    message = "No such beneficiary."


def _clamp(limit: int) -> int:
    return max(1, min(limit, PAGE_MAX))


# --- alerts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertView:
    id: int
    staff_username: str
    staff_role: str
    jurisdiction: str
    kind: str
    severity: str
    created_at: dt.datetime
    detail: dict[str, Any]
    acknowledged_by: str | None
    acknowledged_at: dt.datetime | None


def _alert_view(alert: StaffAlert, username: str) -> AlertView:
    return AlertView(
        id=alert.id,
        staff_username=username,
        staff_role=alert.staff_role,
        jurisdiction=str(Jurisdiction(alert.jurisdiction_kind, alert.jurisdiction_id)),
        kind=alert.kind,
        severity=alert.severity,
        created_at=alert.created_at,
        detail=json.loads(alert.detail) if alert.detail else {},
        acknowledged_by=alert.acknowledged_by,
        acknowledged_at=alert.acknowledged_at,
    )


def _alert_scope(actor: StaffPrincipal) -> Any:
    return misuse.place_filter(
        StaffAlert.jurisdiction_kind, StaffAlert.jurisdiction_id, StaffAlert.staff_role, actor
    )


async def list_alerts(
    ctx: AppContext,
    *,
    actor: StaffPrincipal,
    limit: int = PAGE_MAX,
    before: int | None = None,
    open_only: bool = False,
) -> tuple[list[AlertView], int | None]:
    """Newest first; ``before`` is the cursor (an alert id). Returns the page and next cursor."""
    limit = _clamp(limit)
    stmt = (
        select(StaffAlert, StaffUser.username)
        .join(StaffUser, StaffUser.id == StaffAlert.staff_user_id)
        .where(_alert_scope(actor))
        .order_by(StaffAlert.id.desc())
    )
    if before is not None:
        stmt = stmt.where(StaffAlert.id < before)
    if open_only:
        stmt = stmt.where(StaffAlert.acknowledged_at.is_(None))
    async with ctx.db.reader() as session:
        rows = (await session.execute(stmt.limit(limit + 1))).all()
    page = rows[:limit]
    next_cursor = page[-1][0].id if len(rows) > limit else None
    return [_alert_view(a, u) for a, u in page], next_cursor


async def acknowledge_alert(ctx: AppContext, alert_id: int, *, actor: StaffPrincipal) -> AlertView:
    async with ctx.db.transaction() as session:
        row = (
            await session.execute(
                select(StaffAlert, StaffUser.username)
                .join(StaffUser, StaffUser.id == StaffAlert.staff_user_id)
                .where(StaffAlert.id == alert_id, _alert_scope(actor))
                .with_for_update(of=StaffAlert)
            )
        ).first()
        if row is None:
            raise AlertNotFound()
        alert, username = row
        if alert.acknowledged_at is None:
            alert.acknowledged_at = ctx.clock.now()
            alert.acknowledged_by = actor.actor
            await session.flush()
            await AuditChain.append(
                session,
                actor=actor.actor,
                action=AuditAction.STAFF_ALERT_ACKNOWLEDGED,
                subject_ref=f"staff:{alert.staff_user_id}",
                purpose="misuse-review",
                context=actor.context,
                detail={"alert": alert.id, "kind": alert.kind},
            )
        return _alert_view(alert, username)


# --- reinstatement ---------------------------------------------------------------------------


async def reinstate_staff_user(ctx: AppContext, *, username: str, actor: StaffPrincipal) -> None:
    """Lift a misuse suspension. Only an admin of a higher rank, within jurisdiction."""
    try:
        name = normalize_username(username)
    except Exception as exc:
        raise StaffNotFound() from exc
    async with ctx.db.transaction() as session:
        user = (
            await session.execute(
                select(StaffUser).where(StaffUser.username == name).with_for_update()
            )
        ).scalar_one_or_none()
        if user is None or not await jurisdiction_contains(
            session, actor.jurisdiction, misuse.jurisdiction_of(user)
        ):
            raise StaffNotFound()
        if ROLE_RANK[Role(user.role)] >= ROLE_RANK[actor.role]:
            raise StaffForbidden()
        if user.suspended_at is None:
            raise NotSuspended()
        # The clock: record_breach counts breaches since this instant.
        now = ctx.clock.now()
        await session.execute(
            update(StaffUser)
            .where(StaffUser.id == user.id)
            .values(active=True, suspended_at=None, suspension_reason=None, reinstated_at=now)
        )
        await AuditChain.append(
            session,
            actor=actor.actor,
            action=AuditAction.STAFF_REINSTATED,
            subject_ref=f"staff:{user.id}",
            purpose="misuse-review",
            context=actor.context,
            detail={"reason": user.suspension_reason},
        )


# --- break-glass ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrantView:
    grant_id: int
    expires_at: dt.datetime


async def grant_break_glass(
    ctx: AppContext, *, reference_id: str, reason: str, actor: StaffPrincipal
) -> GrantView:
    """A short-lived grant to see one person outside the rules, with a written reason.

    Capped per user per day; an unknown reference uses up the cap like a real one (so the
    route cannot be used to test reference IDs). One live grant per (user, person): a
    second while the first runs is refused. The person gets an SMS after commit, and
    their access log shows the written reason.
    """
    reason = reason.strip()
    if len(reason) < REASON_MIN:
        raise InvalidBreakGlass()
    now = ctx.clock.now()
    cap = ctx.settings.break_glass_per_day
    async with ctx.db.transaction() as session:
        # The user's row locked: two requests at once cannot both pass the checks below.
        user = (
            await session.execute(
                select(StaffUser).where(StaffUser.id == actor.user_id).with_for_update()
            )
        ).scalar_one_or_none()
        if user is None or not user.active:
            raise misuse.AccountSuspended()
        if await misuse._frozen(ctx, session, user.id):
            raise misuse.LookupFrozen()
        used = (
            await session.execute(
                select(func.count())
                .select_from(BreakGlassGrant)
                .where(
                    BreakGlassGrant.staff_user_id == user.id,
                    BreakGlassGrant.created_at > now - misuse.DAY,
                )
            )
        ).scalar_one() + (
            await session.execute(
                select(func.count())
                .select_from(StaffActivity)
                .where(
                    StaffActivity.staff_user_id == user.id,
                    StaffActivity.kind == misuse.KIND_BREAK_GLASS_MISS,
                    StaffActivity.at > now - misuse.DAY,
                )
            )
        ).scalar_one()
        if used >= cap:
            raise misuse._breach(ctx, actor, "quota.break-glass-per-day", {"limit": cap}, 3600)
        beneficiary = (
            await session.execute(
                select(Beneficiary).where(Beneficiary.reference_id == reference_id)
            )
        ).scalar_one_or_none()
        if beneficiary is None:
            # The miss is committed (it uses up the cap); the answer is a plain 404.
            session.add(
                StaffActivity(
                    staff_user_id=user.id, kind=misuse.KIND_BREAK_GLASS_MISS, target=None, at=now
                )
            )
            grant = None
        elif beneficiary.is_canary:
            raise misuse.canary_refusal(ctx, actor, beneficiary.reference_id)
        elif await misuse.live_break_glass(ctx, session, actor, beneficiary.id) is not None:
            raise BreakGlassActive()
        else:
            grant = BreakGlassGrant(
                staff_user_id=user.id,
                beneficiary_id=beneficiary.id,
                reason_ct=b"",
                created_at=now,
                expires_at=now + dt.timedelta(seconds=ctx.settings.break_glass_grant_seconds),
            )
            session.add(grant)
            await session.flush()
            grant.reason_ct = ctx.keyring.field_cipher.encrypt(
                reason, context=grant_reason_context(grant.id)
            )
            organisation = await misuse.organisation_of(session, actor.jurisdiction)
            mobile = await account_mobile(session, ctx.keyring, beneficiary.account_id)
            await misuse.raise_alert(
                session, user, "break-glass.used", "info", {"grant": grant.id}, now=now
            )
            await AuditChain.append(
                session,
                actor=actor.actor,
                action=AuditAction.BREAK_GLASS_GRANTED,
                subject_ref=f"beneficiary:{beneficiary.reference_id}",
                purpose="break-glass",
                context=actor.context,
                detail={
                    "channel": misuse.BREAK_GLASS_CHANNEL,
                    "organisation": str(actor.jurisdiction),
                    "role": str(actor.role),
                    # The person's access log shows this grant's sealed reason.
                    "grant": grant.id,
                },
                at=now,
            )
            await ctx.outbox.enqueue(
                session,
                to=mobile,
                template="break_glass",
                values={"organisation": organisation, "ref_tail": beneficiary.reference_id[-4:]},
                dedup_key=f"break_glass:{grant.id}",
            )
    if grant is None or beneficiary is None:
        raise BreakGlassUnavailable()
    return GrantView(grant.id, grant.expires_at)


# --- the citizen's access log ------------------------------------------------------------------


@dataclass(frozen=True)
class AccessEntry:
    entry_id: int
    beneficiary_reference_id: str
    when: dt.datetime
    action: str
    channel: str | None
    purpose: str | None
    organisation: str
    role: str
    # The written reason of a break-glass grant (on the grant and the reads it allowed).
    reason: str | None = None


async def _own_refs(session: AsyncSession, account_id: str) -> dict[str, str]:
    """``beneficiary:<ref>`` → ``<ref>`` for the account's beneficiaries."""
    refs = (
        await session.execute(
            select(Beneficiary.reference_id).where(Beneficiary.account_id == account_id)
        )
    ).scalars()
    return {f"beneficiary:{r}": str(r) for r in refs}


class _Who:
    """Organisation and role of an actor, from the event detail or the staff table."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._orgs: dict[str, str] = {}
        self._users: dict[int, tuple[str, str]] = {}

    async def organisation(self, place: str) -> str:
        if place not in self._orgs:
            try:
                jurisdiction = Jurisdiction.parse(place)
            except InvalidJurisdiction:
                self._orgs[place] = "immunet"
            else:
                self._orgs[place] = await misuse.organisation_of(self._session, jurisdiction)
        return self._orgs[place]

    async def of(self, event: AuditEvent, detail: dict[str, Any]) -> tuple[str, str]:
        prefix, _, rest = event.actor.partition(":")
        if prefix == "citizen":
            # Another account (e.g. one that registered the same ID number): never which.
            return ("another immunet account", "citizen")
        if prefix == "partner":
            # A partner app acting on the citizen's consent: its registered name.
            return (str(detail.get("organisation") or "partner app"), "partner")
        if prefix != "staff" or not rest.isdigit():
            return ("immunet operations", prefix or "system")
        role = str(detail.get("role") or "")
        place = str(detail.get("organisation") or "")
        if not role or not place:
            user_id = int(rest)
            if user_id not in self._users:
                user = await self._session.get(StaffUser, user_id)
                self._users[user_id] = (
                    (user.role, str(misuse.jurisdiction_of(user))) if user else ("staff", "")
                )
            role = role or self._users[user_id][0]
            place = place or self._users[user_id][1]
        return (await self.organisation(place), role)


def _detail(event: AuditEvent) -> dict[str, Any]:
    if not event.detail:
        return {}
    try:
        value = json.loads(event.detail)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


async def _grant_reason(
    ctx: AppContext,
    session: AsyncSession,
    detail: dict[str, Any],
    subject_ref: str,
    cache: dict[int, str | None],
) -> str | None:
    """The sealed reason of the break-glass grant an entry names, when it concerns the
    same person (the grant id comes from the entry's own detail, never from the caller)."""
    grant_id = detail.get("grant")
    if not isinstance(grant_id, int) or isinstance(grant_id, bool):
        return None
    if grant_id not in cache:
        row = (
            await session.execute(
                select(BreakGlassGrant.reason_ct, Beneficiary.reference_id)
                .join(Beneficiary, Beneficiary.id == BreakGlassGrant.beneficiary_id)
                .where(BreakGlassGrant.id == grant_id)
            )
        ).first()
        cache[grant_id] = (
            ctx.keyring.field_cipher.decrypt(row[0], context=grant_reason_context(grant_id))
            if row is not None and f"beneficiary:{row[1]}" == subject_ref
            else None
        )
    return cache[grant_id]


async def _entries(
    ctx: AppContext,
    session: AsyncSession,
    account_id: str,
    *,
    limit: int,
    before: int | None,
) -> tuple[list[AccessEntry], int | None]:
    refs = await _own_refs(session, account_id)
    if not refs:
        return [], None
    stmt = (
        select(AuditEvent)
        .where(
            AuditEvent.subject_ref.in_(list(refs)),
            AuditEvent.actor != f"citizen:{account_id}",
        )
        .order_by(AuditEvent.seq.desc())
    )
    if before is not None:
        stmt = stmt.where(AuditEvent.seq < before)
    rows = list((await session.execute(stmt.limit(limit + 1))).scalars())
    who = _Who(session)
    reasons: dict[int, str | None] = {}
    out = []
    for event in rows[:limit]:
        detail = _detail(event)
        organisation, role = await who.of(event, detail)
        channel = detail.get("channel")
        reason = (
            await _grant_reason(ctx, session, detail, str(event.subject_ref), reasons)
            if channel == misuse.BREAK_GLASS_CHANNEL
            else None
        )
        out.append(
            AccessEntry(
                entry_id=event.seq,
                beneficiary_reference_id=refs[str(event.subject_ref)],
                when=event.occurred_at,
                action=event.action,
                channel=str(channel) if channel else None,
                purpose=event.purpose,
                organisation=organisation,
                role=role,
                reason=reason,
            )
        )
    next_cursor = out[-1].entry_id if len(rows) > limit else None
    return out, next_cursor


async def access_log(
    ctx: AppContext, *, actor: CitizenPrincipal, limit: int = PAGE_MAX, before: int | None = None
) -> tuple[list[AccessEntry], int | None]:
    """Who (organisation and role, never a person) touched the account's beneficiaries."""
    async with ctx.db.reader() as session:
        return await _entries(ctx, session, actor.account_id, limit=_clamp(limit), before=before)


async def own_entry(session: AsyncSession, account_id: str, entry_id: int) -> AuditEvent:
    """One entry of the account's access log, or :class:`EntryNotFound`."""
    event = await session.get(AuditEvent, entry_id)
    if event is None or event.actor == f"citizen:{account_id}" or not event.subject_ref:
        raise EntryNotFound()
    refs = await _own_refs(session, account_id)
    if event.subject_ref not in refs:
        raise EntryNotFound()
    return event


# --- disputes -----------------------------------------------------------------------------------


async def _dispute_wait(
    ctx: AppContext, session: AsyncSession, account_id: str, now: dt.datetime
) -> int | None:
    """Seconds until this account may report one more access (sliding day), or None."""
    stmt = (
        select(AccessDispute.created_at)
        .where(AccessDispute.account_id == account_id, AccessDispute.created_at > now - misuse.DAY)
        .order_by(AccessDispute.created_at.desc())
    )
    return await misuse._window_check(
        session, stmt, ctx.settings.citizen_disputes_per_day, misuse.DAY, now
    )


async def open_dispute(
    ctx: AppContext, entry_id: int, *, reason: str, actor: CitizenPrincipal
) -> int:
    """The citizen reports an entry: a case for the admins above that staff user, and an
    alert. One account's reports never freeze anyone: look-ups freeze on an admin's
    decision (:func:`freeze_for_dispute`) or once ``dispute_freeze_accounts`` distinct
    accounts have open reports about the same user. Reports per account are limited."""
    now = ctx.clock.now()
    try:
        async with ctx.db.transaction() as session:
            # The account's row locked: parallel reports cannot slip past the limit.
            account = (
                await session.execute(
                    select(CitizenAccount.id)
                    .where(CitizenAccount.id == actor.account_id)
                    .with_for_update()
                )
            ).first()
            if account is None:
                raise EntryNotFound()
            wait = await _dispute_wait(ctx, session, actor.account_id, now)
            if wait is not None:
                raise TooManyDisputes(retry_after=wait)
            event = await own_entry(session, actor.account_id, entry_id)
            staff_id = misuse._staff_id(event.actor)
            if staff_id is None:
                raise EntryNotFound()
            user = (
                await session.execute(
                    select(StaffUser).where(StaffUser.id == staff_id).with_for_update()
                )
            ).scalar_one_or_none()
            if user is None:
                raise EntryNotFound()
            exists = (
                await session.execute(
                    select(AccessDispute.id).where(AccessDispute.audit_seq == entry_id)
                )
            ).first()
            if exists is not None:
                raise AlreadyDisputed()
            before = await misuse.reporting_accounts(session, user.id)
            dispute = AccessDispute(
                account_id=actor.account_id,
                audit_seq=entry_id,
                staff_user_id=user.id,
                staff_role=user.role,
                jurisdiction_kind=user.jurisdiction_kind,
                jurisdiction_id=user.jurisdiction_id,
                reason_ct=b"",
                status=misuse.DISPUTE_OPEN,
                created_at=now,
            )
            session.add(dispute)
            await session.flush()
            dispute.reason_ct = ctx.keyring.field_cipher.encrypt(
                reason.strip(), context=dispute_reason_context(dispute.id)
            )
            await misuse.raise_alert(
                session, user, "dispute.opened", "warning", {"dispute": dispute.id}, now=now
            )
            await AuditChain.append(
                session,
                actor=actor.actor,
                action=AuditAction.ACCESS_DISPUTED,
                subject_ref=f"staff:{user.id}",
                purpose="data-subject-report",
                context=actor.context,
                detail={"dispute": dispute.id, "entry": entry_id},
                at=now,
            )
            accounts = await misuse.reporting_accounts(session, user.id)
            threshold = ctx.settings.dispute_freeze_accounts
            if before < threshold <= accounts:
                # Independent people report the same user: look-ups freeze from now on.
                await misuse.raise_alert(
                    session,
                    user,
                    "dispute.frozen-by-reports",
                    "critical",
                    {"accounts": accounts},
                    now=now,
                )
                await AuditChain.append(
                    session,
                    actor=misuse.SYSTEM_ACTOR,
                    action=AuditAction.STAFF_LOOKUPS_FROZEN,
                    subject_ref=f"staff:{user.id}",
                    purpose="misuse-defence",
                    context=actor.context,
                    detail={"accounts": accounts},
                    at=now,
                )
            return dispute.id
    except IntegrityError as exc:
        raise AlreadyDisputed() from exc


async def _locked_dispute(
    session: AsyncSession, dispute_id: int, actor: StaffPrincipal
) -> tuple[AccessDispute, StaffUser]:
    """The dispute (row-locked) and the reported user, within the caller's scope."""
    row = (
        await session.execute(
            select(AccessDispute, StaffUser)
            .join(StaffUser, StaffUser.id == AccessDispute.staff_user_id)
            .where(AccessDispute.id == dispute_id, _dispute_scope(actor))
            .with_for_update(of=AccessDispute)
        )
    ).first()
    if row is None:
        raise DisputeNotFound()
    return row[0], row[1]


async def freeze_for_dispute(
    ctx: AppContext, dispute_id: int, *, actor: StaffPrincipal
) -> DisputeView:
    """An admin's decision: freeze the reported user's look-ups while the case is reviewed
    (lifted when the dispute is dismissed; an upheld one suspends the account)."""
    now = ctx.clock.now()
    async with ctx.db.transaction() as session:
        dispute, user = await _locked_dispute(session, dispute_id, actor)
        if dispute.status != misuse.DISPUTE_OPEN:
            raise DisputeNotOpen()
        dispute.status = misuse.DISPUTE_FROZEN
        await session.flush()
        await AuditChain.append(
            session,
            actor=actor.actor,
            action=AuditAction.STAFF_LOOKUPS_FROZEN,
            subject_ref=f"staff:{user.id}",
            purpose="misuse-review",
            context=actor.context,
            detail={"dispute": dispute.id},
            at=now,
        )
        return _dispute_view(ctx, dispute, user.username)


@dataclass(frozen=True)
class DisputeView:
    id: int
    entry_id: int
    staff_username: str
    staff_role: str
    jurisdiction: str
    reason: str
    status: str
    created_at: dt.datetime
    resolved_by: str | None
    resolved_at: dt.datetime | None


def _dispute_scope(actor: StaffPrincipal) -> Any:
    return misuse.place_filter(
        AccessDispute.jurisdiction_kind,
        AccessDispute.jurisdiction_id,
        AccessDispute.staff_role,
        actor,
    )


def _dispute_view(ctx: AppContext, d: AccessDispute, username: str) -> DisputeView:
    return DisputeView(
        id=d.id,
        entry_id=d.audit_seq,
        staff_username=username,
        staff_role=d.staff_role,
        jurisdiction=str(Jurisdiction(d.jurisdiction_kind, d.jurisdiction_id)),
        reason=ctx.keyring.field_cipher.decrypt(d.reason_ct, context=dispute_reason_context(d.id)),
        status=d.status,
        created_at=d.created_at,
        resolved_by=d.resolved_by,
        resolved_at=d.resolved_at,
    )


async def list_disputes(
    ctx: AppContext,
    *,
    actor: StaffPrincipal,
    limit: int = PAGE_MAX,
    before: int | None = None,
    status: str | None = None,
) -> tuple[list[DisputeView], int | None]:
    limit = _clamp(limit)
    stmt = (
        select(AccessDispute, StaffUser.username)
        .join(StaffUser, StaffUser.id == AccessDispute.staff_user_id)
        .where(_dispute_scope(actor))
        .order_by(AccessDispute.id.desc())
    )
    if before is not None:
        stmt = stmt.where(AccessDispute.id < before)
    if status is not None:
        stmt = stmt.where(AccessDispute.status == status)
    async with ctx.db.reader() as session:
        rows = (await session.execute(stmt.limit(limit + 1))).all()
    page = rows[:limit]
    next_cursor = page[-1][0].id if len(rows) > limit else None
    return [_dispute_view(ctx, d, u) for d, u in page], next_cursor


async def resolve_dispute(
    ctx: AppContext, dispute_id: int, *, outcome: str, actor: StaffPrincipal
) -> DisputeView:
    """``dismissed`` lifts the freeze; ``upheld`` (misuse confirmed) suspends the account."""
    if outcome not in ("upheld", "dismissed"):
        raise Unprocessable("outcome is upheld or dismissed")
    now = ctx.clock.now()
    async with ctx.db.transaction() as session:
        dispute, user = await _locked_dispute(session, dispute_id, actor)
        if dispute.status not in misuse.DISPUTE_UNRESOLVED:
            raise DisputeClosed()
        dispute.status = outcome
        dispute.resolved_by = actor.actor
        dispute.resolved_at = now
        await session.flush()
        if outcome == "upheld" and user.active:
            await misuse._suspend_in(session, user, "dispute", now)
        await AuditChain.append(
            session,
            actor=actor.actor,
            action=AuditAction.DISPUTE_RESOLVED,
            subject_ref=f"staff:{user.id}",
            purpose="misuse-review",
            context=actor.context,
            detail={"dispute": dispute.id, "outcome": outcome},
            at=now,
        )
        return _dispute_view(ctx, dispute, user.username)


# --- what immunet holds ---------------------------------------------------------------------------

HELD_FIELDS: list[dict[str, str]] = [
    {"field": "mobile_number", "category": "contact", "stored": "encrypted; shown masked"},
    {"field": "name", "category": "identity", "stored": "encrypted"},
    {"field": "birth_year", "category": "identity", "stored": "encrypted"},
    {"field": "date_of_birth", "category": "identity", "stored": "encrypted (children only)"},
    {"field": "gender", "category": "demographic", "stored": "coded"},
    {"field": "photo_id_type", "category": "identity document", "stored": "coded"},
    {
        "field": "photo_id_number",
        "category": "identity document",
        "stored": "encrypted (Aadhaar in a separate vault); shown masked",
    },
    {"field": "comorbidity_ind", "category": "health", "stored": "coded"},
    {"field": "appointments", "category": "service", "stored": "centre, date, slot, dose"},
    {"field": "secret_code", "category": "service", "stored": "keyed digest and encrypted"},
    {"field": "doses", "category": "health", "stored": "vaccine, dose, batch, date, centre"},
    {"field": "certificates", "category": "health", "stored": "signed records of doses"},
    {"field": "access_log", "category": "accountability", "stored": "who, when, why"},
]

PURPOSES: list[dict[str, str]] = [
    {"purpose": "registration", "basis": "consent of the account holder"},
    {"purpose": "appointment booking and check-in", "basis": "consent of the account holder"},
    {"purpose": "vaccination record and certificate", "basis": "legitimate use (public health)"},
    {"purpose": "adverse event follow-up", "basis": "legitimate use (public health)"},
    {"purpose": "aggregate statistics (never individual)", "basis": "legitimate use"},
    {"purpose": "security and audit", "basis": "legal obligation"},
]


@dataclass(frozen=True)
class DataSummary:
    beneficiaries: list[str]
    organisations: list[str]


async def data_summary(ctx: AppContext, *, actor: CitizenPrincipal) -> DataSummary:
    """Which beneficiaries, and every organisation that received any of their data."""
    async with ctx.db.reader() as session:
        account = await session.get(CitizenAccount, actor.account_id)
        if account is None:
            raise NotFound()
        refs = await _own_refs(session, actor.account_id)
        organisations: set[str] = set()
        if refs:
            events = (
                await session.execute(
                    select(AuditEvent.actor, AuditEvent.detail)
                    .where(
                        AuditEvent.subject_ref.in_(list(refs)),
                        AuditEvent.actor.like("staff:%") | AuditEvent.actor.like("partner:%"),
                    )
                    .distinct()
                )
            ).all()
            who = _Who(session)
            for actor_ref, detail_text in events:
                probe = AuditEvent(actor=actor_ref, detail=detail_text)
                organisation, _role = await who.of(probe, _detail(probe))
                organisations.add(organisation)
    return DataSummary(sorted(refs.values()), sorted(organisations))


# --- the verifiable log -----------------------------------------------------------------------


async def latest_checkpoint(
    ctx: AppContext, *, covering: int | None = None
) -> CheckpointView | None:
    """The latest signed checkpoint, signing a fresh one lazily when it is stale."""
    return await transparency.ensure_checkpoint(
        ctx.db,
        ctx.keyring,
        every_entries=ctx.settings.audit_checkpoint_every_entries,
        every_seconds=ctx.settings.audit_checkpoint_every_seconds,
        covering=covering,
    )


async def prove_own_entry(
    ctx: AppContext, entry_id: int, *, actor: CitizenPrincipal
) -> transparency.InclusionProof:
    """An inclusion proof of one of the account's own access-log entries."""
    async with ctx.db.reader() as session:
        await own_entry(session, actor.account_id, entry_id)
    checkpoint = await latest_checkpoint(ctx, covering=entry_id)
    try:
        if checkpoint is None:
            raise transparency.NotCovered()
        async with ctx.db.reader() as session:
            return await transparency.prove_inclusion(session, entry_id, checkpoint)
    except transparency.NotCovered:
        # Not yet sequenced, or after the latest checkpoint: the sequencer signs about
        # once a second (or, with none running, an inline signing is at most this far off).
        if checkpoint is None:
            raise ProofNotReady(retry_after=1) from None
        wait = transparency.FORCED_MIN_INTERVAL - (utcnow() - checkpoint.created_at)
        raise ProofNotReady(retry_after=max(1, int(wait.total_seconds()) + 1)) from None


class ProofNotReady(TooManyRequests):
    error_code = "AUD0429"
    message = "The next signed checkpoint covering this entry is a few seconds away."


class UnknownCheckpoint(NotFound):
    error_code = "AUD0404"
    message = "Both sizes must be those of published checkpoints, the first not after the second."


async def consistency(
    ctx: AppContext, first: int, second: int
) -> tuple[CheckpointView, CheckpointView, list[str]]:
    from immunet.security.models import AuditCheckpoint

    if first > second:
        raise UnknownCheckpoint()
    async with ctx.db.reader() as session:
        a = await session.get(AuditCheckpoint, first)
        b = await session.get(AuditCheckpoint, second)
        if a is None or b is None:
            raise UnknownCheckpoint()
        proof = await transparency.prove_consistency(session, first, second)
    return CheckpointView.of(a), CheckpointView.of(b), proof
