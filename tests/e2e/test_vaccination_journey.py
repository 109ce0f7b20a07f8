"""The whole journey through the public interfaces, on SQLite and PostgreSQL: a citizen
books → the vaccinator checks in with the SMS code → records the dose → the citizen sees
the dose, a certificate that verifies, and the vaccinator's organisation in the access log;
then ``immunet audit verify``'s check holds over everything that happened."""

from __future__ import annotations

from immunet.security.audit import AuditChain
from tests.conftest import bearer
from tests.factories.vaccination import book, setup_day


async def test_book_check_in_vaccinate_certify_and_see_who_looked(client, ctx, outbox):
    day = await setup_day(ctx, client)
    citizen = await book(client, outbox, day.session, name="Meera Nair", birth_year="1979")
    staff = day.vaccinator.headers

    checked = await client.post(
        "/api/staff/checkin",
        json={"appointment_id": citizen.appointment_id, "secret_code": citizen.code},
        headers=staff,
    )
    assert checked.status_code == 200, checked.text
    assert checked.json()["photo_id_number"].startswith("XXXXXXXX")

    recorded = await client.post(
        "/api/staff/vaccinations",
        json={
            "beneficiary_reference_id": citizen.reference_id,
            "session_id": day.session.session_id,
            "vaccine": "COVISHIELD",
            "dose": 1,
            "batch": day.lot,
        },
        headers={**staff, "Idempotency-Key": f"journey-{citizen.appointment_id}"},
    )
    assert recorded.status_code in (200, 201), recorded.text
    assert recorded.json()["vaccination_id"]

    mine = await client.get("/api/v2/appointment/beneficiaries", headers=bearer(citizen.token))
    (person,) = mine.json()["beneficiaries"]
    assert person["vaccination_status"] == "Partially Vaccinated"
    assert person["vaccine"] == "COVISHIELD" and person["dose1_date"]

    formats = await client.get(
        "/api/v2/registration/certificate/public/formats",
        params={"beneficiary_reference_id": citizen.reference_id},
        headers=bearer(citizen.token),
    )
    assert formats.status_code == 200, formats.text
    verdict = await client.post(
        "/api/v2/certificates/verify", json={"qr": formats.json()["dcc"]["qr"]}
    )
    assert verdict.json()["valid"] is True, verdict.json()
    assert citizen.mobile not in verdict.text

    log = await client.get("/api/v2/me/access-log", headers=bearer(citizen.token))
    assert log.status_code == 200, log.text
    entries = log.json()["entries"]
    views = [e for e in entries if e["action"] == "people:beneficiary:viewed"]
    assert {e["purpose"] for e in views} == {"check-in", "dose-recording"}
    for entry in views:
        assert entry["beneficiary_reference_id"] == citizen.reference_id
        assert entry["who"]["role"] == "vaccinator"
        assert f"centre {day.center_id}" in entry["who"]["organisation"]
        assert entry["channel"] == "secret-code"
    # Who looked is an organisation and a role, never a staff member's name or id.
    assert day.vaccinator.username not in log.text
    assert f"staff:{day.vaccinator.user_id}" not in log.text

    async with ctx.db.reader() as session:
        assert (await AuditChain.verify(session)).ok
