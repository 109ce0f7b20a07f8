"""Booking: schedule, reschedule and cancel appointments; the appointment slip.

Seats are taken and returned only by guarded UPDATEs on the session row, in the same
transaction as the appointment rows, so no number of concurrent requests can overbook a
session or make its count negative, on SQLite (BEGIN IMMEDIATE) and PostgreSQL (row
lock, the WHERE re-checked after the wait). When a transaction touches several session
rows it does so in session-ID order, so two reschedules in opposite directions cannot
deadlock. SMS go out only after commit; availability caches are invalidated then too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.booking.models import Appointment
from immunet.booking.rules import (
    AlreadyBooked,
    AppointmentNotFound,
    DoseFact,
    NotCancellable,
    SeriesRule,
    SessionFacts,
    SessionFull,
    SessionNotFound,
    age_on,
    check_age,
    check_dose,
    check_seat_free,
    check_session_bookable,
    check_session_open,
    next_dose,
    seat_columns,
    today_in_india,
)
from immunet.booking.schemas import CancelRequest, RescheduleRequest, ScheduleRequest
from immunet.context import AppContext
from immunet.db.base import utcnow
from immunet.errors import ApiError, BadRequest
from immunet.people.models import Beneficiary
from immunet.people.service import (
    account_mobile,
    own_beneficiaries,
    own_beneficiaries_and_mobile,
    reveal,
)
from immunet.security.access import CitizenPrincipal
from immunet.security.audit import AuditAction, AuditChain
from immunet.security.idempotency import StoredResponse, prepare
from immunet.security.keyring import Keyring, Purpose
from immunet.security.ratelimit import Limit
from immunet.sessions.models import VaccinationSession
from immunet.vaccination.models import DoseRecord, SeriesDose, Vaccine

log = logging.getLogger("immunet.booking")

SCHEDULES_PER_DAY = Limit("booking-schedule-day", 30, 86400)
RESCHEDULES_PER_DAY = Limit("booking-reschedule-day", 10, 86400)
CANCELS_PER_DAY = Limit("booking-cancel-day", 10, 86400)
SLIPS_PER_HOUR = Limit("booking-slip-hour", 20, 3600)

ROUTE_SCHEDULE = "appointment/schedule"
ROUTE_RESCHEDULE = "appointment/reschedule"
ROUTE_CANCEL = "appointment/cancel"


class DuplicateBeneficiaries(BadRequest):
    error_code = "APPOIN0400"
    message = "A beneficiary is listed more than once."


@dataclass(frozen=True)
class Notice:
    """An SMS to send after commit."""

    to: str
    template: str
    values: dict[str, str] = field(default_factory=dict)


def code_context(appointment_id: str) -> str:
    return f"appointment:{appointment_id}:code"


def new_secret_code() -> str:
    return f"{secrets.randbelow(10000):04d}"


def seal_code(keyring: Keyring, appointment_id: str, code: str) -> tuple[str, bytes]:
    """(keyed digest, sealed ciphertext) of an appointment's secret code."""
    digest = keyring.digest(Purpose.APPOINTMENT_CODE_DIGEST)(appointment_id, code)
    return digest, keyring.field_cipher.encrypt(code, context=code_context(appointment_id))


def new_appointment(
    keyring: Keyring,
    *,
    appointment_id: str,
    beneficiary_id: int,
    account_id: str,
    session_id: str,
    confirmation_no: str,
    dose: int,
    slot: str,
    now: dt.datetime,
) -> tuple[Appointment, str]:
    """A booked appointment with a fresh secret code, stored only as a keyed digest and
    sealed; the row (to add to the session) and the code (for its SMS)."""
    code = new_secret_code()
    digest, sealed = seal_code(keyring, appointment_id, code)
    row = Appointment(
        appointment_id=appointment_id,
        beneficiary_id=beneficiary_id,
        account_id=account_id,
        session_id=session_id,
        confirmation_no=confirmation_no,
        dose=dose,
        slot=slot,
        status="booked",
        code_digest=digest,
        code_ct=sealed,
        code_failures=0,
        reschedules=0,
        created_at=now,
        updated_at=now,
    )
    return row, code


def open_code(keyring: Keyring, appointment: Appointment) -> str:
    return keyring.field_cipher.decrypt(
        appointment.code_ct, context=code_context(appointment.appointment_id)
    )


# -- facts ------------------------------------------------------------------------------


async def load_session(
    session: AsyncSession, session_id: str
) -> tuple[VaccinationSession, SessionFacts]:
    row = await session.get(VaccinationSession, session_id)
    if row is None:
        raise SessionNotFound()
    return row, facts_of(row)


async def load_session_and_place(
    session: AsyncSession, session_id: str
) -> tuple[SessionFacts, tuple[int, str, int]]:
    """The session's facts and its centre's (ID, PIN code, district) in one statement:
    the place is what the availability cache is invalidated by after commit."""
    from immunet.geography.centers import Center

    found = (
        await session.execute(
            select(VaccinationSession, Center.pincode, Center.district_id)
            .join(Center, Center.center_id == VaccinationSession.center_id)
            .where(VaccinationSession.session_id == session_id)
        )
    ).first()
    if found is None:
        raise SessionNotFound()
    row, pincode, district_id = found
    return facts_of(row), (row.center_id, pincode, district_id)


def facts_of(row: VaccinationSession) -> SessionFacts:
    return SessionFacts(
        session_id=row.session_id,
        center_id=row.center_id,
        date=row.date,
        vaccine=row.vaccine_code,
        min_age=row.min_age_limit,
        max_age=row.max_age_limit,
        status=row.status,
        slots=SessionFacts.parse_slots(row.slots),
    )


def series_code(vaccine: str) -> str:
    return f"covid19-{vaccine.lower().replace(' ', '-')}"


async def series_rules(session: AsyncSession, vaccine: str) -> list[SeriesRule]:
    """The vaccine's series rules; reference data, so read once per process and engine."""
    from immunet.db.engine import Database

    cache = Database.reference_of(session)
    key = ("series_rules", vaccine)
    cached = cache.get(key) if cache is not None else None
    if isinstance(cached, tuple):
        return [rule for rule in cached if isinstance(rule, SeriesRule)]
    rules = await _load_series_rules(session, vaccine)
    if cache is not None:
        cache[key] = tuple(rules)
    return rules


async def _load_series_rules(session: AsyncSession, vaccine: str) -> list[SeriesRule]:
    rows = list(
        (
            await session.execute(
                select(SeriesDose).where(SeriesDose.series_code == series_code(vaccine))
            )
        ).scalars()
    )
    if not rows:
        rows = list(
            (
                await session.execute(
                    select(SeriesDose)
                    .where(SeriesDose.vaccine_code == vaccine)
                    .order_by(SeriesDose.series_code, SeriesDose.dose_number)
                )
            ).scalars()
        )
    rules: dict[int, SeriesRule] = {}
    for row in rows:
        rules.setdefault(
            row.dose_number,
            SeriesRule(row.dose_number, row.min_interval_days, row.same_vaccine_as_previous),
        )
    return list(rules.values())


async def dose_history(session: AsyncSession, beneficiary_id: int, vaccine: str) -> list[DoseFact]:
    """Recorded doses of the programme the session's vaccine belongs to."""
    programme = select(Vaccine.programme_code).where(Vaccine.code == vaccine).scalar_subquery()
    rows = await session.execute(
        select(DoseRecord.dose_number, DoseRecord.vaccine_code, DoseRecord.administered_on)
        .join(Vaccine, Vaccine.code == DoseRecord.vaccine_code)
        .where(
            DoseRecord.beneficiary_id == beneficiary_id,
            DoseRecord.status == "recorded",
            Vaccine.programme_code == programme,
        )
    )
    return [DoseFact(number, code, day) for number, code, day in rows]


async def check_eligible(
    session: AsyncSession,
    keyring: Keyring,
    beneficiary: Beneficiary,
    facts: SessionFacts,
    dose: int,
    series: Sequence[SeriesRule],
) -> None:
    # Only the birth year / date of birth is used; the view never leaves this function.
    view = reveal(keyring, beneficiary, mobile="", vault_number=None)
    check_age(facts, age_on(facts.date, view.birth_year, view.date_of_birth))
    check_dose(dose, facts, await dose_history(session, beneficiary.id, facts.vaccine), series)


@dataclass(frozen=True)
class Eligibility:
    """Whether one of the account's beneficiaries can book one session now, and if not,
    the refusal the booking itself would answer."""

    session_id: str
    reference_id: str
    dose: int
    refusal: ApiError | None

    @property
    def eligible(self) -> bool:
        return self.refusal is None


MAX_ELIGIBILITY_SESSIONS = 50


async def eligibility(
    ctx: AppContext,
    session_ids: Sequence[str],
    *,
    actor: CitizenPrincipal,
    rescheduling: str | None = None,
) -> list[Eligibility]:
    """Before booking: for each listed session and each of the account's beneficiaries,
    the dose they would book and the rule of :func:`schedule` (or, for the appointments
    named by ``rescheduling``, of :func:`reschedule`) that would refuse it, checked with the
    same functions in the same order; the seats as they stand now. Reads only: the answer
    is advice, and the booking decides again in its own transaction."""
    today = today_in_india(ctx.clock.now())
    keyring = ctx.keyring
    wanted = list(dict.fromkeys(session_ids))[:MAX_ELIGIBILITY_SESSIONS]
    out: list[Eligibility] = []
    async with ctx.db.reader() as session:
        beneficiaries = await own_beneficiaries(session, actor.account_id)
        ids = [b.id for b in beneficiaries]
        live = (
            list(
                (
                    await session.execute(
                        select(Appointment).where(
                            Appointment.beneficiary_id.in_(ids), Appointment.status == "booked"
                        )
                    )
                ).scalars()
            )
            if ids
            else []
        )
        moving: dict[int, int] = {
            a.beneficiary_id: a.dose
            for a in live
            if rescheduling is not None
            and rescheduling in (a.appointment_id, a.confirmation_no)
            and a.account_id == actor.account_id
        }
        booked_doses = {(a.beneficiary_id, a.dose) for a in live}
        rows = (
            list(
                (
                    await session.execute(
                        select(VaccinationSession).where(VaccinationSession.session_id.in_(wanted))
                    )
                ).scalars()
            )
            if wanted
            else []
        )
        histories: dict[tuple[int, str], list[DoseFact]] = {}
        # Only the birth year / date of birth is used; the views never leave this function.
        births = {b.id: reveal(keyring, b, mobile="", vault_number=None) for b in beneficiaries}
        for row in sorted(rows, key=lambda r: wanted.index(r.session_id)):
            facts = facts_of(row)
            series = await series_rules(session, facts.vaccine)
            for beneficiary in beneficiaries:
                if rescheduling is not None and beneficiary.id not in moving:
                    continue
                key = (beneficiary.id, facts.vaccine)
                if key not in histories:
                    histories[key] = await dose_history(session, beneficiary.id, facts.vaccine)
                history = histories[key]
                dose = moving.get(beneficiary.id) or next_dose(history, series)
                refusal: ApiError | None = None
                try:
                    check_session_bookable(facts, today=today)
                    view = births[beneficiary.id]
                    check_age(facts, age_on(facts.date, view.birth_year, view.date_of_birth))
                    check_dose(dose, facts, history, series)
                    if beneficiary.id not in moving and (beneficiary.id, dose) in booked_doses:
                        raise AlreadyBooked()
                    booked, capacity = seat_columns(dose)
                    check_seat_free(getattr(row, booked), getattr(row, capacity))
                except ApiError as exc:
                    refusal = exc
                out.append(Eligibility(facts.session_id, beneficiary.reference_id, dose, refusal))
    return out


async def dose_to_book(
    ctx: AppContext, session_id: str, reference_id: str, *, actor: CitizenPrincipal
) -> int | None:
    """The dose the account's person ``reference_id`` would book at ``session_id`` (the
    series' next dose for the session's vaccine, as :func:`eligibility` shows it before
    booking); None when that is not one of the account's people or no such session."""
    for answer in await eligibility(ctx, [session_id], actor=actor):
        if answer.reference_id == reference_id:
            return answer.dose
    return None


# -- seats --------------------------------------------------------------------------------


async def take_seats(session: AsyncSession, session_id: str, dose: int, count: int) -> None:
    """The one way seats are taken: a guarded UPDATE; nothing changed → fully booked."""
    booked, capacity = seat_columns(dose)
    booked_col = getattr(VaccinationSession, booked)
    capacity_col = getattr(VaccinationSession, capacity)
    result = await session.execute(
        update(VaccinationSession)
        .where(
            VaccinationSession.session_id == session_id,
            VaccinationSession.status == "published",
            booked_col + count <= capacity_col,
        )
        .values({booked: booked_col + count})
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise SessionFull()


async def release_seats(session: AsyncSession, session_id: str, dose: int, count: int) -> None:
    """Return seats; guarded so a count can never go below zero."""
    booked, _capacity = seat_columns(dose)
    booked_col = getattr(VaccinationSession, booked)
    result = await session.execute(
        update(VaccinationSession)
        .where(VaccinationSession.session_id == session_id, booked_col - count >= 0)
        .values({booked: booked_col - count})
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        log.warning("seat release found no seats session=%s dose=%s", session_id, dose)


async def apply_seat_changes(session: AsyncSession, deltas: dict[tuple[str, int], int]) -> None:
    """Apply per-(session, dose) changes in session-ID order (no lock-order deadlocks)."""
    for (session_id, dose), delta in sorted(deltas.items()):
        if delta > 0:
            await take_seats(session, session_id, dose, delta)
        elif delta < 0:
            await release_seats(session, session_id, dose, -delta)


# -- notices and after commit -----------------------------------------------------------


async def queue_notices(ctx: AppContext, session: AsyncSession, notices: Sequence[Notice]) -> None:
    """Put the notices in the outbox, in the booking's own transaction (sent after commit)."""
    for notice in notices:
        await ctx.outbox.enqueue(
            session, to=notice.to, template=notice.template, values=notice.values
        )


async def invalidate_availability(ctx: AppContext, center_ids: set[int]) -> None:
    """Drop cached public availability of the centres whose seats changed."""
    from immunet.geography.centers import Center
    from immunet.sessions.availability import invalidate_availability as invalidate

    if not center_ids:
        return
    async with ctx.db.reader() as session:
        rows = await session.execute(
            select(Center.center_id, Center.pincode, Center.district_id)
            .where(Center.center_id.in_(center_ids))
            .order_by(Center.center_id)
        )
        centers = [(r[0], r[1], r[2]) for r in rows]
    for center_id, pincode, district_id in centers:
        await invalidate(ctx, center_id, pincode=pincode, district_id=district_id)


async def _after_commit(ctx: AppContext, centers: set[int]) -> None:
    await invalidate_availability(ctx, centers)


async def _after_commit_at(ctx: AppContext, place: tuple[int, str, int]) -> None:
    """As :func:`_after_commit`, for one centre whose PIN code and district are known."""
    from immunet.sessions.availability import invalidate_availability as invalidate

    center_id, pincode, district_id = place
    await invalidate(ctx, center_id, pincode=pincode, district_id=district_id)


def _sms_date(day: dt.date) -> str:
    return day.strftime("%d-%m-%Y")


# -- schedule -----------------------------------------------------------------------------


async def schedule(
    ctx: AppContext,
    form: ScheduleRequest,
    *,
    actor: CitizenPrincipal,
    idempotency_key: str | None = None,
) -> StoredResponse:
    """Book one appointment per listed beneficiary of the account, all or nothing."""
    idem = prepare(
        ctx,
        caller=actor.account_id,
        route=ROUTE_SCHEDULE,
        key=idempotency_key,
        request=form.model_dump(),
    )
    if idem is not None and (prior := await idem.replay()) is not None:
        return prior
    if len(set(form.beneficiaries)) != len(form.beneficiaries):
        raise DuplicateBeneficiaries()
    await ctx.limiter.hit(SCHEDULES_PER_DAY, actor.account_id)
    today = today_in_india(ctx.clock.now())  # the date rule reads the clock
    keyring = ctx.keyring
    try:
        async with ctx.db.transaction() as session:
            if idem is not None:
                await idem.claim(session)
            facts, place = await load_session_and_place(session, form.session_id)
            check_session_open(facts, slot=form.slot, today=today, center_id=form.center_id)
            beneficiaries, mobile = await own_beneficiaries_and_mobile(
                session, keyring, actor.account_id, form.beneficiaries
            )
            series = await series_rules(session, facts.vaccine)
            for beneficiary in beneficiaries:
                await check_eligible(session, keyring, beneficiary, facts, form.dose, series)
            # A live appointment for the same dose is refused by the partial unique index
            # uq_appointments_live_dose when the rows are flushed (IntegrityError below →
            # AlreadyBooked): no SELECT per beneficiary to ask first.
            now = utcnow()
            ids = [str(uuid.uuid4()) for _ in beneficiaries]
            confirmation = ids[0]
            codes: list[str] = []
            for appointment_id, beneficiary in zip(ids, beneficiaries, strict=True):
                row, code = new_appointment(
                    keyring,
                    appointment_id=appointment_id,
                    beneficiary_id=beneficiary.id,
                    account_id=actor.account_id,
                    session_id=facts.session_id,
                    confirmation_no=confirmation,
                    dose=form.dose,
                    slot=form.slot,
                    now=now,
                )
                codes.append(code)
                session.add(row)
            await session.flush()
            result = StoredResponse.of(
                200, {"appointment_confirmation_no": confirmation, "appointment_ids": ids}
            )
            if idem is not None:
                await idem.complete(session, result)
            await AuditChain.append(
                session,
                actor=actor.actor,
                action=AuditAction.APPOINTMENT_BOOKED,
                subject_ref=f"appointment:{confirmation}",
                purpose="booking",
                context=actor.context,
                detail={"session_id": facts.session_id, "dose": form.dose, "count": len(ids)},
            )
            notices = [
                Notice(
                    mobile,
                    "appointment_booked",
                    {
                        "appointment_id": appointment_id,
                        "date": _sms_date(facts.date),
                        "slot": form.slot,
                        "center_id": str(facts.center_id),
                        "code": code,
                    },
                )
                for appointment_id, code in zip(ids, codes, strict=True)
            ]
            await queue_notices(ctx, session, notices)
            # The session row is the hot spot of a popular session: its seats are taken by
            # the transaction's last statement, so its row lock is held only for that
            # statement and the commit. Every statement before it (the audit leaf takes no
            # lock: decision 0006) would otherwise wait, with the lock held, for its turn on
            # a busy worker's event loop while every other booking of the session queued
            # behind it. A full session raises here and rolls all of it back.
            await take_seats(session, facts.session_id, form.dose, len(beneficiaries))
    except IntegrityError as exc:
        # A concurrent request with the same Idempotency-Key won, or (the partial unique
        # index) a concurrent booking of the same beneficiary and dose did.
        if idem is not None and (prior := await idem.replay()) is not None:
            return prior
        raise AlreadyBooked() from exc
    log.info("booked %d appointment(s) request=%s", len(ids), actor.context.request_id)
    await _after_commit_at(ctx, place)
    return result


# -- reschedule and cancel ------------------------------------------------------------------


async def own_group(
    session: AsyncSession, account_id: str, appointment_id: str
) -> list[Appointment]:
    """The account's appointments named by an appointment ID or a confirmation number.

    Another account's appointment and one that never existed give the same 404.
    """
    rows = list(
        (
            await session.execute(
                select(Appointment)
                .where(
                    Appointment.account_id == account_id,
                    or_(
                        Appointment.appointment_id == appointment_id,
                        Appointment.confirmation_no == appointment_id,
                    ),
                )
                .order_by(Appointment.created_at, Appointment.appointment_id)
                .with_for_update()
            )
        ).scalars()
    )
    if not rows:
        raise AppointmentNotFound()
    return rows


async def reschedule(
    ctx: AppContext,
    form: RescheduleRequest,
    *,
    actor: CitizenPrincipal,
    idempotency_key: str | None = None,
) -> StoredResponse:
    """Move the live appointments named by ``appointment_id`` to another session and slot."""
    idem = prepare(
        ctx,
        caller=actor.account_id,
        route=ROUTE_RESCHEDULE,
        key=idempotency_key,
        request=form.model_dump(),
    )
    if idem is not None and (prior := await idem.replay()) is not None:
        return prior
    await ctx.limiter.hit(RESCHEDULES_PER_DAY, actor.account_id)
    today = today_in_india(ctx.clock.now())  # the date rule reads the clock
    keyring = ctx.keyring
    try:
        async with ctx.db.transaction() as session:
            if idem is not None:
                await idem.claim(session)
            group = await own_group(session, actor.account_id, form.appointment_id)
            live = [a for a in group if a.status == "booked"]
            if not live:
                raise NotCancellable()
            _row, facts = await load_session(session, form.session_id)
            check_session_open(facts, slot=form.slot, today=today)
            series = await series_rules(session, facts.vaccine)
            centers = {facts.center_id}
            deltas: dict[tuple[str, int], int] = defaultdict(int)
            for appointment in live:
                beneficiary = await session.get(Beneficiary, appointment.beneficiary_id)
                if beneficiary is None or beneficiary.account_id != actor.account_id:
                    raise AppointmentNotFound()
                await check_eligible(session, keyring, beneficiary, facts, appointment.dose, series)
                old = await session.get(VaccinationSession, appointment.session_id)
                if old is not None:
                    centers.add(old.center_id)
                deltas[(appointment.session_id, appointment.dose)] -= 1
                deltas[(facts.session_id, appointment.dose)] += 1
            await apply_seat_changes(session, deltas)
            now = utcnow()
            for appointment in live:
                appointment.session_id = facts.session_id
                appointment.slot = form.slot
                appointment.reschedules += 1
                appointment.updated_at = now
            await session.flush()
            result = StoredResponse.of(204)
            if idem is not None:
                await idem.complete(session, result)
            mobile = await account_mobile(session, keyring, actor.account_id)
            notices = [
                Notice(
                    mobile,
                    "appointment_booked",
                    {
                        "appointment_id": a.appointment_id,
                        "date": _sms_date(facts.date),
                        "slot": form.slot,
                        "center_id": str(facts.center_id),
                        "code": open_code(keyring, a),
                    },
                )
                for a in live
            ]
            await AuditChain.append(
                session,
                actor=actor.actor,
                action=AuditAction.APPOINTMENT_RESCHEDULED,
                subject_ref=f"appointment:{form.appointment_id}",
                purpose="booking",
                context=actor.context,
                detail={"session_id": facts.session_id, "count": len(live)},
            )
            await queue_notices(ctx, session, notices)
    except IntegrityError as exc:
        if idem is not None and (prior := await idem.replay()) is not None:
            return prior
        raise NotCancellable() from exc
    await _after_commit(ctx, centers)
    return result


async def cancel(
    ctx: AppContext,
    form: CancelRequest,
    *,
    actor: CitizenPrincipal,
    idempotency_key: str | None = None,
) -> StoredResponse:
    """Cancel the listed beneficiaries' appointments of a booking; their seats return."""
    idem = prepare(
        ctx,
        caller=actor.account_id,
        route=ROUTE_CANCEL,
        key=idempotency_key,
        request=form.model_dump(),
    )
    if idem is not None and (prior := await idem.replay()) is not None:
        return prior
    refs = form.beneficiariesToCancel
    if len(set(refs)) != len(refs):
        raise DuplicateBeneficiaries()
    await ctx.limiter.hit(CANCELS_PER_DAY, actor.account_id)
    try:
        async with ctx.db.transaction() as session:
            if idem is not None:
                await idem.claim(session)
            group = await own_group(session, actor.account_id, form.appointment_id)
            owned = await session.execute(
                select(Beneficiary.id, Beneficiary.reference_id).where(
                    Beneficiary.account_id == actor.account_id,
                    Beneficiary.id.in_({a.beneficiary_id for a in group}),
                )
            )
            reference_of: dict[int, str] = {bid: ref for bid, ref in owned}
            targets = [a for a in group if reference_of.get(a.beneficiary_id) in set(refs)]
            if len({reference_of[a.beneficiary_id] for a in targets}) != len(refs):
                raise AppointmentNotFound()
            live = [a for a in targets if a.status == "booked"]
            if len(live) != len({a.beneficiary_id for a in targets}):
                raise NotCancellable()
            deltas: dict[tuple[str, int], int] = defaultdict(int)
            centers: set[int] = set()
            for appointment in live:
                deltas[(appointment.session_id, appointment.dose)] -= 1
                old = await session.get(VaccinationSession, appointment.session_id)
                if old is not None:
                    centers.add(old.center_id)
            await apply_seat_changes(session, deltas)
            now = utcnow()
            for appointment in live:
                appointment.status = "cancelled"
                appointment.updated_at = now
            await session.flush()
            result = StoredResponse.of(204)
            if idem is not None:
                await idem.complete(session, result)
            mobile = await account_mobile(session, ctx.keyring, actor.account_id)
            notices = [
                Notice(mobile, "appointment_cancelled", {"appointment_id": a.appointment_id})
                for a in live
            ]
            await AuditChain.append(
                session,
                actor=actor.actor,
                action=AuditAction.APPOINTMENT_CANCELLED,
                subject_ref=f"appointment:{form.appointment_id}",
                purpose="account-holder-request",
                context=actor.context,
                detail={"count": len(live)},
            )
            await queue_notices(ctx, session, notices)
    except IntegrityError as exc:
        if idem is not None and (prior := await idem.replay()) is not None:
            return prior
        raise NotCancellable() from exc
    await _after_commit(ctx, centers)
    return result


# -- hooks of other areas ------------------------------------------------------------------


async def release_for_deleted_beneficiary(session: AsyncSession, beneficiary: Beneficiary) -> None:
    """people's delete hook: return live seats, then remove the beneficiary's appointments."""
    rows = list(
        (
            await session.execute(
                select(Appointment)
                .where(Appointment.beneficiary_id == beneficiary.id)
                .with_for_update()
            )
        ).scalars()
    )
    deltas: dict[tuple[str, int], int] = defaultdict(int)
    for appointment in rows:
        if appointment.status == "booked":
            deltas[(appointment.session_id, appointment.dose)] -= 1
    await apply_seat_changes(session, deltas)
    if rows:
        await session.execute(
            delete(Appointment).where(Appointment.beneficiary_id == beneficiary.id)
        )


async def appointments_of(
    session: AsyncSession, beneficiary_ids: Sequence[int]
) -> dict[int, list[dict[str, object]]]:
    """people's appointment source: live appointments in Co-WIN's shape."""
    from immunet.geography.centers import Center
    from immunet.geography.models import District, State

    found: dict[int, list[dict[str, object]]] = {}
    if not beneficiary_ids:
        return found
    rows = await session.execute(
        select(Appointment, VaccinationSession, Center, District, State)
        .join(VaccinationSession, VaccinationSession.session_id == Appointment.session_id)
        .join(Center, Center.center_id == VaccinationSession.center_id)
        .join(District, District.district_id == Center.district_id)
        .join(State, State.state_id == Center.state_id)
        .where(
            and_(Appointment.beneficiary_id.in_(beneficiary_ids), Appointment.status == "booked")
        )
        .order_by(VaccinationSession.date, Appointment.dose)
    )
    for appointment, vs, center, district, state in rows:
        found.setdefault(appointment.beneficiary_id, []).append(
            {
                "appointment_id": appointment.appointment_id,
                "center_id": center.center_id,
                "name": center.name,
                "state_name": state.state_name,
                "district_name": district.district_name,
                "block_name": center.block_name,
                "pincode": center.pincode,
                "from": center.opens_at.strftime("%H:%M:%S"),
                "to": center.closes_at.strftime("%H:%M:%S"),
                "dose": appointment.dose,
                "session_id": vs.session_id,
                "date": vs.date.strftime("%d-%m-%Y"),
                "slot": appointment.slot,
            }
        )
    return found


# -- slip -----------------------------------------------------------------------------------

_STATUS_LABELS = {"booked": "Booked", "cancelled": "Cancelled", "completed": "Vaccinated"}


async def appointment_slip(
    ctx: AppContext, appointment_id: str, *, actor: CitizenPrincipal
) -> bytes:
    """The PDF slip of one of the account's own appointments (404 for any other)."""
    from immunet.booking.slip import SlipData, render_slip
    from immunet.geography.centers import Center
    from immunet.geography.models import District, State
    from immunet.people.service import list_beneficiaries

    await ctx.limiter.hit(SLIPS_PER_HOUR, actor.account_id)
    async with ctx.db.transaction() as session:
        appointment = (
            await session.execute(
                select(Appointment).where(
                    Appointment.appointment_id == appointment_id,
                    Appointment.account_id == actor.account_id,
                )
            )
        ).scalar_one_or_none()
        if appointment is None:
            raise AppointmentNotFound()
        found = (
            await session.execute(
                select(VaccinationSession, Center, District, State, Beneficiary.reference_id)
                .join(Center, Center.center_id == VaccinationSession.center_id)
                .join(District, District.district_id == Center.district_id)
                .join(State, State.state_id == Center.state_id)
                .join(Beneficiary, Beneficiary.id == appointment.beneficiary_id)
                .where(
                    VaccinationSession.session_id == appointment.session_id,
                    Beneficiary.account_id == actor.account_id,
                )
            )
        ).first()
        if found is None:
            raise AppointmentNotFound()
        vs, center, district, state, reference_id = found
        code = open_code(ctx.keyring, appointment)
        await AuditChain.append(
            session,
            actor=actor.actor,
            action=AuditAction.APPOINTMENT_SLIP_DOWNLOADED,
            subject_ref=f"appointment:{appointment.appointment_id}",
            purpose="account-holder-request",
            context=actor.context,
        )
    views = await list_beneficiaries(ctx, actor=actor)
    view = next((v for v in views if v.reference_id == reference_id), None)
    if view is None:
        raise AppointmentNotFound()
    # Rendering (fpdf2 with HarfBuzz text shaping) takes 0.2-0.45 s of CPU: in a worker thread,
    # so the event loop keeps answering other requests meanwhile.
    return await asyncio.to_thread(
        render_slip,
        SlipData(
            appointment_id=appointment.appointment_id,
            status=_STATUS_LABELS.get(appointment.status, appointment.status),
            center_name=center.name,
            center_address=center.address,
            district_name=district.district_name,
            state_name=state.state_name,
            pincode=center.pincode,
            date=vs.date.strftime("%d-%m-%Y"),
            slot=appointment.slot,
            dose=appointment.dose,
            vaccine=vs.vaccine_code,
            beneficiary_name=view.name,
            beneficiary_reference_id=view.reference_id,
            masked_id=view.masked_id_number,
            photo_id_type=view.photo_id_type,
            secret_code=code,
        ),
    )


async def cancel_for_session(
    ctx: AppContext, session: AsyncSession, row: VaccinationSession
) -> list[tuple[str, dict[str, str]]]:
    """sessions' cancel hook: void the session's live appointments, return whom to tell."""
    live = list(
        (
            await session.execute(
                select(Appointment)
                .where(Appointment.session_id == row.session_id, Appointment.status == "booked")
                .order_by(Appointment.appointment_id)
                .with_for_update()
            )
        ).scalars()
    )
    deltas: dict[tuple[str, int], int] = defaultdict(int)
    for appointment in live:
        deltas[(appointment.session_id, appointment.dose)] -= 1
    await apply_seat_changes(session, deltas)
    now = utcnow()
    mobiles: dict[str, str] = {}
    notices: list[tuple[str, dict[str, str]]] = []
    for appointment in live:
        appointment.status = "cancelled"
        appointment.updated_at = now
        if appointment.account_id not in mobiles:
            mobiles[appointment.account_id] = await account_mobile(
                session, ctx.keyring, appointment.account_id
            )
        notices.append(
            (mobiles[appointment.account_id], {"appointment_id": appointment.appointment_id})
        )
    await session.flush()
    return notices
