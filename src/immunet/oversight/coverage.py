"""Routine-immunization coverage for admins: counts by district and month, small cells hidden.

Children belong to the district of their home facility (decision 0013), inside the caller's
jurisdiction (a ``WHERE`` on the centre). Two kinds of figures, as the programme reports them:

- the *cohort* of children who turned 12 months in the month: fully immunized by their first
  birthday (BCG, three pentavalent, three OPV after the birth dose, MR-1, each a valid dose
  given before the birthday), zero-dose (no pentavalent-1 by then) and the rest, partly
  immunized — a partition, suppressed with the reports' complementary suppression;
- *doses given* in the month: pentavalent-1 and -3, MR-1 and -2, with the drop-out rates
  (1 - dose 3 / dose 1, 1 - MR-2 / MR-1) shown only when no count behind them is hidden.

Birth dates are sealed: each child's is decrypted here, inside the jurisdiction, and never
leaves this function. Canary beneficiaries are never counted.
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select

from immunet.context import AppContext
from immunet.geography.centers import Center
from immunet.oversight.reports import InvalidReport
from immunet.oversight.rules import Shown, suppress
from immunet.people.models import Beneficiary
from immunet.staff.jurisdiction import center_filter
from immunet.staff.principal import Jurisdiction, StaffPrincipal
from immunet.vaccination.models import DoseRecord, Vaccine

MAX_MONTHS = 24
# Fully immunized: (series, valid doses needed before the first birthday).
FULL = {"uip-bcg": 1, "uip-pentavalent": 3, "uip-mr": 1}
OPV_DOSES = 3
OPV_BIRTH_DOSE_DAYS = 15  # OPV given within 15 days of birth is OPV-0, not counted
DOSE_CELLS = ("penta_1", "penta_3", "mr_1", "mr_2")


@dataclass(frozen=True)
class CoverageRow:
    district_id: int
    month: str  # YYYY-MM
    cohort: dict[str, Shown]  # fully_immunized, partly_immunized, zero_dose
    children_turning_one: Shown
    doses: dict[str, Shown]
    dropout_penta_1_3: float | None
    dropout_mr_1_2: float | None


def parse_month(value: str) -> dt.date:
    try:
        return dt.datetime.strptime(value, "%Y-%m").date()
    except ValueError as exc:
        raise InvalidReport("months are YYYY-MM") from exc


def _months(first: dt.date, last: dt.date) -> list[str]:
    out, y, m = [], first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def first_birthday(dob: dt.date) -> dt.date:
    try:
        return dob.replace(year=dob.year + 1)
    except ValueError:  # 29 February
        return dt.date(dob.year + 1, 3, 1)


def cohort_status(dob: dt.date, doses: list[tuple[str, int, dt.date, str | None]]) -> str:
    """Pure: ``fully_immunized``, ``zero_dose`` or ``partly_immunized`` at 12 months, from
    (series, dose number, date, evaluation) of the child's routine doses."""
    birthday = first_birthday(dob)
    before = [(s, n, d) for s, n, d, status in doses if d < birthday and status == "Valid"]
    if not any(s == "uip-pentavalent" for s, _, _ in before):
        return "zero_dose"
    counts: dict[str, int] = defaultdict(int)
    for series, _n, _d in before:
        counts[series] += 1
    opv = sum(1 for s, _n, d in before if s == "uip-opv" and (d - dob).days >= OPV_BIRTH_DOSE_DAYS)
    full = all(counts[s] >= need for s, need in FULL.items()) and opv >= OPV_DOSES
    return "fully_immunized" if full else "partly_immunized"


def _shown(count: int) -> Shown:
    cells, _total = suppress({"n": count})
    return cells["n"]


def _dropout(first: int, third: int, shown: tuple[Shown, Shown]) -> float | None:
    if first == 0 or any(isinstance(s, str) for s in shown):
        return None
    return round(1 - third / first, 4)


async def coverage_report(
    ctx: AppContext, *, actor: StaffPrincipal | Jurisdiction, first: dt.date, last: dt.date
) -> list[CoverageRow]:
    """Admins: their jurisdiction. The public dashboard: a state, as a :class:`Jurisdiction`."""
    months = _months(first, last)
    if last < first or len(months) > MAX_MONTHS:
        raise InvalidReport(f"from..to must be at most {MAX_MONTHS} months")
    months_set = set(months)
    cipher = ctx.keyring.field_cipher
    # Monthly aggregates may be seconds stale: a replica within the lag bound serves them.
    async with ctx.db.replica_reader() as session:
        children = (
            await session.execute(
                select(
                    Beneficiary.id,
                    Beneficiary.reference_id,
                    Beneficiary.birth_date_ct,
                    Center.district_id,
                )
                .join(Center, Center.center_id == Beneficiary.home_center_id)
                .where(
                    center_filter(actor),
                    Beneficiary.category == "child",
                    Beneficiary.is_canary.is_(False),
                    Beneficiary.birth_date_ct.is_not(None),
                )
            )
        ).all()
        dose_rows = (
            await session.execute(
                select(
                    DoseRecord.beneficiary_id,
                    DoseRecord.series_code,
                    DoseRecord.dose_number,
                    DoseRecord.administered_on,
                    DoseRecord.evaluation_status,
                )
                .join(Vaccine, Vaccine.code == DoseRecord.vaccine_code)
                .join(Beneficiary, Beneficiary.id == DoseRecord.beneficiary_id)
                .join(Center, Center.center_id == Beneficiary.home_center_id)
                .where(
                    center_filter(actor),
                    Vaccine.programme_code == "uip",
                    DoseRecord.status == "recorded",
                    Beneficiary.category == "child",
                    Beneficiary.is_canary.is_(False),
                )
            )
        ).all()
    history: dict[int, list[tuple[str, int, dt.date, str | None]]] = defaultdict(list)
    for beneficiary_id, series, number, on, status in dose_rows:
        history[beneficiary_id].append((series or "", number, on, status))
    cohort: dict[tuple[int, str], dict[str, int]] = defaultdict(
        lambda: {"fully_immunized": 0, "partly_immunized": 0, "zero_dose": 0}
    )
    given: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(DOSE_CELLS, 0))
    district_of: dict[int, int] = {}
    for beneficiary_id, ref, birth_date_ct, district_id in children:
        district_of[beneficiary_id] = district_id
        assert birth_date_ct is not None  # filtered in the query
        dob = dt.date.fromisoformat(
            cipher.decrypt(birth_date_ct, context=f"beneficiary:{ref}:birth_date")
        )
        month = first_birthday(dob).strftime("%Y-%m")
        if month in months_set:
            cohort[(district_id, month)][cohort_status(dob, history[beneficiary_id])] += 1
    # Doses given in the month, counted by their valid order in the series.
    for beneficiary_id, doses in history.items():
        district = district_of.get(beneficiary_id)
        if district is None:
            continue
        valid: dict[str, int] = defaultdict(int)
        for series, _n, on, status in sorted(doses, key=lambda d: d[2]):
            if status != "Valid":
                continue
            valid[series] += 1
            name = {
                ("uip-pentavalent", 1): "penta_1",
                ("uip-pentavalent", 3): "penta_3",
                ("uip-mr", 1): "mr_1",
                ("uip-mr", 2): "mr_2",
            }.get((series, valid[series]))
            month = on.strftime("%Y-%m")
            if name and month in months_set:
                given[(district, month)][name] += 1
    rows = []
    for key in sorted(set(cohort) | set(given)):
        district_id, month = key
        cells, total = suppress(
            cohort.get(key, {"fully_immunized": 0, "partly_immunized": 0, "zero_dose": 0})
        )
        counts = given.get(key, dict.fromkeys(DOSE_CELLS, 0))
        doses_shown = {k: _shown(v) for k, v in counts.items()}
        rows.append(
            CoverageRow(
                district_id=district_id,
                month=month,
                cohort=cells,
                children_turning_one=total,
                doses=doses_shown,
                dropout_penta_1_3=_dropout(
                    counts["penta_1"],
                    counts["penta_3"],
                    (doses_shown["penta_1"], doses_shown["penta_3"]),
                ),
                dropout_mr_1_2=_dropout(
                    counts["mr_1"], counts["mr_2"], (doses_shown["mr_1"], doses_shown["mr_2"])
                ),
            )
        )
    return rows


# The public dashboard: one state at a time, at most a year, answers kept for an hour per
# worker. The figures are the admins' (same suppression); the cache is because each answer
# decrypts every child's birth date in the state, which no anonymous caller may trigger at
# will (the public request budget alone would allow 100 such scans per address).
PUBLIC_MAX_MONTHS = 12
PUBLIC_CACHE_SECONDS = 3600
# Keyed by the context's id with a weak reference to it: AppContext is not hashable, and a
# new context (another database) must never see an old one's answers.
_Entries = dict[tuple[int, str, str], tuple[dt.datetime, list[CoverageRow]]]
_public_cache: dict[int, tuple[weakref.ref[AppContext], _Entries]] = {}


async def public_coverage(
    ctx: AppContext, *, state_id: int, first: dt.date, last: dt.date
) -> list[CoverageRow]:
    months = _months(first, last)
    if last < first or len(months) > PUBLIC_MAX_MONTHS:
        raise InvalidReport(f"from..to must be at most {PUBLIC_MAX_MONTHS} months")
    now = ctx.clock.now()
    held = _public_cache.get(id(ctx))
    if held is None or held[0]() is not ctx:
        if len(_public_cache) > 64:
            _public_cache.clear()
        held = (weakref.ref(ctx), {})
        _public_cache[id(ctx)] = held
    cache = held[1]
    key = (state_id, months[0], months[-1])
    hit = cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    rows = await coverage_report(ctx, actor=Jurisdiction("state", state_id), first=first, last=last)
    if len(cache) > 1024:  # bounded: states x month ranges
        cache.clear()
    cache[key] = (now + dt.timedelta(seconds=PUBLIC_CACHE_SECONDS), rows)
    return rows
