"""Pure booking rules: who may take which dose at which session. No I/O here.

The service gathers the facts (the session, the beneficiary's age, recorded doses, the
series rows of the session's vaccine) and these functions decide; each refusal is an
:class:`~immunet.errors.ApiError` with a stable code.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

from immunet.clock import india_today
from immunet.errors import Conflict, NotFound, Unprocessable

DOSE_COLUMNS = {1: "dose1", 2: "dose2", 3: "precaution"}
MAX_BENEFICIARIES_PER_BOOKING = 6


class SessionFull(Conflict):
    error_code = "APPOIN0040"
    message = (
        "This vaccination center is completely booked for the selected date. "
        "Please try another date or vaccination center."
    )


class SessionNotFound(NotFound):
    error_code = "APPOIN0041"
    message = "No such session."


class SessionClosed(Conflict):
    error_code = "APPOIN0042"
    message = "This session is not open for booking."


class InvalidSlot(Unprocessable):
    error_code = "APPOIN0043"
    message = "The slot is not one of this session's slots."


class CenterMismatch(Unprocessable):
    error_code = "APPOIN0045"
    message = "The session does not belong to this center."


class AgeIneligible(Unprocessable):
    error_code = "APPOIN0046"
    message = "The beneficiary's age is outside this session's age limits."


class DoseNotDue(Unprocessable):
    error_code = "APPOIN0047"
    message = "The beneficiary is not eligible for this dose at this session."


class AlreadyBooked(Conflict):
    error_code = "APPOIN0048"
    message = "The beneficiary already has an appointment for this dose."


class AppointmentNotFound(NotFound):
    error_code = "APPOIN0404"
    message = "No such appointment."


class NotCancellable(Conflict):
    error_code = "APPOIN0049"
    message = "This appointment cannot be cancelled or rescheduled."


def today_in_india(now: dt.datetime) -> dt.date:
    return india_today(now)


@dataclass(frozen=True)
class SessionFacts:
    session_id: str
    center_id: int
    date: dt.date
    vaccine: str
    min_age: int
    max_age: int | None
    status: str
    slots: tuple[str, ...]

    @staticmethod
    def parse_slots(raw: str) -> tuple[str, ...]:
        try:
            value = json.loads(raw)
        except ValueError:
            return ()
        return tuple(str(s) for s in value) if isinstance(value, list) else ()


@dataclass(frozen=True)
class DoseFact:
    """A recorded dose of the same programme: number, vaccine, date given."""

    number: int
    vaccine: str
    given_on: dt.date


@dataclass(frozen=True)
class SeriesRule:
    """One dose of the session vaccine's series (``SeriesDose``)."""

    number: int
    min_interval_days: int | None
    same_vaccine_as_previous: bool


def check_session_bookable(session: SessionFacts, *, today: dt.date) -> None:
    """Published and not in the past (the slot is checked when one is chosen)."""
    if session.status != "published" or session.date < today:
        raise SessionClosed()


def check_session_open(
    session: SessionFacts, *, slot: str, today: dt.date, center_id: int | None = None
) -> None:
    check_session_bookable(session, today=today)
    if center_id is not None and center_id != session.center_id:
        raise CenterMismatch()
    if slot not in session.slots:
        raise InvalidSlot()


def age_on(session_date: dt.date, birth_year: int, date_of_birth: dt.date | None) -> int:
    """Age in years on the session date: exact when the date of birth is known, else by year."""
    if date_of_birth is not None:
        years = session_date.year - date_of_birth.year
        if (session_date.month, session_date.day) < (date_of_birth.month, date_of_birth.day):
            years -= 1
        return years
    return session_date.year - birth_year


def check_age(session: SessionFacts, age: int) -> None:
    if age < session.min_age or (session.max_age is not None and age > session.max_age):
        raise AgeIneligible()


def check_dose(
    dose: int, session: SessionFacts, history: Sequence[DoseFact], series: Sequence[SeriesRule]
) -> None:
    """Dose 1 only without a dose 1; dose N after dose N-1 plus the series' interval.

    The interval is counted to the session date. Dose 2 must use dose 1's vaccine (the
    series row says so); the precaution dose follows dose 2 after its own interval.
    """
    if dose not in DOSE_COLUMNS:
        raise DoseNotDue()
    given = {fact.number: fact for fact in sorted(history, key=lambda f: f.given_on)}
    if dose in given:
        raise DoseNotDue("This dose is already recorded for the beneficiary.")
    rule = next((r for r in series if r.number == dose), None)
    if rule is None:
        raise DoseNotDue("This vaccine has no such dose.")
    if dose == 1:
        return
    previous = given.get(dose - 1)
    if previous is None:
        raise DoseNotDue("The previous dose is not recorded.")
    if rule.same_vaccine_as_previous and previous.vaccine != session.vaccine:
        raise DoseNotDue("This dose must be of the same vaccine as the previous one.")
    interval = rule.min_interval_days or 0
    if (session.date - previous.given_on).days < interval:
        raise DoseNotDue(f"This dose can be booked from {interval} days after the previous dose.")


def next_dose(history: Sequence[DoseFact], series: Sequence[SeriesRule]) -> int:
    """The lowest dose of the series not yet recorded (the one :func:`check_dose` can
    allow); 1 for a series without rules, which :func:`check_dose` then refuses."""
    given = {fact.number for fact in history}
    for rule in sorted(series, key=lambda r: r.number):
        if rule.number not in given:
            return rule.number
    return max((r.number for r in series), default=0) + 1


def check_seat_free(booked: int, capacity: int) -> None:
    """One more seat of a dose, as the guarded UPDATE of the booking will ask."""
    if booked + 1 > capacity:
        raise SessionFull()


def seat_columns(dose: int) -> tuple[str, str]:
    """(booked column, capacity column) of a dose number."""
    suffix = DOSE_COLUMNS[dose]
    return f"booked_{suffix}", f"capacity_{suffix}"
