"""Loading CDC's CDSi supporting data (antigen and schedule XML) into frozen rule objects.

The XML ships in ``data/cdsi/<version>/`` (public domain, see ``data/cdsi/NOTES.md``). Only the
parts the engine uses are read; observation-driven (risk) content is read but unused, because
no observations are recorded here yet.
"""

from __future__ import annotations

import datetime as dt
import functools
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from immunet.schedules.dates import Duration

DATA_DIR = Path(__file__).parent / "data" / "cdsi"
VERSIONS = ("v4.38", "v4.64")


def _text(node: ET.Element | None, tag: str) -> str:
    if node is None:
        return ""
    child = node.find(tag)
    if child is None or child.text is None:
        return ""
    return child.text.strip()


def _dur(node: ET.Element | None, tag: str) -> Duration | None:
    return Duration.parse(_text(node, tag))


def _date(text: str) -> dt.date | None:
    text = text.strip()
    if not text:
        return None
    if "/" in text:
        month, day, year = text.split("/")
        return dt.date(int(year), int(month), int(day))
    return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def _cvx(text: str) -> str:
    return text.strip().lstrip("0") or "0"


def _cvx_list(text: str) -> frozenset[str]:
    return frozenset(_cvx(part) for part in text.replace(",", ";").split(";") if part.strip())


@dataclass(frozen=True, slots=True)
class VaccineRule:
    cvx: str
    vaccine_type: str
    begin_age: Duration | None
    end_age: Duration | None
    mvx: str = ""
    trade_name: str = ""
    forecast: bool = False


@dataclass(frozen=True, slots=True)
class AgeRule:
    abs_min: Duration | None
    min: Duration | None
    earliest_rec: Duration | None
    latest_rec: Duration | None
    max: Duration | None
    effective: dt.date | None
    cessation: dt.date | None


@dataclass(frozen=True, slots=True)
class IntervalRule:
    from_previous: bool
    from_target_dose: int | None
    from_most_recent: frozenset[str]
    abs_min: Duration | None
    min: Duration | None
    earliest_rec: Duration | None
    latest_rec: Duration | None
    override: bool
    effective: dt.date | None
    cessation: dt.date | None


@dataclass(frozen=True, slots=True)
class Condition:
    kind: str  # lower-cased conditionType
    begin_age: Duration | None
    end_age: Duration | None
    start_date: dt.date | None
    end_date: dt.date | None
    interval: Duration | None
    dose_count: int | None
    dose_type: str  # "total" | "valid"
    count_logic: str  # "greater than" | "less than" | "equal to"
    vaccine_types: frozenset[str]
    series_groups: frozenset[str]


@dataclass(frozen=True, slots=True)
class SkipSet:
    description: str
    logic: str  # "and" | "or"
    conditions: tuple[Condition, ...]
    effective: dt.date | None
    cessation: dt.date | None


@dataclass(frozen=True, slots=True)
class ConditionalSkip:
    context: str  # "evaluation" | "forecast" | "both"
    logic: str
    sets: tuple[SkipSet, ...]


@dataclass(frozen=True, slots=True)
class SeriesDose:
    number: int
    ages: tuple[AgeRule, ...]
    intervals: tuple[IntervalRule, ...]
    allowable_intervals: tuple[IntervalRule, ...]
    preferable: tuple[VaccineRule, ...]
    allowable: tuple[VaccineRule, ...]
    inadvertent: frozenset[str]
    skips: tuple[ConditionalSkip, ...]
    recurring: bool
    season_start: dt.date | None
    season_end: dt.date | None
    required_gender: frozenset[str]


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    antigen: str
    vaccine_group: str
    series_type: str  # "Standard" | "Risk" | "Evaluation Only"
    equivalent_groups: frozenset[str]
    required_gender: frozenset[str]
    default: bool
    product_path: bool
    group: str
    priority: str
    preference: int
    min_age_to_start: Duration | None
    max_age_to_start: Duration | None
    doses: tuple[SeriesDose, ...]
    # Indications that make a risk series apply (our own schedules, e.g. "pregnancy"); the
    # CDC series carry observation codes instead, which are not read (no observations).
    indications: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Antigen:
    name: str
    series: tuple[Series, ...]
    immunity_birth_date: dt.date | None


@dataclass(frozen=True, slots=True)
class LiveVirusConflict:
    previous: str
    current: str
    begin: Duration
    min_end: Duration
    end: Duration


@dataclass(frozen=True, slots=True)
class Association:
    antigen: str
    begin_age: Duration | None
    end_age: Duration | None


@dataclass(frozen=True, slots=True)
class VaccineGroup:
    name: str
    administer_full_group: bool
    antigens: tuple[str, ...]


@dataclass(frozen=True)
class SupportingData:
    version: str
    antigens: dict[str, Antigen]
    groups: dict[str, VaccineGroup]
    cvx_antigens: dict[str, tuple[Association, ...]]
    conflicts: tuple[LiveVirusConflict, ...]
    conflicts_by_current: dict[str, tuple[LiveVirusConflict, ...]] = field(default_factory=dict)


def _vaccine(node: ET.Element) -> VaccineRule:
    return VaccineRule(
        cvx=_cvx(_text(node, "cvx")),
        vaccine_type=_text(node, "vaccineType"),
        begin_age=_dur(node, "beginAge"),
        end_age=_dur(node, "endAge"),
        mvx=_text(node, "mvx"),
        trade_name=_text(node, "tradeName"),
        forecast=_text(node, "forecastVaccineType").upper() == "Y",
    )


def _interval(node: ET.Element) -> IntervalRule:
    target = _text(node, "fromTargetDose")
    return IntervalRule(
        from_previous=_text(node, "fromPrevious").upper() == "Y",
        from_target_dose=int(target) if target else None,
        from_most_recent=_cvx_list(_text(node, "fromMostRecent")),
        abs_min=_dur(node, "absMinInt"),
        min=_dur(node, "minInt"),
        earliest_rec=_dur(node, "earliestRecInt"),
        latest_rec=_dur(node, "latestRecInt"),
        override=_text(node, "intervalPriority").lower() == "override",
        effective=_date(_text(node, "effectiveDate")),
        cessation=_date(_text(node, "cessationDate")),
    )


def _is_interval(node: ET.Element) -> bool:
    return any(_text(node, tag) for tag in ("fromPrevious", "fromTargetDose", "fromMostRecent"))


def _condition(node: ET.Element) -> Condition:
    count = _text(node, "doseCount")
    return Condition(
        kind=_text(node, "conditionType").lower(),
        begin_age=_dur(node, "beginAge"),
        end_age=_dur(node, "endAge"),
        start_date=_date(_text(node, "startDate")),
        end_date=_date(_text(node, "endDate")),
        interval=_dur(node, "interval"),
        dose_count=int(count) if count else None,
        dose_type=_text(node, "doseType").lower(),
        count_logic=_text(node, "doseCountLogic").lower(),
        vaccine_types=_cvx_list(_text(node, "vaccineTypes")),
        series_groups=frozenset(
            p.strip() for p in _text(node, "seriesGroups").split(";") if p.strip()
        ),
    )


def _skip(node: ET.Element) -> ConditionalSkip:
    sets = tuple(
        SkipSet(
            description=_text(s, "setDescription"),
            logic=(_text(s, "conditionLogic") or "and").lower(),
            conditions=tuple(_condition(c) for c in s.findall("condition")),
            effective=_date(_text(s, "effectiveDate")),
            cessation=_date(_text(s, "cessationDate")),
        )
        for s in node.findall("set")
    )
    return ConditionalSkip(
        context=_text(node, "context").lower(),
        logic=(_text(node, "setLogic") or "or").lower(),
        sets=sets,
    )


def _genders(text: str) -> frozenset[str]:
    return frozenset(p.strip().lower() for p in text.replace(",", ";").split(";") if p.strip())


def _series_dose(node: ET.Element) -> SeriesDose:
    ages = tuple(
        AgeRule(
            abs_min=_dur(a, "absMinAge"),
            min=_dur(a, "minAge"),
            earliest_rec=_dur(a, "earliestRecAge"),
            latest_rec=_dur(a, "latestRecAge"),
            max=_dur(a, "maxAge"),
            effective=_date(_text(a, "effectiveDate")),
            cessation=_date(_text(a, "cessationDate")),
        )
        for a in node.findall("age")
    )
    season = node.find("seasonalRecommendation")
    number = _text(node, "doseNumber").split()[-1]
    return SeriesDose(
        number=int(number),
        ages=ages,
        intervals=tuple(_interval(i) for i in node.findall("interval") if _is_interval(i)),
        allowable_intervals=tuple(
            _interval(i) for i in node.findall("allowableInterval") if _is_interval(i)
        ),
        preferable=tuple(_vaccine(v) for v in node.findall("preferableVaccine")),
        allowable=tuple(_vaccine(v) for v in node.findall("allowableVaccine")),
        inadvertent=frozenset(_cvx(_text(v, "cvx")) for v in node.findall("inadvertentVaccine")),
        skips=tuple(_skip(s) for s in node.findall("conditionalSkip") if s.find("set") is not None),
        recurring=_text(node, "recurringDose").lower() == "yes",
        season_start=_date(_text(season, "startDate")),
        season_end=_date(_text(season, "endDate")),
        required_gender=_genders(_text(node, "requiredGender")),
    )


def _series(node: ET.Element) -> Series:
    select = node.find("selectSeries")
    preference = _text(select, "seriesPreference")
    return Series(
        name=_text(node, "seriesName"),
        antigen=_text(node, "targetDisease"),
        vaccine_group=_text(node, "vaccineGroup"),
        series_type=_text(node, "seriesType"),
        equivalent_groups=frozenset(
            p.strip() for p in _text(node, "equivalentSeriesGroups").split(";") if p.strip()
        ),
        required_gender=_genders(_text(node, "requiredGender")),
        default=_text(select, "defaultSeries").lower() == "yes",
        product_path=_text(select, "productPath").lower() == "yes",
        group=_text(select, "seriesGroup"),
        priority=_text(select, "seriesPriority"),
        preference=int(preference) if preference else 99,
        min_age_to_start=_dur(select, "minAgeToStart"),
        max_age_to_start=_dur(select, "maxAgeToStart"),
        doses=tuple(_series_dose(d) for d in node.findall("seriesDose")),
    )


def _antigen(path: Path) -> Antigen:
    root = ET.parse(path).getroot()  # noqa: S314 - our own package data, never user input
    series = tuple(_series(s) for s in root.findall("series"))
    birth = root.find("immunity/dateOfBirth")
    name = series[0].antigen if series else path.stem
    return Antigen(
        name=name,
        series=series,
        immunity_birth_date=_date(_text(birth, "immunityBirthDate")),
    )


@functools.cache
def load(version: str) -> SupportingData:
    """The supporting data release ``version`` (``"v4.38"`` or ``"v4.64"``), parsed once."""
    if version not in VERSIONS:
        raise ValueError(f"unknown supporting data version {version!r}")
    folder = DATA_DIR / version
    antigens: dict[str, Antigen] = {}
    for path in sorted(folder.glob("AntigenSupportingData*.xml")):
        antigen = _antigen(path)
        antigens[antigen.name] = antigen
    # Package data shipped with immunet (never user input), so the stdlib parser is safe.
    root = ET.parse(folder / "ScheduleSupportingData.xml").getroot()  # noqa: S314
    conflicts = tuple(
        LiveVirusConflict(
            previous=_cvx(_text(c.find("previous"), "cvx")),
            current=_cvx(_text(c.find("current"), "cvx")),
            begin=_dur(c, "conflictBeginInterval") or Duration(),
            min_end=_dur(c, "minConflictEndInterval") or Duration(),
            end=_dur(c, "conflictEndInterval") or Duration(),
        )
        for c in root.iter("liveVirusConflict")
    )
    by_current: dict[str, list[LiveVirusConflict]] = {}
    for conflict in conflicts:
        by_current.setdefault(conflict.current, []).append(conflict)
    groups = {
        _text(g, "name"): VaccineGroup(
            name=_text(g, "name"),
            administer_full_group=_text(g, "administerFullVaccineGroup").lower() == "yes",
            antigens=(),
        )
        for g in root.iter("vaccineGroup")
        if _text(g, "name")
    }
    members: dict[str, list[str]] = {}
    for gmap in root.iter("vaccineGroupMap"):
        members[_text(gmap, "name")] = [a.text.strip() for a in gmap.findall("antigen") if a.text]
    for name, antigen_names in members.items():
        full = groups[name].administer_full_group if name in groups else False
        groups[name] = VaccineGroup(name, full, tuple(antigen_names))
    cvx_antigens = {
        _cvx(_text(m, "cvx")): tuple(
            Association(
                antigen=_text(a, "antigen"),
                begin_age=_dur(a, "associationBeginAge"),
                end_age=_dur(a, "associationEndAge"),
            )
            for a in m.findall("association")
        )
        for m in root.iter("cvxMap")
    }
    return SupportingData(
        version=version,
        antigens=antigens,
        groups=groups,
        cvx_antigens=cvx_antigens,
        conflicts=conflicts,
        conflicts_by_current={k: tuple(v) for k, v in by_current.items()},
    )
