"""The trust list: whose keys a verifier accepts, and what has been revoked.

JSON form (fixed interface, see issue 5)::

    {"dcc": [{"kid": "<base64, optional>", "certificate": "<base64 DER X.509>"}],
     "shc": [{"iss": "https://…", "keys": [JWK, …]}],
     "vc":  [{"id": "<verification method id>", "publicKeyJwk": JWK}],
     "revoked": {"dcc": ["<UVCI hash>", …],
                 "shc": {"<kid>": ["<rid>" | "<rid>.<timestamp>", …]},
                 "vc":  ["<certificateId>", …]}}

DCC revocation entries are the EU "UCI" hash: base64 of the first 16 bytes of SHA-256 over the
UVCI (``ci``); the full SHA-256 in hex is accepted too. SHC revocation follows the SMART Health
Cards revocation format (``rid`` list per ``kid``; a ``.timestamp`` suffix revokes only cards
whose ``nbf`` is earlier). Unknown members are ignored so that newer files load.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from cryptography import x509

from ._jwk import PublicKey, key_from_jwk, public_jwk
from .keys import OID_DCC_RECOVERY, OID_DCC_TEST, OID_DCC_VACCINATION, dcc_kid

if TYPE_CHECKING:
    from .keys import CertificateKeySet

log = logging.getLogger(__name__)

# Both spellings of the DCC EKU OIDs appear in the wild (the second in the EU test data).
_EKU_TYPES = {
    OID_DCC_TEST: "t",
    OID_DCC_VACCINATION: "v",
    OID_DCC_RECOVERY: "r",
    "1.3.6.1.4.1.0.1847.2021.1.1": "t",
    "1.3.6.1.4.1.0.1847.2021.1.2": "v",
    "1.3.6.1.4.1.0.1847.2021.1.3": "r",
}


def uvci_hashes(uvci: str) -> tuple[str, str]:
    digest = hashlib.sha256(uvci.encode("utf-8")).digest()
    return base64.b64encode(digest[:16]).decode("ascii"), digest.hex()


@dataclass(frozen=True)
class DccSigner:
    kid: str
    certificate_der: bytes

    # The parsed certificate, its key and its allowed types are cached on the signer (frozen,
    # keyed by its exact DER): parsing them per verification cost more than the ECDSA check.
    # A changed trust list is a new TrustList with new signers, so nothing goes stale.
    @cached_property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.certificate_der)

    @cached_property
    def _public_key(self) -> Any:
        return self.certificate.public_key()

    def public_key(self) -> Any:
        return self._public_key

    def allowed_types(self) -> frozenset[str]:
        return self._allowed_types

    @cached_property
    def _allowed_types(self) -> frozenset[str]:
        """Certificate types ("v", "t", "r") this DSC may sign, from its extended key usage.

        Decisions (ADR 0005): an EKU that cannot be read (invalid DER, as in the FI test DSCs,
        or an empty SEQUENCE) counts as *no EKU*, which allows every type; an EKU that is present
        but names no DCC OID allows nothing (as the EU test data IS/3 expects).
        """
        try:
            eku = self.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        except x509.ExtensionNotFound:
            return frozenset("vtr")
        except ValueError as exc:
            log.warning("DSC %s: unreadable extensions (%s); treating EKU as absent", self.kid, exc)
            return frozenset("vtr")
        return frozenset(
            _EKU_TYPES[o.dotted_string] for o in eku.value if o.dotted_string in _EKU_TYPES
        )


@dataclass(frozen=True)
class ShcIssuer:
    iss: str
    keys: tuple[dict[str, Any], ...]

    def key(self, kid: str) -> dict[str, Any] | None:
        for jwk in self.keys:
            if jwk.get("kid") == kid:
                return jwk
        return None


@dataclass(frozen=True)
class VcMethod:
    id: str
    public_jwk: dict[str, Any]

    def public_key(self) -> PublicKey:
        return key_from_jwk(self.public_jwk)


@dataclass
class TrustList:
    dcc: list[DccSigner] = field(default_factory=list)
    shc: list[ShcIssuer] = field(default_factory=list)
    vc: list[VcMethod] = field(default_factory=list)
    revoked_dcc: set[str] = field(default_factory=set)
    revoked_shc: dict[str, list[str]] = field(default_factory=dict)
    revoked_vc: set[str] = field(default_factory=set)

    # -- look-ups ---------------------------------------------------------------------------

    def dcc_signer(self, kid: str) -> DccSigner | None:
        for s in self.dcc:
            if s.kid == kid:
                return s
        return None

    def shc_issuer(self, iss: str) -> ShcIssuer | None:
        for i in self.shc:
            if i.iss == iss:
                return i
        return None

    def vc_method(self, method_id: str) -> VcMethod | None:
        for m in self.vc:
            if m.id == method_id:
                return m
        return None

    def is_dcc_revoked(self, uvci: str) -> bool:
        short, full = uvci_hashes(uvci)
        return short in self.revoked_dcc or full in self.revoked_dcc

    def is_shc_revoked(self, kid: str, rid: str | None, nbf: float | None) -> bool:
        if not rid:
            return False
        for entry in self.revoked_shc.get(kid, ()):
            base, _, ts = entry.partition(".")
            if base != rid:
                continue
            if not ts:
                return True
            try:
                if nbf is None or nbf < float(ts):
                    return True
            except ValueError:
                return True
        return False

    # -- building ---------------------------------------------------------------------------

    def add_dcc(self, certificate_der: bytes, kid: str | None = None) -> None:
        self.dcc.append(DccSigner(kid or dcc_kid(certificate_der), certificate_der))

    def merge(self, other: TrustList) -> TrustList:
        return TrustList(
            dcc=[*self.dcc, *other.dcc],
            shc=[*self.shc, *other.shc],
            vc=[*self.vc, *other.vc],
            revoked_dcc=self.revoked_dcc | other.revoked_dcc,
            revoked_shc={
                k: [*self.revoked_shc.get(k, []), *other.revoked_shc.get(k, [])]
                for k in {*self.revoked_shc, *other.revoked_shc}
            },
            revoked_vc=self.revoked_vc | other.revoked_vc,
        )

    @classmethod
    def from_keyset(cls, keyset: CertificateKeySet) -> TrustList:
        """immunet's own trust list: active and retired public keys of every format."""
        from cryptography.hazmat.primitives.serialization import load_der_public_key

        from .keys import verification_method_id

        tl = cls()
        for kid, _spki, cert in keyset.public_keys("dcc"):
            if cert is not None:
                tl.dcc.append(DccSigner(kid, cert))
        shc_keys = []
        for kid, spki, _ in keyset.public_keys("shc"):
            key = load_der_public_key(spki)
            shc_keys.append({**public_jwk(key), "kid": kid, "use": "sig", "alg": "ES256"})  # type: ignore[arg-type]
        tl.shc.append(ShcIssuer(keyset.issuer, tuple(shc_keys)))
        for kid, spki, _ in keyset.public_keys("vc"):
            key = load_der_public_key(spki)
            tl.vc.append(
                VcMethod(verification_method_id(keyset.issuer, kid), public_jwk(key))  # type: ignore[arg-type]
            )
        return tl

    # -- JSON -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "dcc": [
                {"kid": s.kid, "certificate": base64.b64encode(s.certificate_der).decode("ascii")}
                for s in self.dcc
            ],
            "shc": [{"iss": i.iss, "keys": list(i.keys)} for i in self.shc],
            "vc": [{"id": m.id, "publicKeyJwk": m.public_jwk} for m in self.vc],
            "revoked": {
                "dcc": sorted(self.revoked_dcc),
                "shc": {k: list(v) for k, v in sorted(self.revoked_shc.items())},
                "vc": sorted(self.revoked_vc),
            },
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> TrustList:
        tl = cls()
        for entry in doc.get("dcc", []):
            der = base64.b64decode(entry["certificate"])
            tl.add_dcc(der, entry.get("kid"))
        for entry in doc.get("shc", []):
            tl.shc.append(
                ShcIssuer(str(entry["iss"]), tuple(dict(k) for k in entry.get("keys", [])))
            )
        for entry in doc.get("vc", []):
            tl.vc.append(VcMethod(str(entry["id"]), dict(entry["publicKeyJwk"])))
        revoked = doc.get("revoked", {})
        tl.revoked_dcc = {str(x) for x in revoked.get("dcc", [])}
        for kid, value in revoked.get("shc", {}).items():
            # either a list of rids or a SMART CRL document {"kid", "method", "ctr", "rids"}
            rids = value.get("rids", []) if isinstance(value, dict) else value
            tl.revoked_shc[str(kid)] = [str(r) for r in rids]
        tl.revoked_vc = {str(x) for x in revoked.get("vc", [])}
        return tl

    @classmethod
    def from_json(cls, text: str | bytes) -> TrustList:
        return cls.from_dict(json.loads(text))
