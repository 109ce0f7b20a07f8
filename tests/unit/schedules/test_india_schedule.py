"""India's National Immunization Schedule as data: what is due when, catch-up, upper ages.

Expected dates are written out by hand from the UIP table (shared reference notes) for a
child born on 15 March 2024, not computed with the engine's arithmetic.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from immunet.schedules.engine import AGED_OUT, COMPLETE, NOT_COMPLETE, NOT_VALID, VALID
from immunet.schedules.india import SCHEDULE_FILE, due_list, evaluate_india, regional_groups
from immunet.vaccination.catalogue import COVID_SERIES, PRECAUTION_AFTER_DAYS, VACCINES

D = dt.date
DOB = D(2024, 3, 15)
BOTH = frozenset({"JE", "PCV"})


def test_newborn_due_list_follows_the_uip_table() -> None:
    due = due_list(DOB, [], DOB, regional=BOTH)
    first = {name: line.forecast.recommended for name, line in due.items() if line.forecast}
    assert first["Hepatitis B birth dose"] == DOB
    assert first["BCG"] == DOB
    assert first["OPV"] == DOB  # OPV-0
    six_weeks = D(2024, 4, 26)
    for group in ("Pentavalent", "Rotavirus", "fIPV", "PCV"):
        assert first[group] == six_weeks, group
    nine_months = D(2024, 12, 15)
    for group in ("MR", "JE", "Vitamin A"):
        assert first[group] == nine_months, group
    assert first["DPT boosters"] == D(2025, 7, 15)  # 16 months
    assert first["Td"] == D(2034, 3, 15)  # 10 years
    assert "Td (pregnancy)" not in due
    # Past due: the birth dose the same day, BCG before the first birthday.
    assert due["Hepatitis B birth dose"].forecast is not None
    assert due["Hepatitis B birth dose"].forecast.past_due == DOB
    assert due["BCG"].forecast is not None
    assert due["BCG"].forecast.past_due == D(2025, 3, 14)


def test_primary_series_on_time() -> None:
    history = [(DOB, "HEPB"), (DOB, "BCG"), (DOB, "OPV")]
    history += [(D(2024, 4, 26), c) for c in ("OPV", "PENTA", "ROTA", "FIPV", "PCV")]
    due = due_list(DOB, history, D(2024, 5, 1), regional=BOTH)
    assert due["Hepatitis B birth dose"].status == COMPLETE
    assert due["BCG"].status == COMPLETE
    penta = due["Pentavalent"].forecast
    assert penta is not None
    assert penta.dose_number == 2
    assert penta.earliest == D(2024, 5, 24)  # 10 weeks of age (and 4 weeks after dose 1)
    opv = due["OPV"].forecast
    assert opv is not None
    assert opv.earliest == D(2024, 5, 24)
    # fIPV-2 and PCV-2 come at 14 weeks, not 10.
    for group in ("fIPV", "PCV"):
        line = due[group].forecast
        assert line is not None
        assert line.recommended == D(2024, 6, 21), group


def test_minimum_interval_of_four_weeks_between_primary_doses() -> None:
    history = [(D(2024, 5, 10), "PENTA"), (D(2024, 6, 1), "PENTA")]  # 22 days apart
    result = evaluate_india(DOB, history, D(2024, 6, 2), "Pentavalent")
    assert [result.doses[i][0] for i in range(2)] == [VALID, NOT_VALID]
    assert result.doses[1][1] == "Interval: too short"
    assert result.forecast is not None
    assert result.forecast.earliest == D(2024, 6, 29)  # 4 weeks after the invalid dose


def test_grace_period_of_four_days_before_a_minimum_age() -> None:
    result = evaluate_india(DOB, [(D(2024, 12, 11), "MR")], D(2024, 12, 11), "MR")
    assert result.doses[0] == (VALID, None)  # 9 months - 4 days
    result = evaluate_india(DOB, [(D(2024, 12, 10), "MR")], D(2024, 12, 10), "MR")
    assert result.doses[0] == (NOT_VALID, "Age: Too Young")


def test_late_starter_at_eight_months() -> None:
    visit = D(2024, 11, 15)
    due = due_list(DOB, [], visit)
    for group in ("Pentavalent", "Rotavirus"):
        line = due[group].forecast
        assert line is not None
        assert line.dose_number == 1
        assert line.earliest < visit  # overdue: give now
        assert line.past_due is not None and line.past_due < visit
    # OPV-0 is not given after 15 days: the next OPV is OPV-1.
    opv = due["OPV"].forecast
    assert opv is not None
    assert opv.recommended == D(2024, 4, 26)
    # Catch-up: penta 1 now, penta 2 four weeks later.
    history = [(visit, "PENTA"), (visit, "ROTA")]
    due = due_list(DOB, history, visit)
    line = due["Pentavalent"].forecast
    assert line is not None
    assert (line.dose_number, line.earliest) == (2, D(2024, 12, 13))
    assert line.latest == D(2025, 3, 14)  # the day before the first birthday


@pytest.mark.parametrize(
    ("group", "upper"),
    [("Pentavalent", D(2025, 3, 15)), ("Rotavirus", D(2025, 3, 15)), ("MR", D(2029, 3, 15))],
)
def test_catch_up_stops_at_the_upper_age(group: str, upper: dt.date) -> None:
    code = {"Pentavalent": "PENTA", "Rotavirus": "ROTA", "MR": "MR"}[group]
    history = [(D(2024, 11, 15), code)]
    before = due_list(DOB, history, upper - dt.timedelta(days=1))[group]
    assert before.status == NOT_COMPLETE
    after = due_list(DOB, history, upper)[group]
    assert after.status == AGED_OUT
    assert after.forecast is None
    # A dose given at or after the upper age is not counted.
    late = evaluate_india(DOB, [*history, (upper, code)], upper, group)
    assert late.doses[1][1] == "Age: Too Old"


def test_birth_doses_have_their_own_windows() -> None:
    assert due_list(DOB, [], D(2024, 3, 16))["Hepatitis B birth dose"].status == AGED_OUT
    assert due_list(DOB, [], D(2025, 3, 15))["BCG"].status == AGED_OUT
    valid = evaluate_india(DOB, [(D(2024, 3, 29), "OPV")], D(2024, 3, 29), "OPV")
    assert valid.doses[0] == (VALID, None)
    assert valid.antigens["OPV"].satisfied[1] is not None  # counted as OPV-0


def test_regional_groups_are_off_unless_the_district_enables_them() -> None:
    assert regional_groups() == BOTH
    plain = due_list(DOB, [], DOB)
    assert "JE" not in plain and "PCV" not in plain
    je_only = due_list(DOB, [], DOB, regional=frozenset({"JE"}))
    assert "JE" in je_only and "PCV" not in je_only
    with pytest.raises(ValueError, match="not a regional"):
        due_list(DOB, [], DOB, regional=frozenset({"MR"}))


def test_boosters_and_adolescent_td() -> None:
    history = [(D(2025, 7, 20), "DPT"), (D(2025, 7, 20), "MR"), (D(2024, 12, 20), "MR")]
    due = due_list(DOB, history, D(2025, 8, 1))
    assert due["MR"].status == COMPLETE
    booster = due["DPT boosters"].forecast
    assert booster is not None
    assert (booster.dose_number, booster.recommended) == (2, D(2029, 3, 15))  # 5 years
    assert booster.latest == D(2031, 3, 14)  # up to 7 years
    td = due_list(DOB, [(D(2034, 4, 1), "TD")], D(2034, 5, 1))["Td"].forecast
    assert td is not None
    assert (td.dose_number, td.recommended) == (2, D(2040, 3, 15))  # 16 years


def test_td_in_pregnancy() -> None:
    mother = D(1998, 6, 1)
    due = due_list(mother, [(D(2024, 1, 10), "TD")], D(2024, 1, 20), pregnant=True)
    line = due["Td (pregnancy)"].forecast
    assert line is not None
    assert (line.dose_number, line.earliest) == (2, D(2024, 2, 7))  # 4 weeks after Td-1


def test_covid_series_match_the_catalogue() -> None:
    raw = json.loads(SCHEDULE_FILE.read_text(encoding="utf-8"))
    covid = next(g for g in raw["groups"] if g["name"] == "COVID-19")
    by_name = {s["name"]: s for s in covid["series"]}
    for vaccine, low, high in COVID_SERIES:
        second = by_name[vaccine]["doses"][1]["interval"]
        assert second["min"] == f"{low} days"
        assert second.get("latestRec") == (None if high is None else f"{high} days")
        precaution = by_name[vaccine]["doses"][2]["interval"]
        assert precaution["min"] == f"{PRECAUTION_AFTER_DAYS} days"
    catalogue = {row[0] for row in VACCINES}
    assert set(raw["vaccines"]) - catalogue == {"VITA"}


def test_covid_dose_two_window_and_same_product() -> None:
    adult = D(1980, 1, 1)
    due = due_list(adult, [(D(2021, 5, 1), "COVISHIELD")], D(2021, 5, 2))
    line = due["COVID-19"].forecast
    assert line is not None
    assert line.earliest == D(2021, 7, 24)  # 84 days
    assert line.past_due == D(2021, 8, 20)  # 112 days, minus one
    result = evaluate_india(
        adult, [(D(2021, 5, 1), "COVAXIN"), (D(2021, 6, 1), "COVAXIN")], D(2021, 6, 2), "COVID-19"
    )
    assert [result.doses[i][0] for i in range(2)] == [VALID, VALID]
    assert result.forecast is not None
    assert result.forecast.earliest == D(2022, 3, 1)  # precaution 273 days after dose 2


def test_a_missed_dose_is_overdue_and_catch_up_keeps_the_interval() -> None:
    # Pentavalent-1 on time at 6 weeks (26 Apr 2024), pentavalent-2 missed.
    history = [(D(2024, 4, 26), "PENTA"), (D(2024, 4, 26), "ROTA")]
    visit = D(2024, 8, 15)
    line = due_list(DOB, history, visit)["Pentavalent"].forecast
    assert line is not None
    assert (line.dose_number, line.earliest) == (2, D(2024, 5, 24))  # 10 weeks of age
    assert line.past_due == D(2024, 6, 20)  # the day before 14 weeks: overdue at the visit
    # Given at the visit; pentavalent-3 then needs four weeks more, not 14 weeks of age.
    after = due_list(DOB, [*history, (visit, "PENTA")], visit)["Pentavalent"].forecast
    assert after is not None
    assert (after.dose_number, after.earliest) == (3, D(2024, 9, 12))
    # Rotavirus-2 never given: at the first birthday the series is closed.
    assert due_list(DOB, history, D(2025, 3, 15))["Rotavirus"].status == AGED_OUT


def test_the_recording_verdict_names_a_short_interval() -> None:
    from immunet.vaccination.uip import judge

    first = (D(2024, 6, 1), "PENTA")  # 11 weeks of age
    verdict = judge(DOB, [first], (D(2024, 6, 15), "PENTA"), "Pentavalent", pregnant=False)
    assert (verdict.status, verdict.reason) == (NOT_VALID, "Interval: too short")
    assert verdict.next_dose is not None
    # CDSi measures the interval from the immediate previous dose administered, valid or
    # not: the repeat of pentavalent-2 waits four weeks after the invalid one.
    assert (verdict.next_dose.dose_number, verdict.next_dose.earliest) == (2, D(2024, 7, 13))
