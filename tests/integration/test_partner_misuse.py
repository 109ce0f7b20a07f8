"""The partner misuse defences: reads far above a client's consents suspend it and raise an
alert the national admins list and acknowledge (repeated quota breaches, the other defence,
are in test_partner_resources.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from immunet.partners import misuse, service
from immunet.security.models import AuditEvent
from tests.conftest import bearer
from tests.factories.sessions import make_center
from tests.factories.staff_flow import add_staff, staff_login
from tests.integration.test_partner_oauth import MOBILE, _citizen_with_beneficiary
from tests.integration.test_partner_resources import _read, _tokens


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"staff_password_memory_kib": 1024})


async def _reads_until(ctx, oc, count: int) -> None:
    """The client's reads of the day brought to ``count`` (the quota counter the routes use)."""
    for _ in range(count):
        await misuse.count_partner_read(
            ctx,
            client_id=oc.partner.client_id,
            reads_per_minute=6_000,
            reads_per_day=1_000_000,
        )


async def _busy_partner_with_one_consent(client, ctx, clock, outbox, settings):
    """A partner app with high quotas and one person's consent: its client and token."""
    reference = await _citizen_with_beneficiary(client, outbox)
    return await _tokens(
        client,
        ctx,
        clock,
        outbox,
        settings,
        reference,
        scope="immunization.read",
        reads_per_minute=6_000,
        reads_per_day=1_000_000,
    )


async def _state(ctx, client_id: str) -> str:
    views, _ = await service.list_clients(ctx)
    return next(v.state for v in views if v.client_id == client_id)


async def test_reads_far_above_consents_suspend_with_an_alert(client, ctx, clock, outbox, settings):
    oc, token = await _busy_partner_with_one_consent(client, ctx, clock, outbox, settings)
    assert await misuse.active_consents(ctx, oc.partner.client_id) == 1
    # One consent, 199 reads: not judged yet (a new app with its first users).
    await _reads_until(ctx, oc, misuse.JUDGE_FROM_READS - 1)
    assert await _state(ctx, oc.partner.client_id) == "active"
    # The 200th read is judged: 200 reads for one consent is no consenting population.
    assert (await _read(client, oc, token)).status_code == 200
    assert await _state(ctx, oc.partner.client_id) == "suspended"
    assert (await _read(client, oc, token)).status_code == 401  # cut off at once

    admin = await add_staff(ctx, "nat.alerts", "national_admin", "national")
    headers = bearer(await staff_login(client, admin))
    listed = await client.get("/api/staff/partners/alerts", headers=headers)
    assert listed.status_code == 200, listed.text
    assert listed.headers["cache-control"] == "no-store"
    (alert,) = listed.json()["alerts"]
    assert alert["client_id"] == oc.partner.client_id
    assert alert["kind"] == "reads-above-consents" and alert["severity"] == "critical"
    assert alert["detail"] == {
        "readsToday": misuse.JUDGE_FROM_READS,
        "activeConsents": 1,
        "readsPerConsentPerDay": misuse.READS_PER_CONSENT_PER_DAY,
    }
    assert alert["acknowledged_at"] is None
    assert MOBILE not in listed.text and "Asha" not in listed.text  # counts only, no person

    acked = await client.post(f"/api/staff/partners/alerts/{alert['id']}/ack", headers=headers)
    assert acked.status_code == 200, acked.text
    assert acked.json()["acknowledged_by"].startswith("staff:")
    again = await client.post(f"/api/staff/partners/alerts/{alert['id']}/ack", headers=headers)
    assert again.status_code == 200
    assert again.json()["acknowledged_at"] == acked.json()["acknowledged_at"]
    open_only = await client.get(
        "/api/staff/partners/alerts", params={"open_only": "true"}, headers=headers
    )
    assert open_only.json()["alerts"] == []
    missing = await client.post("/api/staff/partners/alerts/999999/ack", headers=headers)
    assert missing.status_code == 404 and missing.json()["errorCode"] == "PARTNER0416"
    async with ctx.db.reader() as session:
        actions = (
            await session.execute(
                select(AuditEvent.action, AuditEvent.actor).where(
                    AuditEvent.action.in_(
                        ["partners:client:suspended", "partners:alert:acknowledged"]
                    )
                )
            )
        ).all()
    # One suspension by the defences, one acknowledgement (the second changed nothing).
    actions = [tuple(row) for row in actions]
    assert sorted(a for a, _ in actions) == [
        "partners:alert:acknowledged",
        "partners:client:suspended",
    ]
    assert ("partners:client:suspended", "operator:misuse-defence") in actions


async def test_reads_within_the_consents_are_not_judged_misuse(
    client, ctx, clock, outbox, settings, monkeypatch
):
    oc, _ = await _busy_partner_with_one_consent(client, ctx, clock, outbox, settings)
    # Smaller numbers than production's, same rule: a ceiling of 30 reads per consent,
    # judged from the 20th read of the day and every 10th after it.
    monkeypatch.setattr(misuse, "READS_PER_CONSENT_PER_DAY", 30)
    monkeypatch.setattr(misuse, "JUDGE_FROM_READS", 20)
    monkeypatch.setattr(misuse, "JUDGE_EVERY_READS", 10)
    await _reads_until(ctx, oc, 30)  # judged at 20 and 30: within the ceiling
    assert await _state(ctx, oc.partner.client_id) == "active"
    await _reads_until(ctx, oc, 9)  # 39: not judged between steps
    assert await _state(ctx, oc.partner.client_id) == "active"
    await _reads_until(ctx, oc, 1)  # 40, judged: above 30 for one consent
    assert await _state(ctx, oc.partner.client_id) == "suspended"
    alerts, _ = await misuse.list_partner_alerts(ctx)
    assert [(a.kind, a.detail["readsToday"]) for a in alerts] == [("reads-above-consents", 40)]


async def test_only_partner_admins_see_and_acknowledge_partner_alerts(client, ctx):
    center = await make_center(ctx)
    for username, role, place in (
        ("state.admin", "state_admin", "state:16"),
        ("vacc.one", "vaccinator", f"center:{center}"),
    ):
        creds = await add_staff(ctx, username, role, place)
        headers = bearer(await staff_login(client, creds))
        listed = await client.get("/api/staff/partners/alerts", headers=headers)
        assert listed.status_code == 403, (role, listed.text)
        acked = await client.post("/api/staff/partners/alerts/1/ack", headers=headers)
        assert acked.status_code == 403, role
    assert (await client.get("/api/staff/partners/alerts")).status_code == 401
    unknown = await client.get("/api/staff/partners/alerts", params={"limit": 51})
    assert unknown.status_code in (400, 401)
