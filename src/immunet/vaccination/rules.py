"""Pure rules of recording a dose and of checking a person in. No I/O here.

The service gathers the facts (the person's age, the doses already recorded in the same
programme, the series row of the dose, the batch) and these functions decide; each
refusal is an :class:`~immunet.errors.ApiError` with a stable code.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

from immunet.errors import ApiError, BadRequest, Conflict, NotFound, Unprocessable

DAYS_PER_YEAR = 365
# A recording clock may run a little ahead of ours; more than this is "in the future".
FUTURE_SKEW = dt.timedelta(minutes=5)


class DoseInFuture(Unprocessable):
    error_code = "VACCIN0001"
    message = "A dose cannot be recorded with a time in the future."


class DoseBackdated(Unprocessable):
    error_code = "VACCIN0002"
    message = "A dose cannot be recorded this far in the past."


class UnknownVaccine(Unprocessable):
    error_code = "VACCIN0003"
    message = "No such vaccine."


class AgeOutOfBand(Unprocessable):
    error_code = "VACCIN0004"
    message = "The beneficiary's age is outside this vaccine's age band."


class DoseOutOfOrder(Unprocessable):
    error_code = "VACCIN0005"
    message = "This dose cannot be given: the previous dose is not recorded or no such dose."


class DoseTooEarly(Unprocessable):
    error_code = "VACCIN0006"
    message = "This dose is too early after the previous dose."


class VaccineMismatch(Unprocessable):
    error_code = "VACCIN0007"
    message = "This dose must be of the same vaccine as the previous dose."


class DoseAlreadyRecorded(Conflict):
    error_code = "VACCIN0008"
    message = "This dose is already recorded for the beneficiary."


class AppointmentMismatch(Unprocessable):
    error_code = "VACCIN0009"
    message = "The dose or vaccine does not match the appointment's session."


class BatchNotInStock(Unprocessable):
    error_code = "VACCIN0010"
    message = "This batch of this vaccine is not in the centre's stock."


class BatchExpired(Unprocessable):
    error_code = "VACCIN0011"
    message = "This batch has expired."


class BatchExhausted(Unprocessable):
    error_code = "VACCIN0012"
    message = "This batch has no doses left."


class WrongCode(Unprocessable):
    error_code = "VACCIN0021"
    message = "The secret code does not match this appointment."


class AppointmentLocked(ApiError):
    status_code = 423
    error_code = "VACCIN0020"
    message = "Too many wrong codes: this appointment is locked. Verify the person by OTP."


class CheckInRequired(Conflict):
    error_code = "VACCIN0022"
    message = "Check the person in with their secret code (or OTP) first."


class PhotoIdCheckRequired(Conflict):
    error_code = "VACCIN0028"
    message = (
        "Another registration carries this person's ID number. Check the photo ID document "
        "against the person, then record the dose with photo_id_checked set to true."
    )


class SessionCancelled(Conflict):
    error_code = "VACCIN0023"
    message = "This session is cancelled: it accepts no doses."


class SessionNotYet(Unprocessable):
    error_code = "VACCIN0024"
    message = "This session is on a later date: doses are recorded on the session's day."


class SessionTooOld(Unprocessable):
    error_code = "VACCIN0025"
    message = "This session is older than the back-dating window: it accepts no more doses."


class NoOpenSession(Unprocessable):
    error_code = "VACCIN0026"
    message = (
        "Your centre has no open session of this vaccine on that day: "
        "name the session the dose was given at."
    )


class SessionDateMismatch(Unprocessable):
    error_code = "VACCIN0027"
    message = "The dose's date is not the date of its session."


class IdempotencyKeyRequired(BadRequest):
    error_code = "VACCIN0030"
    message = "The Idempotency-Key header is required."


class BadRosterCursor(BadRequest):
    error_code = "VACCIN0031"
    message = (
        "The roster cursor does not name an appointment of this session, "
        "or it was given with a page other than 1."
    )


class RosterNotFound(NotFound):
    error_code = "VACCIN0404"
    message = "No such session at your centre in the roster window."


class DoseNotFound(NotFound):
    error_code = "VACCIN0405"
    message = "No such dose record."


class StockNotFound(NotFound):
    error_code = "VACCIN0406"
    message = "No such stock batch."


class DuplicateBatch(Conflict):
    error_code = "VACCIN0013"
    message = "This lot of this vaccine is already in the centre's stock."


class InvalidStock(Unprocessable):
    error_code = "VACCIN0014"
    message = "The stock change is not valid."


@dataclass(frozen=True)
class PriorDose:
    """A recorded dose of the same programme."""

    number: int
    vaccine: str
    given_on: dt.date
    series_code: str | None


@dataclass(frozen=True)
class DoseRule:
    """One dose of a series (``SeriesDose``), plus the vaccine's own age band."""

    number: int
    min_age_days: int
    max_age_days: int | None
    min_interval_days: int | None
    same_vaccine_as_previous: bool


def age_in_days(on: dt.date, birth_year: int, date_of_birth: dt.date | None) -> int:
    """Exact with a date of birth; by birth year otherwise (as Co-WIN recorded adults)."""
    if date_of_birth is not None:
        return (on - date_of_birth).days
    return (on.year - birth_year) * DAYS_PER_YEAR


def check_administered_at(
    administered_at: dt.datetime,
    *,
    now: dt.datetime,
    today: dt.date,
    on: dt.date,
    backdate_days: int,
) -> None:
    """Not in the future; not before ``today - backdate_days`` (dates in India time)."""
    if administered_at > now + FUTURE_SKEW or on > today:
        raise DoseInFuture()
    if on < today - dt.timedelta(days=backdate_days):
        raise DoseBackdated()


OPEN_SESSION_STATUS = "published"


def check_session_accepts_doses(
    *,
    status: str,
    session_date: dt.date,
    session_vaccine: str,
    vaccine: str,
    on: dt.date,
    today: dt.date,
    backdate_days: int,
) -> None:
    """THE rule of where a dose may be recorded, whichever path brought the person there.

    Only an open (published, not cancelled) session accepts doses, only on its own date, and
    only from that date until ``backdate_days`` later (late entry of a session's doses); the
    dose's date is the session's date and its vaccine the session's vaccine. (That the session
    is the vaccinator's own centre's is checked where it is looked up: 404 otherwise.)
    """
    if status != OPEN_SESSION_STATUS:
        raise SessionCancelled()
    if session_date > today:
        raise SessionNotYet()
    if session_date < today - dt.timedelta(days=backdate_days):
        raise SessionTooOld()
    if on != session_date:
        raise SessionDateMismatch()
    if vaccine != session_vaccine:
        raise AppointmentMismatch("The vaccine does not match the session's vaccine.")


def check_age_band(
    age_days: int, *, vaccine_min: int, vaccine_max: int | None, rule: DoseRule
) -> None:
    low = max(vaccine_min, rule.min_age_days)
    highs = [h for h in (vaccine_max, rule.max_age_days) if h is not None]
    if age_days < low or (highs and age_days > min(highs)):
        raise AgeOutOfBand()


def check_sequence(
    dose_number: int,
    vaccine: str,
    on: dt.date,
    history: Sequence[PriorDose],
    rule: DoseRule | None,
) -> None:
    """No double dose; dose N only after dose N-1, its interval, and (if asked) its vaccine."""
    numbers = {d.number for d in history}
    if dose_number in numbers:
        raise DoseAlreadyRecorded()
    if rule is None or dose_number < 1:
        raise DoseOutOfOrder()
    if dose_number == 1:
        return
    previous = max(
        (d for d in history if d.number == dose_number - 1),
        key=lambda d: d.given_on,
        default=None,
    )
    if previous is None:
        raise DoseOutOfOrder()
    if rule.same_vaccine_as_previous and previous.vaccine != vaccine:
        raise VaccineMismatch()
    interval = rule.min_interval_days or 0
    if (on - previous.given_on).days < interval:
        raise DoseTooEarly(f"This dose can be given from {interval} days after the previous dose.")


def check_batch(*, expires_on: dt.date, quantity: int, used: int, wasted: int, on: dt.date) -> None:
    if expires_on < on:
        raise BatchExpired()
    if used + wasted >= quantity:
        raise BatchExhausted()


def parse_check_in_code(raw: str, appointment_id: str) -> str | None:
    """The 4-digit code from what the vaccinator typed or scanned (the slip's QR JSON).

    A QR naming another appointment gives None (never checked against this one).
    """
    text = raw.strip()
    if text.startswith("{"):
        try:
            payload = json.loads(text)
        except ValueError:
            return None
        if not isinstance(payload, dict) or payload.get("appointment_id") != appointment_id:
            return None
        code = payload.get("code")
        text = code if isinstance(code, str) else ""
    if len(text) == 4 and text.isascii() and text.isdigit():
        return text
    return None
