"""The vaccinator's day end to end (real OTP, real routes), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import func, select

from immunet.booking.models import Appointment
from immunet.security.models import AuditEvent
from immunet.vaccination.models import DoseRecord, StockBatch
from tests.conftest import bearer
from tests.factories import adult
from tests.factories.vaccination import (
    add_expired_batch,
    book,
    dose_body,
    next_mobile,
    otp_lookup,
    setup_day,
)

ROSTER_KEYS = {
    "appointment_id",
    "beneficiary_reference_id",
    "name",
    "birth_year",
    "photo_id_type",
    "photo_id_number",
    "dose",
    "slot",
    "status",
    "id_conflict",
}


async def _doses(ctx, reference_id=None):
    async with ctx.db.reader() as session:
        stmt = select(func.count()).select_from(DoseRecord).where(DoseRecord.status == "recorded")
        return (await session.execute(stmt)).scalar_one()


async def _batch(ctx, lot):
    async with ctx.db.reader() as session:
        return (await session.execute(select(StockBatch).where(StockBatch.lot == lot))).scalar_one()


async def test_full_session_day(client, ctx, outbox):
    day = await setup_day(ctx, client)
    first = await book(client, outbox, day.session, name="Asha Kumari")
    second = await book(client, outbox, day.session, name="Ravi Kumar", birth_year="1990")
    staff = day.vaccinator.headers

    # Roster: masked, paged, one audit event per person shown.
    response = await client.get(
        f"/api/staff/sessions/{day.session.session_id}/roster?limit=50", headers=staff
    )
    assert response.status_code == 200, response.text
    roster = response.json()["appointments"]
    assert len(roster) == 2
    assert all(set(entry) == ROSTER_KEYS for entry in roster)
    assert {e["name"] for e in roster} == {"Asha Kumari", "Ravi Kumar"}
    for entry in roster:
        assert entry["photo_id_number"].startswith("XXXXXXXX")
        assert entry["status"] == "booked"
    page = await client.get(
        f"/api/staff/sessions/{day.session.session_id}/roster?limit=1&page=2", headers=staff
    )
    assert len(page.json()["appointments"]) == 1
    too_big = await client.get(
        f"/api/staff/sessions/{day.session.session_id}/roster?limit=500", headers=staff
    )
    assert too_big.status_code in (400, 422)

    # Check-in with the SMS code (and the slip's QR content for the second person).
    response = await client.post(
        f"/api/staff/appointments/{first.appointment_id}/check-in",
        json={"code": first.code},
        headers=staff,
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "checked-in"
    assert response.json()["beneficiary_reference_id"] == first.reference_id
    qr = json.dumps({"appointment_id": second.appointment_id, "code": second.code})
    response = await client.post(
        "/api/staff/checkin",
        json={"appointment_id": second.appointment_id, "secret_code": qr},
        headers=staff,
    )
    assert response.status_code == 200, response.text

    # Record dose 1 with an Idempotency-Key; a retry answers the same and records once.
    body = dose_body(first.reference_id, day.lot, appointment_id=first.appointment_id)
    headers = {**staff, "Idempotency-Key": "dose-first-1"}
    one = await client.post("/api/staff/doses", json=body, headers=headers)
    assert one.status_code == 201, one.text
    assert one.json()["certificate_id"]  # issued in the same transaction
    two = await client.post("/api/staff/doses", json=body, headers=headers)
    assert two.status_code == 201
    assert two.json() == one.json()
    assert two.headers.get("Idempotent-Replayed") == "true"
    assert await _doses(ctx) == 1
    assert (await _batch(ctx, day.lot)).doses_used == 1

    # Without the header: refused.
    missing = await client.post("/api/staff/doses", json=body, headers=staff)
    assert missing.status_code == 400
    assert missing.json()["errorCode"] == "VACCIN0030"

    # Ten concurrent identical requests for the second person record once.
    body2 = dose_body(second.reference_id, day.lot)
    headers2 = {**staff, "Idempotency-Key": "dose-second-1"}
    answers = await asyncio.gather(
        *[client.post("/api/staff/doses", json=body2, headers=headers2) for _ in range(10)]
    )
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.text for a in answers}) == 1
    assert await _doses(ctx) == 2
    assert (await _batch(ctx, day.lot)).doses_used == 2

    # The appointments are completed and the roster says so.
    async with ctx.db.reader() as session:
        statuses = set(
            (
                await session.execute(
                    select(Appointment.status).where(
                        Appointment.session_id == day.session.session_id
                    )
                )
            ).scalars()
        )
    assert statuses == {"completed"}

    # The same dose again under a new key: a double dose, refused.
    again = await client.post(
        "/api/staff/doses", json=body, headers={**staff, "Idempotency-Key": "dose-first-2"}
    )
    assert again.status_code == 409
    assert again.json()["errorCode"] == "VACCIN0008"

    # Dose 2 now is too early (COVISHIELD: 84 days): the person verifies by OTP.
    found = await otp_lookup(client, outbox, day.vaccinator, first.mobile)
    assert [b["beneficiary_reference_id"] for b in found["beneficiaries"]] == [first.reference_id]
    assert found["beneficiaries"][0]["doses"][0]["dose"] == 1
    early = await client.post(
        "/api/staff/doses",
        json=dose_body(first.reference_id, day.lot, dose=2),
        headers={**staff, "Idempotency-Key": "dose-first-dose2"},
    )
    assert early.status_code == 422
    assert early.json()["errorCode"] == "VACCIN0006"
    assert (await _batch(ctx, day.lot)).doses_used == 2

    # Every person shown was audited with purpose and channel, no name in the log.
    async with ctx.db.reader() as session:
        views = (
            (
                await session.execute(
                    select(AuditEvent).where(AuditEvent.action == "people:beneficiary:viewed")
                )
            )
            .scalars()
            .all()
        )
    assert views
    for event in views:
        detail = json.loads(event.detail or "{}")
        assert event.purpose
        assert detail["channel"] in {"roster", "secret-code", "otp-verified"}
        assert detail["organisation"] == f"center:{day.center_id}"
        assert detail["role"] == "vaccinator"
        assert "Asha" not in (event.detail or "") and "Ravi" not in (event.detail or "")


async def test_expired_batch_and_unknown_lot_refused(client, ctx, outbox):
    day = await setup_day(ctx, client)
    person = await book(client, outbox, day.session)
    staff = day.vaccinator.headers
    await add_expired_batch(ctx, day.center_id, "OLDLOT")
    response = await client.post(
        f"/api/staff/appointments/{person.appointment_id}/check-in",
        json={"code": person.code},
        headers=staff,
    )
    assert response.status_code == 200
    expired = await client.post(
        "/api/staff/doses",
        json=dose_body(person.reference_id, "OLDLOT"),
        headers={**staff, "Idempotency-Key": "k-expired"},
    )
    assert expired.status_code == 422
    assert expired.json()["errorCode"] == "VACCIN0011"
    unknown = await client.post(
        "/api/staff/doses",
        json=dose_body(person.reference_id, "NOSUCHLOT"),
        headers={**staff, "Idempotency-Key": "k-unknown"},
    )
    assert unknown.status_code == 422
    assert unknown.json()["errorCode"] == "VACCIN0010"
    assert await _doses(ctx) == 0
    # A retry of a failed request runs again (nothing stored): now with a good lot.
    ok = await client.post(
        "/api/staff/doses",
        json=dose_body(person.reference_id, day.lot),
        headers={**staff, "Idempotency-Key": "k-good"},
    )
    assert ok.status_code == 201, ok.text
    # Future and back-dated times are refused.
    future = await client.post(
        "/api/staff/doses",
        json=dose_body(person.reference_id, day.lot, administered_at="2999-01-01T10:00:00+05:30"),
        headers={**staff, "Idempotency-Key": "k-future"},
    )
    assert future.status_code == 422
    assert future.json()["errorCode"] == "VACCIN0001"
    old = await client.post(
        "/api/staff/doses",
        json=dose_body(person.reference_id, day.lot, administered_at="2020-01-01T10:00:00+05:30"),
        headers={**staff, "Idempotency-Key": "k-old"},
    )
    assert old.status_code == 422
    assert old.json()["errorCode"] == "VACCIN0002"


async def test_fixed_vaccinations_route_and_void(client, ctx, outbox):
    day = await setup_day(ctx, client)
    person = await book(client, outbox, day.session)
    staff = day.vaccinator.headers
    await client.post(
        "/api/staff/checkin",
        json={"appointment_id": person.appointment_id, "secret_code": person.code},
        headers=staff,
    )
    response = await client.post(
        "/api/staff/vaccinations",
        json={
            "beneficiary_reference_id": person.reference_id,
            "session_id": day.session.session_id,
            "vaccine": "COVISHIELD",
            "dose": 1,
            "batch": day.lot,
        },
        headers={**staff, "Idempotency-Key": "fixed-1"},
    )
    assert response.status_code == 201, response.text
    dose_id = int(response.json()["vaccination_id"])

    # The citizen sees the dose.
    listed = await client.get("/api/v2/appointment/beneficiaries", headers=bearer(person.token))
    assert listed.status_code == 200
    assert listed.json()["beneficiaries"][0]["dose1_date"]

    # A vaccinator may not void; the facility manager may, with a reason.
    refused = await client.post(
        f"/api/staff/doses/{dose_id}/void", json={"reason": "wrong person"}, headers=staff
    )
    assert refused.status_code == 403
    voided = await client.post(
        f"/api/staff/doses/{dose_id}/void",
        json={"reason": "recorded for the wrong person"},
        headers=day.manager.headers,
    )
    assert voided.status_code == 200, voided.text
    assert voided.json()["status"] == "voided"
    assert await _doses(ctx) == 0
    again = await client.post(
        f"/api/staff/doses/{dose_id}/void",
        json={"reason": "recorded for the wrong person"},
        headers=day.manager.headers,
    )
    assert again.status_code == 404


async def test_walk_in_lookup_and_registration(client, ctx, outbox):
    day = await setup_day(ctx, client)
    staff = day.vaccinator.headers
    mobile = next_mobile()
    # A mobile never seen: after the OTP, an empty account the vaccinator can register into.
    found = await otp_lookup(client, outbox, day.vaccinator, mobile)
    assert found["beneficiaries"] == []
    txn = found["txnId"]
    response = await client.post(
        f"/api/staff/lookup/{txn}/beneficiaries",
        json=adult("Meena Devi", birth_year="1970"),
        headers=staff,
    )
    assert response.status_code == 200, response.text
    reference_id = response.json()["beneficiary_reference_id"]
    # The walk-in is recorded via the OTP grant (no appointment).
    response = await client.post(
        "/api/staff/doses",
        json=dose_body(reference_id, day.lot),
        headers={**staff, "Idempotency-Key": "walk-in-1"},
    )
    assert response.status_code == 201, response.text
    # Another look-up of the same mobile shows the person, masked, with the dose.
    again = await otp_lookup(client, outbox, day.vaccinator, mobile)
    (person,) = again["beneficiaries"]
    assert person["name"] == "Meena Devi"
    assert person["photo_id_number"].startswith("XXXXXXXX")
    assert len(person["mobile_number"]) <= 4 or person["mobile_number"].startswith("X")
    assert person["doses"][0]["vaccine"] == "COVISHIELD"


async def test_stock_and_aefi(client, ctx, outbox):
    day = await setup_day(ctx, client, quantity=5)
    person = await book(client, outbox, day.session)
    staff = day.vaccinator.headers
    listed = await client.get("/api/staff/stock", headers=staff)
    assert listed.status_code == 200
    (batch,) = listed.json()["batches"]
    assert batch["doses_left"] == 5
    wasted = await client.post(
        f"/api/staff/stock/{batch['stock_id']}/waste",
        json={"doses": 2, "reason": "broken-vial"},
        headers=day.manager.headers,
    )
    assert wasted.status_code == 200, wasted.text
    assert wasted.json()["doses_left"] == 3
    over = await client.post(
        f"/api/staff/stock/{batch['stock_id']}/waste",
        json={"doses": 4, "reason": "broken-vial"},
        headers=day.manager.headers,
    )
    assert over.status_code == 422
    dup = await client.post(
        "/api/staff/stock",
        json={"vaccine": "COVISHIELD", "lot": day.lot, "expiry": "01-01-2099", "quantity": 1},
        headers=day.manager.headers,
    )
    assert dup.status_code == 409

    await client.post(
        f"/api/staff/appointments/{person.appointment_id}/check-in",
        json={"code": person.code},
        headers=staff,
    )
    dose = await client.post(
        "/api/staff/doses",
        json=dose_body(person.reference_id, day.lot),
        headers={**staff, "Idempotency-Key": "aefi-dose"},
    )
    assert dose.status_code == 201, dose.text
    onset = dose.json()["administered_on"]
    staff_report = await client.post(
        "/api/staff/aefi",
        json={
            "beneficiary_reference_id": person.reference_id,
            "symptoms": ["fever", "headache"],
            "onset_date": onset,
            "severity": "mild",
            "outcome": "recovering",
            "notes": "Felt warm after an hour.",
        },
        headers=staff,
    )
    assert staff_report.status_code == 201, staff_report.text
    citizen_report = await client.post(
        "/api/v2/me/aefi",
        json={
            "beneficiary_reference_id": person.reference_id,
            "symptoms": ["injection-site-pain"],
            "onset_date": onset,
            "severity": "moderate",
            "outcome": "recovered",
        },
        headers=bearer(person.token),
    )
    assert citizen_report.status_code == 201, citizen_report.text

    from tests.factories.staff import make_staff

    district_admin = await make_staff(ctx, "district_admin", "district:294")
    other_admin = await make_staff(ctx, "district_admin", "district:1")
    overview = await client.get("/api/staff/aefi", headers=district_admin.headers)
    assert overview.status_code == 200, overview.text
    data = overview.json()
    assert data["total"] == 2
    assert {c["key"]: c["count"] for c in data["by_severity"]} == {"mild": 1, "moderate": 1}
    assert data["by_vaccine"] == [{"key": "COVISHIELD", "count": 2}]
    text = overview.text
    assert person.reference_id not in text and "Asha" not in text and "warm" not in text
    elsewhere = await client.get("/api/staff/aefi", headers=other_admin.headers)
    assert elsewhere.json()["total"] == 0
    # A vaccinator cannot read the AEFI list.
    assert (await client.get("/api/staff/aefi", headers=staff)).status_code == 403
