"""CDSi date arithmetic: properties (hypothesis) and vectors taken from CDC's test cases."""

from __future__ import annotations

import calendar
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from immunet.schedules.dates import Duration, add, add_months, add_text

dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2199, 12, 31))
small = st.integers(min_value=-240, max_value=240)


@given(dates, small)
def test_month_addition_keeps_the_day_or_rolls_to_the_first(day: dt.date, months: int) -> None:
    result = add_months(day, months)
    index = day.year * 12 + day.month - 1 + months
    year, month0 = divmod(index, 12)
    length = calendar.monthrange(year, month0 + 1)[1]
    if day.day <= length:
        assert (result.year, result.month, result.day) == (year, month0 + 1, day.day)
    else:
        # CDSi: a day the target month lacks becomes the 1st of the month after it.
        last = dt.date(year, month0 + 1, length)
        assert result == last + dt.timedelta(days=1)
        assert result.day == 1


@given(dates, dates, st.integers(min_value=0, max_value=240))
def test_month_addition_is_monotonic(a: dt.date, b: dt.date, months: int) -> None:
    low, high = sorted((a, b))
    assert add_months(low, months) <= add_months(high, months)


@given(dates, st.integers(-500, 500), st.integers(-5000, 5000))
def test_weeks_and_days_are_plain_day_counts(day: dt.date, weeks: int, days: int) -> None:
    expected = day + dt.timedelta(days=7 * weeks + days)
    assert add(day, Duration(weeks=weeks, days=days)) == expected


@given(dates, st.integers(0, 30), st.integers(0, 30), st.integers(0, 10), st.integers(-10, 10))
def test_units_apply_in_cdsi_order(
    day: dt.date, years: int, months: int, weeks: int, days: int
) -> None:
    staged = add_months(add_months(day, 12 * years), months)
    staged += dt.timedelta(weeks=weeks, days=days)
    assert add(day, Duration(years, months, weeks, days)) == staged


@given(st.integers(0, 40), st.integers(0, 40), st.integers(0, 60), st.integers(0, 60))
def test_parse_reads_what_the_supporting_data_writes(y: int, m: int, w: int, d: int) -> None:
    text = f"{y} years + {m} months + {w} weeks - {d} days"
    assert Duration.parse(text) == Duration(y, m, w, -d)


@given(st.integers(1900, 2190).filter(calendar.isleap), st.integers(1, 12))
def test_leap_day_plus_years(year: int, years: int) -> None:
    leap_day = dt.date(year, 2, 29)
    result = add_text(leap_day, f"{years} years")
    if calendar.isleap(year + years):
        assert result == dt.date(year + years, 2, 29)
    else:
        assert result == dt.date(year + years, 3, 1)


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        # The CDSi specification's own date-rule examples (as reproduced in the fhir-fli/cicada
        # implementation guide, "Date Calculations").
        ("2000-01-01", "3 years", "2003-01-01"),
        ("2000-01-01", "6 months", "2000-07-01"),
        ("2000-11-01", "6 months", "2001-05-01"),
        ("2000-01-01", "3 days", "2000-01-04"),
        ("2000-01-01", "3 weeks", "2000-01-22"),
        ("2000-02-01", "5 weeks", "2000-03-07"),
        ("2001-02-01", "5 weeks", "2001-03-08"),
        ("2000-01-15", "- 4 days", "2000-01-11"),
        ("2000-03-31", "6 months", "2000-10-01"),
        ("2000-08-31", "6 months", "2001-03-01"),
        ("2000-01-31", "6 months - 4 days", "2000-07-27"),
        # Month ends: the day the month lacks rolls forward.
        ("2023-01-31", "1 month", "2023-03-01"),
        ("2024-01-31", "1 month", "2024-03-01"),
        ("2024-01-30", "1 month", "2024-03-01"),
        ("2024-01-29", "1 month", "2024-02-29"),
        ("2023-03-31", "1 month", "2023-05-01"),
        ("2023-08-31", "6 months - 4 days", "2024-02-26"),
        # Leap days.
        ("2020-02-29", "1 year", "2021-03-01"),
        ("2020-02-29", "4 years", "2024-02-29"),
        ("2020-02-29", "12 months", "2021-03-01"),
        # Years before months: 29 Feb + 1 year (-> 1 March) + 1 month.
        ("2020-02-29", "1 year + 1 month", "2021-04-01"),
        # CDC case 2013-0001 (v4.28): born 2022-10-19, DTaP dose 1 earliest at 6 weeks,
        # recommended at 2 months, past due the day before 3 months + 4 weeks.
        ("2022-10-19", "6 weeks", "2022-11-30"),
        ("2022-10-19", "2 months", "2022-12-19"),
        ("2022-10-19", "3 months + 4 weeks - 1 day", "2023-02-15"),
        # The same case re-dated in v4.45: born 2025-11-10.
        ("2025-11-10", "6 weeks", "2025-12-22"),
        ("2025-11-10", "3 months + 4 weeks - 1 day", "2026-03-09"),
    ],
)
def test_vectors(start: str, duration: str, expected: str) -> None:
    assert add_text(dt.date.fromisoformat(start), duration) == dt.date.fromisoformat(expected)


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_field_is_no_duration(text: str) -> None:
    assert Duration.parse(text) is None


@pytest.mark.parametrize("text", ["6 fortnights", "weeks", "6 weeks and 4 days", "4 days 6"])
def test_garbage_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a CDSi duration"):
        Duration.parse(text)
