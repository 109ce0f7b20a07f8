"""Pure rules of certificate issuance: status from the doses, record (de)serialisation, ids."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from immunet.certificates.record import CertificateRecord, DoseEntry
from immunet.certificates.service import (
    NO_ID,
    certificate_status,
    new_certificate_id,
    record_from_dict,
    record_to_dict,
)


def _dose(n: int, total: int = 2) -> DoseEntry:
    return DoseEntry(
        vaccine_code="COVISHIELD",
        vaccine_name="COVISHIELD",
        manufacturer="Serum Institute of India",
        batch=f"B{n}",
        date=dt.date(2024, 1, 1) + dt.timedelta(days=90 * n),
        dose_number=n,
        total_doses=total,
        center_name="PHC",
    )


def test_status_follows_the_series():
    assert certificate_status((_dose(1),)) == "provisional"
    assert certificate_status((_dose(1), _dose(2))) == "final"
    assert certificate_status((_dose(1), _dose(2), _dose(3))) == "precaution"
    assert certificate_status((_dose(1, total=1),)) == "final"
    # a correction that leaves only dose 2 of 2 is still a complete series
    assert certificate_status((_dose(2),)) == "final"


@given(
    name=st.text(min_size=1, max_size=60).filter(lambda s: s.strip()),
    doses=st.integers(min_value=1, max_value=4),
    version=st.integers(min_value=1, max_value=1000),
    dob=st.one_of(st.none(), st.dates(dt.date(1900, 1, 1), dt.date(2024, 1, 1))),
)
def test_record_round_trips(name, doses, version, dob):
    entries = tuple(_dose(n) for n in range(1, doses + 1))
    record = CertificateRecord(
        certificate_id=new_certificate_id(),
        beneficiary_reference_id="12345678901234",
        name=name,
        gender="Other",
        masked_id=NO_ID,
        doses=entries,
        issued_at=dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC),
        version=version,
        status=certificate_status(entries),  # type: ignore[arg-type]
        birth_year=1980 if dob is None else None,
        date_of_birth=dob,
    )
    assert record_from_dict(record_to_dict(record)) == record


def test_certificate_ids_are_random_and_unambiguous():
    ids = {new_certificate_id() for _ in range(500)}
    assert len(ids) == 500
    assert all(len(i) == 16 and i.isalnum() and i.isupper() for i in ids)
    assert not any(c in "".join(ids) for c in "01IO")
