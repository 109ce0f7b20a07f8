"""Certificates under attack: BOLA on download/formats, what /verify reveals, hostile QR input,
PDF floods, minimal payloads, and nothing of a certificate readable from a database copy."""

from __future__ import annotations

import base64
import io
import json
import zipfile
import zlib

import cbor2
import pytest

from immunet.certificates import base45
from immunet.certificates.service import PDFS_PER_HOUR
from tests.factories import aadhaar
from tests.factories.certificates import formats, holder, qr_texts, record_dose, verify
from tests.factories.sessions import make_center
from tests.security.test_pii_at_rest import _database_bytes

DOWNLOAD = "/api/v2/registration/certificate/public/download"
FORMATS = "/api/v2/registration/certificate/public/formats"
VERIFY = "/api/v2/certificates/verify"


async def _two_holders(client, outbox, ctx):
    center = await make_center(ctx)
    a = await holder(client, outbox, "9833300001", name="Anil Kapoor", id_number=aadhaar(601))
    b = await holder(client, outbox, "9833300002", name="Bina Sethi", id_number=aadhaar(602))
    await record_dose(ctx, a.reference_id, dose=1, center_id=center)
    await record_dose(ctx, b.reference_id, dose=1, center_id=center)
    return a, b


@pytest.mark.parametrize("path", [DOWNLOAD, FORMATS])
async def test_another_accounts_certificate_is_the_same_404_as_none(client, outbox, ctx, path):
    a, b = await _two_holders(client, outbox, ctx)
    own = await client.get(
        path, params={"beneficiary_reference_id": a.reference_id}, headers=a.headers
    )
    assert own.status_code == 200
    theirs = await client.get(
        path, params={"beneficiary_reference_id": b.reference_id}, headers=a.headers
    )
    never = await client.get(
        path, params={"beneficiary_reference_id": "99999999999999"}, headers=a.headers
    )
    assert theirs.status_code == never.status_code == 404
    assert theirs.json() == never.json()
    assert b"Bina" not in theirs.content
    anonymous = await client.get(path, params={"beneficiary_reference_id": a.reference_id})
    assert anonymous.status_code == 401
    junk = await client.get(path, params={"beneficiary_reference_id": "1" * 500}, headers=a.headers)
    assert junk.status_code == 400


async def test_verify_reveals_only_what_the_certificate_carries(client, outbox, ctx):
    a, _ = await _two_holders(client, outbox, ctx)
    doc = await formats(client, a)
    for text in qr_texts(doc).values():
        response = await client.post(VERIFY, json={"qr": text})
        assert response.status_code == 200
        body = response.text
        assert response.json()["valid"] is True
        assert a.mobile not in body and a.mobile[-6:] not in body
        assert a.id_number not in body and a.id_number[:8] not in body
    # a forged certificate: valid false, and no look-up of who it names
    forged = doc["dcc"]["qr"][:-8] + "AAAAAAAA"
    answer = await client.post(VERIFY, json={"qr": forged})
    assert answer.status_code == 200 and answer.json()["valid"] is False


def _payload_texts(doc) -> list[bytes]:
    """Every format's payload, decoded by hand (not with immunet's decoders)."""
    out = [json.dumps(doc, ensure_ascii=False).encode("utf-8")]
    cose = cbor2.loads(zlib.decompress(base45.b45decode(doc["dcc"]["qr"][4:])))
    out.append(json.dumps(cbor2.loads(cose.value[2]), default=str, ensure_ascii=False).encode())
    body = doc["shc"]["jws"].split(".")[1]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    out.append(zlib.decompress(raw, -15))
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(doc["vc"]["qr"]))) as zf:
        out.append(zf.read("certificate.json"))
    return out


async def test_certificate_payloads_carry_no_mobile_and_no_full_aadhaar(client, outbox, ctx):
    a, _ = await _two_holders(client, outbox, ctx)
    doc = await formats(client, a)
    texts = _payload_texts(doc)
    assert any(b"Anil" in t for t in texts)  # the decoding worked: the name is there
    for text in texts:
        assert a.mobile.encode() not in text
        assert a.id_number.encode() not in text
        assert a.id_number[:8].encode() not in text
    assert doc["vc"]["credential"]["credentialSubject"]["maskedId"].endswith(a.id_number[-4:])


TEXT = {"Content-Type": "text/plain"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
HOSTILE: list[tuple[str, dict]] = [
    ("empty json", {"json": {"qr": ""}}),
    ("not json", {"content": b"{qr:", "headers": {"Content-Type": "application/json"}}),
    ("extra field", {"json": {"qr": "HC1:ABC", "mobile": "9833300001"}}),
    ("wrong type", {"json": {"qr": 12}}),
    ("too long", {"json": {"qr": "HC1:" + "A" * 20000}}),
    ("too many chunks", {"json": {"qr": ["shc:/1/30/00"] * 30}}),
    ("bad prefix", {"json": {"qr": "HC9:6BFOXN%TS3DH0YOJ58S"}}),
    ("truncated hc1", {"json": {"qr": "HC1:6BFOXN%TS3DH0YOJ58S S-W5HDC *M0II5XHC9B5G2+$N"}}),
    ("garbage base45", {"json": {"qr": "HC1:" + "~" * 200}}),
    ("shc odd digits", {"json": {"qr": "shc:/567"}}),
    ("shc huge value", {"json": {"qr": "shc:/" + "99" * 100}}),
    ("shc chunks mismatch", {"json": {"qr": ["shc:/1/2/56", "shc:/1/3/56"]}}),
    ("vc not base64", {"json": {"qr": "UEsDB!!!!"}}),
    ("sql", {"json": {"qr": "' OR 1=1; DROP TABLE issued_certificates; --"}}),
    ("unicode digits", {"json": {"qr": "shc:/९८७६"}}),
    ("non utf8 text", {"content": b"\xff\xfe\x00HC1:\x80\x81", "headers": TEXT}),
    ("empty text", {"content": b"   ", "headers": TEXT}),
    ("form", {"content": b"qr=HC1", "headers": FORM}),
    ("oversized body", {"content": b"A" * 40000, "headers": TEXT}),
    (
        "nested",
        {
            "content": b'{"qr":' + b"[" * 5000 + b"]" * 5000 + b"}",
            "headers": {"Content-Type": "application/json"},
        },
    ),
]


def _zip_bomb_qr() -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("certificate.json", b"{" + b" " * 20_000_000 + b"}")
    return base64.b64encode(buf.getvalue()).decode()


def _deflate_bomb_hc1() -> str:
    return "HC1:" + base45.b45encode(zlib.compress(b"\x00" * 50_000_000, 9))


async def test_hostile_inputs_get_a_clean_answer(client):
    cases = list(HOSTILE)
    bomb = _zip_bomb_qr()
    if len(bomb) <= 16 * 1024:
        cases.append(("zip bomb", {"json": {"qr": bomb}}))
    hc1_bomb = _deflate_bomb_hc1()
    cases.append(("deflate bomb", {"json": {"qr": hc1_bomb[: 16 * 1024]}}))
    deep = cbor2.dumps(json.loads("[" * 200 + "]" * 200))
    cases.append(("deep cbor", {"json": {"qr": "HC1:" + base45.b45encode(zlib.compress(deep))}}))
    for name, kwargs in cases:
        response = await client.post(VERIFY, **kwargs)
        assert response.status_code in (200, 400, 413, 415), (name, response.status_code)
        if response.status_code == 200:
            assert response.json()["valid"] is False, name
            assert response.json()["reason"], name
        else:
            assert set(response.json()) == {"errorCode", "error"}, name


async def test_verify_is_rate_limited_per_address(client_with):
    limited = await client_with(public_requests_per_5min=3)
    answers = [(await limited.post(VERIFY, json={"qr": "HC1:XX"})).status_code for _ in range(5)]
    assert answers[:3] == [200, 200, 200] and answers[3:] == [429, 429]
    other = await client_with(peer="198.51.100.9", public_requests_per_5min=3)
    assert (await other.post(VERIFY, json={"qr": "HC1:XX"})).status_code == 200


async def test_pdf_generation_is_rate_limited_per_account(client, outbox, ctx):
    a, _ = await _two_holders(client, outbox, ctx)
    params = {"beneficiary_reference_id": a.reference_id}
    statuses = [
        (await client.get(DOWNLOAD, params=params, headers=a.headers)).status_code
        for _ in range(PDFS_PER_HOUR.limit + 1)
    ]
    assert statuses[:-1] == [200] * PDFS_PER_HOUR.limit
    assert statuses[-1] == 429


async def test_database_copy_holds_no_certificate_plaintext(client, outbox, ctx, settings):
    a, b = await _two_holders(client, outbox, ctx)
    doc = await formats(client, a)
    await verify(client, doc["dcc"]["qr"])
    raw = _database_bytes(settings.database_url)
    assert len(raw) > 10_000
    secrets = [
        b"Anil Kapoor",
        b"Kapoor",
        b"KAPOOR",
        b"Bina Sethi",
        b"Sethi",
        b"SETHI",
        a.mobile.encode(),
        b.mobile.encode(),
        a.id_number.encode(),
        b.id_number.encode(),
        doc["dcc"]["qr"][:40].encode(),
        doc["shc"]["jws"][:40].encode(),
        doc["vc"]["qr"][:40].encode(),
    ]
    for secret in secrets:
        assert secret not in raw, f"certificate plaintext found in the database: {secret[:4]!r}…"
