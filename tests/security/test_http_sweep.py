"""The URL and caching sweep, and the headers every answer carries (THREAT_MODEL.md).

Each test walks every route of the application (the table of
``tests/security/test_route_audiences.py`` pins that list), so a new route is covered
without being named here.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from immunet.app import create_app
from immunet.people.identifiers import normalize_mobile
from immunet.security.access import CITIZEN, PUBLIC, CitizenPrincipal, PublicCaller
from tests.conftest import DrainingTransport, bearer, login, sha
from tests.factories.vaccination import book, last_lookup_otp, setup_day
from tests.security.test_route_audiences import EXPECTED, GUARDED, PAGES, _api_routes, _concrete

IDENTIFIERS = "aadhaar=690257748464&mobile=9000000001"
UNKNOWN_QUERY = "The request has query parameters this route does not accept."
# path_format: a path convertor (`{center_id:int}`) is not part of the route's name.
ALL_ROUTES = sorted({(m, r.path_format) for m, r in _api_routes()})
EVERY_ANSWER = ("x-request-id", "x-content-type-options")


def _body(method: str) -> dict[str, Any] | None:
    return None if method == "GET" else {}


# -- 6. identifiers in URLs ---------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ALL_ROUTES)
async def test_every_route_refuses_unknown_query_parameters(client, method, path):
    response = await client.request(method, f"{_concrete(path)}?{IDENTIFIERS}", json=_body(method))
    assert response.status_code == 400, f"{method} {path} answered {response.status_code}"
    if (method, path) in PAGES:  # a page answers its refusals as a page
        assert response.headers["content-type"].startswith("text/html")
    else:
        assert response.json() == {"errorCode": "GEN0400", "error": UNKNOWN_QUERY}
    assert "690257748464" not in response.text and "aadhaar" not in response.text


async def test_declared_query_parameters_still_work(client):
    response = await client.get("/api/v2/appointment/sessions/public/findByPin?pincode=110001")
    assert response.status_code in (200, 400)  # 400 only for the missing date, never the pin
    assert response.json().get("error") != UNKNOWN_QUERY
    dated = await client.get(
        "/api/v2/appointment/sessions/public/findByPin?pincode=110001&date=01-01-2030"
    )
    assert dated.status_code == 200, dated.text
    # A name that is itself data is refused the same way, and not echoed.
    response = await client.get("/api/v2/admin/location/states?9000000001=")
    assert response.status_code == 400 and "9000000001" not in response.text


async def test_access_log_names_the_route_never_the_query(client, caplog):
    caplog.set_level(logging.INFO)
    await client.get(f"/api/v2/admin/location/states?{IDENTIFIERS}")
    await client.get(f"/api/v2/admin/location/districts/9000000001?{IDENTIFIERS}")
    await client.get("/api/v2/no/such/route/690257748464")
    # Everything the server side logged (httpx's own lines are the test client's).
    server = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    logged = "\n".join(r.getMessage() for r in server)
    assert "690257748464" not in logged and "9000000001" not in logged
    assert "aadhaar" not in logged and "mobile" not in logged
    access = [r.getMessage() for r in caplog.records if r.name == "immunet.access"]
    assert access[0].startswith("GET /api/v2/admin/location/states 400 ")
    assert access[1].startswith("GET /api/v2/admin/location/districts/{state_id} 400 ")
    assert access[2].startswith("GET - 404 ")


# -- 7. Cache-Control: no-store -----------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), GUARDED)
async def test_every_non_public_route_answers_no_store(client, method, path):
    response = await client.request(method, _concrete(path), json=_body(method))
    assert response.headers["cache-control"] == "no-store", f"{method} {path}"


async def test_answers_with_personal_data_or_tokens_are_no_store(client, ctx, outbox):
    day = await setup_day(ctx, client)
    person = await book(client, outbox, day.session)
    staff = day.vaccinator.headers

    txn = (
        await client.post("/api/v2/auth/public/generateOTP", json={"mobile": "9811100001"})
    ).json()["txnId"]
    confirmed = await client.post(
        "/api/v2/auth/public/confirmOTP",
        json={"otp": sha(outbox.last_otp("9811100001")), "txnId": txn},
    )
    listing = await client.get("/api/v2/appointment/beneficiaries", headers=bearer(person.token))
    roster = await client.get(f"/api/staff/sessions/{day.session.session_id}/roster", headers=staff)
    checked_in = await client.post(
        f"/api/staff/appointments/{person.appointment_id}/check-in",
        json={"code": person.code},
        headers=staff,
    )
    for name, response in {
        "confirmOTP": confirmed,
        "beneficiaries": listing,
        "roster": roster,
        "check-in": checked_in,
    }.items():
        assert response.status_code == 200, (name, response.text)
        assert response.headers["cache-control"] == "no-store", name
    # The walk-in look-up: its confirm answers the person's record.
    started = await client.post(
        "/api/staff/lookup/otp", json={"mobile": person.mobile}, headers=staff
    )
    otp = last_lookup_otp(outbox, normalize_mobile(person.mobile))
    confirm = await client.post(
        "/api/staff/lookup/confirm",
        json={"txnId": started.json()["txnId"], "otp": sha(otp)},
        headers=staff,
    )
    assert confirm.status_code == 200, confirm.text
    assert confirm.headers["cache-control"] == "no-store"


async def test_public_answers_keep_their_own_caching(client):
    response = await client.get("/api/v2/admin/location/states")
    assert response.status_code == 200
    assert response.headers["cache-control"].startswith("public")
    calendar = await client.get(
        "/api/v2/appointment/sessions/public/calendarByPin?pincode=110001&date=01-01-2030"
    )
    assert calendar.status_code == 200
    assert "etag" in calendar.headers and calendar.headers["cache-control"].startswith("public")
    # A public answer without a policy of its own is no-store too (confirmOTP is public).
    assert (await client.get("/healthz")).headers["cache-control"] == "no-store"


async def test_a_citizen_route_cannot_opt_out_of_no_store(settings, ctx, outbox):
    extra = APIRouter()

    @extra.get("/test-only/cached")
    async def cached(_who: Annotated[CitizenPrincipal, Depends(CITIZEN)]) -> JSONResponse:
        return JSONResponse({"secret": "x"}, headers={"Cache-Control": "public, max-age=600"})

    app = create_app(settings, context=ctx)
    app.include_router(extra)
    transport = DrainingTransport(app, ctx, ("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        token = await login(http, outbox, "9811100002")
        response = await http.get("/test-only/cached", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.headers.get_list("cache-control") == ["no-store"]


# -- 15. no redirect from an untrusted Host -----------------------------------------------


async def test_trailing_slash_is_a_404_never_a_redirect(client, outbox):
    token = await login(client, outbox, "9811100003")
    for host in ("testserver", "evil.example"):
        response = await client.get(
            "/api/v2/me/access-log/", headers={**bearer(token), "Host": host}
        )
        assert "location" not in response.headers
        assert "evil.example" not in response.text
        assert response.status_code == (404 if host == "testserver" else 400)
        assert set(response.json()) == {"errorCode", "error"}


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:80", "127.0.0.1.evil.example", "", "a b", "[::1"]
)
async def test_untrusted_hosts_are_refused_before_routing(client, host):
    response = await client.get("/api/v2/admin/location/states", headers={"Host": host})
    assert response.status_code == 400
    assert response.json()["errorCode"] == "GEN0400"
    assert all(name in response.headers for name in EVERY_ANSWER)


async def test_trusted_hosts_come_from_the_public_url(client_with):
    client = await client_with(public_url="https://immunet.example.in", allowed_hosts=["node-7"])
    for host, status in (
        ("immunet.example.in", 200),
        ("IMMUNET.example.in:443", 200),
        ("node-7", 200),
        ("testserver", 200),  # env=test only
        ("other.example.in", 400),
    ):
        response = await client.get("/api/v2/admin/location/states", headers={"Host": host})
        assert response.status_code == status, host


# -- 14. HSTS -----------------------------------------------------------------------------


async def test_hsts_when_the_public_url_is_https(client, client_with):
    assert "strict-transport-security" not in (await client.get("/healthz")).headers
    secure = await client_with(public_url="https://immunet.example.in")
    for path in ("/healthz", "/no/such/path", "/api/v2/admin/location/states?x=1"):
        response = await secure.get(path)
        assert response.headers["strict-transport-security"].startswith("max-age=")
        max_age = int(response.headers["strict-transport-security"].split(";")[0].split("=")[1])
        assert max_age >= 365 * 86400


# -- 16. every answer, from every layer, carries the headers ------------------------------

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "FOO"]
PATHS = sorted({_concrete(p) for _m, p in ALL_ROUTES} | {"/", "/nowhere", "/docs"})


@pytest.mark.parametrize("method", METHODS)
async def test_every_path_and_method_carries_the_headers(client, method):
    served = {(m, _concrete(p)) for m, p in ALL_ROUTES}
    for path in PATHS:
        response = await client.request(method, path)
        where = f"{method} {path} -> {response.status_code}"
        for name in EVERY_ANSWER:
            assert name in response.headers, where
        assert response.headers["x-content-type-options"] == "nosniff", where
        if method in ("TRACE", "FOO", "PUT", "DELETE", "OPTIONS") and (method, path) not in served:
            if any(p == path for _, p in served):
                assert response.status_code == 405, where
            else:  # a path no route serves: 404, or 405 for a method no route serves at all
                assert response.status_code in (404, 405), where
        if response.status_code == 405:
            allowed = {m.strip() for m in response.headers["allow"].split(",")}
            assert method not in allowed, where
            # Every method the path serves, whichever route answered.
            assert {m for m, p in served if p == path} <= allowed, where
        page = (method, path) in {(m, _concrete(p)) for m, p in PAGES}
        if method != "HEAD" and response.status_code >= 400 and path != "/readyz" and not page:
            assert set(response.json()) == {"errorCode", "error"}, where


async def test_body_limit_and_depth_answers_carry_the_headers(client):
    too_big = await client.post(
        "/api/v2/auth/public/generateOTP",
        content=b'{"mobile": "' + b"9" * 70_000 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    deep = await client.post(
        "/api/v2/auth/public/generateOTP",
        content=b"[" * 40 + b"]" * 40,
        headers={"Content-Type": "application/json"},
    )
    bad_length = await client.post(
        "/api/v2/auth/public/generateOTP", content=b"{}", headers={"Content-Length": "x"}
    )
    for response, status in ((too_big, 413), (deep, 400), (bad_length, 400)):
        assert response.status_code == status
        assert set(response.json()) == {"errorCode", "error"}
        for name in (*EVERY_ANSWER, "referrer-policy", "x-frame-options"):
            assert name in response.headers, (status, name)
        assert response.headers["cache-control"] == "no-store"


async def test_an_unexpected_failure_is_a_500_with_the_headers(settings, ctx, caplog):
    extra = APIRouter()

    @extra.get("/test-only/boom")
    async def boom(_caller: Annotated[PublicCaller, Depends(PUBLIC)]) -> None:
        raise RuntimeError("value 690257748464 from the request")

    app = create_app(settings, context=ctx)
    app.include_router(extra)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    caplog.set_level(logging.INFO)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/test-only/boom")
    assert response.status_code == 500
    assert response.json()["errorCode"] == "GEN0500"
    request_id = response.headers["x-request-id"]
    assert request_id in response.json()["error"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "RuntimeError" in logged and "690257748464" not in logged


def test_route_table_is_the_audience_table():
    # The sweep walks the same routes the audience table pins.
    assert set(ALL_ROUTES) == set(EXPECTED)
