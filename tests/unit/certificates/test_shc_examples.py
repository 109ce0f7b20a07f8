"""SMART Health Cards spec examples: every stage both ways, signatures, kids, revocation."""

from __future__ import annotations

import datetime as dt
import json
import zlib
from pathlib import Path

import pytest

from conftest import DATA
from immunet.certificates import shc
from immunet.certificates._jwk import thumbprint
from immunet.certificates._safe import b64url_decode
from immunet.certificates.trust import ShcIssuer, TrustList
from immunet.certificates.verify import verify_qr

EX = DATA / "shc" / "spec-examples"
ISS = "https://spec.smarthealth.cards/examples/issuer"
AT = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)  # after the cards' nbf (2023-06-22)
EXAMPLES = ["00", "01", "02", "03"]


def _qr(n: str) -> list[str]:
    return [
        p.read_text().strip() for p in sorted(EX.glob(f"example-{n}-f-qr-code-numeric-value-*.txt"))
    ]


def _jws(n: str) -> str:
    return (EX / f"example-{n}-d-jws.txt").read_text().strip()


def _trust() -> TrustList:
    """The issuer resolved to the bundled .well-known folder (no network)."""
    wk = EX / "issuer" / ".well-known"
    doc = {
        "shc": [{"iss": ISS, "keys": json.loads((wk / "jwks.json").read_text())["keys"]}],
        "revoked": {
            "shc": {p.stem: json.loads(p.read_text()) for p in (wk / "crl").glob("*.json")}
        },
    }
    return TrustList.from_dict(doc)


@pytest.mark.parametrize("n", EXAMPLES)
def test_stages_decode_and_reencode(n: str) -> None:
    jws = shc.jws_from_qr(_qr(n))
    assert jws == _jws(n)
    token = shc.parse_jws(jws)
    assert (
        token.raw_payload == (EX / f"example-{n}-c-jws-payload-minified.json").read_bytes().strip()
    )
    expanded = json.loads((EX / f"example-{n}-b-jws-payload-expanded.json").read_text())
    assert token.claims == expanded
    bundle = json.loads((EX / f"example-{n}-a-fhirBundle.json").read_text())
    assert token.claims["vc"]["credentialSubject"]["fhirBundle"] == bundle
    card = json.loads((EX / f"example-{n}-e-file.smart-health-card").read_text())
    assert card["verifiableCredential"] == [jws]
    assert shc.qr_chunks(jws) == _qr(n)  # re-encoding gives the QR texts again
    header = json.loads(b64url_decode(jws.split(".")[0]))
    assert header["zip"] == "DEF" and header["alg"] == "ES256"


def test_example_02_is_chunked_and_order_independent() -> None:
    chunks = _qr("02")
    assert len(chunks) == 3 and [c.split("/")[1:3] for c in chunks] == [
        ["1", "3"],
        ["2", "3"],
        ["3", "3"],
    ]
    assert len(_jws("02")) == 3285
    assert shc.jws_from_qr(list(reversed(chunks))) == _jws("02")


def test_every_kid_is_the_thumbprint() -> None:
    keys = json.loads((EX / "issuer" / ".well-known" / "jwks.json").read_text())["keys"]
    assert len(keys) == 2
    for jwk in keys:
        assert thumbprint(jwk) == jwk["kid"]


@pytest.mark.parametrize("n", EXAMPLES)
def test_signatures_verify_and_revocation(n: str) -> None:
    result = verify_qr(_qr(n), _trust(), at=AT)
    assert result.format == "shc"
    if n == "03":
        assert (result.valid, result.reason) == (False, "revoked")
        assert result.fields["rid"] == "vwAjHdarZuc"
    elif n == "01":
        # Its key carries x5c; the leaf certificate expired on 2022-06-01, before the card's
        # nbf, so the spec's "valid path of unexpired certificates" cannot hold (NOTES.md).
        assert (result.valid, result.reason) == (False, "key_not_allowed"), result
        assert "x5c" in result.detail
    else:
        assert (result.valid, result.reason) == (True, "ok"), result
    # the same through a whitespace-separated single text
    assert verify_qr("\n".join(_qr(n)), _trust(), at=AT).reason == result.reason


def test_signature_key_matches_kid() -> None:
    trust = _trust()
    issuer = trust.shc_issuer(ISS)
    assert isinstance(issuer, ShcIssuer)
    for n, kid in [
        ("00", "3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s"),
        ("01", "EBKOr72QQDcTBUuVzAzkfBTGew0ZA16GuWty64nS-sw"),
    ]:
        token = shc.parse_jws(_jws(n))
        assert token.kid == kid
        jwk = issuer.key(kid)
        assert jwk is not None and shc.verify_jws(token, jwk)


def test_revocation_timestamp_rule() -> None:
    trust = _trust()
    kid = "3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s"
    assert trust.is_shc_revoked(kid, "vwAjHdarZuc", 1687450764.657)
    assert not trust.is_shc_revoked(kid, "vwAjHdarZuc", 1687450766.0)  # issued after the cut-off
    assert not trust.is_shc_revoked(kid, "MKyCxh7p6uQ", 1687450764.657)


def test_not_yet_valid_before_nbf() -> None:
    assert (
        verify_qr(_qr("00"), _trust(), at=dt.datetime(2023, 1, 1, tzinfo=dt.UTC)).reason
        == "expired"
    )


def _numeric(jws: str) -> list[str]:
    return shc.qr_chunks(jws)


def test_tampered_payload_fails() -> None:
    jws = _jws("00")
    h, p, s = jws.split(".")
    raw = zlib.decompress(b64url_decode(p), -15).replace(b"Anyperson", b"Someperson")
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    from immunet.certificates._safe import b64url_encode

    forged = f"{h}.{b64url_encode(comp.compress(raw) + comp.flush())}.{s}"
    assert verify_qr(_numeric(forged), _trust(), at=AT).reason == "bad_signature"


def test_tampered_byte_in_signature_fails() -> None:
    h, p, s = _jws("00").split(".")
    s = ("A" if s[0] != "A" else "B") + s[1:]
    assert verify_qr(_numeric(f"{h}.{p}.{s}"), _trust(), at=AT).reason == "bad_signature"


def test_tampered_header_and_kid() -> None:
    from immunet.certificates._safe import b64url_encode

    h, p, s = _jws("00").split(".")
    header = json.loads(b64url_decode(h))
    other = dict(header, kid="EBKOr72QQDcTBUuVzAzkfBTGew0ZA16GuWty64nS-sw")
    assert (
        verify_qr(
            _numeric(f"{b64url_encode(json.dumps(other).encode())}.{p}.{s}"), _trust(), at=AT
        ).reason
        == "bad_signature"
    )
    unknown = dict(header, kid="nope")
    assert (
        verify_qr(
            _numeric(f"{b64url_encode(json.dumps(unknown).encode())}.{p}.{s}"), _trust(), at=AT
        ).reason
        == "unknown_key"
    )
    none_alg = dict(header, alg="none")
    assert not verify_qr(
        _numeric(f"{b64url_encode(json.dumps(none_alg).encode())}.{p}.{s}"), _trust(), at=AT
    ).valid


def test_der_signature_is_rejected() -> None:
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    from immunet.certificates._safe import b64url_encode

    h, p, s = _jws("00").split(".")
    raw = b64url_decode(s)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    assert (
        verify_qr(_numeric(f"{h}.{p}.{b64url_encode(der)}"), _trust(), at=AT).reason
        == "bad_signature"
    )


def test_unknown_issuer() -> None:
    assert verify_qr(_qr("00"), TrustList(), at=AT).reason == "unknown_key"


def test_chunk_errors() -> None:
    chunks = _qr("02")
    for bad in (chunks[:2], [chunks[0], chunks[0], chunks[2]], [*chunks, _qr("00")[0]]):
        assert verify_qr(bad, _trust(), at=AT).reason == "bad_encoding"


def test_paths_exist() -> None:
    assert Path(EX / "issuer" / ".well-known" / "jwks.json").exists()


def test_own_chunking_balanced() -> None:
    jws = "a.b." + "x" * 3000
    chunks = shc.qr_chunks(jws)
    assert len(chunks) == 3 and all(c.startswith(f"shc:/{i}/3/") for i, c in enumerate(chunks, 1))
    assert shc.jws_from_qr(chunks) == jws
    assert shc.qr_chunks("a" * 1195) == ["shc:/" + "52" * 1195]  # fits one QR: no chunk header
