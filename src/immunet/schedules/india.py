"""India's National Immunization Schedule (UIP), written by us as data in the CDSi model.

``data/india/nis.json`` holds the schedule: one vaccine group per line of the UIP table, each
with series and target doses carrying the same age and interval fields as CDC's supporting
data (absolute minimum, minimum, earliest recommended, latest recommended, maximum). It is
turned into the same rule objects as the CDC XML and evaluated by the same engine, so due
dates, catch-up and upper age limits (pentavalent and rotavirus up to 1 year, OPV and MR up to
5 years, DPT up to 7) follow the CDSi logic. Regional groups (JE, PCV) are enabled per district.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from immunet.schedules.dates import Duration, add
from immunet.schedules.engine import Dose, Forecast, GroupResult, Patient, evaluate_group
from immunet.schedules.supporting import (
    AgeRule,
    Antigen,
    Association,
    Condition,
    ConditionalSkip,
    IntervalRule,
    Series,
    SeriesDose,
    SkipSet,
    SupportingData,
    VaccineGroup,
    VaccineRule,
)

SCHEDULE_FILE = Path(__file__).parent / "data" / "india" / "nis.json"


def _d(block: dict[str, Any], key: str) -> Duration | None:
    value = block.get(key)
    return Duration.parse(value) if isinstance(value, str) else None


def _dose(number: int, raw: dict[str, Any]) -> SeriesDose:
    age = raw.get("age", {})
    interval = raw.get("interval")
    skips: tuple[ConditionalSkip, ...] = ()
    if "skipFromAge" in raw:
        # "Not given from this age on": a CDSi age skip in both contexts.
        condition = Condition(
            kind="age",
            begin_age=Duration.parse(raw["skipFromAge"]),
            end_age=None,
            start_date=None,
            end_date=None,
            interval=None,
            dose_count=None,
            dose_type="",
            count_logic="",
            vaccine_types=frozenset(),
            series_groups=frozenset(),
        )
        skips = (
            ConditionalSkip(
                context="both",
                logic="or",
                sets=(SkipSet(raw.get("note", ""), "and", (condition,), None, None),),
            ),
        )
    absolute = _d(age, "absMin") or _d(age, "min")
    return SeriesDose(
        number=number,
        ages=(
            AgeRule(
                abs_min=absolute,
                min=_d(age, "min"),
                earliest_rec=_d(age, "earliestRec"),
                latest_rec=_d(age, "latestRec"),
                max=_d(age, "max"),
                effective=None,
                cessation=None,
            ),
        ),
        intervals=()
        if interval is None
        else (
            IntervalRule(
                from_previous=True,
                from_target_dose=None,
                from_most_recent=frozenset(),
                abs_min=_d(interval, "absMin") or _d(interval, "min"),
                min=_d(interval, "min"),
                earliest_rec=_d(interval, "earliestRec"),
                latest_rec=_d(interval, "latestRec"),
                override=False,
                effective=None,
                cessation=None,
            ),
        ),
        allowable_intervals=(),
        preferable=tuple(
            VaccineRule(cvx=code, vaccine_type=code, begin_age=None, end_age=None, forecast=True)
            for code in raw["vaccines"]
        ),
        allowable=(),
        inadvertent=frozenset(),
        skips=skips,
        recurring=False,
        season_start=None,
        season_end=None,
        required_gender=frozenset(),
    )


def _series(group: str, index: int, raw: dict[str, Any]) -> Series:
    indication = raw.get("indication")
    return Series(
        name=raw["name"],
        antigen=group,
        vaccine_group=group,
        series_type="Risk" if indication else "Standard",
        equivalent_groups=frozenset(),
        required_gender=frozenset(),
        default=bool(raw.get("default", index == 0)),
        product_path=bool(raw.get("productPath", False)),
        group="1",
        priority="A",
        preference=index + 1,
        min_age_to_start=_d(raw, "minAgeToStart"),
        max_age_to_start=_d(raw, "maxAgeToStart"),
        doses=tuple(_dose(n, d) for n, d in enumerate(raw["doses"], start=1)),
        indications=frozenset({indication}) if indication else frozenset(),
    )


@functools.cache
def _raw() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEDULE_FILE.read_text(encoding="utf-8"))
    return data


def schedule_groups() -> list[dict[str, Any]]:
    """The schedule's vaccine groups as written (for the catalogue's series rows)."""
    groups: list[dict[str, Any]] = _raw()["groups"]
    return groups


def regional_groups() -> frozenset[str]:
    """The groups a district must switch on (JE where endemic, PCV where introduced)."""
    return frozenset(g["name"] for g in _raw()["groups"] if g.get("regional"))


@functools.cache
def load_india(regional: frozenset[str] = frozenset()) -> SupportingData:
    """The national schedule plus the regional groups named in ``regional``."""
    unknown = regional - regional_groups()
    if unknown:
        raise ValueError(f"not a regional vaccine group: {sorted(unknown)}")
    antigens: dict[str, Antigen] = {}
    groups: dict[str, VaccineGroup] = {}
    cvx: dict[str, list[Association]] = {}
    for raw in _raw()["groups"]:
        name = raw["name"]
        if raw.get("regional") and name not in regional:
            continue
        series = tuple(_series(name, i, s) for i, s in enumerate(raw["series"]))
        antigens[name] = Antigen(name=name, series=series, immunity_birth_date=None)
        groups[name] = VaccineGroup(name=name, administer_full_group=False, antigens=(name,))
        codes = {v.cvx for s in series for d in s.doses for v in d.preferable}
        for code in sorted(codes):
            cvx.setdefault(code, []).append(Association(name, None, None))
    return SupportingData(
        version=_raw()["version"],
        antigens=antigens,
        groups=groups,
        cvx_antigens={k: tuple(v) for k, v in cvx.items()},
        conflicts=(),
    )


PREGNANCY_GROUP = "Td (pregnancy)"
PREGNANCY_DAYS = 280  # Naegele: the first day of a pregnancy is its EDD minus 280 days
TD = "TD"
PRIMED = "pregnancy-td-primed"
BOOSTER_YEARS = 3  # "2 doses in a pregnancy within the last 3 years"


@dataclass(frozen=True, slots=True)
class PregnancyTd:
    """What Td in pregnancy needs to know of a woman's current pregnancy.

    ``start``: its first day (the LMP, or the EDD minus 280 days). ``earlier``: the dates of
    Td doses given in earlier pregnancies (recorded under the pregnancy series). Only the Td
    doses given from ``start`` on count for this pregnancy's Td-1 and Td-2; a woman given two
    Td doses in one earlier pregnancy, the later within the last 3 years, needs a single
    booster instead (India's National Immunization Schedule)."""

    start: dt.date
    earlier: tuple[dt.date, ...] = ()

    @classmethod
    def of(
        cls, edd: dt.date, pregnancy_td: list[dt.date] | tuple[dt.date, ...] = ()
    ) -> PregnancyTd:
        start = edd - dt.timedelta(days=PREGNANCY_DAYS)
        return cls(start, tuple(sorted(d for d in pregnancy_td if d < start)))

    def primed(self) -> bool:
        """Two Td doses in one earlier pregnancy (at most 280 days apart), the later given
        no more than 3 years before this pregnancy's first day."""
        window_start = add(self.start, Duration(years=-BOOSTER_YEARS))
        doses = sorted(self.earlier)
        return any(
            (later - first).days <= PREGNANCY_DAYS and later >= window_start
            for first, later in itertools.pairwise(doses)
        )

    def doses(self, history: list[tuple[dt.date, str]]) -> list[tuple[dt.date, str]]:
        """The Td doses of this pregnancy: given on or after its first day."""
        return [(day, code) for day, code in history if code == TD and day >= self.start]


def _inputs(
    dob: dt.date,
    history: list[tuple[dt.date, str]],
    group: str,
    pregnant: bool,
    pregnancy: PregnancyTd | None,
) -> tuple[Patient, list[Dose]]:
    """The patient and doses one group is evaluated with: Td in pregnancy sees only this
    pregnancy's Td doses, and the booster series when the woman is primed."""
    indications: frozenset[str] = frozenset({"pregnancy"}) if pregnant else frozenset()
    if pregnant and pregnancy is not None and group == PREGNANCY_GROUP:
        history = pregnancy.doses(history)
        if pregnancy.primed():
            indications = frozenset({PRIMED})
    return Patient(dob, "", indications), [
        Dose(i, day, code) for i, (day, code) in enumerate(history)
    ]


@dataclass(frozen=True, slots=True)
class Due:
    """One line of a due list: a vaccine group, its status and the next dose, if any."""

    group: str
    status: str
    forecast: Forecast | None


def due_list(
    dob: dt.date,
    history: list[tuple[dt.date, str]],
    today: dt.date,
    *,
    regional: frozenset[str] = frozenset(),
    pregnant: bool = False,
    pregnancy: PregnancyTd | None = None,
) -> dict[str, Due]:
    """What a person born on ``dob`` with ``history`` (date, vaccine code) needs as of ``today``
    (``pregnancy``: the current pregnancy's facts for Td, when ``pregnant``)."""
    data = load_india(regional)
    out: dict[str, Due] = {}
    for name in data.groups:
        patient, doses = _inputs(dob, history, name, pregnant, pregnancy)
        result: GroupResult = evaluate_group(data, name, patient, doses, today)
        if not result.antigens:
            continue  # no series applies (Td in pregnancy for someone not pregnant)
        out[name] = Due(name, result.status, result.forecast)
    return out


def evaluate_india(
    dob: dt.date,
    history: list[tuple[dt.date, str]],
    today: dt.date,
    group: str,
    *,
    regional: frozenset[str] = frozenset(),
    pregnant: bool = False,
    pregnancy: PregnancyTd | None = None,
) -> GroupResult:
    """The full evaluation (every dose's status) of one group of the national schedule.
    For Td in pregnancy with ``pregnancy`` given, the doses are this pregnancy's only: the
    result's dose indexes are then those of :meth:`PregnancyTd.doses`."""
    data = load_india(regional)
    patient, doses = _inputs(dob, history, group, pregnant, pregnancy)
    return evaluate_group(data, group, patient, doses, today)
