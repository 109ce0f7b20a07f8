"""Insider-misuse defences, checked on every staff read of a person's data.

The access chokepoint (``vaccination/access.py``) calls :func:`before_people_read` inside
its transaction, before it reveals anything (once per request: every rule is about the
staff user, none about the person), and :func:`check_break_glass` for the
break-glass channel. Here a read is refused when the account is suspended, when a
citizen's dispute has frozen the user's look-ups, when the person is a canary (which also
suspends the account), or when the user is over a quota (person reads per hour and per
day; roster reads are exempt). Look-ups by mobile and appointment-code checks have their
own quotas (:func:`before_otp_lookup`, :func:`before_code_check`, :func:`note_wrong_code`).

Every rule here reads ``ctx.clock`` (never the system clock), and every row these rules
count (alerts, activity, break-glass grants, disputes, audited reads) is stamped with it,
so the windows, the off-hours rule and their tests do not depend on the hour or the TZ.

A refusal must not lose its record when the caller's transaction rolls back, and on
SQLite no second transaction may be opened while the caller's is open. So a refusal
carries a ``followup``: the error handler (``http.py``) awaits it after the rollback, and
it records the alert, counts the breach and, after repeated breaches, suspends the
account and revokes its sessions. Code outside HTTP awaits ``exc.followup()`` itself.

Counts come from the audit log itself (``actor, occurred_at`` index) and from
``staff_activity``; nothing is kept in process memory.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, not_, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.clock import INDIA
from immunet.context import AppContext
from immunet.errors import ApiError, Forbidden, TooManyRequests
from immunet.geography.centers import Center
from immunet.geography.models import District, State
from immunet.oversight import rules
from immunet.oversight.models import AccessDispute, BreakGlassGrant, StaffActivity, StaffAlert
from immunet.people.models import Beneficiary
from immunet.security.audit import AuditAction, AuditChain, RequestContext
from immunet.security.models import AuditEvent, AuthSession
from immunet.security.tokens import TokenAudience
from immunet.staff.models import StaffUser
from immunet.staff.permissions import ROLE_RANK, Role
from immunet.staff.principal import Jurisdiction, StaffPrincipal

log = logging.getLogger("immunet.misuse")

SYSTEM_ACTOR = "system:misuse"
# Reads through these channels (the own centre's roster, a person presenting their
# appointment's code) do not count against the read quotas; look-ups do.
EXEMPT_CHANNELS = frozenset({"roster", "secret-code"})
BREAK_GLASS_CHANNEL = "break-glass"
KIND_OTP_LOOKUP = "otp-lookup"
KIND_WRONG_CODE = "wrong-code"
KIND_BREAK_GLASS_MISS = "bg-miss"
# Dispute states: open (a case for an admin), frozen (an admin froze the user's look-ups
# while it is reviewed), then upheld or dismissed.
DISPUTE_OPEN = "open"
DISPUTE_FROZEN = "frozen"
DISPUTE_UNRESOLVED = (DISPUTE_OPEN, DISPUTE_FROZEN)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
# An anomaly of one kind is raised at most once per user in this period.
ANOMALY_DEDUPE = dt.timedelta(hours=12)

Followup = Callable[[], Awaitable[None]]


class QuotaExceeded(TooManyRequests):
    error_code = "STAFF0429"
    message = "Your look-up quota is used up. Further look-ups are blocked for now."


class AccessRefused(Forbidden):
    error_code = "STAFF0430"
    message = "This access is not allowed."


class AccountSuspended(Forbidden):
    error_code = "STAFF0431"
    message = "This account is suspended. An administrator must reinstate it."


class LookupFrozen(Forbidden):
    error_code = "STAFF0432"
    message = "Look-ups are frozen for this account while a reported access is reviewed."


def with_followup(exc: ApiError, followup: Followup) -> ApiError:
    exc.followup = followup  # type: ignore[attr-defined]
    return exc


# --- organisations (who, for the access log: never a person's name) --------------------


async def organisation_of(session: AsyncSession, jurisdiction: Jurisdiction) -> str:
    """The organisation a staff jurisdiction stands for: a centre, a district, a state."""
    if jurisdiction.kind == "center" and jurisdiction.ref_id is not None:
        center = await session.get(Center, jurisdiction.ref_id)
        if center is not None:
            return f"{center.name} (centre {center.center_id})"
    if jurisdiction.kind == "district" and jurisdiction.ref_id is not None:
        district = await session.get(District, jurisdiction.ref_id)
        if district is not None:
            return f"District health administration, {district.district_name}"
    if jurisdiction.kind == "state" and jurisdiction.ref_id is not None:
        state = await session.get(State, jurisdiction.ref_id)
        if state is not None:
            return f"State health administration, {state.state_name}"
    return "National immunization administration"


def jurisdiction_of(user: StaffUser) -> Jurisdiction:
    return Jurisdiction(user.jurisdiction_kind, user.jurisdiction_id)


# --- alerts, breaches and suspension -------------------------------------------------------


async def _recent_alert(session: AsyncSession, user_id: int, kind: str, since: dt.datetime) -> bool:
    row = (
        await session.execute(
            select(StaffAlert.id)
            .where(
                StaffAlert.staff_user_id == user_id,
                StaffAlert.kind == kind,
                StaffAlert.created_at > since,
            )
            .limit(1)
        )
    ).first()
    return row is not None


def _alert_row(
    user: StaffUser, kind: str, severity: str, detail: dict[str, object] | None, now: dt.datetime
) -> StaffAlert:
    return StaffAlert(
        staff_user_id=user.id,
        staff_role=user.role,
        jurisdiction_kind=user.jurisdiction_kind,
        jurisdiction_id=user.jurisdiction_id,
        kind=kind,
        severity=severity,
        created_at=now,
        detail=json.dumps(detail, sort_keys=True, separators=(",", ":")) if detail else None,
    )


async def raise_alert(
    session: AsyncSession,
    user: StaffUser,
    kind: str,
    severity: str,
    detail: dict[str, object] | None = None,
    *,
    dedupe: dt.timedelta | None = None,
    now: dt.datetime,
) -> StaffAlert | None:
    """Add an alert inside the caller's transaction (``None`` when deduplicated)."""
    if dedupe is not None and await _recent_alert(session, user.id, kind, now - dedupe):
        return None
    alert = _alert_row(user, kind, severity, detail, now)
    session.add(alert)
    await session.flush()
    return alert


async def _suspend_in(
    session: AsyncSession, user: StaffUser, reason: str, now: dt.datetime
) -> None:
    _forget_state(session, user.id)
    await session.execute(
        update(StaffUser)
        .where(StaffUser.id == user.id)
        .values(active=False, suspended_at=now, suspension_reason=reason)
    )
    # End every session at once, in the same transaction.
    await session.execute(
        update(AuthSession)
        .where(
            AuthSession.audience == str(TokenAudience.STAFF),
            AuthSession.subject == str(user.id),
            AuthSession.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    session.add(_alert_row(user, f"suspended.{reason}", "critical", {"reason": reason}, now))
    await session.flush()


async def _breach_in(
    ctx: AppContext,
    session: AsyncSession,
    user: StaffUser,
    kind: str,
    detail: dict[str, object],
    context: RequestContext,
) -> bool:
    """Alert on one quota breach inside the caller's transaction (the user's row locked);
    suspend after repeated breaches. Returns True when this breach suspended the account."""
    now = ctx.clock.now()
    await raise_alert(session, user, kind, "warning", detail, now=now)
    since = now - DAY
    if user.reinstated_at is not None and user.reinstated_at > since:
        since = user.reinstated_at
    breaches = (
        await session.execute(
            select(func.count())
            .select_from(StaffAlert)
            .where(
                StaffAlert.staff_user_id == user.id,
                StaffAlert.kind.like("quota.%"),
                StaffAlert.created_at > since,
            )
        )
    ).scalar_one()
    suspended = False
    if user.active and breaches >= ctx.settings.staff_breaches_before_suspension:
        await _suspend_in(session, user, "quota", now)
        suspended = True
    await AuditChain.append(
        session,
        actor=SYSTEM_ACTOR,
        action=AuditAction.STAFF_SUSPENDED if suspended else AuditAction.STAFF_ALERT_RAISED,
        subject_ref=f"staff:{user.id}",
        purpose="misuse-defence",
        context=context,
        detail={"kind": kind, "breaches": int(breaches)},
        at=now,
    )
    log.warning("staff quota breach user=%s kind=%s suspended=%s", user.id, kind, suspended)
    return suspended


async def record_breach(
    ctx: AppContext, user_id: int, kind: str, detail: dict[str, object], context: RequestContext
) -> bool:
    """Record a quota breach in its own transaction; suspend after repeated breaches.

    Returns True when the account was suspended by this breach.
    """
    async with ctx.db.transaction() as session:
        user = (
            await session.execute(
                select(StaffUser).where(StaffUser.id == user_id).with_for_update()
            )
        ).scalar_one_or_none()
        if user is None:
            return False
        return await _breach_in(ctx, session, user, kind, detail, context)


async def trip_canary(
    ctx: AppContext, user_id: int, reference_id: str, context: RequestContext
) -> None:
    """A staff user touched a decoy: suspend at once and raise a critical alert."""
    now = ctx.clock.now()
    async with ctx.db.transaction() as session:
        user = (
            await session.execute(
                select(StaffUser).where(StaffUser.id == user_id).with_for_update()
            )
        ).scalar_one_or_none()
        if user is None:
            return
        await raise_alert(session, user, "canary.touched", "critical", {"canary": True}, now=now)
        if user.active:
            await _suspend_in(session, user, "canary", now)
        await AuditChain.append(
            session,
            actor=f"staff:{user.id}",
            action=AuditAction.CANARY_TOUCHED,
            subject_ref=f"beneficiary:{reference_id}",
            purpose="misuse-defence",
            context=context,
            detail={"suspended": True},
            at=now,
        )
    log.warning("canary touched by staff user=%s; account suspended", user_id)


# --- the checks the chokepoint calls ---------------------------------------------------------


@dataclass(frozen=True)
class _StaffState:
    """What every misuse check needs about the acting user, read in ONE statement."""

    user_id: int
    active: bool
    jurisdiction_kind: str
    jurisdiction_id: int | None
    # An admin froze this user's look-ups over a reported access.
    frozen_by_decision: bool
    # Distinct citizen accounts with an unresolved report about this user.
    reporting_accounts: int
    # The own centre's hours (centre staff only), for the off-hours rule.
    opens_at: dt.time | None
    closes_at: dt.time | None


# session.info key: the state is read once per transaction (each transaction is its own
# session), however many checks the request makes; a suspension in the same transaction
# drops it.
_STATE_KEY = "immunet.misuse.staff_state"


async def _staff_state(session: AsyncSession, user_id: int) -> _StaffState | None:
    cache: dict[int, _StaffState | None] = session.info.setdefault(_STATE_KEY, {})
    if user_id in cache:
        return cache[user_id]
    decided = (
        select(AccessDispute.id)
        .where(AccessDispute.staff_user_id == user_id, AccessDispute.status == DISPUTE_FROZEN)
        .exists()
    )
    reporting = (
        select(func.count(func.distinct(AccessDispute.account_id)))
        .where(
            AccessDispute.staff_user_id == user_id,
            AccessDispute.status.in_(DISPUTE_UNRESOLVED),
        )
        .scalar_subquery()
    )
    row = (
        await session.execute(
            select(
                StaffUser.active,
                StaffUser.jurisdiction_kind,
                StaffUser.jurisdiction_id,
                decided,
                reporting,
                Center.opens_at,
                Center.closes_at,
            )
            .select_from(StaffUser)
            .outerjoin(
                Center,
                and_(
                    StaffUser.jurisdiction_kind == "center",
                    Center.center_id == StaffUser.jurisdiction_id,
                ),
            )
            .where(StaffUser.id == user_id)
        )
    ).first()
    state = (
        None
        if row is None
        else _StaffState(
            user_id=user_id,
            active=bool(row[0]),
            jurisdiction_kind=str(row[1]),
            jurisdiction_id=row[2],
            frozen_by_decision=bool(row[3]),
            reporting_accounts=int(row[4] or 0),
            opens_at=row[5],
            closes_at=row[6],
        )
    )
    cache[user_id] = state
    return state


def _forget_state(session: AsyncSession, user_id: int) -> None:
    session.info.get(_STATE_KEY, {}).pop(user_id, None)


async def _active_state(session: AsyncSession, principal: StaffPrincipal) -> _StaffState:
    state = await _staff_state(session, principal.user_id)
    if state is None or not state.active:
        raise AccountSuspended()
    return state


def _is_frozen(ctx: AppContext, state: _StaffState) -> bool:
    """:func:`_frozen` over the already-read state."""
    return (
        state.frozen_by_decision or state.reporting_accounts >= ctx.settings.dispute_freeze_accounts
    )


async def _user_row(session: AsyncSession, user_id: int) -> StaffUser:
    """The full row, only where an alert has to be written about the user (rare)."""
    user = await session.get(StaffUser, user_id)
    if user is None:  # pragma: no cover - the state above was read in this transaction
        raise AccountSuspended()
    return user


async def _frozen(ctx: AppContext, session: AsyncSession, user_id: int) -> bool:
    """Look-ups freeze on an admin's decision about a reported access, or when people
    from several independent accounts have reported this user; never on one account's say
    (one citizen must not be able to stop a centre's work)."""
    decided = (
        await session.execute(
            select(AccessDispute.id)
            .where(
                AccessDispute.staff_user_id == user_id,
                AccessDispute.status == DISPUTE_FROZEN,
            )
            .limit(1)
        )
    ).first()
    if decided is not None:
        return True
    return await reporting_accounts(session, user_id) >= ctx.settings.dispute_freeze_accounts


async def reporting_accounts(session: AsyncSession, user_id: int) -> int:
    """How many distinct citizen accounts have an unresolved report about this user."""
    count = (
        await session.execute(
            select(func.count(func.distinct(AccessDispute.account_id))).where(
                AccessDispute.staff_user_id == user_id,
                AccessDispute.status.in_(DISPUTE_UNRESOLVED),
            )
        )
    ).scalar_one()
    return int(count)


def _wait_in_windows(
    times: Sequence[dt.datetime],
    quotas: Sequence[tuple[str, int, dt.timedelta]],
    now: dt.datetime,
) -> tuple[str, int, int] | None:
    """The first quota a use now would exceed, with its limit and the seconds until one
    more use fits (``None`` when all fit). ``times``: the newest uses, newest first, at
    least ``max(limit)`` of them when there are that many in the longest window."""
    for name, limit, window in quotas:
        inside = [t for t in times if t > now - window]
        if len(inside) >= limit:
            # Uses count while newer than now - window: one more fits once the
            # limit-th newest is exactly a window old (rounded up to whole seconds).
            oldest_blocking = inside[limit - 1]
            return name, limit, max(1, math.ceil((oldest_blocking + window - now).total_seconds()))
    return None


async def _newest_uses(
    session: AsyncSession,
    stmt: Any,
    quotas: Sequence[tuple[str, int, dt.timedelta]],
) -> list[dt.datetime]:
    """The newest ``max(limit)`` uses of the longest window, in ONE statement: the cost is
    bounded by the largest quota, not by the day's activity (a windowed count that also
    says when the window frees a place, so ``Retry-After`` stays exact)."""
    most = max(limit for _, limit, _ in quotas)
    return [row[0] for row in (await session.execute(stmt.limit(most))).all()]


def _counted_reads(actor: str, since: dt.datetime) -> Any:
    exempt = [AuditEvent.detail.like(f'{{"channel":"{c}"%') for c in sorted(EXEMPT_CHANNELS)]
    return (
        select(AuditEvent.occurred_at)
        .where(
            AuditEvent.actor == actor,
            AuditEvent.occurred_at > since,
            AuditEvent.action == str(AuditAction.BENEFICIARY_VIEWED),
            or_(AuditEvent.detail.is_(None), not_(or_(*exempt))),
        )
        .order_by(AuditEvent.occurred_at.desc())
    )


async def _window_check(
    session: AsyncSession,
    stmt: Any,
    limit: int,
    window: dt.timedelta,
    now: dt.datetime,
) -> int | None:
    """Seconds until one more use fits in the sliding window, or None when it fits now."""
    row = (await session.execute(stmt.offset(limit - 1).limit(1))).first()
    if row is None:
        return None
    oldest_blocking: dt.datetime = row[0]
    # Rows count while newer than now - window: one more fits once the oldest blocking row
    # is exactly a window old (rounded up to whole seconds).
    return max(1, math.ceil((oldest_blocking + window - now).total_seconds()))


async def _check_read_quota(
    ctx: AppContext, session: AsyncSession, principal: StaffPrincipal, now: dt.datetime
) -> None:
    quotas = (
        ("quota.reads-per-hour", ctx.settings.staff_reads_per_hour, HOUR),
        ("quota.reads-per-day", ctx.settings.staff_reads_per_day, DAY),
    )
    longest = max(window for _, _, window in quotas)
    times = await _newest_uses(session, _counted_reads(principal.actor, now - longest), quotas)
    over = _wait_in_windows(times, quotas, now)
    if over is not None:
        name, limit, wait = over
        raise _breach(ctx, principal, name, {"limit": limit}, wait)


def _breach(
    ctx: AppContext,
    principal: StaffPrincipal,
    kind: str,
    detail: dict[str, object],
    retry_after: int,
) -> ApiError:
    async def followup() -> None:
        await record_breach(ctx, principal.user_id, kind, detail, principal.context)

    return with_followup(QuotaExceeded(retry_after=retry_after), followup)


async def before_people_read(
    ctx: AppContext,
    session: AsyncSession,
    principal: StaffPrincipal,
    *,
    channel: str | None = None,
) -> None:
    """Refuse a staff read of the people of one request, or let it go on (inside the
    caller's transaction, before anything is revealed). ``channel`` exempts roster reads
    from the read quotas when given. Canaries are refused earlier, by
    :func:`refuse_canaries` (the chokepoint calls it first). Every rule here is about the
    staff user (suspended, frozen, over quota, off-hours), none about the person, so one
    check stands for the whole batch, as the per-person checks it replaces did: all of
    them saw the same counts, the batch's reads being audited after them."""
    now = ctx.clock.now()
    state = await _active_state(session, principal)
    if _is_frozen(ctx, state):
        raise LookupFrozen()
    if channel is None or str(channel) not in EXEMPT_CHANNELS:
        await _check_read_quota(ctx, session, principal, now)
    await cheap_checks(session, state, now)


def canary_refusal(ctx: AppContext, principal: StaffPrincipal, reference_id: str) -> ApiError:
    """The 403 for touching a decoy; its followup suspends the account (after rollback)."""

    async def canary() -> None:
        await trip_canary(ctx, principal.user_id, reference_id, principal.context)

    return with_followup(AccessRefused(), canary)


def refuse_canaries(
    ctx: AppContext, principal: StaffPrincipal, people: Sequence[Beneficiary]
) -> None:
    """Refuse (and trip) when a staff request names a decoy.

    Decoys sit on no roster (``seed_canaries`` books nothing, and roster listings leave
    them out), no one can log in to their account and their mobile is no one's, so no
    honest piece of work ever names one: only a look-up by a reference ID the caller had
    no business knowing (a dose, an AEFI report, a certificate download, a break-glass).
    """
    for person in people:
        if person.is_canary:
            raise canary_refusal(ctx, principal, person.reference_id)


async def live_break_glass(
    ctx: AppContext, session: AsyncSession, principal: StaffPrincipal, beneficiary_id: int
) -> int | None:
    """The id of this user's live break-glass grant for this person, if any."""
    row = (
        await session.execute(
            select(BreakGlassGrant.id)
            .where(
                BreakGlassGrant.staff_user_id == principal.user_id,
                BreakGlassGrant.beneficiary_id == beneficiary_id,
                BreakGlassGrant.expires_at > ctx.clock.now(),
            )
            .order_by(BreakGlassGrant.id.desc())
            .limit(1)
        )
    ).first()
    return int(row[0]) if row is not None else None


def _activity_since(user_id: int, kind: str, since: dt.datetime) -> Any:
    return (
        select(StaffActivity.at)
        .where(
            StaffActivity.staff_user_id == user_id,
            StaffActivity.kind == kind,
            StaffActivity.at > since,
        )
        .order_by(StaffActivity.at.desc())
    )


async def before_otp_lookup(
    ctx: AppContext, session: AsyncSession, principal: StaffPrincipal, *, target: str
) -> None:
    """Count one look-up by mobile (``target``: the mobile's blind index) against the
    user's daily quota; refuse when over it; flag many distinct mobiles in 10 minutes."""
    now = ctx.clock.now()
    state = await _active_state(session, principal)
    if _is_frozen(ctx, state):
        raise LookupFrozen()
    limit = ctx.settings.staff_otp_lookups_per_day
    stmt = _activity_since(state.user_id, KIND_OTP_LOOKUP, now - DAY)
    wait = await _window_check(session, stmt, limit, DAY, now)
    if wait is not None:
        raise _breach(ctx, principal, "quota.otp-lookups-per-day", {"limit": limit}, wait)
    session.add(
        StaffActivity(staff_user_id=state.user_id, kind=KIND_OTP_LOOKUP, target=target[:32], at=now)
    )
    await session.flush()
    distinct = (
        await session.execute(
            select(func.count(func.distinct(StaffActivity.target))).where(
                StaffActivity.staff_user_id == state.user_id,
                StaffActivity.kind == KIND_OTP_LOOKUP,
                StaffActivity.at > now - dt.timedelta(minutes=10),
            )
        )
    ).scalar_one()
    finding = rules.many_distinct_mobiles(int(distinct))
    if finding is not None:
        user = await _user_row(session, state.user_id)
        await raise_alert(
            session, user, finding.kind, finding.severity, finding.detail, dedupe=HOUR, now=now
        )


def _code_quotas(ctx: AppContext) -> tuple[tuple[str, int, dt.timedelta], ...]:
    return (
        ("quota.wrong-codes-per-hour", ctx.settings.staff_code_failures_per_hour, HOUR),
        ("quota.wrong-codes-per-day", ctx.settings.staff_wrong_codes_per_day, DAY),
    )


async def before_code_check(
    ctx: AppContext, session: AsyncSession, principal: StaffPrincipal
) -> None:
    """Refuse further appointment-code checks while the user is locked out: the hour's or
    the day's wrong codes are used up (each refusal is a breach: alert, then suspension)."""
    now = ctx.clock.now()
    state = await _active_state(session, principal)
    quotas = _code_quotas(ctx)
    longest = max(window for _, _, window in quotas)
    stmt = _activity_since(state.user_id, KIND_WRONG_CODE, now - longest)
    over = _wait_in_windows(await _newest_uses(session, stmt, quotas), quotas, now)
    if over is not None:
        name, limit, wait = over
        raise _breach(ctx, principal, name, {"limit": limit}, wait)


async def note_wrong_code(
    ctx: AppContext,
    session: AsyncSession,
    principal: StaffPrincipal,
    *,
    appointment_locked: bool = False,
) -> None:
    """Count one wrong appointment code (call inside the transaction that commits it).

    The wrong code that uses up a quota starts the lock-out, and the lock-out itself is a
    breach: the admins are alerted now, not only when (or if) the guesser tries again.
    An appointment locked by this wrong code is alerted too (info: counts, no IDs).
    """
    now = ctx.clock.now()
    session.add(
        StaffActivity(staff_user_id=principal.user_id, kind=KIND_WRONG_CODE, target=None, at=now)
    )
    await session.flush()
    if appointment_locked:
        user = await session.get(StaffUser, principal.user_id)
        if user is not None:
            await raise_alert(session, user, "codes.appointment-locked", "info", None, now=now)
    for name, limit, window in _code_quotas(ctx):
        used = (
            await session.execute(
                select(func.count())
                .select_from(StaffActivity)
                .where(
                    StaffActivity.staff_user_id == principal.user_id,
                    StaffActivity.kind == KIND_WRONG_CODE,
                    StaffActivity.at > now - window,
                )
            )
        ).scalar_one()
        if used == limit:
            user = (
                await session.execute(
                    select(StaffUser).where(StaffUser.id == principal.user_id).with_for_update()
                )
            ).scalar_one()
            await _breach_in(
                ctx, session, user, name, {"limit": limit, "locked_out": True}, principal.context
            )
            return


# --- anomaly rules ------------------------------------------------------------------------


async def cheap_checks(session: AsyncSession, state: _StaffState, now: dt.datetime) -> None:
    """Rules cheap enough to run on every read: activity outside the centre's hours."""
    if (
        state.jurisdiction_kind != "center"
        or state.jurisdiction_id is None
        or state.opens_at is None
        or state.closes_at is None
    ):
        return
    local = now.astimezone(INDIA).time()
    finding = rules.outside_session_hours(local, state.opens_at, state.closes_at)
    if finding is not None:
        user = await _user_row(session, state.user_id)
        await raise_alert(
            session,
            user,
            finding.kind,
            finding.severity,
            finding.detail,
            dedupe=ANOMALY_DEDUPE,
            now=now,
        )


def _staff_id(actor: str) -> int | None:
    prefix, _, rest = actor.partition(":")
    return int(rest) if prefix == "staff" and rest.isdigit() else None


async def evaluate_anomalies(ctx: AppContext, now: dt.datetime | None = None) -> list[StaffAlert]:
    """The heavier rules, over the last day: volume against the user's own 7-day mean and
    against peers of the same role, and reads of people never checked in anywhere."""
    from immunet.booking.models import Appointment
    from immunet.vaccination.models import DoseRecord

    now = now or ctx.clock.now()
    day_start = now - DAY
    week_start = now - 8 * DAY
    viewed = str(AuditAction.BENEFICIARY_VIEWED)
    raised: list[StaffAlert] = []
    async with ctx.db.transaction() as session:
        today_rows = (
            await session.execute(
                select(AuditEvent.actor, func.count())
                .where(
                    AuditEvent.action == viewed,
                    AuditEvent.actor.like("staff:%"),
                    AuditEvent.occurred_at > day_start,
                    AuditEvent.occurred_at <= now,
                )
                .group_by(AuditEvent.actor)
            )
        ).all()
        today = {str(a): int(c) for a, c in today_rows}
        if not today:
            return []
        history_rows = (
            await session.execute(
                select(AuditEvent.actor, func.count())
                .where(
                    AuditEvent.action == viewed,
                    AuditEvent.actor.in_(list(today)),
                    AuditEvent.occurred_at > week_start,
                    AuditEvent.occurred_at <= day_start,
                )
                .group_by(AuditEvent.actor)
            )
        ).all()
        history = {str(a): int(c) for a, c in history_rows}
        users: dict[str, StaffUser] = {}
        for actor in today:
            user_id = _staff_id(actor)
            if user_id is None:
                continue
            user = await session.get(StaffUser, user_id)
            if user is not None:
                users[actor] = user
        by_role: dict[str, list[str]] = {}
        for actor, user in users.items():
            by_role.setdefault(user.role, []).append(actor)
        for actor, user in users.items():
            findings: list[rules.Finding] = []
            mean_days = [history.get(actor, 0) / 7.0] * 7
            own = rules.far_above_own_usual(today[actor], [int(x) for x in mean_days])
            if own is not None:
                findings.append(own)
            peers = [today[a] for a in by_role[user.role] if a != actor]
            peer = rules.far_above_peers(today[actor], peers)
            if peer is not None:
                findings.append(peer)
            refs = (
                (
                    await session.execute(
                        select(func.distinct(AuditEvent.subject_ref)).where(
                            AuditEvent.action == viewed,
                            AuditEvent.actor == actor,
                            AuditEvent.occurred_at > day_start,
                            AuditEvent.subject_ref.like("beneficiary:%"),
                        )
                    )
                )
                .scalars()
                .all()
            )
            reference_ids = [str(r).removeprefix("beneficiary:") for r in refs if r]
            if reference_ids:
                ids = select(Beneficiary.id).where(Beneficiary.reference_id.in_(reference_ids))
                seen = (
                    await session.execute(
                        select(func.count(func.distinct(Beneficiary.id))).where(
                            Beneficiary.reference_id.in_(reference_ids),
                            or_(
                                Beneficiary.id.in_(
                                    select(Appointment.beneficiary_id).where(
                                        Appointment.beneficiary_id.in_(ids),
                                        Appointment.status == "completed",
                                    )
                                ),
                                Beneficiary.id.in_(
                                    select(DoseRecord.beneficiary_id).where(
                                        DoseRecord.beneficiary_id.in_(ids)
                                    )
                                ),
                            ),
                        )
                    )
                ).scalar_one()
                total = len(reference_ids)
                never = rules.many_never_checked_in(total - int(seen), total)
                if never is not None:
                    findings.append(never)
            for finding in findings:
                alert = await raise_alert(
                    session,
                    user,
                    finding.kind,
                    finding.severity,
                    finding.detail,
                    dedupe=ANOMALY_DEDUPE,
                    now=now,
                )
                if alert is not None:
                    raised.append(alert)
        if raised:
            await AuditChain.append(
                session,
                actor=SYSTEM_ACTOR,
                action=AuditAction.STAFF_ALERT_RAISED,
                subject_ref=None,
                purpose="misuse-defence",
                detail={"alerts": len(raised)},
                at=now,
            )
    return raised


# --- jurisdiction filters over alert and dispute rows --------------------------------------


def place_filter(
    kind_col: Any, ref_col: Any, role_col: Any, scope: StaffPrincipal
) -> ColumnElement[bool]:
    """Rows about users inside the admin's jurisdiction and of a strictly lower rank."""
    lower = [r.value for r in Role if ROLE_RANK[r] < ROLE_RANK[scope.role]]
    rank = role_col.in_(lower) if lower else false()
    j = scope.jurisdiction
    place: ColumnElement[bool]
    if j.kind == "national":
        place = true()
    elif j.ref_id is None:
        place = false()
    elif j.kind == "state":
        place = or_(
            and_(kind_col == "state", ref_col == j.ref_id),
            and_(
                kind_col == "district",
                ref_col.in_(select(District.district_id).where(District.state_id == j.ref_id)),
            ),
            and_(
                kind_col == "center",
                ref_col.in_(select(Center.center_id).where(Center.state_id == j.ref_id)),
            ),
        )
    elif j.kind == "district":
        place = or_(
            and_(kind_col == "district", ref_col == j.ref_id),
            and_(
                kind_col == "center",
                ref_col.in_(select(Center.center_id).where(Center.district_id == j.ref_id)),
            ),
        )
    elif j.kind == "center":
        place = and_(kind_col == "center", ref_col == j.ref_id)
    else:
        place = false()
    return and_(place, rank)
