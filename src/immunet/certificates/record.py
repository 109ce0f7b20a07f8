"""The certificate record: the minimum a vaccination certificate carries, and the vaccine catalogue.

A :class:`CertificateRecord` is built from a beneficiary's recorded doses by the caller; every
format (VC, EU DCC, SMART Health Card, FHIR) is produced from it alone. It never holds a mobile
number or a full ID number: only the masked ID (last four digits).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Literal

CertificateStatus = Literal["provisional", "final", "precaution"]
Gender = Literal["Male", "Female", "Other"]

_MASKED_ID = re.compile(r"^X{4,}[0-9A-Z]{4}$")


@dataclass(frozen=True, slots=True)
class Vaccine:
    """One vaccine of the catalogue with its codes in every coding system the formats need."""

    code: str  # immunet's code, as Co-WIN names it
    name: str
    manufacturer: str
    eu_mp: str  # EU DCC vaccine-medicinal-product
    eu_ma: str  # EU DCC vaccine-mah-manf
    eu_vp: str  # EU DCC vaccine-prophylaxis (SNOMED CT / ATC)
    cvx: str  # CDC CVX
    snomed: str  # SNOMED CT vaccine-type concept (EU DCC vaccine-encoding instructions)
    default_doses: int
    eu_listed: bool = True  # False: mp/ma are not in the EU value sets (no EU code exists)


# Codes come from the EU DCC value sets 2.12.0 (vaccine-encoding-instructions.json) and CDC's
# CVX table. Corbevax has no EU value-set entry: its mp/ma are written as the value sets write
# other non-EU products ("Corbevax", "Biological-E") and flagged eu_listed=False; a verifier
# that checks codes against the EU value sets will not find them (see ADR 0005).
VACCINES: dict[str, Vaccine] = {
    v.code: v
    for v in (
        Vaccine(
            code="COVISHIELD",
            name="Covishield",
            manufacturer="Serum Institute of India Pvt. Ltd.",
            eu_mp="Covishield",
            eu_ma="ORG-100001981",
            eu_vp="29061000087103",
            cvx="210",
            snomed="29061000087103",
            default_doses=2,
        ),
        Vaccine(
            code="COVAXIN",
            name="Covaxin",
            manufacturer="Bharat Biotech International Ltd.",
            eu_mp="Covaxin",
            eu_ma="Bharat-Biotech",
            eu_vp="1157024006",
            cvx="502",
            snomed="1157024006",
            default_doses=2,
        ),
        Vaccine(
            code="SPUTNIK V",
            name="Sputnik V",
            manufacturer="Gamaleya Research Institute",
            eu_mp="Sputnik-V",
            eu_ma="Gamaleya-Research-Institute",
            eu_vp="29061000087103",
            cvx="505",
            snomed="29061000087103",
            default_doses=2,
        ),
        Vaccine(
            code="CORBEVAX",
            name="Corbevax",
            manufacturer="Biological E. Ltd.",
            eu_mp="Corbevax",
            eu_ma="Biological-E",
            eu_vp="1162643001",
            cvx="517",
            snomed="1162643001",
            default_doses=2,
            eu_listed=False,
        ),
        Vaccine(
            code="COVOVAX",
            name="Covovax",
            manufacturer="Serum Institute of India Pvt. Ltd.",
            eu_mp="Covovax",
            eu_ma="ORG-100001981",
            eu_vp="1162643001",
            cvx="211",
            snomed="1162643001",
            default_doses=2,
        ),
    )
}


def vaccine(code: str) -> Vaccine:
    """The catalogue entry for an immunet vaccine code (case-insensitive)."""
    try:
        return VACCINES[code.strip().upper()]
    except KeyError:
        raise ValueError(f"unknown vaccine code {code!r}") from None


@dataclass(frozen=True, slots=True)
class DoseEntry:
    vaccine_code: str
    vaccine_name: str
    manufacturer: str
    batch: str
    date: dt.date
    dose_number: int
    total_doses: int
    center_name: str
    country: str = "IN"

    def __post_init__(self) -> None:
        if self.dose_number < 1 or self.total_doses < 1:
            raise ValueError("dose_number and total_doses must be positive")
        if len(self.country) != 2 or not self.country.isupper():
            raise ValueError("country must be an ISO 3166-1 alpha-2 code")

    @property
    def vaccine(self) -> Vaccine:
        return vaccine(self.vaccine_code)


@dataclass(frozen=True, slots=True)
class CertificateRecord:
    certificate_id: str
    beneficiary_reference_id: str
    name: str
    gender: Gender
    masked_id: str
    doses: tuple[DoseEntry, ...]
    issued_at: dt.datetime
    version: int = 1
    status: CertificateStatus = "provisional"
    birth_year: int | None = None
    date_of_birth: dt.date | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not self.doses:
            raise ValueError("a certificate needs at least one dose")
        if self.birth_year is None and self.date_of_birth is None:
            raise ValueError("birth_year or date_of_birth is required")
        if not _MASKED_ID.match(self.masked_id):
            raise ValueError("masked_id must be X… followed by the last four characters only")
        if self.issued_at.tzinfo is None:
            raise ValueError("issued_at must be timezone-aware")
        if self.status not in ("provisional", "final", "precaution"):
            raise ValueError(f"bad status {self.status!r}")
        if self.version < 1:
            raise ValueError("version starts at 1")
        # keep doses immutable even if a list was passed
        object.__setattr__(self, "doses", tuple(self.doses))

    @property
    def year_of_birth(self) -> int:
        if self.date_of_birth is not None:
            return self.date_of_birth.year
        assert self.birth_year is not None
        return self.birth_year

    @property
    def dob_text(self) -> str:
        """The birth date as the EU DCC writes it: full date or year only."""
        if self.date_of_birth is not None:
            return self.date_of_birth.isoformat()
        return f"{self.year_of_birth:04d}"

    def age_at(self, when: dt.date) -> int:
        if self.date_of_birth is not None:
            d = self.date_of_birth
            return when.year - d.year - ((when.month, when.day) < (d.month, d.day))
        return when.year - self.year_of_birth

    @property
    def last_dose(self) -> DoseEntry:
        return max(self.doses, key=lambda d: (d.date, d.dose_number))

    @property
    def uvci(self) -> str:
        """The EU-style unique vaccination certificate identifier for this record and version."""
        cid = re.sub(r"[^0-9A-Z]", "", self.certificate_id.upper())
        return f"URN:UVCI:01:IN:IMMUNET/{cid}V{self.version}"
