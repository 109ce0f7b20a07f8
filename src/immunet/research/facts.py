"""The one place research reads person tables: records reduced to generalised attributes.

Each fact is one dose (or one AEFI report) with the generalised values research may see —
state, district, ISO week, vaccine, dose number, age band, sex — and an internal person
number used only to count people, bound contributions and derive a per-client pseudonym;
it never leaves the research package. Birth years are sealed: each is decrypted here to
compute an age band and discarded. Canary beneficiaries and voided doses are never counted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from immunet.context import AppContext
from immunet.geography.centers import Center
from immunet.people.models import Beneficiary
from immunet.people.service import GENDERS
from immunet.research.rules import age_band
from immunet.vaccination.models import AefiReport, DoseRecord


class Dataset(StrEnum):
    DOSES = "doses"
    AEFI = "aefi"


class Dimension(StrEnum):
    STATE = "state"
    DISTRICT = "district"
    WEEK = "week"
    VACCINE = "vaccine"
    DOSE_NUMBER = "dose_number"
    AGE_BAND = "age_band"
    SEX = "sex"


UNKNOWN = "unknown"


@dataclass(frozen=True)
class Fact:
    person: int  # internal only: counting people, contribution bounds, pseudonyms
    on: dt.date
    values: dict[str, str]

    def key(self, dimensions: tuple[Dimension, ...]) -> tuple[str, ...]:
        return tuple(self.values[d.value] for d in dimensions)


def iso_week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


def sex_label(gender_id: int) -> str:
    return GENDERS.get(int(gender_id), "Others")


def _age(cipher: Any, reference: str, birth_year_ct: bytes, on: dt.date) -> str:
    year = int(cipher.decrypt(birth_year_ct, context=f"beneficiary:{reference}:birth_year"))
    return age_band(on.year - year)


async def load_facts(
    ctx: AppContext,
    dataset: Dataset,
    *,
    first: dt.date,
    last: dt.date,
    state_id: int | None = None,
) -> list[Fact]:
    """Every record of ``dataset`` dated ``first..last`` (and in ``state_id``), generalised."""
    cipher = ctx.keyring.field_cipher
    query: Any
    if dataset is Dataset.DOSES:
        query = (
            select(
                DoseRecord.beneficiary_id,
                DoseRecord.administered_on,
                DoseRecord.vaccine_code,
                DoseRecord.dose_number,
                Center.state_id,
                Center.district_id,
                Beneficiary.reference_id,
                Beneficiary.birth_year_ct,
                Beneficiary.gender_id,
            )
            .join(Center, Center.center_id == DoseRecord.center_id)
            .join(Beneficiary, Beneficiary.id == DoseRecord.beneficiary_id)
            .where(
                DoseRecord.status == "recorded",
                DoseRecord.administered_on >= first,
                DoseRecord.administered_on <= last,
                Beneficiary.is_canary.is_(False),
            )
            .order_by(DoseRecord.administered_on, DoseRecord.id)
        )
    else:
        # An AEFI report may name no dose record or centre: those values read "unknown".
        query = (
            select(
                AefiReport.beneficiary_id,
                AefiReport.onset_on,
                AefiReport.vaccine_code,
                DoseRecord.dose_number,
                Center.state_id,
                Center.district_id,
                Beneficiary.reference_id,
                Beneficiary.birth_year_ct,
                Beneficiary.gender_id,
            )
            .join(Beneficiary, Beneficiary.id == AefiReport.beneficiary_id)
            .outerjoin(DoseRecord, DoseRecord.id == AefiReport.dose_record_id)
            .outerjoin(Center, Center.center_id == AefiReport.center_id)
            .where(
                AefiReport.onset_on >= first,
                AefiReport.onset_on <= last,
                Beneficiary.is_canary.is_(False),
            )
            .order_by(AefiReport.onset_on, AefiReport.id)
        )
    if state_id is not None:
        query = query.where(Center.state_id == state_id)
    async with ctx.db.replica_reader() as session:
        rows = (await session.execute(query)).all()
    return [
        Fact(
            person,
            on,
            {
                "state": _known(state),
                "district": _known(district),
                "week": iso_week(on),
                "vaccine": _known(vaccine),
                "dose_number": _known(dose),
                "age_band": _age(cipher, ref, birth_ct, on),
                "sex": sex_label(gender),
            },
        )
        for person, on, vaccine, dose, state, district, ref, birth_ct, gender in rows
    ]


def _known(value: object) -> str:
    return UNKNOWN if value is None else str(value)


async def registered_people(ctx: AppContext, *, on: dt.date) -> list[Fact]:
    """Registered (non-canary) beneficiaries by age band (at ``on``) and sex: the
    denominator of coverage. Registrations carry no place, so coverage is by age and sex."""
    cipher = ctx.keyring.field_cipher
    query = select(
        Beneficiary.id, Beneficiary.reference_id, Beneficiary.birth_year_ct, Beneficiary.gender_id
    ).where(Beneficiary.is_canary.is_(False))
    async with ctx.db.replica_reader() as session:
        rows = (await session.execute(query)).all()
    return [
        Fact(
            person,
            on,
            {"age_band": _age(cipher, ref, birth_ct, on), "sex": sex_label(gender)},
        )
        for person, ref, birth_ct, gender in rows
    ]


async def domain(
    ctx: AppContext, dimension: Dimension, *, first: dt.date, last: dt.date, state_id: int | None
) -> list[str]:
    """The categories of a dimension known *without* looking at the records (public
    reference data and the calendar): differentially private counts must not let the data
    choose which categories exist."""
    from immunet.geography.models import District, State
    from immunet.research.rules import AGE_BANDS
    from immunet.vaccination.models import Vaccine

    if dimension is Dimension.WEEK:
        weeks: list[str] = []
        day = first
        while day <= last:
            if (label := iso_week(day)) not in weeks:
                weeks.append(label)
            day += dt.timedelta(days=1)
        return weeks
    if dimension is Dimension.AGE_BAND:
        return [label for _low, _high, label in AGE_BANDS]
    if dimension is Dimension.SEX:
        return sorted(set(GENDERS.values()) | {"Others"})
    if dimension is Dimension.DOSE_NUMBER:
        return [str(n) for n in range(1, 7)]
    async with ctx.db.reader() as session:
        if dimension is Dimension.STATE:
            states = select(State.state_id).order_by(State.state_id)
            if state_id is not None:
                states = states.where(State.state_id == state_id)
            return [str(v) for v in (await session.execute(states)).scalars()]
        if dimension is Dimension.DISTRICT:
            districts = select(District.district_id).order_by(District.district_id)
            if state_id is not None:
                districts = districts.where(District.state_id == state_id)
            return [str(v) for v in (await session.execute(districts)).scalars()]
        vaccines = select(Vaccine.code).order_by(Vaccine.code)
        return [str(v) for v in (await session.execute(vaccines)).scalars()]
