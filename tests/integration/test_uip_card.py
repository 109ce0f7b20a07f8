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


async def test_a_voided_routine_dose_revokes_the_card_versions_that_showed_it(
    client, outbox, ctx, clock
):
    today = india_today(clock.now())
    day = await setup_routine_day(ctx, client)
    family = await register_family(client, outbox, today - dt.timedelta(weeks=6))
    params = {"beneficiary_reference_id": family.child_ref}
    await otp_lookup(client, outbox, day.vaccinator, family.mobile)

    async def record(vaccine: str, key: str, dose: int = 1) -> int:
        response = await client.post(
            "/api/staff/doses",
            json=routine_dose(family.child_ref, vaccine, day.lots[vaccine], dose),
            headers={**day.vaccinator.headers, "Idempotency-Key": key},
        )
        assert response.status_code == 201, response.text
        return int(response.json()["dose_id"])

    async def current() -> dict:
        response = await client.get(CARD, params=params, headers=bearer(family.token))
        assert response.status_code == 200, response.text
        return response.json()

    async def void(dose_id: int) -> None:
        response = await client.post(
            f"/api/staff/doses/{dose_id}/void",
            json={"reason": "recorded for the wrong child"},
            headers=day.manager.headers,
        )
        assert response.status_code == 200, response.text

    async def verdicts(card: dict) -> tuple[bool, bool]:
        async with ctx.db.reader() as session:
            trust = await verification_trust_list(session)
        return (
            verify_qr(card["vc"]["qr"], trust, at=clock.now()).valid,
            verify_qr(card["shc"]["qr"], trust, at=clock.now()).valid,
        )

    def vaccines(card: dict) -> list[str]:  # CVX: BCG 19, OPV 02, pentavalent 102
        return sorted(
            e["resource"]["vaccineCode"]["coding"][0]["code"]
            for e in card["fhir"]["entry"]
            if e["resource"]["resourceType"] == "Immunization"
        )

    await record("BCG", "void-bcg")
    v1 = await current()
    penta = await record("PENTA", "void-penta")
    v2 = await current()
    opv = await record("OPV", "void-opv")
    v3 = await current()
    assert [v["version"] for v in (v1, v2, v3)] == [1, 2, 3]
    assert await verdicts(v3) == (True, True)

    await void(penta)
    v4 = await current()
    # A new version without the voided dose; every version that showed it is revoked (in
    # the VC's and the SMART Health Card's terms), the one issued before it still verifies.
    assert v4["version"] == 4 and vaccines(v4) == ["02", "19"]
    assert await verdicts(v2) == (False, False)
    assert await verdicts(v3) == (False, False)
    assert await verdicts(v1) == (True, True)
    assert await verdicts(v4) == (True, True)
    trust = (await client.get("/api/v2/certificates/trust-list")).json()
    revoked_vc = set(trust["revoked"]["vc"])
    assert {f"UIP{family.child_ref}/v2", f"UIP{family.child_ref}/v3"} <= revoked_vc
    assert f"UIP{family.child_ref}/v1" not in revoked_vc
    # The SMART Health Cards revocation list of the signing key names v3's rid (the rid in
    # the card itself), not v4's.
    header = jwt.get_unverified_header(v3["shc"]["jws"])
    crl = (await client.get(f"/.well-known/crl/{header['kid']}.json")).json()

    def rid(card: dict) -> str:
        raw = jwt.api_jws.PyJWS().decode(card["shc"]["jws"], options={"verify_signature": False})
        return str(json.loads(zlib.decompress(raw, -15))["vc"]["rid"])

    assert rid(v3) in crl["rids"] and rid(v4) not in crl["rids"]

    # Pentavalent again (number 1: a voided dose does not count), then OPV voided:
    # versions 3 to 5 showed it.
    await record("PENTA", "void-penta-again")
    v5 = await current()
    assert v5["version"] == 5
    await void(opv)
    v6 = await current()
    assert v6["version"] == 6 and vaccines(v6) == ["102", "19"]
    assert await verdicts(v5) == (False, False)
    assert await verdicts(v4) == (False, False)
    assert await verdicts(v6) == (True, True)
    assert await verdicts(v1) == (True, True)
