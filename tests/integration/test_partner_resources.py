"""/partner/v1 with a DPoP-bound token: the granted person's FHIR Immunizations (checked
with fhir.resources), scope refusals, the citizen's consents and revocation, the access
log and data summary, and the client's quotas."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import subprocess

from fhir.resources.R4B.bundle import Bundle
from joserfc.jwk import ECKey

from immunet.partners import service
from immunet.partners.misuse import BREACHES_PER_HOUR, list_partner_alerts
from immunet.partners.models import PartnerGrant
from tests.conftest import bearer, login
from tests.factories.certificates import record_dose
from tests.factories.partners import REDIRECT_URI, OAuthClient, register_partner
from tests.integration.test_partner_oauth import MOBILE, _citizen_with_beneficiary, _consent


async def _tokens(client, ctx, clock, outbox, settings, reference, *, scope, **partner_args):
    oc = OAuthClient(await register_partner(ctx, **partner_args), clock)
    body = (await oc.par(client, scope=scope)).json()

    async def value():
        return body

    oc.par_response = value()
    answer = await _consent(settings, ctx, outbox, oc, reference)
    issued = await oc.token(
        client,
        {
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": oc.verifier,
        },
    )
    assert issued.status_code == 200, issued.text
    return oc, issued.json()["access_token"]


async def _read(client, oc, token, *, key=None, path="/partner/v1/Immunization"):
    return await client.get(
        path,
        headers={
            "Authorization": f"DPoP {token}",
            "DPoP": oc.dpop("GET", path, access_token=token, key=key),
        },
    )


async def test_immunizations_access_log_revocation(client, ctx, clock, outbox, settings):
    reference = await _citizen_with_beneficiary(client, outbox)
    await record_dose(ctx, reference, dose=1, center_id=None)
    oc, token = await _tokens(
        client, ctx, clock, outbox, settings, reference, scope="immunization.read"
    )
    response = await _read(client, oc, token)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    bundle = Bundle.model_validate(body)  # an independent FHIR model accepts it
    assert bundle.type == "searchset" and body["total"] == 1
    (entry,) = body["entry"]
    assert entry["resource"]["resourceType"] == "Immunization"
    assert "Asha" not in response.text  # no name: the Immunizations only
    # A Bearer token, a missing proof, or a proof by another key: 401.
    assert (
        await client.get("/partner/v1/Immunization", headers={"Authorization": f"Bearer {token}"})
    ).status_code == 401
    other = ECKey.generate_key("P-256", private=True)
    assert (await _read(client, oc, token, key=other)).status_code == 401

    # The citizen sees the partner in the access log and data summary, and the consent.
    citizen = await login(client, outbox, MOBILE)
    log = (await client.get("/api/v2/me/access-log", headers=bearer(citizen))).json()
    assert any(
        e["who"] == {"organisation": "Health App", "role": "partner"} for e in log["entries"]
    ), log
    summary = (await client.get("/api/v2/me/data-summary", headers=bearer(citizen))).json()
    assert "Health App" in str(summary)
    consents = (await client.get("/api/v2/me/consents", headers=bearer(citizen))).json()
    (consent,) = consents["consents"]
    assert consent["status"] == "active" and consent["scopes"] == ["immunization.read"]
    assert consent["beneficiary_reference_id"] == reference
    # Revocation cuts the still-unexpired token on its next call.
    revoked = await client.post(
        f"/api/v2/me/consents/{consent['consent_id']}/revoke", headers=bearer(citizen)
    )
    assert revoked.status_code == 204
    assert (await _read(client, oc, token)).status_code == 401
    consents = (await client.get("/api/v2/me/consents", headers=bearer(citizen))).json()
    assert consents["consents"][0]["status"] == "revoked"


async def test_a_token_without_the_scope_gets_403(client, ctx, clock, outbox, settings):
    reference = await _citizen_with_beneficiary(client, outbox)
    oc, token = await _tokens(
        client, ctx, clock, outbox, settings, reference, scope="certificate.read"
    )
    response = await _read(client, oc, token)
    assert response.status_code == 403, response.text
    # The scope it holds: no certificate yet (404), then the signed formats.
    missing = await _read(client, oc, token, path="/partner/v1/certificate")
    assert missing.status_code == 404 and missing.json()["errorCode"] == "PARTNER0415"
    issued = await record_dose(ctx, reference, dose=1, center_id=None)
    found = await _read(client, oc, token, path="/partner/v1/certificate")
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["certificate_id"] == issued.certificate_id
    assert {"vc", "dcc", "shc", "fhir"} <= set(body["formats"])
    # ...and the PDF the person downloads, read back by poppler's pdftotext where present.
    pdf = await _read(client, oc, token, path="/partner/v1/certificate/pdf")
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["cache-control"] == "no-store"
    assert pdf.content.startswith(b"%PDF-")
    if shutil.which("pdftotext"):
        read = await asyncio.to_thread(
            subprocess.run,
            ["pdftotext", "-enc", "UTF-8", "-", "-"],
            input=pdf.content,
            capture_output=True,
            check=True,
            timeout=60,
        )
        text = read.stdout.decode()
        assert issued.certificate_id in text


async def test_another_account_cannot_see_or_revoke_a_consent(client, ctx, clock, outbox, settings):
    reference = await _citizen_with_beneficiary(client, outbox)
    oc, token = await _tokens(
        client, ctx, clock, outbox, settings, reference, scope="immunization.read"
    )
    async with ctx.db.reader() as session:
        from sqlalchemy import select

        consent_id = (await session.execute(select(PartnerGrant.id))).scalar_one()
    stranger = await login(client, outbox, "9876599999")
    assert (await client.get("/api/v2/me/consents", headers=bearer(stranger))).json() == {
        "consents": []
    }
    theirs = await client.post(f"/api/v2/me/consents/{consent_id}/revoke", headers=bearer(stranger))
    unknown = await client.post(f"/api/v2/me/consents/{'0' * 32}/revoke", headers=bearer(stranger))
    assert (theirs.status_code, theirs.json()) == (unknown.status_code, unknown.json())
    assert theirs.status_code == 404
    assert (await _read(client, oc, token)).status_code == 200


async def test_quota_per_client_answers_429(client, ctx, clock, outbox, settings):
    reference = await _citizen_with_beneficiary(client, outbox)
    oc, token = await _tokens(
        client,
        ctx,
        clock,
        outbox,
        settings,
        reference,
        scope="immunization.read",
        reads_per_minute=2,
    )
    assert (await _read(client, oc, token)).status_code == 200
    assert (await _read(client, oc, token)).status_code == 200
    third = await _read(client, oc, token)
    assert third.status_code == 429 and "retry-after" in third.headers


async def test_repeated_breaches_suspend_the_client(client, ctx, clock, outbox, settings):
    reference = await _citizen_with_beneficiary(client, outbox)
    oc, token = await _tokens(
        client,
        ctx,
        clock,
        outbox,
        settings,
        reference,
        scope="immunization.read",
        reads_per_minute=1,
    )
    assert (await _read(client, oc, token)).status_code == 200
    statuses = [(await _read(client, oc, token)).status_code for _ in range(BREACHES_PER_HOUR + 1)]
    assert set(statuses) == {429}
    views, _ = await service.list_clients(ctx)
    assert [(v.client_id, v.state) for v in views] == [(oc.partner.client_id, "suspended")]
    # Suspended: even once the minute has passed, the token is refused.
    clock.advance(dt.timedelta(seconds=61))
    assert (await _read(client, oc, token)).status_code == 401
    async with ctx.db.reader() as session:
        from sqlalchemy import select

        from immunet.security.models import AuditEvent

        actors = (
            (
                await session.execute(
                    select(AuditEvent.actor).where(AuditEvent.action == "partners:client:suspended")
                )
            )
            .scalars()
            .all()
        )
    assert actors == ["operator:misuse-defence"]
    # ...and one alert for the national admins, counts only.
    alerts, _ = await list_partner_alerts(ctx)
    assert [(a.client_id, a.kind, a.detail) for a in alerts] == [
        (oc.partner.client_id, "quota-breaches", {"refusalsInAnHour": BREACHES_PER_HOUR})
    ]
