"""Session planning: publish, edit and cancel sessions of centres in the caller's jurisdiction.

Capacity edits are one guarded UPDATE (``WHERE booked_dose1 <= :new_capacity ...``), so an
edit can never leave a session overbooked, whatever bookings run at the same moment.
Cancelling runs :data:`SESSION_CANCEL_HOOKS` inside the cancelling transaction (booking
fills it: it voids the appointments and returns whom to tell) and sends the SMS after
commit.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.context import AppContext
from immunet.db.base import utcnow
from immunet.errors import Conflict, NotFound, ValidationFailed
from immunet.geography.centers import Center
from immunet.security.audit import AuditAction, AuditChain
from immunet.sessions.availability import invalidate_availability
from immunet.sessions.models import VaccinationSession
from immunet.sessions.rules import RuleError, check_session_date, format_cowin_date, today_ist
from immunet.sessions.schemas import SessionCreate, SessionPatch
from immunet.staff.jurisdiction import center_filter
from immunet.staff.principal import StaffPrincipal
from immunet.vaccination.models import Vaccine

log = logging.getLogger("immunet.sessions")

PUBLISHED = "published"
CANCELLED = "cancelled"
CANCEL_TEMPLATE = "session_cancelled"

# (mobile, template values) pairs for the "session_cancelled" SMS.
Notice = tuple[str, dict[str, str]]
# Called inside the cancelling transaction with the (now cancelled) session row; the
# context gives hooks the key ring (booking decrypts the account mobiles to notify).
CancelHook = Callable[[AppContext, AsyncSession, VaccinationSession], Awaitable[list[Notice]]]
SESSION_CANCEL_HOOKS: list[CancelHook] = []


class SessionNotFound(NotFound):
    error_code = "SESSION0404"
    message = "No such session."


class CenterNotFound(NotFound):
    error_code = "CENTER0404"
    message = "No such centre."


class InvalidSession(ValidationFailed):
    error_code = "SESSION0400"
    message = "The session is not valid."


class SessionClosed(Conflict):
    error_code = "SESSION0409"
    message = "The session is cancelled or already past; it cannot be changed."


class CapacityBelowBooked(Conflict):
    error_code = "SESSION0410"
    message = "More people are booked than the new capacity allows."


@dataclass(frozen=True)
class SessionView:
    session_id: str
    center_id: int
    date: str
    vaccine: str
    min_age_limit: int
    max_age_limit: int | None
    capacity_dose1: int
    capacity_dose2: int
    capacity_precaution: int
    booked_dose1: int
    booked_dose2: int
    booked_precaution: int
    slots: list[str]
    fee: str
    status: str

    @classmethod
    def of(cls, row: VaccinationSession) -> SessionView:
        return cls(
            session_id=row.session_id,
            center_id=row.center_id,
            date=format_cowin_date(row.date),
            vaccine=row.vaccine_code,
            min_age_limit=row.min_age_limit,
            max_age_limit=row.max_age_limit,
            capacity_dose1=row.capacity_dose1,
            capacity_dose2=row.capacity_dose2,
            capacity_precaution=row.capacity_precaution,
            booked_dose1=row.booked_dose1,
            booked_dose2=row.booked_dose2,
            booked_precaution=row.booked_precaution,
            slots=list(json.loads(row.slots)),
            fee=row.fee,
            status=row.status,
        )


async def _session_in_scope(
    session: AsyncSession, session_id: str, actor: StaffPrincipal, *, lock: bool = False
) -> tuple[VaccinationSession, Center]:
    query = (
        select(VaccinationSession, Center)
        .join(Center, Center.center_id == VaccinationSession.center_id)
        .where(VaccinationSession.session_id == session_id, center_filter(actor))
    )
    if lock:
        query = query.with_for_update(of=VaccinationSession)
    row = (await session.execute(query)).first()
    if row is None:
        raise SessionNotFound()
    return row[0], row[1]


async def publish_session(ctx: AppContext, form: SessionCreate, *, actor: StaffPrincipal) -> str:
    try:
        check_session_date(form.date, today_ist(ctx.clock.now()))
    except RuleError as exc:
        raise InvalidSession(f"date: {exc}") from exc
    session_id = str(uuid.uuid4())
    async with ctx.db.transaction() as session:
        center = (
            await session.execute(
                select(Center).where(
                    Center.center_id == form.center_id,
                    center_filter(actor),
                    Center.active.is_(True),
                )
            )
        ).scalar_one_or_none()
        if center is None:
            raise CenterNotFound()
        vaccine = await session.get(Vaccine, form.vaccine)
        if vaccine is None or not vaccine.active:
            raise InvalidSession("vaccine: not a known vaccine")
        if center.fee_type == "Free" and form.fee != 0:
            raise InvalidSession("fee: a Free centre charges no fee")
        now = utcnow()
        session.add(
            VaccinationSession(
                session_id=session_id,
                center_id=center.center_id,
                date=form.date,
                vaccine_code=vaccine.code,
                min_age_limit=form.min_age_limit,
                max_age_limit=form.max_age_limit,
                capacity_dose1=form.capacity_dose1,
                capacity_dose2=form.capacity_dose2,
                capacity_precaution=form.capacity_precaution,
                booked_dose1=0,
                booked_dose2=0,
                booked_precaution=0,
                slots=json.dumps(form.slots),
                fee=str(form.fee),
                status=PUBLISHED,
                created_by=actor.actor,
                created_at=now,
                updated_at=now,
            )
        )
        await session.flush()
        await AuditChain.append(
            session,
            actor=actor.actor,
            action=AuditAction.SESSION_PUBLISHED,
            subject_ref=f"session:{session_id}",
            purpose="session planning",
            context=actor.context,
            detail={"center_id": center.center_id, "date": form.date.isoformat()},
        )
        pincode, district_id = center.pincode, center.district_id
    await invalidate_availability(ctx, form.center_id, pincode=pincode, district_id=district_id)
    return session_id


async def update_session(
    ctx: AppContext, session_id: str, patch: SessionPatch, *, actor: StaffPrincipal
) -> SessionView:
    async with ctx.db.transaction() as session:
        row, center = await _session_in_scope(session, session_id, actor)
        if row.status != PUBLISHED or row.date < today_ist(ctx.clock.now()):
            raise SessionClosed()
        cap1 = patch.capacity_dose1 if patch.capacity_dose1 is not None else row.capacity_dose1
        cap2 = patch.capacity_dose2 if patch.capacity_dose2 is not None else row.capacity_dose2
        cap3 = (
            patch.capacity_precaution
            if patch.capacity_precaution is not None
            else row.capacity_precaution
        )
        min_age = patch.min_age_limit if patch.min_age_limit is not None else row.min_age_limit
        max_age = (
            patch.max_age_limit if "max_age_limit" in patch.model_fields_set else row.max_age_limit
        )
        if max_age is not None and max_age < min_age:
            raise InvalidSession("max_age_limit is below min_age_limit")
        if cap1 + cap2 + cap3 == 0:
            raise InvalidSession("a session needs at least one seat")
        values: dict[str, object] = {
            "capacity_dose1": cap1,
            "capacity_dose2": cap2,
            "capacity_precaution": cap3,
            "min_age_limit": min_age,
            "max_age_limit": max_age,
            "updated_at": utcnow(),
        }
        if patch.slots is not None:
            values["slots"] = json.dumps(patch.slots)
        # The guard and the change are one statement: a booking committed a moment ago is
        # counted, one that comes after sees the new capacity.
        result = await session.execute(
            update(VaccinationSession)
            .where(
                VaccinationSession.session_id == session_id,
                VaccinationSession.status == PUBLISHED,
                VaccinationSession.booked_dose1 <= cap1,
                VaccinationSession.booked_dose2 <= cap2,
                VaccinationSession.booked_precaution <= cap3,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) != 1:
            raise CapacityBelowBooked()
        await session.refresh(row)
        view = SessionView.of(row)
        await AuditChain.append(
            session,
            actor=actor.actor,
            action=AuditAction.SESSION_UPDATED,
            subject_ref=f"session:{session_id}",
            purpose="session planning",
            context=actor.context,
            detail={"fields": sorted(patch.model_fields_set)},
        )
        pincode, district_id, center_id = center.pincode, center.district_id, center.center_id
    await invalidate_availability(ctx, center_id, pincode=pincode, district_id=district_id)
    return view


async def cancel_session(ctx: AppContext, session_id: str, *, actor: StaffPrincipal) -> int:
    """Cancel a published session; returns how many people are being told by SMS."""
    async with ctx.db.transaction() as session:
        row, center = await _session_in_scope(session, session_id, actor)
        result = await session.execute(
            update(VaccinationSession)
            .where(
                VaccinationSession.session_id == session_id,
                VaccinationSession.status == PUBLISHED,
            )
            .values(status=CANCELLED, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) != 1:
            raise SessionClosed()
        await session.refresh(row)
        notices: list[Notice] = []
        for hook in SESSION_CANCEL_HOOKS:
            notices.extend(await hook(ctx, session, row))
        await AuditChain.append(
            session,
            actor=actor.actor,
            action=AuditAction.SESSION_CANCELLED,
            subject_ref=f"session:{session_id}",
            purpose="session planning",
            context=actor.context,
            detail={"center_id": center.center_id, "notified": len(notices)},
        )
        defaults = {"date": format_cowin_date(row.date), "center_id": str(center.center_id)}
        for mobile, values in notices:
            await ctx.outbox.enqueue(
                session,
                to=mobile,
                template=CANCEL_TEMPLATE,
                values={"appointment_id": "", **defaults, **values},
            )
        pincode, district_id, center_id = center.pincode, center.district_id, center.center_id
    await invalidate_availability(ctx, center_id, pincode=pincode, district_id=district_id)
    return len(notices)


async def list_sessions(
    ctx: AppContext,
    *,
    actor: StaffPrincipal,
    limit: int,
    center_id: int | None = None,
    date: dt.date | None = None,
    after: str | None = None,
) -> tuple[list[SessionView], str | None]:
    """The caller's sessions, newest date first within a centre; keyset paging by id."""
    query = (
        select(VaccinationSession)
        .join(Center, Center.center_id == VaccinationSession.center_id)
        .where(center_filter(actor))
    )
    if center_id is not None:
        query = query.where(VaccinationSession.center_id == center_id)
    if date is not None:
        query = query.where(VaccinationSession.date == date)
    if after is not None:
        query = query.where(VaccinationSession.session_id > after)
    query = query.order_by(VaccinationSession.session_id).limit(limit + 1)
    async with ctx.db.reader() as session:
        rows = list((await session.execute(query)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return [SessionView.of(r) for r in rows], (rows[-1].session_id if more and rows else None)
