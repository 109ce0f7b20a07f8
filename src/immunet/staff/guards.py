"""The staff route guard: a live staff token, an active user, and the route's permission."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from immunet.errors import Forbidden, Unauthenticated
from immunet.security.access import Audience, Guard, app_context, bearer_token, request_context
from immunet.security.ratelimit import Limit
from immunet.security.tokens import TokenAudience
from immunet.staff.models import StaffUser
from immunet.staff.permissions import Permission, Role
from immunet.staff.principal import Jurisdiction, StaffPrincipal

STAFF_IDLE_SECONDS = 15 * 60
STAFF_ABSOLUTE_SECONDS = 12 * 3600
# All a session of a user still holding a one-time password may do: change it (and see its
# own profile, log out). Every other permission waits for the change.
ONE_TIME_PASSWORD_PERMISSIONS = frozenset({Permission.SELF_SESSION})


class PasswordChangeRequired(Forbidden):
    error_code = "STAFF0406"
    message = (
        "Change your one-time password first (POST /api/staff/auth/password); "
        "until then this session may do nothing else."
    )


async def _staff_user(session: AsyncSession, subject: str) -> StaffUser | None:
    return await session.get(StaffUser, int(subject))


class StaffGuard(Guard):
    audience = Audience.STAFF

    def __init__(self, permission: Permission) -> None:
        self.permission = str(permission)
        self.required = permission

    def token(self, request: Request) -> str:
        """Where the staff token travels: ``Authorization: Bearer`` (the portal: a cookie)."""
        return bearer_token(request)

    async def __call__(self, request: Request) -> StaffPrincipal:
        ctx = app_context(request)
        verified, user = await ctx.tokens.verify_and_load(
            self.token(request),
            TokenAudience.STAFF,
            idle_seconds=STAFF_IDLE_SECONDS,
            load=_staff_user,
        )
        if user is None or not user.active:
            raise Unauthenticated()
        principal = StaffPrincipal(
            user_id=user.id,
            username=user.username,
            role=Role(user.role),
            jurisdiction=Jurisdiction(user.jurisdiction_kind, user.jurisdiction_id),
            session_id=verified.session_id,
            context=request_context(request),
        )
        request.state.actor = principal.actor  # the access log's actor reference
        # First, so a one-time-password session learns the one thing it must do, whatever
        # the route.
        if user.must_change_password and self.required not in ONE_TIME_PASSWORD_PERMISSIONS:
            raise PasswordChangeRequired()
        if not principal.can(self.required):
            raise Forbidden()
        # A per-user request budget, so a stolen staff login cannot be used at machine speed.
        limit = Limit("staff-per-user", ctx.settings.api_requests_per_minute, 60)
        await ctx.limiter.hit(limit, str(user.id))
        return principal


_GUARDS: dict[Permission, StaffGuard] = {}


def STAFF(permission: Permission) -> StaffGuard:
    """The one guard instance per permission (so route tables can compare them)."""
    guard = _GUARDS.get(permission)
    if guard is None:
        guard = _GUARDS[permission] = StaffGuard(permission)
    return guard
