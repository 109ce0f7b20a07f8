"""`immunet staff add/disable` in a separate process, from another directory, env vars only."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from immunet.demo import DEMO_STEPS
from immunet.staff.demo import DEMO_ADMIN, demo_admin
from tests.conftest import bearer
from tests.factories.staff_flow import StaffCredentials, staff_login


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"staff_password_memory_kib": 1024})


def _run(settings, tmp_path, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMMUNET_")}
    env.update(
        IMMUNET_ENV="test",
        IMMUNET_DATABASE_URL=settings.database_url,
        IMMUNET_KEYRING=str(settings.keyring),
        IMMUNET_SMS_BACKEND=settings.sms_backend,
        IMMUNET_STAFF_PASSWORD_MEMORY_KIB="1024",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "immunet.cli", "staff", *args],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_cli_add_json_then_login_then_disable(client, ctx, settings, keyring, tmp_path):
    keyring.save(settings.keyring)
    result = _run(
        settings,
        tmp_path,
        "add",
        "--username",
        "cli.admin",
        "--role",
        "district_admin",
        "--jurisdiction",
        "district:1",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    # Exactly one JSON object on stdout, nothing else.
    payload = json.loads(result.stdout)
    assert result.stdout.strip().count("\n") == 0
    assert set(payload) == {"username", "password", "otpauth_uri"}
    assert payload["otpauth_uri"].startswith("otpauth://totp/immunet:cli.admin?")
    assert "cli.admin" not in result.stdout.replace(payload["username"], "").replace(
        payload["otpauth_uri"], ""
    )

    creds = StaffCredentials(payload["username"], payload["password"], payload["otpauth_uri"])
    token = await staff_login(client, creds)
    me = (await client.get("/api/staff/me", headers=bearer(token))).json()
    assert me["role"] == "district_admin" and me["jurisdiction"] == "district:1"

    again = _run(
        settings,
        tmp_path,
        "add",
        "--username",
        "cli.admin",
        "--role",
        "verifier",
        "--jurisdiction",
        "national",
        "--json",
    )
    assert again.returncode != 0
    assert again.stdout == ""

    disabled = _run(settings, tmp_path, "disable", "--username", "cli.admin")
    assert disabled.returncode == 0, disabled.stderr
    assert (await client.get("/api/staff/me", headers=bearer(token))).status_code == 401


async def test_cli_rejects_bad_input(settings, keyring, tmp_path, ctx):
    keyring.save(settings.keyring)
    bad_place = _run(
        settings,
        tmp_path,
        "add",
        "--username",
        "x.y.z",
        "--role",
        "verifier",
        "--jurisdiction",
        "district:abc",
        "--json",
    )
    assert bad_place.returncode == 2 and bad_place.stdout == ""
    unknown = _run(
        settings,
        tmp_path,
        "add",
        "--username",
        "x.y.z",
        "--role",
        "vaccinator",
        "--jurisdiction",
        "center:424242",
        "--json",
    )
    assert unknown.returncode == 1 and unknown.stdout == ""
    missing = _run(settings, tmp_path, "disable", "--username", "nobody")
    assert missing.returncode == 1


async def test_demo_admin_is_idempotent(client, ctx, settings, keyring):
    keyring.save(settings.keyring)
    assert demo_admin in DEMO_STEPS
    lines = await demo_admin(settings)
    joined = "\n".join(lines)
    assert DEMO_ADMIN in joined and "otpauth://totp/" in joined
    password = lines[0].rsplit("one-time password ", 1)[1].strip()
    uri = lines[1].split("TOTP:", 1)[1].strip()
    token = await staff_login(client, StaffCredentials(DEMO_ADMIN, password, uri))
    assert (await client.get("/api/staff/me", headers=bearer(token))).json()["role"] == (
        "national_admin"
    )
    again = await demo_admin(settings)
    assert "already exists" in "\n".join(again)


async def test_keys_reencrypt_reseals_totp_secrets(ctx, settings, keyring, tmp_path):
    from sqlalchemy import select

    from immunet.security.keyring import Keyring
    from immunet.security.reencrypt import reencrypt_all
    from immunet.staff.models import StaffUser
    from tests.factories.staff_flow import add_staff

    creds = await add_staff(ctx, "sealed.user", "verifier", "national")
    keyring.save(settings.keyring)
    rotated = Keyring.load(settings.keyring)  # a copy: the session key ring stays as it is
    rotated.rotate()
    assert await reencrypt_all(settings, keyring=rotated) >= 1
    async with ctx.db.reader() as session:
        user = (
            await session.execute(select(StaffUser).where(StaffUser.username == "sealed.user"))
        ).scalar_one()
    assert rotated.field_cipher.is_current(user.totp_secret_ct)
    secret = rotated.field_cipher.decrypt(user.totp_secret_ct, context="staff:sealed.user:totp")
    assert f"secret={secret}" in creds.otpauth_uri
