"""DIVOC-issued credentials (Co-WIN's W3C certificates) verify offline once the operator's
trust list carries DIVOC's public key and JSON-LD context (decision 0012).

The vectors are credentials DIVOC's own signer produced (tests/data/divoc, MIT) and DIVOC's
context (GPL-3.0, test data only: immunet bundles none of it)."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import zipfile
from importlib import resources
from typing import Any

import pytest
import segno
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import DATA
from immunet.certificates.divoc import InvalidDivocEntry
from immunet.certificates.trust import TrustList
from immunet.certificates.verify import verify_qr

D = DATA / "divoc"
V2 = "https://cowin.gov.in/credentials/vaccination/v2"
PEM = (D / "divoc-verifier-public-key.pem").read_text()
AT = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
CERTS = ["divoc-cowin-v2-certificate-1.json", "divoc-cowin-v2-certificate-2.json"]


def _entry(**changes: Any) -> dict[str, Any]:
    entry = {
        "id": "did:india",
        "issuer": "https://cowin.gov.in/",
        "publicKeyPem": PEM,
        "contexts": {V2: json.loads((D / "cowin-vaccination-v2.jsonld").read_text())},
    }
    return {**entry, **changes}


def _trust(**changes: Any) -> TrustList:
    return TrustList.from_dict({"divoc": [_entry(**changes)]})


def _cert(name: str = CERTS[0]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((D / name).read_text())
    return doc


def _divoc_qr(doc: dict[str, Any]) -> bytes:
    """DIVOC's QR content: a ZIP holding certificate.json, as raw bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("certificate.json", json.dumps(doc, separators=(",", ":")))
    return out.getvalue()


@pytest.mark.parametrize("name", CERTS)
def test_a_divoc_credential_verifies_with_the_operators_trust_list(name: str) -> None:
    doc = _cert(name)
    result = verify_qr(json.dumps(doc), _trust(), at=AT)
    assert (result.valid, result.format, result.reason) == (True, "vc", "ok"), result
    assert result.fields["issuer"] == "https://cowin.gov.in/"
    assert result.fields["evidence"][0]["vaccine"] == "Covishield"
    assert verify_qr(_divoc_qr(doc), _trust(), at=AT).valid  # the ZIP QR DIVOC prints


def test_a_photo_of_the_divoc_qr_verifies() -> None:
    out = io.BytesIO()
    segno.make(_divoc_qr(_cert()), micro=False, error="L").save(out, kind="png", scale=3)
    assert verify_qr(out.getvalue(), _trust(), at=AT).valid


def test_without_the_operators_entry_nothing_verifies() -> None:
    text = json.dumps(_cert())
    assert verify_qr(text, TrustList(), at=AT).reason == "bad_encoding"  # context unknown
    no_context = verify_qr(text, _trust(contexts={}), at=AT)
    assert no_context.reason == "bad_encoding"
    other_issuer = verify_qr(text, _trust(issuer="https://divoc.example/"), at=AT)
    assert other_issuer.reason == "unknown_key"


def test_a_changed_credential_or_another_key_fails() -> None:
    doc = _cert()
    doc["credentialSubject"]["name"] = "Someone Else"
    assert verify_qr(json.dumps(doc), _trust(), at=AT).reason == "bad_signature"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    assert verify_qr(json.dumps(_cert()), _trust(publicKeyPem=pem), at=AT).reason == (
        "bad_signature"
    )
    doc = _cert()
    doc["proof"]["proofPurpose"] = "authentication"
    assert verify_qr(json.dumps(doc), _trust(), at=AT).reason == "key_not_allowed"


def test_an_undefined_term_riding_along_is_refused() -> None:
    doc = _cert()
    doc["credentialSubject"]["aadhaar"] = "123412341234"  # not in any context: unsigned
    assert verify_qr(json.dumps(doc), _trust(), at=AT).reason == "schema_error"


def test_revocation_by_certificate_id() -> None:
    cid = _cert()["evidence"][0]["certificateId"]
    trust = TrustList.from_dict({"divoc": [_entry()], "revoked": {"vc": [cid]}})
    assert verify_qr(json.dumps(_cert()), trust, at=AT).reason == "revoked"
    assert verify_qr(json.dumps(_cert(CERTS[1])), trust, at=AT).valid


def test_the_entry_survives_export_and_bad_entries_are_refused() -> None:
    again = TrustList.from_json(_trust().to_json())
    assert verify_qr(json.dumps(_cert()), again, at=AT).valid
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    small_pem = small.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    for bad in (
        {"publicKeyPem": "not a key"},
        {"publicKeyPem": small_pem},
        {"contexts": {"http://cowin.example/v2": {"@context": {}}}},
        {"contexts": {V2: "not a document"}},
        {"contexts": []},
    ):
        with pytest.raises(InvalidDivocEntry):
            _trust(**bad)


def test_no_divoc_context_is_bundled() -> None:
    folder = resources.files("immunet.certificates").joinpath("data/contexts")
    for item in folder.iterdir():
        assert "cowin.gov.in" not in item.read_text(encoding="utf-8"), item.name


# A 2021 Co-WIN credential (DIVOC v1 context), as published with the WHO's DDCC validator's
# tests, checked under the Government of India key of the PathCheck trust registry.
V1 = "https://cowin.gov.in/credentials/vaccination/v1"
INDIA_PEM = (D / "cowin-did-india-public-key.pem").read_text()


def _v1_trust(pem: str = INDIA_PEM) -> TrustList:
    context = json.loads((D / "cowin-vaccination-v1.jsonld").read_text())
    return _trust(publicKeyPem=pem, contexts={V1: context})


def test_a_2021_cowin_v1_credential_verifies_offline() -> None:
    text = (D / "divoc-cowin-v1-certificate-ddcc.json").read_text()
    result = verify_qr(text, _v1_trust(), at=AT)
    assert (result.valid, result.format, result.reason) == (True, "vc", "ok"), result
    assert result.fields["issuer"] == "https://cowin.gov.in/"
    assert result.fields["evidence"][0]["vaccine"] == "COVISHIELD"
    # The QR as printed: a ZIP holding certificate.json (the validator's file says B64:…).
    qr = (D / "divoc-cowin-v1-qr-ddcc.txt").read_text().strip().removeprefix("B64:")
    assert verify_qr(base64.b64decode(qr), _v1_trust(), at=AT).valid


def test_a_v1_credential_needs_the_india_key_and_the_v1_context() -> None:
    text = (D / "divoc-cowin-v1-certificate-ddcc.json").read_text()
    assert verify_qr(text, _v1_trust(PEM), at=AT).reason == "bad_signature"  # DIVOC's demo key
    assert verify_qr(text, _trust(publicKeyPem=INDIA_PEM), at=AT).reason == "bad_encoding"
    edited = json.loads(text)
    edited["evidence"][0]["dose"] = 2
    assert verify_qr(json.dumps(edited), _v1_trust(), at=AT).reason == "bad_signature"
