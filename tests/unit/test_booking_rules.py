"""Pure booking rules: session openness, age bands, dose order and intervals."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from immunet.booking.rules import (
    AgeIneligible,
    CenterMismatch,
    DoseFact,
    DoseNotDue,
    InvalidSlot,
    SeriesRule,
    SessionClosed,
    SessionFacts,
    SessionFull,
    age_on,
    check_age,
    check_dose,
    check_seat_free,
    check_session_bookable,
    check_session_open,
    next_dose,
    seat_columns,
    today_in_india,
)
from immunet.booking.service import new_secret_code

DAY = dt.date(2026, 6, 1)
SERIES = [SeriesRule(1, None, False), SeriesRule(2, 84, True), SeriesRule(3, 273, False)]


def session(**kwargs: object) -> SessionFacts:
    values: dict[str, object] = {
        "session_id": "s",
        "center_id": 1,
        "date": DAY,
        "vaccine": "COVISHIELD",
        "min_age": 18,
        "max_age": None,
        "status": "published",
        "slots": ("09:00AM-11:00AM",),
    }
    values.update(kwargs)
    return SessionFacts(**values)  # type: ignore[arg-type]


def test_open_session_checks():
    check_session_open(session(), slot="09:00AM-11:00AM", today=DAY, center_id=1)
    with pytest.raises(SessionClosed):
        check_session_open(session(status="cancelled"), slot="09:00AM-11:00AM", today=DAY)
    with pytest.raises(SessionClosed):
        check_session_open(session(), slot="09:00AM-11:00AM", today=DAY + dt.timedelta(days=1))
    with pytest.raises(InvalidSlot):
        check_session_open(session(), slot="FORENOON", today=DAY)
    with pytest.raises(CenterMismatch):
        check_session_open(session(), slot="09:00AM-11:00AM", today=DAY, center_id=2)


def test_slots_parse_defensively():
    assert SessionFacts.parse_slots('["A", "B"]') == ("A", "B")
    assert SessionFacts.parse_slots("not json") == ()
    assert SessionFacts.parse_slots('{"a": 1}') == ()


def test_india_date_is_ahead_of_utc_late_evening():
    late = dt.datetime(2026, 6, 1, 20, 0, tzinfo=dt.UTC)
    assert today_in_india(late) == dt.date(2026, 6, 2)


@given(
    born=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2026, 5, 31)),
)
def test_exact_age_never_exceeds_year_difference(born: dt.date):
    exact = age_on(DAY, born.year, born)
    assert exact in (DAY.year - born.year, DAY.year - born.year - 1)
    assert age_on(DAY, born.year, None) == DAY.year - born.year


@given(
    age=st.integers(0, 130), low=st.integers(0, 100), span=st.one_of(st.none(), st.integers(0, 60))
)
def test_age_band(age: int, low: int, span: int | None):
    high = None if span is None else low + span
    facts = session(min_age=low, max_age=high)
    inside = age >= low and (high is None or age <= high)
    if inside:
        check_age(facts, age)
    else:
        with pytest.raises(AgeIneligible):
            check_age(facts, age)


def test_dose_one_only_once():
    check_dose(1, session(), [], SERIES)
    with pytest.raises(DoseNotDue):
        check_dose(1, session(), [DoseFact(1, "COVISHIELD", DAY - dt.timedelta(days=10))], SERIES)


@given(days=st.integers(0, 400))
def test_dose_two_interval_counted_to_session_date(days: int):
    history = [DoseFact(1, "COVISHIELD", DAY - dt.timedelta(days=days))]
    if days >= 84:
        check_dose(2, session(), history, SERIES)
    else:
        with pytest.raises(DoseNotDue):
            check_dose(2, session(), history, SERIES)


def test_dose_two_needs_dose_one_of_the_same_vaccine():
    with pytest.raises(DoseNotDue):
        check_dose(2, session(), [], SERIES)
    with pytest.raises(DoseNotDue):
        check_dose(2, session(), [DoseFact(1, "COVAXIN", DAY - dt.timedelta(days=200))], SERIES)


def test_precaution_after_dose_two_and_its_interval():
    one = DoseFact(1, "COVAXIN", DAY - dt.timedelta(days=400))
    two_recent = DoseFact(2, "COVAXIN", DAY - dt.timedelta(days=100))
    two_old = DoseFact(2, "COVAXIN", DAY - dt.timedelta(days=300))
    with pytest.raises(DoseNotDue):
        check_dose(3, session(), [one], SERIES)
    with pytest.raises(DoseNotDue):
        check_dose(3, session(), [one, two_recent], SERIES)
    # The precaution dose may be of another vaccine (the series row does not demand it).
    check_dose(3, session(), [one, two_old], SERIES)
    with pytest.raises(DoseNotDue):
        check_dose(3, session(), [one, two_old, DoseFact(3, "COVISHIELD", DAY)], SERIES)


def test_unknown_doses_and_series():
    with pytest.raises(DoseNotDue):
        check_dose(4, session(), [], SERIES)
    with pytest.raises(DoseNotDue):
        check_dose(1, session(), [], [])


def test_seat_columns():
    assert seat_columns(1) == ("booked_dose1", "capacity_dose1")
    assert seat_columns(3) == ("booked_precaution", "capacity_precaution")


def test_secret_codes_are_four_digits():
    codes = {new_secret_code() for _ in range(2000)}
    assert all(len(c) == 4 and c.isdigit() for c in codes)
    assert len(codes) > 500


def test_bookable_before_a_slot_is_chosen():
    check_session_bookable(session(), today=DAY)
    for closed in (session(status="cancelled"), session(date=DAY - dt.timedelta(days=1))):
        with pytest.raises(SessionClosed):
            check_session_bookable(closed, today=DAY)
        with pytest.raises(SessionClosed):  # the booking's own check refuses it the same way
            check_session_open(closed, slot="09:00AM-11:00AM", today=DAY)


@given(st.sets(st.integers(min_value=1, max_value=3)))
def test_next_dose_is_the_one_check_dose_can_allow(given_numbers: set[int]):
    history = [DoseFact(n, "COVISHIELD", DAY - dt.timedelta(days=400 - n)) for n in given_numbers]
    dose = next_dose(history, SERIES)
    assert dose not in given_numbers
    assert all(n in given_numbers for n in range(1, min(dose, 4)))
    later = session(date=DAY + dt.timedelta(days=400))
    if dose > 3:
        assert given_numbers == {1, 2, 3}
        with pytest.raises(DoseNotDue):
            check_dose(dose, later, history, SERIES)
    else:
        check_dose(dose, later, history, SERIES)  # in order and past every interval


def test_next_dose_without_series_is_refused_by_check_dose():
    assert next_dose([], []) == 1
    with pytest.raises(DoseNotDue):
        check_dose(1, session(), [], [])


@pytest.mark.parametrize(("booked", "capacity"), [(0, 1), (4, 5)])
def test_a_free_seat(booked: int, capacity: int):
    check_seat_free(booked, capacity)


@pytest.mark.parametrize(("booked", "capacity"), [(0, 0), (5, 5), (6, 5)])
def test_no_free_seat(booked: int, capacity: int):
    with pytest.raises(SessionFull):
        check_seat_free(booked, capacity)
