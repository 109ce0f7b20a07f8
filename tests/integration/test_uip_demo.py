"""`make demo`'s family: a child part-way through the schedule, seen by the guardian."""

from __future__ import annotations

from sqlalchemy import select

from immunet.demo import DEMO_STEPS
from immunet.vaccination.models import DoseRecord
from immunet.vaccination.uip_demo import DEMO_GUARDIAN, demo_family
from tests.conftest import bearer, login
from tests.factories.sessions import make_center


async def test_demo_family_is_part_way_and_idempotent(client, outbox, ctx, settings, keyring):
    keyring.save(settings.keyring)
    assert demo_family in DEMO_STEPS
    await make_center(ctx)
    lines = await demo_family(settings)
    ref = lines[0].split("daughter ")[1].split(" ")[0]
    async with ctx.db.reader() as session:
        verdicts = list((await session.execute(select(DoseRecord.evaluation_status))).scalars())
    assert verdicts == ["Valid"] * 10
    token = await login(client, outbox, DEMO_GUARDIAN)
    card = await client.get(
        "/api/v2/me/immunization-card",
        params={"beneficiary_reference_id": ref},
        headers=bearer(token),
    )
    assert card.status_code == 200, card.text
    assert card.json()["version"] == 10
    (recommendation,) = [
        e["resource"]
        for e in card.json()["fhir"]["entry"]
        if e["resource"]["resourceType"] == "ImmunizationRecommendation"
    ]
    next_doses = {r["series"]: r["doseNumberPositiveInt"] for r in recommendation["recommendation"]}
    assert next_doses["Pentavalent"] == 3 and next_doses["Rotavirus"] == 3
    assert "already there" in (await demo_family(settings))[0]
