"""FHIR R4 resources for a certificate record: Patient and one Immunization per dose (JSON dicts).

Two shapes are produced:

* :func:`bundle` — the full FHIR export (``Bundle`` of type ``collection`` with ``urn:uuid``
  full URLs), for the ``fhir`` member of the formats answer;
* :func:`shc_bundle` — the minimal SMART Health Cards shape (``resource:N`` references, no
  identifiers, only the elements the SHC vaccination profile asks for).
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from .record import CertificateRecord, DoseEntry

CVX = "http://hl7.org/fhir/sid/cvx"
SNOMED = "http://snomed.info/sct"
IMMUNET_VACCINE = "https://immunet.example/fhir/CodeSystem/vaccine"
FHIR_GENDER = {"Male": "male", "Female": "female", "Other": "other"}
_NS = uuid.UUID("6f1c3d2e-3a51-4c55-9a1d-5b0e9b8c4d10")


_NS_BYTES = _NS.bytes


def _uuid(*parts: str) -> str:
    """``str(uuid.uuid5(_NS, "/".join(parts)))`` without building UUID objects (a third of
    the cost; a bundle names four resources)."""
    raw = bytearray(
        hashlib.sha1(_NS_BYTES + "/".join(parts).encode("utf-8"), usedforsecurity=False).digest()
    )
    raw[6] = (raw[6] & 0x0F) | 0x50  # version 5
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw[:16].hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def human_name(record: CertificateRecord) -> dict[str, Any]:
    parts = record.name.split()
    name: dict[str, Any] = {"text": record.name}
    if len(parts) > 1:
        name["family"] = parts[-1]
        name["given"] = parts[:-1]
    elif parts:
        name["family"] = parts[0]
    return name


def patient(record: CertificateRecord, *, minimal: bool = False) -> dict[str, Any]:
    res: dict[str, Any] = {"resourceType": "Patient"}
    if not minimal:
        res["id"] = _uuid("patient", record.certificate_id, str(record.version))
        res["identifier"] = [
            {"system": "https://immunet.example/fhir/masked-id", "value": record.masked_id}
        ]
    res["name"] = [human_name(record)]
    if not minimal:
        res["gender"] = FHIR_GENDER.get(record.gender, "unknown")
    res["birthDate"] = record.dob_text
    return res


def vaccine_code(dose: DoseEntry, *, minimal: bool = False) -> dict[str, Any]:
    v = dose.vaccine
    coding: list[dict[str, str]] = [{"system": CVX, "code": v.cvx}]
    if not minimal:
        coding.append({"system": SNOMED, "code": v.snomed})
        coding.append({"system": IMMUNET_VACCINE, "code": v.code, "display": v.name})
    return {"coding": coding}


def immunization(
    dose: DoseEntry, patient_ref: str, *, minimal: bool = False, resource_id: str | None = None
) -> dict[str, Any]:
    res: dict[str, Any] = {"resourceType": "Immunization"}
    if resource_id:
        res["id"] = resource_id
    res["status"] = "completed"
    res["vaccineCode"] = vaccine_code(dose, minimal=minimal)
    res["patient"] = {"reference": patient_ref}
    res["occurrenceDateTime"] = dose.date.isoformat()
    if not minimal:
        res["manufacturer"] = {"display": dose.manufacturer}
    res["lotNumber"] = dose.batch
    res["performer"] = [{"actor": {"display": dose.center_name}}]
    if not minimal:
        res["location"] = {"display": f"{dose.center_name}, {dose.country}"}
        res["protocolApplied"] = [
            {
                "targetDisease": [{"coding": [{"system": SNOMED, "code": "840539006"}]}],
                "doseNumberPositiveInt": dose.dose_number,
                "seriesDosesPositiveInt": max(dose.total_doses, dose.dose_number),
            }
        ]
    return res


def immunizations(record: CertificateRecord, patient_id: str | None = None) -> list[dict[str, Any]]:
    """The FHIR R4 Immunization resources of the record (one per dose)."""
    pid = patient_id or _uuid("patient", record.certificate_id, str(record.version))
    return [
        immunization(
            d,
            f"urn:uuid:{pid}",
            resource_id=_uuid("immunization", record.certificate_id, str(d.dose_number)),
        )
        for d in sorted(record.doses, key=lambda d: (d.date, d.dose_number))
    ]


def bundle(record: CertificateRecord) -> dict[str, Any]:
    """Bundle (collection) of the Patient and its Immunizations, with urn:uuid full URLs."""
    pat = patient(record)
    entries = [{"fullUrl": f"urn:uuid:{pat['id']}", "resource": pat}]
    entries += [
        {"fullUrl": f"urn:uuid:{i['id']}", "resource": i} for i in immunizations(record, pat["id"])
    ]
    return {
        "resourceType": "Bundle",
        "id": _uuid("bundle", record.certificate_id, str(record.version)),
        "type": "collection",
        "timestamp": record.issued_at.isoformat(),
        "entry": entries,
    }


def shc_bundle(record: CertificateRecord) -> dict[str, Any]:
    """The minimal SMART Health Card bundle: ``resource:0`` Patient, then Immunizations."""
    entries: list[dict[str, Any]] = [
        {"fullUrl": "resource:0", "resource": patient(record, minimal=True)}
    ]
    for n, d in enumerate(sorted(record.doses, key=lambda d: (d.date, d.dose_number)), start=1):
        entries.append(
            {"fullUrl": f"resource:{n}", "resource": immunization(d, "resource:0", minimal=True)}
        )
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}
