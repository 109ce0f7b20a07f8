"""The vaccinator's day: roster, check-in, walk-in look-up by OTP, recording a dose.

Every read of a person goes through :mod:`immunet.vaccination.access` (the chokepoint);
every write owns its transaction and ends it with its audit record. A dose is recorded
at most once per ``Idempotency-Key`` and at most once per (person, series, dose number),
under any number of concurrent retries.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import literal, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.booking.models import Appointment
from immunet.booking.rules import today_in_india
from immunet.certificates.service import issue_for_beneficiary, revoke_for_correction
from immunet.context import AppContext
from immunet.db.base import utcnow
from immunet.db.engine import Database
from immunet.errors import NotFound
from immunet.people.auth import (
    InvalidMobile,
    account_for_verified_mobile,
    mobile_index,
    request_otp,
    verify_otp,
)
from immunet.people.family import active_pregnancy_edd
from immunet.people.identifiers import normalize_mobile
from immunet.people.models import AadhaarVaultEntry, Beneficiary
from immunet.people.schemas import NewBeneficiaryRequest
from immunet.people.service import (
    BeneficiaryNotFound,
    BeneficiaryView,
    ChildDetails,
    Registration,
    conflicting_registrations,
    register_beneficiary_for_account,
    reveal,
)
from immunet.schedules.india import PregnancyTd
from immunet.security.audit import AuditAction, AuditChain, AuditEntry
from immunet.security.idempotency import StoredResponse, prepare
from immunet.security.keyring import Keyring, Purpose
from immunet.security.ratelimit import Limit
from immunet.sessions.models import VaccinationSession
from immunet.staff import misuse
from immunet.staff.principal import StaffPrincipal
from immunet.vaccination import card, uip
from immunet.vaccination.access import (
    AccessChannel,
    PersonAccess,
    access_people_for_staff,
    authorize_person_for_staff,
    person_access_entry,
    roster_window,
)
from immunet.vaccination.models import DoseRecord, SeriesDose, StaffOtpGrant, Vaccine
from immunet.vaccination.rules import (
    OPEN_SESSION_STATUS,
    AppointmentLocked,
    AppointmentMismatch,
    BadRosterCursor,
    CheckInRequired,
    DoseAlreadyRecorded,
    DoseNotFound,
    DoseOutOfOrder,
    DoseRule,
    IdempotencyKeyRequired,
    NoOpenSession,
    PhotoIdCheckRequired,
    PriorDose,
    RosterNotFound,
    UnknownVaccine,
    WrongCode,
    age_in_days,
    check_administered_at,
    check_age_band,
    check_sequence,
    check_session_accepts_doses,
    parse_check_in_code,
)
from immunet.vaccination.stock import center_of, consume_dose, usable_batch

log = logging.getLogger("immunet.vaccination")

ROUTE_RECORD = "staff/doses"
LOOKUP_PURPOSE_PREFIX = "staff-lookup:"
ROSTER_STATUSES = ("booked", "completed")


# -- helpers ----------------------------------------------------------------------------------


def lookup_purpose(principal: StaffPrincipal) -> str:
    """OTP purpose of a staff look-up, bound to the staff user who asked for it."""
    return f"{LOOKUP_PURPOSE_PREFIX}{principal.user_id}"


def grant_ref(txn_id: str) -> str:
    return hashlib.sha256(f"staff-grant:{txn_id}".encode()).hexdigest()


def lookup_limits(ctx: AppContext) -> tuple[Limit, Limit]:
    s = ctx.settings
    return (
        Limit("staff-otp-lookups-hour", s.staff_otp_lookups_per_hour, 3600),
        Limit("staff-otp-lookups-day", s.staff_otp_lookups_per_day, 86400),
    )


async def _vault_numbers(
    session: AsyncSession, keyring: Keyring, tokens: Sequence[str | None]
) -> dict[str, str]:
    """The vault numbers of a page of people in ONE statement (token -> number)."""
    wanted = sorted({t for t in tokens if t is not None})
    if not wanted:
        return {}
    rows = await session.execute(
        select(AadhaarVaultEntry.token, AadhaarVaultEntry.number_ct).where(
            AadhaarVaultEntry.token.in_(wanted)
        )
    )
    return {
        str(token): keyring.vault_cipher.decrypt(ct, context=f"aadhaar:{token}")
        for token, ct in rows.all()
    }


async def _vault_number(session: AsyncSession, keyring: Keyring, token: str | None) -> str | None:
    if token is None:
        return None
    entry = await session.get(AadhaarVaultEntry, token)
    if entry is None:
        return None
    return keyring.vault_cipher.decrypt(entry.number_ct, context=f"aadhaar:{token}")


async def masked_view(
    session: AsyncSession,
    keyring: Keyring,
    row: Beneficiary,
    *,
    mobile: str = "",
    id_conflict: bool | None = None,
) -> BeneficiaryView:
    """Decrypt one person for a staff screen: identifiers masked (call after the chokepoint).

    ``id_conflict`` flags a registration whose ID number another registration holds too;
    looked up here unless the caller looked it up for a whole page already.
    """
    number = await _vault_number(session, keyring, row.aadhaar_token)
    if id_conflict is None:
        id_conflict = bool((await conflicting_registrations(session, [row.id]))[row.id])
    view = reveal(keyring, row, mobile=mobile, vault_number=number)
    return dataclasses.replace(view, id_conflict=id_conflict)


async def _own_session(
    session: AsyncSession, principal: StaffPrincipal, session_id: str, now: dt.datetime
) -> VaccinationSession:
    """A session of the caller's own centre dated yesterday..tomorrow (``now`` from
    ``ctx.clock``), else 404."""
    row = await session.get(VaccinationSession, session_id)
    if row is None or not _is_own_session(principal, row, now):
        raise RosterNotFound()
    return row


def _is_own_session(principal: StaffPrincipal, row: VaccinationSession, now: dt.datetime) -> bool:
    """At the caller's own centre and dated yesterday..tomorrow (``now`` from ctx.clock)."""
    center_id = principal.jurisdiction.ref_id if principal.jurisdiction.kind == "center" else None
    first, last = roster_window(now)
    return center_id is not None and row.center_id == center_id and first <= row.date <= last


async def _own_appointment(
    session: AsyncSession,
    principal: StaffPrincipal,
    appointment_id: str,
    now: dt.datetime,
    *,
    lock: bool = False,
) -> tuple[Appointment, VaccinationSession]:
    """An appointment in a session of the caller's centre in the roster window, else 404."""
    # The appointment and its session in one statement; only the appointment is locked
    # (the session row is hot: every booking of the day updates its seat counts).
    stmt = (
        select(Appointment, VaccinationSession)
        .join(VaccinationSession, VaccinationSession.session_id == Appointment.session_id)
        .where(Appointment.appointment_id == appointment_id)
    )
    if lock:
        stmt = stmt.with_for_update(of=Appointment)
    row = (await session.execute(stmt)).first()
    if row is None or row[0].status not in ROSTER_STATUSES:
        raise RosterNotFound("No such appointment at your centre.")
    appointment, vaccination_session = row[0], row[1]
    if not _is_own_session(principal, vaccination_session, now):
        raise RosterNotFound("No such appointment at your centre.")
    return appointment, vaccination_session


def roster_status(appointment: Appointment) -> str:
    if appointment.status == "booked" and appointment.checked_in_at is not None:
        return "checked-in"
    return appointment.status


# -- roster -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RosterLine:
    appointment: Appointment
    view: BeneficiaryView


@dataclass(frozen=True)
class Roster:
    session: VaccinationSession
    lines: list[RosterLine]
    # The ``after`` of the next page (its last appointment), None on the last page.
    next_cursor: str | None = None


async def roster(
    ctx: AppContext,
    session_id: str,
    *,
    actor: StaffPrincipal,
    page: int,
    limit: int,
    after: str | None = None,
) -> Roster:
    """One page of a session's appointments, masked; each person shown is audited.

    A page costs the same wherever it is in the session: ``after`` (the last appointment
    of the previous page, :attr:`Roster.next_cursor`) continues in index order
    (``ix_appointments_session_order``) instead of skipping rows with OFFSET; ``page``
    still works (OFFSET) for clients of the fixed interface. The people of the page are
    read, checked (one misuse check: its rules are about the staff user), audited (one
    leaf per person, written in one batch) and unsealed with a fixed number of
    statements, whatever the page size.
    """
    if after is not None and page != 1:
        raise BadRosterCursor()
    async with ctx.db.transaction() as session:
        vaccination_session = await _own_session(session, actor, session_id, ctx.clock.now())
        order = (Appointment.slot, Appointment.created_at, Appointment.appointment_id)
        stmt = (
            select(Appointment)
            .join(Beneficiary, Beneficiary.id == Appointment.beneficiary_id)
            .where(
                Appointment.session_id == session_id,
                Appointment.status.in_(ROSTER_STATUSES),
                # Decoys are never on a roster: reading one's roster is the job.
                Beneficiary.is_canary.is_(False),
            )
            .order_by(*order)
            .limit(limit)
        )
        if after is not None:
            mark = (
                await session.execute(
                    select(*order).where(
                        Appointment.appointment_id == after,
                        Appointment.session_id == session_id,
                    )
                )
            ).first()
            if mark is None:
                raise BadRosterCursor()
            stmt = stmt.where(
                tuple_(*order)
                > tuple_(
                    *(
                        literal(value, column.type)
                        for value, column in zip(mark, order, strict=True)
                    )
                )
            )
        else:
            stmt = stmt.offset((page - 1) * limit)
        appointments = list((await session.execute(stmt)).scalars())
        people = await access_people_for_staff(
            ctx,
            session,
            actor,
            [a.beneficiary_id for a in appointments],
            purpose="session-roster",
            channel=AccessChannel.ROSTER,
        )
        by_id = {p.id: p for p in people}
        conflicts = await conflicting_registrations(session, list(by_id))
        numbers = await _vault_numbers(session, ctx.keyring, [p.aadhaar_token for p in people])
        lines = [
            RosterLine(
                a,
                dataclasses.replace(
                    reveal(
                        ctx.keyring,
                        by_id[a.beneficiary_id],
                        mobile="",
                        vault_number=numbers.get(by_id[a.beneficiary_id].aadhaar_token or ""),
                    ),
                    id_conflict=bool(conflicts[a.beneficiary_id]),
                ),
            )
            for a in appointments
        ]
    next_cursor = appointments[-1].appointment_id if len(appointments) == limit else None
    return Roster(vaccination_session, lines, next_cursor)


# -- check-in ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckIn:
    appointment: Appointment
    vaccine: str
    view: BeneficiaryView


async def check_in(
    ctx: AppContext, appointment_id: str, raw_code: str, *, actor: StaffPrincipal
) -> CheckIn:
    """Check a person in with their appointment's 4-digit code (constant-time compare).

    Wrong codes count on the appointment (locked after the configured number) and
    against the staff user's hourly and daily wrong-code quotas (``staff/misuse.py``: the
    lock-out raises an alert, repeated refusals suspend).
    """
    digest = ctx.keyring.digest(Purpose.APPOINTMENT_CODE_DIGEST)
    max_failures = ctx.settings.appointment_code_max_failures
    failure: Exception | None = None
    result: CheckIn | None = None
    async with ctx.db.transaction() as session:
        await misuse.before_code_check(ctx, session, actor)
        appointment, vaccination_session = await _own_appointment(
            session, actor, appointment_id, ctx.clock.now(), lock=True
        )
        if appointment.code_failures >= max_failures:
            failure = AppointmentLocked()
        elif appointment.status == "completed":
            failure = CheckInRequired("This appointment is already completed.")
        else:
            code = parse_check_in_code(raw_code, appointment.appointment_id)
            # The code is compared with this appointment's digest only, in constant time.
            correct = digest.matches(
                appointment.code_digest, appointment.appointment_id, code or "----"
            )
            if not correct:
                failures = appointment.code_failures + 1
                await misuse.note_wrong_code(
                    ctx, session, actor, appointment_locked=failures >= max_failures
                )
                await session.execute(
                    update(Appointment)
                    .where(Appointment.appointment_id == appointment.appointment_id)
                    .values(code_failures=Appointment.code_failures + 1, updated_at=utcnow())
                    .execution_options(synchronize_session=False)
                )
                locked = failures >= max_failures
                failure = AppointmentLocked() if locked else WrongCode()
                await AuditChain.append(
                    session,
                    actor=actor.actor,
                    action=(
                        AuditAction.APPOINTMENT_LOCKED
                        if locked
                        else AuditAction.APPOINTMENT_CODE_FAILED
                    ),
                    subject_ref=f"appointment:{appointment.appointment_id}",
                    purpose="check-in",
                    context=actor.context,
                    detail={"failures": failures},
                )
            else:
                now = utcnow()
                if appointment.checked_in_at is None:
                    appointment.checked_in_at = now
                    appointment.checked_in_by = actor.actor
                    appointment.updated_at = now
                    await session.flush()
                person = await authorize_person_for_staff(
                    ctx,
                    session,
                    actor,
                    appointment.beneficiary_id,
                    purpose="check-in",
                    channel=AccessChannel.SECRET_CODE,
                )
                view = await masked_view(session, ctx.keyring, person.beneficiary)
                result = CheckIn(appointment, vaccination_session.vaccine_code, view)
                # The read and the check-in, two leaves written in one batch.
                await AuditChain.append_many(
                    session,
                    [
                        person_access_entry(actor, person),
                        AuditEntry(
                            actor=actor.actor,
                            action=AuditAction.APPOINTMENT_CHECKED_IN,
                            subject_ref=f"appointment:{appointment.appointment_id}",
                            purpose="check-in",
                            context=actor.context,
                        ),
                    ],
                )
    if failure is not None:
        raise failure
    assert result is not None
    return result


# -- walk-ins: look-up by the person's own OTP -------------------------------------------------


async def lookup_send_otp(ctx: AppContext, raw_mobile: str, *, actor: StaffPrincipal) -> str:
    """Send an OTP to the person's mobile; the same answer whether registered or not."""
    center_of(actor)
    try:
        index = mobile_index(ctx, normalize_mobile(raw_mobile))
    except ValueError as exc:
        raise InvalidMobile() from exc
    for limit in lookup_limits(ctx):
        await ctx.limiter.hit(limit, str(actor.user_id))
    async with ctx.db.transaction() as session:
        await misuse.before_otp_lookup(ctx, session, actor, target=index)
    return await request_otp(
        ctx,
        raw_mobile,
        context=actor.context,
        purpose=lookup_purpose(actor),
        actor=actor.actor,
        template="staff_lookup_otp",
    )


@dataclass(frozen=True)
class LookupResult:
    txn_id: str
    expires_in: int
    people: list[tuple[BeneficiaryView, list[DoseRecord]]]


async def lookup_confirm(
    ctx: AppContext, txn_id: str, otp_sha256: str, *, actor: StaffPrincipal
) -> LookupResult:
    """The person read out the OTP: grant access to their account for a short while."""
    center_of(actor)
    index, mobile = await verify_otp(
        ctx,
        txn_id,
        otp_sha256,
        context=actor.context,
        purpose=lookup_purpose(actor),
        actor=actor.actor,
    )
    account_id = await account_for_verified_mobile(ctx, index, mobile, context=actor.context)
    lifetime = ctx.settings.staff_otp_grant_seconds
    now = utcnow()
    async with ctx.db.transaction() as session:
        session.add(
            StaffOtpGrant(
                txn_ref=grant_ref(txn_id),
                staff_user_id=actor.user_id,
                account_id=account_id,
                created_at=now,
                expires_at=now + dt.timedelta(seconds=lifetime),
            )
        )
        await session.flush()
        ids = list(
            (
                await session.execute(
                    select(Beneficiary.id)
                    .where(Beneficiary.account_id == account_id)
                    .order_by(Beneficiary.id)
                )
            ).scalars()
        )
        rows = await access_people_for_staff(
            ctx, session, actor, ids, purpose="walk-in-lookup", channel=AccessChannel.OTP_VERIFIED
        )
        people = [
            (
                await masked_view(session, ctx.keyring, row, mobile=mobile),
                await _doses_of(session, row.id),
            )
            for row in rows
        ]
        await AuditChain.append(
            session,
            actor=actor.actor,
            action=AuditAction.STAFF_LOOKUP_VERIFIED,
            subject_ref=f"account:{account_id}",
            purpose="walk-in-lookup",
            context=actor.context,
            detail={"beneficiaries": len(ids)},
        )
    return LookupResult(txn_id, lifetime, people)


async def _doses_of(session: AsyncSession, beneficiary_id: int) -> list[DoseRecord]:
    return list(
        (
            await session.execute(
                select(DoseRecord)
                .where(DoseRecord.beneficiary_id == beneficiary_id, DoseRecord.status == "recorded")
                .order_by(DoseRecord.administered_on, DoseRecord.dose_number)
            )
        ).scalars()
    )


async def _live_grant(session: AsyncSession, actor: StaffPrincipal, txn_id: str) -> StaffOtpGrant:
    grant = (
        await session.execute(
            select(StaffOtpGrant).where(
                StaffOtpGrant.txn_ref == grant_ref(txn_id),
                StaffOtpGrant.staff_user_id == actor.user_id,
                StaffOtpGrant.expires_at > utcnow(),
            )
        )
    ).scalar_one_or_none()
    if grant is None:
        raise NotFound("No live OTP verification for this look-up.")
    return grant


async def register_walk_in(
    ctx: AppContext, txn_id: str, form: NewBeneficiaryRequest, *, actor: StaffPrincipal
) -> Registration:
    """Register a person under the account whose OTP this staff member just verified."""
    center_of(actor)
    async with ctx.db.reader() as session:
        grant = await _live_grant(session, actor, txn_id)
        account_id = grant.account_id
    relation = getattr(form, "guardian_relation", None)
    return await register_beneficiary_for_account(
        ctx,
        form,
        account_id=account_id,
        actor=actor.actor,
        context=actor.context,
        purpose="walk-in-registration",
        child=ChildDetails(relation, center_of(actor)) if relation else None,
    )


# -- recording a dose -------------------------------------------------------------------------


@dataclass(frozen=True)
class DoseInput:
    beneficiary_reference_id: str
    vaccine: str
    dose_number: int
    batch: str
    administered_at: dt.datetime | None = None
    appointment_id: str | None = None
    session_id: str | None = None
    photo_id_checked: bool = False


async def _find_appointment(
    session: AsyncSession,
    actor: StaffPrincipal,
    beneficiary_id: int,
    data: DoseInput,
    *,
    now: dt.datetime,
    first: dt.date,
    last: dt.date,
) -> tuple[Appointment, VaccinationSession] | None:
    """The appointment this dose completes: named, or a booked one of this person and dose
    at this centre in a session dated ``first..last`` (the days that accept doses)."""
    if data.appointment_id is not None:
        appointment, vs = await _own_appointment(
            session, actor, data.appointment_id, now, lock=True
        )
        if appointment.beneficiary_id != beneficiary_id:
            raise RosterNotFound("No such appointment at your centre.")
        if data.session_id is not None and data.session_id != appointment.session_id:
            raise AppointmentMismatch("The appointment is not in the named session.")
        return appointment, vs
    center_id = center_of(actor)
    stmt = (
        select(Appointment, VaccinationSession)
        .join(VaccinationSession, VaccinationSession.session_id == Appointment.session_id)
        .where(
            Appointment.beneficiary_id == beneficiary_id,
            Appointment.status == "booked",
            Appointment.dose == data.dose_number,
            VaccinationSession.center_id == center_id,
            VaccinationSession.date >= first,
            VaccinationSession.date <= last,
        )
        .order_by(VaccinationSession.date.desc(), Appointment.appointment_id)
        # Locked like a named one: a cancellation of its session waits for this recording.
        .with_for_update(of=Appointment)
    )
    if data.session_id is not None:
        stmt = stmt.where(Appointment.session_id == data.session_id)
    match = (await session.execute(stmt.limit(1))).first()
    if match is None:
        return None
    appointment, vaccination_session = match[0], match[1]
    if not _is_own_session(actor, vaccination_session, now):
        raise RosterNotFound()
    return appointment, vaccination_session


async def _dose_session(
    session: AsyncSession,
    actor: StaffPrincipal,
    data: DoseInput,
    found: tuple[Appointment, VaccinationSession] | None,
    *,
    on: dt.date,
    routine: bool = False,
) -> VaccinationSession:
    """The session the dose is given at: the appointment's, else the named one (of the
    caller's centre, whatever its date or state: the rule then says why it is refused), else
    the centre's open session of this vaccine on the dose's date."""
    if found is not None:
        return found[1]
    center_id = center_of(actor)
    if data.session_id is not None:
        named = await session.get(VaccinationSession, data.session_id)
        if named is None or named.center_id != center_id:
            raise RosterNotFound("No such session at your centre.")
        return named
    stmt = select(VaccinationSession).where(
        VaccinationSession.center_id == center_id,
        VaccinationSession.date == on,
        VaccinationSession.status == OPEN_SESSION_STATUS,
    )
    if routine:
        # A routine-immunization session offers the whole schedule (decision 0014).
        stmt = stmt.join(Vaccine, Vaccine.code == VaccinationSession.vaccine_code).where(
            Vaccine.programme_code == uip.PROGRAMME
        )
    else:
        stmt = stmt.where(VaccinationSession.vaccine_code == data.vaccine)
    implicit = (
        await session.execute(stmt.order_by(VaccinationSession.session_id).limit(1))
    ).scalar_one_or_none()
    if implicit is None:
        raise NoOpenSession()
    return implicit


async def _prior_doses(
    session: AsyncSession, beneficiary_ids: Sequence[int], programme: str
) -> list[PriorDose]:
    rows = await session.execute(
        select(
            DoseRecord.dose_number,
            DoseRecord.vaccine_code,
            DoseRecord.administered_on,
            DoseRecord.series_code,
        )
        .join(Vaccine, Vaccine.code == DoseRecord.vaccine_code)
        .where(
            DoseRecord.beneficiary_id.in_(list(beneficiary_ids)),
            DoseRecord.status == "recorded",
            Vaccine.programme_code == programme,
        )
    )
    return [PriorDose(n, v, d, s) for n, v, d, s in rows]


@dataclass(frozen=True)
class VaccineFacts:
    """The vaccine catalogue row a dose is judged against (reference data)."""

    code: str
    active: bool
    programme_code: str
    min_age_days: int
    max_age_days: int | None


_MISSING = object()


async def _reference(session: AsyncSession, key: tuple[object, ...], load: Any) -> Any:
    """Reference data (vaccines, series: loaded by ``db upgrade``, never changed by the
    service) read once per process and engine, like the booking's series rules."""
    cache = Database.reference_of(session)
    value = cache.get(key, _MISSING) if cache is not None else _MISSING
    if value is _MISSING:
        value = await load()
        if cache is not None:
            cache[key] = value
    return value


async def _vaccine(session: AsyncSession, code: str) -> VaccineFacts | None:
    async def load() -> VaccineFacts | None:
        row = await session.get(Vaccine, code)
        if row is None:
            return None
        return VaccineFacts(
            row.code, row.active, row.programme_code, row.min_age_days, row.max_age_days
        )

    result: VaccineFacts | None = await _reference(session, ("dose-vaccine", code), load)
    return result


async def _dose_rule(
    session: AsyncSession, vaccine: str, dose_number: int, history: Sequence[PriorDose]
) -> tuple[str | None, DoseRule | None]:
    """The series of this course (that of the first dose, else the vaccine's) and its row."""
    series_code: str | None = next(
        (d.series_code for d in sorted(history, key=lambda d: d.number) if d.series_code), None
    )
    if series_code is None:

        async def first_series() -> str | None:
            return (
                await session.execute(
                    select(SeriesDose.series_code)
                    .where(SeriesDose.vaccine_code == vaccine, SeriesDose.dose_number == 1)
                    .order_by(SeriesDose.series_code)
                    .limit(1)
                )
            ).scalar_one_or_none()

        series_code = await _reference(session, ("dose-series", vaccine), first_series)
    if series_code is None:
        return None, None
    code = series_code

    async def rule() -> DoseRule | None:
        row = (
            await session.execute(
                select(SeriesDose).where(
                    SeriesDose.series_code == code, SeriesDose.dose_number == dose_number
                )
            )
        ).scalar_one_or_none()
        if row is None:
            return None
        return DoseRule(
            row.dose_number,
            row.min_age_days,
            row.max_age_days,
            row.min_interval_days,
            row.same_vaccine_as_previous,
        )

    found: DoseRule | None = await _reference(session, ("dose-rule", code, dose_number), rule)
    return series_code, found


async def _check_routine_session(session: AsyncSession, vs: VaccinationSession) -> None:
    """A routine dose is given at a routine-immunization session (any schedule vaccine)."""
    offered = await _vaccine(session, vs.vaccine_code)
    if offered is None or offered.programme_code != uip.PROGRAMME:
        raise AppointmentMismatch("The session is not a routine-immunization session.")


async def _judge_routine(
    ctx: AppContext,
    session: AsyncSession,
    person: Beneficiary,
    view: BeneficiaryView,
    data: DoseInput,
    on: dt.date,
    history: Sequence[PriorDose],
) -> tuple[str, uip.DoseVerdict]:
    """The schedule group and series of a routine dose, its number checked against the
    doses on record (a repeat is "already recorded", a gap "out of order"), and the
    engine's verdict: never a refusal for being early, late or extra."""
    edd = await active_pregnancy_edd(session, ctx.keyring, person)
    pregnant = edd is not None
    group = uip.group_for(data.vaccine, pregnant=pregnant)
    if group is None:
        raise UnknownVaccine()
    series_code = uip.series_code(group)
    expected = 1 + sum(1 for d in history if d.series_code == series_code)
    if data.dose_number < expected:
        raise DoseAlreadyRecorded()
    if data.dose_number > expected:
        raise DoseOutOfOrder(f"The next {group} dose on record is number {expected}.")
    dob = view.date_of_birth or dt.date(view.birth_year, 1, 1)
    given = sorted((d.given_on, d.vaccine) for d in history)
    # Td in pregnancy: this pregnancy's doses, and whether an earlier one makes it a booster.
    pregnancy = (
        None
        if edd is None
        else PregnancyTd.of(
            edd,
            [d.given_on for d in history if d.series_code == uip.series_code(uip.PREGNANCY_TD)],
        )
    )
    return series_code, uip.judge(
        dob, given, (on, data.vaccine), group, pregnant=pregnant, pregnancy=pregnancy
    )


def verdict_payload(verdict: uip.DoseVerdict) -> dict[str, object]:
    """What the vaccinator is shown: the schedule's judgement and the next dose."""
    nxt = verdict.next_dose

    def day(value: dt.date | None) -> str | None:
        return value.strftime("%d-%m-%Y") if value else None

    return {
        "vaccine_group": verdict.group,
        "status": verdict.status,
        "reason": verdict.reason,
        "next_dose": None
        if nxt is None
        else {
            "dose_number": nxt.dose_number,
            "earliest_date": day(nxt.earliest),
            "recommended_date": day(nxt.recommended),
            "past_due_date": day(nxt.past_due),
        },
    }


async def record_dose(
    ctx: AppContext,
    data: DoseInput,
    *,
    actor: StaffPrincipal,
    idempotency_key: str | None,
    route: str = ROUTE_RECORD,
) -> StoredResponse:
    """Record one dose given at the caller's centre; once per Idempotency-Key."""
    if idempotency_key is None:
        raise IdempotencyKeyRequired()
    idem = prepare(
        ctx,
        caller=actor.actor,
        route=route,
        key=idempotency_key,
        request={
            "beneficiary_reference_id": data.beneficiary_reference_id,
            "vaccine": data.vaccine,
            "dose_number": data.dose_number,
            "batch": data.batch,
            "administered_at": data.administered_at.isoformat() if data.administered_at else None,
            "appointment_id": data.appointment_id,
            "session_id": data.session_id,
            "photo_id_checked": data.photo_id_checked,
        },
    )
    assert idem is not None
    if (prior := await idem.replay()) is not None:
        return prior
    center_id = center_of(actor)
    now = ctx.clock.now()
    today = today_in_india(now)
    backdate_days = ctx.settings.dose_backdate_days
    # The dose's date: that of the stated time, else (fixed interface, roster) the session's.
    stated_on = today_in_india(data.administered_at) if data.administered_at else None
    if data.administered_at is not None:
        assert stated_on is not None
        check_administered_at(
            data.administered_at, now=now, today=today, on=stated_on, backdate_days=backdate_days
        )
    first = stated_on or today - dt.timedelta(days=backdate_days)
    last = stated_on or today
    try:
        async with ctx.db.transaction() as session:
            await idem.claim(session)
            beneficiary_id = (
                await session.execute(
                    select(Beneficiary.id).where(
                        Beneficiary.reference_id == data.beneficiary_reference_id
                    )
                )
            ).scalar_one_or_none()
            if beneficiary_id is None:
                raise BeneficiaryNotFound()
            # Registrations sharing this ID number are one person once the photo ID is
            # checked: lock them all, in id order (two vaccinators recording on two of
            # them cannot deadlock), and judge the dose against all their doses.
            linked = (await conflicting_registrations(session, [beneficiary_id]))[beneficiary_id]
            group = sorted({beneficiary_id, *linked})
            await session.execute(
                select(Beneficiary.id)
                .where(Beneficiary.id.in_(group))
                .order_by(Beneficiary.id)
                .with_for_update()
            )
            vaccine = await _vaccine(session, data.vaccine)
            routine = vaccine is not None and vaccine.programme_code == uip.PROGRAMME
            # A routine dose completes only a named appointment (its number is the
            # schedule's, not the booking's).
            found = (
                None
                if routine and data.appointment_id is None
                else await _find_appointment(
                    session, actor, beneficiary_id, data, now=now, first=first, last=last
                )
            )
            appointment = found[0] if found else None
            if appointment is not None:
                if appointment.checked_in_at is None:
                    raise CheckInRequired()
                if appointment.code_failures >= ctx.settings.appointment_code_max_failures:
                    raise AppointmentLocked()
                assert found is not None
                if routine:
                    await _check_routine_session(session, found[1])
                elif found[1].vaccine_code != data.vaccine or appointment.dose != data.dose_number:
                    raise AppointmentMismatch()
                channel = AccessChannel.SECRET_CODE
            else:
                channel = AccessChannel.OTP_VERIFIED
            person = await authorize_person_for_staff(
                ctx, session, actor, beneficiary_id, purpose="dose-recording", channel=channel
            )
            # Checked only now that the caller may see the person, so a refusal never tells
            # a stranger that a reference ID exists. The session row is not locked (it is
            # hot): a recording that read it open comes before a cancellation committing
            # meanwhile, which reads no dose and waits for the appointment row locked above.
            vs = await _dose_session(
                session, actor, data, found, on=stated_on or today, routine=routine
            )
            if routine and found is None and data.session_id is not None:
                await _check_routine_session(session, vs)
            on = stated_on or vs.date
            check_session_accepts_doses(
                status=vs.status,
                session_date=vs.date,
                # Any vaccine of the schedule at a routine session (checked above).
                session_vaccine=data.vaccine if routine else vs.vaccine_code,
                vaccine=data.vaccine,
                on=on,
                today=today,
                backdate_days=backdate_days,
            )
            if vaccine is None or not vaccine.active:
                raise UnknownVaccine()
            if linked and not data.photo_id_checked:
                raise PhotoIdCheckRequired()
            view = reveal(ctx.keyring, person.beneficiary, mobile="", vault_number=None)
            # No second course through a second registration: the doses of every
            # registration of the same ID count (dose 1 twice is "already recorded").
            history = await _prior_doses(session, group, vaccine.programme_code)
            verdict: uip.DoseVerdict | None = None
            series_code: str | None
            if routine:
                series_code, verdict = await _judge_routine(
                    ctx, session, person.beneficiary, view, data, on, history
                )
                # The child is now in this facility's catchment (decision 0013).
                person.beneficiary.home_center_id = center_id
            else:
                series_code, rule = await _dose_rule(
                    session, vaccine.code, data.dose_number, history
                )
                check_sequence(data.dose_number, vaccine.code, on, history, rule)
                assert rule is not None
                check_age_band(
                    age_in_days(on, view.birth_year, view.date_of_birth),
                    vaccine_min=vaccine.min_age_days,
                    vaccine_max=vaccine.max_age_days,
                    rule=rule,
                )
            stock_id = await usable_batch(
                session, center_id=center_id, vaccine=vaccine.code, lot=data.batch, on=on
            )
            dose = DoseRecord(
                beneficiary_id=beneficiary_id,
                vaccine_code=vaccine.code,
                series_code=series_code,
                dose_number=data.dose_number,
                administered_on=on,
                center_id=center_id,
                batch=data.batch,
                recorded_by=actor.actor,
                recorded_at=now,
                status="recorded",
                appointment_id=appointment.appointment_id if appointment else None,
                stock_batch_id=stock_id,
                evaluation_status=verdict.status if verdict else None,
                evaluation_reason=verdict.reason if verdict else None,
            )
            session.add(dose)
            await session.flush()
            if appointment is not None and appointment.status == "booked":
                await session.execute(
                    update(Appointment)
                    .where(
                        Appointment.appointment_id == appointment.appointment_id,
                        Appointment.status == "booked",
                    )
                    .values(status="completed", updated_at=now)
                    .execution_options(synchronize_session=False)
                )
            # The certificate's leaves are written with the dose's, in one batch, last.
            leaves: list[AuditEntry] = []
            issued = await issue_for_beneficiary(
                ctx,
                session,
                beneficiary_id,
                actor=actor,
                context=actor.context,
                locked=person.beneficiary,
                leaves=leaves,
            )
            certificate_id = issued.certificate_id if issued is not None else None
            result = StoredResponse.of(
                201,
                {
                    "vaccination_id": str(dose.id),
                    "dose_id": dose.id,
                    "beneficiary_reference_id": data.beneficiary_reference_id,
                    "vaccine": vaccine.code,
                    "dose": data.dose_number,
                    "batch": data.batch,
                    "administered_on": on.strftime("%d-%m-%Y"),
                    "certificate_id": certificate_id,
                    **({"evaluation": verdict_payload(verdict)} if verdict else {}),
                },
            )
            await idem.complete(session, result)
            await _audit_dose(
                session, actor, person, dose, channel, leaves, photo_id_checked=bool(linked)
            )
            # The hot row last: every dose of a centre's lot decrements one batch row, so
            # the transaction's last statement takes it and the commit releases it (the
            # audit leaves before it take no lock: decision 0006).
            await consume_dose(session, stock_id, on=on)
    except IntegrityError as exc:
        # A concurrent request with the same key won (replay its answer), or a concurrent
        # recording of the same dose did (the partial unique index).
        if (prior := await idem.replay()) is not None:
            return prior
        raise DoseAlreadyRecorded() from exc
    log.info("dose recorded id=%s request=%s", dose.id, actor.context.request_id)
    return result


async def _audit_dose(
    session: AsyncSession,
    actor: StaffPrincipal,
    person: PersonAccess,
    dose: DoseRecord,
    channel: AccessChannel,
    leaves: list[AuditEntry],
    *,
    photo_id_checked: bool,
) -> None:
    detail: dict[str, object] = {
        "dose_id": dose.id,
        "vaccine": dose.vaccine_code,
        "dose": dose.dose_number,
        "center_id": dose.center_id,
        "channel": str(channel),
    }
    if photo_id_checked:  # a flagged registration: the vaccinator vouched for the ID
        detail["photo_id_checked"] = True
    # The certificate's leaves, the read and the dose, written in one batch.
    await AuditChain.append_many(
        session,
        [
            *leaves,
            person_access_entry(actor, person),
            AuditEntry(
                actor=actor.actor,
                action=AuditAction.DOSE_RECORDED,
                subject_ref=f"beneficiary:{person.beneficiary.reference_id}",
                purpose="dose-recording",
                context=actor.context,
                detail=detail,
            ),
        ],
    )


# -- corrections ------------------------------------------------------------------------------


async def void_dose(
    ctx: AppContext, dose_id: int, reason: str, *, actor: StaffPrincipal
) -> DoseRecord:
    """A facility manager voids a wrongly recorded dose of their own centre, with a reason."""
    center_id = center_of(actor)
    async with ctx.db.transaction() as session:
        dose = (
            await session.execute(
                select(DoseRecord)
                .where(
                    DoseRecord.id == dose_id,
                    DoseRecord.center_id == center_id,
                    DoseRecord.status == "recorded",
                )
                .with_for_update()
            )
        ).scalar_one_or_none()
        if dose is None:
            raise DoseNotFound()
        # Stamped by ctx.clock like the recording (a re-issued card's date is this one).
        now = ctx.clock.now()
        beneficiary = await session.get(Beneficiary, dose.beneficiary_id)
        assert beneficiary is not None
        # A routine dose: the immunization card versions that showed it are revoked (the
        # next card, built from the register, is a new version without it).
        card_revoked = await card.revoke_for_void(
            session, dose, beneficiary.reference_id, actor=actor, now=now
        )
        dose.status = "voided"
        dose.void_reason = reason
        dose.voided_by = actor.actor
        dose.voided_at = now
        await session.flush()
        await revoke_for_correction(
            ctx, session, beneficiary.id, actor=actor, context=actor.context
        )
        await AuditChain.append_many(
            session,
            [
                *([card_revoked] if card_revoked is not None else []),
                AuditEntry(
                    actor=actor.actor,
                    action=AuditAction.DOSE_VOIDED,
                    subject_ref=f"beneficiary:{beneficiary.reference_id}",
                    purpose="dose-correction",
                    context=actor.context,
                    detail={"dose_id": dose.id, "center_id": center_id},
                ),
            ],
        )
    return dose
