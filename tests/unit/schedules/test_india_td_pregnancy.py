"""Td in pregnancy, from the UIP table: Td-1 early in the pregnancy, Td-2 four weeks later,
or a single Td booster for a woman given 2 Td doses in a pregnancy within the last 3 years.

Dates are written out by hand (Naegele: a pregnancy's first day is its EDD minus 280 days),
not computed with the engine's arithmetic.
"""

from __future__ import annotations

import datetime as dt

from immunet.schedules.engine import COMPLETE, EXTRANEOUS, NOT_COMPLETE, NOT_VALID, VALID
from immunet.schedules.india import PregnancyTd, due_list, evaluate_india
from immunet.vaccination.uip import judge

D = dt.date
MOTHER = D(1996, 8, 20)
PREGNANCY = "Td (pregnancy)"
# This pregnancy: EDD 8 October 2025, so its first day (LMP) is 1 January 2025.
EDD = D(2025, 10, 8)
LMP = D(2025, 1, 1)


def td_line(history, today, earlier=()):
    pregnancy = PregnancyTd.of(EDD, list(earlier))
    return due_list(MOTHER, history, today, pregnant=True, pregnancy=pregnancy)[PREGNANCY]


def test_the_first_day_is_the_edd_minus_280_days() -> None:
    assert PregnancyTd.of(EDD).start == LMP


def test_first_pregnancy_needs_td1_then_td2_four_weeks_later() -> None:
    line = td_line([], D(2025, 2, 10))
    assert line.status == NOT_COMPLETE and line.forecast is not None
    assert line.forecast.dose_number == 1
    assert line.forecast.earliest <= D(2025, 2, 10)  # due now: "early in pregnancy"
    line = td_line([(D(2025, 2, 10), "TD")], D(2025, 2, 11))
    assert line.forecast is not None
    assert line.forecast.dose_number == 2
    assert line.forecast.earliest == D(2025, 3, 10)  # 4 weeks after Td-1
    assert line.forecast.recommended == D(2025, 3, 10)
    done = td_line([(D(2025, 2, 10), "TD"), (D(2025, 3, 10), "TD")], D(2025, 3, 11))
    assert done.status == COMPLETE and done.forecast is None


def test_td2_sooner_than_four_weeks_is_not_valid() -> None:
    pregnancy = PregnancyTd.of(EDD)
    history = [(D(2025, 2, 10), "TD"), (D(2025, 3, 1), "TD")]  # 19 days apart
    result = evaluate_india(
        MOTHER, history, D(2025, 3, 1), PREGNANCY, pregnant=True, pregnancy=pregnancy
    )
    assert result.doses[0][0] == VALID
    assert result.doses[1][0] == NOT_VALID
    assert result.forecast is not None and result.forecast.dose_number == 2
    # CDSi counts the interval from the previous dose given, valid or not: 4 weeks after it.
    assert result.forecast.earliest == D(2025, 3, 29)


def test_two_doses_in_a_pregnancy_within_3_years_need_one_booster_only() -> None:
    # Previous pregnancy: Td-1 on 5 March 2023, Td-2 on 2 April 2023 (within 3 years of
    # 1 January 2025).
    earlier = [D(2023, 3, 5), D(2023, 4, 2)]
    history = [(day, "TD") for day in earlier]
    line = td_line(history, D(2025, 2, 10), earlier)
    assert line.status == NOT_COMPLETE and line.forecast is not None
    assert line.forecast.dose_number == 1
    assert line.forecast.earliest <= D(2025, 2, 10)
    # One booster, and nothing more for this pregnancy.
    booster = td_line([*history, (D(2025, 2, 10), "TD")], D(2025, 2, 11), earlier)
    assert booster.status == COMPLETE and booster.forecast is None


def test_doses_older_than_3_years_need_td1_and_td2_again() -> None:
    # Td-2 of the earlier pregnancy on 31 December 2021: 3 years and 1 day before the LMP.
    earlier = [D(2021, 12, 3), D(2021, 12, 31)]
    history = [(day, "TD") for day in earlier]
    line = td_line([*history, (D(2025, 2, 10), "TD")], D(2025, 2, 11), earlier)
    assert line.forecast is not None and line.forecast.dose_number == 2
    assert line.forecast.earliest == D(2025, 3, 10)


def test_the_3_years_boundary() -> None:
    assert PregnancyTd(LMP, (D(2021, 12, 4), D(2022, 1, 1))).primed()  # exactly 3 years
    assert not PregnancyTd(LMP, (D(2021, 12, 3), D(2021, 12, 31))).primed()  # one day more


def test_a_single_dose_or_doses_of_two_pregnancies_do_not_make_a_booster() -> None:
    # One Td in the last pregnancy (a booster then), the earlier pair 5 years ago.
    assert not PregnancyTd(LMP, (D(2019, 6, 1), D(2019, 7, 1), D(2023, 5, 1))).primed()
    assert not PregnancyTd(LMP, (D(2024, 2, 1),)).primed()
    # Two doses 11 months apart are not one pregnancy.
    assert not PregnancyTd(LMP, (D(2023, 1, 1), D(2023, 12, 1))).primed()


def test_adolescent_td_does_not_count_for_the_pregnancy() -> None:
    # Td at 16 (20 August 2012 and later): given long before this pregnancy.
    history = [(D(2006, 9, 1), "TD"), (D(2012, 9, 1), "TD")]
    line = td_line(history, D(2025, 2, 10))
    assert line.forecast is not None and line.forecast.dose_number == 1


def test_judging_counts_this_pregnancys_doses() -> None:
    earlier = [D(2023, 3, 5), D(2023, 4, 2)]
    history = [(day, "TD") for day in earlier]
    pregnancy = PregnancyTd.of(EDD, earlier)
    verdict = judge(
        MOTHER, history, (D(2025, 2, 10), "TD"), PREGNANCY, pregnant=True, pregnancy=pregnancy
    )
    assert verdict.status == VALID and verdict.next_dose is None  # the booster completes it
    second = judge(
        MOTHER,
        [*history, (D(2025, 2, 10), "TD")],
        (D(2025, 3, 10), "TD"),
        PREGNANCY,
        pregnant=True,
        pregnancy=pregnancy,
    )
    assert second.status == EXTRANEOUS  # a second dose after the booster is extra
    fresh = PregnancyTd.of(EDD)
    first = judge(MOTHER, [], (D(2025, 2, 10), "TD"), PREGNANCY, pregnant=True, pregnancy=fresh)
    assert first.status == VALID and first.next_dose is not None
    assert first.next_dose.earliest == D(2025, 3, 10)
    before = judge(MOTHER, [], (D(2024, 12, 1), "TD"), PREGNANCY, pregnant=True, pregnancy=fresh)
    assert before.status == EXTRANEOUS
