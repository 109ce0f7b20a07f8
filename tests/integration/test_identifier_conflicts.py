"""Duplicates of an ID number are resolved at the centre, where the person is present.

A registration whose ID number another registration holds too is shown to the vaccinator
flagged (roster, check-in), a dose needs the explicit photo-ID confirmation, and the
doses of every registration of the number count: nobody gets a second course through a
second registration. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json

from sqlalchemy import func, select

from immunet.booking.rules import today_in_india
from immunet.db.base import utcnow
from immunet.security.models import AuditEvent
from immunet.vaccination.models import DoseRecord
from tests.conftest import bearer, login, register
from tests.factories import aadhaar, adult
from tests.factories.sessions import record_dose
from tests.factories.vaccination import book, dose_body, next_mobile, otp_lookup, setup_day


async def _recorded(ctx) -> int:
    async with ctx.db.reader() as session:
        stmt = select(func.count()).select_from(DoseRecord).where(DoseRecord.status == "recorded")
        return int((await session.execute(stmt)).scalar_one())


async def _roster_flags(client, day) -> dict[str, bool]:
    response = await client.get(
        f"/api/staff/sessions/{day.session.session_id}/roster", headers=day.vaccinator.headers
    )
    assert response.status_code == 200, response.text
    return {
        e["beneficiary_reference_id"]: e["id_conflict"] for e in response.json()["appointments"]
    }


async def _check_in(client, day, person) -> dict[str, object]:
    response = await client.post(
        f"/api/staff/appointments/{person.appointment_id}/check-in",
        json={"code": person.code},
        headers=day.vaccinator.headers,
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def _dose(client, day, person, key: str, **extra):
    body = dose_body(person.reference_id, day.lot, appointment_id=person.appointment_id, **extra)
    return await client.post(
        "/api/staff/doses", json=body, headers={**day.vaccinator.headers, "Idempotency-Key": key}
    )


async def test_a_flagged_registration_needs_the_photo_id_and_gets_no_second_course(
    client, ctx, outbox
):
    day = await setup_day(ctx, client)
    number = aadhaar(4000)
    holder = await book(client, outbox, day.session, name="Meena Rao", id_number=number)
    bystander = await book(client, outbox, day.session, name="Ravi Kumar")
    assert (await _check_in(client, day, holder))["id_conflict"] is False
    first = await _dose(client, day, holder, "holder-1")
    assert first.status_code == 201, first.text

    # Someone registers the same Aadhaar from another mobile and books the same session.
    again = await book(client, outbox, day.session, name="Meena Rao", id_number=number)
    flags = await _roster_flags(client, day)
    assert flags == {
        holder.reference_id: True,
        again.reference_id: True,
        bystander.reference_id: False,
    }
    assert (await _check_in(client, day, again))["id_conflict"] is True

    # Without the photo-ID confirmation: refused, nothing recorded, no stock used.
    unchecked = await _dose(client, day, again, "again-1")
    assert unchecked.status_code == 409
    assert unchecked.json()["errorCode"] == "VACCIN0028"
    assert await _recorded(ctx) == 1
    # Confirmed, but dose 1 of this ID is recorded already (on the other registration).
    checked = await _dose(client, day, again, "again-2", photo_id_checked=True)
    assert checked.status_code == 409
    assert checked.json()["errorCode"] == "VACCIN0008"
    assert await _recorded(ctx) == 1

    # The duplicate registration is deleted by its account: the flag goes with it.
    deleted = await client.post(
        "/api/v2/registration/beneficiary/delete",
        json={"beneficiary_reference_id": again.reference_id},
        headers=bearer(again.token),
    )
    assert deleted.status_code == 204, deleted.text
    assert (await _roster_flags(client, day))[holder.reference_id] is False


async def test_two_registrations_of_one_id_get_one_dose_under_concurrency(client, ctx, outbox):
    day = await setup_day(ctx, client)
    number = aadhaar(4100)
    one = await book(client, outbox, day.session, name="Arun Nair", id_number=number)
    two = await book(client, outbox, day.session, name="Arun Nair", id_number=number)
    for person in (one, two):
        assert (await _check_in(client, day, person))["id_conflict"] is True

    answers = await asyncio.gather(
        _dose(client, day, one, "race-one", photo_id_checked=True),
        _dose(client, day, two, "race-two", photo_id_checked=True),
    )
    assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
    (refused,) = [a for a in answers if a.status_code == 409]
    assert refused.json()["errorCode"] == "VACCIN0008"
    assert await _recorded(ctx) == 1

    # The recording says the vaccinator vouched for the photo ID.
    async with ctx.db.reader() as session:
        (event,) = (
            await session.execute(
                select(AuditEvent).where(AuditEvent.action == "vaccination:dose:recorded")
            )
        ).scalars()
    assert json.loads(event.detail or "{}")["photo_id_checked"] is True


async def test_doses_on_the_other_registration_continue_the_course(client, ctx, outbox):
    day = await setup_day(ctx, client)
    number = aadhaar(4200)
    holder_mobile, again_mobile = next_mobile(), next_mobile()
    holder = await login(client, outbox, holder_mobile)
    held = await register(client, holder, adult("Lata Iyer", id_number=number))
    assert held.status_code == 200, held.text
    given_on = today_in_india(utcnow()) - dt.timedelta(days=120)
    await record_dose(
        ctx,
        held.json()["beneficiary_reference_id"],
        dose=1,
        vaccine="COVISHIELD",
        given_on=given_on,
    )
    again = await login(client, outbox, again_mobile)
    ref = (await register(client, again, adult("Lata Iyer", id_number=number))).json()[
        "beneficiary_reference_id"
    ]
    # A walk-in: the person reads out the OTP of the second registration's mobile.
    lookup = await otp_lookup(client, outbox, day.vaccinator, again_mobile)
    assert [p["id_conflict"] for p in lookup["beneficiaries"]] == [True]
    headers = day.vaccinator.headers

    async def dose(number: int, key: str):
        return await client.post(
            "/api/staff/doses",
            json=dose_body(ref, day.lot, dose=number, photo_id_checked=True),
            headers={**headers, "Idempotency-Key": key},
        )

    first_again = await dose(1, "walk-in-1")
    assert first_again.status_code == 409 and first_again.json()["errorCode"] == "VACCIN0008"
    second = await dose(2, "walk-in-2")
    assert second.status_code == 201, second.text
    assert second.json()["dose"] == 2
    assert await _recorded(ctx) == 2
