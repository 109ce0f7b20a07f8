"""The document's formats are the wire's: what the schema accepts, the server accepts.

For each value, the verdict of ``jsonschema`` on the schema the OpenAPI document gives
is compared with the server's own answer (400 or not). Co-WIN's formats included:
``DD-MM-YYYY`` dates, zone-less clock times, the Idempotency-Key, required search
parameters.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import jsonschema
import pytest

from tests.conftest import bearer, login
from tests.factories.staff import make_staff
from tests.integration.test_sessions_centers import (
    center_body,
    create_center,
    day,
    session_body,
)
from tests.security.test_openapi import SPEC


def _accepts(schema: dict[str, Any], value: Any) -> bool:
    schema = {**schema, "components": SPEC["components"]}
    return jsonschema.Draft202012Validator(schema).is_valid(value)


def _property(model: str, name: str) -> dict[str, Any]:
    return SPEC["components"]["schemas"][model]["properties"][name]


def _parameter(method: str, path: str, name: str) -> dict[str, Any]:
    for parameter in SPEC["paths"][path][method]["parameters"]:
        if parameter["name"] == name:
            return parameter
    raise KeyError(name)


def _future() -> dt.date:
    return dt.datetime.strptime(day(2), "%d-%m-%Y").date()  # the sessions tests' own day


SESSION_DATES = [
    _future().strftime("%d-%m-%Y"),
    _future().isoformat(),  # format: date was documented; refused
    _future().strftime("%d/%m/%Y"),
    _future().strftime("%d-%m-%Y") + " ",
]


@pytest.mark.parametrize("value", SESSION_DATES)
async def test_session_date_is_documented_as_accepted(client, ctx, value):
    admin = await make_staff(ctx, "national_admin")
    center_id = await create_center(client, admin.headers)
    response = await client.post(
        "/api/staff/sessions", json=session_body(center_id, date=value), headers=admin.headers
    )
    documented = _accepts(_property("SessionCreate", "date"), value)
    assert documented == (response.status_code == 200), (value, response.text)


CLOCKS = ["09:00", "09:00:30", "09:00Z", "09:00+05:30", "9:00", "24:00", "09:00:00.5"]


@pytest.mark.parametrize("value", CLOCKS)
async def test_centre_times_are_documented_as_accepted(client, ctx, value):
    admin = await make_staff(ctx, "national_admin")
    body = center_body(**{"from": value, "to": "23:00"})
    response = await client.post("/api/staff/centers", json=body, headers=admin.headers)
    documented = _accepts(_property("CenterCreate", "from"), value)
    assert documented == (response.status_code == 200), (value, response.text)
    response = await client.patch(
        "/api/staff/centers/1", json={"to": value}, headers=admin.headers
    )  # the patch model documents the same format
    assert _accepts(_property("CenterPatch", "to"), value) == documented


KEYS = ["k" * 128, "k" * 129, "", "a b", "~!-_.:", "k" * 300]


@pytest.mark.parametrize("key", KEYS)
async def test_idempotency_key_is_documented_as_accepted(client, outbox, key):
    token = await login(client, outbox, "9876501234")
    body = {"dose": 1, "session_id": "no-such-session", "slot": "09:00AM-11:00AM"}
    body["beneficiaries"] = ["12345678901234"]
    response = await client.post(
        "/api/v2/appointment/schedule",
        json=body,
        headers={**bearer(token), "Idempotency-Key": key},
    )
    parameter = _parameter("post", "/api/v2/appointment/schedule", "Idempotency-Key")
    documented = _accepts(parameter["schema"], key)
    refused = response.status_code == 400 and response.json()["errorCode"].startswith("IDEMP")
    assert documented == (not refused), (key, response.text)


SEARCHES = [
    {"pincode": "110001", "date": "01-12-2026"},
    {"pincode": "110001"},
    {"date": "01-12-2026"},
    {"pincode": "011001", "date": "01-12-2026"},
    {"pincode": "110001", "date": "2026-12-01"},
    {"pincode": "110001", "date": "01-12-2026", "vaccine": "covishield"},
    {"pincode": "110001", "date": "01-12-2026", "vaccine": "<script>"},
]


@pytest.mark.parametrize("query", SEARCHES)
@pytest.mark.parametrize("route", ["findByPin", "calendarByPin"])
async def test_public_search_parameters_are_documented_as_accepted(client, route, query):
    path = f"/api/v2/appointment/sessions/public/{route}"
    response = await client.get(path, params=query)
    documented = True
    for parameter in SPEC["paths"][path]["get"]["parameters"]:
        name = parameter["name"]
        if name not in query:
            documented &= not parameter["required"]
        else:
            documented &= _accepts(parameter["schema"], query[name])
    assert documented == (response.status_code == 200), (query, response.text)


def test_centre_import_documents_both_bodies():
    body = SPEC["paths"]["/api/staff/centers/import"]["post"]["requestBody"]
    assert body["required"] is True
    assert set(body["content"]) == {"text/csv", "application/json"}
