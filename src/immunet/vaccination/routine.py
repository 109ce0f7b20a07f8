"""Routine-immunization sessions planned from a facility's due list (decision 0021).

A facility manager picks a date, a site (the facility itself, or an outreach site with its
name and location) and the schedule groups to offer; the people of the facility's own
catchment (decision 0013) due or overdue for those groups between the session date and
``due_to`` are invited. An invitation is an appointment on the new session (dose 1, like a
booking: its 4-digit secret code digested and sealed), so the session's roster, the
check-in with the code and the recording of the routine dose work as for any appointment.
Each invitee's guardian gets one SMS through the durable outbox, in the account's language,
deduplicated per person and session; accounts that opted out of reminders get none (the
invitation stays on the account, with its slip).

Same access rules as the due list: own facility only, each invitee passes the access
chokepoint (channel ``catchment``: role, quotas, canaries) and is audited as read.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.booking.models import Appointment
from immunet.booking.rules import today_in_india
from immunet.booking.service import new_appointment, release_seats
from immunet.context import AppContext
from immunet.db.base import utcnow
from immunet.errors import Conflict, Forbidden, ValidationFailed
from immunet.geography.centers import Center
from immunet.people.models import Beneficiary, CitizenAccount
from immunet.people.service import reveal
from immunet.security.audit import AuditAction, AuditChain
from immunet.sessions.availability import invalidate_availability
from immunet.sessions.models import VaccinationSession
from immunet.sessions.rules import RuleError, check_session_date
from immunet.staff.principal import StaffPrincipal
from immunet.vaccination import uip
from immunet.vaccination.access import (
    AccessChannel,
    authorize_people_for_staff,
    own_center_id,
    record_people_access,
)
from immunet.vaccination.due import (
    CATEGORIES,
    DueLine,
    check_range,
    due_lines,
    routine_histories,
)
from immunet.vaccination.models import RoutineSessionSite, Vaccine
from immunet.vaccination.regional import regional_for_center

log = logging.getLogger("immunet.routine")

SCAN_BATCH = 500
LANGUAGES = ("en", "hi")
INVITATION_DOSE = 1  # the seat column an invitation takes (routine numbering is the schedule's)
SITE_KINDS = ("fixed", "outreach")


class InvalidRoutineSession(ValidationFailed):
    error_code = "VACCIN0460"
    message = "The routine session is not valid."


class InvitationRace(Conflict):
    error_code = "VACCIN0461"
    message = "Someone due was invited to another session at the same moment; plan again."


@dataclass(frozen=True)
class RoutineForm:
    date: dt.date
    due_to: dt.date | None
    groups: tuple[str, ...]
    site_kind: str
    site_name: str | None
    site_location: str | None
    capacity: int
    slots: tuple[str, ...]


@dataclass(frozen=True)
class RoutinePlan:
    session_id: str
    center_id: int
    date: dt.date
    due_from: dt.date
    due_to: dt.date
    groups: tuple[str, ...]
    site_kind: str
    site_name: str | None
    site_location: str | None
    capacity: int
    invited: int
    already_invited: int
    more_due: bool
    sms_queued: int


def check_form(form: RoutineForm, *, today: dt.date, runs: frozenset[str]) -> dt.date:
    """Pure: the form's rules (the due window's end is returned). ``runs``: the regional
    groups the facility's district runs."""
    try:
        check_session_date(form.date, today)
    except RuleError as exc:
        raise InvalidRoutineSession(f"date: {exc}") from exc
    due_to = form.due_to or form.date
    check_range(form.date, due_to)
    known = uip.schedule_group_names()
    unknown = [g for g in form.groups if g not in known]
    if unknown or not form.groups:
        raise InvalidRoutineSession("vaccine_groups: not groups of the national schedule")
    off = [g for g in form.groups if uip.regional_for(g) and g not in runs]
    if off:
        raise InvalidRoutineSession(f"vaccine_groups: {off[0]} is not run in this district")
    if form.site_kind not in SITE_KINDS:
        raise InvalidRoutineSession("site_kind: fixed or outreach")
    if form.site_kind == "outreach" and not (form.site_name and form.site_location):
        raise InvalidRoutineSession("an outreach site needs site_name and site_location")
    if form.site_kind == "fixed" and (form.site_name or form.site_location):
        raise InvalidRoutineSession("a fixed site is the facility itself: no site_name")
    return due_to


def _catchment(center_id: int) -> tuple[object, ...]:
    return (
        Beneficiary.home_center_id == center_id,
        Beneficiary.category.in_(CATEGORIES),
        Beneficiary.is_canary.is_(False),
    )


async def _due_people(
    ctx: AppContext,
    session: AsyncSession,
    center_id: int,
    form: RoutineForm,
    *,
    today: dt.date,
    due_to: dt.date,
    runs: frozenset[str],
    wanted: int,
) -> tuple[list[Beneficiary], bool, set[int], list[Appointment]]:
    """The catchment's people due for the form's groups in the window and free to invite, in
    reference order: at most ``wanted`` of them, whether more were due, who is due but holds
    a live invitation, and the unused invitations to past routine sessions of those chosen
    (to lapse). Keyset batches of the catchment, four statements each."""
    chosen: list[Beneficiary] = []
    held: set[int] = set()
    lapsed: list[Appointment] = []
    after: str | None = None
    groups = set(form.groups)
    while True:
        stmt = (
            select(Beneficiary)
            .where(*_catchment(center_id))  # type: ignore[arg-type]
            .order_by(Beneficiary.reference_id)
            .limit(SCAN_BATCH)
        )
        if after is not None:
            stmt = stmt.where(Beneficiary.reference_id > after)
        rows = list((await session.execute(stmt)).scalars())
        if not rows:
            return chosen, False, held, lapsed
        history, pregnant = await routine_histories(session, ctx.keyring, [r.id for r in rows])
        due: list[Beneficiary] = []
        for row in rows:
            # Decrypted for the forecast only; invited (and audited) only if due.
            view = reveal(ctx.keyring, row, mobile="", vault_number=None)
            lines: list[DueLine] = due_lines(
                view.date_of_birth or dt.date(view.birth_year, 1, 1),
                sorted(history[row.id]),
                today=today,
                start=form.date,
                end=due_to,
                pregnant=row.id in pregnant and row.category == "pregnant",
                group=None,
                regional=runs,
                pregnancy=pregnant.get(row.id),
            )
            if any(line.group in groups for line in lines):
                due.append(row)
        busy, old = await _live_invitations(session, [p.id for p in due], today)
        for row in due:
            if row.id in busy:
                held.add(row.id)
                continue
            if len(chosen) == wanted:
                return chosen, True, held, lapsed
            chosen.append(row)
            lapsed.extend(a for a in old if a.beneficiary_id == row.id)
        if len(rows) < SCAN_BATCH:
            return chosen, False, held, lapsed
        after = rows[-1].reference_id


async def _live_invitations(
    session: AsyncSession, ids: list[int], today: dt.date
) -> tuple[set[int], list[Appointment]]:
    """Who holds a live dose-1 appointment (one per person: the partial unique index), and
    which of those are unused invitations to routine sessions already past (they lapse)."""
    if not ids:
        return set(), []
    rows = (
        await session.execute(
            select(Appointment, VaccinationSession.date, Vaccine.programme_code)
            .join(VaccinationSession, VaccinationSession.session_id == Appointment.session_id)
            .join(Vaccine, Vaccine.code == VaccinationSession.vaccine_code)
            .where(
                Appointment.beneficiary_id.in_(ids),
                Appointment.status == "booked",
                Appointment.dose == INVITATION_DOSE,
            )
            .with_for_update(of=Appointment)
        )
    ).all()
    held: set[int] = set()
    lapsed: list[Appointment] = []
    for appointment, day, programme in rows:
        if programme == uip.PROGRAMME and day < today:
            lapsed.append(appointment)
        else:
            held.add(appointment.beneficiary_id)
    return held, lapsed


async def plan_routine_session(
    ctx: AppContext, form: RoutineForm, *, actor: StaffPrincipal
) -> RoutinePlan:
    """Create a routine session of the caller's own facility and invite whoever is due."""
    center_id = own_center_id(actor)
    if center_id is None:
        raise Forbidden("Routine sessions belong to a facility: sign in as its staff.")
    today = today_in_india(ctx.clock.now())
    session_id = str(uuid.uuid4())
    now = utcnow()
    try:
        async with ctx.db.transaction() as session:
            center = (
                await session.execute(
                    select(Center).where(Center.center_id == center_id, Center.active.is_(True))
                )
            ).scalar_one_or_none()
            if center is None:
                raise Forbidden("Your facility is not active.")
            runs = await regional_for_center(session, center_id)
            due_to = check_form(form, today=today, runs=runs)
            vaccine = uip.vaccine_of_group(form.groups[0])
            assert vaccine is not None  # every group of the schedule has its vaccine
            invitees, more_due, held, lapsed = await _due_people(
                ctx,
                session,
                center_id,
                form,
                today=today,
                due_to=due_to,
                runs=runs,
                wanted=form.capacity,
            )
            for old in lapsed:  # an invitation to a past session nobody came to
                old.status = "cancelled"
                old.updated_at = now
                await release_seats(session, old.session_id, INVITATION_DOSE, 1)
            accesses = await authorize_people_for_staff(
                ctx,
                session,
                actor,
                [p.id for p in invitees],
                purpose="routine-session",
                channel=AccessChannel.CATCHMENT,
            )
            session.add(
                VaccinationSession(
                    session_id=session_id,
                    center_id=center_id,
                    date=form.date,
                    vaccine_code=vaccine,
                    min_age_limit=0,
                    max_age_limit=None,
                    capacity_dose1=form.capacity,
                    capacity_dose2=0,
                    capacity_precaution=0,
                    booked_dose1=len(invitees),
                    booked_dose2=0,
                    booked_precaution=0,
                    slots=json.dumps(list(form.slots)),
                    fee="0",
                    status="published",
                    created_by=actor.actor,
                    created_at=now,
                    updated_at=now,
                )
            )
            await session.flush()
            session.add(
                RoutineSessionSite(
                    session_id=session_id,
                    site_kind=form.site_kind,
                    site_name=form.site_name,
                    site_location=form.site_location,
                    vaccine_groups=json.dumps(list(form.groups)),
                    due_from=form.date,
                    due_to=due_to,
                    invited=len(invitees),
                    planned_by=actor.actor,
                    planned_at=now,
                )
            )
            codes: dict[int, str] = {}
            for person in invitees:
                appointment_id = str(uuid.uuid4())
                row, codes[person.id] = new_appointment(
                    ctx.keyring,
                    appointment_id=appointment_id,
                    beneficiary_id=person.id,
                    account_id=person.account_id,
                    session_id=session_id,
                    confirmation_no=appointment_id,
                    dose=INVITATION_DOSE,
                    slot=form.slots[0],
                    now=now,
                )
                session.add(row)
            await session.flush()
            sms_queued = await _invite_by_sms(
                ctx, session, invitees, codes, session_id, form, center.name
            )
            await record_people_access(session, actor, accesses)
            await AuditChain.append(
                session,
                actor=actor.actor,
                action=AuditAction.ROUTINE_SESSION_PLANNED,
                subject_ref=f"session:{session_id}",
                purpose="routine-session-planning",
                context=actor.context,
                detail={
                    "center_id": center_id,
                    "date": form.date.isoformat(),
                    "vaccine_groups": list(form.groups),
                    "site_kind": form.site_kind,
                    "invited": len(invitees),
                    "already_invited": len(held),
                    "lapsed": len(lapsed),
                },
            )
            pincode, district_id = center.pincode, center.district_id
    except IntegrityError as exc:
        # A concurrent plan invited one of these people first (the partial unique index
        # of live appointments): nothing of this plan was written.
        raise InvitationRace() from exc
    await invalidate_availability(ctx, center_id, pincode=pincode, district_id=district_id)
    log.info("routine session planned session=%s invited=%d", session_id, len(invitees))
    return RoutinePlan(
        session_id=session_id,
        center_id=center_id,
        date=form.date,
        due_from=form.date,
        due_to=due_to,
        groups=form.groups,
        site_kind=form.site_kind,
        site_name=form.site_name,
        site_location=form.site_location,
        capacity=form.capacity,
        invited=len(invitees),
        already_invited=len(held),
        more_due=more_due,
        sms_queued=sms_queued,
    )


async def _invite_by_sms(
    ctx: AppContext,
    session: AsyncSession,
    invitees: list[Beneficiary],
    codes: dict[int, str],
    session_id: str,
    form: RoutineForm,
    center_name: str,
) -> int:
    """One outbox row per invitee (dedup key: person and session), in the guardian's
    language; none for accounts that opted out of reminders."""
    if not invitees:
        return 0
    accounts = {
        account_id: (mobile_ct, language)
        for account_id, mobile_ct, language in await session.execute(
            select(CitizenAccount.id, CitizenAccount.mobile_ct, CitizenAccount.language).where(
                CitizenAccount.id.in_({p.account_id for p in invitees}),
                CitizenAccount.reminders_opt_out.is_(False),
            )
        )
    }
    site = (
        f"{form.site_name}, {form.site_location}" if form.site_kind == "outreach" else center_name
    )
    queued = 0
    for person in invitees:
        if person.account_id not in accounts:
            continue
        mobile_ct, language = accounts[person.account_id]
        mobile = ctx.keyring.field_cipher.decrypt(
            mobile_ct, context=f"account:{person.account_id}:mobile"
        )
        lang = language if language in LANGUAGES else "en"
        if await ctx.outbox.enqueue(
            session,
            to=mobile,
            template=f"routine_invitation_{lang}",
            values={
                "ref_tail": person.reference_id[-4:],
                "date": form.date.strftime("%d-%m-%Y"),
                "site": site,
                "code": codes[person.id],
            },
            dedup_key=f"routine-invitation:{session_id}:{person.id}",
        ):
            queued += 1
    return queued
