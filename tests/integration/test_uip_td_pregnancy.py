"""Td in pregnancy end to end (SQLite and PostgreSQL): a woman given Td-1 and Td-2 in her
previous pregnancy two years ago is due one Td booster in this one, and is done after it;
one whose previous doses are older than 3 years is due Td-1 and Td-2 again."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from immunet.clock import india_today
from immunet.people.models import Beneficiary
from immunet.vaccination.models import DoseRecord
from tests.conftest import bearer, login
from tests.factories import adult
from tests.factories.uip import ddmmyyyy, routine_dose, setup_routine_day
from tests.factories.vaccination import next_mobile, otp_lookup

DUE = "/api/staff/due-list"


async def _earlier_pregnancy_doses(ctx, ref: str, center_id: int, days: list[dt.date]) -> None:
    """The register as an earlier pregnancy left it: Td doses recorded under the pregnancy
    series, and the facility that gave them her home facility (as the vaccinator's
    recording does while a pregnancy is live)."""
    async with ctx.db.transaction() as session:
        woman = (
            await session.execute(select(Beneficiary).where(Beneficiary.reference_id == ref))
        ).scalar_one()
        woman.home_center_id = center_id
        beneficiary_id = woman.id
        for number, day in enumerate(days, start=1):
            session.add(
                DoseRecord(
                    beneficiary_id=beneficiary_id,
                    vaccine_code="TD",
                    series_code="uip-td-pregnancy",
                    dose_number=number,
                    administered_on=day,
                    center_id=center_id,
                    batch="EARLIER1",
                    recorded_by="staff:earlier",
                    recorded_at=dt.datetime.combine(day, dt.time(6), dt.UTC),
                    status="recorded",
                    evaluation_status="Valid",
                )
            )


async def _pregnant_woman(client, outbox, ctx, day, lmp: dt.date, earlier: list[dt.date]):
    mobile = next_mobile()
    token = await login(client, outbox, mobile)
    woman = await client.post(
        "/api/v2/registration/beneficiary/new", json=adult(birth_year="1995"), headers=bearer(token)
    )
    ref = woman.json()["beneficiary_reference_id"]
    await _earlier_pregnancy_doses(ctx, ref, day.center_id, earlier)
    response = await client.post(
        "/api/v2/registration/beneficiary/pregnancy",
        json={"beneficiary_reference_id": ref, "lmp": ddmmyyyy(lmp)},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    return mobile, ref


async def test_a_td_booster_after_two_doses_in_a_recent_pregnancy(client, outbox, ctx, clock):
    today = india_today(clock.now())
    day = await setup_routine_day(ctx, client)
    lmp = today - dt.timedelta(weeks=12)
    # Two years before this pregnancy: Td-1 and Td-2, four weeks apart.
    recent = [lmp - dt.timedelta(days=730), lmp - dt.timedelta(days=702)]
    primed_mobile, primed = await _pregnant_woman(client, outbox, ctx, day, lmp, recent)
    # Four years before: too long ago for a booster.
    old = [lmp - dt.timedelta(days=1461), lmp - dt.timedelta(days=1433)]
    old_mobile, lapsed = await _pregnant_woman(client, outbox, ctx, day, lmp, old)

    # Before any Td of this pregnancy, both are due one (the booster, or Td-1) now.
    before = await client.get(DUE, headers=day.manager.headers)
    assert before.status_code == 200, before.text
    due_now = {p["beneficiary_reference_id"]: p["due"] for p in before.json()["people"]}
    for ref in (primed, lapsed):
        (line,) = due_now[ref]
        assert (line["vaccine_group"], line["dose_number"]) == ("Td (pregnancy)", 1)

    for mobile, ref, key in ((primed_mobile, primed, "td-b"), (old_mobile, lapsed, "td-1")):
        await otp_lookup(client, outbox, day.vaccinator, mobile)
        td = await client.post(
            "/api/staff/doses",
            json=routine_dose(ref, "TD", day.lots["TD"], dose=3),
            headers={**day.vaccinator.headers, "Idempotency-Key": key},
        )
        assert td.status_code == 201, td.text
        assert td.json()["evaluation"]["vaccine_group"] == "Td (pregnancy)"
        assert td.json()["evaluation"]["status"] == "Valid"
        if ref == primed:
            assert td.json()["evaluation"]["next_dose"] is None  # the booster is the only dose
        else:
            nxt = td.json()["evaluation"]["next_dose"]
            assert nxt["dose_number"] == 2
            assert nxt["earliest_date"] == ddmmyyyy(today + dt.timedelta(weeks=4))

    response = await client.get(
        DUE,
        params={"to": ddmmyyyy(today + dt.timedelta(weeks=6))},
        headers=day.manager.headers,
    )
    assert response.status_code == 200, response.text
    people = {p["beneficiary_reference_id"]: p["due"] for p in response.json()["people"]}
    assert primed not in people  # the booster completed Td for this pregnancy
    (td2,) = people[lapsed]
    assert (td2["vaccine_group"], td2["dose_number"]) == ("Td (pregnancy)", 2)
    assert td2["recommended_date"] == ddmmyyyy(today + dt.timedelta(weeks=4))
