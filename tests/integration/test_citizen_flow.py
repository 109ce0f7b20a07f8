"""OTP → register → list → delete, with Co-WIN's shapes, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from tests.conftest import bearer, login
from tests.factories import aadhaar, adult


async def test_full_citizen_flow(client, outbox):
    token = await login(client, outbox, "+91 98765-43210")
    number = aadhaar(1)
    response = await client.post(
        "/api/v2/registration/beneficiary/new", json=adult(id_number=number), headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    ref = response.json()["beneficiary_reference_id"]
    assert len(ref) == 14 and ref.isdigit()

    listing = await client.get("/api/v2/appointment/beneficiaries", headers=bearer(token))
    assert listing.status_code == 200
    (person,) = listing.json()["beneficiaries"]
    assert person["beneficiary_reference_id"] == ref
    assert person["name"] == "Asha Kumari"
    assert person["birth_year"] == "1985"
    assert person["photo_id_number"] == "XXXXXXXX" + number[-4:]
    assert person["mobile_number"] == "XXXXXX3210"
    assert person["vaccination_status"] == "Not Vaccinated"
    assert person["appointments"] == []

    deleted = await client.post(
        "/api/v2/registration/beneficiary/delete",
        json={"beneficiary_reference_id": ref},
        headers=bearer(token),
    )
    assert deleted.status_code == 204
    listing = await client.get("/api/v2/appointment/beneficiaries", headers=bearer(token))
    assert listing.json()["beneficiaries"] == []


async def test_states_and_districts(client):
    states = (await client.get("/api/v2/admin/location/states")).json()
    assert len(states["states"]) == 37
    districts = (await client.get("/api/v2/admin/location/districts/16")).json()["districts"]
    assert any(
        d["district_name"] == "Bangalore Urban" or d["district_id"] == 265 for d in districts
    )


async def test_indic_names_with_joiners_register_and_come_back_unchanged(client, outbox):
    token = await login(client, outbox, "9876543211")
    names = ["അരുണ്\u200d കുമാര്\u200d", "श्री\u200cनिवास", "क्\u200dषमा देवी"]
    for n, name in enumerate(names):
        response = await client.post(
            "/api/v2/registration/beneficiary/new",
            json=adult(name, id_number=aadhaar(90 + n)),
            headers=bearer(token),
        )
        assert response.status_code == 200, response.text
    listing = await client.get("/api/v2/appointment/beneficiaries", headers=bearer(token))
    assert [p["name"] for p in listing.json()["beneficiaries"]] == names
    bidi = await client.post(
        "/api/v2/registration/beneficiary/new",
        json=adult("अरुण\u202eकुमार", id_number=aadhaar(99)),
        headers=bearer(token),
    )
    assert bidi.status_code == 400 and bidi.json()["errorCode"] == "BENREG0400"


async def test_a_child_born_today_in_india_registers_after_midnight_india_time(
    client, outbox, clock
):
    # 00:30 in India is 19:00 UTC of the day before: the date of birth is India's today,
    # which the server's UTC date would call "in the future".
    india = dt.timezone(dt.timedelta(hours=5, minutes=30))
    clock.set(dt.datetime(2026, 3, 2, 0, 30, tzinfo=india))
    token = await login(client, outbox, "9876500011")
    body = adult(id_number=aadhaar(7))
    body.update(birth_year="2026", date_of_birth="02-03-2026")
    response = await client.post(
        "/api/v2/registration/beneficiary/new", json=body, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
