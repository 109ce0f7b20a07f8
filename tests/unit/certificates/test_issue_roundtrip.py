"""immunet's own certificates, decoded and verified by independent implementations."""

from __future__ import annotations

import base64
import datetime as dt
import json
import zlib

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from conftest import DATA, NOW, make_record
from immunet.certificates import TrustList, issue_all, verify_qr
from immunet.certificates.keys import CertificateKeySet
from immunet.certificates.record import VACCINES

RFC9285 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def independent_b45decode(text: str) -> bytes:
    """A second Base45 decoder, written straight from RFC 9285 section 4.2."""
    out = bytearray()
    for i in range(0, len(text), 3):
        chunk = [RFC9285.index(c) for c in text[i : i + 3]]
        n = sum(v * 45**k for k, v in enumerate(chunk))
        out += n.to_bytes(2 if len(chunk) == 3 else 1, "big")
    return bytes(out)


@pytest.fixture(scope="module")
def issued(keyset: CertificateKeySet) -> dict:
    return issue_all(make_record(), keyset)


def test_shape(issued: dict) -> None:
    assert set(issued) == {"vc", "dcc", "shc", "fhir"}
    assert set(issued["vc"]) == {"credential", "qr"}
    assert set(issued["dcc"]) == {"qr"}
    assert set(issued["shc"]) == {"qr", "jws"}
    assert isinstance(issued["shc"]["qr"], list) and issued["shc"]["qr"][0].startswith("shc:/")
    assert issued["dcc"]["qr"].startswith("HC1:")


def test_hc1_with_cbor2_and_cryptography(issued: dict, keyset: CertificateKeySet) -> None:
    cose = zlib.decompress(independent_b45decode(issued["dcc"]["qr"][4:]))
    tag = cbor2.loads(cose)
    assert tag.tag == 18
    protected, unprotected, payload, signature = tag.value
    header = cbor2.loads(protected)
    assert header[1] == -7
    cert = x509.load_der_x509_certificate(keyset.dcc.certificate_der or b"")
    kid = base64.b64encode(header[4]).decode()
    assert kid == base64.b64encode(hashes_sha256(cert)[:8]).decode() == keyset.dcc.kid
    sig_structure = cbor2.dumps(["Signature1", protected, b"", payload])
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    pub = cert.public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    pub.verify(encode_dss_signature(r, s), sig_structure, ec.ECDSA(hashes.SHA256()))
    claims = cbor2.loads(payload)
    assert claims[1] == "IN" and claims[4] > claims[6]
    hcert = claims[-260][1]
    assert hcert["v"][0]["mp"] == "Covishield" and hcert["v"][0]["dn"] == 2
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert [o.dotted_string for o in eku] == ["1.3.6.1.4.1.1847.2021.1.2"]


def hashes_sha256(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    h = hashes.Hash(hashes.SHA256())
    h.update(cert.public_bytes(Encoding.DER))
    return h.finalize()


def test_dcc_payload_valid_against_schema_and_valuesets(keyset: CertificateKeySet) -> None:
    from jsonschema import Draft202012Validator

    schema = json.loads(
        (DATA / "eu-dcc" / "schema" / "1.3.3" / "DCC.combined-schema.json").read_text()
    )
    vs = DATA / "eu-dcc" / "valuesets"
    sets = {
        name: set(json.loads((vs / f"{name}.json").read_text())["valueSetValues"])
        for name in (
            "vaccine-medicinal-product",
            "vaccine-mah-manf",
            "vaccine-prophylaxis",
            "disease-agent-targeted",
            "country-2-codes",
        )
    }
    for code, vac in VACCINES.items():
        qr = issue_all(make_record(code=code), keyset)["dcc"]["qr"]
        payload = cbor2.loads(cbor2.loads(zlib.decompress(independent_b45decode(qr[4:]))).value[2])[
            -260
        ][1]
        Draft202012Validator(schema).validate(payload)
        v = payload["v"][0]
        assert v["tg"] in sets["disease-agent-targeted"] and v["co"] in sets["country-2-codes"]
        assert v["vp"] in sets["vaccine-prophylaxis"]
        if vac.eu_listed:
            assert v["mp"] in sets["vaccine-medicinal-product"], code
            assert v["ma"] in sets["vaccine-mah-manf"], code


def test_shc_with_joserfc(issued: dict, keyset: CertificateKeySet) -> None:
    joserfc = pytest.importorskip("joserfc")
    from joserfc import jws
    from joserfc.jwk import ECKey

    jwks = {"keys": [k for k in TrustList.from_keyset(keyset).to_dict()["shc"][0]["keys"]]}
    key = ECKey.import_key(jwks["keys"][0])
    assert key.thumbprint() == keyset.shc.kid == jwks["keys"][0]["kid"]
    compact = issued["shc"]["jws"]
    obj = jws.deserialize_compact(
        compact,
        key,
        algorithms=["ES256"],
        registry=jws.JWSRegistry(
            header_registry={"zip": joserfc.registry.HeaderParameter("zip", "str")},
            algorithms=["ES256"],
        ),
    )
    assert obj.protected == {"zip": "DEF", "alg": "ES256", "kid": keyset.shc.kid}
    claims = json.loads(zlib.decompress(obj.payload, -15))
    assert claims["iss"] == keyset.issuer
    bundle = claims["vc"]["credentialSubject"]["fhirBundle"]
    codes = [e["resource"]["vaccineCode"]["coding"][0] for e in bundle["entry"][1:]]
    assert codes == [{"system": "http://hl7.org/fhir/sid/cvx", "code": "210"}] * 2
    # numeric QR decodes to the same JWS
    digits = issued["shc"]["qr"][0][5:]
    assert "".join(chr(int(digits[i : i + 2]) + 45) for i in range(0, len(digits), 2)) == compact


def test_shc_jwks_matches(keyset: CertificateKeySet) -> None:
    from immunet.certificates.shc import jwks

    doc = jwks(keyset)
    assert doc["keys"][0]["kid"] == keyset.shc.kid
    assert {"kty", "crv", "x", "y", "kid", "use", "alg"} <= set(doc["keys"][0])
    assert "d" not in doc["keys"][0]


def test_fhir_models_validate(issued: dict, keyset: CertificateKeySet) -> None:
    pytest.importorskip("fhir.resources")
    from fhir.resources.R4B.bundle import Bundle

    Bundle.model_validate(issued["fhir"])
    shc_claims = json.loads(
        zlib.decompress(base64.urlsafe_b64decode(issued["shc"]["jws"].split(".")[1] + "=="), -15)
    )
    Bundle.model_validate(shc_claims["vc"]["credentialSubject"]["fhirBundle"])


def test_fhir_has_no_private_data(issued: dict) -> None:
    text = json.dumps(issued)
    assert "XXXXXXXX1234" in text  # masked ID only
    for forbidden in ("mobile", "phone", "aadhaar", "telecom"):
        assert forbidden not in text.lower()


@pytest.mark.parametrize("fmt", ["dcc", "vc"])
def test_own_verifier_accepts(issued: dict, keyset: CertificateKeySet, fmt: str) -> None:
    result = verify_qr(
        issued[fmt]["qr"], TrustList.from_keyset(keyset), at=NOW + dt.timedelta(days=1)
    )
    assert (result.valid, result.format, result.reason) == (True, fmt, "ok"), result


def test_own_verifier_accepts_shc(issued: dict, keyset: CertificateKeySet) -> None:
    result = verify_qr(
        issued["shc"]["qr"], TrustList.from_keyset(keyset), at=NOW + dt.timedelta(days=1)
    )
    assert result.valid and result.fields["name"] == "Asha Ramesh Kumari"


def test_dcc_expires_and_revocation(issued: dict, keyset: CertificateKeySet) -> None:
    trust = TrustList.from_keyset(keyset)
    assert (
        verify_qr(issued["dcc"]["qr"], trust, at=NOW + dt.timedelta(days=400)).reason == "expired"
    )
    from immunet.certificates.trust import uvci_hashes

    uvci = make_record().uvci
    revoked = TrustList(revoked_dcc={uvci_hashes(uvci)[0]})
    assert verify_qr(issued["dcc"]["qr"], trust, at=NOW, revocations=revoked).reason == "revoked"


def test_shc_revocation_by_rid(issued: dict, keyset: CertificateKeySet) -> None:
    from immunet.certificates.shc import revocation_id

    rid = revocation_id(make_record())
    trust = TrustList.from_keyset(keyset)
    trust.revoked_shc[keyset.shc.kid] = [rid]
    assert verify_qr(issued["shc"]["qr"], trust, at=NOW).reason == "revoked"


def test_dcc_key_not_allowed_for_type(keyset: CertificateKeySet) -> None:
    """A DSC whose EKU allows only tests may not sign a vaccination certificate."""
    from cryptography.x509.oid import NameOID

    dsc = keyset.dcc
    cert = x509.load_der_x509_certificate(dsc.certificate_der or b"")
    key = dsc.private_key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-only")])
    test_only = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
        .add_extension(
            x509.ExtendedKeyUsage([x509.ObjectIdentifier("1.3.6.1.4.1.1847.2021.1.1")]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    from cryptography.hazmat.primitives.serialization import Encoding

    trust = TrustList()
    trust.add_dcc(test_only.public_bytes(Encoding.DER), kid=dsc.kid)
    qr = issue_all(make_record(), keyset)["dcc"]["qr"]
    assert verify_qr(qr, trust, at=NOW).reason == "key_not_allowed"


def test_unknown_key_for_every_format(issued: dict) -> None:
    for fmt in ("dcc", "vc"):
        assert verify_qr(issued[fmt]["qr"], TrustList(), at=NOW).reason == "unknown_key"
    assert verify_qr(issued["shc"]["qr"], TrustList(), at=NOW).reason == "unknown_key"


def test_precaution_dose_and_dob(keyset: CertificateKeySet) -> None:
    rec = make_record(3, status="precaution", birth_year=None, date_of_birth=dt.date(1990, 2, 3))
    out = issue_all(rec, keyset)
    trust = TrustList.from_keyset(keyset)
    for fmt in ("dcc", "vc"):
        assert verify_qr(out[fmt]["qr"], trust, at=NOW).valid
    res = verify_qr(out["dcc"]["qr"], trust, at=NOW)
    assert (
        res.fields["dob"] == "1990-02-03"
        and res.fields["v"][0]["dn"] == 3
        and res.fields["v"][0]["sd"] == 3
    )


def test_vectors_data_present() -> None:
    assert (DATA / "eu-dcc" / "testdata" / "LICENSE").exists() and (
        DATA / "shc" / "LICENSE"
    ).exists()
