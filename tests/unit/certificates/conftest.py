"""Shared fixtures for the certificate tests (data lives in tests/data, never in ../shared)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data"
try:
    import immunet  # noqa: F401
except ImportError:  # not installed in the venv: run from the source tree
    sys.path.insert(0, str(ROOT / "src"))

from immunet.certificates.keys import CertificateKeySet  # noqa: E402
from immunet.certificates.record import CertificateRecord, DoseEntry, vaccine  # noqa: E402

NOW = dt.datetime(2024, 3, 1, 10, 0, tzinfo=dt.UTC)


def make_record(doses: int = 2, *, code: str = "COVISHIELD", **kw: object) -> CertificateRecord:
    v = vaccine(code)
    entries = tuple(
        DoseEntry(
            vaccine_code=v.code,
            vaccine_name=v.name,
            manufacturer=v.manufacturer,
            batch=f"4121Z{n:03d}",
            date=dt.date(2021, 6, 1) + dt.timedelta(days=84 * (n - 1)),
            dose_number=n,
            total_doses=v.default_doses,
            center_name="PHC Kasba, Kolkata",
        )
        for n in range(1, doses + 1)
    )
    args: dict[str, object] = {
        "certificate_id": "CERT-0001-2345",
        "beneficiary_reference_id": "12345678901234",
        "name": "Asha Ramesh Kumari",
        "gender": "Female",
        "masked_id": "XXXXXXXX1234",
        "doses": entries,
        "issued_at": NOW,
        "version": 1,
        "status": "final" if doses >= v.default_doses else "provisional",
        "birth_year": 1985,
    }
    args.update(kw)
    return CertificateRecord(**args)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def keyset() -> CertificateKeySet:
    return CertificateKeySet.generate(
        issuer="https://immunet.example/issuer", now=NOW - dt.timedelta(days=30)
    )


@pytest.fixture
def record() -> CertificateRecord:
    return make_record()
