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

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.booking.models import Appointment
from immunet.booking.rules import today_in_india
from immunet.context import AppContext
from immunet.db.base import utcnow
from immunet.errors import Forbidden
from immunet.people.models import Beneficiary
from immunet.people.service import BeneficiaryNotFound
from immunet.security.audit import AuditAction, AuditChain
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


async def _on_own_roster(
    session: AsyncSession,
    principal: StaffPrincipal,
    beneficiary_ids: Sequence[int],
    now: dt.datetime,
) -> set[int]:
    center_id = own_center_id(principal)
    if center_id is None or not beneficiary_ids:
        return set()
    first, last = roster_window(now)
    rows = await session.execute(
        select(Appointment.beneficiary_id)
        .join(VaccinationSession, VaccinationSession.session_id == Appointment.session_id)
        .join(Beneficiary, Beneficiary.id == Appointment.beneficiary_id)
        .where(
            Beneficiary.is_canary.is_(False),
            Appointment.beneficiary_id.in_(list(beneficiary_ids)),
            Appointment.status.in_(ROSTER_STATUSES),
            VaccinationSession.center_id == center_id,
            VaccinationSession.date >= first,
            VaccinationSession.date <= last,
        )
    )
    return {int(b) for b in rows.scalars()}


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
    rows = (
        (await session.execute(select(Beneficiary).where(Beneficiary.id.in_(ids)))).scalars().all()
    )
    by_id = {row.id: row for row in rows}
    if len(by_id) != len(ids):
        raise BeneficiaryNotFound()
    # Before any relationship check: naming a decoy is the misuse, whatever the answer.
    misuse.refuse_canaries(ctx, principal, list(by_id.values()))
    now = ctx.clock.now()
    grants: dict[int, int] = {}
    allowed: set[int]
    if channel in (AccessChannel.ROSTER, AccessChannel.SECRET_CODE):
        allowed = await _on_own_roster(session, principal, ids, now)
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
    accesses = []
    for b in ids:
        await misuse.before_person_read(ctx, session, principal, b, channel=str(channel))
        accesses.append(PersonAccess(by_id[b], channel, purpose, now, grants.get(b)))
    return accesses


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


async def record_person_access(
    session: AsyncSession, principal: StaffPrincipal, access: PersonAccess
) -> None:
    """The ``BENEFICIARY_VIEWED`` audit event of one passed access (no personal data)."""
    detail: dict[str, object] = {
        "channel": str(access.channel),
        "role": str(principal.role),
        "organisation": organisation_of(principal),
    }
    if access.grant_id is not None:
        detail["grant"] = access.grant_id
    await AuditChain.append(
        session,
        actor=principal.actor,
        action=AuditAction.BENEFICIARY_VIEWED,
        subject_ref=f"beneficiary:{access.beneficiary.reference_id}",
        purpose=access.purpose,
        context=principal.context,
        detail=detail,
        at=access.at,
    )


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
    for access in accesses:
        await record_person_access(session, principal, access)
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
