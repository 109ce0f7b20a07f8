"""Staff test helpers for the real flow: provision via the service, log in with a TOTP code."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from dataclasses import dataclass
from itertools import count

import httpx
import pyotp
from sqlalchemy import update

from immunet.context import AppContext
from immunet.db.base import utcnow
from immunet.geography.centers import Center
from immunet.staff.credentials import hash_password
from immunet.staff.models import StaffUser
from immunet.staff.principal import OPERATOR_CLI, Jurisdiction
from immunet.staff.service import create_staff_user

_center_ids = count(900001)


@dataclass
class StaffCredentials:
    username: str
    password: str
    otpauth_uri: str

    def totp(self, *, steps_ahead: int = 0) -> str:
        """The code for now (or a later step: ``valid_window=1`` accepts the next one)."""
        return str(pyotp.parse_uri(self.otpauth_uri).at(int(time.time()) + 30 * steps_ahead))

    def login_body(self, *, steps_ahead: int = 0) -> dict[str, str]:
        return {
            "username": self.username,
            "password": self.password,
            "totp": self.totp(steps_ahead=steps_ahead),
        }


async def add_staff(
    ctx: AppContext, username: str, role: str, jurisdiction: str, *, one_time: bool = False
) -> StaffCredentials:
    """Create a staff user as the command line does (``operator:cli``).

    The user has already replaced the one-time password (a session holding one may only
    change it), unless ``one_time``: then the credentials carry the one-time password.
    """
    created = await create_staff_user(
        ctx,
        username=username,
        role=role,
        jurisdiction=Jurisdiction.parse(jurisdiction),
        actor=OPERATOR_CLI,
    )
    if one_time:
        return StaffCredentials(
            created.user.username, created.one_time_password, created.otpauth_uri
        )
    password = secrets.token_urlsafe(18)
    new_hash = await hash_password(password, memory_kib=ctx.settings.staff_password_memory_kib)
    async with ctx.db.transaction() as session:
        await session.execute(
            update(StaffUser)
            .where(StaffUser.id == created.user.id)
            .values(password_hash=new_hash, must_change_password=False)
        )
    return StaffCredentials(created.user.username, password, created.otpauth_uri)


async def staff_login(
    client: httpx.AsyncClient, creds: StaffCredentials, *, steps_ahead: int = 0
) -> str:
    response = await client.post(
        "/api/staff/auth/login", json=creds.login_body(steps_ahead=steps_ahead)
    )
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


async def insert_center(ctx: AppContext, *, state_id: int, district_id: int) -> int:
    """A bare centre row (test setup only), so centre-scoped staff have somewhere to be."""
    center_id = next(_center_ids)
    async with ctx.db.transaction() as session:
        session.add(
            Center(
                center_id=center_id,
                name=f"Test centre {center_id}",
                address="Test road",
                state_id=state_id,
                district_id=district_id,
                block_name="Test block",
                pincode="744101",
                lat=11.6,
                long=92.7,
                opens_at=dt.time(9, 0),
                closes_at=dt.time(17, 0),
                fee_type="Free",
                active=True,
                created_by="test",
                created_at=utcnow(),
            )
        )
    return center_id
