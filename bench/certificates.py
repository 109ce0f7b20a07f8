"""Certificate issuance and verification on one core, against ``cryptography``'s raw rates.

Each figure is a ratio to the raw signature rate of the algorithm that format uses,
measured in the same run: Ed25519 for the W3C credential, ECDSA P-256 for HC1 and SMART
Health Cards. Issuance of all four formats for one dose signs once with Ed25519 and twice
with ECDSA, so its baseline is the combined rate of those three signatures.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from immunet.certificates import (
    CertificateKeySet,
    TrustList,
    dcc,
    fhir,
    issue_all,
    shc,
    vc,
    verify_qr,
)
from immunet.certificates.record import CertificateRecord, DoseEntry


def _rate(fn: Callable[[], Any], seconds: float) -> float:
    fn()  # warm up (caches, lazy imports)
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        fn()
        count += 1
    return count / (time.perf_counter() - start)


def _record() -> CertificateRecord:
    dose = DoseEntry(
        vaccine_code="COVISHIELD",
        vaccine_name="COVISHIELD",
        manufacturer="Serum Institute of India",
        batch="BENCH-1",
        date=dt.date.today(),
        dose_number=1,
        total_doses=2,
        center_name="Bench Centre",
        country="IN",
    )
    return CertificateRecord(
        certificate_id="BENCH00000000001",
        beneficiary_reference_id="12345678901234",
        name="Bench Person",
        gender="Female",
        masked_id="XXXXXXXX1234",
        doses=(dose,),
        issued_at=dt.datetime.now(dt.UTC).replace(microsecond=0),
        birth_year=1980,
    )


def run(seconds: float) -> dict[str, Any]:
    message = b"x" * 256
    ed_key = ed25519.Ed25519PrivateKey.generate()
    ed_sig = ed_key.sign(message)
    ed_pub = ed_key.public_key()
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_sig = ec_key.sign(message, ec.ECDSA(hashes.SHA256()))
    ec_pub = ec_key.public_key()

    raw = {
        "ed25519_sign": _rate(lambda: ed_key.sign(message), seconds),
        "ed25519_verify": _rate(lambda: ed_pub.verify(ed_sig, message), seconds),
        "ecdsa_p256_sign": _rate(lambda: ec_key.sign(message, ec.ECDSA(hashes.SHA256())), seconds),
        "ecdsa_p256_verify": _rate(
            lambda: ec_pub.verify(ec_sig, message, ec.ECDSA(hashes.SHA256())), seconds
        ),
    }
    keyset = CertificateKeySet.generate()
    trust = TrustList.from_keyset(keyset)
    record = _record()
    issued = issue_all(record, keyset)
    qr = {"vc": issued["vc"]["qr"], "dcc": issued["dcc"]["qr"], "shc": issued["shc"]["qr"]}
    for fmt, text in qr.items():
        result = verify_qr(text, trust)
        if not result.valid:
            raise RuntimeError(f"bench: own {fmt} certificate does not verify: {result.reason}")

    issue_rate = _rate(lambda: issue_all(record, keyset), seconds)
    combined_sign = 1 / (1 / raw["ed25519_sign"] + 2 / raw["ecdsa_p256_sign"])
    out: dict[str, Any] = {
        "raw_per_second": {k: round(v, 1) for k, v in raw.items()},
        "issue_all_formats": {
            "per_second": round(issue_rate, 1),
            "baseline_per_second": round(combined_sign, 1),
            "ratio": round(issue_rate / combined_sign, 3),
        },
    }
    # what one set costs, format by format (µs per issuance; FHIR has no signature)
    out["issue_per_format_us"] = {
        name: round(1e6 / _rate(fn, seconds / 4), 1)
        for name, fn in (
            ("vc", lambda: vc.issue(record, keyset)),
            ("dcc", lambda: dcc.issue(record, keyset)),
            ("shc", lambda: shc.issue(record, keyset)),
            ("fhir", lambda: fhir.bundle(record)),
        )
    }
    baselines = {"vc": "ed25519_verify", "dcc": "ecdsa_p256_verify", "shc": "ecdsa_p256_verify"}
    for fmt, text in qr.items():
        rate = _rate(lambda text=text: verify_qr(text, trust), seconds)  # type: ignore[misc]
        base = raw[baselines[fmt]]
        out[f"verify_{fmt}"] = {
            "per_second": round(rate, 1),
            "baseline": baselines[fmt],
            "baseline_per_second": round(base, 1),
            "ratio": round(rate / base, 3),
        }
    return out
