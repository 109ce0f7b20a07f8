"""Wire formats as the OpenAPI document must state them: exactly what the server accepts.

Several inputs are parsed by the project's own rules (Co-WIN's ``DD-MM-YYYY``, clock
times without a zone, query parameters checked by the availability service so that its
own error codes are answered). FastAPI would document them by their Python type
(``format: date``, ``format: time``, optional); these annotations give the document the
real pattern instead, without changing what the server does.
"""

from __future__ import annotations

from typing import Any

from fastapi import Query
from pydantic import WithJsonSchema

# Keep in agreement with the parsers: sessions/rules.py (_DATE, year 2020-2100),
# geography/center_schemas.py (_TIME), sessions/availability.py (_PINCODE, _NUMBER, …).
COWIN_DATE_PATTERN = r"^[0-9]{2}-[0-9]{2}-[0-9]{4}$"
CLOCK_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"
PINCODE_PATTERN = r"^[1-9][0-9]{5}$"
ID_PATTERN = r"^[1-9][0-9]{0,9}$"
VACCINE_PATTERN = r"^(\s*[A-Za-z0-9][A-Za-z0-9 ._-]{0,31}\s*)?$"
DEGREES_PATTERN = r"^\s*[+-]?([0-9]{1,3}(\.[0-9]{1,12})?|\.[0-9]{1,12})\s*$"
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]{1,128}$"  # security/idempotency.py (_KEY_PATTERN)
IDEMPOTENCY_KEY_SCHEMA: dict[str, Any] = {
    "minLength": 1,
    "maxLength": 128,
    "pattern": IDEMPOTENCY_KEY_PATTERN,
    "description": "1 to 128 printable ASCII characters; a retry with the same key and body "
    "answers the first answer again.",
}

COWIN_DATE = WithJsonSchema(
    {
        "type": "string",
        "pattern": COWIN_DATE_PATTERN,
        "description": "DD-MM-YYYY (Co-WIN), a calendar day of 2020-2100.",
        "examples": ["01-12-2026"],
    },
    mode="validation",
)


def clock(optional: bool = False) -> WithJsonSchema:
    """A 24-hour ``HH:MM`` or ``HH:MM:SS`` time of day; a zone suffix is refused."""
    schema: dict[str, Any] = {
        "type": "string",
        "pattern": CLOCK_PATTERN,
        "description": "HH:MM or HH:MM:SS, 24-hour, local time of the centre (no zone).",
        "examples": ["09:00"],
    }
    if optional:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return WithJsonSchema(schema, mode="validation")


# Marks a parameter the route takes as optional (so the service can answer its own error
# code) but the server in fact requires; immunet.openapi.complete() documents it required.
REQUIRED_MARK = "x-immunet-required"


def cowin_query(pattern: str, *, required: bool, description: str) -> Any:
    """A Co-WIN query parameter, checked by the service, documented as it is checked."""
    return Query(
        max_length=32,
        description=description,
        json_schema_extra={"pattern": pattern, REQUIRED_MARK: required},
    )


def normalize_parameters(operation: dict[str, Any]) -> None:
    """Turn the marks left by :func:`cowin_query` into plain, required-or-not parameters."""
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        if REQUIRED_MARK not in schema:
            continue
        required = bool(schema.pop(REQUIRED_MARK))
        string = {
            "type": "string",
            "maxLength": 32,
            "pattern": schema.pop("pattern"),
        }
        parameter["schema"] = string
        parameter["required"] = required
