"""Contract: immunet's public availability answers have Co-WIN's keys and JSON types.

The samples in ``tests/data/cowin-samples`` are real Co-WIN responses (2021). Every key a
sample carries must be in immunet's answer with the same JSON type; immunet adds only keys
that Co-WIN's published schema names (``*_l``, ``vaccine_fees``, ``max_age_limit``, ...).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from immunet.sessions.rules import today_ist
from tests.factories.staff import make_staff

SAMPLES = Path(__file__).parent.parent / "data" / "cowin-samples"
SCHEMA_EXTRAS_CENTER = {
    "name_l",
    "address_l",
    "state_name_l",
    "district_name_l",
    "block_name_l",
    "vaccine_fees",
}
SCHEMA_EXTRAS_SESSION = {
    "available_capacity_dose1",
    "available_capacity_dose2",
    "allow_all_age",
    "max_age_limit",
}


def json_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def sample(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def assert_conforms(ours: dict, theirs: dict, extras: set[str], where: str) -> None:
    missing = set(theirs) - set(ours)
    assert not missing, f"{where}: missing {sorted(missing)}"
    unexpected = set(ours) - set(theirs) - extras
    assert not unexpected, f"{where}: unexpected {sorted(unexpected)}"
    for key, value in theirs.items():
        assert json_type(ours[key]) == json_type(value), f"{where}.{key}"
        if isinstance(value, list) and value and isinstance(value[0], str):
            assert all(isinstance(item, str) for item in ours[key]), f"{where}.{key}"


def day(offset: int) -> str:
    return (today_ist() + dt.timedelta(days=offset)).strftime("%d-%m-%Y")


async def _seed(client, ctx) -> int:
    admin = await make_staff(ctx, "national_admin")
    response = await client.post(
        "/api/staff/centers",
        json={
            "name": "Contract Centre",
            "address": "1 Road",
            "district_id": 294,
            "block_name": "East",
            "pincode": "560001",
            "lat": 12.98,
            "long": 77.59,
            "from": "09:00",
            "to": "17:00",
            "fee_type": "Paid",
            "vaccine_fees": [{"vaccine": "COVISHIELD", "fee": "780"}],
        },
        headers=admin.headers,
    )
    center_id = response.json()["center_id"]
    for offset, max_age in ((1, None), (2, 44)):
        published = await client.post(
            "/api/staff/sessions",
            json={
                "center_id": center_id,
                "date": day(offset),
                "vaccine": "COVISHIELD",
                "min_age_limit": 18,
                "max_age_limit": max_age,
                "capacity_dose1": 5,
                "capacity_dose2": 5,
                "slots": ["09:00AM-11:00AM"],
                "fee": "780",
            },
            headers=admin.headers,
        )
        assert published.status_code == 200, published.text
    return int(center_id)


async def test_find_shapes(client, ctx):
    await _seed(client, ctx)
    for endpoint, params in (
        ("findByPin", {"pincode": "560001"}),
        ("findByDistrict", {"district_id": "294"}),
    ):
        ours = (
            await client.get(
                f"/api/v2/appointment/sessions/public/{endpoint}", params={**params, "date": day(1)}
            )
        ).json()
        theirs = sample(endpoint)
        assert set(ours) == set(theirs) == {"sessions"}
        assert ours["sessions"]
        for entry in ours["sessions"]:
            for reference in theirs["sessions"]:
                assert_conforms(
                    entry, reference, SCHEMA_EXTRAS_CENTER | SCHEMA_EXTRAS_SESSION, endpoint
                )


async def test_calendar_shapes(client, ctx):
    center_id = await _seed(client, ctx)
    for endpoint, params in (
        ("calendarByPin", {"pincode": "560001"}),
        ("calendarByDistrict", {"district_id": "294"}),
    ):
        ours = (
            await client.get(
                f"/api/v2/appointment/sessions/public/{endpoint}", params={**params, "date": day(0)}
            )
        ).json()
        theirs = sample(endpoint)
        assert set(ours) == set(theirs) == {"centers"}
        (center,) = ours["centers"]
        assert len(center["sessions"]) == 2
        assert any("max_age_limit" in s for s in center["sessions"])
        for reference in theirs["centers"]:
            assert_conforms(center, reference, SCHEMA_EXTRAS_CENTER, endpoint)
            for session in center["sessions"]:
                for ref_session in reference["sessions"]:
                    assert_conforms(session, ref_session, SCHEMA_EXTRAS_SESSION, endpoint)
        assert center["vaccine_fees"] == [{"vaccine": "COVISHIELD", "fee": "780"}]

    single = (
        await client.get(
            "/api/v2/appointment/sessions/public/calendarByCenter",
            params={"center_id": str(center_id), "date": day(0)},
        )
    ).json()
    assert isinstance(single["centers"], dict)
    reference = sample("calendarByPin")["centers"][0]
    assert_conforms(single["centers"], reference, SCHEMA_EXTRAS_CENTER, "calendarByCenter")


async def test_lat_long_shape(client, ctx):
    await _seed(client, ctx)
    ours = (
        await client.get(
            "/api/v2/appointment/centers/public/findByLatLong",
            params={"lat": "12.9", "long": "77.6"},
        )
    ).json()
    # The schema of srivastavachinmay/cowin_app (no live sample exists; see the README).
    schema = {
        "center_id": "integer",
        "name": "string",
        "district_name": "string",
        "state_name": "string",
        "location": "string",
        "pincode": "string",
        "block_name": "string",
        "lat": "string",
        "long": "string",
    }
    assert set(ours) == {"centers", "ttl"} and isinstance(ours["ttl"], int)
    (center,) = ours["centers"]
    for key, kind in schema.items():
        assert json_type(center[key]) == kind, key
    assert set(center) - set(schema) <= SCHEMA_EXTRAS_CENTER
