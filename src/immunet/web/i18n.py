"""Languages of the portal: gettext catalogues (Babel) and locale formatting.

Catalogues are the ``.po`` files under ``locale/``; they are compiled in memory when first
used (Babel's ``write_mo``), so a fresh clone serves Hindi without a build step and no
compiled file can go stale (decision 0015). Another Indian language is one more ``.po``
file and one line in :data:`LOCALES`.
"""

from __future__ import annotations

import datetime as dt
import gettext
import io
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime as babel_format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations

# Locale code → the language's own name (what the switch shows, in that language).
LOCALES: dict[str, str] = {"en": "English", "hi": "हिन्दी"}
DEFAULT_LOCALE = "en"
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"


def po_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(locale: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``locale`` (English is the source language: no catalogue)."""
    if locale == DEFAULT_LOCALE or locale not in LOCALES:
        return gettext.NullTranslations()
    with po_path(locale).open("rb") as handle:
        catalog = read_po(handle, locale=locale, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out, as msgfmt does
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The cookie's choice, else the first supported language the browser asks for."""
    if cookie in LOCALES:
        return str(cookie)
    for part in (accept_language or "").split(",")[:10]:
        tag = part.split(";")[0].strip().lower()
        primary = tag.split("-")[0]
        if primary in LOCALES:
            return primary
    return DEFAULT_LOCALE


class Formatter:
    """Dates and numbers as the reader's locale writes them (Indian digit grouping)."""

    def __init__(self, locale: str) -> None:
        # Indian conventions in every language (English too: 12,34,567).
        self.locale = Locale.parse(f"{locale}_IN")

    def date(self, value: dt.date | None) -> str:
        return "" if value is None else babel_format_date(value, "medium", locale=self.locale)

    def datetime(self, value: dt.datetime | None) -> str:
        if value is None:
            return ""
        return babel_format_datetime(value, "medium", tzinfo=INDIA, locale=self.locale)

    def number(self, value: int | float | None) -> str:
        return "" if value is None else format_decimal(value, locale=self.locale)

    def percent(self, value: float | None) -> str:
        """A share (0.25) as the locale writes a percentage, to one decimal."""
        if value is None:
            return ""
        return format_percent(value, "#,##0.0%", locale=self.locale)

    def month(self, value: dt.date | str) -> str:
        """A month (a date in it, or ``YYYY-MM``) as the locale names it: "Dec 2026"."""
        day = dt.date.fromisoformat(f"{value}-01") if isinstance(value, str) else value
        return babel_format_date(day, "MMM y", locale=self.locale)


INDIA = dt.timezone(dt.timedelta(hours=5, minutes=30), "IST")
