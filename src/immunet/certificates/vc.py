"""W3C Verifiable Credential in the shape DIVOC issued for Co-WIN, signed ``eddsa-jcs-2022``.

The credential keeps DIVOC's shape (``VerifiableCredential`` + ``ProofOfVaccinationCredential``,
``credentialSubject`` of type ``Person``, ``evidence[]`` of type ``Vaccination``), with one
evidence entry per dose and immunet's own JSON-LD context (DIVOC's context is GPL-licensed and
names cowin.gov.in terms; ours is bundled, see ADR 0005).

Proof (issued): a W3C Data Integrity ``DataIntegrityProof`` with the ``eddsa-jcs-2022``
cryptosuite (Data Integrity EdDSA Cryptosuites v1.0, a W3C Recommendation): the proof
configuration (with the document's ``@context``) and the document without ``proof`` are
canonicalized with JCS (RFC 8785); the Ed25519 signature covers
``SHA-256(JCS(proof config)) ‖ SHA-256(JCS(document))``; ``proofValue`` is multibase base58btc
(``z…``). No JSON-LD processing is needed, so signing and verifying cost microseconds.

Proof (also verified): the Ed25519Signature2020 Linked Data Proof that earlier immunet
credentials and other issuers use: the same construction over URDNA2015 canonical N-Quads
computed by ``pyld``. Every context is bundled and the document loader never touches the
network: an unknown context URL is an error.

QR: as DIVOC did, the credential JSON goes into a ZIP archive as ``certificate.json`` (DEFLATE).
DIVOC put the raw ZIP bytes in a byte-mode QR; immunet base64-encodes them so the QR text is
plain ASCII that survives JSON and HTTP. The verifier accepts both forms.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import hashlib
import io
import json
import re
import struct
import threading
import zipfile
import zlib
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from . import _jcs
from ._safe import DecodeError
from .keys import CertificateKeySet
from .record import CertificateRecord

CREDENTIALS_V1 = "https://www.w3.org/2018/credentials/v1"
ED25519_2020 = "https://w3id.org/security/suites/ed25519-2020/v1"
DATA_INTEGRITY_V2 = "https://w3id.org/security/data-integrity/v2"
VACCINATION_V1 = "https://immunet.example/credentials/vaccination/v1"
# Data Integrity with a VC 1.1 document: the data-integrity/v2 context defines the proof terms.
CONTEXT = [CREDENTIALS_V1, DATA_INTEGRITY_V2, VACCINATION_V1]
CONTEXT_2020 = [CREDENTIALS_V1, ED25519_2020, VACCINATION_V1]  # Ed25519Signature2020 documents
CRYPTOSUITE_JCS = "eddsa-jcs-2022"
_CONTEXT_FILES = {
    CREDENTIALS_V1: "credentials-v1.jsonld",
    ED25519_2020: "ed25519-signature-2020-v1.jsonld",
    DATA_INTEGRITY_V2: "data-integrity-v2.jsonld",
    VACCINATION_V1: "immunet-vaccination-v1.jsonld",
    "https://w3id.org/security/v1": "security-v1.jsonld",
    "https://w3id.org/security/v2": "security-v2.jsonld",
}
ZIP_MEMBER = "certificate.json"
MAX_VC_JSON = 64 * 1024
MAX_JSON_NODES = 400
MAX_JSON_DEPTH = 12
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
# isinstance() with a tuple: a ``dict | list`` written in a call builds a union on every call
_CONTAINERS = (dict, list)


# -- JSON-LD ---------------------------------------------------------------------------------


# pyld's default context cache is one module-level LRU shared by every caller, and each
# resolved context in it holds another LRU of processed contexts; neither is thread-safe, and
# issuance runs in worker threads (``asyncio.to_thread``), so concurrent issuances corrupted
# them (``OrderedDict mutated during iteration``, KeyError, GEN0500). Each thread gets its own
# cache here, so no pyld state is ever shared between threads and nothing waits for a lock;
# the executor's threads are long-lived, so each cache warms once.
_PYLD_STATE = threading.local()
_PYLD_CACHE_SIZE = 100  # as pyld's own; the bundled contexts and their scoped contexts fill ~20


@cache
def _context_document(url: str) -> dict[str, Any]:
    name = _CONTEXT_FILES[url]
    text = resources.files("immunet.certificates").joinpath(f"data/contexts/{name}")
    doc: dict[str, Any] = json.loads(text.read_text(encoding="utf-8"))
    return doc


def document_loader(url: str, options: Any = None) -> dict[str, Any]:
    """pyld document loader that serves bundled contexts only; never the network."""
    from pyld.jsonld import JsonLdError  # type: ignore[import-untyped]

    if url not in _CONTEXT_FILES:
        raise JsonLdError(
            f"context {url} is not bundled",
            "jsonld.LoadDocumentError",
            code="loading document failed",
        )
    return {
        "contentType": "application/ld+json",
        "contextUrl": None,
        "documentUrl": url,
        "document": _thread_context_document(url),
    }


def _thread_context_document(url: str) -> dict[str, Any]:
    """This thread's own copy of a bundled context. pyld rewrites relative URLs inside a
    loaded context in place (idempotently), so no thread may write to another's copy; one
    copy per thread also saves a deep copy on each of the three loads per canonicalization."""
    docs: dict[str, dict[str, Any]] | None = getattr(_PYLD_STATE, "documents", None)
    if docs is None:
        docs = _PYLD_STATE.documents = {}
    doc = docs.get(url)
    if doc is None:
        doc = docs[url] = copy.deepcopy(_context_document(url))
    return doc


def _context_resolver() -> Any:
    """A fresh pyld context resolver (per-operation state) over this thread's own cache."""
    from cachetools import LRUCache
    from pyld.context_resolver import ContextResolver  # type: ignore[import-untyped]

    cache = getattr(_PYLD_STATE, "cache", None)
    if cache is None:
        cache = _PYLD_STATE.cache = LRUCache(maxsize=_PYLD_CACHE_SIZE)
    return ContextResolver(cache, document_loader)


def canonicalize(doc: dict[str, Any]) -> str:
    """URDNA2015 N-Quads of ``doc``; safe to call from any number of threads at once."""
    from pyld import jsonld  # type: ignore[import-untyped]

    result = jsonld.normalize(
        doc,
        {
            "algorithm": "URDNA2015",
            "format": "application/n-quads",
            "documentLoader": document_loader,
            "contextResolver": _context_resolver(),
            "safe": True,
        },
    )
    assert isinstance(result, str)
    return result


_B58_CHUNK = 58**10
_B58_PAIR = 58**2
_B58_PAIRS = tuple(a + b for a in _B58 for b in _B58)  # value 58·i + j → its two characters


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    # one big-integer division per ten characters, then the chunk's five pairs of characters
    # from small ints and a table (half the divisions of one character at a time)
    pairs = _B58_PAIRS
    chunks: list[str] = []
    while n:
        n, small = divmod(n, _B58_CHUNK)
        small, p5 = divmod(small, _B58_PAIR)
        small, p4 = divmod(small, _B58_PAIR)
        small, p3 = divmod(small, _B58_PAIR)
        p1, p2 = divmod(small, _B58_PAIR)
        chunks.append(pairs[p1] + pairs[p2] + pairs[p3] + pairs[p4] + pairs[p5])
    out = "".join(reversed(chunks)).lstrip("1")
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


# byte → its base58 value, 0xFF outside the alphabet: the whole text checked and mapped in C
_B58_VALUES = bytes(_B58.find(chr(b)) if chr(b) in _B58 else 0xFF for b in range(256))


def b58decode(text: str) -> bytes:
    if not text.isascii():
        raise DecodeError("bad base58 character")
    values = text.encode("ascii").translate(_B58_VALUES)
    if b"\xff" in values:
        raise DecodeError("bad base58 character")
    n = 0
    # ten characters at a time in a small int, then one big-integer step per chunk: a
    # signature's 88 characters cost 9 big multiplications instead of 88
    for start in range(0, len(values), 10):
        chunk = values[start : start + 10]
        small = 0
        for i in chunk:
            small = small * 58 + i
        n = n * 58 ** len(chunk) + small
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def _verify_data(document: dict[str, Any], proof_options: dict[str, Any]) -> bytes:
    options = {**proof_options, "@context": document["@context"]}
    unsigned = {k: v for k, v in document.items() if k != "proof"}
    return (
        hashlib.sha256(canonicalize(options).encode("utf-8")).digest()
        + hashlib.sha256(canonicalize(unsigned).encode("utf-8")).digest()
    )


def _created(created: dt.datetime) -> str:
    return created.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sign(
    document: dict[str, Any],
    key: ed25519.Ed25519PrivateKey,
    verification_method: str,
    *,
    created: dt.datetime,
) -> dict[str, Any]:
    """An Ed25519Signature2020 (URDNA2015) proof: kept for tests and interoperability."""
    proof: dict[str, Any] = {
        "type": "Ed25519Signature2020",
        "created": _created(created),
        "verificationMethod": verification_method,
        "proofPurpose": "assertionMethod",
    }
    signature = key.sign(_verify_data(document, proof))
    return {**document, "proof": {**proof, "proofValue": "z" + b58encode(signature)}}


# -- eddsa-jcs-2022 (W3C Data Integrity EdDSA Cryptosuites v1.0, §3.3) -------------------------


def _jcs_hash_data(unsecured: dict[str, Any], proof_config: dict[str, Any]) -> bytes:
    """§3.3.4 Hashing: SHA-256(JCS(proof config)) ‖ SHA-256(JCS(document))."""
    return (
        hashlib.sha256(_jcs.canonicalize(proof_config)).digest()
        + hashlib.sha256(_jcs.canonicalize(unsecured)).digest()
    )


def sign_jcs(
    document: dict[str, Any],
    key: ed25519.Ed25519PrivateKey,
    verification_method: str,
    *,
    created: dt.datetime,
) -> dict[str, Any]:
    """Add a ``DataIntegrityProof`` with cryptosuite ``eddsa-jcs-2022`` (§3.3.1, §3.3.5)."""
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    proof: dict[str, Any] = {
        "type": "DataIntegrityProof",
        "cryptosuite": CRYPTOSUITE_JCS,
        "created": _created(created),
        "verificationMethod": verification_method,
        "proofPurpose": "assertionMethod",
    }
    if "@context" in unsecured:  # §3.3.5 step 6: the proof carries the document's context
        proof["@context"] = unsecured["@context"]
    signature = key.sign(_jcs_hash_data(unsecured, proof))
    return {**unsecured, "proof": {**proof, "proofValue": "z" + b58encode(signature)}}


_XSD_DATETIME = re.compile(r"^-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")


def _verify_jcs(
    document: dict[str, Any], proof: dict[str, Any], public_key: ed25519.Ed25519PublicKey
) -> bool:
    """§3.3.2 Verify Proof (eddsa-jcs-2022); False on any failure."""
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    # §3.3.6 Proof Configuration: type and cryptosuite must match; created must be a dateTime
    if options.get("type") != "DataIntegrityProof" or options.get("cryptosuite") != (
        CRYPTOSUITE_JCS
    ):
        return False
    created = options.get("created")
    if created is not None and not (isinstance(created, str) and _XSD_DATETIME.match(created)):
        return False
    # §3.3.2 step 4: the proof's @context must be a prefix of the document's, in order
    if "@context" in options:
        ctx, doc_ctx = options["@context"], unsecured.get("@context")
        ctx_list = ctx if isinstance(ctx, list) else [ctx]
        doc_list = doc_ctx if isinstance(doc_ctx, list) else [doc_ctx]
        if doc_list[: len(ctx_list)] != ctx_list:
            return False
        unsecured["@context"] = ctx
    value = proof.get("proofValue")
    if not isinstance(value, str) or not value.startswith("z"):
        return False
    try:
        signature = b58decode(value[1:])
        data = _jcs_hash_data(unsecured, options)
    except (DecodeError, _jcs.CanonicalizationError):
        return False
    if len(signature) != 64:
        return False
    try:
        public_key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def proof_suite(document: dict[str, Any]) -> str | None:
    """``"eddsa-jcs-2022"``, ``"Ed25519Signature2020"`` or None (unsupported or absent)."""
    proof = document.get("proof")
    if not isinstance(proof, dict):
        return None
    if proof.get("type") == "DataIntegrityProof" and proof.get("cryptosuite") == CRYPTOSUITE_JCS:
        return CRYPTOSUITE_JCS
    if proof.get("type") == "Ed25519Signature2020":
        return "Ed25519Signature2020"
    return None


def verify_proof(document: dict[str, Any], public_key: ed25519.Ed25519PublicKey) -> bool:
    """Check an eddsa-jcs-2022 or an Ed25519Signature2020 proof."""
    suite = proof_suite(document)
    proof = document.get("proof")
    if suite is None or not isinstance(proof, dict):
        return False
    if suite == CRYPTOSUITE_JCS:
        return _verify_jcs(document, proof, public_key)
    value = proof.get("proofValue")
    if not isinstance(value, str) or not value.startswith("z"):
        return False
    try:
        signature = b58decode(value[1:])
    except DecodeError:
        return False
    if len(signature) != 64:
        return False
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    try:
        public_key.verify(signature, _verify_data(document, options))
    except InvalidSignature:
        return False
    return True


# -- the credential -------------------------------------------------------------------------


def credential(record: CertificateRecord, keyset: CertificateKeySet) -> dict[str, Any]:
    """The unsigned credential for the record."""
    issued = record.issued_at
    subject: dict[str, Any] = {
        "type": "Person",
        "id": f"did:immunet:{record.masked_id}",
        "refId": record.beneficiary_reference_id,
        "name": record.name,
        "gender": record.gender,
        "age": str(record.age_at(issued.date())),
        "maskedId": record.masked_id,
        "nationality": "Indian",
        "address": {"addressCountry": "IN"},
    }
    if record.date_of_birth is not None:
        subject["dob"] = record.date_of_birth.isoformat()
    else:
        subject["birthYear"] = str(record.year_of_birth)
    evidence = []
    for d in sorted(record.doses, key=lambda d: (d.date, d.dose_number)):
        evidence.append(
            {
                "id": f"{keyset.issuer}/vaccine/{record.certificate_id}/{d.dose_number}",
                "type": ["Vaccination"],
                "certificateId": record.certificate_id,
                "certificateVersion": str(record.version),
                "certificateStatus": record.status,
                "batch": d.batch,
                "vaccine": d.vaccine_name,
                "vaccineCode": d.vaccine_code,
                "cvx": d.vaccine.cvx,
                "manufacturer": d.manufacturer,
                "date": d.date.isoformat(),
                "dose": d.dose_number,
                "totalDoses": max(d.total_doses, d.dose_number),
                "facility": {"name": d.center_name, "address": {"addressCountry": d.country}},
            }
        )
    return {
        "@context": list(CONTEXT),
        "type": ["VerifiableCredential", "ProofOfVaccinationCredential"],
        "credentialSubject": subject,
        "issuer": keyset.issuer,
        "issuanceDate": issued.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "evidence": evidence,
        "nonTransferable": "true",
    }


def issue(record: CertificateRecord, keyset: CertificateKeySet) -> dict[str, Any]:
    """``{"credential": signed VC, "qr": QR text}``."""
    key = keyset.vc.private_key
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    signed = sign_jcs(
        credential(record, keyset), key, keyset.vc_verification_method, created=record.issued_at
    )
    return {"credential": signed, "qr": to_qr(signed)}


# -- QR --------------------------------------------------------------------------------------


_DOS_TIME, _DOS_DATE = 0, ((2021 - 1980) << 9) | (1 << 5) | 1  # 2021-01-01 00:00:00


def zip_single(name: str, data: bytes) -> bytes:
    """A ZIP archive holding one DEFLATE member, byte for byte what ``zipfile`` writes for
    ``ZipInfo(name, date_time=(2021, 1, 1, 0, 0, 0))``, level 9 (tested against it).

    Written directly: ``zipfile``'s object machinery cost as much as the signature."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = comp.compress(data) + comp.flush()
    raw_name = name.encode("ascii")
    crc = zlib.crc32(data)
    common = struct.pack(
        "<HHHHIIIH", 0, 8, _DOS_TIME, _DOS_DATE, crc, len(body), len(data), len(raw_name)
    )
    local = b"PK\x03\x04" + struct.pack("<H", 20) + common + b"\0\0" + raw_name
    central = (
        b"PK\x01\x02"
        + struct.pack("<HH", 0x0314, 20)
        + common
        + struct.pack("<HHHHII", 0, 0, 0, 0, 0o600 << 16, 0)
        + raw_name
    )
    offset = len(local) + len(body)
    end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, len(central), offset, 0)
    return local + body + central + end


# what json.dumps(separators=(",", ":"), ensure_ascii=False) writes, without building an encoder
# per call
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def to_qr(signed: dict[str, Any]) -> str:
    text = _COMPACT_JSON(signed)
    return base64.b64encode(zip_single(ZIP_MEMBER, text.encode("utf-8"))).decode("ascii")


def looks_like_qr(text: str) -> bool:
    return text.startswith("PK\x03\x04") or text.startswith("UEsDB")


def from_qr(text: str, extra_contexts: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The credential JSON from a QR text: base64 ZIP (immunet) or raw ZIP bytes (DIVOC).

    ``extra_contexts``: context URLs a trust list supplies (DIVOC's), allowed besides ours."""
    if text.startswith("PK\x03\x04"):
        try:
            data = text.encode("latin-1")
        except UnicodeEncodeError:
            raise DecodeError("raw ZIP text is not bytes") from None
    else:
        if not _B64.match(text):
            raise DecodeError("VC QR is not base64")
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise DecodeError("bad base64") from None
    raw = _read_simple_zip(data)
    if raw is None:
        raw = _read_zip(data)
    if len(raw) > MAX_VC_JSON:
        raise DecodeError("VC JSON too large")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise DecodeError("VC is not JSON") from None
    if not isinstance(doc, dict):
        raise DecodeError("VC is not a JSON object")
    check_shape(doc, extra_contexts)
    return doc


_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")
_END = struct.Struct("<4sHHHHIIH")


def _read_simple_zip(data: bytes) -> bytes | None:
    """``certificate.json`` from the one ZIP layout immunet writes (one DEFLATE member, no
    comment, extra field or data descriptor), read directly and with every field checked; None
    for any other layout, which then goes through ``zipfile`` (DIVOC's and other writers').
    Either way the size limit, the single-member rule and the CRC hold."""
    if len(data) < _LOCAL.size + _CENTRAL.size + _END.size:
        return None
    end = _END.unpack_from(data, len(data) - _END.size)
    if end[0] != b"PK\x05\x06" or end[1:5] != (0, 0, 1, 1) or end[7] != 0:
        return None
    cd_size, cd_offset = end[5], end[6]
    if cd_offset + cd_size != len(data) - _END.size or cd_size < _CENTRAL.size:
        return None
    central = _CENTRAL.unpack_from(data, cd_offset)
    (sig, _made, need, flags, method, _t, _d, crc, csize, usize, nlen, xlen, clen, *_rest) = central
    local_offset = central[16]
    # version needed 2.0, as written: zipfile refuses some other versions (NotImplementedError),
    # and the fast path must never accept what zipfile refuses
    if sig != b"PK\x01\x02" or need != 20 or flags != 0 or method != 8 or xlen or clen:
        return None
    if local_offset != 0:
        return None
    if cd_size != _CENTRAL.size + nlen or data[cd_offset + _CENTRAL.size : cd_offset + cd_size] != (
        ZIP_MEMBER.encode("ascii")
    ):
        return None
    local = _LOCAL.unpack_from(data, 0)
    if (
        local[0] != b"PK\x03\x04"
        or local[1] != 20
        or local[2:4] != (0, 8)
        or local[6:10] != (crc, csize, usize, nlen)
    ):
        return None
    start = _LOCAL.size + nlen + local[10]
    if data[_LOCAL.size : _LOCAL.size + nlen] != ZIP_MEMBER.encode("ascii"):
        return None
    if start + csize != cd_offset:
        return None
    if usize > MAX_VC_JSON:
        raise DecodeError("VC JSON too large")
    d = zlib.decompressobj(-15)
    try:
        raw = d.decompress(data[start:cd_offset], MAX_VC_JSON + 1)
    except zlib.error:
        raise DecodeError("bad ZIP: bad compressed data") from None
    if len(raw) > MAX_VC_JSON or d.unconsumed_tail:
        raise DecodeError("VC JSON too large")
    if not d.eof or d.unused_data or len(raw) != usize or zlib.crc32(raw) != crc:
        raise DecodeError("bad ZIP: size or CRC mismatch")
    return raw


def _read_zip(data: bytes) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) != 1 or infos[0].filename != ZIP_MEMBER:
                raise DecodeError("VC ZIP must hold only certificate.json")
            if infos[0].file_size > MAX_VC_JSON:
                raise DecodeError("VC JSON too large")
            with zf.open(infos[0]) as fh:
                raw = fh.read(MAX_VC_JSON + 1)
    except DecodeError:
        raise
    except (
        Exception
    ) as exc:  # zipfile raises BadZipFile, zlib.error, EOFError, NotImplementedError…
        raise DecodeError(f"bad ZIP: {type(exc).__name__}") from None
    return raw


def check_shape(doc: Any, extra_contexts: frozenset[str] = frozenset()) -> None:
    """Bound the JSON before canonicalization: depth, node count, no blank-node ids, and only
    bundled contexts (URDNA2015 is costly on adversarial graphs)."""
    # level by level: the depth is the level's index, no (node, depth) pair per node
    level: list[Any] = [doc]
    depth = count = 0
    while level:
        count += len(level)
        if depth > MAX_JSON_DEPTH or count > MAX_JSON_NODES:
            raise DecodeError("VC JSON too deep or too large")
        below: list[Any] = []
        for node in level:
            if type(node) is str:  # most nodes; one type check instead of two isinstance()
                continue
            if isinstance(node, dict):
                for k in ("id", "@id"):
                    v = node.get(k)
                    if isinstance(v, str) and v.startswith("_:"):
                        raise DecodeError("blank node identifiers are not allowed")
                below.extend(node.values())
            elif isinstance(node, list):
                below.extend(node)
        level = below
        depth += 1
    ctx = doc.get("@context")
    if not isinstance(ctx, list) or not all(
        isinstance(c, str) and (c in _CONTEXT_FILES or c in extra_contexts) for c in ctx
    ):
        raise DecodeError("VC @context must list bundled or trusted context URLs only")


def bundled_context_urls() -> frozenset[str]:
    """The context URLs whose documents are bundled (the only ones a credential may name)."""
    return frozenset(_CONTEXT_FILES)


def defined_terms() -> frozenset[str]:
    """Every term the bundled contexts define (see :func:`undefined_terms`)."""
    return _defined_terms()


@lru_cache(maxsize=1)
def _defined_terms() -> frozenset[str]:
    return _terms_of([_context_document(url) for url in _CONTEXT_FILES])


def _terms_of(documents: list[Any]) -> frozenset[str]:
    terms: set[str] = set()

    def walk(ctx: Any) -> None:
        if isinstance(ctx, dict):
            for key, value in ctx.items():
                if not key.startswith("@"):
                    terms.add(key)
                if isinstance(value, dict) and "@context" in value:
                    walk(value["@context"])
                elif key == "@context":
                    walk(value)
        elif isinstance(ctx, list):
            for c in ctx:
                walk(c)

    for document in documents:
        if isinstance(document, dict):
            walk(document.get("@context"))
    return frozenset(terms)


def undefined_terms(doc: Any, extra_contexts: list[Any] | None = None) -> set[str]:
    """Keys that no bundled (or trust-list supplied) context defines. JSON-LD silently drops
    them when canonicalizing, so they would ride along unsigned: the verifier rejects them."""
    found: set[str] = set()
    known = _defined_terms() | _terms_of(extra_contexts) if extra_contexts else _defined_terms()
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if not known.issuperset(node):  # looks up the object's few keys, not every term
                found.update(k for k in node.keys() - known if not k.startswith("@"))
            for key, value in node.items():
                # most values are strings: one type check before the key and isinstance()
                if type(value) is not str and key != "@context" and isinstance(value, _CONTAINERS):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return found


def summarize(doc: dict[str, Any]) -> dict[str, Any]:
    subject = doc.get("credentialSubject") if isinstance(doc.get("credentialSubject"), dict) else {}
    assert isinstance(subject, dict)
    keep = ("name", "gender", "age", "birthYear", "dob", "refId", "maskedId", "nationality")
    out: dict[str, Any] = {
        "issuer": doc.get("issuer"),
        "issuanceDate": doc.get("issuanceDate"),
        "type": doc.get("type"),
        **{k: subject[k] for k in keep if k in subject},
    }
    evidence = doc.get("evidence") if isinstance(doc.get("evidence"), list) else []
    assert isinstance(evidence, list)
    out["evidence"] = [
        {
            k: e.get(k)
            for k in (
                "certificateId",
                "certificateVersion",
                "vaccine",
                "manufacturer",
                "batch",
                "date",
                "dose",
                "totalDoses",
            )
        }
        | {
            "facility": (e.get("facility") or {}).get("name")
            if isinstance(e.get("facility"), dict)
            else None
        }
        for e in evidence
        if isinstance(e, dict)
    ]
    return out
