"""The vaccines, series and doses every immunet database starts with (idempotent seed)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.schedules.dates import Duration, add
from immunet.schedules.india import schedule_groups as india_schedule_groups
from immunet.vaccination.models import (
    Antigen,
    Programme,
    Series,
    SeriesDose,
    Vaccine,
    VaccineAntigen,
)
from immunet.vaccination.uip import series_code

ADULT_DAYS = 18 * 365

# code, name, manufacturer, programme, route, min age days, max age days, CVX
VACCINES = [
    (
        "COVISHIELD",
        "COVISHIELD",
        "Serum Institute of India",
        "covid19",
        "IM",
        ADULT_DAYS,
        None,
        "210",
    ),
    ("COVAXIN", "COVAXIN", "Bharat Biotech", "covid19", "IM", ADULT_DAYS, None, "502"),
    (
        "SPUTNIK V",
        "Sputnik V",
        "Gamaleya Research Institute",
        "covid19",
        "IM",
        ADULT_DAYS,
        None,
        "505",
    ),
    ("CORBEVAX", "CORBEVAX", "Biological E", "covid19", "IM", 12 * 365, None, None),
    ("COVOVAX", "COVOVAX", "Serum Institute of India", "covid19", "IM", 12 * 365, None, "211"),
    ("HEPB", "Hepatitis B", "Various", "uip", "IM", 0, 365, "08"),
    ("BCG", "BCG", "Various", "uip", "ID", 0, 365, "19"),
    ("OPV", "Oral Polio Vaccine", "Various", "uip", "oral", 0, 5 * 365, "02"),
    ("PENTA", "Pentavalent (DPT-HepB-Hib)", "Various", "uip", "IM", 42, 365, "102"),
    ("ROTA", "Rotavirus", "Various", "uip", "oral", 42, 365, "122"),
    ("FIPV", "Fractional IPV", "Various", "uip", "ID", 42, 365, "10"),
    ("PCV", "Pneumococcal Conjugate", "Various", "uip", "IM", 42, 2 * 365, "133"),
    ("MR", "Measles-Rubella", "Various", "uip", "SC", 270, 5 * 365, "04"),
    ("JE", "Japanese Encephalitis", "Various", "uip", "SC", 270, 15 * 365, "134"),
    ("DPT", "DPT", "Various", "uip", "IM", 480, 7 * 365, "01"),
    ("TD", "Td", "Various", "uip", "IM", 10 * 365, None, "09"),
]
# Added to databases seeded before it (see seed_uip_schedule): vitamin A is not a vaccine,
# but the schedule gives it like one and the register records it like one.
UIP_EXTRA_VACCINES = [("VITA", "Vitamin A", "Various", "uip", "oral", 270, 5 * 365, None)]

ANTIGENS = {
    "sars-cov-2": "SARS-CoV-2",
    "hepatitis-b": "Hepatitis B",
    "tuberculosis": "Tuberculosis",
    "polio": "Poliomyelitis",
    "diphtheria": "Diphtheria",
    "tetanus": "Tetanus",
    "pertussis": "Pertussis",
    "hib": "Haemophilus influenzae type b",
    "rotavirus": "Rotavirus",
    "pneumococcal": "Pneumococcal disease",
    "measles": "Measles",
    "rubella": "Rubella",
    "je": "Japanese encephalitis",
}
UIP_EXTRA_ANTIGENS = {"vitamin-a": "Vitamin A deficiency"}

VACCINE_ANTIGENS = {
    "COVISHIELD": ["sars-cov-2"],
    "COVAXIN": ["sars-cov-2"],
    "SPUTNIK V": ["sars-cov-2"],
    "CORBEVAX": ["sars-cov-2"],
    "COVOVAX": ["sars-cov-2"],
    "HEPB": ["hepatitis-b"],
    "BCG": ["tuberculosis"],
    "OPV": ["polio"],
    "PENTA": ["diphtheria", "tetanus", "pertussis", "hepatitis-b", "hib"],
    "ROTA": ["rotavirus"],
    "FIPV": ["polio"],
    "PCV": ["pneumococcal"],
    "MR": ["measles", "rubella"],
    "JE": ["je"],
    "DPT": ["diphtheria", "tetanus", "pertussis"],
    "TD": ["tetanus", "diphtheria"],
}
UIP_EXTRA_VACCINE_ANTIGENS = {"VITA": ["vitamin-a"]}

# How the programme names doses where "<vaccine>-<n>" is not it.
UIP_LABELS: dict[str, list[str]] = {
    "Hepatitis B birth dose": ["Hepatitis B birth dose"],
    "OPV": ["OPV-0", "OPV-1", "OPV-2", "OPV-3", "OPV booster"],
    "PCV": ["PCV-1", "PCV-2", "PCV booster"],
    "DPT boosters": ["DPT booster-1", "DPT booster-2"],
    "Td": ["Td (10 years)", "Td (16 years)"],
    "Td (pregnancy)": ["Td-1", "Td-2"],
}

# COVID-19 series: dose 2 window after dose 1, precaution 9 months after dose 2.
# (vaccine, dose-2 min days, dose-2 max days)
COVID_SERIES = [
    ("COVISHIELD", 84, 112),
    ("COVAXIN", 28, 42),
    ("SPUTNIK V", 21, 90),
    ("CORBEVAX", 28, None),
    ("COVOVAX", 21, None),
]
PRECAUTION_AFTER_DAYS = 273


async def seed_catalogue(session: AsyncSession) -> int:
    if (await session.execute(select(func.count()).select_from(Vaccine))).scalar_one():
        return await seed_uip_schedule(session)
    session.add_all(
        [
            Programme(code="covid19", name="COVID-19 vaccination"),
            Programme(code="uip", name="Universal Immunization Programme"),
        ]
    )
    session.add_all([Antigen(code=c, name=n) for c, n in ANTIGENS.items()])
    await session.flush()
    for code, name, maker, programme, route, min_age, max_age, cvx in VACCINES:
        session.add(
            Vaccine(
                code=code,
                name=name,
                manufacturer=maker,
                programme_code=programme,
                route=route,
                min_age_days=min_age,
                max_age_days=max_age,
                cvx_code=cvx,
                active=True,
            )
        )
    await session.flush()
    for vaccine, antigens in VACCINE_ANTIGENS.items():
        session.add_all([VaccineAntigen(vaccine_code=vaccine, antigen_code=a) for a in antigens])
    for vaccine, min_days, max_days in COVID_SERIES:
        series_code = f"covid19-{vaccine.lower().replace(' ', '-')}"
        session.add(
            Series(
                code=series_code,
                name=f"COVID-19 {vaccine}",
                programme_code="covid19",
                antigen_code="sars-cov-2",
                target_group="adult",
                primary_doses=2,
            )
        )
        await session.flush()
        session.add_all(
            [
                SeriesDose(
                    series_code=series_code,
                    dose_number=1,
                    label="Dose 1",
                    vaccine_code=vaccine,
                    min_age_days=0,
                ),
                SeriesDose(
                    series_code=series_code,
                    dose_number=2,
                    label="Dose 2",
                    vaccine_code=vaccine,
                    min_interval_days=min_days,
                    max_interval_days=max_days,
                    same_vaccine_as_previous=True,
                ),
                SeriesDose(
                    series_code=series_code,
                    dose_number=3,
                    label="Precaution",
                    vaccine_code=vaccine,
                    min_interval_days=PRECAUTION_AFTER_DAYS,
                ),
            ]
        )
    await session.flush()
    return len(VACCINES) + await seed_uip_schedule(session)


def _days(duration: str | None) -> int | None:
    """A schedule duration in days from a fixed birth date (catalogue summary only: the
    engine applies the exact CDSi calendar arithmetic)."""
    parsed = Duration.parse(duration) if duration else None
    if parsed is None:
        return None
    born = dt.date(2000, 1, 1)
    return (add(born, parsed) - born).days


def uip_series_rows() -> list[tuple[Series, list[SeriesDose]]]:
    """India's schedule (``schedules/data/india/nis.json``) as catalogue series rows: one
    series per vaccine group, one row per target dose, labelled as the programme does."""
    out: list[tuple[Series, list[SeriesDose]]] = []
    for group in india_schedule_groups():
        if group["name"] == "COVID-19":
            continue  # the COVID-19 series above are the catalogue's own
        series = group["series"][0]
        doses = series["doses"]
        first_vaccine = doses[0]["vaccines"][0]
        code = series_code(group["name"])
        labels = UIP_LABELS.get(group["name"]) or (
            [group["name"]]
            if len(doses) == 1
            else [f"{first_vaccine}-{n}" for n in range(1, len(doses) + 1)]
        )
        rows = []
        for number, dose in enumerate(doses, start=1):
            age = dose.get("age", {})
            interval = dose.get("interval", {})
            rows.append(
                SeriesDose(
                    series_code=code,
                    dose_number=number,
                    label=labels[number - 1],
                    vaccine_code=dose["vaccines"][0],
                    min_age_days=_days(age.get("min")) or 0,
                    max_age_days=_days(age.get("max")),
                    min_interval_days=_days(interval.get("min")),
                    max_interval_days=None,
                    same_vaccine_as_previous=False,
                )
            )
        antigens = VACCINE_ANTIGENS.get(first_vaccine) or UIP_EXTRA_VACCINE_ANTIGENS[first_vaccine]
        out.append(
            (
                Series(
                    code=code,
                    name=series["name"],
                    programme_code="uip",
                    antigen_code=antigens[0],
                    target_group="pregnant" if series.get("indication") else "child",
                    primary_doses=len(doses),
                ),
                rows,
            )
        )
    return out


async def seed_uip_schedule(session: AsyncSession) -> int:
    """Add what the routine programme needs and a database lacks (idempotent)."""
    added = 0
    known_antigens = set((await session.execute(select(Antigen.code))).scalars())
    for code, name in UIP_EXTRA_ANTIGENS.items():
        if code not in known_antigens:
            session.add(Antigen(code=code, name=name))
            added += 1
    await session.flush()
    known = set((await session.execute(select(Vaccine.code))).scalars())
    for code, name, maker, programme, route, min_age, max_age, cvx in UIP_EXTRA_VACCINES:
        if code in known:
            continue
        session.add(
            Vaccine(
                code=code,
                name=name,
                manufacturer=maker,
                programme_code=programme,
                route=route,
                min_age_days=min_age,
                max_age_days=max_age,
                cvx_code=cvx,
                active=True,
            )
        )
        await session.flush()
        session.add_all(
            [
                VaccineAntigen(vaccine_code=code, antigen_code=a)
                for a in UIP_EXTRA_VACCINE_ANTIGENS[code]
            ]
        )
        added += 1
    await session.flush()
    present = set((await session.execute(select(Series.code))).scalars())
    for series, rows in uip_series_rows():
        if series.code in present:
            continue
        session.add(series)
        await session.flush()
        session.add_all(rows)
        added += 1 + len(rows)
    await session.flush()
    return added
