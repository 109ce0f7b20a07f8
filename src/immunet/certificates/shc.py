"""SMART Health Cards: FHIR bundle → JWS (ES256, ``zip: DEF``) → numeric ``shc:/`` QR text.

* The JWS payload is raw DEFLATE (no zlib header) of the minified JSON
  ``{iss, nbf, vc: {type, credentialSubject: {fhirVersion, fhirBundle}, rid?}}``.
* ``kid`` is the RFC 7638 thumbprint of the signing key; :func:`jwks` publishes the issuer keys
  for ``/.well-known/jwks.json``.
* Numeric mode: every JWS character becomes two digits, ``ord(c) - 45``. A JWS longer than
  1195 characters is split into balanced chunks ``shc:/i/n/…`` of at most 1191 characters each
  (spec, "Chunking Larger SHCs": deprecated, but the only way to fit large cards; immunet's
  vaccination cards fit one QR). A verifier refuses longer texts: they do not fit a V22 QR.
* A verifier's duties (spec text, checked here): ``zip: "DEF"`` with a raw-DEFLATE payload;
  ``iss`` an ``https`` URL without a trailing ``/`` (:func:`issuer_url_error`); a QR text is
  exactly ``shc:/`` and digits, with nothing around it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import math
import zlib
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from . import fhir
from ._jwk import key_from_jwk
from ._safe import MAX_INFLATED, DecodeError, b64url_decode, b64url_encode, inflate
from .keys import CertificateKeySet
from .record import CertificateRecord

MAX_SINGLE_JWS = 1195  # one V22 QR code (spec, "Encoding QRs")
MAX_CHUNK_JWS = 1191  # each chunk of a chunked card (spec, "Chunking Larger SHCs")
VC_TYPES = [
    "https://smarthealth.cards#health-card",
    "https://smarthealth.cards#immunization",
    "https://smarthealth.cards#covid19",
]


# what json.dumps(separators=(",", ":"), ensure_ascii=False) writes, without building an encoder
# per call
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


# ECDSA with SHA-256: an immutable parameter object, built once rather than per signature
_ES256 = ec.ECDSA(hashes.SHA256())


def _compact(obj: Any) -> bytes:
    return _COMPACT_JSON(obj).encode("utf-8")


def payload(
    record: CertificateRecord, issuer: str, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    nbf = (now or record.issued_at).timestamp()
    vc: dict[str, Any] = {
        "type": VC_TYPES,
        "credentialSubject": {"fhirVersion": "4.0.1", "fhirBundle": fhir.shc_bundle(record)},
    }
    # rid: a stable, non-identifying revocation id for this certificate version (see ADR 0005)
    vc["rid"] = revocation_id(record)
    return {"iss": issuer, "nbf": int(nbf), "vc": vc}


def revocation_id(record: CertificateRecord) -> str:
    return version_rid(record.certificate_id, record.version)


def version_rid(certificate_id: str, version: int) -> str:
    """The rid of one version of a certificate (or of an immunization card)."""
    import hashlib

    digest = hashlib.sha256(f"{certificate_id}/v{version}".encode()).digest()
    return b64url_encode(digest[:8])


@lru_cache(maxsize=64)
def _header_segment(kid: str) -> str:
    """The base64url JWS header of every card a key signs (the same for all of them)."""
    return b64url_encode(_compact({"zip": "DEF", "alg": "ES256", "kid": kid}))


def sign_jws(claims: dict[str, Any], key: ec.EllipticCurvePrivateKey, kid: str) -> str:
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = comp.compress(_compact(claims)) + comp.flush()
    signing_input = f"{_header_segment(kid)}.{b64url_encode(body)}"
    r, s = decode_dss_signature(key.sign(signing_input.encode("ascii"), _ES256))
    return f"{signing_input}.{b64url_encode(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def issue(record: CertificateRecord, keyset: CertificateKeySet) -> dict[str, Any]:
    """``{"jws": compact JWS, "qr": [numeric QR texts]}``."""
    key = keyset.shc.private_key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    jws = sign_jws(payload(record, keyset.issuer), key, keyset.shc.kid)
    return {"jws": jws, "qr": qr_chunks(jws)}


def jwks(keyset: CertificateKeySet) -> dict[str, Any]:
    """The issuer's ``/.well-known/jwks.json``: active and retired SHC public keys."""
    from .trust import TrustList

    issuer = TrustList.from_keyset(keyset).shc_issuer(keyset.issuer)
    assert issuer is not None
    return {"keys": [dict(k) for k in issuer.keys]}


# -- numeric QR encoding ---------------------------------------------------------------------


# Numeric mode maps each character c (45 ≤ ord(c) ≤ 122) to the two decimal digits of
# ord(c) - 45. Done per character in Python this cost ~0.5 ms per card; instead each value v is
# written as the byte 16·(v // 10) + v % 10, whose hex form *is* the two decimal digits, so
# ``bytes.hex`` / ``bytes.fromhex`` plus one ``translate`` table do the work in C.
_TO_BCD = bytes(
    (16 * ((c - 45) // 10) + (c - 45) % 10) if 45 <= c <= 122 else 0xFF for c in range(256)
)
_FROM_BCD = bytes(
    (10 * (b >> 4) + (b & 15) + 45)
    if (b >> 4) <= 9 and (b & 15) <= 9 and 10 * (b >> 4) + (b & 15) <= 77
    else 0
    for b in range(256)
)


def to_numeric(jws: str) -> str:
    data = jws.encode("ascii")
    bcd = data.translate(_TO_BCD)
    if b"\xff" in bcd:
        raise ValueError("JWS character outside the SHC numeric range")
    return bcd.hex()


def _all_digits(text: str) -> bool:
    """ASCII 0-9 only (``str.isdigit`` also accepts other scripts' digits, and is slower)."""
    return text.isascii() and not text.encode("ascii").translate(None, b"0123456789")


def from_numeric(digits: str) -> str:
    if len(digits) % 2 or not _all_digits(digits):
        raise DecodeError("numeric SHC data must be an even number of digits")
    return _from_checked_digits(digits)


def _from_checked_digits(digits: str) -> str:
    """:func:`from_numeric` of a text already known to be ASCII digits only (by :func:`_chunk`):
    the digit check is a pass over the whole text, and it was done once."""
    if len(digits) % 2:
        raise DecodeError("numeric SHC data must be an even number of digits")
    out = bytes.fromhex(digits).translate(_FROM_BCD)
    if b"\0" in out:
        raise DecodeError("numeric SHC value out of range")
    return out.decode("ascii")


def qr_chunks(jws: str) -> list[str]:
    if len(jws) <= MAX_SINGLE_JWS:
        return ["shc:/" + to_numeric(jws)]
    n = math.ceil(len(jws) / MAX_CHUNK_JWS)
    size = math.ceil(len(jws) / n)
    parts = [jws[i : i + size] for i in range(0, len(jws), size)]
    return [f"shc:/{i}/{len(parts)}/{to_numeric(p)}" for i, p in enumerate(parts, start=1)]


def _chunk(text: str) -> tuple[str | None, str | None, str]:
    """``shc:/<digits>`` or ``shc:/<i>/<n>/<digits>`` as (i, n, digits), i and n None if absent.

    Parsed by hand: the equivalent regular expression cost ~90 µs on a 1,500-digit card."""
    if not text.startswith("shc:/"):
        raise DecodeError("not an shc:/ QR text")
    parts = text[5:].split("/")
    if len(parts) == 1 and (not parts[0] or _all_digits(parts[0])):
        return None, None, parts[0]
    if len(parts) == 3 and parts[0] and parts[1] and all(_all_digits(p) for p in parts if p):
        return parts[0], parts[1], parts[2]
    raise DecodeError("not an shc:/ QR text")


def jws_from_qr(texts: list[str]) -> str:
    """Join single or chunked ``shc:/`` texts (chunks in any order) into the compact JWS."""
    if not texts or len(texts) > 20:
        raise DecodeError("expected 1 to 20 SHC QR texts")
    parsed: list[tuple[str | None, str | None, str]] = []
    for text in texts:
        parsed.append(_chunk(text))  # exactly the QR text: characters around it are refused
    if len(parsed) == 1 and parsed[0][0] is None:
        if len(parsed[0][2]) > 2 * MAX_SINGLE_JWS:
            raise DecodeError(f"SHC QR holds more than {MAX_SINGLE_JWS} JWS characters")
        return _from_checked_digits(parsed[0][2])
    chunks = [(i, n, d) for i, n, d in parsed if i is not None and n is not None]
    if len(chunks) != len(parsed):
        raise DecodeError("mixed chunked and unchunked SHC QR texts")
    if any(len(i) > 2 or len(n) > 2 for i, n, _ in chunks):
        raise DecodeError("SHC chunk count mismatch")  # at most 20 chunks
    total = int(chunks[0][1])
    if total != len(chunks) or any(int(n) != total for _, n, _ in chunks):
        raise DecodeError("SHC chunk count mismatch")
    if any(len(d) > 2 * MAX_CHUNK_JWS for _, _, d in chunks):
        raise DecodeError(f"SHC QR chunk holds more than {MAX_CHUNK_JWS} JWS characters")
    by_index = {int(i): d for i, _, d in chunks}
    if sorted(by_index) != list(range(1, total + 1)):
        raise DecodeError("SHC chunk indexes missing or repeated")
    return "".join(_from_checked_digits(by_index[i]) for i in range(1, total + 1))


# -- JWS decoding ------------------------------------------------------------------------------


class Jws:
    """A parsed compact JWS with its inflated payload (not yet verified)."""

    def __init__(
        self,
        header: dict[str, Any],
        claims: dict[str, Any],
        signing_input: bytes,
        signature: bytes,
        raw_payload: bytes,
    ):
        self.header = header
        self.claims = claims
        self.signing_input = signing_input
        self.signature = signature
        self.raw_payload = raw_payload

    @property
    def kid(self) -> str | None:
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None


@lru_cache(maxsize=64)
def _parse_header(segment: str) -> dict[str, Any]:
    """The JWS header of a base64url segment. Every card an issuer key signs has the same
    header segment (zip, alg, kid), so the parsed header is kept per segment, like the keys
    per trust list; a failure is raised each time, never kept."""
    try:
        header = json.loads(b64url_decode(segment))
    except (ValueError, UnicodeDecodeError):
        raise DecodeError("bad JWS header") from None
    if not isinstance(header, dict):
        raise DecodeError("JWS header is not an object")
    if header.get("zip") != "DEF":
        # The spec makes zip DEF an issuer's SHALL; a card without it was not made to the spec.
        raise DecodeError('SMART Health Card JWS header lacks zip "DEF"')
    return header


def parse_jws(jws: str) -> Jws:
    parts = jws.split(".")
    if len(parts) != 3:
        raise DecodeError("compact JWS needs three parts")
    header = dict(_parse_header(parts[0]))  # a copy: the kept one is never handed out
    raw = inflate(b64url_decode(parts[1]), wbits=-15, limit=MAX_INFLATED)
    try:
        claims = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise DecodeError("JWS payload is not JSON") from None
    if not isinstance(claims, dict):
        raise DecodeError("JWS payload is not an object")
    return Jws(
        header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), b64url_decode(parts[2]), raw
    )


def issuer_url_error(iss: object) -> str | None:
    """Why ``iss`` is not an issuer URL the spec allows (None when it is); see
    :func:`_issuer_url_error`. Kept per URL: a verifier sees the same few issuers."""
    if type(iss) is str:
        return _cached_issuer_url_error(iss)
    return _issuer_url_error(iss)


@lru_cache(maxsize=256)
def _cached_issuer_url_error(iss: str) -> str | None:
    return _issuer_url_error(iss)


def _issuer_url_error(iss: object) -> str | None:
    """Why ``iss`` is not an issuer URL the spec allows (None when it is).

    The spec: ``iss`` SHALL use the ``https`` scheme and SHALL NOT end with ``/``. A loopback
    ``http://`` issuer (127.0.0.0/8, ``::1``, ``localhost``) is accepted so that a development
    server's own cards verify; production refuses an ``http://`` public URL (settings)."""
    if not isinstance(iss, str) or not iss or len(iss) > 2048:
        return "iss is not a URL"
    if iss.endswith("/"):
        return "iss ends with a slash"
    try:
        parts = urlsplit(iss)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return "iss is not a URL"
    if not parts.hostname or parts.query or parts.fragment or parts.username is not None:
        return "iss is not an issuer URL"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and _loopback(parts.hostname):
        return None
    return "iss does not use https"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def verify_jws(token: Jws, jwk: dict[str, Any]) -> bool:
    """ES256 over the signing input; the signature must be the 64-byte r‖s form (DER rejected)."""
    if token.header.get("alg") != "ES256" or len(token.signature) != 64:
        return False
    try:
        key = key_from_jwk(jwk)
    except DecodeError:
        return False
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return False
    r = int.from_bytes(token.signature[:32], "big")
    s = int.from_bytes(token.signature[32:], "big")
    try:
        key.verify(encode_dss_signature(r, s), token.signing_input, _ES256)
    except (InvalidSignature, ValueError):
        return False
    return True


def summarize(claims: dict[str, Any]) -> dict[str, Any]:
    """The fields a card carries (patient, immunizations), for the verifier's answer."""
    out: dict[str, Any] = {"iss": claims.get("iss"), "nbf": claims.get("nbf")}
    vc = claims.get("vc") if isinstance(claims.get("vc"), dict) else {}
    assert isinstance(vc, dict)
    out["type"] = vc.get("type")
    if "rid" in vc:
        out["rid"] = vc["rid"]
    subject = vc.get("credentialSubject") if isinstance(vc.get("credentialSubject"), dict) else {}
    assert isinstance(subject, dict)
    bundle = subject.get("fhirBundle") if isinstance(subject.get("fhirBundle"), dict) else {}
    assert isinstance(bundle, dict)
    immunizations: list[dict[str, Any]] = []
    entries = bundle.get("entry") if isinstance(bundle.get("entry"), list) else []
    assert isinstance(entries, list)
    for entry in entries[:50]:
        res = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(res, dict):
            continue
        if res.get("resourceType") == "Patient":
            names = res.get("name") if isinstance(res.get("name"), list) else []
            assert isinstance(names, list)
            if names and isinstance(names[0], dict):
                n = names[0]
                given = n.get("given") if isinstance(n.get("given"), list) else []
                assert isinstance(given, list)
                out["name"] = " ".join([*map(str, given), str(n.get("family", ""))]).strip()
            out["birthDate"] = res.get("birthDate")
        elif res.get("resourceType") == "Immunization":
            codes = (
                res.get("vaccineCode", {}).get("coding", [])
                if isinstance(res.get("vaccineCode"), dict)
                else []
            )
            performer = res.get("performer") if isinstance(res.get("performer"), list) else []
            assert isinstance(performer, list)
            immunizations.append(
                {
                    "vaccineCode": [
                        {"system": c.get("system"), "code": c.get("code")}
                        for c in codes
                        if isinstance(c, dict)
                    ],
                    "date": res.get("occurrenceDateTime"),
                    "lotNumber": res.get("lotNumber"),
                    "performer": (performer[0].get("actor", {}) or {}).get("display")
                    if performer and isinstance(performer[0], dict)
                    else None,
                }
            )
    out["immunizations"] = immunizations
    return out
