"""Offline verification of any supported certificate QR text: HC1 (EU DCC), shc:/ and the VC.

:func:`verify_qr` never raises: every failure is a :class:`VerificationResult` with
``valid=False`` and one reason code. Input is bounded before any decoding (text size, inflated
size, CBOR depth, JSON size) so that hostile input is answered quickly.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric import ed25519

from . import dcc, divoc, inputs, shc, vc
from ._safe import MAX_QR_TEXT, DecodeError
from .trust import TrustList, x5c_path_error

log = logging.getLogger(__name__)

Reason = Literal[
    "ok",
    "bad_encoding",
    "bad_signature",
    "unknown_key",
    "key_not_allowed",
    "expired",
    "revoked",
    "schema_error",
]
Format = Literal["vc", "dcc", "shc"]
# isinstance() with tuples: a ``X | Y`` written in a call builds a union object on every call
_BYTES = (bytes, bytearray)
_NUMBER = (int, float)


@dataclass(frozen=True)
class VerificationResult:
    valid: bool
    format: Format | None
    reason: Reason
    fields: dict[str, Any] = field(default_factory=dict)
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The fixed interface: ``{"valid", "format", "reason" (null when valid), "fields"}``."""
        return {
            "valid": self.valid,
            "format": self.format,
            "reason": None if self.valid else self.reason,
            "fields": self.fields,
        }


def _fail(
    fmt: Format | None, reason: Reason, detail: str = "", fields: dict[str, Any] | None = None
) -> VerificationResult:
    return VerificationResult(False, fmt, reason, fields or {}, detail)


def _now(at: dt.datetime | None) -> dt.datetime:
    if at is None:
        return dt.datetime.now(dt.UTC)
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


Input = str | bytes | Sequence[str] | Mapping[str, Any]


def verify_qr(
    text: Input,
    trust_list: TrustList,
    *,
    at: dt.datetime | None = None,
    revocations: TrustList | None = None,
) -> VerificationResult:
    """Verify what a person holds against the trust list at time ``at`` (default: now).

    ``text`` is one QR text, the chunks of a chunked SHC (a list, or one string with one chunk
    per line), raw bytes from a scanner or a file (an image of the QR code is decoded), a raw
    SHC compact JWS, a ``.smart-health-card`` file or a FHIR ``$health-cards-issue`` response
    (as text, or already parsed). ``revocations`` adds revocation entries (only its
    ``revoked_*`` members are used) to those of the trust list.
    """
    try:
        if revocations is not None:
            trust_list = trust_list.merge(
                TrustList(
                    revoked_dcc=revocations.revoked_dcc,
                    revoked_shc=revocations.revoked_shc,
                    revoked_vc=revocations.revoked_vc,
                )
            )
        return _verify(text, trust_list, _now(at))
    except Exception as exc:  # the verifier must never raise on input
        log.info("verification failed unexpectedly: %s", type(exc).__name__)
        return _fail(None, "bad_encoding", f"unexpected {type(exc).__name__}")


def _one_line_end(text: str) -> str:
    """Drop the one line break a text file or ``echo`` ends with; nothing else is trimmed."""
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith("\n") else text


def _verify(text: Input, trust: TrustList, at: dt.datetime) -> VerificationResult:
    if type(text) is not str and isinstance(text, Mapping):  # a QR text skips the ABC check
        return _verify_document(text, trust, at)
    if isinstance(text, _BYTES):
        data = bytes(text)
        if inputs.is_image(data):
            try:
                codes = inputs.decode_image(data)
            except DecodeError as exc:
                return _fail(None, "bad_encoding", str(exc))
            if len(codes) == 1:
                return _verify(codes[0], trust, at)
            if all(isinstance(c, str) and c.startswith("shc:/") for c in codes):
                return _verify_shc([str(c) for c in codes], trust, at)
            return _fail(None, "bad_encoding", "several QR codes that are not SHC chunks")
        if len(data) > inputs.MAX_DOCUMENT:
            return _fail(None, "bad_encoding", "input too large")
        if data.startswith(b"PK\x03\x04"):
            text = data.decode("latin-1")
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                return _fail(None, "bad_encoding", "input is not UTF-8")
    if isinstance(text, str):
        if text.startswith("PK\x03\x04"):
            if len(text) > MAX_QR_TEXT:
                return _fail(None, "bad_encoding", "input too large")
            return _verify_vc(text, trust, at)
        if text.lstrip().startswith("{"):  # JSON: insignificant whitespace is JSON's own
            try:
                doc = inputs.parse_document(text)
            except DecodeError as exc:
                return _fail(None, "bad_encoding", str(exc))
            return _verify_document(doc, trust, at)
        if len(text) > MAX_QR_TEXT:
            return _fail(None, "bad_encoding", "input too large")
        text = _one_line_end(text)
        if text.startswith("shc:/"):
            lines = text.replace("\r\n", "\n") if "\r" in text else text  # no copy for one line
            return _verify_shc(lines.split("\n"), trust, at)
        if inputs.looks_like_jws(text):
            return _verify_shc_jws([text], trust, at)
        parts: list[str] = [text]
    else:
        parts = [str(t) for t in text]
        if sum(len(p) for p in parts) > MAX_QR_TEXT or len(parts) > 20:
            return _fail(None, "bad_encoding", "input too large")
        if parts and all(p.startswith("shc:/") for p in parts):
            return _verify_shc(parts, trust, at)
        if len(parts) != 1:
            return _fail(None, "bad_encoding", "several texts given that are not SHC chunks")
        parts = [_one_line_end(parts[0])]
        if inputs.looks_like_jws(parts[0]):
            return _verify_shc_jws(parts, trust, at)
    one = parts[0]
    if one.strip().startswith("shc:/"):
        return _fail("shc", "bad_encoding", "characters around the SHC QR text")
    one = one.strip()
    if one.startswith(dcc.PREFIX):
        return _verify_dcc(one, trust, at)
    if vc.looks_like_qr(one):
        return _verify_vc(one, trust, at)
    if len(one) >= 4 and one[3] == ":" and one[:3].isalnum():
        return _fail("dcc", "bad_encoding", f"unsupported context prefix {one[:4]!r}")
    return _fail(None, "bad_encoding", "unrecognised QR content")


def _verify_document(
    doc: Mapping[str, Any], trust: TrustList, at: dt.datetime
) -> VerificationResult:
    if "@context" in doc and "proof" in doc:  # a W3C credential as a JSON file (DIVOC's)
        try:
            vc.check_shape(doc, trust.divoc_context_urls())
        except DecodeError as exc:
            return _fail("vc", "bad_encoding", str(exc))
        return _verify_vc_document(dict(doc), trust, at)
    try:
        jwss = inputs.jws_from_document(doc)
    except DecodeError as exc:
        return _fail("shc", "bad_encoding", str(exc))
    return _verify_shc_jws(jwss, trust, at)


def _verify_shc_jws(jwss: list[str], trust: TrustList, at: dt.datetime) -> VerificationResult:
    """One card: its result. Several (a file may hold many): valid only if every card is;
    the first failure's reason, and each card's own result under ``fields.credentials``."""
    results = [_verify_shc_token(j, trust, at) for j in jwss]
    if len(results) == 1:
        return results[0]
    failed = next((r for r in results if not r.valid), None)
    fields = {"credentials": [r.to_dict() for r in results]}
    if failed is None:
        return VerificationResult(True, "shc", "ok", fields)
    return VerificationResult(False, "shc", failed.reason, fields, failed.detail)


# -- EU DCC ----------------------------------------------------------------------------------


def _verify_dcc(text: str, trust: TrustList, at: dt.datetime) -> VerificationResult:
    try:
        cose = dcc.parse_cose(dcc.decompress(dcc.base45_decode(dcc.unprefix(text))))
        claims = dcc.decode_claims(cose.payload)
        payload = dcc.hcert_payload(claims)
    except DecodeError as exc:
        return _fail("dcc", "bad_encoding", str(exc))
    times = dcc.claim_times(claims)
    fields = {**dcc.claims_summary(claims, times), **payload}
    kid = cose.kid
    signer = trust.dcc_signer(base64.b64encode(kid).decode("ascii")) if kid else None
    if signer is None:
        return _fail("dcc", "unknown_key", "kid not in the trust list", fields)
    try:
        public_key = signer.public_key()
    except ValueError:
        return _fail("dcc", "unknown_key", "unusable signer certificate", fields)
    if not dcc.verify_signature(cose, public_key):
        return _fail("dcc", "bad_signature", "", fields)
    errors = dcc.schema_errors(payload)
    if errors:
        return _fail("dcc", "schema_error", "; ".join(errors[:3]), fields)
    kind = dcc.certificate_type(payload)
    if kind not in signer.allowed_types():
        return _fail("dcc", "key_not_allowed", f"DSC may not sign type {kind!r}", fields)
    if not dcc.check_times(*times, signer.certificate, at):
        return _fail("dcc", "expired", "outside iat/exp or the DSC validity", fields)
    for entry in payload.get(kind, []) if kind else []:
        ci = entry.get("ci") if isinstance(entry, dict) else None
        if isinstance(ci, str) and trust.is_dcc_revoked(ci):
            return _fail("dcc", "revoked", "", fields)
    return VerificationResult(True, "dcc", "ok", fields)


# -- SMART Health Cards ----------------------------------------------------------------------


def _verify_shc(texts: list[str], trust: TrustList, at: dt.datetime) -> VerificationResult:
    try:
        jws = shc.jws_from_qr(texts)
    except DecodeError as exc:
        return _fail("shc", "bad_encoding", str(exc))
    return _verify_shc_token(jws, trust, at)


def _verify_shc_token(jws: str, trust: TrustList, at: dt.datetime) -> VerificationResult:
    if len(jws) > MAX_QR_TEXT:
        return _fail("shc", "bad_encoding", "JWS too large")
    try:
        token = shc.parse_jws(jws)
    except DecodeError as exc:
        return _fail("shc", "bad_encoding", str(exc))
    claims = token.claims
    fields = shc.summarize(claims)
    iss = claims.get("iss")
    why = shc.issuer_url_error(iss)
    if why is not None:
        return _fail("shc", "schema_error", why, fields)
    issuer = trust.shc_issuer(iss) if isinstance(iss, str) else None
    kid = token.kid
    jwk = issuer.key(kid) if issuer and kid else None
    if jwk is None:
        return _fail("shc", "unknown_key", "issuer or kid not in the trust list", fields)
    if not shc.verify_jws(token, jwk):
        return _fail("shc", "bad_signature", "", fields)
    if "x5c" in jwk:
        # The spec: when the issuer's key has x5c, its path must validate (unexpired, to an
        # anchor). Issuers that are trusted without X.509 simply publish no x5c.
        why = x5c_path_error(jwk, at)
        if why is not None:
            return _fail("shc", "key_not_allowed", why, fields)
    vc_claim = claims.get("vc")
    nbf = claims.get("nbf")
    if (
        not isinstance(vc_claim, dict)
        or not isinstance(vc_claim.get("credentialSubject"), dict)
        or not isinstance(vc_claim["credentialSubject"].get("fhirBundle"), dict)
        or not isinstance(vc_claim.get("type"), list)
        or "https://smarthealth.cards#health-card" not in vc_claim["type"]
        or isinstance(nbf, bool)
        or not isinstance(nbf, _NUMBER)
    ):
        return _fail("shc", "schema_error", "not a SMART Health Card payload", fields)
    now = at.timestamp()
    if nbf > now + 300:
        return _fail("shc", "expired", "not valid yet (nbf in the future)", fields)
    exp = claims.get("exp")
    if isinstance(exp, _NUMBER) and not isinstance(exp, bool) and exp < now:
        return _fail("shc", "expired", "", fields)
    rid = vc_claim.get("rid")
    if trust.is_shc_revoked(kid or "", rid if isinstance(rid, str) else None, float(nbf)):
        return _fail("shc", "revoked", "", fields)
    return VerificationResult(True, "shc", "ok", fields)


# -- W3C VC ----------------------------------------------------------------------------------


def _verify_vc(text: str, trust: TrustList, at: dt.datetime) -> VerificationResult:
    try:
        doc = vc.from_qr(text, trust.divoc_context_urls())
    except DecodeError as exc:
        return _fail("vc", "bad_encoding", str(exc))
    return _verify_vc_document(doc, trust, at)


def _verify_divoc(
    doc: dict[str, Any], trust: TrustList, fields: dict[str, Any]
) -> VerificationResult | None:
    """A DIVOC credential (RsaSignature2018) under a trust list's ``divoc`` entry; None when
    the proof is not DIVOC's (the caller goes on with immunet's own suites)."""
    proof = doc.get("proof")
    if not isinstance(proof, dict) or proof.get("type") != divoc.SUITE:
        return None
    method_id = proof.get("verificationMethod")
    issuer = (
        trust.divoc_issuer(method_id, doc.get("issuer")) if isinstance(method_id, str) else None
    )
    if issuer is None:
        return _fail("vc", "unknown_key", "DIVOC issuer and key not in the trust list", fields)
    if proof.get("proofPurpose") != "assertionMethod":
        return _fail("vc", "key_not_allowed", "proof purpose is not assertionMethod", fields)
    try:
        ok = divoc.verify_proof(doc, issuer)
    except Exception as exc:  # pyld raises JsonLdError (and others) on malformed JSON-LD
        return _fail("vc", "schema_error", f"JSON-LD: {type(exc).__name__}", fields)
    if not ok:
        return _fail("vc", "bad_signature", "", fields)
    extra = vc.undefined_terms(doc, list(issuer.contexts.values()))
    if extra:
        return _fail(
            "vc", "schema_error", f"terms not defined by the contexts: {sorted(extra)[:5]}", fields
        )
    return None  # signature good: the common checks follow


def _verify_vc_document(
    doc: dict[str, Any], trust: TrustList, at: dt.datetime
) -> VerificationResult:
    fields = vc.summarize(doc)
    proof = doc.get("proof")
    if isinstance(proof, dict) and proof.get("type") == divoc.SUITE:
        failed = _verify_divoc(doc, trust, fields)
        if failed is not None:
            return failed
        return _vc_common_checks(doc, trust, at, fields)
    method_id = proof.get("verificationMethod") if isinstance(proof, dict) else None
    method = trust.vc_method(method_id) if isinstance(method_id, str) else None
    if method is None:
        return _fail("vc", "unknown_key", "verification method not in the trust list", fields)
    try:
        key = method.public_key()
    except DecodeError:
        return _fail("vc", "unknown_key", "unusable verification method key", fields)
    if not isinstance(key, ed25519.Ed25519PublicKey):
        return _fail("vc", "key_not_allowed", "VC proofs must use Ed25519", fields)
    if isinstance(proof, dict) and proof.get("proofPurpose") != "assertionMethod":
        return _fail("vc", "key_not_allowed", "proof purpose is not assertionMethod", fields)
    try:
        ok = vc.verify_proof(doc, key)
    except Exception as exc:  # pyld raises JsonLdError (and others) on malformed JSON-LD
        return _fail("vc", "schema_error", f"JSON-LD: {type(exc).__name__}", fields)
    if not ok:
        return _fail("vc", "bad_signature", "", fields)
    extra = vc.undefined_terms(doc)
    if extra:
        return _fail(
            "vc", "schema_error", f"terms not defined by the contexts: {sorted(extra)[:5]}", fields
        )
    if doc.get("issuer") != method_id.split("#")[0]:  # type: ignore[union-attr]
        return _fail(
            "vc", "key_not_allowed", "verification method does not belong to the issuer", fields
        )
    return _vc_common_checks(doc, trust, at, fields)


def _vc_common_checks(
    doc: dict[str, Any],
    trust: TrustList,
    at: dt.datetime,
    fields: dict[str, Any],
) -> VerificationResult:
    """Shape, expiry and revocation, after the signature of either suite family held."""
    types = doc.get("type")
    if (
        not isinstance(types, list)
        or "VerifiableCredential" not in types
        or not isinstance(doc.get("credentialSubject"), dict)
        or not isinstance(doc.get("evidence"), list)
        or not doc["evidence"]
    ):
        return _fail("vc", "schema_error", "not a vaccination credential", fields)
    for name in ("expirationDate",):
        value = doc.get(name)
        if isinstance(value, str):
            try:
                until = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return _fail("vc", "schema_error", "bad expirationDate", fields)
            if until.tzinfo is None:
                until = until.replace(tzinfo=dt.UTC)
            if until < at:
                return _fail("vc", "expired", "", fields)
    for e in doc["evidence"]:
        cid = e.get("certificateId") if isinstance(e, dict) else None
        ver = e.get("certificateVersion") if isinstance(e, dict) else None
        if isinstance(cid, str) and (
            cid in trust.revoked_vc or f"{cid}/v{ver}" in trust.revoked_vc
        ):
            return _fail("vc", "revoked", "", fields)
    return VerificationResult(True, "vc", "ok", fields)
