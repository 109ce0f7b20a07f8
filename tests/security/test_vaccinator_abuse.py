"""A vaccinator's login (or whoever holds it) cannot turn into a look-up service."""

from __future__ import annotations

import json

from sqlalchemy import select

from immunet.security.models import AuditEvent
from immunet.vaccination.models import DoseRecord
from tests.conftest import bearer, login, sha
from tests.factories import adult
from tests.factories.sessions import make_session
from tests.factories.staff import make_staff
from tests.factories.vaccination import (
    book,
    dose_body,
    last_lookup_otp,
    next_mobile,
    otp_lookup,
    setup_day,
)

PERSONAL = ("Asha", "Kumari", "XXXXXXXX", "birth_year", "name")


def _no_personal_data(text: str) -> None:
    for word in PERSONAL:
        assert word not in text, word


async def _viewed(ctx) -> list[AuditEvent]:
    async with ctx.db.reader() as session:
        return list(
            (
                await session.execute(
                    select(AuditEvent)
                    .where(AuditEvent.action == "people:beneficiary:viewed")
                    .order_by(AuditEvent.seq)
                )
            ).scalars()
        )


async def test_other_centre_is_invisible(client, ctx, outbox):
    a = await setup_day(ctx, client)
    b = await setup_day(ctx, client)
    person_b = await book(client, outbox, b.session)
    staff_a = a.vaccinator.headers

    roster = await client.get(f"/api/staff/sessions/{b.session.session_id}/roster", headers=staff_a)
    missing = await client.get(
        "/api/staff/sessions/00000000-0000-4000-8000-000000000000/roster", headers=staff_a
    )
    assert roster.status_code == missing.status_code == 404
    assert roster.json() == missing.json()

    check_in = await client.post(
        f"/api/staff/appointments/{person_b.appointment_id}/check-in",
        json={"code": person_b.code},
        headers=staff_a,
    )
    assert check_in.status_code == 404
    _no_personal_data(check_in.text)

    # Recording for a person of another centre, and for a reference that never existed.
    stranger = await client.post(
        "/api/staff/doses",
        json=dose_body(person_b.reference_id, a.lot),
        headers={**staff_a, "Idempotency-Key": "stranger"},
    )
    nobody = await client.post(
        "/api/staff/doses",
        json=dose_body("99999999999999", a.lot),
        headers={**staff_a, "Idempotency-Key": "nobody"},
    )
    assert stranger.status_code == nobody.status_code == 404
    assert stranger.json() == nobody.json()
    async with ctx.db.reader() as session:
        assert (await session.execute(select(DoseRecord))).first() is None

    aefi = await client.post(
        "/api/staff/aefi",
        json={
            "beneficiary_reference_id": person_b.reference_id,
            "symptoms": ["fever"],
            "onset_date": "01-01-2024",
            "severity": "mild",
            "outcome": "recovered",
        },
        headers=staff_a,
    )
    assert aefi.status_code == 404
    assert await _viewed(ctx) == []


async def test_roster_only_for_yesterday_to_tomorrow(client, ctx, outbox):
    day = await setup_day(ctx, client)
    later = await make_session(ctx, center_id=day.center_id, days_ahead=3)
    response = await client.get(
        f"/api/staff/sessions/{later.session_id}/roster", headers=day.vaccinator.headers
    )
    assert response.status_code == 404


async def test_lookup_by_mobile_without_otp_reveals_nothing(client, ctx, outbox):
    day = await setup_day(ctx, client)
    person = await book(client, outbox, day.session)
    staff = day.vaccinator.headers
    registered = await client.post(
        "/api/staff/lookup/otp", json={"mobile": person.mobile}, headers=staff
    )
    unknown = await client.post(
        "/api/staff/lookup/otp", json={"mobile": next_mobile()}, headers=staff
    )
    assert registered.status_code == unknown.status_code == 200
    assert set(registered.json()) == set(unknown.json()) == {"txnId"}
    # Guessing the OTP: generic 401s, nothing personal, and the transaction dies.
    for guess in ("000000", "111111", "222222", "333333"):
        response = await client.post(
            "/api/staff/lookup/confirm",
            json={"txnId": registered.json()["txnId"], "otp": sha(guess)},
            headers=staff,
        )
        assert response.status_code in (401, 429)
        _no_personal_data(response.text)
    real = last_lookup_otp(outbox, person.mobile)
    late = await client.post(
        "/api/staff/lookup/confirm",
        json={"txnId": registered.json()["txnId"], "otp": sha(real)},
        headers=staff,
    )
    assert late.status_code in (401, 429)
    _no_personal_data(late.text)
    # There is no look-up by mobile or ID number at all besides the OTP flow.
    for path in (
        f"/api/staff/lookup?mobile={person.mobile}",
        f"/api/staff/beneficiaries?mobile={person.mobile}",
        f"/api/v2/vaccinator/beneficiaries/findByMobile?mobile_number={person.mobile}",
        f"/api/v2/vaccinator/beneficiaries/findByReferenceId?beneficiary_reference_id={person.reference_id}",
    ):
        response = await client.get(path, headers=staff)
        assert response.status_code in (404, 405)
        _no_personal_data(response.text)
    # Registering a walk-in under a look-up that was never verified: refused.
    response = await client.post(
        f"/api/staff/lookup/{registered.json()['txnId']}/beneficiaries",
        json={"name": "X Y", "birth_year": "1980", "gender_id": 1},
        headers=staff,
    )
    assert response.status_code == 404


async def test_lookup_otp_is_bound_to_the_staff_user(client, ctx, outbox):
    day = await setup_day(ctx, client)
    person = await book(client, outbox, day.session)
    colleague = await make_staff(ctx, "vaccinator", f"center:{day.center_id}")
    sent = await client.post(
        "/api/staff/lookup/otp", json={"mobile": person.mobile}, headers=day.vaccinator.headers
    )
    otp = last_lookup_otp(outbox, person.mobile)
    stolen = await client.post(
        "/api/staff/lookup/confirm",
        json={"txnId": sent.json()["txnId"], "otp": sha(otp)},
        headers=colleague.headers,
    )
    assert stolen.status_code == 401
    # Nor can the look-up OTP log anyone in as the citizen.
    as_citizen = await client.post(
        "/api/v2/auth/public/confirmOTP", json={"txnId": sent.json()["txnId"], "otp": sha(otp)}
    )
    assert as_citizen.status_code == 401


async def test_grant_is_per_staff_user(client, ctx, outbox):
    day = await setup_day(ctx, client)
    mobile = next_mobile()
    token = await login(client, outbox, mobile)
    response = await client.post(
        "/api/v2/registration/beneficiary/new",
        json=adult("Walk In", birth_year="1980"),
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    reference_id = response.json()["beneficiary_reference_id"]
    await otp_lookup(client, outbox, day.vaccinator, mobile)
    colleague = await make_staff(ctx, "vaccinator", f"center:{day.center_id}")
    response = await client.post(
        "/api/staff/doses",
        json=dose_body(reference_id, day.lot),
        headers={**colleague.headers, "Idempotency-Key": "colleague"},
    )
    assert response.status_code == 404
    response = await client.post(
        "/api/staff/doses",
        json=dose_body(reference_id, day.lot),
        headers={**day.vaccinator.headers, "Idempotency-Key": "verified"},
    )
    assert response.status_code == 201, response.text


async def test_roles_that_may_not(client, ctx, outbox):
    day = await setup_day(ctx, client)
    person = await book(client, outbox, day.session)
    verifier = await make_staff(ctx, "verifier", f"center:{day.center_id}")
    district = await make_staff(ctx, "district_admin", "district:294")
    calls = [
        ("GET", f"/api/staff/sessions/{day.session.session_id}/roster", None),
        ("POST", f"/api/staff/appointments/{person.appointment_id}/check-in", {"code": "0000"}),
        (
            "POST",
            "/api/staff/checkin",
            {"appointment_id": person.appointment_id, "secret_code": "0000"},
        ),
        ("POST", "/api/staff/lookup/otp", {"mobile": person.mobile}),
        ("POST", "/api/staff/lookup/confirm", {"txnId": "0" * 36, "otp": "0" * 64}),
        ("POST", "/api/staff/doses", dose_body(person.reference_id, day.lot)),
        (
            "POST",
            "/api/staff/stock",
            {"vaccine": "COVISHIELD", "lot": "L9", "expiry": "01-01-2099", "quantity": 5},
        ),
        ("GET", "/api/staff/stock", None),
    ]
    for headers in (verifier.headers, district.headers):
        for method, path, body in calls:
            if headers is district.headers and path == "/api/staff/stock" and method == "GET":
                continue
            response = await client.request(
                method, path, json=body, headers={**headers, "Idempotency-Key": "x"}
            )
            assert response.status_code == 403, (method, path, response.text)
            _no_personal_data(response.text)
    # A vaccinator may neither receive stock nor void doses; a citizen token is no staff token.
    vac = day.vaccinator.headers
    assert (
        await client.post(
            "/api/staff/stock",
            json={"vaccine": "COVISHIELD", "lot": "L9", "expiry": "01-01-2099", "quantity": 5},
            headers=vac,
        )
    ).status_code == 403
    citizen = await client.get(
        f"/api/staff/sessions/{day.session.session_id}/roster", headers=bearer(person.token)
    )
    assert citizen.status_code == 401
    staff_on_citizen = await client.post(
        "/api/v2/me/aefi",
        json={
            "beneficiary_reference_id": person.reference_id,
            "symptoms": ["fever"],
            "onset_date": "01-01-2024",
            "severity": "mild",
            "outcome": "recovered",
        },
        headers=vac,
    )
    assert staff_on_citizen.status_code == 401
    assert await _viewed(ctx) == []


async def test_every_staff_read_is_audited_with_purpose_and_channel(client, ctx, outbox):
    day = await setup_day(ctx, client)
    people = [await book(client, outbox, day.session) for _ in range(3)]
    staff = day.vaccinator.headers
    await client.get(f"/api/staff/sessions/{day.session.session_id}/roster", headers=staff)
    events = await _viewed(ctx)
    assert {e.subject_ref for e in events} == {f"beneficiary:{p.reference_id}" for p in people}
    assert all(e.purpose == "session-roster" for e in events)
    await client.post(
        f"/api/staff/appointments/{people[0].appointment_id}/check-in",
        json={"code": people[0].code},
        headers=staff,
    )
    await otp_lookup(client, outbox, day.vaccinator, people[1].mobile)
    events = await _viewed(ctx)
    assert len(events) == 5
    channels = [json.loads(e.detail or "{}")["channel"] for e in events]
    assert channels[-2:] == ["secret-code", "otp-verified"]
    for event in events:
        assert event.actor == f"staff:{day.vaccinator.user_id}"
        detail = json.loads(event.detail or "{}")
        assert set(detail) == {"channel", "role", "organisation"}
        assert detail["organisation"] == f"center:{day.center_id}"
        _no_personal_data(event.detail or "")


async def test_wrong_codes_lock_the_appointment(client, ctx, outbox):
    day = await setup_day(ctx, client)
    person = await book(client, outbox, day.session)
    staff = day.vaccinator.headers
    wrong = "0000" if person.code != "0000" else "1111"
    statuses = []
    for _ in range(5):
        response = await client.post(
            f"/api/staff/appointments/{person.appointment_id}/check-in",
            json={"code": wrong},
            headers=staff,
        )
        statuses.append(response.status_code)
        _no_personal_data(response.text)
    assert statuses == [422, 422, 422, 422, 423]
    # The appointment's lock-out is an alert for the admins above the vaccinator.
    admin = await make_staff(ctx, "district_admin", "district:294")
    alerts = (await client.get("/api/staff/alerts", headers=admin.headers)).json()["alerts"]
    assert [(a["kind"], a["staff_username"]) for a in alerts] == [
        ("codes.appointment-locked", day.vaccinator.username)
    ]
    right = await client.post(
        f"/api/staff/appointments/{person.appointment_id}/check-in",
        json={"code": person.code},
        headers=staff,
    )
    assert right.status_code == 423
    _no_personal_data(right.text)
    # A QR for another appointment never checks this one in.
    other = await book(client, outbox, day.session)
    qr = json.dumps({"appointment_id": person.appointment_id, "code": other.code})
    response = await client.post(
        f"/api/staff/appointments/{other.appointment_id}/check-in",
        json={"code": qr},
        headers=staff,
    )
    assert response.status_code == 422


async def test_wrong_codes_count_against_the_vaccinator(client_with, ctx, outbox):
    client = await client_with(staff_code_failures_per_hour=3)
    day = await setup_day(ctx, client)
    people = [await book(client, outbox, day.session) for _ in range(2)]
    staff = day.vaccinator.headers
    statuses = []
    for person in people * 2:
        wrong = "0000" if person.code != "0000" else "1111"
        response = await client.post(
            f"/api/staff/appointments/{person.appointment_id}/check-in",
            json={"code": wrong},
            headers=staff,
        )
        statuses.append(response.status_code)
    assert statuses[:3] == [422, 422, 422]
    assert statuses[3] == 429
    # Over quota, even a right code is refused until the window passes.
    response = await client.post(
        f"/api/staff/appointments/{people[0].appointment_id}/check-in",
        json={"code": people[0].code},
        headers=staff,
    )
    assert response.status_code == 429
    assert "Retry-After" in response.headers


async def test_person_read_quota(client_with, ctx, outbox):
    client = await client_with(staff_reads_per_hour=2)
    day = await setup_day(ctx, client)
    people = [await book(client, outbox, day.session) for _ in range(3)]
    staff = day.vaccinator.headers
    # The roster (and a person presenting their code) is exempt: always readable.
    for _ in range(3):
        roster = await client.get(
            f"/api/staff/sessions/{day.session.session_id}/roster", headers=staff
        )
        assert roster.status_code == 200
    # Look-ups count: the third person found by OTP is over the hourly quota.
    statuses = []
    for person in people:
        sent = await client.post(
            "/api/staff/lookup/otp", json={"mobile": person.mobile}, headers=staff
        )
        assert sent.status_code == 200, sent.text
        otp = sha(last_lookup_otp(outbox, person.mobile))
        response = await client.post(
            "/api/staff/lookup/confirm",
            json={"txnId": sent.json()["txnId"], "otp": otp},
            headers=staff,
        )
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert "Retry-After" in response.headers
            _no_personal_data(response.text)
    assert statuses == [200, 200, 429]


async def test_citizen_aefi_only_for_own_beneficiary(client, ctx, outbox):
    day = await setup_day(ctx, client)
    owner = await book(client, outbox, day.session)
    other = await login(client, outbox, next_mobile())
    body = {
        "beneficiary_reference_id": owner.reference_id,
        "symptoms": ["fever"],
        "onset_date": "01-01-2024",
        "severity": "mild",
        "outcome": "recovered",
    }
    response = await client.post("/api/v2/me/aefi", json=body, headers=bearer(other))
    assert response.status_code == 404
    bad = await client.post(
        "/api/v2/me/aefi",
        json={**body, "symptoms": ["x" * 100]},
        headers=bearer(owner.token),
    )
    assert bad.status_code in (400, 422)
