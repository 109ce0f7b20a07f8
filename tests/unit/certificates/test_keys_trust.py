from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json

import pytest
from cryptography import x509

from conftest import NOW, make_record
from immunet.certificates import TrustList, issue_all, verify_qr
from immunet.certificates._jwk import thumbprint
from immunet.certificates.keys import CertificateKeySet


def test_generate_key_ids(keyset: CertificateKeySet) -> None:
    der = keyset.dcc.certificate_der
    assert der is not None
    assert keyset.dcc.kid == base64.b64encode(hashlib.sha256(der).digest()[:8]).decode()
    assert keyset.shc.kid == thumbprint(keyset.shc.public_jwk)
    assert keyset.vc.kid == thumbprint(keyset.vc.public_jwk)
    assert keyset.vc_verification_method == f"{keyset.issuer}#{keyset.vc.kid}"
    cert = x509.load_der_x509_certificate(der)
    assert (
        cert.public_key().public_numbers() == keyset.dcc.private_key.public_key().public_numbers()
    )  # type: ignore[union-attr]


def test_json_round_trip(keyset: CertificateKeySet) -> None:
    blob = keyset.to_json()
    again = CertificateKeySet.from_json(blob)
    assert again.to_json() == blob
    assert again.issuer == keyset.issuer and again.dcc.kid == keyset.dcc.kid
    # keys work after reload: a certificate signed with the reloaded set verifies with the original
    out = issue_all(make_record(), again)
    trust = TrustList.from_keyset(keyset)
    for fmt in ("dcc", "vc"):
        assert verify_qr(out[fmt]["qr"], trust, at=NOW).valid


def test_from_json_rejects_unknown_format() -> None:
    with pytest.raises(ValueError):
        CertificateKeySet.from_json(json.dumps({"format": 99}))


def test_rotation_keeps_old_certificates_verifying(keyset: CertificateKeySet) -> None:
    old = issue_all(make_record(), keyset)
    rotated = keyset.rotate(now=NOW)
    assert {rotated.vc.kid, rotated.dcc.kid, rotated.shc.kid}.isdisjoint(
        {keyset.vc.kid, keyset.dcc.kid, keyset.shc.kid}
    )
    assert len(rotated.retired) == 3
    rotated = CertificateKeySet.from_json(rotated.to_json())
    trust = TrustList.from_keyset(rotated)
    at = NOW + dt.timedelta(days=1)
    for fmt in ("dcc", "vc"):
        assert verify_qr(old[fmt]["qr"], trust, at=at).valid, fmt
    assert verify_qr(old["shc"]["qr"], trust, at=at).valid
    new = issue_all(make_record(), rotated)
    for fmt in ("dcc", "vc"):
        assert verify_qr(new[fmt]["qr"], trust, at=at).valid, fmt
    # retired keys hold no private half
    blob = json.loads(rotated.to_json())
    assert all("private_key" not in r for r in blob["retired"])


def test_rotate_one_purpose(keyset: CertificateKeySet) -> None:
    rotated = keyset.rotate(("shc",), now=NOW)
    assert rotated.dcc.kid == keyset.dcc.kid and rotated.shc.kid != keyset.shc.kid


def test_trust_list_json_round_trip(keyset: CertificateKeySet) -> None:
    trust = TrustList.from_keyset(keyset)
    trust.revoked_dcc.add("abc")
    trust.revoked_shc["kid"] = ["rid1", "rid2.1700000000"]
    trust.revoked_vc.add("CERT-1")
    doc = json.loads(trust.to_json())
    assert set(doc) == {"dcc", "shc", "vc", "revoked"}
    assert set(doc["dcc"][0]) == {"kid", "certificate"}
    assert set(doc["shc"][0]) == {"iss", "keys"}
    assert set(doc["vc"][0]) == {"id", "publicKeyJwk"}
    again = TrustList.from_json(trust.to_json())
    assert again.to_dict() == trust.to_dict()
    # kid is optional: derived from the certificate
    doc["dcc"][0].pop("kid")
    assert TrustList.from_dict(doc).dcc[0].kid == keyset.dcc.kid
    out = issue_all(make_record(), keyset)
    assert verify_qr(out["dcc"]["qr"], TrustList.from_dict(doc), at=NOW).valid


def test_vc_revocation(keyset: CertificateKeySet) -> None:
    out = issue_all(make_record(), keyset)
    trust = TrustList.from_keyset(keyset)
    trust.revoked_vc.add("CERT-0001-2345/v1")
    assert verify_qr(out["vc"]["qr"], trust, at=NOW).reason == "revoked"
