"""CDSi test cases: run one through the engine and compare the answer with CDC's expectation.

A case is the JSON object of CDC's test-case exports (see tests/data/cdsi/): ``patient``,
``doses``, ``assessmentDate``, ``vaccineGroup`` and the expected ``evaluation`` / ``forecast``.
The answer uses the same field names so it can be diffed against the case directly.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from immunet.schedules.engine import Dose, Patient, evaluate_group
from immunet.schedules.supporting import SupportingData, load

# The case file's short group code -> the supporting data's vaccine group name.
GROUP_NAMES = {
    "DTAP": "DTaP/Tdap/Td",
    "POL": "Polio",
    "HIB": "Hib",
    "HPV": "HPV",
    "HEPA": "HepA",
    "HEPB": "HepB",
    "PCV": "Pneumococcal",
    "MMR": "MMR",
    "VAR": "Varicella",
    "ROTA": "Rotavirus",
    "MCV": "Meningococcal",
    "MENB": "Meningococcal B",
    "ZOSTER": "Zoster",
    "FLU": "Influenza",
    "COVID-19": "COVID-19",
    "RSV": "RSV",
}

NO_DATE = "0001-01-01T00:00:00"

# Test-case release -> the supporting data CDC released with it (data/cdsi/NOTES.md).
PAIRED_DATA = {"4.28": "v4.38", "4.45": "v4.64"}


# CDC renamed one reason between releases; answer in the wording of the data's release.
_REASON_WORDING = {"v4.64": {"Interval: too short": "Interval: too Soon"}}


def _day(text: str) -> dt.date | None:
    if not text or text.startswith("0001-01-01"):
        return None
    return dt.date.fromisoformat(text[:10])


def _out(day: dt.date | None) -> str:
    return NO_DATE if day is None else f"{day.isoformat()}T00:00:00"


def default_version(case: dict[str, Any]) -> str:
    """The supporting data that goes with a case when none is named.

    CDC re-dates each case release to its own year (v4.28 cases assess in 2022, v4.45 cases
    in 2025), and cases carry no release number; so a case assessed from 2023 on goes with
    v4.64, an earlier one with v4.38. A few historical cases (assessed 2002-2021) exist in both
    releases; name the version for them (the agreement test does).
    """
    assessed = _day(str(case.get("assessmentDate", "")))
    return "v4.64" if assessed is not None and assessed.year >= 2023 else "v4.38"


def _groups_of(data: SupportingData, cvx: str) -> list[str]:
    antigens = {a.antigen for a in data.cvx_antigens.get(cvx, ())}
    return [g.name for g in data.groups.values() if antigens & set(g.antigens)]


def evaluate_case(case: dict[str, Any], version: str | None = None) -> dict[str, Any]:
    """The engine's answer for ``case``, shaped like the case itself."""
    data = load(version or default_version(case))
    patient_dob = _day(case["patient"]["dob"])
    assessed = _day(case["assessmentDate"])
    if patient_dob is None or assessed is None:
        raise ValueError("a case needs patient.dob and assessmentDate")
    patient = Patient(patient_dob, str(case["patient"].get("gender", "")))
    history = []
    for i, raw in enumerate(case.get("doses", [])):
        given = _day(raw["dateAdministered"])
        if given is None:
            raise ValueError("every dose needs dateAdministered")
        cvx = str(raw["cvx"]).strip().lstrip("0") or "0"
        history.append(Dose(i, given, cvx, str(raw.get("mvx") or "")))
    code = str(case["vaccineGroup"])
    group = GROUP_NAMES.get(code.upper(), code)
    result = evaluate_group(data, group, patient, history, assessed)
    statuses = dict(result.doses)
    # A dose of another vaccine group (a varicella dose in an MMR case) is reported with
    # its own group's verdict, as CDC's cases do.
    for dose in history:
        if dose.index in statuses:
            continue
        for other in _groups_of(data, dose.cvx):
            if other == group:
                continue
            found = evaluate_group(data, other, patient, history, assessed).doses
            if dose.index in found:
                statuses[dose.index] = found[dose.index]
                break
    doses = []
    for i, raw in enumerate(case.get("doses", [])):
        status, reason = statuses.get(i, (None, None))
        reason = _REASON_WORDING.get(data.version, {}).get(reason or "", reason)
        doses.append(
            {
                "dateAdministered": raw["dateAdministered"],
                "cvx": raw["cvx"],
                "evaluationStatus": status,
                "evaluationReason": reason,
            }
        )
    forecast = result.forecast
    return {
        "cdcTestId": case.get("cdcTestId"),
        "vaccineGroup": code,
        "supportingData": data.version,
        "assessmentDate": case["assessmentDate"],
        "doses": doses,
        "evaluation": {"seriesStatus": result.status},
        "forecast": {
            "forecastNum": "-" if forecast is None else str(forecast.dose_number),
            "earliestDate": _out(forecast.earliest if forecast else None),
            "recommendedDate": _out(forecast.recommended if forecast else None),
            "pastDueDate": _out(forecast.past_due if forecast else None),
        },
    }


def disagreements(case: dict[str, Any], answer: dict[str, Any]) -> list[str]:
    """What the answer gets wrong, by CDC's judging rules (NOTES.md): [] when it agrees."""
    found = []
    for i, (want, got) in enumerate(zip(case["doses"], answer["doses"], strict=True)):
        if want["evaluationStatus"] != got["evaluationStatus"]:
            found.append(f"dose{i + 1}:{got['evaluationStatus']}!={want['evaluationStatus']}")
    want_status = case["evaluation"]["seriesStatus"].lower()
    if want_status != answer["evaluation"]["seriesStatus"].lower():
        found.append(f"status:{answer['evaluation']['seriesStatus']}!={want_status}")
    expected = case["forecast"]
    got_fc = answer["forecast"]
    if _day(expected["earliestDate"]) is None:
        if _day(got_fc["earliestDate"]) is not None:
            found.append("forecast:unexpected")
        return found
    if expected["forecastNum"] != got_fc["forecastNum"]:
        found.append(f"num:{got_fc['forecastNum']}!={expected['forecastNum']}")
    for key in ("earliestDate", "recommendedDate", "pastDueDate"):
        if _day(expected[key]) != _day(got_fc[key]):
            found.append(f"{key}:{got_fc[key][:10]}!={expected[key][:10]}")
    return found
