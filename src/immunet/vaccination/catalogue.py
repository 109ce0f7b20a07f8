"""The vaccines, series and doses every immunet database starts with (idempotent seed)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.vaccination.models import (
    Antigen,
    Programme,
    Series,
    SeriesDose,
    Vaccine,
    VaccineAntigen,
)

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
        return 0
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
    return len(VACCINES)
