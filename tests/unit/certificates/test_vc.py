from __future__ import annotations

import base64
import io
import json
import zipfile

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import NOW, make_record
from immunet.certificates import TrustList, issue_all, verify_qr
from immunet.certificates import vc as vcmod
from immunet.certificates.keys import CertificateKeySet


@pytest.fixture(scope="module")
def issued(keyset: CertificateKeySet) -> dict:
    return issue_all(make_record(), keyset)["vc"]


def test_divoc_shape(issued: dict, keyset: CertificateKeySet) -> None:
    cred = issued["credential"]
    assert cred["type"] == ["VerifiableCredential", "ProofOfVaccinationCredential"]
    assert cred["@context"][0] == "https://www.w3.org/2018/credentials/v1"
    assert cred["credentialSubject"]["type"] == "Person"
    assert [e["dose"] for e in cred["evidence"]] == [1, 2]
    assert all(e["type"] == ["Vaccination"] for e in cred["evidence"])
    assert cred["issuer"] == keyset.issuer
    proof = cred["proof"]
    assert proof["type"] == "DataIntegrityProof" and proof["cryptosuite"] == "eddsa-jcs-2022"
    assert proof["proofValue"].startswith("z")
    assert proof["verificationMethod"] == keyset.vc_verification_method


def test_qr_is_zip_of_certificate_json(issued: dict) -> None:
    data = base64.b64decode(issued["qr"])
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.namelist() == ["certificate.json"]
        assert json.loads(zf.read("certificate.json")) == issued["credential"]


def test_raw_zip_form_as_divoc(issued: dict, keyset: CertificateKeySet) -> None:
    raw = base64.b64decode(issued["qr"])
    trust = TrustList.from_keyset(keyset)
    assert verify_qr(raw, trust, at=NOW).valid
    assert verify_qr(raw.decode("latin-1"), trust, at=NOW).valid


def test_independent_signature_check(keyset: CertificateKeySet) -> None:
    """Recompute the Ed25519Signature2020 verify data directly with pyld and cryptography.

    Issued credentials now use eddsa-jcs-2022 (test_eddsa_jcs.py); the URDNA2015 suite is still
    signed by ``vc.sign`` and accepted by the verifier."""
    import hashlib

    from pyld import jsonld

    record = make_record()
    key = keyset.vc.private_key
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    cred = vcmod.sign(
        {**vcmod.credential(record, keyset), "@context": list(vcmod.CONTEXT_2020)},
        key,
        keyset.vc_verification_method,
        created=record.issued_at,
    )
    assert verify_qr(vcmod.to_qr(cred), TrustList.from_keyset(keyset), at=NOW).valid
    proof = dict(cred["proof"])
    value = proof.pop("proofValue")
    opts = {
        "algorithm": "URDNA2015",
        "format": "application/n-quads",
        "documentLoader": vcmod.document_loader,
    }
    doc = {k: v for k, v in cred.items() if k != "proof"}
    data = hashlib.sha256(
        jsonld.normalize({**proof, "@context": cred["@context"]}, opts).encode()
    ).digest()
    data += hashlib.sha256(jsonld.normalize(doc, opts).encode()).digest()
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    n = 0
    for c in value[1:]:
        n = n * 58 + alphabet.index(c)
    sig = n.to_bytes(64, "big")
    pub = keyset.vc.private_key.public_key()
    assert isinstance(pub, ed25519.Ed25519PublicKey)
    pub.verify(sig, data)
    # the canonical form holds the credential's statements (contexts resolved offline)
    nquads = jsonld.normalize(doc, opts)
    assert "https://www.w3.org/2018/credentials#VerifiableCredential" in nquads
    assert '"Asha Ramesh Kumari"' in nquads


def test_tampering_fails(issued: dict, keyset: CertificateKeySet) -> None:
    trust = TrustList.from_keyset(keyset)
    cred = json.loads(json.dumps(issued["credential"]))
    cred["credentialSubject"]["name"] = "Someone Else"
    assert verify_qr(vcmod.to_qr(cred), trust, at=NOW).reason == "bad_signature"
    cred = json.loads(json.dumps(issued["credential"]))
    cred["evidence"][0]["batch"] = "OTHER"
    assert verify_qr(vcmod.to_qr(cred), trust, at=NOW).reason == "bad_signature"
    cred = json.loads(json.dumps(issued["credential"]))
    cred["proof"]["proofValue"] = "z" + "1" * 80
    assert verify_qr(vcmod.to_qr(cred), trust, at=NOW).reason == "bad_signature"


def test_undefined_terms_are_rejected_or_fail(issued: dict, keyset: CertificateKeySet) -> None:
    """An added term the contexts don't define must not slip in unsigned."""
    trust = TrustList.from_keyset(keyset)
    cred = json.loads(json.dumps(issued["credential"]))
    cred["credentialSubject"]["undefinedTerm"] = "x"
    # eddsa-jcs-2022 signs every JSON member, so the added term breaks the signature
    assert verify_qr(vcmod.to_qr(cred), trust, at=NOW).reason == "bad_signature"
    # URDNA2015 would drop it unsigned: the verifier rejects it by the term check
    record = make_record()
    key = keyset.vc.private_key
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    legacy = vcmod.sign(
        {**vcmod.credential(record, keyset), "@context": list(vcmod.CONTEXT_2020)},
        key,
        keyset.vc_verification_method,
        created=record.issued_at,
    )
    legacy["credentialSubject"]["undefinedTerm"] = "x"
    assert verify_qr(vcmod.to_qr(legacy), trust, at=NOW).reason == "schema_error"
    # and a JCS-signed credential that carries an undefined term is rejected too
    signed = vcmod.sign_jcs(
        {**vcmod.credential(record, keyset), "undefinedTerm": "x"},
        key,
        keyset.vc_verification_method,
        created=record.issued_at,
    )
    assert verify_qr(vcmod.to_qr(signed), trust, at=NOW).reason == "schema_error"


def test_base58_round_trip() -> None:
    for data in (b"", b"\0\0abc", bytes(range(64))):
        assert vcmod.b58decode(vcmod.b58encode(data)) == data


def test_loader_never_fetches() -> None:
    from pyld.jsonld import JsonLdError

    with pytest.raises(JsonLdError):
        vcmod.document_loader("https://example.org/ctx")


@settings(max_examples=100, deadline=None)
@given(
    st.binary(max_size=4000) | st.text(max_size=2000).map(lambda t: t.encode("utf-8", "replace"))
)
def test_zip_writer_matches_zipfile(data: bytes) -> None:
    """The hand-written single-member ZIP is exactly what the standard library writes."""
    buf = io.BytesIO()
    info = zipfile.ZipInfo("certificate.json", date_time=(2021, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(info, data, compresslevel=9)
    assert vcmod.zip_single("certificate.json", data) == buf.getvalue()


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=600), st.data())
def test_fast_zip_reader_never_disagrees_with_zipfile(data: bytes, draw: st.DataObject) -> None:
    """The direct reader of immunet's ZIP layout returns content only where ``zipfile`` returns
    the same content, also for archives with bytes flipped anywhere."""
    archive = bytearray(vcmod.zip_single("certificate.json", data))
    assert vcmod._read_simple_zip(bytes(archive)) == data  # the layout we write takes the fast path
    for _ in range(draw.draw(st.integers(0, 3))):
        i = draw.draw(st.integers(0, len(archive) - 1))
        archive[i] = draw.draw(st.integers(0, 255))
    blob = bytes(archive)
    try:
        fast = vcmod._read_simple_zip(blob)
    except vcmod.DecodeError:
        fast = None
    if fast is not None:
        assert vcmod._read_zip(blob) == fast


def test_fast_zip_reader_leaves_versions_zipfile_refuses_to_zipfile() -> None:
    """A "version needed to extract" above what zipfile supports makes zipfile raise
    NotImplementedError; the direct reader must not accept such an archive either (found by
    hypothesis: a flipped byte in the version field)."""
    archive = bytearray(vcmod.zip_single("certificate.json", b'{"a": 1}'))
    offset = archive.rindex(b"PK\x01\x02") + 6  # the central directory's "version needed"
    archive[offset] = 0x70  # version 11.2 > zipfile's MAX_EXTRACT_VERSION (6.3)
    blob = bytes(archive)
    assert vcmod._read_simple_zip(blob) is None
    with pytest.raises(vcmod.DecodeError):
        vcmod._read_zip(blob)
