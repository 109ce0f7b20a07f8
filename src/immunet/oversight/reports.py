"""Aggregate dose reports for admins: counts only, jurisdiction-filtered, small cells hidden.

No staff role has a bulk export of personal data: this is the only report, and it returns
counts by one dimension, with counts 1..4 shown as ``"<5"`` and complementary suppression
(:func:`immunet.oversight.rules.suppress`). Canary beneficiaries are never counted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select

from immunet.context import AppContext
from immunet.errors import ValidationFailed
from immunet.geography.centers import Center
from immunet.oversight.rules import Shown, suppress
from immunet.people.models import Beneficiary
from immunet.people.service import GENDERS
from immunet.staff.jurisdiction import center_filter
from immunet.staff.principal import StaffPrincipal
from immunet.vaccination.models import DoseRecord

MAX_RANGE_DAYS = 366
AGE_BANDS = ((0, 17, "0-17"), (18, 44, "18-44"), (45, 59, "45-59"), (60, 200, "60+"))


class GroupBy(StrEnum):
    DAY = "day"
    CENTER = "center"
    VACCINE = "vaccine"
    DOSE = "dose"
    AGE_BAND = "age_band"
    GENDER = "gender"


class InvalidReport(ValidationFailed):
    error_code = "RPT0400"
    message = "The report request is not valid."


@dataclass(frozen=True)
class DoseReport:
    group_by: str
    first: dt.date
    last: dt.date
    cells: dict[str, Shown]
    total: Shown


def age_band(age: int) -> str:
    for low, high, label in AGE_BANDS:
        if low <= age <= high:
            return label
    return "unknown"


async def doses_report(
    ctx: AppContext,
    *,
    actor: StaffPrincipal,
    group_by: GroupBy,
    first: dt.date,
    last: dt.date,
) -> DoseReport:
    if last < first or (last - first).days >= MAX_RANGE_DAYS:
        raise InvalidReport(f"from..to must be a range of at most {MAX_RANGE_DAYS} days")
    base = (
        select()
        .select_from(DoseRecord)
        .join(Center, Center.center_id == DoseRecord.center_id)
        .join(Beneficiary, Beneficiary.id == DoseRecord.beneficiary_id)
        .where(
            center_filter(actor),
            DoseRecord.status == "recorded",
            DoseRecord.administered_on >= first,
            DoseRecord.administered_on <= last,
            Beneficiary.is_canary.is_(False),
        )
    )
    counts: dict[str, int] = {}
    # Aggregate counts may be seconds stale: a replica within the lag threshold serves them.
    async with ctx.db.replica_reader() as session:
        if group_by is GroupBy.AGE_BAND:
            # Birth years are sealed: decrypt one field per dose, inside the jurisdiction.
            rows = (
                await session.execute(
                    base.add_columns(
                        Beneficiary.reference_id,
                        Beneficiary.birth_year_ct,
                        DoseRecord.administered_on,
                    )
                )
            ).all()
            cipher = ctx.keyring.field_cipher
            for ref, birth_year_ct, given_on in rows:
                year = int(cipher.decrypt(birth_year_ct, context=f"beneficiary:{ref}:birth_year"))
                band = age_band(given_on.year - year)
                counts[band] = counts.get(band, 0) + 1
            for _low, _high, label in AGE_BANDS:
                counts.setdefault(label, 0)
        else:
            column: Any = {
                GroupBy.DAY: DoseRecord.administered_on,
                GroupBy.CENTER: DoseRecord.center_id,
                GroupBy.VACCINE: DoseRecord.vaccine_code,
                GroupBy.DOSE: DoseRecord.dose_number,
                GroupBy.GENDER: Beneficiary.gender_id,
            }[group_by]
            rows = (
                await session.execute(base.add_columns(column, func.count()).group_by(column))
            ).all()
            for key, count in rows:
                label = GENDERS.get(int(key), "Others") if group_by is GroupBy.GENDER else str(key)
                counts[label] = counts.get(label, 0) + int(count)
    cells, total = suppress(dict(sorted(counts.items())))
    return DoseReport(str(group_by), first, last, cells, total)


# -- the public dashboard ------------------------------------------------------------------------

PUBLIC_DAYS = 30


class PublicGroup(StrEnum):
    DAY = "day"
    STATE = "state"
    VACCINE = "vaccine"


async def public_doses_report(
    ctx: AppContext, *, group_by: PublicGroup, days: int = PUBLIC_DAYS
) -> DoseReport:
    """National dose counts of the last ``days`` days (India's calendar) for the public
    dashboard: by day, state or vaccine only — never a centre or a person; canaries left
    out and small cells hidden exactly as in the admins' report (:func:`suppress`)."""
    from immunet.geography.models import State

    last = ctx.clock.now().astimezone(INDIA).date()
    first = last - dt.timedelta(days=days - 1)
    column: Any = {
        PublicGroup.DAY: DoseRecord.administered_on,
        PublicGroup.STATE: State.state_name,
        PublicGroup.VACCINE: DoseRecord.vaccine_code,
    }[group_by]
    query = (
        select(column, func.count())
        .select_from(DoseRecord)
        .join(Center, Center.center_id == DoseRecord.center_id)
        .join(State, State.state_id == Center.state_id)
        .join(Beneficiary, Beneficiary.id == DoseRecord.beneficiary_id)
        .where(
            DoseRecord.status == "recorded",
            DoseRecord.administered_on >= first,
            DoseRecord.administered_on <= last,
            Beneficiary.is_canary.is_(False),
        )
        .group_by(column)
    )
    # Public aggregates (cached by the portal too): a replica within the lag bound serves them.
    async with ctx.db.replica_reader() as session:
        counts = {str(key): int(count) for key, count in (await session.execute(query)).all()}
    cells, total = suppress(dict(sorted(counts.items())))
    return DoseReport(str(group_by), first, last, cells, total)


INDIA = dt.timezone(dt.timedelta(hours=5, minutes=30))
