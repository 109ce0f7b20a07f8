"""R-AZ-1: every route declares exactly one guard, and the guard is the one expected.

The table below is the second place each route's audience is written down; the test walks
the application's routes and fails on a route missing from the table, a route with no
guard or several, or a guard other than the table's. A second test calls every guarded
route without credentials and with the wrong audience's token and expects 401.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Route

from immunet.app import create_app
from immunet.security.access import Guard
from immunet.settings import Settings

# (METHOD, path) → "public" | "citizen" | "staff:<permission>" | "partner" | "research"
EXPECTED: dict[tuple[str, str], str] = {
    ("GET", "/.well-known/crl/{kid}.json"): "public",
    ("GET", "/.well-known/jwks.json"): "public",
    ("GET", "/.well-known/security-policy"): "public",
    ("GET", "/.well-known/security.txt"): "public",
    ("GET", "/api/staff/aefi"): "staff:vaccination:aefi:read",
    ("POST", "/api/staff/aefi"): "staff:vaccination:aefi:report",
    ("GET", "/api/staff/alerts"): "staff:oversight:alert:read",
    ("POST", "/api/staff/alerts/{alert_id}/ack"): "staff:oversight:alert:ack",
    ("POST", "/api/staff/appointments/{appointment_id}/check-in"): "staff:vaccination:dose:record",
    ("POST", "/api/staff/auth/login"): "public",
    ("POST", "/api/staff/auth/logout"): "staff:staff:session:own",
    ("POST", "/api/staff/auth/password"): "staff:staff:session:own",
    ("POST", "/api/staff/break-glass"): "staff:people:record:break-glass",
    ("GET", "/api/staff/centers"): "staff:geography:center:read",
    ("POST", "/api/staff/centers"): "staff:geography:center:create",
    ("POST", "/api/staff/centers/import"): "staff:geography:center:create",
    ("GET", "/api/staff/centers/{center_id}"): "staff:geography:center:read",
    ("PATCH", "/api/staff/centers/{center_id}"): "staff:geography:center:update",
    ("GET", "/api/staff/certificates/download"): "staff:booking:roster:read",
    ("POST", "/api/staff/checkin"): "staff:vaccination:dose:record",
    ("GET", "/api/staff/disputes"): "staff:oversight:dispute:read",
    ("POST", "/api/staff/disputes/{dispute_id}/freeze"): "staff:oversight:dispute:resolve",
    ("POST", "/api/staff/disputes/{dispute_id}/resolve"): "staff:oversight:dispute:resolve",
    ("POST", "/api/staff/doses"): "staff:vaccination:dose:record",
    ("POST", "/api/staff/doses/{dose_id}/void"): "staff:vaccination:dose:correct",
    ("POST", "/api/staff/lookup/confirm"): "staff:vaccination:dose:record",
    ("POST", "/api/staff/lookup/otp"): "staff:vaccination:dose:record",
    ("POST", "/api/staff/lookup/{txn_id}/beneficiaries"): "staff:vaccination:dose:record",
    ("GET", "/api/staff/due-list"): "staff:booking:roster:read",
    ("POST", "/api/staff/routine-sessions"): "staff:sessions:session:publish",
    ("GET", "/api/staff/districts/{district_id}/regional-vaccines"): "staff:geography:center:read",
    (
        "PUT",
        "/api/staff/districts/{district_id}/regional-vaccines",
    ): "staff:vaccination:regional:set",
    ("GET", "/api/staff/me"): "staff:staff:session:own",
    ("GET", "/api/staff/reports/doses"): "staff:reports:aggregate:read",
    ("GET", "/api/staff/reports/immunization-coverage"): "staff:reports:aggregate:read",
    ("GET", "/api/staff/sessions"): "staff:sessions:session:read",
    ("POST", "/api/staff/sessions"): "staff:sessions:session:publish",
    ("PATCH", "/api/staff/sessions/{session_id}"): "staff:sessions:session:update",
    ("POST", "/api/staff/sessions/{session_id}/cancel"): "staff:sessions:session:cancel",
    ("GET", "/api/staff/sessions/{session_id}/roster"): "staff:booking:roster:read",
    ("GET", "/api/staff/stock"): "staff:vaccination:stock:read",
    ("POST", "/api/staff/stock"): "staff:vaccination:stock:manage",
    ("POST", "/api/staff/stock/{stock_id}/waste"): "staff:vaccination:stock:manage",
    ("GET", "/api/staff/users"): "staff:staff:user:read",
    ("POST", "/api/staff/users"): "staff:staff:user:create",
    ("POST", "/api/staff/users/{username}/disable"): "staff:staff:user:disable",
    ("POST", "/api/staff/users/{username}/reinstate"): "staff:staff:user:reinstate",
    ("POST", "/api/staff/vaccinations"): "staff:vaccination:dose:record",
    ("GET", "/api/staff/partners"): "staff:partners:client:read",
    ("GET", "/api/staff/partners/alerts"): "staff:partners:client:read",
    ("GET", "/.well-known/oauth-authorization-server"): "public",
    ("POST", "/oauth/par"): "partner",
    ("POST", "/oauth/token"): "partner",
    ("POST", "/oauth/revoke"): "partner",
    ("GET", "/partner/v1/Immunization"): "partner",
    ("GET", "/partner/v1/certificate"): "partner",
    ("GET", "/partner/v1/certificate/pdf"): "partner",
    ("POST", "/partner/v1/appointment/schedule"): "partner",
    ("POST", "/partner/v1/appointment/reschedule"): "partner",
    ("POST", "/partner/v1/appointment/cancel"): "partner",
    # Co-WIN compatible partner login (x-api-key): immunet/partners/cowin_routes.py.
    ("POST", "/api/v2/auth/generateOTP"): "partner",
    ("POST", "/api/v2/auth/confirmOTP"): "partner",
    # Research data (immunet/research): DPoP-bound client-credentials tokens; the register
    # of every research query and extract is public.
    ("POST", "/api/v2/research/aggregates"): "research",
    ("POST", "/api/v2/research/dp-counts"): "research",
    ("GET", "/api/v2/research/budget"): "research",
    ("POST", "/api/v2/research/extracts"): "research",
    ("GET", "/api/v2/research/register"): "public",
    ("GET", "/api/v2/me/consents"): "citizen",
    ("POST", "/api/v2/me/consents/{consent_id}/revoke"): "citizen",
    ("POST", "/api/staff/partners"): "staff:partners:client:manage",
    ("POST", "/api/staff/partners/{client_id}/suspend"): "staff:partners:client:manage",
    ("POST", "/api/staff/partners/{client_id}/reinstate"): "staff:partners:client:manage",
    ("POST", "/api/staff/partners/{client_id}/rotate-key"): "staff:partners:client:manage",
    ("POST", "/api/staff/partners/alerts/{alert_id}/ack"): "staff:partners:client:manage",
    ("GET", "/api/v2/admin/location/districts/{state_id}"): "public",
    ("GET", "/api/v2/admin/location/states"): "public",
    ("GET", "/api/v2/appointment/appointmentslip/download"): "citizen",
    ("GET", "/api/v2/appointment/beneficiaries"): "citizen",
    ("POST", "/api/v2/appointment/cancel"): "citizen",
    ("GET", "/api/v2/appointment/centers/public/findByLatLong"): "public",
    ("POST", "/api/v2/appointment/reschedule"): "citizen",
    ("POST", "/api/v2/appointment/schedule"): "citizen",
    ("GET", "/api/v2/appointment/sessions/public/calendarByCenter"): "public",
    ("GET", "/api/v2/appointment/sessions/public/calendarByDistrict"): "public",
    ("GET", "/api/v2/appointment/sessions/public/calendarByPin"): "public",
    ("GET", "/api/v2/appointment/sessions/public/findByDistrict"): "public",
    ("GET", "/api/v2/appointment/sessions/public/findByPin"): "public",
    ("GET", "/api/v2/audit/checkpoint-key"): "public",
    ("GET", "/api/v2/audit/checkpoints/latest"): "public",
    ("GET", "/api/v2/audit/consistency"): "public",
    ("GET", "/api/v2/public/reports/immunization-coverage"): "public",
    ("POST", "/api/v2/auth/logout"): "citizen",
    ("POST", "/api/v2/auth/public/confirmOTP"): "public",
    ("POST", "/api/v2/auth/public/generateOTP"): "public",
    ("GET", "/api/v2/certificates/trust-list"): "public",
    ("POST", "/api/v2/certificates/verify"): "public",
    ("GET", "/api/v2/me/access-log"): "citizen",
    ("POST", "/api/v2/me/access-log/{entry_id}/dispute"): "citizen",
    ("GET", "/api/v2/me/access-log/{entry_id}/proof"): "citizen",
    ("POST", "/api/v2/me/aefi"): "citizen",
    ("GET", "/api/v2/me/data-summary"): "citizen",
    ("GET", "/api/v2/me/immunization-card"): "citizen",
    ("GET", "/api/v2/me/immunization-card/pdf"): "citizen",
    ("POST", "/api/v2/me/reminders"): "citizen",
    ("POST", "/api/v2/registration/beneficiary/child"): "citizen",
    ("POST", "/api/v2/registration/beneficiary/delete"): "citizen",
    ("GET", "/api/v2/registration/beneficiary/genders"): "public",
    ("GET", "/api/v2/registration/beneficiary/idTypes"): "public",
    ("POST", "/api/v2/registration/beneficiary/new"): "citizen",
    ("POST", "/api/v2/registration/beneficiary/pregnancy"): "citizen",
    ("GET", "/api/v2/registration/certificate/public/download"): "citizen",
    ("GET", "/api/v2/registration/certificate/public/formats"): "citizen",
    ("GET", "/healthz"): "public",
    ("GET", "/readyz"): "public",
}

# The portal's pages (immunet/web): one guard each, like routes. A citizen page without a
# session answers 303 to /login rather than 401 (test_citizen_pages_send_anonymous_to_login).
PAGES: dict[tuple[str, str], str] = {
    # The OAuth authorization (consent) page of the partner path (immunet/partners/pages.py).
    ("GET", "/oauth/authorize"): "public",
    ("POST", "/oauth/authorize/otp"): "public",
    ("POST", "/oauth/authorize/verify"): "public",
    ("POST", "/oauth/authorize/decide"): "citizen",
    ("GET", "/"): "public",
    ("GET", "/dashboard"): "public",
    ("GET", "/lang"): "public",
    ("GET", "/login"): "public",
    ("POST", "/login"): "public",
    ("POST", "/login/verify"): "public",
    ("POST", "/logout"): "citizen",
    ("GET", "/me"): "citizen",
    ("GET", "/me/access-log"): "citizen",
    ("POST", "/me/access-log/dispute"): "citizen",
    ("GET", "/me/book"): "citizen",
    ("POST", "/me/book"): "citizen",
    ("POST", "/me/cancel"): "citizen",
    ("GET", "/me/card.pdf"): "citizen",
    ("GET", "/me/certificate"): "citizen",
    ("GET", "/me/certificate.pdf"): "citizen",
    ("GET", "/me/consents"): "citizen",
    ("POST", "/me/consents/revoke"): "citizen",
    ("GET", "/me/data"): "citizen",
    ("POST", "/me/members"): "citizen",
    ("POST", "/me/members/remove"): "citizen",
    ("GET", "/me/slip"): "citizen",
    ("GET", "/static/{name}"): "public",
    ("GET", "/verify"): "public",
    ("POST", "/verify"): "public",
    ("GET", "/verify/manifest.webmanifest"): "public",
    ("GET", "/verify/sw.js"): "public",
    ("GET", "/verify/offline.json"): "public",
    ("GET", "/staff"): "staff:staff:session:own",
    ("GET", "/staff/login"): "public",
    ("POST", "/staff/login"): "public",
    ("POST", "/staff/logout"): "staff:staff:session:own",
    ("GET", "/staff/password"): "staff:staff:session:own",
    ("POST", "/staff/password"): "staff:staff:session:own",
    ("GET", "/staff/sessions"): "staff:sessions:session:read",
    ("GET", "/staff/roster"): "staff:booking:roster:read",
    ("POST", "/staff/check-in"): "staff:vaccination:dose:record",
    ("POST", "/staff/doses"): "staff:vaccination:dose:record",
    ("GET", "/staff/walk-in"): "staff:vaccination:dose:record",
    ("POST", "/staff/walk-in"): "staff:vaccination:dose:record",
    ("POST", "/staff/walk-in/verify"): "staff:vaccination:dose:record",
    ("POST", "/staff/walk-in/register"): "staff:vaccination:dose:record",
    ("POST", "/staff/walk-in/dose"): "staff:vaccination:dose:record",
    ("GET", "/staff/aefi"): "staff:vaccination:aefi:report",
    ("POST", "/staff/aefi"): "staff:vaccination:aefi:report",
    ("GET", "/staff/schedule"): "staff:sessions:session:read",
    ("POST", "/staff/schedule"): "staff:sessions:session:publish",
    ("POST", "/staff/schedule/cancel"): "staff:sessions:session:cancel",
    ("GET", "/staff/stock"): "staff:vaccination:stock:read",
    ("POST", "/staff/stock"): "staff:vaccination:stock:manage",
    ("POST", "/staff/stock/waste"): "staff:vaccination:stock:manage",
    ("GET", "/staff/alerts"): "staff:oversight:alert:read",
    ("POST", "/staff/alerts/ack"): "staff:oversight:alert:ack",
    ("GET", "/staff/disputes"): "staff:oversight:dispute:read",
    ("POST", "/staff/disputes/freeze"): "staff:oversight:dispute:resolve",
    ("POST", "/staff/disputes/resolve"): "staff:oversight:dispute:resolve",
    ("GET", "/staff/reports"): "staff:reports:aggregate:read",
    ("GET", "/staff/reports/coverage"): "staff:reports:aggregate:read",
    ("GET", "/staff/reports/aefi"): "staff:vaccination:aefi:read",
    ("GET", "/staff/users"): "staff:staff:user:read",
    ("POST", "/staff/users"): "staff:staff:user:create",
    ("POST", "/staff/users/disable"): "staff:staff:user:disable",
}
EXPECTED.update(PAGES)

# Documentation routes added by the framework: public by nature, and carry no data.
DOCUMENTATION = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def _flatten(routes: list[Any]) -> list[Any]:
    """Every served route: FastAPI may keep included routers as lazy branches."""
    flat: list[Any] = []
    for route in routes:
        if hasattr(route, "effective_route_contexts"):
            flat.extend(route.effective_route_contexts())
        else:
            flat.append(route)
    return flat


def _is_api(route: Any) -> bool:
    return isinstance(route, APIRoute) or isinstance(
        getattr(route, "original_route", None), APIRoute
    )


def _guards(route: Any) -> list[Guard]:
    found: list[Guard] = []

    def walk(dependant: Any) -> None:
        for dep in dependant.dependencies:
            if isinstance(dep.call, Guard):
                found.append(dep.call)
            walk(dep)

    walk(route.dependant)
    return found


def _label(guard: Guard) -> str:
    if guard.audience.value == "staff":
        return f"staff:{guard.permission}"
    return guard.audience.value


def _app() -> Any:
    return create_app(Settings(env="test", sms_backend="console"))


def _api_routes() -> list[tuple[str, Any]]:
    items = []
    for route in _flatten(_app().routes):
        if _is_api(route):
            for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                items.append((method, route))
    return items


def test_every_route_declares_exactly_one_expected_guard():
    problems = []
    seen = set()
    for method, route in _api_routes():
        key = (method, route.path_format)
        seen.add(key)
        guards = _guards(route)
        if len(guards) != 1:
            problems.append(f"{method} {route.path}: {len(guards)} guards")
            continue
        expected = EXPECTED.get(key)
        if expected is None:
            problems.append(f"{method} {route.path}: not in the table (guard {_label(guards[0])})")
        elif _label(guards[0]) != expected:
            problems.append(
                f"{method} {route.path}: guard {_label(guards[0])}, expected {expected}"
            )
    for key in set(EXPECTED) - seen:
        problems.append(f"{key[0]} {key[1]}: in the table but not served")
    assert not problems, "\n".join(sorted(problems))


def test_only_documentation_routes_are_outside_the_api_router():
    others = [r.path for r in _flatten(_app().routes) if not _is_api(r)]
    assert all(isinstance(r, Route) or _is_api(r) for r in _flatten(_app().routes))
    assert set(others) <= DOCUMENTATION


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


# path_format: a path convertor (`{center_id:int}`) is not part of the route's name.
GUARDED = [
    (m, r.path_format)
    for m, r in _api_routes()
    if EXPECTED.get((m, r.path_format), "public") != "public" and (m, r.path_format) not in PAGES
]
GUARDED_PAGES = [key for key, audience in PAGES.items() if audience != "public"]


@pytest.mark.parametrize(("method", "path"), GUARDED_PAGES)
async def test_guarded_pages_send_anonymous_to_their_login(client, method, path):
    # Whatever the page would need next (a form, a query), no session comes first.
    response = await client.request(method, _concrete(path))
    assert response.status_code == 303, f"{method} {path} answered {response.status_code}"
    login = "/staff/login" if path.startswith("/staff") else "/login"
    assert response.headers["location"] == login


@pytest.mark.parametrize(("method", "path"), GUARDED)
async def test_guarded_routes_refuse_anonymous_callers(client, method, path):
    response = await client.request(method, _concrete(path), json={} if method != "GET" else None)
    assert response.status_code == 401, f"{method} {path} answered {response.status_code}"
    assert set(response.json()) == {"errorCode", "error"}


@pytest.mark.parametrize(("method", "path"), GUARDED)
async def test_guarded_routes_refuse_garbage_tokens(client, method, path):
    headers = {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."}
    response = await client.request(
        method, _concrete(path), json={} if method != "GET" else None, headers=headers
    )
    assert response.status_code == 401
