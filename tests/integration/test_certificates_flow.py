"""Recorded doses → issued certificates → formats, PDF, online and offline verification,
correction and key rotation — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

from sqlalchemy import select

from immunet.certificates import TrustList, issue_all
from immunet.certificates.keys import CertificateKeySet
from immunet.certificates.models import CertificateSigningKeys, IssuedCertificate
from immunet.certificates.record import CertificateRecord, DoseEntry
from immunet.certificates.service import import_trust_list, published_trust_list, rotate_keys
from immunet.security.audit import AuditChain
from immunet.security.keyring import FieldCipher
from immunet.security.models import AuditEvent
from immunet.security.reencrypt import reencrypt_all
from tests.factories import aadhaar
from tests.factories.certificates import (
    formats,
    holder,
    qr_texts,
    record_dose,
    verify,
    void_dose,
)
from tests.factories.sessions import SLOTS, make_center, make_session
from tests.factories.staff import make_staff


def _foreign_record(at: dt.datetime) -> CertificateRecord:
    """A foreign issuer's record issued at ``at`` (the test's clock: the verifier reads it)."""
    now = at.astimezone(dt.UTC).replace(microsecond=0)
    dose = DoseEntry(
        vaccine_code="COVAXIN",
        vaccine_name="Covaxin",
        manufacturer="Bharat Biotech International Ltd.",
        batch="B001",
        date=dt.date(2024, 2, 1),
        dose_number=1,
        total_doses=2,
        center_name="Clinic",
        country="LK",
    )
    return CertificateRecord(
        certificate_id="FOREIGN1",
        beneficiary_reference_id="00000000000001",
        name="Nimal Perera",
        gender="Male",
        masked_id="XXXX5678",
        doses=(dose,),
        issued_at=now,
        birth_year=1970,
    )


def _offline_verify(tmp_path, text: str, trust_file, at: dt.datetime) -> tuple[int, dict]:
    """`immunet verify --trust-list FILE` in its own process, with no database configured,
    as of the test's clock (``at``): the certificates were issued at that time, not now."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMMUNET_")}
    env["IMMUNET_DATABASE_URL"] = "sqlite:////nonexistent/never-opened.sqlite3"
    qr_file = tmp_path / "qr.txt"
    qr_file.write_text(text, encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "immunet.cli",
            "verify",
            str(qr_file),
            "--trust-list",
            str(trust_file),
            "--at",
            at.isoformat(),
            "--json",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result.returncode, json.loads(result.stdout)


async def test_dose_to_four_formats_verified_online_and_offline(client, outbox, ctx, tmp_path):
    center = await make_center(ctx)
    asha = await holder(client, outbox, "9811100001", name="Asha Kumari", id_number=aadhaar(501))
    first = await record_dose(ctx, asha.reference_id, dose=1, center_id=center)
    assert first is not None and first.version == 1 and first.status == "provisional"

    doc = await formats(client, asha)
    assert set(doc) == {"vc", "dcc", "shc", "fhir"}
    assert set(doc["vc"]) == {"credential", "qr"}
    assert set(doc["dcc"]) == {"qr"}
    assert set(doc["shc"]) == {"qr", "jws"}
    assert doc["fhir"]["resourceType"] == "Bundle"
    assert doc["dcc"]["qr"].startswith("HC1:")
    assert all(t.startswith("shc:/") for t in doc["shc"]["qr"])
    subject = doc["vc"]["credential"]["credentialSubject"]
    assert subject["name"] == "Asha Kumari"
    assert subject["maskedId"] == "XXXXXXXX" + asha.id_number[-4:]
    evidence = doc["vc"]["credential"]["evidence"]
    assert [e["dose"] for e in evidence] == [1]
    assert evidence[0]["facility"]["name"] == f"Test Centre {center}"
    assert evidence[0]["certificateStatus"] == "provisional"

    for fmt, text in qr_texts(doc).items():
        answer = await verify(client, text)
        assert answer == {**answer, "valid": True, "format": fmt, "reason": None}, answer
    # the SHC chunks may also be sent as a list
    assert (await client.post("/api/v2/certificates/verify", json={"qr": doc["shc"]["qr"]})).json()[
        "valid"
    ]
    # and as text/plain
    plain = await client.post(
        "/api/v2/certificates/verify",
        content=doc["dcc"]["qr"].encode(),
        headers={"Content-Type": "text/plain"},
    )
    assert plain.status_code == 200 and plain.json()["valid"] is True

    trust_file = tmp_path / "trust.json"
    trust_file.write_text(json.dumps(await published_trust_list(ctx)), encoding="utf-8")
    for fmt, text in qr_texts(doc).items():
        code, answer = _offline_verify(tmp_path, text, trust_file, ctx.clock.now())
        assert code == 0 and answer["valid"] and answer["format"] == fmt, answer

    # an empty trust list: the same certificates are unknown offline (exit 1)
    empty = tmp_path / "empty.json"
    empty.write_text("{}", encoding="utf-8")
    code, answer = _offline_verify(tmp_path, doc["dcc"]["qr"], empty, ctx.clock.now())
    assert code == 1 and answer["valid"] is False and answer["reason"] == "unknown_key"

    audit_actions = []
    async with ctx.db.reader() as session:
        async for event in AuditChain.iterate(session):
            audit_actions.append(event.action)
        assert (await AuditChain.verify(session)).ok
    assert "certificates:certificate:issued" in audit_actions


async def test_series_progress_and_pdf(client, outbox, ctx):
    center = await make_center(ctx)
    ravi = await holder(client, outbox, "9811100002", name="Ravi Shankar", id_number=aadhaar(502))
    missing = await client.get(
        "/api/v2/registration/certificate/public/download",
        params={"beneficiary_reference_id": ravi.reference_id},
        headers=ravi.headers,
    )
    assert missing.status_code == 404 and missing.json()["errorCode"] == "CERT0404"

    statuses = []
    for dose in (1, 2, 3):
        issued = await record_dose(ctx, ravi.reference_id, dose=dose, center_id=center)
        assert issued is not None
        statuses.append((issued.version, issued.status))
    assert statuses == [(1, "provisional"), (2, "final"), (3, "precaution")]
    doc = await formats(client, ravi)
    assert [e["dose"] for e in doc["vc"]["credential"]["evidence"]] == [1, 2, 3]

    async with ctx.db.reader() as session:
        rows = (
            (await session.execute(select(IssuedCertificate).order_by(IssuedCertificate.version)))
            .scalars()
            .all()
        )
    assert [r.revocation_reason for r in rows] == ["superseded", "superseded", None]
    assert rows[0].superseded_by == rows[1].id and rows[1].superseded_by == rows[2].id
    assert len({r.certificate_id for r in rows}) == 1 and len({r.uvci for r in rows}) == 3

    pdf = await client.get(
        "/api/v2/registration/certificate/public/download",
        params={"beneficiary_reference_id": ravi.reference_id},
        headers=ravi.headers,
    )
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert pdf.headers["cache-control"] == "no-store"


async def test_correction_revokes_the_previous_version(client, outbox, ctx, tmp_path):
    center = await make_center(ctx)
    meera = await holder(client, outbox, "9811100003", name="Meera Nair", id_number=aadhaar(503))
    await record_dose(ctx, meera.reference_id, dose=1, center_id=center)
    v1 = qr_texts(await formats(client, meera))
    await record_dose(ctx, meera.reference_id, dose=2, center_id=center)
    v2 = qr_texts(await formats(client, meera))

    corrected = await void_dose(ctx, meera.reference_id, dose=2)
    assert corrected is not None and corrected.version == 3 and corrected.status == "provisional"
    v3 = qr_texts(await formats(client, meera))

    for fmt in ("vc", "dcc", "shc"):
        old = await verify(client, v2[fmt])
        assert old["valid"] is False and old["reason"] == "revoked", (fmt, old)
        assert (await verify(client, v3[fmt]))["valid"] is True
        # the superseded dose-1 version still states a true dose: not revoked
        assert (await verify(client, v1[fmt]))["valid"] is True

    # the published lists carry the revocation, and offline verification honours them
    trust = await published_trust_list(ctx)
    assert len(trust["revoked"]["dcc"]) == 1 and len(trust["revoked"]["vc"]) == 1
    (kid,) = trust["revoked"]["shc"]
    crl = await client.get(f"/.well-known/crl/{kid}.json")
    assert crl.status_code == 200
    rids = trust["revoked"]["shc"][kid]
    assert crl.json() == {"kid": kid, "method": "rid", "ctr": 1, "rids": rids}
    trust_file = tmp_path / "trust.json"
    trust_file.write_text(json.dumps(trust), encoding="utf-8")
    code, answer = _offline_verify(tmp_path, v2["dcc"], trust_file, ctx.clock.now())
    assert code == 1 and answer["reason"] == "revoked"

    # voiding the last dose revokes the last version and issues nothing
    assert await void_dose(ctx, meera.reference_id, dose=1) is None
    gone = await client.get(
        "/api/v2/registration/certificate/public/formats",
        params={"beneficiary_reference_id": meera.reference_id},
        headers=meera.headers,
    )
    assert gone.status_code == 404
    assert (await verify(client, v3["dcc"]))["reason"] == "revoked"
    async with ctx.db.reader() as session:
        actions = (await session.execute(select(AuditEvent.action))).scalars().all()
    # v1 superseded by v2, v2 corrected by v3, v3 voided
    assert actions.count("certificates:certificate:revoked") == 3


async def test_key_rotation_keeps_issued_certificates_valid(client, outbox, ctx, tmp_path):
    center = await make_center(ctx)
    dev = await holder(client, outbox, "9811100004", name="Dev Anand", id_number=aadhaar(504))
    await record_dose(ctx, dev.reference_id, dose=1, center_id=center)
    before = await formats(client, dev)
    old_jwks = (await client.get("/.well-known/jwks.json")).json()

    await rotate_keys(ctx, actor="operator:test", context=None)
    await record_dose(ctx, dev.reference_id, dose=2, center_id=center)
    after = await formats(client, dev)
    assert after["shc"]["jws"] != before["shc"]["jws"]

    new_jwks = (await client.get("/.well-known/jwks.json")).json()
    assert len(new_jwks["keys"]) == 2
    assert {k["kid"] for k in old_jwks["keys"]} < {k["kid"] for k in new_jwks["keys"]}
    for doc in (before, after):
        for text in qr_texts(doc).values():
            assert (await verify(client, text))["valid"] is True

    trust_file = tmp_path / "trust.json"
    trust_file.write_text(json.dumps(await published_trust_list(ctx)), encoding="utf-8")
    code, answer = _offline_verify(tmp_path, before["dcc"]["qr"], trust_file, ctx.clock.now())
    assert code == 0, answer


async def test_trust_list_endpoints_are_cacheable(client, outbox, ctx):
    center = await make_center(ctx)
    who = await holder(client, outbox, "9811100005", name="Lata Rao", id_number=aadhaar(505))
    await record_dose(ctx, who.reference_id, dose=1, center_id=center)
    for path in ("/api/v2/certificates/trust-list", "/.well-known/jwks.json"):
        first = await client.get(path)
        assert first.status_code == 200, path
        etag = first.headers["etag"]
        assert "max-age" in first.headers["cache-control"]
        again = await client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.headers["etag"] == etag and not again.content
        other = await client.get(path, headers={"If-None-Match": '"something-else"'})
        assert other.status_code == 200
    trust = (await client.get("/api/v2/certificates/trust-list")).json()
    assert set(trust) == {"dcc", "shc", "vc", "revoked"}
    assert len(trust["dcc"]) == 1 and trust["dcc"][0]["certificate"]
    assert trust["vc"][0]["publicKeyJwk"]["crv"] == "Ed25519"
    assert all("d" not in key for key in trust["shc"][0]["keys"])  # public halves only
    kid = trust["shc"][0]["keys"][0]["kid"]
    crl = await client.get(f"/.well-known/crl/{kid}.json")
    assert crl.json() == {"kid": kid, "method": "rid", "ctr": 0, "rids": []}
    assert (await client.get("/.well-known/crl/not-a-kid.json")).status_code == 404


async def test_imported_issuer_is_trusted_by_verify(client, ctx):
    now = ctx.clock.now()
    foreign = CertificateKeySet.generate(issuer="https://health.example.org/issuer", now=now)
    cert = issue_all(_foreign_record(now), foreign)
    assert (await verify(client, cert["dcc"]["qr"]))["reason"] == "unknown_key"
    exported = TrustList.from_keyset(foreign).to_json()
    assert await import_trust_list(
        ctx, exported, label="example", actor="operator:test", context=None
    )
    assert not await import_trust_list(
        ctx, exported, label="example", actor="operator:test", context=None
    )
    for text in qr_texts(cert).values():
        answer = await verify(client, text)
        assert answer["valid"] is True, answer


async def test_staff_download_goes_through_the_access_chokepoint(client, outbox, ctx):
    booked = await make_session(ctx, days_ahead=1)
    vaccinator = await make_staff(ctx, "vaccinator", f"center:{booked.center_id}")
    on_roster = await holder(client, outbox, "9811100006", name="Uma Devi", id_number=aadhaar(506))
    elsewhere = await holder(
        client, outbox, "9811100007", name="Om Prakash", id_number=aadhaar(507)
    )
    response = await client.post(
        "/api/v2/appointment/schedule",
        json={
            "dose": 1,
            "session_id": booked.session_id,
            "slot": SLOTS[0],
            "beneficiaries": [on_roster.reference_id],
            "center_id": booked.center_id,
        },
        headers=on_roster.headers,
    )
    assert response.status_code == 200, response.text
    for who in (on_roster, elsewhere):
        await record_dose(ctx, who.reference_id, dose=1, center_id=booked.center_id)

    path = "/api/staff/certificates/download"
    staff = vaccinator.headers
    pdf = await client.get(
        path, params={"beneficiary_reference_id": on_roster.reference_id}, headers=staff
    )
    assert pdf.status_code == 200, pdf.text
    assert pdf.content.startswith(b"%PDF")
    not_mine = await client.get(
        path, params={"beneficiary_reference_id": elsewhere.reference_id}, headers=staff
    )
    never = await client.get(
        path, params={"beneficiary_reference_id": "99999999999999"}, headers=staff
    )
    assert not_mine.status_code == never.status_code == 404
    assert not_mine.json() == never.json()
    # a citizen token is not a staff token
    assert (
        await client.get(
            path,
            params={"beneficiary_reference_id": on_roster.reference_id},
            headers=on_roster.headers,
        )
    ).status_code == 401
    async with ctx.db.reader() as session:
        viewed = (
            (
                await session.execute(
                    select(AuditEvent).where(
                        AuditEvent.action == "people:beneficiary:viewed",
                        AuditEvent.actor == f"staff:{vaccinator.user_id}",
                    )
                )
            )
            .scalars()
            .all()
        )
    assert [e.purpose for e in viewed] == ["certificate-download"]
    assert viewed[0].subject_ref == f"beneficiary:{on_roster.reference_id}"


async def test_reencrypt_reseals_keys_and_payloads(client, outbox, ctx, settings, keyring):
    center = await make_center(ctx)
    who = await holder(client, outbox, "9811100008", name="Zoya Khan", id_number=aadhaar(508))
    await record_dose(ctx, who.reference_id, dose=1, center_id=center)
    before = await formats(client, who)

    keyring.rotate()  # the running app's key ring: the new version is current at once
    await reencrypt_all(settings, keyring=keyring)
    async with ctx.db.reader() as session:
        keys = (await session.execute(select(CertificateSigningKeys))).scalars().all()
        certs = (await session.execute(select(IssuedCertificate))).scalars().all()
    current = keyring.current_field_version
    assert all(FieldCipher.version_of(k.keyset_ct) == current for k in keys if k.keyset_ct)
    assert all(FieldCipher.version_of(c.payload_ct) == current for c in certs)
    assert await formats(client, who) == before
    issued = await record_dose(ctx, who.reference_id, dose=2, center_id=center)
    assert issued is not None and issued.status == "final"
    assert (await verify(client, qr_texts(await formats(client, who))["dcc"]))["valid"] is True


async def test_shc_issuer_is_the_public_url_that_serves_its_keys(client, outbox, ctx):
    import base64
    import zlib

    center = await make_center(ctx)
    person = await holder(client, outbox, "9811100077", name="Kiran Rao", id_number=aadhaar(577))
    await record_dose(ctx, person.reference_id, dose=1, center_id=center)
    jws = (await formats(client, person))["shc"]["jws"]
    header_b64, payload_b64, _ = jws.split(".")
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    raw = base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4))
    payload = json.loads(zlib.decompress(raw, wbits=-15))
    assert payload["iss"] == ctx.settings.public_url
    # A SMART verifier fetches <iss>/.well-known/jwks.json: the key is there.
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert header["kid"] in {key["kid"] for key in jwks["keys"]}
