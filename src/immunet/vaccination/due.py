"""Due lists: who in a facility's catchment is due or overdue for which vaccine.

The catchment (decision 0013) is a ``WHERE`` clause on ``beneficiaries.home_center_id``;
the schedule engine forecasts each candidate's next doses as of today (``ctx.clock``), and
only the people with something due in the range are shown — each one through the access
chokepoint (channel ``catchment``: role, own centre, read quota, canaries) and audited,
masked like a roster. Pages are keyset pages over the random reference IDs, so a page costs
the same wherever it starts and the cursor says nothing about how many people exist.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.booking.rules import today_in_india
from immunet.context import AppContext
from immunet.errors import Forbidden, ValidationFailed
from immunet.people.family import open_edd
from immunet.people.models import Beneficiary, Pregnancy
from immunet.people.service import BeneficiaryView, reveal
from immunet.schedules.engine import NOT_COMPLETE
from immunet.schedules.india import PregnancyTd
from immunet.schedules.india import due_list as forecast_due
from immunet.security.keyring import Keyring
from immunet.staff.principal import StaffPrincipal
from immunet.vaccination import uip
from immunet.vaccination.access import (
    AccessChannel,
    authorize_people_for_staff,
    own_center_id,
    record_person_access,
)
from immunet.vaccination.models import DoseRecord, Vaccine
from immunet.vaccination.regional import regional_for_center

MAX_RANGE_DAYS = 92
# Candidates read per page for each person asked for: a page may come back short (with a
# cursor) rather than scan a whole catchment in one request.
SCAN_FACTOR = 4
CATEGORIES = ("child", "pregnant")


class InvalidDueQuery(ValidationFailed):
    error_code = "VACCIN0440"
    message = "The due-list query is not valid."


@dataclass(frozen=True)
class DueLine:
    group: str
    dose_number: int
    status: str  # due | overdue
    recommended: dt.date
    past_due: dt.date | None
    latest: dt.date | None


@dataclass(frozen=True)
class DueEntry:
    view: BeneficiaryView
    lines: list[DueLine]


@dataclass(frozen=True)
class DuePage:
    as_of: dt.date
    start: dt.date
    end: dt.date
    entries: list[DueEntry]
    next_after: str | None


def parse_day(value: str | None, field: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.datetime.strptime(value, "%d-%m-%Y").date()
    except ValueError as exc:
        raise InvalidDueQuery(f"{field} must be DD-MM-YYYY") from exc


def check_range(start: dt.date, end: dt.date) -> None:
    if end < start or (end - start).days > MAX_RANGE_DAYS:
        raise InvalidDueQuery(f"to must be on or after from, at most {MAX_RANGE_DAYS} days later")


def due_lines(
    dob: dt.date,
    history: list[tuple[dt.date, str]],
    *,
    today: dt.date,
    start: dt.date,
    end: dt.date,
    pregnant: bool,
    group: str | None,
    regional: frozenset[str] = frozenset(),
    pregnancy: PregnancyTd | None = None,
) -> list[DueLine]:
    """Pure: the doses of one person recommended by ``end`` and still givable on ``start``.

    ``regional``: the regional groups (JE, PCV) the person's district runs; ``pregnancy``:
    the live pregnancy's facts for Td."""
    lines = []
    for name, due in forecast_due(
        dob, history, today, regional=regional, pregnant=pregnant, pregnancy=pregnancy
    ).items():
        # A pregnant woman's list is Td in pregnancy; a child's is the childhood schedule.
        if (name == uip.PREGNANCY_TD) != pregnant or (group is not None and name != group):
            continue
        f = due.forecast
        if due.status != NOT_COMPLETE or f is None:
            continue
        if f.recommended > end or (f.latest is not None and f.latest < start):
            continue
        overdue = f.past_due is not None and f.past_due <= today
        lines.append(
            DueLine(
                name,
                f.dose_number,
                "overdue" if overdue else "due",
                f.recommended,
                f.past_due,
                f.latest,
            )
        )
    return lines


async def routine_histories(
    session: AsyncSession, keyring: Keyring, ids: list[int]
) -> tuple[dict[int, list[tuple[dt.date, str]]], dict[int, PregnancyTd]]:
    """For a page of people: their live routine doses (date, vaccine), and who has a live
    pregnancy, with what Td in pregnancy needs of it (its first day, the Td doses of earlier
    pregnancies). Two statements whatever the page size."""
    history: dict[int, list[tuple[dt.date, str]]] = defaultdict(list)
    if not ids:
        return history, {}
    pregnancy_series = uip.series_code(uip.PREGNANCY_TD)
    pregnancy_td: dict[int, list[dt.date]] = defaultdict(list)
    rows = await session.execute(
        select(
            DoseRecord.beneficiary_id,
            DoseRecord.administered_on,
            DoseRecord.vaccine_code,
            DoseRecord.series_code,
        )
        .join(Vaccine, Vaccine.code == DoseRecord.vaccine_code)
        .where(
            DoseRecord.beneficiary_id.in_(ids),
            DoseRecord.status == "recorded",
            Vaccine.programme_code == uip.PROGRAMME,
        )
    )
    for beneficiary_id, on, code, series in rows:
        history[beneficiary_id].append((on, code))
        if series == pregnancy_series:
            pregnancy_td[beneficiary_id].append(on)
    pregnant: dict[int, PregnancyTd] = {}
    for beneficiary_id, ref, edd_ct in await session.execute(
        select(Pregnancy.beneficiary_id, Pregnancy.ref, Pregnancy.edd_ct)
        .where(Pregnancy.beneficiary_id.in_(ids), Pregnancy.status == "active")
        .order_by(Pregnancy.id)
    ):
        pregnant[beneficiary_id] = PregnancyTd.of(
            open_edd(keyring, ref, edd_ct), pregnancy_td[beneficiary_id]
        )
    return history, pregnant


def _in_catchment(center_id: int) -> tuple[Any, ...]:
    return (
        Beneficiary.home_center_id == center_id,
        Beneficiary.category.in_(CATEGORIES),
        Beneficiary.is_canary.is_(False),
    )


async def due_list(
    ctx: AppContext,
    *,
    actor: StaffPrincipal,
    start: dt.date | None,
    end: dt.date | None,
    group: str | None,
    after: str | None,
    limit: int,
) -> DuePage:
    center_id = own_center_id(actor)
    if center_id is None:
        raise Forbidden("Due lists belong to a facility: sign in as its staff.")
    today = today_in_india(ctx.clock.now())
    start = start or today
    end = end or start + dt.timedelta(days=30)
    check_range(start, end)
    if group is not None and group not in uip.schedule_group_names():
        raise InvalidDueQuery("vaccine_group is not a group of the national schedule")
    stmt = (
        select(Beneficiary)
        .where(*_in_catchment(center_id))
        .order_by(Beneficiary.reference_id)
        .limit(limit * SCAN_FACTOR)
    )
    if after is not None:
        stmt = stmt.where(Beneficiary.reference_id > after)

    def lines_of(
        row: Beneficiary,
        history: dict[int, list[tuple[dt.date, str]]],
        pregnant: dict[int, PregnancyTd],
        runs: frozenset[str],
    ) -> list[DueLine]:
        # Decrypted for the forecast only; shown (and audited) only if something is due.
        view = reveal(ctx.keyring, row, mobile="", vault_number=None)
        return due_lines(
            view.date_of_birth or dt.date(view.birth_year, 1, 1),
            sorted(history[row.id]),
            today=today,
            start=start,
            end=end,
            pregnant=row.id in pregnant and row.category == "pregnant",
            group=group,
            regional=runs,
            pregnancy=pregnant.get(row.id),
        )

    # The scan (the costly part: limit x SCAN_FACTOR people and their doses) may read a
    # replica within the lag bound (decision 0020). It only chooses whom to consider.
    async with ctx.db.replica_reader() as replica:
        candidates = list((await replica.execute(stmt)).scalars())
        history, pregnant = await routine_histories(
            replica, ctx.keyring, [c.id for c in candidates]
        )
        # The whole catchment is this centre's: one district, one set of regional vaccines.
        runs = await regional_for_center(replica, center_id)
        chosen: list[int] = []
        last_scanned: str | None = None
        for row in candidates:
            if len(chosen) == limit:
                break
            last_scanned = row.reference_id
            if lines_of(row, history, pregnant, runs):
                chosen.append(row.id)
    # What is shown is read, checked, counted and audited on the primary: a person who
    # left the catchment, became a canary or got the dose since the replica's snapshot is
    # dropped here rather than shown stale (or failing the whole page's access check).
    async with ctx.db.transaction() as session:
        rows = list(
            (
                await session.execute(
                    select(Beneficiary)
                    .where(Beneficiary.id.in_(chosen), *_in_catchment(center_id))
                    .order_by(Beneficiary.reference_id)
                )
            ).scalars()
        )
        history, pregnant = await routine_histories(session, ctx.keyring, [r.id for r in rows])
        runs = await regional_for_center(session, center_id)
        shown = [(row, lines) for row in rows if (lines := lines_of(row, history, pregnant, runs))]
        accesses = await authorize_people_for_staff(
            ctx,
            session,
            actor,
            [row.id for row, _ in shown],
            purpose="due-list",
            channel=AccessChannel.CATCHMENT,
        )
        for access in accesses:
            await record_person_access(session, actor, access)
        entries = [
            DueEntry(reveal(ctx.keyring, row, mobile="", vault_number=None), lines)
            for row, lines in shown
        ]
    more = len(candidates) == limit * SCAN_FACTOR or len(chosen) == limit
    return DuePage(today, start, end, entries, last_scanned if more else None)
