"""Certificate signing keys: one key per format, each with its key id, rotatable.

* VC: Ed25519; the verification method id is ``<issuer>#<JWK thumbprint>``.
* EU DCC: ECDSA P-256 with a self-signed X.509 Document Signer Certificate (DSC) whose extended
  key usage allows vaccination certificates; kid = base64(first 8 bytes of SHA-256(DER)).
* SMART Health Cards: ECDSA P-256; kid = RFC 7638 JWK thumbprint.

:meth:`CertificateKeySet.to_json` returns plaintext key material: the caller seals it with the
key ring before storing it. Rotation moves the current key's *public* half to ``retired`` so that
certificates already issued keep verifying.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from ._jwk import public_jwk, thumbprint

Purpose = Literal["vc", "dcc", "shc"]
PURPOSES: tuple[Purpose, ...] = ("vc", "dcc", "shc")
KEYSET_FORMAT = 1
DEFAULT_ISSUER = "https://immunet.example/certificates"
DSC_VALIDITY = dt.timedelta(days=5 * 365)
# EU DCC extended key usage OIDs for the DSC (test, vaccination, recovery)
OID_DCC_TEST = "1.3.6.1.4.1.1847.2021.1.1"
OID_DCC_VACCINATION = "1.3.6.1.4.1.1847.2021.1.2"
OID_DCC_RECOVERY = "1.3.6.1.4.1.1847.2021.1.3"

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def dcc_kid(certificate_der: bytes) -> str:
    """The EU DCC kid of a DSC: base64 of the first 8 bytes of SHA-256 over the DER."""
    return _b64(hashlib.sha256(certificate_der).digest()[:8])


@dataclass(frozen=True, slots=True)
class SigningKey:
    purpose: Purpose
    kid: str
    private_key: PrivateKey
    created_at: dt.datetime
    certificate_der: bytes | None = None  # DCC only: the DSC

    @property
    def public_jwk(self) -> dict[str, str]:
        return public_jwk(self.private_key.public_key())

    def public_spki_der(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@dataclass(frozen=True, slots=True)
class RetiredKey:
    """The public half of a rotated-out key, kept so earlier certificates still verify."""

    purpose: Purpose
    kid: str
    public_spki_der: bytes
    retired_at: dt.datetime
    certificate_der: bytes | None = None


def _new_ed25519(now: dt.datetime) -> SigningKey:
    key = ed25519.Ed25519PrivateKey.generate()
    return SigningKey("vc", thumbprint(public_jwk(key.public_key())), key, now)


def _new_shc(now: dt.datetime) -> SigningKey:
    key = ec.generate_private_key(ec.SECP256R1())
    return SigningKey("shc", thumbprint(public_jwk(key.public_key())), key, now)


def _new_dcc(now: dt.datetime, country: str, organisation: str) -> SigningKey:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, country),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{organisation} DSC {now:%Y%m%d%H%M%S}"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + DSC_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.ObjectIdentifier(OID_DCC_VACCINATION)]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    return SigningKey("dcc", dcc_kid(der), key, now, der)


def _private_der(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_private(der: bytes) -> PrivateKey:
    key = serialization.load_der_private_key(der, password=None)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise ValueError("unsupported private key type in key set")


def _ts(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


@dataclass(frozen=True, slots=True)
class CertificateKeySet:
    issuer: str
    vc: SigningKey
    dcc: SigningKey
    shc: SigningKey
    retired: tuple[RetiredKey, ...] = field(default_factory=tuple)
    country: str = "IN"
    organisation: str = "immunet"

    @property
    def vc_verification_method(self) -> str:
        return verification_method_id(self.issuer, self.vc.kid)

    def key(self, purpose: Purpose) -> SigningKey:
        k: SigningKey = getattr(self, purpose)
        return k

    # -- life cycle -------------------------------------------------------------------------

    @classmethod
    def generate(
        cls,
        *,
        issuer: str = DEFAULT_ISSUER,
        country: str = "IN",
        organisation: str = "immunet",
        now: dt.datetime | None = None,
    ) -> CertificateKeySet:
        now = now or dt.datetime.now(dt.UTC)
        return cls(
            issuer=issuer.rstrip("/"),
            vc=_new_ed25519(now),
            dcc=_new_dcc(now, country, organisation),
            shc=_new_shc(now),
            country=country,
            organisation=organisation,
        )

    def rotate(
        self, purposes: tuple[Purpose, ...] = PURPOSES, *, now: dt.datetime | None = None
    ) -> CertificateKeySet:
        """New keys for ``purposes``; the old ones are kept (public half only) for verification."""
        now = now or dt.datetime.now(dt.UTC)
        retired = list(self.retired)
        changes: dict[str, SigningKey] = {}
        for purpose in purposes:
            old = self.key(purpose)
            retired.append(
                RetiredKey(purpose, old.kid, old.public_spki_der(), now, old.certificate_der)
            )
            if purpose == "vc":
                changes["vc"] = _new_ed25519(now)
            elif purpose == "dcc":
                changes["dcc"] = _new_dcc(now, self.country, self.organisation)
            else:
                changes["shc"] = _new_shc(now)
        return replace(self, retired=tuple(retired), **changes)  # type: ignore[arg-type]

    # -- serialisation ----------------------------------------------------------------------

    def to_json(self) -> bytes:
        """Plaintext JSON of the whole key set (private keys included): seal it before storing."""

        def active(k: SigningKey) -> dict[str, Any]:
            out: dict[str, Any] = {
                "kid": k.kid,
                "created_at": _ts(k.created_at),
                "private_key": _b64(_private_der(k.private_key)),
            }
            if k.certificate_der is not None:
                out["certificate"] = _b64(k.certificate_der)
            return out

        doc: dict[str, Any] = {
            "format": KEYSET_FORMAT,
            "issuer": self.issuer,
            "country": self.country,
            "organisation": self.organisation,
            **{p: active(self.key(p)) for p in PURPOSES},
            "retired": [
                {
                    "purpose": r.purpose,
                    "kid": r.kid,
                    "public_key": _b64(r.public_spki_der),
                    "retired_at": _ts(r.retired_at),
                    **({"certificate": _b64(r.certificate_der)} if r.certificate_der else {}),
                }
                for r in self.retired
            ],
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, blob: bytes | str) -> CertificateKeySet:
        doc = json.loads(blob)
        if doc.get("format") != KEYSET_FORMAT:
            raise ValueError("unknown key set format")

        def active(purpose: Purpose) -> SigningKey:
            d = doc[purpose]
            key = _load_private(base64.b64decode(d["private_key"]))
            cert = base64.b64decode(d["certificate"]) if "certificate" in d else None
            expected = "ed25519" if purpose == "vc" else "ec"
            if (expected == "ed25519") != isinstance(key, ed25519.Ed25519PrivateKey):
                raise ValueError(f"wrong key type for {purpose}")
            return SigningKey(
                purpose, d["kid"], key, dt.datetime.fromisoformat(d["created_at"]), cert
            )

        retired = tuple(
            RetiredKey(
                r["purpose"],
                r["kid"],
                base64.b64decode(r["public_key"]),
                dt.datetime.fromisoformat(r["retired_at"]),
                base64.b64decode(r["certificate"]) if "certificate" in r else None,
            )
            for r in doc.get("retired", [])
        )
        return cls(
            issuer=doc["issuer"],
            vc=active("vc"),
            dcc=active("dcc"),
            shc=active("shc"),
            retired=retired,
            country=doc.get("country", "IN"),
            organisation=doc.get("organisation", "immunet"),
        )

    # -- publication ------------------------------------------------------------------------

    def public_keys(self, purpose: Purpose) -> list[tuple[str, bytes, bytes | None]]:
        """(kid, SPKI DER, certificate DER or None) for the active and retired keys."""
        k = self.key(purpose)
        out = [(k.kid, k.public_spki_der(), k.certificate_der)]
        out += [
            (r.kid, r.public_spki_der, r.certificate_der)
            for r in self.retired
            if r.purpose == purpose
        ]
        return out


def verification_method_id(issuer: str, kid: str) -> str:
    return f"{issuer.rstrip('/')}#{kid}"
