"""Abuse of the children, pregnancy and routine-dose paths: another guardian's child, a
vaccinator of another facility, identifier look-ups, oversized input, the wrong audience."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from immunet.clock import india_today
from immunet.vaccination.models import DoseRecord
from tests.conftest import bearer, login
from tests.factories.staff import make_staff
from tests.factories.uip import child, ddmmyyyy, register_family, routine_dose, setup_routine_day
from tests.factories.vaccination import next_mobile, otp_lookup

PREGNANCY = "/api/v2/registration/beneficiary/pregnancy"


async def test_another_guardians_child_is_the_same_404_as_no_child(client, outbox, clock):
    today = india_today(clock.now())
    family = await register_family(client, outbox, today - dt.timedelta(days=10))
    stranger = await login(client, outbox, next_mobile())
    lmp = ddmmyyyy(today - dt.timedelta(weeks=6))
    theirs = await client.post(
        PREGNANCY,
        json={"beneficiary_reference_id": family.child_ref, "lmp": lmp},
        headers=bearer(stranger),
    )
    nobody = await client.post(
        PREGNANCY,
        json={"beneficiary_reference_id": "10000000000001", "lmp": lmp},
        headers=bearer(stranger),
    )
    assert theirs.status_code == nobody.status_code == 404
    assert theirs.json() == nobody.json()


async def test_a_vaccinator_of_another_facility_cannot_record_for_the_child(
    client, outbox, ctx, clock
):
    today = india_today(clock.now())
    day = await setup_routine_day(ctx, client)
    other = await setup_routine_day(ctx, client)
    family = await register_family(
        client, outbox, today - dt.timedelta(weeks=6), center_id=day.center_id
    )
    await otp_lookup(client, outbox, day.vaccinator, family.mobile)
    # The other facility's vaccinator never had the guardian's OTP: the child is not theirs,
    # even though the child's home facility is named and the reference ID is known.
    refused = await client.post(
        "/api/staff/doses",
        json=routine_dose(family.child_ref, "PENTA", other.lots["PENTA"]),
        headers={**other.vaccinator.headers, "Idempotency-Key": "other-centre"},
    )
    unknown = await client.post(
        "/api/staff/doses",
        json=routine_dose("10000000000002", "PENTA", other.lots["PENTA"]),
        headers={**other.vaccinator.headers, "Idempotency-Key": "other-centre-2"},
    )
    assert refused.status_code == unknown.status_code == 404
    assert refused.json() == unknown.json()
    # A verifier (no dose permission) of the same facility: refused by role.
    verifier = await make_staff(ctx, "verifier", f"center:{day.center_id}")
    by_role = await client.post(
        "/api/staff/doses",
        json=routine_dose(family.child_ref, "PENTA", day.lots["PENTA"]),
        headers={**verifier.headers, "Idempotency-Key": "verifier"},
    )
    assert by_role.status_code in (401, 403)
    async with ctx.db.reader() as session:
        count = (await session.execute(select(func.count()).select_from(DoseRecord))).scalar_one()
    assert count == 0


async def test_a_known_birth_certificate_number_answers_like_a_new_one(client, outbox, clock):
    today = india_today(clock.now())
    number = "BC2026KA000123"
    body = child(today, photo_id_type=10, photo_id_number=number)
    first = await login(client, outbox, next_mobile())
    second = await login(client, outbox, next_mobile())
    fresh = await client.post(
        "/api/v2/registration/beneficiary/child", json=body, headers=bearer(first)
    )
    again = await client.post(
        "/api/v2/registration/beneficiary/child", json=body, headers=bearer(second)
    )
    assert fresh.status_code == again.status_code == 200
    assert set(fresh.json()) == set(again.json()) == {"beneficiary_reference_id"}


async def test_oversized_and_wrong_audience_requests_change_nothing(client, outbox, ctx, clock):
    today = india_today(clock.now())
    token = await login(client, outbox, next_mobile())
    huge = await client.post(
        "/api/v2/registration/beneficiary/child",
        json=child(today, "A" * 5000),
        headers=bearer(token),
    )
    assert huge.status_code == 400
    staff = await make_staff(ctx, "vaccinator", "center:1")
    for path, body in (
        ("/api/v2/registration/beneficiary/child", child(today)),
        (PREGNANCY, {"beneficiary_reference_id": "10000000000003", "edd": ddmmyyyy(today)}),
    ):
        assert (await client.post(path, json=body)).status_code == 401
        assert (await client.post(path, json=body, headers=staff.headers)).status_code == 401
    listing = await client.get("/api/v2/appointment/beneficiaries", headers=bearer(token))
    assert listing.json()["beneficiaries"] == []
