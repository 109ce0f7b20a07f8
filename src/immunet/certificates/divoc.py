"""DIVOC-issued W3C credentials (Co-WIN's 2021-2022 certificates), checked offline.

DIVOC signs a JSON-LD credential with ``RsaSignature2018``: a detached JWS (``b64: false``,
``alg: PS256``) over ``SHA-256(URDNA2015(proof options)) ‖ SHA-256(URDNA2015(credential))``,
the proof options being the proof without ``jws`` under the ``https://w3id.org/security/v2``
context. Canonicalization needs DIVOC's own vaccination context
(``https://cowin.gov.in/credentials/vaccination/v1`` or ``v2``), which is GPL-3.0 and so is not
bundled: the operator supplies it with DIVOC's public key in a trust list entry (decision 0012)::

    "divoc": [{"id": "did:india", "issuer": "https://cowin.gov.in/",
               "publicKeyPem": "-----BEGIN PUBLIC KEY-----…",
               "contexts": {"https://cowin.gov.in/credentials/vaccination/v2": {"@context": …}}}]

Nothing is fetched: a context the entry does not carry makes the credential unverifiable.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from . import vc
from ._safe import DecodeError, b64url_decode

SUITE = "RsaSignature2018"
SECURITY_V2 = "https://w3id.org/security/v2"
MAX_CONTEXT = 64 * 1024
MIN_RSA_BITS = 2048
_HEADER = {"alg": "PS256", "b64": False, "crit": ["b64"]}


class InvalidDivocEntry(ValueError):
    """A ``divoc`` trust list entry that cannot be used."""


@dataclass(frozen=True)
class DivocIssuer:
    id: str
    issuer: str
    public_key_pem: str
    contexts_json: str  # the operator's contexts, as JSON text: the dataclass stays hashable

    @cached_property
    def contexts(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.contexts_json)
        return doc

    @cached_property
    def public_key(self) -> rsa.RSAPublicKey:
        key = serialization.load_pem_public_key(self.public_key_pem.encode("ascii"))
        if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
            raise InvalidDivocEntry("DIVOC keys are RSA of at least 2048 bits")
        return key

    def check(self) -> None:
        if not self.id or not self.issuer:
            raise InvalidDivocEntry("a DIVOC entry needs id and issuer")
        try:
            _ = self.public_key
        except (ValueError, TypeError) as exc:
            raise InvalidDivocEntry(f"unusable DIVOC public key: {exc}") from None
        for url, doc in self.contexts.items():
            if not url.startswith("https://") or not isinstance(doc, dict) or "@context" not in doc:
                raise InvalidDivocEntry(f"context {url[:80]!r} is not a JSON-LD context document")
        if len(self.contexts_json) > MAX_CONTEXT:
            raise InvalidDivocEntry("DIVOC contexts too large")

    @classmethod
    def from_dict(cls, entry: dict[str, Any]) -> DivocIssuer:
        contexts = entry.get("contexts", {})
        if not isinstance(contexts, dict):
            raise InvalidDivocEntry("contexts must map context URLs to documents")
        return cls(
            str(entry["id"]),
            str(entry["issuer"]),
            str(entry["publicKeyPem"]),
            json.dumps(contexts, sort_keys=True, separators=(",", ":")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "issuer": self.issuer,
            "publicKeyPem": self.public_key_pem,
            "contexts": self.contexts,
        }


def _loader(extra: dict[str, Any]) -> Any:
    def load(url: str, options: Any = None) -> dict[str, Any]:
        if url in extra:
            return {
                "contentType": "application/ld+json",
                "contextUrl": None,
                "documentUrl": url,
                "document": json.loads(json.dumps(extra[url])),  # pyld edits it in place
            }
        return vc.document_loader(url, options)

    return load


def _canonicalize(doc: dict[str, Any], extra: dict[str, Any]) -> bytes:
    """URDNA2015 with the bundled contexts and the operator's; a fresh context cache each time,
    so contexts supplied by one trust list never answer for another's."""
    from cachetools import LRUCache
    from pyld import jsonld  # type: ignore[import-untyped]
    from pyld.context_resolver import ContextResolver  # type: ignore[import-untyped]

    loader = _loader(extra)
    result = jsonld.normalize(
        doc,
        {
            "algorithm": "URDNA2015",
            "format": "application/n-quads",
            "documentLoader": loader,
            "contextResolver": ContextResolver(LRUCache(maxsize=32), loader),
            "safe": True,
        },
    )
    assert isinstance(result, str)
    return result.encode("utf-8")


def verify_proof(document: dict[str, Any], issuer: DivocIssuer) -> bool:
    """Check an ``RsaSignature2018`` proof (PS256, detached, unencoded payload)."""
    proof = document.get("proof")
    if not isinstance(proof, dict) or proof.get("type") != SUITE:
        return False
    jws = proof.get("jws")
    if not isinstance(jws, str) or jws.count(".") != 2:
        return False
    header_b64, payload, signature_b64 = jws.split(".")
    if payload:
        return False  # detached: the payload is the verify data below
    try:
        header = json.loads(b64url_decode(header_b64))
        signature = b64url_decode(signature_b64)
    except (DecodeError, ValueError):
        return False
    if header != _HEADER:
        return False
    options = {k: v for k, v in proof.items() if k != "jws"}
    options["@context"] = SECURITY_V2
    unsigned = {k: v for k, v in document.items() if k != "proof"}
    data = (
        hashlib.sha256(_canonicalize(options, issuer.contexts)).digest()
        + hashlib.sha256(_canonicalize(unsigned, issuer.contexts)).digest()
    )
    try:
        issuer.public_key.verify(
            signature,
            header_b64.encode("ascii") + b"." + data,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO),
            hashes.SHA256(),
        )
    except InvalidSignature:
        return False
    return True
