"""The messages the portal shows, gathered for the catalogues (``make i18n``).

Three sources: ``_()`` in the web package's Python and templates (Babel's extractors), the
message of every API error class (so every ``errorCode`` has its text in each language),
and the few words the services answer as data (vaccination status, genders).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir

import immunet
from immunet.errors import ApiError
from immunet.people import service as people_service

WEB = Path(__file__).parent
METHOD_MAP = [("**.py", "python"), ("templates/**.html", "jinja2")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
# Words the services answer as data and the pages show as they are.
DATA_WORDS = (
    "Not Vaccinated",
    "Partially Vaccinated",
    "Vaccinated",
    *people_service.GENDERS.values(),
    *people_service.ID_TYPES.values(),
    # roster statuses (vaccination.service.roster_status)
    "booked",
    "checked-in",
    "completed",
    "cancelled",
    # hidden counts (oversight.rules.suppress)
    "<5",
    "suppressed",
)


def _subclasses(cls: type[ApiError]) -> Iterator[type[ApiError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def api_error_messages() -> dict[str, str]:
    """message → errorCode of every API error class in the package (and the HTTP ones)."""
    for module in pkgutil.walk_packages(immunet.__path__, "immunet."):
        if ".migrations" in module.name or module.name.endswith("__main__"):
            continue
        importlib.import_module(module.name)
    from immunet.http import _STATUS_CODES

    found: dict[str, str] = {}
    for code, message in _STATUS_CODES.values():
        found.setdefault(message, code)
    classes: list[type[ApiError]] = [ApiError, *_subclasses(ApiError)]
    for cls in classes:
        found.setdefault(cls.message, cls.error_code)
    return found


def template_catalogue() -> Catalog:
    catalog = Catalog(project="immunet", charset="utf-8")
    for filename, lineno, message, comments, _context in extract_from_dir(
        WEB, METHOD_MAP, options_map=OPTIONS
    ):
        if isinstance(message, str):
            catalog.add(message, locations=[(filename, lineno)], auto_comments=comments)
    for message, code in sorted(api_error_messages().items()):
        catalog.add(message, auto_comments=[f"errorCode {code}"])
    for word in DATA_WORDS:
        catalog.add(word, auto_comments=["an answer of the services"])
    return catalog
