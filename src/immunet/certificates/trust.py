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

What the SMART Health Cards spec makes a verifier refuse is refused when a trust list is read
(``immunet trust import``, ``immunet verify --trust-list``): an ``iss`` that is not ``https``
or ends with ``/``; a JWK whose ``x5c`` leaf does not hold the JWK's key or does not name the
``iss`` as a URI subject alternative name; a CRL document malformed for its ``method`` ("rid":
``kid`` equal to its key's, ``ctr`` a positive integer equal to the key's ``crlVersion``,
``rids`` unique base64url ids of at most 24 characters with an optional ``.timestamp``); a key
that declares ``crlVersion`` without its CRL. Whether an ``x5c`` path validates is checked at
verification time (:meth:`ShcIssuer.x5c_error`), because certificates expire.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from ._jwk import PublicKey, key_from_jwk, public_jwk
from .divoc import DivocIssuer
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


class InvalidTrustEntry(ValueError):
    """A trust list entry that the SMART Health Cards (or another format's) rules refuse."""


_RID = re.compile(r"[A-Za-z0-9_-]{1,24}(\.[0-9]{1,12})?")
MAX_X5C = 5


def _ca_basic_constraints(_policy: Any, _cert: x509.Certificate, ext: Any) -> None:
    if ext is None or not ext.ca:
        raise ValueError("an issuing certificate in x5c is not a CA")


# x5c paths are checked as RFC 5280 paths (signatures, validity at the verification time, CA
# basic constraints) but not against the Web PKI profile: the spec's own example chain marks
# basicConstraints non-critical, which the Web PKI defaults refuse.
_X5C_CA_POLICY = ExtensionPolicy.permit_all().require_present(
    x509.BasicConstraints, Criticality.AGNOSTIC, _ca_basic_constraints
)


def _x5c_certificates(jwk: dict[str, Any]) -> list[x509.Certificate]:
    chain = jwk.get("x5c")
    if not isinstance(chain, list) or not 1 <= len(chain) <= MAX_X5C:
        raise InvalidTrustEntry("x5c must be a list of 1 to 5 certificates")
    try:
        return [x509.load_der_x509_certificate(base64.b64decode(c, validate=True)) for c in chain]
    except (ValueError, TypeError):
        raise InvalidTrustEntry("x5c holds a certificate that is not base64 DER") from None


def check_x5c_binding(iss: str, jwk: dict[str, Any]) -> None:
    """The spec's binding of an ``x5c`` leaf: the JWK's key, and ``iss`` as a URI SAN."""
    leaf = _x5c_certificates(jwk)[0]
    key = leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or public_jwk(key) != {
        k: jwk.get(k) for k in ("kty", "crv", "x", "y")
    }:
        raise InvalidTrustEntry("the x5c leaf certificate does not hold the JWK's key")
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        raise InvalidTrustEntry(
            "the x5c leaf certificate has no subject alternative name"
        ) from None
    if iss not in san.get_values_for_type(x509.UniformResourceIdentifier):
        raise InvalidTrustEntry("the x5c leaf certificate does not name the issuer URL")


def x5c_path_error(jwk: dict[str, Any], at: dt.datetime) -> str | None:
    """Why the JWK's ``x5c`` path does not validate at ``at`` (None when it does).

    The anchor is the chain's last certificate: the operator put this chain in the trust list,
    so its root is the anchor the operator chose; the path must still be well signed, within
    every certificate's validity at ``at``, through CA certificates."""
    try:
        certs = _x5c_certificates(jwk)
    except InvalidTrustEntry as exc:
        return str(exc)
    leaf, rest = certs[0], certs[1:]
    root = rest[-1] if rest else leaf
    try:
        verifier = (
            PolicyBuilder()
            .store(Store([root]))
            .time(at)
            .extension_policies(ca_policy=_X5C_CA_POLICY, ee_policy=ExtensionPolicy.permit_all())
            .build_client_verifier()
        )
        verifier.verify(leaf, rest[:-1])
    except (VerificationError, ValueError) as exc:
        return f"x5c path does not validate: {str(exc)[:160]}"
    return None


@dataclass(frozen=True)
class ShcIssuer:
    iss: str
    keys: tuple[dict[str, Any], ...]

    def key(self, kid: str) -> dict[str, Any] | None:
        for jwk in self.keys:
            if jwk.get("kid") == kid:
                return jwk
        return None

    def check(self) -> None:
        """The spec's rules for an issuer entry (raises :class:`InvalidTrustEntry`)."""
        from .shc import issuer_url_error

        why = issuer_url_error(self.iss)
        if why:
            raise InvalidTrustEntry(f"SHC issuer {self.iss[:80]!r}: {why}")
        for jwk in self.keys:
            if "x5c" in jwk:
                check_x5c_binding(self.iss, jwk)
            version = jwk.get("crlVersion")
            if version is not None and (
                isinstance(version, bool) or not isinstance(version, int) or version < 1
            ):
                raise InvalidTrustEntry("crlVersion must be a positive integer")


def check_crl(kid: str, crl: dict[str, Any], crl_version: Any) -> list[str]:
    """The ``rids`` of a SMART CRL document, refused when malformed for its method."""
    if crl.get("method") != "rid":
        raise InvalidTrustEntry(f"CRL for {kid}: unknown method {str(crl.get('method'))[:20]!r}")
    if "kid" in crl and crl["kid"] != kid:
        raise InvalidTrustEntry(f"CRL for {kid}: its kid names another key")
    ctr = crl.get("ctr")
    if isinstance(ctr, bool) or not isinstance(ctr, int) or ctr < 1:
        raise InvalidTrustEntry(f"CRL for {kid}: ctr must be a positive integer")
    if crl_version is not None and crl_version != ctr:
        raise InvalidTrustEntry(f"CRL for {kid}: ctr {ctr} is not the key's crlVersion")
    rids = check_rids(kid, crl.get("rids"))
    bases = [r.partition(".")[0] for r in rids]
    if len(set(bases)) != len(bases):
        raise InvalidTrustEntry(f"CRL for {kid}: a rid is listed more than once")
    return rids


def check_rids(kid: str, rids: Any) -> list[str]:
    if not isinstance(rids, list) or not all(isinstance(r, str) for r in rids):
        raise InvalidTrustEntry(f"CRL for {kid}: rids must be a list of strings")
    for rid in rids:
        if not _RID.fullmatch(rid):
            raise InvalidTrustEntry(
                f"CRL for {kid}: rid {rid[:30]!r} is not base64url of at most 24 characters"
                " with an optional .timestamp"
            )
    return list(rids)


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
    divoc: list[DivocIssuer] = field(default_factory=list)

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

    def divoc_issuer(self, method_id: str, issuer: object) -> DivocIssuer | None:
        for d in self.divoc:
            if d.id == method_id and d.issuer == issuer:
                return d
        return None

    def divoc_context_urls(self) -> frozenset[str]:
        return frozenset(url for d in self.divoc for url in d.contexts)

    def is_dcc_revoked(self, uvci: str) -> bool:
        if not self.revoked_dcc:  # nothing revoked: no need to hash the UVCI
            return False
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
            divoc=[*self.divoc, *other.divoc],
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
            **({"divoc": [d.to_dict() for d in self.divoc]} if self.divoc else {}),
            "revoked": {
                "dcc": sorted(self.revoked_dcc),
                "shc": {k: list(v) for k, v in sorted(self.revoked_shc.items())},
                "vc": sorted(self.revoked_vc),
            },
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, doc: dict[str, Any], *, check: bool = True) -> TrustList:
        """Read a trust list; ``check=False`` only for immunet's own keys, which it made."""
        tl = cls()
        for entry in doc.get("dcc", []):
            der = base64.b64decode(entry["certificate"])
            tl.add_dcc(der, entry.get("kid"))
        for entry in doc.get("shc", []):
            issuer = ShcIssuer(str(entry["iss"]), tuple(dict(k) for k in entry.get("keys", [])))
            if check:
                issuer.check()
            tl.shc.append(issuer)
        for entry in doc.get("vc", []):
            tl.vc.append(VcMethod(str(entry["id"]), dict(entry["publicKeyJwk"])))
        for entry in doc.get("divoc", []):
            divoc = DivocIssuer.from_dict(dict(entry))
            divoc.check()
            tl.divoc.append(divoc)
        revoked = doc.get("revoked", {})
        tl.revoked_dcc = {str(x) for x in revoked.get("dcc", [])}
        crl_versions = {
            str(k.get("kid")): k.get("crlVersion") for i in tl.shc for k in i.keys if "kid" in k
        }
        for kid, value in revoked.get("shc", {}).items():
            # either a list of rids or a SMART CRL document {"kid", "method", "ctr", "rids"}
            if isinstance(value, dict):
                tl.revoked_shc[str(kid)] = check_crl(str(kid), value, crl_versions.get(str(kid)))
            else:
                tl.revoked_shc[str(kid)] = check_rids(str(kid), value)
        for kid, version in crl_versions.items():
            if version is not None and kid not in tl.revoked_shc:
                # The spec: a verifier SHALL use the CRL of a key that declares crlVersion.
                raise InvalidTrustEntry(f"key {kid} declares crlVersion but its CRL is missing")
        tl.revoked_vc = {str(x) for x in revoked.get("vc", [])}
        return tl

    @classmethod
    def from_json(cls, text: str | bytes, *, check: bool = True) -> TrustList:
        return cls.from_dict(json.loads(text), check=check)
