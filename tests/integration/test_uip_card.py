"""The immunization card: every routine dose and the next due dates, signed in every format;
re-issued (a new version) after each dose. FHIR checked by fhir.resources, the SMART Health
Card's ES256 signature by PyJWT against the published JWKS, the VC and SHC by the verifier."""

from __future__ import annotations

import datetime as dt
import json
import zlib

import jwt
import pytest
from jwt.algorithms import ECAlgorithm

from immunet.certificates import verify_qr
from immunet.certificates.service import verification_trust_list
from immunet.clock import india_today
from tests.conftest import bearer
from tests.factories.uip import register_family, routine_dose, setup_routine_day
from tests.factories.vaccination import otp_lookup

CARD = "/api/v2/me/immunization-card"


async def test_the_card_covers_every_dose_and_the_next_due_dates(client, outbox, ctx, clock):
    pytest.importorskip("fhir.resources")
    from fhir.resources.R4B.bundle import Bundle

    today = india_today(clock.now())
    day = await setup_routine_day(ctx, client)
    family = await register_family(client, outbox, today - dt.timedelta(weeks=6))
    params = {"beneficiary_reference_id": family.child_ref}
    none_yet = await client.get(CARD, params=params, headers=bearer(family.token))
    assert none_yet.status_code == 404 and none_yet.json()["errorCode"] == "VACCIN0450"

    await otp_lookup(client, outbox, day.vaccinator, family.mobile)
    versions = []
    for n, vaccine in enumerate(("BCG", "PENTA", "OPV")):
        recorded = await client.post(
            "/api/staff/doses",
            json=routine_dose(family.child_ref, vaccine, day.lots[vaccine]),
            headers={**day.vaccinator.headers, "Idempotency-Key": f"card-{vaccine}"},
        )
        assert recorded.status_code == 201, recorded.text
        response = await client.get(CARD, params=params, headers=bearer(family.token))
        assert response.status_code == 200, response.text
        versions.append(response.json()["version"])
        assert response.json()["card_id"] == f"UIP{family.child_ref}"
    assert versions == [1, 2, 3]  # re-issued after each dose
    body = response.json()

    bundle = body["fhir"]
    Bundle.model_validate(bundle)  # FHIR R4B models, not ours
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("Immunization") == 3
    (recommendation,) = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "ImmunizationRecommendation"
    ]
    by_series = {r["series"]: r for r in recommendation["recommendation"]}
    penta = by_series["Pentavalent"]
    assert penta["doseNumberPositiveInt"] == 2
    dates = {c["code"]["coding"][0]["code"]: c["value"] for c in penta["dateCriterion"]}
    assert dates["30980-7"] == (today + dt.timedelta(weeks=4)).isoformat()  # 10 weeks
    assert "Hepatitis B birth dose" not in by_series  # past its last day: not recommended
    assert "BCG" not in by_series  # given

    async with ctx.db.reader() as session:
        trust = await verification_trust_list(session)
    assert verify_qr(body["vc"]["qr"], trust, at=clock.now()).valid
    assert verify_qr(body["shc"]["qr"], trust, at=clock.now()).valid
    # Independently: PyJWT checks the ES256 signature with the published JWKS key.
    jwks = (await client.get("/.well-known/jwks.json")).json()
    header = jwt.get_unverified_header(body["shc"]["jws"])
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    key = ECAlgorithm.from_jwk(json.dumps(jwk))
    raw = jwt.api_jws.PyJWS().decode(body["shc"]["jws"], key, algorithms=["ES256"])
    claims = json.loads(zlib.decompress(raw, -15))
    shc_bundle = claims["vc"]["credentialSubject"]["fhirBundle"]
    Bundle.model_validate(shc_bundle)
    codes = [e["resource"]["vaccineCode"]["coding"][0]["code"] for e in shc_bundle["entry"][1:]]
    assert sorted(codes) == ["02", "102", "19"]  # OPV, pentavalent, BCG (CVX)

    pdf = await client.get(f"{CARD}/pdf", params=params, headers=bearer(family.token))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


async def test_another_guardians_card_is_the_same_404(client, outbox, ctx, clock):
    today = india_today(clock.now())
    day = await setup_routine_day(ctx, client)
    family = await register_family(client, outbox, today - dt.timedelta(weeks=6))
    stranger = await register_family(client, outbox, today - dt.timedelta(weeks=6))
    await otp_lookup(client, outbox, day.vaccinator, family.mobile)
    recorded = await client.post(
        "/api/staff/doses",
        json=routine_dose(family.child_ref, "BCG", day.lots["BCG"]),
        headers={**day.vaccinator.headers, "Idempotency-Key": "card-other"},
    )
    assert recorded.status_code == 201
    for path in (CARD, f"{CARD}/pdf"):
        theirs = await client.get(
            path,
            params={"beneficiary_reference_id": family.child_ref},
            headers=bearer(stranger.token),
        )
        nobody = await client.get(
            path,
            params={"beneficiary_reference_id": "10000000000009"},
            headers=bearer(stranger.token),
        )
        assert theirs.status_code == nobody.status_code == 404
        assert theirs.json() == nobody.json()
        assert (await client.get(path, params={"beneficiary_reference_id": "1"})).status_code == 401
        oversized = await client.get(
            path, params={"beneficiary_reference_id": "1" * 40}, headers=bearer(stranger.token)
        )
        assert oversized.status_code == 400
