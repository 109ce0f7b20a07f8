"""Abuse of the public availability API: bad and huge parameters, floods, caching, leaks."""

from __future__ import annotations

import datetime as dt

from immunet.sessions.rules import today_ist
from tests.conftest import bearer, login, register
from tests.factories import adult
from tests.factories.staff import make_staff

FIND = "/api/v2/appointment/sessions/public/findByPin"


def day(offset: int = 1) -> str:
    return (today_ist() + dt.timedelta(days=offset)).strftime("%d-%m-%Y")


async def _seed(client, ctx) -> tuple[int, str]:
    admin = await make_staff(ctx, "national_admin")
    center = await client.post(
        "/api/staff/centers",
        json={
            "name": "PHC One",
            "address": "1 Road",
            "district_id": 294,
            "block_name": "East",
            "pincode": "560001",
            "lat": 12.98,
            "long": 77.59,
            "from": "09:00",
            "to": "17:00",
            "fee_type": "Free",
        },
        headers=admin.headers,
    )
    center_id = center.json()["center_id"]
    published = await client.post(
        "/api/staff/sessions",
        json={
            "center_id": center_id,
            "date": day(1),
            "vaccine": "COVAXIN",
            "min_age_limit": 18,
            "capacity_dose1": 3,
            "capacity_dose2": 0,
            "slots": ["09:00AM-11:00AM"],
            "fee": 0,
        },
        headers=admin.headers,
    )
    return int(center_id), published.json()["session_id"]


async def test_bad_and_huge_parameters_are_400(client):
    base = "/api/v2/appointment/sessions/public"
    cases = [
        (f"{base}/findByPin", {"date": day()}, "APPOIN0012"),
        (f"{base}/findByPin", {"pincode": "560001"}, "APPOIN0011"),
        (f"{base}/findByPin", {"pincode": "abcdef", "date": day()}, "APPOIN0012"),
        (f"{base}/findByPin", {"pincode": "056000", "date": day()}, "APPOIN0012"),
        (f"{base}/findByPin", {"pincode": "５６０００１", "date": day()}, "APPOIN0012"),
        (f"{base}/findByPin", {"pincode": "560001", "date": "2021-05-04"}, "APPOIN0011"),
        (f"{base}/findByPin", {"pincode": "560001", "date": "31-02-2026"}, "APPOIN0011"),
        (f"{base}/findByPin", {"pincode": "560001", "date": "01-01-99999"}, "APPOIN0011"),
        (
            f"{base}/findByPin",
            {"pincode": "560001", "date": day(), "vaccine": "'; DROP"},
            "APPOIN0015",
        ),
        (
            f"{base}/findByDistrict",
            {"district_id": "99999999999999999999", "date": day()},
            "APPOIN0013",
        ),
        (f"{base}/findByDistrict", {"district_id": "-1", "date": day()}, "APPOIN0013"),
        (f"{base}/findByDistrict", {"district_id": "1e3", "date": day()}, "APPOIN0013"),
        (f"{base}/calendarByDistrict", {"district_id": "0", "date": day()}, "APPOIN0013"),
        (f"{base}/calendarByCenter", {"center_id": "4294967296", "date": day()}, "APPOIN0014"),
        (f"{base}/calendarByPin", {"pincode": "1" * 32, "date": day()}, "APPOIN0012"),
        (
            "/api/v2/appointment/centers/public/findByLatLong",
            {"lat": "1e308", "long": "77"},
            "APPOIN0016",
        ),
        (
            "/api/v2/appointment/centers/public/findByLatLong",
            {"lat": "nan", "long": "77"},
            "APPOIN0016",
        ),
        (
            "/api/v2/appointment/centers/public/findByLatLong",
            {"lat": "12", "long": "181"},
            "APPOIN0016",
        ),
        ("/api/v2/appointment/centers/public/findByLatLong", {"lat": "12"}, "APPOIN0016"),
        (f"{base}/findByPin", {"pincode": "5" * 5000, "date": day()}, "GEN0400"),
    ]
    for path, params, code in cases:
        response = await client.get(path, params=params)
        assert response.status_code == 400, (path, params, response.text)
        assert response.json()["errorCode"] == code, (params, response.json())
        assert set(response.json()) == {"errorCode", "error"}
        assert "DROP" not in response.text and "99999999999" not in response.text


async def test_rate_limit_per_address(client_with):
    limited = await client_with(public_requests_per_5min=3)
    params = {"pincode": "560001", "date": day()}
    for _ in range(3):
        assert (await limited.get(FIND, params=params)).status_code == 200
    refused = await limited.get(FIND, params=params)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["errorCode"] == "GEN0429"
    # Another endpoint shares the same per-address budget; spoofed headers change nothing.
    other = await limited.get(
        "/api/v2/appointment/centers/public/findByLatLong",
        params={"lat": "12", "long": "77"},
        headers={"X-Forwarded-For": "198.51.100.9", "X-Real-IP": "198.51.100.9"},
    )
    assert other.status_code == 429
    elsewhere = await client_with(peer="198.51.100.20", public_requests_per_5min=3)
    assert (await elsewhere.get(FIND, params=params)).status_code == 200


async def test_etag_and_not_modified(client, ctx):
    await _seed(client, ctx)
    params = {"pincode": "560001", "date": day()}
    first = await client.get(FIND, params=params)
    etag = first.headers["etag"]
    assert first.headers["cache-control"].startswith("public, max-age=")
    same = await client.get(FIND, params=params, headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.content == b""
    assert same.headers["etag"] == etag
    assert (
        await client.get(FIND, params=params, headers={"If-None-Match": f'"x", W/{etag}'})
    ).status_code == 304
    assert (
        await client.get(FIND, params=params, headers={"If-None-Match": '"other"'})
    ).status_code == 200
    # Another question, another tag; the same question answers byte-identically.
    assert (await client.get(FIND, params=params)).content == first.content
    other = await client.get(FIND, params={"pincode": "560001", "date": day(2)})
    assert other.headers["etag"] != etag


async def test_no_personal_data(client, ctx, outbox):
    center_id, session_id = await _seed(client, ctx)
    token = await login(client, outbox, "9876500001")
    registered = await register(client, token, adult("Meera Sharma"))
    assert registered.status_code == 200
    # A citizen's token gets the same public answer as no token at all.
    answers = []
    for headers in ({}, bearer(token)):
        for path, params in (
            ("/api/v2/appointment/sessions/public/findByPin", {"pincode": "560001", "date": day()}),
            (
                "/api/v2/appointment/sessions/public/calendarByCenter",
                {"center_id": str(center_id), "date": day(0)},
            ),
            ("/api/v2/appointment/centers/public/findByLatLong", {"lat": "12.98", "long": "77.59"}),
        ):
            response = await client.get(path, params=params, headers=headers)
            assert response.status_code == 200
            answers.append(response.text)
            assert "Meera" not in response.text and "98765" not in response.text
            assert "created_by" not in response.text and "staff:" not in response.text
    assert answers[:3] == answers[3:]
    allowed = {
        "center_id",
        "name",
        "name_l",
        "address",
        "address_l",
        "state_name",
        "state_name_l",
        "district_name",
        "district_name_l",
        "block_name",
        "block_name_l",
        "pincode",
        "lat",
        "long",
        "from",
        "to",
        "fee_type",
        "vaccine_fees",
        "session_id",
        "date",
        "available_capacity",
        "available_capacity_dose1",
        "available_capacity_dose2",
        "fee",
        "min_age_limit",
        "max_age_limit",
        "allow_all_age",
        "vaccine",
        "slots",
    }
    (entry,) = (await client.get(FIND, params={"pincode": "560001", "date": day()})).json()[
        "sessions"
    ]
    assert set(entry) <= allowed and entry["session_id"] == session_id


async def test_staff_routes_refuse_other_audiences(client, ctx, outbox):
    citizen = await login(client, outbox, "9876500002")
    for method, path in (
        ("POST", "/api/staff/centers"),
        ("GET", "/api/staff/centers"),
        ("POST", "/api/staff/centers/import"),
        ("POST", "/api/staff/sessions"),
        ("GET", "/api/staff/sessions"),
    ):
        for headers in ({}, bearer(citizen), bearer("not-a-token")):
            response = await client.request(method, path, headers=headers, json={})
            assert response.status_code == 401, (method, path, response.text)
    verifier = await make_staff(ctx, "verifier", "national")
    for method, path in (("GET", "/api/staff/centers"), ("GET", "/api/staff/sessions")):
        assert (await client.request(method, path, headers=verifier.headers)).status_code == 403


async def test_import_is_bounded(client, ctx):
    admin = await make_staff(ctx, "national_admin")
    header = "name,address,district_id,block_name,pincode,lat,long,from,to,fee_type\n"
    many = header + "C,A,294,B,560001,12.9,77.5,09:00,17:00,Free\n" * 600
    response = await client.post(
        "/api/staff/centers/import",
        content=many.encode(),
        headers={**admin.headers, "Content-Type": "text/csv"},
    )
    assert response.status_code in (400, 413)
    huge = await client.post(
        "/api/staff/centers/import",
        content=b"x" * (200 * 1024),
        headers={**admin.headers, "Content-Type": "text/csv"},
    )
    assert huge.status_code == 413
    listing = await client.get("/api/staff/centers", headers=admin.headers)
    assert listing.json()["centers"] == []
