"""Pure staff rules: TOTP windows, password hashing, jurisdiction parsing and SQL filters."""

from __future__ import annotations

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.dialects import sqlite

from immunet.geography.centers import Center
from immunet.settings import Settings
from immunet.staff.credentials import (
    hash_password,
    matching_totp_step,
    new_one_time_password,
    new_totp_secret,
    otpauth_uri,
    verify_password,
)
from immunet.staff.jurisdiction import center_filter, staff_user_filter
from immunet.staff.models import StaffUser
from immunet.staff.principal import InvalidJurisdiction, Jurisdiction


def test_totp_window_is_plus_minus_one_step():
    secret = new_totp_secret()
    totp = pyotp.TOTP(secret)
    now = 1_700_000_000
    step = now // 30
    assert matching_totp_step(secret, totp.at(now), now=now) == step
    assert matching_totp_step(secret, totp.at(now - 30), now=now) in (step - 1, step, step + 1)
    assert matching_totp_step(secret, totp.at(now + 30), now=now) in (step - 1, step, step + 1)
    far = totp.at(now + 120)
    if far not in (totp.at(now - 30), totp.at(now), totp.at(now + 30)):
        assert matching_totp_step(secret, far, now=now) is None
    assert matching_totp_step(secret, "", now=now) is None
    assert matching_totp_step(secret, "١٢٣٤٥٦", now=now) is None


@given(st.text(max_size=12))
def test_totp_never_matches_non_codes(code):
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    step = matching_totp_step(secret, code, now=1_700_000_000)
    if step is not None:
        assert code == pyotp.TOTP(secret).at(step * 30)


async def test_password_hash_is_argon2id_and_verifies():
    password = new_one_time_password()
    assert len(password) >= 16
    hashed = await hash_password(password, memory_kib=1024)
    assert hashed.startswith("$argon2id$") and "t=3" in hashed
    assert await verify_password(hashed, password, memory_kib=1024)
    assert not await verify_password(hashed, password + "x", memory_kib=1024)
    assert not await verify_password(None, password, memory_kib=1024)
    assert not await verify_password("not-a-hash", password, memory_kib=1024)


def test_production_parameters():
    assert Settings.model_fields["staff_password_memory_kib"].default == 65536
    with pytest.raises(ValueError):
        Settings(staff_password_memory_kib=64)


def test_otpauth_uri():
    uri = otpauth_uri(new_totp_secret(), "fm.one")
    assert uri.startswith("otpauth://totp/immunet:fm.one?") and "issuer=immunet" in uri


@pytest.mark.parametrize(
    "text",
    [
        "",
        "nation",
        "state",
        "state:",
        "state:x",
        "state:-1",
        "district:1:2",
        "center: 1",
        "block:3",
        "state:１",
        "NATIONAL",
    ],
)
def test_bad_jurisdictions(text):
    with pytest.raises(InvalidJurisdiction):
        Jurisdiction.parse(text)


@pytest.mark.parametrize("text", ["national", "state:16", "district:265", "center:12345"])
def test_jurisdiction_round_trip(text):
    assert str(Jurisdiction.parse(text)) == text


def _sql(clause) -> str:
    return str(
        select(Center.center_id)
        .where(clause)
        .compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
    )


def test_center_filter_per_kind():
    assert "WHERE 1 = 1" in _sql(center_filter(Jurisdiction("national", None)))
    assert "centers.state_id = 7" in _sql(center_filter(Jurisdiction("state", 7)))
    assert "centers.district_id = 9" in _sql(center_filter(Jurisdiction("district", 9)))
    assert "centers.center_id = 5" in _sql(center_filter(Jurisdiction("center", 5)))
    assert "0 = 1" in _sql(center_filter(Jurisdiction("state", None)))


def test_staff_user_filter_center_is_exact():
    sql = str(
        select(StaffUser.id)
        .where(staff_user_filter(Jurisdiction("center", 5)))
        .compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
    )
    assert "jurisdiction_kind = 'center'" in sql and "jurisdiction_id = 5" in sql
