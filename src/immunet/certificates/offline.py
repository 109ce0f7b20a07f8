"""The trust data the offline verifier in the browser (``static/verify.js``) checks against.

The browser re-implements :func:`immunet.certificates.verify.verify_qr` step by step with
WebCrypto, so it needs, in public form only, what that function reads from a
:class:`~immunet.certificates.trust.TrustList`: keys, what each may sign and when, the
revocations, and the few fixed rules that are data (the DCC schema, the VC contexts and terms).
Whatever the browser cannot decide exactly as the server would is marked so that the page
answers "connect and try again" instead of a different answer.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from functools import lru_cache
from importlib import resources
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from . import vc
from ._safe import DecodeError
from .trust import TrustList

_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
_RAW = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@lru_cache(maxsize=1)
def _dcc_schema() -> Any:
    text = resources.files("immunet.certificates").joinpath("data/DCC.combined-schema.json")
    return json.loads(text.read_text(encoding="utf-8"))


def _seconds(value: dt.datetime) -> float:
    return value.timestamp()


def _dcc_signers(trust: TrustList) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for signer in trust.dcc:
        try:
            key = signer.public_key()
            certificate = signer.certificate
        except ValueError:
            continue  # the server answers unknown_key for it, as the browser will
        entry: dict[str, Any] = {
            "kid": signer.kid,
            "types": sorted(signer.allowed_types()),
            "notBefore": _seconds(certificate.not_valid_before_utc),
            "notAfter": _seconds(certificate.not_valid_after_utc),
        }
        if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
            entry |= {"alg": "ES256", "spki": _b64(key.public_bytes(*_SPKI)), "offline": True}
        elif isinstance(key, rsa.RSAPublicKey):
            entry |= {"alg": "PS256", "spki": _b64(key.public_bytes(*_SPKI)), "offline": True}
        else:  # another curve or key type: only the server checks it
            entry |= {"offline": False}
        out.append(entry)
    return out


def _vc_methods(trust: TrustList) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for method in trust.vc:
        try:
            key = method.public_key()
        except DecodeError:
            continue  # unknown_key on both sides
        if isinstance(key, ed25519.Ed25519PublicKey):
            out.append({"id": method.id, "ed25519": _b64(key.public_bytes(*_RAW))})
        else:
            out.append({"id": method.id, "ed25519": None})
    return out


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def bundle(trust: TrustList, generated_at: dt.datetime) -> dict[str, Any]:
    """The offline verifier's data for ``trust``: public parts only, nothing personal.

    SMART Health Card keys that carry an ``x5c`` chain are marked ``offline: false``: their
    path check needs X.509 validation, which the browser page does not re-implement. DIVOC's
    RSA proofs and Ed25519Signature2020 (URDNA2015) proofs are left to the server likewise.
    """
    keys = []
    for issuer in trust.shc:
        for jwk in issuer.keys:
            if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256" or "kid" not in jwk:
                continue
            public = {name: jwk[name] for name in ("kty", "crv", "x", "y") if name in jwk}
            keys.append(
                {"iss": issuer.iss, "kid": jwk["kid"], "jwk": public, "offline": "x5c" not in jwk}
            )
    return {
        "generatedAt": generated_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "shc": keys,
        "dcc": _dcc_signers(trust),
        "dccSchema": _dcc_schema(),
        "vc": _vc_methods(trust),
        "vcContexts": sorted(vc.bundled_context_urls()),
        "vcTerms": sorted(vc.defined_terms()),
        "divocContexts": sorted(trust.divoc_context_urls()),
        "revoked": {
            "shc": {kid: sorted(rids) for kid, rids in trust.revoked_shc.items()},
            "dcc": sorted(trust.revoked_dcc),
            "vc": sorted(trust.revoked_vc),
        },
    }
