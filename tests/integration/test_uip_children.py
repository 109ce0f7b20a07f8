"""Children and pregnancies (registered by the guardian) and routine doses judged by the
schedule engine as they are recorded, through the real routes on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from immunet.clock import india_today
from immunet.people.models import Beneficiary, Pregnancy
from immunet.security.models import AuditEvent
from immunet.vaccination.models import DoseRecord
from tests.conftest import bearer, login
from tests.factories import adult
from tests.factories.uip import (
    child,
    ddmmyyyy,
    register_family,
    routine_dose,
    setup_routine_day,
)
from tests.factories.vaccination import next_mobile, otp_lookup

CHILD = "/api/v2/registration/beneficiary/child"
PREGNANCY = "/api/v2/registration/beneficiary/pregnancy"


async def _beneficiary(ctx, ref: str) -> Beneficiary:
    async with ctx.db.reader() as session:
        row = (
            await session.execute(select(Beneficiary).where(Beneficiary.reference_id == ref))
        ).scalar_one()
        session.expunge(row)
        return row


async def test_a_guardian_registers_a_child_with_sealed_birth_date(client, outbox, ctx, clock):
    today = india_today(clock.now())
    born = today - dt.timedelta(days=40)
    center_day = await setup_routine_day(ctx, client)
    family = await register_family(client, outbox, born, center_id=center_day.center_id)
    row = await _beneficiary(ctx, family.child_ref)
    assert row.category == "child"
    assert row.guardian_relation == "mother"
    assert row.home_center_id == center_day.center_id
    assert row.birth_date_ct is not None
    assert born.isoformat().encode() not in row.birth_date_ct
    assert b"Meera" not in row.name_ct
    listing = await client.get("/api/v2/appointment/beneficiaries", headers=bearer(family.token))
    (person,) = listing.json()["beneficiaries"]
    assert person["name"] == "Meera Rao" and person["birth_year"] == str(born.year)
    async with ctx.db.reader() as session:
        purposes = list(
            (
                await session.execute(
                    select(AuditEvent.purpose).where(
                        AuditEvent.subject_ref == f"beneficiary:{family.child_ref}"
                    )
                )
            ).scalars()
        )
    assert purposes == ["child-registration"]


async def test_child_registration_rules(client, outbox, clock):
    today = india_today(clock.now())
    token = await login(client, outbox, next_mobile())
    headers = bearer(token)
    cases = [
        (child(today - dt.timedelta(days=19 * 365)), 400, "BENREG0400"),  # an adult
        (child(today + dt.timedelta(days=1)), 400, "BENREG0400"),  # not born yet
        (child(today, center_id=999_999), 400, "BENREG0400"),  # no such centre
        ({**child(today), "relation": "aunt"}, 400, None),  # unknown field
        (child(today, relation="neighbour"), 400, None),
        ({**child(today), "date_of_birth": "2024-01-01"}, 400, "BENREG0400"),
    ]
    for body, status, code in cases:
        response = await client.post(CHILD, json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        if code:
            assert response.json()["errorCode"] == code
    listing = await client.get("/api/v2/appointment/beneficiaries", headers=headers)
    assert listing.json()["beneficiaries"] == []  # bad input changed nothing


async def test_children_count_toward_the_six_per_mobile(client, outbox, clock):
    today = india_today(clock.now())
    token = await login(client, outbox, next_mobile())
    for n in range(6):
        response = await client.post(
            CHILD,
            json=child(today - dt.timedelta(days=n), f"Child {'abcdef'[n]}"),
            headers=bearer(token),
        )
        assert response.status_code == 200, response.text
    seventh = await client.post(CHILD, json=child(today, "Child Seven"), headers=bearer(token))
    assert seventh.status_code == 409
    assert seventh.json()["errorCode"] == "BENREG0006"


async def test_a_pregnancy_is_recorded_sealed_and_replaced_on_correction(
    client, outbox, ctx, clock
):
    today = india_today(clock.now())
    token = await login(client, outbox, next_mobile())
    response = await client.post(
        "/api/v2/registration/beneficiary/new", json=adult(birth_year="1996"), headers=bearer(token)
    )
    ref = response.json()["beneficiary_reference_id"]
    lmp = today - dt.timedelta(weeks=10)
    first = await client.post(
        PREGNANCY,
        json={"beneficiary_reference_id": ref, "lmp": ddmmyyyy(lmp)},
        headers=bearer(token),
    )
    assert first.status_code == 200, first.text
    assert first.json()["edd"] == ddmmyyyy(lmp + dt.timedelta(days=280))
    edd = today + dt.timedelta(weeks=20)
    second = await client.post(
        PREGNANCY,
        json={"beneficiary_reference_id": ref, "edd": ddmmyyyy(edd)},
        headers=bearer(token),
    )
    assert second.status_code == 200 and second.json()["edd"] == ddmmyyyy(edd)
    async with ctx.db.reader() as session:
        rows = list((await session.execute(select(Pregnancy).order_by(Pregnancy.id))).scalars())
    assert [(r.status, r.basis) for r in rows] == [("replaced", "lmp"), ("active", "edd")]
    assert all(edd.isoformat().encode() not in r.edd_ct for r in rows)
    assert (await _beneficiary(ctx, ref)).category == "pregnant"


async def test_pregnancy_rules(client, outbox, clock):
    today = india_today(clock.now())
    token = await login(client, outbox, next_mobile())
    headers = bearer(token)
    man = await client.post(
        "/api/v2/registration/beneficiary/new",
        json={**adult("Ravi Kumar", birth_year="1990"), "gender_id": 1},
        headers=headers,
    )
    girl = await client.post(CHILD, json=child(today - dt.timedelta(days=3000)), headers=headers)
    woman = await client.post(
        "/api/v2/registration/beneficiary/new", json=adult(birth_year="1996"), headers=headers
    )
    refs = [r.json()["beneficiary_reference_id"] for r in (man, girl, woman)]
    lmp = ddmmyyyy(today - dt.timedelta(weeks=8))
    cases = [
        ({"beneficiary_reference_id": refs[0], "lmp": lmp}, 400),  # a man
        ({"beneficiary_reference_id": refs[1], "lmp": lmp}, 400),  # a girl of eight
        ({"beneficiary_reference_id": refs[2]}, 400),  # neither date
        ({"beneficiary_reference_id": refs[2], "lmp": lmp, "edd": lmp}, 400),  # both
        (
            {"beneficiary_reference_id": refs[2], "lmp": ddmmyyyy(today - dt.timedelta(weeks=43))},
            400,
        ),
        (
            {"beneficiary_reference_id": refs[2], "edd": ddmmyyyy(today + dt.timedelta(weeks=41))},
            400,
        ),
        ({"beneficiary_reference_id": refs[2], "lmp": lmp, "week": 8}, 400),  # unknown field
        ({"beneficiary_reference_id": "10000000000000", "lmp": lmp}, 404),
    ]
    for body, status in cases:
        response = await client.post(PREGNANCY, json=body, headers=headers)
        assert response.status_code == status, (body, response.text)


async def test_routine_doses_are_judged_by_the_schedule_as_recorded(client, outbox, ctx, clock):
    today = india_today(clock.now())
    day = await setup_routine_day(ctx, client)
    # Six weeks old today: pentavalent-1 is due; four weeks old: it is too early.
    on_time = await register_family(client, outbox, today - dt.timedelta(weeks=6))
    early = await register_family(client, outbox, today - dt.timedelta(weeks=4))
    staff = day.vaccinator
    for family in (on_time, early):
        await otp_lookup(client, outbox, staff, family.mobile)

    valid = await client.post(
        "/api/staff/doses",
        json=routine_dose(on_time.child_ref, "PENTA", day.lots["PENTA"]),
        headers={**staff.headers, "Idempotency-Key": "penta-1-on-time"},
    )
    assert valid.status_code == 201, valid.text
    evaluation = valid.json()["evaluation"]
    assert evaluation["vaccine_group"] == "Pentavalent"
    assert evaluation["status"] == "Valid" and evaluation["reason"] is None
    assert evaluation["next_dose"]["dose_number"] == 2
    assert evaluation["next_dose"]["earliest_date"] == ddmmyyyy(today + dt.timedelta(weeks=4))

    too_early = await client.post(
        "/api/staff/doses",
        json=routine_dose(early.child_ref, "PENTA", day.lots["PENTA"]),
        headers={**staff.headers, "Idempotency-Key": "penta-1-early"},
    )
    assert too_early.status_code == 201, too_early.text
    assert too_early.json()["evaluation"]["status"] == "Not Valid"
    assert too_early.json()["evaluation"]["reason"] == "Age: Too Young"
    # The dose is still due: the engine forecasts dose 1 again, from six weeks of age.
    assert too_early.json()["evaluation"]["next_dose"]["dose_number"] == 1
    assert too_early.json()["evaluation"]["next_dose"]["earliest_date"] == ddmmyyyy(
        today + dt.timedelta(weeks=2)
    )
    async with ctx.db.reader() as session:
        rows = list((await session.execute(select(DoseRecord).order_by(DoseRecord.id))).scalars())
    verdicts = [
        (r.series_code, r.dose_number, r.evaluation_status, r.evaluation_reason) for r in rows
    ]
    assert verdicts == [
        ("uip-pentavalent", 1, "Valid", None),
        ("uip-pentavalent", 1, "Not Valid", "Age: Too Young"),
    ]
    # The child is now in this facility's catchment.
    assert (await _beneficiary(ctx, on_time.child_ref)).home_center_id == day.center_id

    # Same dose again: already recorded; a gap in the numbering: out of order.
    again = await client.post(
        "/api/staff/doses",
        json=routine_dose(on_time.child_ref, "PENTA", day.lots["PENTA"]),
        headers={**staff.headers, "Idempotency-Key": "penta-1-again"},
    )
    assert again.status_code == 409 and again.json()["errorCode"] == "VACCIN0008"
    gap = await client.post(
        "/api/staff/doses",
        json=routine_dose(on_time.child_ref, "PENTA", day.lots["PENTA"], dose=3),
        headers={**staff.headers, "Idempotency-Key": "penta-3-gap"},
    )
    assert gap.status_code == 422, gap.text

    # Other vaccines of the schedule at the same routine session, same visit.
    for vaccine in ("OPV", "ROTA", "FIPV"):
        response = await client.post(
            "/api/staff/doses",
            json=routine_dose(on_time.child_ref, vaccine, day.lots[vaccine], dose=1),
            headers={**staff.headers, "Idempotency-Key": f"{vaccine}-1"},
        )
        assert response.status_code == 201, response.text
        assert response.json()["evaluation"]["status"] == "Valid", (vaccine, response.text)


async def test_td_counts_for_the_pregnancy_while_one_is_recorded(client, outbox, ctx, clock):
    today = india_today(clock.now())
    day = await setup_routine_day(ctx, client)
    mobile = next_mobile()
    token = await login(client, outbox, mobile)
    woman = await client.post(
        "/api/v2/registration/beneficiary/new", json=adult(birth_year="1996"), headers=bearer(token)
    )
    ref = woman.json()["beneficiary_reference_id"]
    response = await client.post(
        PREGNANCY,
        json={"beneficiary_reference_id": ref, "lmp": ddmmyyyy(today - dt.timedelta(weeks=12))},
        headers=bearer(token),
    )
    assert response.status_code == 200
    await otp_lookup(client, outbox, day.vaccinator, mobile)
    td = await client.post(
        "/api/staff/doses",
        json=routine_dose(ref, "TD", day.lots["TD"]),
        headers={**day.vaccinator.headers, "Idempotency-Key": "td-1"},
    )
    assert td.status_code == 201, td.text
    evaluation = td.json()["evaluation"]
    assert evaluation["vaccine_group"] == "Td (pregnancy)" and evaluation["status"] == "Valid"
    assert evaluation["next_dose"]["earliest_date"] == ddmmyyyy(today + dt.timedelta(weeks=4))


async def test_a_newborn_registered_at_the_birth_facility_gets_the_birth_doses_at_once(
    client, outbox, ctx, clock
):
    today = india_today(clock.now())
    day = await setup_routine_day(ctx, client)
    mother = next_mobile()  # no account yet: the guardian's OTP creates it
    txn = (await otp_lookup(client, outbox, day.vaccinator, mother))["txnId"]
    response = await client.post(
        f"/api/staff/lookup/{txn}/beneficiaries",
        json={
            "name": "Baby of Asha",
            "date_of_birth": ddmmyyyy(today),
            "gender_id": 1,
            "guardian_relation": "mother",
        },
        headers=day.vaccinator.headers,
    )
    assert response.status_code == 200, response.text
    ref = response.json()["beneficiary_reference_id"]
    row = await _beneficiary(ctx, ref)
    assert (row.category, row.guardian_relation) == ("child", "mother")
    assert row.home_center_id == day.center_id
    for vaccine in ("HEPB", "BCG", "OPV"):
        dose = await client.post(
            "/api/staff/doses",
            json=routine_dose(ref, vaccine, day.lots[vaccine]),
            headers={**day.vaccinator.headers, "Idempotency-Key": f"birth-{vaccine}"},
        )
        assert dose.status_code == 201, dose.text
        assert dose.json()["evaluation"]["status"] == "Valid", dose.text
    # The guardian sees the newborn in their own account.
    token = await login(client, outbox, mother)
    listing = await client.get("/api/v2/appointment/beneficiaries", headers=bearer(token))
    assert [p["beneficiary_reference_id"] for p in listing.json()["beneficiaries"]] == [ref]
