"""Certificate issuance is safe under concurrency (defect: GEN0500 under concurrent recording).

pyld keeps module-level caches (the resolved-context LRU and, inside each resolved context,
an LRU of processed contexts) that are not thread-safe; the service signs in worker threads
(``asyncio.to_thread``), so concurrent issuances once crashed with ``OrderedDict mutated
during iteration``. Here many threads canonicalize, sign and verify at once, with a tiny
switch interval so the interpreter interleaves them as often as it can, and every result is
compared with the one computed alone.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from conftest import make_record
from immunet.certificates import vc as vcmod
from immunet.certificates.keys import CertificateKeySet

THREADS = 16
ROUNDS = 12


@pytest.fixture
def busy_switching() -> Iterator[None]:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def _documents(keyset: CertificateKeySet) -> list[dict[str, object]]:
    docs = []
    for n in range(THREADS):
        record = dataclasses.replace(
            make_record(doses=1 + n % 3), name=f"Person {n}", certificate_id=f"CERT-{n:04d}"
        )
        docs.append(vcmod.credential(record, keyset))
    return docs


def test_concurrent_canonicalization_matches_serial(
    keyset: CertificateKeySet, busy_switching: None
) -> None:
    docs = _documents(keyset)
    expected = [vcmod.canonicalize(d) for d in docs]  # one at a time: the reference answers
    start = threading.Barrier(THREADS)

    def work(i: int) -> list[str]:
        start.wait()
        return [vcmod.canonicalize(docs[(i + r) % len(docs)]) for r in range(ROUNDS)]

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(work, range(THREADS)))
    for i, outputs in enumerate(results):
        for r, text in enumerate(outputs):
            assert text == expected[(i + r) % len(docs)]


def test_concurrent_sign_and_verify(keyset: CertificateKeySet, busy_switching: None) -> None:
    key = keyset.vc.private_key
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    public = key.public_key()
    docs = _documents(keyset)
    start = threading.Barrier(THREADS)
    created = make_record().issued_at

    def work(i: int) -> bool:
        start.wait()
        ok = True
        for r in range(ROUNDS // 2):
            signed = vcmod.sign(
                docs[(i + r) % len(docs)], key, keyset.vc_verification_method, created=created
            )
            ok = ok and vcmod.verify_proof(signed, public)
        return ok

    with ThreadPoolExecutor(THREADS) as pool:
        assert all(pool.map(work, range(THREADS)))
