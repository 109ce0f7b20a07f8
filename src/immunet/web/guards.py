"""Guards of the pages: the same audiences as the API's, read from the web session cookie.

A page declares exactly one guard, as a route does (``tests/security/test_route_audiences.py``
holds pages and routes in one table). A citizen page without a live session answers a
redirect to ``/login`` rather than a 401, and counts against the same per-account budget as
the API.
"""

from __future__ import annotations

from fastapi import Request

from immunet.errors import Unauthenticated
from immunet.security.access import (
    Audience,
    CitizenPrincipal,
    Guard,
    app_context,
    request_context,
)
from immunet.security.ratelimit import Limit
from immunet.security.tokens import TokenAudience
from immunet.staff.guards import StaffGuard
from immunet.staff.permissions import Permission
from immunet.staff.principal import StaffPrincipal
from immunet.web.security import read_cookie

SESSION_COOKIE = "immunet"


class LoginRequired(Unauthenticated):
    """No live web session: the page answers 303 to its login page."""

    def __init__(self, login_path: str = "/login") -> None:
        super().__init__()
        self.login_path = login_path


class WebCitizenGuard(Guard):
    """A live citizen token session, carried by the ``__Host-immunet`` cookie."""

    audience = Audience.CITIZEN

    async def __call__(self, request: Request) -> CitizenPrincipal:
        ctx = app_context(request)
        token = read_cookie(request, SESSION_COOKIE)
        if token is None:
            raise LoginRequired()
        try:
            verified = await ctx.tokens.verify(
                token, TokenAudience.CITIZEN, idle_seconds=ctx.settings.citizen_token_seconds
            )
        except Unauthenticated as exc:
            raise LoginRequired() from exc
        principal = CitizenPrincipal(
            verified.subject, verified.session_id, request_context(request)
        )
        limit = Limit("citizen-per-account", ctx.settings.api_requests_per_minute, 60)
        await ctx.limiter.hit(limit, principal.account_id)
        return principal


WEB_CITIZEN = WebCitizenGuard()


STAFF_COOKIE = "immunet-staff"


class WebStaffGuard(StaffGuard):
    """The staff guard of the API (live token, active user, the permission, the budget),
    with the token read from the ``__Host-immunet-staff`` cookie."""

    def token(self, request: Request) -> str:
        token = read_cookie(request, STAFF_COOKIE)
        if token is None:
            raise LoginRequired("/staff/login")
        return token

    async def __call__(self, request: Request) -> StaffPrincipal:
        try:
            return await super().__call__(request)
        except LoginRequired:
            raise
        except Unauthenticated as exc:
            raise LoginRequired("/staff/login") from exc


_WEB_STAFF: dict[Permission, WebStaffGuard] = {}


def WEB_STAFF(permission: Permission) -> WebStaffGuard:
    guard = _WEB_STAFF.get(permission)
    if guard is None:
        guard = _WEB_STAFF[permission] = WebStaffGuard(permission)
    return guard
