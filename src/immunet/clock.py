"""The time source for rules that depend on the time of day or the date.

Rules never call ``datetime.now()`` themselves: they take a clock (``ctx.clock`` in
services), so tests pin the instant and the suite passes at any hour, in any time zone,
on any date. Production uses :class:`SystemClock`.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FixedClock:
    """A clock that stands still until moved: for tests and replays."""

    def __init__(self, instant: dt.datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("a fixed clock needs a timezone-aware instant")
        self._instant = instant.astimezone(dt.UTC)

    def now(self) -> dt.datetime:
        return self._instant

    def set(self, instant: dt.datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("a fixed clock needs a timezone-aware instant")
        self._instant = instant.astimezone(dt.UTC)

    def advance(self, delta: dt.timedelta) -> None:
        self._instant += delta


# Dates people and sessions live by are Indian calendar days, whatever the server's zone.
INDIA = dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")


def india_today(now: dt.datetime) -> dt.date:
    """The calendar day in India at the instant ``now`` (timezone-aware)."""
    return now.astimezone(INDIA).date()
