"""Pure rules of sessions: Co-WIN dates, slot strings, India's calendar day, distances."""

from __future__ import annotations

import datetime as dt
import math
import re

# Session dates are Indian calendar days, whatever the server's clock zone.
IST = dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")
MAX_DAYS_AHEAD = 90
MAX_SLOTS = 12
EARTH_RADIUS_KM = 6371.0088

_DATE = re.compile(r"(\d{2})-(\d{2})-(\d{4})")
_SLOT_TIME = r"(0[1-9]|1[0-2]):([0-5]\d)(AM|PM)"
_SLOT = re.compile(_SLOT_TIME + "-" + _SLOT_TIME)


class RuleError(ValueError):
    """A value breaks a rule; the message names the rule, never echoes the value."""


def today_ist(now: dt.datetime | None = None) -> dt.date:
    moment = now or dt.datetime.now(dt.UTC)
    return moment.astimezone(IST).date()


def parse_cowin_date(text: str) -> dt.date:
    """``DD-MM-YYYY`` (exactly, ASCII digits) → a date between 2020 and 2100."""
    match = _DATE.fullmatch(text) if isinstance(text, str) and text.isascii() else None
    if match is None:
        raise RuleError("date must be DD-MM-YYYY")
    day, month, year = (int(g) for g in match.groups())
    if not 2020 <= year <= 2100:
        raise RuleError("date is out of range")
    try:
        return dt.date(year, month, day)
    except ValueError as exc:
        raise RuleError("date is not a calendar day") from exc


def format_cowin_date(day: dt.date) -> str:
    return day.strftime("%d-%m-%Y")


def _minutes(hour: str, minute: str, half: str) -> int:
    h = int(hour) % 12 + (12 if half == "PM" else 0)
    return h * 60 + int(minute)


def parse_slot(text: str) -> tuple[int, int]:
    """``"09:00AM-11:00AM"`` → (540, 660) minutes after midnight; start before end."""
    match = _SLOT.fullmatch(text) if isinstance(text, str) and text.isascii() else None
    if match is None:
        raise RuleError('a slot is written like "09:00AM-11:00AM"')
    start = _minutes(*match.group(1, 2, 3))
    end = _minutes(*match.group(4, 5, 6))
    if start >= end:
        raise RuleError("a slot must end after it starts")
    return start, end


def validate_slots(slots: list[str]) -> list[str]:
    """1..12 distinct, well-formed slots, returned in order of their start time."""
    if not 1 <= len(slots) <= MAX_SLOTS:
        raise RuleError(f"a session has 1 to {MAX_SLOTS} slots")
    parsed = [(parse_slot(s), s) for s in slots]
    if len({s for _, s in parsed}) != len(parsed):
        raise RuleError("slots must be distinct")
    return [s for _, s in sorted(parsed)]


def check_session_date(day: dt.date, today: dt.date) -> None:
    if day < today:
        raise RuleError("the session date is in the past")
    if day > today + dt.timedelta(days=MAX_DAYS_AHEAD):
        raise RuleError(f"sessions are published at most {MAX_DAYS_AHEAD} days ahead")


def distance_km(lat1: float, long1: float, lat2: float, long2: float) -> float:
    """Great-circle (haversine) distance in kilometres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(long2 - long1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def bounding_box(lat: float, long: float, radius_km: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_long, max_long) enclosing a circle (not across the poles)."""
    dlat = math.degrees(radius_km / EARTH_RADIUS_KM)
    cos_lat = max(math.cos(math.radians(lat)), 1e-6)
    dlong = min(180.0, math.degrees(radius_km / (EARTH_RADIUS_KM * cos_lat)))
    return lat - dlat, lat + dlat, long - dlong, long + dlong
