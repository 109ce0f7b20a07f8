"""Demo data for staff: one national admin, ``demo-admin`` (created once, never twice)."""

from __future__ import annotations

from sqlalchemy import select

from immunet.context import build_context
from immunet.settings import Settings
from immunet.staff.jurisdiction import NATIONAL
from immunet.staff.models import StaffUser
from immunet.staff.permissions import Role
from immunet.staff.principal import OperatorPrincipal
from immunet.staff.service import create_staff_user

DEMO_ADMIN = "demo-admin"


async def demo_admin(settings: Settings) -> list[str]:
    ctx = build_context(settings)
    try:
        async with ctx.db.reader() as session:
            exists = (
                await session.execute(select(StaffUser.id).where(StaffUser.username == DEMO_ADMIN))
            ).scalar_one_or_none()
        if exists is not None:
            return [
                f"Staff:      {DEMO_ADMIN} (national_admin) already exists; its one-time "
                "password and TOTP URI were printed when it was created"
            ]
        created = await create_staff_user(
            ctx,
            username=DEMO_ADMIN,
            role=Role.NATIONAL_ADMIN,
            jurisdiction=NATIONAL,
            actor=OperatorPrincipal("demo"),
        )
    finally:
        await ctx.close()
    return [
        f"Staff:      {DEMO_ADMIN} (national_admin), one-time password {created.one_time_password}",
        f"  TOTP:     {created.otpauth_uri}",
        '  code now: python -c "import pyotp,sys; print(pyotp.parse_uri(sys.argv[1]).now())" '
        f"'{created.otpauth_uri}'",
        '  login:    POST /api/staff/auth/login {"username", "password", "totp"}',
        '  then:     POST /api/staff/auth/password {"current_password", "new_password"} '
        "(a one-time password allows nothing else)",
    ]
