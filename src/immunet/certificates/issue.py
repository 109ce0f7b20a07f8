"""Issue every format for one certificate record."""

from __future__ import annotations

from typing import Any

from . import dcc, fhir, shc, vc
from .keys import CertificateKeySet
from .record import CertificateRecord


def issue_all(record: CertificateRecord, keyset: CertificateKeySet) -> dict[str, Any]:
    """``{"vc": {"credential", "qr"}, "dcc": {"qr"}, "shc": {"qr": [...], "jws"}, "fhir": {...}}``.

    Each ``qr`` is the exact text to put in the QR code; ``fhir`` is a FHIR R4 Bundle of the
    Patient and its Immunization resources.
    """
    v = vc.issue(record, keyset)
    s = shc.issue(record, keyset)
    return {
        "vc": {"credential": v["credential"], "qr": v["qr"]},
        "dcc": {"qr": dcc.issue(record, keyset)},
        "shc": {"qr": s["qr"], "jws": s["jws"]},
        "fhir": fhir.bundle(record),
    }
