"""Due lists of a facility's catchment (decision 0013), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from immunet.clock import india_today
from immunet.security.audit import AuditAction
from immunet.security.models import AuditEvent
from tests.conftest import bearer, login
from tests.factories import adult
from tests.factories.staff import make_staff
from tests.factories.uip import ddmmyyyy, register_family, routine_dose, setup_routine_day
from tests.factories.vaccination import next_mobile, otp_lookup

DUE = "/api/staff/due-list"


async def _viewed(ctx, purpose: str) -> list[str]:
    async with ctx.db.reader() as session:
        return list(
            (
                await session.execute(
                    select(AuditEvent.subject_ref).where(
                        AuditEvent.action == AuditAction.BENEFICIARY_VIEWED,
                        AuditEvent.purpose == purpose,
                    )
                )
            ).scalars()
        )


async def test_due_list_of_the_own_catchment(client, outbox, ctx, clock):
    today = india_today(clock.now())
    day = await setup_routine_day(ctx, client)
    other = await setup_routine_day(ctx, client)
    six_weeks = await register_family(
        client, outbox, today - dt.timedelta(weeks=6), center_id=day.center_id
    )
    two_weeks = await register_family(
        client, outbox, today - dt.timedelta(weeks=2), center_id=day.center_id
    )
    elsewhere = await register_family(
        client, outbox, today - dt.timedelta(weeks=6), center_id=other.center_id
    )
    # A pregnant woman joins the catchment with her first Td here; Td-2 is due in 4 weeks.
    mobile = next_mobile()
    token = await login(client, outbox, mobile)
    woman = await client.post(
        "/api/v2/registration/beneficiary/new", json=adult(birth_year="1996"), headers=bearer(token)
    )
    woman_ref = woman.json()["beneficiary_reference_id"]
    await client.post(
        "/api/v2/registration/beneficiary/pregnancy",
        json={
            "beneficiary_reference_id": woman_ref,
            "lmp": ddmmyyyy(today - dt.timedelta(weeks=12)),
        },
        headers=bearer(token),
    )
    await otp_lookup(client, outbox, day.vaccinator, mobile)
    td = await client.post(
        "/api/staff/doses",
        json=routine_dose(woman_ref, "TD", day.lots["TD"]),
        headers={**day.vaccinator.headers, "Idempotency-Key": "due-td-1"},
    )
    assert td.status_code == 201, td.text

    response = await client.get(DUE, headers=day.manager.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["from"] == ddmmyyyy(today) and body["to"] == ddmmyyyy(today + dt.timedelta(30))
    people = {p["beneficiary_reference_id"]: p for p in body["people"]}
    assert set(people) == {six_weeks.child_ref, two_weeks.child_ref, woman_ref}
    assert elsewhere.child_ref not in people
    assert set(people[woman_ref]) == {
        "beneficiary_reference_id",
        "name",
        "birth_year",
        "category",
        "due",
    }
    (td2,) = people[woman_ref]["due"]
    assert td2["vaccine_group"] == "Td (pregnancy)" and td2["dose_number"] == 2
    assert td2["recommended_date"] == ddmmyyyy(today + dt.timedelta(weeks=4))
    groups = {line["vaccine_group"]: line for line in people[six_weeks.child_ref]["due"]}
    # Six weeks old: the 6-week doses are due today; the birth dose of hepatitis B is past
    # its last day and not listed; BCG is still givable (up to one year).
    assert groups["Pentavalent"]["recommended_date"] == ddmmyyyy(today)
    assert groups["Pentavalent"]["status"] == "due"
    assert "Hepatitis B birth dose" not in groups
    assert "BCG" in groups and "MR" not in groups
    # Two weeks old: BCG is overdue? No: its past-due date is the first birthday; the
    # 6-week doses fall in the 30 days.
    young = {line["vaccine_group"]: line for line in people[two_weeks.child_ref]["due"]}
    assert young["Pentavalent"]["recommended_date"] == ddmmyyyy(today + dt.timedelta(weeks=4))
    # Each person shown is one audited read.
    assert sorted(await _viewed(ctx, "due-list")) == sorted(f"beneficiary:{r}" for r in people)

    # One vaccine group, and keyset pages of one person.
    penta = await client.get(
        DUE, params={"vaccine_group": "Pentavalent", "limit": 1}, headers=day.vaccinator.headers
    )
    assert penta.status_code == 200, penta.text
    first = penta.json()
    assert len(first["people"]) == 1 and first["next_after"]
    assert [line["vaccine_group"] for line in first["people"][0]["due"]] == ["Pentavalent"]
    second = await client.get(
        DUE,
        params={"vaccine_group": "Pentavalent", "limit": 1, "after": first["next_after"]},
        headers=day.vaccinator.headers,
    )
    seen = {first["people"][0]["beneficiary_reference_id"]}
    seen |= {p["beneficiary_reference_id"] for p in second.json()["people"]}
    assert len(seen) == 2 and seen <= {six_weeks.child_ref, two_weeks.child_ref}

    # The other facility sees only its own child.
    theirs = await client.get(DUE, headers=other.vaccinator.headers)
    assert [p["beneficiary_reference_id"] for p in theirs.json()["people"]] == [elsewhere.child_ref]


async def test_due_list_refusals(client, ctx, clock):
    today = india_today(clock.now())
    day = await setup_routine_day(ctx, client)
    staff = day.manager.headers
    bad = [
        {"from": ddmmyyyy(today), "to": ddmmyyyy(today - dt.timedelta(days=1))},
        {"from": ddmmyyyy(today), "to": ddmmyyyy(today + dt.timedelta(days=93))},
        {"from": "2026-01-01"},
        {"from": "31-02-2026"},
        {"vaccine_group": "Smallpox"},
        {"after": "abc"},
        {"limit": 500},
        {"center_id": 1},
    ]
    for params in bad:
        response = await client.get(DUE, params=params, headers=staff)
        assert response.status_code == 400, (params, response.text)
        assert "errorCode" in response.json()
    district = await make_staff(ctx, "district_admin", "district:294")
    refused = await client.get(DUE, headers=district.headers)
    assert refused.status_code in (403, 404), refused.text
    assert (await client.get(DUE)).status_code == 401
    assert await _viewed(ctx, "due-list") == []
