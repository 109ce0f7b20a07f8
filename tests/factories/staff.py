"""Staff users for tests: a real StaffUser row (argon2id hash, sealed TOTP secret) and a token.

Tokens are issued directly by the token service, so tests of other areas need not go
through the login flow; tests of the login itself use the password and TOTP returned here.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from immunet.context import AppContext
from immunet.db.base import utcnow
from immunet.security.tokens import TokenAudience
from immunet.staff.credentials import hash_password, new_one_time_password, new_totp_secret
from immunet.staff.models import StaffUser
from immunet.staff.permissions import Role
from immunet.staff.principal import Jurisdiction

TEST_MEMORY_KIB = 1024  # argon2id memory for test users; the real default is 64 MiB
_numbers = itertools.count(1)


@dataclass(frozen=True)
class StaffLogin:
    user_id: int
    username: str
    password: str
    totp_secret: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_staff(
    ctx: AppContext,
    role: Role | str,
    jurisdiction: str = "national",
    *,
    username: str | None = None,
    active: bool = True,
) -> StaffLogin:
    """Insert a staff user with ``role`` over ``jurisdiction`` and issue a staff token."""
    role = Role(role)
    place = Jurisdiction.parse(jurisdiction)
    username = username or f"{role.value.replace('_', '-')}-{next(_numbers)}"
    password = new_one_time_password()
    secret = new_totp_secret()
    user = StaffUser(
        username=username,
        role=role.value,
        jurisdiction_kind=place.kind,
        jurisdiction_id=place.ref_id,
        password_hash=await hash_password(password, memory_kib=TEST_MEMORY_KIB),
        totp_secret_ct=ctx.keyring.field_cipher.encrypt(secret, context=f"staff:{username}:totp"),
        last_totp_step=0,
        active=active,
        must_change_password=False,
        created_by="test",
        created_at=utcnow(),
    )
    async with ctx.db.transaction() as session:
        session.add(user)
        await session.flush()
        user_id = user.id
    issued = await ctx.tokens.issue(TokenAudience.STAFF, str(user_id), lifetime_seconds=3600)
    return StaffLogin(user_id, username, password, secret, issued.token)
