"""Routine immunization (UIP) doses judged by the schedule engine as they are recorded.

COVID-19 doses follow the catalogue's series rows and a wrong one is refused. A routine
dose is different: a child brought in late, early or twice is still given the vaccine, and
the register must say what happened. So a UIP dose is always recorded, with the CDSi
evaluation of India's National Immunization Schedule (``schedules/india.py``) stored on
the row: "Valid", or "Not Valid"/"Extraneous" with the reason, and the answer shows it.
Pure functions here; storage stays in :mod:`immunet.vaccination.service`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from immunet.schedules.engine import EXTRANEOUS, Forecast
from immunet.schedules.india import (
    PregnancyTd,
    evaluate_india,
    load_india,
    regional_groups,
)

PROGRAMME = "uip"
PREGNANCY_TD = "Td (pregnancy)"  # india.PREGNANCY_GROUP


def _all_groups() -> dict[str, tuple[str, ...]]:
    data = load_india(regional_groups())
    return {code: tuple(a.antigen for a in links) for code, links in data.cvx_antigens.items()}


def group_for(vaccine: str, *, pregnant: bool) -> str | None:
    """The schedule's vaccine group a dose of ``vaccine`` counts for (Td: the pregnancy
    series while a pregnancy is recorded, else the adolescent one)."""
    groups = [g for g in _all_groups().get(vaccine, ()) if g != "COVID-19"]
    if not groups:
        return None
    if PREGNANCY_TD in groups:
        return PREGNANCY_TD if pregnant else next(g for g in groups if g != PREGNANCY_TD)
    return groups[0]


def vaccine_of_group(group: str) -> str | None:
    """The vaccine the schedule gives for a group (each routine group has one)."""
    return next((code for code, groups in _all_groups().items() if group in groups), None)


def series_code(group: str) -> str:
    """The catalogue's series row of a schedule group: ``uip-pentavalent``, ``uip-td-pregnancy``."""
    return "uip-" + re.sub(r"[^a-z0-9]+", "-", group.lower()).strip("-")


def schedule_group_names() -> frozenset[str]:
    """Every routine group of the schedule, regional ones included."""
    return frozenset(load_india(regional_groups()).groups) - {"COVID-19"}


def regional_for(group: str) -> frozenset[str]:
    # A vaccinator giving a regional vaccine (JE, PCV) gives it where the district runs it.
    return frozenset({group}) & regional_groups()


@dataclass(frozen=True)
class DoseVerdict:
    group: str
    status: str  # CDSi: Valid | Not Valid | Extraneous
    reason: str | None
    next_dose: Forecast | None


def judge(
    dob: dt.date,
    history: Sequence[tuple[dt.date, str]],
    new: tuple[dt.date, str],
    group: str,
    *,
    pregnant: bool,
    pregnancy: PregnancyTd | None = None,
) -> DoseVerdict:
    """Evaluate ``new`` after ``history`` (the person's live routine doses) on its own date.
    ``pregnancy``: the live pregnancy's facts (Td in pregnancy counts its own doses only)."""
    doses = [*history, new]
    result = evaluate_india(
        dob,
        doses,
        new[0],
        group,
        regional=regional_for(group),
        pregnant=pregnant,
        pregnancy=pregnancy,
    )
    counted = doses
    if pregnant and pregnancy is not None and group == PREGNANCY_TD:
        counted = pregnancy.doses(doses)
        if new[0] < pregnancy.start:
            return DoseVerdict(
                group, EXTRANEOUS, "given before this pregnancy's first day", result.forecast
            )
    status, reason = result.doses.get(
        len(counted) - 1, (EXTRANEOUS, "no series of the schedule applies")
    )
    return DoseVerdict(group, status, reason, result.forecast)
