"""eddsa-jcs-2022 (W3C Data Integrity EdDSA Cryptosuites v1.0) against the spec's test vectors.

The vectors in ``tests/data/vc-di-eddsa`` are the W3C Recommendation's published ones (see the
README there); JCS is compared with the ``rfc8785`` reference implementation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import NOW, make_record
from immunet.certificates import TrustList, _jcs, issue_all, verify_qr
from immunet.certificates import vc as vcmod
from immunet.certificates.keys import CertificateKeySet

VECTORS = Path(__file__).parents[2] / "data" / "vc-di-eddsa"


def _text(name: str) -> str:
    return (VECTORS / name).read_text(encoding="utf-8").strip()


def _json(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def _multikey(value: str, prefix: bytes) -> bytes:
    raw = vcmod.b58decode(value[1:])
    assert value[0] == "z" and raw[: len(prefix)] == prefix and len(raw) == len(prefix) + 32
    return raw[len(prefix) :]


@pytest.fixture(scope="module")
def key_pair() -> tuple[ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey]:
    pair = _json("keyPair.json")
    # multicodec ed25519-priv (0x1300) and ed25519-pub (0xed), varint-encoded
    private = ed25519.Ed25519PrivateKey.from_private_bytes(
        _multikey(pair["privateKeyMultibase"], b"\x80\x26")
    )
    public = ed25519.Ed25519PublicKey.from_public_bytes(
        _multikey(pair["publicKeyMultibase"], b"\xed\x01")
    )
    return private, public


def test_canonical_forms_and_hashes_match_the_vectors() -> None:
    unsigned = _json("unsigned.json")
    config = _json("proofConfigJCS.json")
    assert _jcs.canonicalize(unsigned).decode() == _text("canonDocJCS.txt")
    assert _jcs.canonicalize(config).decode() == _text("proofCanonJCS.txt")
    assert hashlib.sha256(_jcs.canonicalize(unsigned)).hexdigest() == _text("docHashJCS.txt")
    assert hashlib.sha256(_jcs.canonicalize(config)).hexdigest() == _text("proofHashJCS.txt")
    assert vcmod._jcs_hash_data(unsigned, config).hex() == _text("combinedHashJCS.txt")


def test_signing_reproduces_the_signed_vector(key_pair: Any) -> None:
    private, _public = key_pair
    config = _json("proofConfigJCS.json")
    created = dt.datetime.fromisoformat(config["created"].replace("Z", "+00:00"))
    signed = vcmod.sign_jcs(
        _json("unsigned.json"), private, config["verificationMethod"], created=created
    )
    assert signed == _json("signedJCS.json")  # Ed25519 is deterministic
    assert signed["proof"]["proofValue"] == _text("sigBTC58JCS.txt")
    assert vcmod.b58decode(signed["proof"]["proofValue"][1:]).hex() == _text("sigHexJCS.txt")


def test_the_signed_vector_verifies_and_tampering_does_not(key_pair: Any) -> None:
    _private, public = key_pair
    signed = _json("signedJCS.json")
    assert vcmod.verify_proof(signed, public)
    for change in (
        lambda d: d["credentialSubject"].update(alumniOf="Elsewhere"),
        lambda d: d["proof"].update(created="2023-02-24T23:36:39Z"),
        lambda d: d["proof"].update(cryptosuite="eddsa-rdfc-2022"),
        lambda d: d.update({"@context": ["https://www.w3.org/ns/credentials/v2"]}),
        lambda d: d.update(extra=1),
    ):
        doc = json.loads(json.dumps(signed))
        change(doc)
        assert not vcmod.verify_proof(doc, public)


def test_issued_credentials_use_eddsa_jcs_2022(keyset: CertificateKeySet) -> None:
    cred = issue_all(make_record(), keyset)["vc"]["credential"]
    proof = cred["proof"]
    assert proof["type"] == "DataIntegrityProof" and proof["cryptosuite"] == "eddsa-jcs-2022"
    assert proof["@context"] == cred["@context"] == vcmod.CONTEXT
    # independent check: rfc8785 + cryptography, nothing of ours but base58
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    doc = {k: v for k, v in cred.items() if k != "proof"}
    data = hashlib.sha256(rfc8785.dumps(options)).digest()
    data += hashlib.sha256(rfc8785.dumps(doc)).digest()
    pub = keyset.vc.private_key.public_key()
    assert isinstance(pub, ed25519.Ed25519PublicKey)
    pub.verify(vcmod.b58decode(proof["proofValue"][1:]), data)


def test_verifier_accepts_both_suites(keyset: CertificateKeySet) -> None:
    trust = TrustList.from_keyset(keyset)
    key = keyset.vc.private_key
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    record = make_record()
    doc = vcmod.credential(record, keyset)
    jcs = vcmod.sign_jcs(doc, key, keyset.vc_verification_method, created=record.issued_at)
    legacy_doc = {**doc, "@context": list(vcmod.CONTEXT_2020)}
    legacy = vcmod.sign(legacy_doc, key, keyset.vc_verification_method, created=record.issued_at)
    for signed in (jcs, legacy):
        result = verify_qr(vcmod.to_qr(signed), trust, at=NOW)
        assert result.valid, result.detail
        tampered = json.loads(json.dumps(signed))
        tampered["evidence"][0]["batch"] = "OTHER"
        assert verify_qr(vcmod.to_qr(tampered), trust, at=NOW).reason == "bad_signature"


def test_swapping_the_suite_name_fails(keyset: CertificateKeySet) -> None:
    """A JCS signature relabelled Ed25519Signature2020 (or the reverse) must not verify."""
    trust = TrustList.from_keyset(keyset)
    cred = json.loads(json.dumps(issue_all(make_record(), keyset)["vc"]["credential"]))
    cred["proof"]["type"] = "Ed25519Signature2020"
    del cred["proof"]["cryptosuite"]
    assert not verify_qr(vcmod.to_qr(cred), trust, at=NOW).valid


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(_json_values)
def test_fast_path_equals_rfc8785(value: Any) -> None:
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        with pytest.raises(_jcs.CanonicalizationError):
            _jcs.canonicalize(value)
        return
    assert _jcs.canonicalize(value) == expected


def test_fast_path_edge_cases_equal_rfc8785() -> None:
    cases: list[Any] = [
        {"\U0001f600": 1, "\ue000": 2, "a": 3},  # astral vs private-use key order (UTF-16)
        {"k": '\x00\x07\x08\t\n\x0b\x0c\r\x1f\x7f\u2028"\\/é\U0001f600'},
        [2**53 - 1, -(2**53 - 1), 0, True, False, None],
        {"b": [], "a": {}, "": ""},
    ]
    for value in cases:
        assert _jcs.canonicalize(value) == rfc8785.dumps(value)
    with pytest.raises(_jcs.CanonicalizationError):
        _jcs.canonicalize({"a": "\ud800"})
    with pytest.raises(_jcs.CanonicalizationError):
        _jcs.canonicalize(2**53)
