"""Only an open session of the vaccinator's centre, dated today (or within the back-dating
window), accepts doses, whichever path brought the person there (defect: a walk-in dose was
recorded at a cancelled session). Real routes, real OTP, SQLite and PostgreSQL.

Every refusal has its own errorCode and writes nothing: no dose, no certificate, no stock
change, no audit event of a dose or a certificate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import httpx
from sqlalchemy import func, select, update

from immunet.booking.rules import today_in_india
from immunet.certificates.models import IssuedCertificate
from immunet.clock import FixedClock
from immunet.context import AppContext
from immunet.security.audit import AuditAction
from immunet.security.models import AuditEvent
from immunet.sessions.models import VaccinationSession
from immunet.vaccination.models import DoseRecord, StockBatch
from tests.conftest import Outbox
from tests.factories import adult
from tests.factories.sessions import SessionRef, make_center, make_session
from tests.factories.staff import make_staff
from tests.factories.vaccination import (
    Day,
    book,
    dose_body,
    next_mobile,
    otp_lookup,
    setup_day,
)

IST = dt.timezone(dt.timedelta(hours=5, minutes=30))


@dataclass(frozen=True)
class Written:
    doses: int
    certificates: int
    doses_used: int
    dose_events: int


async def _written(ctx: AppContext) -> Written:
    async with ctx.db.reader() as session:
        doses = (await session.execute(select(func.count()).select_from(DoseRecord))).scalar_one()
        certs = (
            await session.execute(select(func.count()).select_from(IssuedCertificate))
        ).scalar_one()
        used = (
            await session.execute(select(func.coalesce(func.sum(StockBatch.doses_used), 0)))
        ).scalar_one()
        events = (
            await session.execute(
                select(func.count())
                .select_from(AuditEvent)
                .where(
                    AuditEvent.action.in_(
                        [AuditAction.DOSE_RECORDED.value, AuditAction.CERTIFICATE_ISSUED.value]
                    )
                )
            )
        ).scalar_one()
    return Written(int(doses), int(certs), int(used), int(events))


NOTHING = Written(0, 0, 0, 0)


def _pin_now(ctx: AppContext) -> dt.date:
    """Pin the clock at the present instant; the test's sessions are dated from it."""
    clock = FixedClock(dt.datetime.now(dt.UTC))
    ctx.clock = clock
    return today_in_india(clock.now())


async def _session_on(ctx: AppContext, center_id: int, day: dt.date, **kw: object) -> SessionRef:
    ahead = (day - today_in_india(ctx.clock.now())).days
    return await make_session(ctx, center_id=center_id, days_ahead=ahead, **kw)  # type: ignore[arg-type]


async def _walk_in(client: httpx.AsyncClient, outbox: Outbox, day: Day, name: str) -> str:
    """A person verified by OTP at the centre and registered there (no appointment)."""
    found = await otp_lookup(client, outbox, day.vaccinator, next_mobile())
    response = await client.post(
        f"/api/staff/lookup/{found['txnId']}/beneficiaries",
        json=adult(name, birth_year="1970"),
        headers=day.vaccinator.headers,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["beneficiary_reference_id"])


async def _vaccinate(
    client: httpx.AsyncClient, day: Day, reference_id: str, session_id: str, key: str
) -> httpx.Response:
    return await client.post(
        "/api/staff/vaccinations",
        json={
            "beneficiary_reference_id": reference_id,
            "session_id": session_id,
            "vaccine": "COVISHIELD",
            "dose": 1,
            "batch": day.lot,
        },
        headers={**day.vaccinator.headers, "Idempotency-Key": key},
    )


def _refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["errorCode"] == code
    assert body["error"]


async def test_walk_in_at_a_cancelled_session_is_refused(client, ctx, outbox):
    """The issue's case: booked, session cancelled, OTP look-up, the fixed interface."""
    _pin_now(ctx)
    day = await setup_day(ctx, client)
    person = await book(client, outbox, day.session)
    cancelled = await client.post(
        f"/api/staff/sessions/{day.session.session_id}/cancel", headers=day.manager.headers
    )
    assert cancelled.status_code == 200, cancelled.text
    await otp_lookup(client, outbox, day.vaccinator, person.mobile)
    response = await _vaccinate(client, day, person.reference_id, day.session.session_id, "c-1")
    _refused(response, 409, "VACCIN0023")
    # Nor by the other route, naming the session or not (no other session is open today).
    named = await client.post(
        "/api/staff/doses",
        json=dose_body(person.reference_id, day.lot, session_id=day.session.session_id),
        headers={**day.vaccinator.headers, "Idempotency-Key": "c-2"},
    )
    _refused(named, 409, "VACCIN0023")
    unnamed = await client.post(
        "/api/staff/doses",
        json=dose_body(person.reference_id, day.lot),
        headers={**day.vaccinator.headers, "Idempotency-Key": "c-3"},
    )
    _refused(unnamed, 422, "VACCIN0026")
    assert await _written(ctx) == NOTHING


async def test_walk_in_other_centre_future_and_too_old_sessions(client, ctx, outbox):
    today = _pin_now(ctx)
    day = await setup_day(ctx, client)
    reference_id = await _walk_in(client, outbox, day, "Meena Devi")
    other = await _session_on(ctx, await make_center(ctx), today)
    tomorrow = await _session_on(ctx, day.center_id, today + dt.timedelta(days=1))
    old = await _session_on(ctx, day.center_id, today - dt.timedelta(days=2))  # window: 1 day

    response = await _vaccinate(client, day, reference_id, other.session_id, "o-1")
    _refused(response, 404, "VACCIN0404")
    response = await _vaccinate(client, day, reference_id, tomorrow.session_id, "o-2")
    _refused(response, 422, "VACCIN0024")
    response = await _vaccinate(client, day, reference_id, old.session_id, "o-3")
    _refused(response, 422, "VACCIN0025")
    # A stated time on another day than the session's.
    response = await client.post(
        "/api/staff/doses",
        json=dose_body(
            reference_id,
            day.lot,
            session_id=day.session.session_id,
            administered_at=(
                dt.datetime.combine(today - dt.timedelta(days=1), dt.time(10, 0), IST)
            ).isoformat(),
        ),
        headers={**day.vaccinator.headers, "Idempotency-Key": "o-4"},
    )
    _refused(response, 422, "VACCIN0027")
    # Another vaccine than the session's.
    response = await client.post(
        "/api/staff/vaccinations",
        json={
            "beneficiary_reference_id": reference_id,
            "session_id": day.session.session_id,
            "vaccine": "COVAXIN",
            "dose": 1,
            "batch": day.lot,
        },
        headers={**day.vaccinator.headers, "Idempotency-Key": "o-5"},
    )
    _refused(response, 422, "VACCIN0009")
    assert await _written(ctx) == NOTHING

    # Today's open session of the centre accepts the dose: the refusals left no trace.
    response = await _vaccinate(client, day, reference_id, day.session.session_id, "o-6")
    assert response.status_code == 201, response.text
    assert response.json()["certificate_id"]
    assert await _written(ctx) == Written(1, 1, 1, 2)


async def test_back_dating_window_follows_the_clock(client, ctx, outbox):
    """The session's date is judged against ctx.clock's day (India time), not the host's."""
    today = _pin_now(ctx)
    day = await setup_day(ctx, client)
    reference_id = await _walk_in(client, outbox, day, "Meena Devi")
    # The clock says it is already the next day, just after midnight India time: the
    # session is yesterday's, inside the one-day back-dating window, and the dose is dated
    # the session's day.
    ctx.clock = FixedClock(dt.datetime.combine(today + dt.timedelta(days=1), dt.time(0, 5), IST))
    response = await _vaccinate(client, day, reference_id, day.session.session_id, "b-1")
    assert response.status_code == 201, response.text
    assert response.json()["administered_on"] == today.strftime("%d-%m-%Y")

    # Two days later it is too old; the day before, it is in the future.
    second = await _walk_in(client, outbox, day, "Ravi Kumar")
    ctx.clock = FixedClock(dt.datetime.combine(today + dt.timedelta(days=2), dt.time(0, 5), IST))
    response = await _vaccinate(client, day, second, day.session.session_id, "b-2")
    _refused(response, 422, "VACCIN0025")
    ctx.clock = FixedClock(dt.datetime.combine(today - dt.timedelta(days=1), dt.time(23, 55), IST))
    response = await _vaccinate(client, day, second, day.session.session_id, "b-3")
    _refused(response, 422, "VACCIN0024")
    assert (await _written(ctx)).doses == 1


async def test_roster_path_session_rule(client, ctx, outbox):
    """Secret-code path: the appointment's own session is judged by the same rule."""
    today = _pin_now(ctx)
    day = await setup_day(ctx, client)
    staff = day.vaccinator.headers
    tomorrow = await _session_on(ctx, day.center_id, today + dt.timedelta(days=1))
    early = await book(client, outbox, tomorrow, name="Asha Kumari")
    response = await client.post(
        f"/api/staff/appointments/{early.appointment_id}/check-in",
        json={"code": early.code},
        headers=staff,
    )
    assert response.status_code == 200, response.text
    response = await client.post(
        "/api/staff/doses",
        json=dose_body(early.reference_id, day.lot, appointment_id=early.appointment_id),
        headers={**staff, "Idempotency-Key": "r-1"},
    )
    _refused(response, 422, "VACCIN0024")

    # A session marked cancelled while its appointment is still booked and checked in
    # (the rule does not rely on the cancellation having cancelled every appointment).
    person = await book(client, outbox, day.session, name="Ravi Kumar")
    response = await client.post(
        f"/api/staff/appointments/{person.appointment_id}/check-in",
        json={"code": person.code},
        headers=staff,
    )
    assert response.status_code == 200, response.text
    async with ctx.db.transaction() as session:
        await session.execute(
            update(VaccinationSession)
            .where(VaccinationSession.session_id == day.session.session_id)
            .values(status="cancelled")
        )
    for key, body in (
        ("r-2", dose_body(person.reference_id, day.lot, appointment_id=person.appointment_id)),
        ("r-3", dose_body(person.reference_id, day.lot, session_id=day.session.session_id)),
    ):
        response = await client.post(
            "/api/staff/doses", json=body, headers={**staff, "Idempotency-Key": key}
        )
        _refused(response, 409, "VACCIN0023")
    response = await _vaccinate(client, day, person.reference_id, day.session.session_id, "r-4")
    _refused(response, 409, "VACCIN0023")
    assert await _written(ctx) == NOTHING


async def test_break_glass_cannot_record_a_dose(client, ctx, outbox):
    """Break-glass lets staff read a record in an emergency; it never lets them record."""
    _pin_now(ctx)
    day = await setup_day(ctx, client)
    person = await book(client, outbox, day.session)
    elsewhere_center = await make_center(ctx)
    elsewhere = await make_staff(ctx, "vaccinator", f"center:{elsewhere_center}")
    own_session = await make_session(ctx, center_id=elsewhere_center, days_ahead=0)
    response = await client.post(
        "/api/staff/break-glass",
        json={
            "beneficiary_reference_id": person.reference_id,
            "reason": "Patient collapsed at our centre and needs the dose history now.",
        },
        headers=elsewhere.headers,
    )
    assert response.status_code == 201, response.text
    response = await client.post(
        "/api/staff/vaccinations",
        json={
            "beneficiary_reference_id": person.reference_id,
            "session_id": own_session.session_id,
            "vaccine": "COVISHIELD",
            "dose": 1,
            "batch": day.lot,
        },
        headers={**elsewhere.headers, "Idempotency-Key": "g-1"},
    )
    _refused(response, 404, "BENREG0404")
    assert await _written(ctx) == NOTHING
