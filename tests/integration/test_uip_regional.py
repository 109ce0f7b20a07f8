"""Regional vaccines per district: set by a state admin, read by due lists, reminders and the
immunization card (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from immunet.clock import india_today
from immunet.security.audit import AuditAction
from immunet.security.models import AuditEvent
from immunet.vaccination.reminders import run_sweep
from tests.conftest import bearer
from tests.factories.staff import make_staff
from tests.factories.uip import register_family, routine_dose, setup_routine_day
from tests.factories.vaccination import otp_lookup
from tests.integration.test_uip_reminders import SIX_WEEK_GROUPS, _reminders

DUE = "/api/staff/due-list"
CARD = "/api/v2/me/immunization-card"
# Six weeks old: the six-week doses, and BCG (givable, recommended at birth, up to one year).
LISTED = SIX_WEEK_GROUPS | {"BCG"}
BBMP, KARNATAKA = 294, 16  # the district of setup_routine_day's centre, and its state


def _url(district_id: int) -> str:
    return f"/api/staff/districts/{district_id}/regional-vaccines"


async def _due_groups(client, headers, ref: str) -> set[str]:
    response = await client.get(DUE, headers=headers)
    assert response.status_code == 200, response.text
    (person,) = [p for p in response.json()["people"] if p["beneficiary_reference_id"] == ref]
    return {line["vaccine_group"] for line in person["due"]}


async def test_a_district_that_runs_pcv(client, outbox, ctx, clock):
    today = india_today(clock.now())
    day = await setup_routine_day(ctx, client, district_id=BBMP)
    other = await setup_routine_day(ctx, client, district_id=1)
    family = await register_family(
        client, outbox, today - dt.timedelta(weeks=6), center_id=day.center_id
    )
    elsewhere = await register_family(
        client, outbox, today - dt.timedelta(weeks=6), center_id=other.center_id
    )
    assert await _due_groups(client, day.manager.headers, family.child_ref) == LISTED

    admin = await make_staff(ctx, "state_admin", f"state:{KARNATAKA}")
    response = await client.put(_url(BBMP), json={"vaccine_groups": ["PCV"]}, headers=admin.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"district_id": BBMP, "vaccine_groups": ["PCV"]}
    # The facility manager (centre readers) can read what the district runs.
    seen = await client.get(_url(BBMP), headers=day.manager.headers)
    assert seen.status_code == 200 and seen.json()["vaccine_groups"] == ["PCV"]
    async with ctx.db.reader() as session:
        (event,) = (
            await session.execute(
                select(AuditEvent).where(AuditEvent.action == AuditAction.REGIONAL_VACCINES_SET)
            )
        ).scalars()
    assert event.subject_ref == f"district:{BBMP}" and event.actor == f"staff:{admin.user_id}"
    # The same set again writes nothing (no second audit record).
    again = await client.put(_url(BBMP), json={"vaccine_groups": ["PCV"]}, headers=admin.headers)
    assert again.status_code == 200

    # Due list: PCV-1 is due at six weeks in BBMP; not in the other district.
    pcv = await _due_groups(client, day.manager.headers, family.child_ref)
    assert pcv == LISTED | {"PCV"}
    assert await _due_groups(client, other.manager.headers, elsewhere.child_ref) == LISTED

    # Reminders: one more for the BBMP child, none extra for the other one.
    result = await run_sweep(ctx)
    await ctx.drain_outbox()
    assert result.queued == 9
    mine = _reminders(outbox, family.mobile)
    assert {m["text"].split(": ")[1].split(" (dose")[0] for m in mine} == SIX_WEEK_GROUPS | {"PCV"}
    assert len(_reminders(outbox, elsewhere.mobile)) == 4

    # The card's next due dates include PCV-1.
    await otp_lookup(client, outbox, day.vaccinator, family.mobile)
    recorded = await client.post(
        "/api/staff/doses",
        json=routine_dose(family.child_ref, "BCG", day.lots["BCG"]),
        headers={**day.vaccinator.headers, "Idempotency-Key": "regional-bcg"},
    )
    assert recorded.status_code == 201, recorded.text
    params = {"beneficiary_reference_id": family.child_ref}
    card = await client.get(CARD, params=params, headers=bearer(family.token))
    assert card.status_code == 200, card.text
    (recommendation,) = [
        e["resource"]
        for e in card.json()["fhir"]["entry"]
        if e["resource"]["resourceType"] == "ImmunizationRecommendation"
    ]
    assert "PCV" in {r["series"] for r in recommendation["recommendation"]}

    # Turned off again: gone from the due list; the change is audited.
    off = await client.put(_url(BBMP), json={"vaccine_groups": []}, headers=admin.headers)
    assert off.status_code == 200 and off.json()["vaccine_groups"] == []
    # (BCG was given above.)
    assert await _due_groups(client, day.manager.headers, family.child_ref) == SIX_WEEK_GROUPS
    async with ctx.db.reader() as session:
        details = [
            json.loads(e.detail or "{}")
            for e in (
                await session.execute(
                    select(AuditEvent)
                    .where(AuditEvent.action == AuditAction.REGIONAL_VACCINES_SET)
                    .order_by(AuditEvent.seq)
                )
            ).scalars()
        ]
    assert details == [
        {"enabled": ["PCV"], "disabled": []},
        {"enabled": [], "disabled": ["PCV"]},
    ]
