"""CDSi date arithmetic: durations such as ``"6 months + 4 weeks"`` or ``"4 years - 4 days"``.

The CDSi Logic Specification (chapter "Calculating dates") adds a duration to a date unit by
unit, in the order years, months, weeks, days. Years and months move the calendar (day of
month kept); when that day does not exist in the target month (31 April, 29 February in a
common year) the date becomes the first day of the following month. Weeks are 7 days; days
are days, and a negative term such as the ``- 4 days`` grace period subtracts.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

_TERM = re.compile(r"([+-]?)\s*(\d+)\s*(year|month|week|day)s?", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Duration:
    """A signed CDSi duration; each unit is applied separately, in order."""

    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0

    @classmethod
    def parse(cls, text: str | None) -> Duration | None:
        """``None`` for an empty field; ``ValueError`` for text that is not a duration."""
        if text is None or not text.strip():
            return None
        rest = text.strip()
        units = {"year": 0, "month": 0, "week": 0, "day": 0}
        pos = 0
        found = False
        for m in _TERM.finditer(rest):
            if rest[pos : m.start()].strip():
                raise ValueError(f"not a CDSi duration: {text!r}")
            value = int(m.group(2)) * (-1 if m.group(1) == "-" else 1)
            units[m.group(3).lower()] += value
            pos = m.end()
            found = True
        if not found or rest[pos:].strip():
            raise ValueError(f"not a CDSi duration: {text!r}")
        return cls(units["year"], units["month"], units["week"], units["day"])


def add_months(day: dt.date, months: int) -> dt.date:
    """Move ``months`` calendar months; a day the month lacks rolls to the next month's 1st."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    if day.day > calendar.monthrange(year, month)[1]:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return dt.date(year, month, 1)
    return dt.date(year, month, day.day)


def add(day: dt.date, duration: Duration) -> dt.date:
    """``day`` plus ``duration``: years, then months, then weeks, then days (CDSi order)."""
    result = day
    if duration.years:
        result = add_months(result, 12 * duration.years)
    if duration.months:
        result = add_months(result, duration.months)
    return result + dt.timedelta(days=7 * duration.weeks + duration.days)


def add_text(day: dt.date, text: str | None) -> dt.date | None:
    """``day`` plus the duration written in ``text``; ``None`` when the field is empty."""
    duration = Duration.parse(text)
    return None if duration is None else add(day, duration)
