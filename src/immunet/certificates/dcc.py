"""EU Digital COVID Certificate (HCERT, "HC1:") issuing and decoding.

Issuing: DCC payload (schema 1.3.x) → CWT claims → COSE_Sign1 (ES256, kid + alg in the protected
header) → zlib → Base45 → ``HC1:``. Decoding is split into the steps the EU test vectors name,
each raising :class:`~immunet.certificates._safe.DecodeError` (or returning False) on failure,
so that the verifier and the vector tests run the very same code.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import unicodedata
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from ._safe import MAX_INFLATED, DecodeError, cbor_loads, inflate
from .base45 import Base45Error, b45decode, b45encode
from .keys import CertificateKeySet
from .record import CertificateRecord

PREFIX = "HC1:"
SCHEMA_VERSION = "1.3.0"  # the payload "ver"; validated with the bundled 1.3.3 schema
COVID_19 = "840539006"
CWT_ISS, CWT_EXP, CWT_IAT, CWT_HCERT = 1, 4, 6, -260
COSE_ALG, COSE_KID = 1, 4
ALG_ES256, ALG_PS256 = -7, -37
CERT_VALIDITY = dt.timedelta(days=365)
_TAG_COSE_SIGN1, _TAG_CWT = 18, 61
# isinstance() with tuples: a ``X | Y`` written in a call builds a union object on every call
_SEQUENCE = (list, tuple)
# ECDSA with SHA-256: an immutable parameter object, built once rather than per signature
_ES256 = ec.ECDSA(hashes.SHA256())
_NUMBER = (int, float)


# -- payload ---------------------------------------------------------------------------------


# An ASCII name in one translate() call, as the loop below treats each ASCII character: letters
# (upper-cased first) stay, digits are dropped, everything else becomes "<".
_ASCII_ICAO = {c: None if chr(c).isdigit() else "<" for c in range(128) if not "A" <= chr(c) <= "Z"}


def icao_transliterate(name: str) -> str:
    """ICAO 9303-style machine-readable form: A-Z and ``<`` only, at most 80 characters."""
    if name.isascii():
        text = name.upper().translate(_ASCII_ICAO).strip("<")
        while "<<" in text:
            text = text.replace("<<", "<")
        return text[:80]
    special = {"Æ": "AE", "Ø": "OE", "Å": "AA", "Ä": "AE", "Ö": "OE", "Ü": "UE", "ß": "SS"}
    out: list[str] = []
    for ch in name.upper():
        if ch in special:
            out.append(special[ch])
            continue
        base = unicodedata.normalize("NFKD", ch)
        for c in base:
            if "A" <= c <= "Z":
                out.append(c)
            elif c in " -'\u2019" or (not c.isalnum() and not unicodedata.combining(c)):
                out.append("<")
    text = "".join(out).strip("<")
    while "<<" in text:
        text = text.replace("<<", "<")
    return text[:80]


def split_name(name: str) -> tuple[str, str]:
    """(family, given): the last word is taken as the family name, as Co-WIN names read."""
    parts = name.split()
    if len(parts) <= 1:
        return name.strip(), ""
    return parts[-1], " ".join(parts[:-1])


def build_payload(record: CertificateRecord, *, issuer_name: str = "immunet") -> dict[str, Any]:
    """The DCC JSON payload (``hcert`` claim 1) for the record's latest dose.

    The DCC schema allows exactly one vaccination entry per certificate: the latest dose, with
    its dose number and series total. A precaution dose beyond the series is written n/n.
    """
    dose = record.last_dose
    vac = dose.vaccine
    family, given = split_name(record.name)
    nam: dict[str, str] = {"fn": family[:80], "fnt": icao_transliterate(family) or "X"}
    if given:
        nam["gn"] = given[:80]
        nam["gnt"] = icao_transliterate(given) or "X"
    total = max(dose.total_doses, dose.dose_number)
    return {
        "ver": SCHEMA_VERSION,
        "nam": nam,
        "dob": record.dob_text,
        "v": [
            {
                "tg": COVID_19,
                "vp": vac.eu_vp,
                "mp": vac.eu_mp,
                "ma": vac.eu_ma,
                "dn": dose.dose_number,
                "sd": total,
                "dt": dose.date.isoformat(),
                "co": dose.country,
                "is": issuer_name[:80],
                "ci": record.uvci,
            }
        ],
    }


# -- signing ---------------------------------------------------------------------------------


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return bytes(cbor2.dumps(["Signature1", protected, b"", payload]))


@lru_cache(maxsize=64)
def _protected_header(kid: bytes) -> bytes:
    """The protected header of every COSE message a key signs (alg ES256 and its kid)."""
    return bytes(cbor2.dumps({COSE_ALG: ALG_ES256, COSE_KID: kid}))


@lru_cache(maxsize=64)
def _kid_bytes(kid: str) -> bytes:
    return base64.b64decode(kid)


def sign_cose(payload: bytes, key: ec.EllipticCurvePrivateKey, kid: bytes) -> bytes:
    protected = _protected_header(kid)
    der = key.sign(_sig_structure(protected, payload), _ES256)
    r, s = decode_dss_signature(der)
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return bytes(cbor2.dumps(cbor2.CBORTag(_TAG_COSE_SIGN1, [protected, {}, payload, signature])))


@lru_cache(maxsize=16)
def _not_valid_after(certificate_der: bytes) -> dt.datetime:
    """The DSC's notAfter, parsed once per DSC (keyed by its exact DER)."""
    from cryptography import x509

    return x509.load_der_x509_certificate(certificate_der).not_valid_after_utc


def issue(
    record: CertificateRecord, keyset: CertificateKeySet, *, now: dt.datetime | None = None
) -> str:
    """The HC1 QR text for the record."""
    now = now or record.issued_at
    signer = keyset.dcc
    assert signer.certificate_der is not None
    iat = int(now.timestamp())
    exp = int(min(now + CERT_VALIDITY, _not_valid_after(signer.certificate_der)).timestamp())
    claims = {
        CWT_ISS: keyset.country,
        CWT_IAT: iat,
        CWT_EXP: exp,
        CWT_HCERT: {1: build_payload(record, issuer_name=keyset.organisation)},
    }
    key = signer.private_key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    cose = sign_cose(bytes(cbor2.dumps(claims)), key, _kid_bytes(signer.kid))
    return PREFIX + b45encode(zlib.compress(cose, 9))


# -- decoding steps (each used by the verifier and by the EU vector tests) -------------------


def unprefix(text: str) -> str:
    if not text.startswith(PREFIX):
        raise DecodeError("not an HC1: certificate")
    return text[len(PREFIX) :]


def base45_decode(text: str) -> bytes:
    try:
        return b45decode(text)
    except Base45Error as exc:
        raise DecodeError(str(exc)) from None


def decompress(data: bytes) -> bytes:
    return inflate(data, limit=MAX_INFLATED)


@dataclass(frozen=True)
class CoseSign1:
    protected_raw: bytes
    protected: dict[Any, Any]
    unprotected: dict[Any, Any]
    payload: bytes
    signature: bytes

    @property
    def kid(self) -> bytes | None:
        """The protected kid wins over the unprotected one."""
        for header in (self.protected, self.unprotected):
            kid = header.get(COSE_KID)
            if kid is not None:
                return kid if isinstance(kid, bytes) else None
        return None

    @property
    def alg(self) -> int | None:
        for header in (self.protected, self.unprotected):
            alg = header.get(COSE_ALG)
            if alg is not None:
                return alg if isinstance(alg, int) else None
        return None

    def signed_bytes(self) -> bytes:
        return _sig_structure(self.protected_raw, self.payload)


def _is_mapping(value: object) -> bool:
    """``isinstance(value, Mapping)``, with decoded CBOR's plain dict first: the ABC check costs
    ten times a type comparison."""
    return type(value) is dict or isinstance(value, Mapping)


def parse_cose(data: bytes) -> CoseSign1:
    """COSE_Sign1, untagged, tagged 18, or tagged 61 around 18."""
    obj = cbor_loads(data)
    if isinstance(obj, cbor2.CBORTag) and obj.tag == _TAG_CWT:
        obj = obj.value
    if isinstance(obj, cbor2.CBORTag):
        if obj.tag != _TAG_COSE_SIGN1:
            raise DecodeError(f"unexpected CBOR tag {obj.tag}")
        obj = obj.value
    if not isinstance(obj, _SEQUENCE) or len(obj) != 4:
        raise DecodeError("COSE_Sign1 must be an array of four")
    protected_raw, unprotected, payload, signature = obj
    if not isinstance(protected_raw, bytes) or not _is_mapping(unprotected):
        raise DecodeError("bad COSE headers")
    if not isinstance(payload, bytes) or not isinstance(signature, bytes):
        raise DecodeError("bad COSE payload or signature")
    protected: Any = cbor_loads(protected_raw) if protected_raw else {}
    if not _is_mapping(protected):
        raise DecodeError("protected header is not a map")
    return CoseSign1(protected_raw, dict(protected), dict(unprotected), payload, signature)


def verify_signature(cose: CoseSign1, public_key: Any) -> bool:
    """ES256 (raw r‖s) or PS256; False on any mismatch, never an exception."""
    alg = cose.alg
    data = cose.signed_bytes()
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            if alg not in (ALG_ES256, None) or len(cose.signature) != 64:
                return False
            r = int.from_bytes(cose.signature[:32], "big")
            s = int.from_bytes(cose.signature[32:], "big")
            public_key.verify(encode_dss_signature(r, s), data, _ES256)
            return True
        if isinstance(public_key, rsa.RSAPublicKey):
            if alg != ALG_PS256:
                return False
            public_key.verify(
                cose.signature,
                data,
                padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                hashes.SHA256(),
            )
            return True
    except (InvalidSignature, ValueError):
        return False
    return False


def decode_claims(payload: bytes) -> dict[Any, Any]:
    claims = cbor_loads(payload)
    if not _is_mapping(claims):
        raise DecodeError("CWT claims are not a map")
    hcert = claims.get(CWT_HCERT)
    if not _is_mapping(hcert) or not _is_mapping(hcert.get(1)):
        raise DecodeError("no hcert/1 claim")
    return dict(claims)


def to_jsonable(value: Any) -> Any:
    """CBOR values as JSON values (dates → ISO text, bytes → base64); map keys as text."""
    # exact-type checks first: decoded payloads are plain dicts, lists, str and int, and
    # ``isinstance(x, Mapping)`` (an ABC check) cost more than the conversion itself
    t = type(value)
    if t is str or t is int:
        return value
    if t is dict:
        return {k if type(k) is str else str(k): to_jsonable(v) for k, v in value.items()}
    if t is list:
        return [to_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, _SEQUENCE):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, cbor2.CBORTag):
        return to_jsonable(value.value)
    if value is cbor2.undefined:
        return None
    return value


def hcert_payload(claims: dict[Any, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = to_jsonable(claims[CWT_HCERT][1])
    return payload


@lru_cache(maxsize=1)
def _schema_validator() -> Any:
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped, unused-ignore]

    text = resources.files("immunet.certificates").joinpath("data/DCC.combined-schema.json")
    schema = json.loads(text.read_text(encoding="utf-8"))
    # No format checker on purpose: ajv-formats (the EU reference) accepts date-time forms such
    # as "+02" offsets that Python's checker rejects (see ADR 0005).
    return Draft202012Validator(schema)


@lru_cache(maxsize=1)
def _fast_schema_check() -> Any:
    """The same bundled schema compiled to Python by ``fastjsonschema`` (about 20 times faster).

    The 1.3.3 schema uses only keywords whose meaning is the same in draft-07 and 2020-12
    (type, $ref without siblings, required, properties, items as one schema, pattern,
    maxLength, min/maxItems, minimum, oneOf, anyOf), so it is compiled as draft-07 with
    ``$defs`` renamed ``definitions``; formats are off, as for ``jsonschema``. Used only as a
    fast "valid" answer: any failure is re-checked by ``jsonschema`` for its messages, and
    ``test_dcc_schema_fixtures`` checks both agree on every EU test vector.
    """
    import fastjsonschema  # type: ignore[import-untyped, unused-ignore]

    text = resources.files("immunet.certificates").joinpath("data/DCC.combined-schema.json")
    raw = text.read_text(encoding="utf-8").replace('"#/$defs/', '"#/definitions/')
    schema = json.loads(raw)
    schema["definitions"] = schema.pop("$defs")
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    return fastjsonschema.compile(schema, use_formats=False, detailed_exceptions=False)


def schema_valid_fast(payload: Any) -> bool:
    import fastjsonschema

    try:
        _fast_schema_check()(payload)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


# The bundled schema's own patterns, exactly as ``fastjsonschema`` compiles them ($ as \Z).
_VER = re.compile(r"^\d+.\d+.\d+\Z")
_DOB = re.compile(r"^((19|20)\d\d(-\d\d){0,2}){0,1}\Z")
_ICAO = re.compile(r"^[A-Z<]*\Z")
_COUNTRY = re.compile(r"[A-Z]{1,10}")
_ENTRY_STRINGS = ("tg", "vp", "mp", "ma", "dt")


def vaccination_surely_valid(payload: Any) -> bool:
    """True only for a vaccination payload that the bundled schema accepts; False means "ask
    the schema", not "invalid".

    The common case written out (plain dicts, lists, str and int), a few times faster than the
    compiled schema, which raises and catches an exception for each ``oneOf`` branch that does
    not match. Every rule the 1.3.3 schema has for a ``v`` payload is checked, with the same
    patterns; anything unusual (other types, a ``t`` or ``r`` member) goes to the schema.
    ``test_dcc_schema_fixtures`` checks that a True here is never a schema failure."""
    if type(payload) is not dict or "t" in payload or "r" in payload:
        return False
    ver, nam, dob, v = payload.get("ver"), payload.get("nam"), payload.get("dob"), payload.get("v")
    if type(ver) is not str or not _VER.search(ver) or type(dob) is not str:
        return False
    if not _DOB.search(dob) or type(nam) is not dict or type(v) is not list or len(v) != 1:
        return False
    if "fnt" not in nam and "gnt" not in nam:
        return False
    for key in ("fn", "gn", "fnt", "gnt"):
        if key in nam:
            name = nam[key]
            if type(name) is not str or len(name) > 80:
                return False
            if key[-1] == "t" and not _ICAO.search(name):
                return False
    entry = v[0]
    if type(entry) is not dict:
        return False
    for key in _ENTRY_STRINGS:
        if type(entry.get(key)) is not str:
            return False
    for key in ("dn", "sd"):
        number = entry.get(key)
        if type(number) is not int or number < 1:
            return False
    co, issuer, ci = entry.get("co"), entry.get("is"), entry.get("ci")
    if type(co) is not str or not _COUNTRY.search(co):
        return False
    return type(issuer) is str and len(issuer) <= 80 and type(ci) is str and len(ci) <= 80


def schema_errors(payload: Any) -> list[str]:
    """Schema violations of a decoded DCC payload, plus the "exactly one of v/t/r" rule."""
    if vaccination_surely_valid(payload) or schema_valid_fast(payload):
        errors: list[str] = []
    else:
        errors = [e.message for e in _schema_validator().iter_errors(payload)]
    if isinstance(payload, dict):
        kinds = [k for k in ("v", "t", "r") if k in payload]
        if len(kinds) != 1:
            errors.append(f"exactly one of v/t/r required, found {kinds or 'none'}")
    return errors


def certificate_type(payload: dict[str, Any]) -> str | None:
    kinds = [k for k in ("v", "t", "r") if k in payload]
    return kinds[0] if len(kinds) == 1 else None


def _claim_time(claims: dict[Any, Any], key: int) -> dt.datetime | None:
    value = claims.get(key)
    if isinstance(value, bool) or not isinstance(value, _NUMBER):
        return None
    try:
        return dt.datetime.fromtimestamp(value, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None


def claim_times(claims: dict[Any, Any]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``iat`` and ``exp`` as UTC datetimes (None when absent or not a usable number)."""
    return _claim_time(claims, CWT_IAT), _claim_time(claims, CWT_EXP)


def check_time(claims: dict[Any, Any], certificate: Any, clock: dt.datetime) -> bool:
    """DSC notBefore ≤ iat ≤ clock ≤ exp ≤ DSC notAfter (all four must hold)."""
    return check_times(*claim_times(claims), certificate, clock)


def check_times(
    iat: dt.datetime | None, exp: dt.datetime | None, certificate: Any, clock: dt.datetime
) -> bool:
    """:func:`check_time` on times already read by :func:`claim_times`."""
    if iat is None or exp is None:
        return False
    if certificate is None:
        return iat <= clock <= exp
    return bool(
        certificate.not_valid_before_utc <= iat <= clock <= exp <= certificate.not_valid_after_utc
    )


def claims_summary(
    claims: dict[Any, Any],
    times: tuple[dt.datetime | None, dt.datetime | None] | None = None,
) -> dict[str, Any]:
    """``iss``, ``iat`` and ``exp`` for the verifier's answer; ``times`` from
    :func:`claim_times` when the caller has them already."""
    out: dict[str, Any] = {}
    if isinstance(claims.get(CWT_ISS), str):
        out["iss"] = claims[CWT_ISS]
    for name, t in zip(("iat", "exp"), times or claim_times(claims), strict=True):
        if t is not None:
            out[name] = t.isoformat().replace("+00:00", "Z")
    return out
