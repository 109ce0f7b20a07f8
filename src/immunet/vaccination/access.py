"""THE staff access chokepoint: every read of a person's data by staff passes here.

A staff member sees a person only through one of four channels, each a relationship
the person created themselves or a logged exception:

- ``roster`` / ``secret-code``: the person has an appointment in a session of the staff
  member's own centre dated yesterday, today or tomorrow (India time);
- ``otp-verified``: the person read out an OTP sent to their own mobile to this staff
  member within the last half hour (a live :class:`StaffOtpGrant`);
- ``break-glass``: a live break-glass grant (``immunet.staff.misuse``);
- ``catchment``: the person is in the catchment of the staff member's own centre (their
  ``home_center_id``, decision 0013), for the routine-immunization due list; counted by the
  read quotas like a look-up (not exempt like the roster).

Canary (decoy) people are on no roster; a request that names one is refused and trips
the canary (:func:`immunet.staff.misuse.refuse_canaries`) whatever the channel. The
roster window and the break-glass expiry read ``ctx.clock``.

Each passing read is counted by the misuse defences (quota, canaries) and written to the
audit log as ``BENEFICIARY_VIEWED`` with the purpose, channel, role and organisation,
never a name. A person who does not exist and one the caller may not see give the same
404.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, false, select
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.booking.models import Appointment
from immunet.booking.rules import today_in_india
from immunet.context import AppContext
from immunet.db.base import utcnow
from immunet.errors import Forbidden
from immunet.people.models import Beneficiary
from immunet.people.service import BeneficiaryNotFound
from immunet.security.audit import AuditAction, AuditChain, AuditEntry
from immunet.sessions.models import VaccinationSession
from immunet.staff import misuse
from immunet.staff.permissions import Permission
from immunet.staff.principal import StaffPrincipal
from immunet.vaccination.models import StaffOtpGrant

# Appointments in these states tie a person to the centre's roster.
ROSTER_STATUSES = ("booked", "completed")
READ_PERMISSION = Permission.ROSTER_READ


class AccessChannel(StrEnum):
    ROSTER = "roster"
    SECRET_CODE = "secret-code"  # noqa: S105 - a channel name, not a secret
    OTP_VERIFIED = "otp-verified"
    BREAK_GLASS = "break-glass"
    CATCHMENT = "catchment"


@dataclass(frozen=True)
class PersonAccess:
    """A passed access check, to be written to the audit log by :func:`record_person_access`."""

    beneficiary: Beneficiary
    channel: AccessChannel
    purpose: str
    # From ctx.clock: the read is stamped with the instant the quota rules counted it at.
    at: dt.datetime
    # The break-glass grant that allowed it (its reason is shown to the person).
    grant_id: int | None = None


def organisation_of(principal: StaffPrincipal) -> str:
    """``center:<id>``, ``district:<id>``, ``state:<id>`` or ``national``: never a person."""
    return str(principal.jurisdiction)


def roster_window(now: dt.datetime) -> tuple[dt.date, dt.date]:
    """Yesterday..tomorrow, India time: the days whose sessions a vaccinator may see."""
    today = today_in_india(now)
    return today - dt.timedelta(days=1), today + dt.timedelta(days=1)


def own_center_id(principal: StaffPrincipal) -> int | None:
    j = principal.jurisdiction
    return j.ref_id if j.kind == "center" else None


def _on_own_roster(principal: StaffPrincipal, now: dt.datetime) -> ColumnElement[bool]:
    """Per beneficiary row: booked into a session of the caller's own centre in the
    roster window (and not a decoy). A column of the people query itself, so the
    relationship is checked in the same statement that reads the people."""
    center_id = own_center_id(principal)
    if center_id is None:
        return false()
    first, last = roster_window(now)
    booked = (
        select(Appointment.appointment_id)
        .join(VaccinationSession, VaccinationSession.session_id == Appointment.session_id)
        .where(
            Appointment.beneficiary_id == Beneficiary.id,
            Appointment.status.in_(ROSTER_STATUSES),
            VaccinationSession.center_id == center_id,
            VaccinationSession.date >= first,
            VaccinationSession.date <= last,
        )
        .exists()
    )
    return and_(Beneficiary.is_canary.is_(False), booked)


async def _otp_granted_accounts(
    session: AsyncSession, principal: StaffPrincipal, account_ids: Sequence[str]
) -> set[str]:
    if not account_ids:
        return set()
    rows = await session.execute(
        select(StaffOtpGrant.account_id).where(
            StaffOtpGrant.staff_user_id == principal.user_id,
            StaffOtpGrant.account_id.in_(list(set(account_ids))),
            # OTP grants live on real time, like the OTPs they come from.
            StaffOtpGrant.expires_at > utcnow(),
        )
    )
    return set(rows.scalars())


async def authorize_people_for_staff(
    ctx: AppContext,
    session: AsyncSession,
    principal: StaffPrincipal,
    beneficiary_ids: Sequence[int],
    *,
    purpose: str,
    channel: AccessChannel,
) -> list[PersonAccess]:
    """Check role, jurisdiction and relationship for every person; count each read.

    All or nothing: if any one person is missing or not accessible, :class:`NotFound`.
    Does NOT write the audit events: the caller must pass the result to
    :func:`record_person_access` in the same transaction (before the final commit).
    Prefer :func:`access_person_for_staff` / :func:`access_people_for_staff`.
    """
    if not principal.can(READ_PERMISSION):
        raise Forbidden()
    channel = AccessChannel(channel)
    ids = list(dict.fromkeys(int(b) for b in beneficiary_ids))
    if not ids:
        return []
    now = ctx.clock.now()
    on_roster = channel in (AccessChannel.ROSTER, AccessChannel.SECRET_CODE)
    relation = _on_own_roster(principal, now) if on_roster else false()
    result = (
        await session.execute(
            select(Beneficiary, relation.label("on_roster")).where(Beneficiary.id.in_(ids))
        )
    ).all()
    by_id = {row[0].id: row[0] for row in result}
    if len(by_id) != len(ids):
        raise BeneficiaryNotFound()
    # Before any relationship check: naming a decoy is the misuse, whatever the answer.
    misuse.refuse_canaries(ctx, principal, list(by_id.values()))
    grants: dict[int, int] = {}
    allowed: set[int]
    if on_roster:
        allowed = {row[0].id for row in result if row[1]}
    elif channel is AccessChannel.OTP_VERIFIED:
        if own_center_id(principal) is None:
            allowed = set()
        else:
            granted = await _otp_granted_accounts(
                session, principal, [row.account_id for row in by_id.values()]
            )
            allowed = {row.id for row in by_id.values() if row.account_id in granted}
    elif channel is AccessChannel.CATCHMENT:
        center_id = own_center_id(principal)
        allowed = {
            row.id
            for row in by_id.values()
            if center_id is not None and row.home_center_id == center_id
        }
    else:
        for b in ids:
            grant_id = await misuse.live_break_glass(ctx, session, principal, b)
            if grant_id is not None:
                grants[b] = grant_id
        allowed = set(grants)
    if any(b not in allowed for b in ids):
        raise BeneficiaryNotFound()
    # The misuse rules are about the staff user, not the person: checked once for all.
    await misuse.before_people_read(ctx, session, principal, channel=str(channel))
    return [PersonAccess(by_id[b], channel, purpose, now, grants.get(b)) for b in ids]


async def authorize_person_for_staff(
    ctx: AppContext,
    session: AsyncSession,
    principal: StaffPrincipal,
    beneficiary_id: int,
    *,
    purpose: str,
    channel: AccessChannel,
) -> PersonAccess:
    """:func:`authorize_people_for_staff` for one person (audit left to the caller)."""
    (access,) = await authorize_people_for_staff(
        ctx, session, principal, [beneficiary_id], purpose=purpose, channel=channel
    )
    return access


def person_access_entry(principal: StaffPrincipal, access: PersonAccess) -> AuditEntry:
    """The ``BENEFICIARY_VIEWED`` audit leaf of one passed access (no personal data)."""
    detail: dict[str, object] = {
        "channel": str(access.channel),
        "role": str(principal.role),
        "organisation": organisation_of(principal),
    }
    if access.grant_id is not None:
        detail["grant"] = access.grant_id
    return AuditEntry(
        actor=principal.actor,
        action=AuditAction.BENEFICIARY_VIEWED,
        subject_ref=f"beneficiary:{access.beneficiary.reference_id}",
        purpose=access.purpose,
        context=principal.context,
        detail=detail,
        at=access.at,
    )


async def record_person_access(
    session: AsyncSession, principal: StaffPrincipal, access: PersonAccess
) -> None:
    """Write the audit leaf of one passed access."""
    await AuditChain.append_many(session, [person_access_entry(principal, access)])


async def record_people_access(
    session: AsyncSession, principal: StaffPrincipal, accesses: Sequence[PersonAccess]
) -> None:
    """One leaf per person (each person's access log and proofs name their own leaf),
    written in one batch: two statements for a whole roster page."""
    await AuditChain.append_many(session, [person_access_entry(principal, a) for a in accesses])


async def access_people_for_staff(
    ctx: AppContext,
    session: AsyncSession,
    principal: StaffPrincipal,
    beneficiary_ids: Sequence[int],
    *,
    purpose: str,
    channel: AccessChannel,
) -> list[Beneficiary]:
    """The batch chokepoint: check every person, audit each one, return them in order."""
    accesses = await authorize_people_for_staff(
        ctx, session, principal, beneficiary_ids, purpose=purpose, channel=channel
    )
    await record_people_access(session, principal, accesses)
    return [access.beneficiary for access in accesses]


async def access_person_for_staff(
    ctx: AppContext,
    session: AsyncSession,
    principal: StaffPrincipal,
    beneficiary_id: int,
    *,
    purpose: str,
    channel: AccessChannel,
) -> Beneficiary:
    """THE chokepoint for one person: check, count, audit, return the row (or 404)."""
    access = await authorize_person_for_staff(
        ctx, session, principal, beneficiary_id, purpose=purpose, channel=channel
    )
    await record_person_access(session, principal, access)
    return access.beneficiary
