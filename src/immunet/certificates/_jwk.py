"""Minimal JWK handling (RFC 7517/7518/8037) and RFC 7638 thumbprints, on `cryptography` keys."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from ._safe import DecodeError, b64url_decode, b64url_encode

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


def public_jwk(key: PublicKey) -> dict[str, str]:
    """The public JWK members (only the required ones, in thumbprint order)."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        from cryptography.hazmat.primitives import serialization

        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"crv": "Ed25519", "kty": "OKP", "x": b64url_encode(raw)}
    if not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("only P-256 EC keys are supported")
    nums = key.public_numbers()
    return {
        "crv": "P-256",
        "kty": "EC",
        "x": b64url_encode(nums.x.to_bytes(32, "big")),
        "y": b64url_encode(nums.y.to_bytes(32, "big")),
    }


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK SHA-256 thumbprint, base64url without padding."""
    kty = jwk.get("kty")
    members: tuple[str, ...]
    if kty == "EC":
        members = ("crv", "kty", "x", "y")
    elif kty == "OKP":
        members = ("crv", "kty", "x")
    elif kty == "RSA":
        members = ("e", "kty", "n")
    else:
        raise ValueError(f"unsupported kty {kty!r}")
    canon = json.dumps(
        {m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True, ensure_ascii=False
    )
    return b64url_encode(hashlib.sha256(canon.encode("utf-8")).digest())


def key_from_jwk(jwk: dict[str, Any]) -> PublicKey:
    """A public key from a JWK (EC P-256 or Ed25519); anything else is a DecodeError.

    Parsed keys are cached by their exact members (kty, crv, x, y): building an EC point from
    coordinates (with its on-curve check) costs a fifth of an ECDSA verification, and a verifier
    sees the same few trust-list keys over and over. Same members, same key: nothing to
    invalidate when the trust list changes."""
    kty, crv, x, y = jwk.get("kty"), jwk.get("crv"), jwk.get("x"), jwk.get("y")
    if not all(v is None or isinstance(v, str) for v in (kty, crv, x, y)):
        return _parse_jwk(jwk)
    return _cached_key(kty, crv, x, y)


@lru_cache(maxsize=512)
def _cached_key(kty: str | None, crv: str | None, x: str | None, y: str | None) -> PublicKey:
    members = {k: v for k, v in (("kty", kty), ("crv", crv), ("x", x), ("y", y)) if v is not None}
    return _parse_jwk(members)


def _parse_jwk(jwk: dict[str, Any]) -> PublicKey:
    try:
        kty, crv = jwk.get("kty"), jwk.get("crv")
        if kty == "EC" and crv == "P-256":
            x = b64url_decode(str(jwk["x"]))
            y = b64url_decode(str(jwk["y"]))
            if len(x) != 32 or len(y) != 32:
                raise DecodeError("bad EC coordinates")
            return ec.EllipticCurvePublicNumbers(
                int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
            ).public_key()
        if kty == "OKP" and crv == "Ed25519":
            x = b64url_decode(str(jwk["x"]))
            return ed25519.Ed25519PublicKey.from_public_bytes(x)
    except (KeyError, ValueError, TypeError) as exc:
        raise DecodeError(f"bad JWK: {exc}") from None
    raise DecodeError(f"unsupported JWK kty={kty!r} crv={crv!r}")
