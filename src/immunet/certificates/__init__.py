"""Vaccination certificates: issue (W3C VC, EU DCC, SMART Health Card, FHIR) and verify.

Pure library: no HTTP routes and no database tables. See ``docs/decisions/0005-certificates.md``.
"""

from __future__ import annotations

from .issue import issue_all
from .keys import CertificateKeySet
from .record import VACCINES, CertificateRecord, DoseEntry, Vaccine
from .trust import TrustList
from .verify import VerificationResult, verify_qr

__all__ = [
    "VACCINES",
    "CertificateKeySet",
    "CertificateRecord",
    "DoseEntry",
    "TrustList",
    "Vaccine",
    "VerificationResult",
    "issue_all",
    "verify_qr",
]
