"""Staff login with password + TOTP: success, failures, throttling, replay, sessions, timeouts."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select, update

from immunet.db.base import utcnow
from immunet.security.audit import AuditAction, AuditChain
from immunet.security.models import AuditEvent, AuthSession
from tests.conftest import bearer
from tests.factories.staff_flow import add_staff, staff_login

UA = {"User-Agent": "immunet-test/1.0 (console)"}


@pytest.fixture
def settings(settings):
    # Fast argon2 for tests; production keeps 64 MiB.
    return settings.model_copy(update={"staff_password_memory_kib": 1024})


async def _audit(ctx, action):
    async with ctx.db.reader() as session:
        rows = (
            await session.execute(select(AuditEvent).where(AuditEvent.action == str(action)))
        ).scalars()
        return list(rows)


async def test_login_me_logout(client, ctx):
    creds = await add_staff(ctx, "nat.admin", "national_admin", "national")
    response = await client.post("/api/staff/auth/login", json=creds.login_body(), headers=UA)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"token", "role", "expires_in"}
    assert body["role"] == "national_admin"
    assert body["expires_in"] == 12 * 3600
    assert response.headers["cache-control"] == "no-store"
    token = body["token"]

    me = await client.get("/api/staff/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json()["username"] == "nat.admin"
    assert me.json()["role"] == "national_admin"
    assert me.json()["jurisdiction"] == "national"
    assert "staff:user:create" in me.json()["permissions"]

    out = await client.post("/api/staff/auth/logout", headers={**bearer(token), **UA})
    assert out.status_code == 204
    assert (await client.get("/api/staff/me", headers=bearer(token))).status_code == 401

    (login_event,) = await _audit(ctx, AuditAction.STAFF_LOGIN)
    assert login_event.client_address == "203.0.113.7"
    assert json.loads(login_event.detail)["user_agent"] == UA["User-Agent"]
    assert "nat.admin" not in (login_event.detail or "")
    (logout_event,) = await _audit(ctx, AuditAction.STAFF_LOGOUT)
    assert logout_event.actor == login_event.actor
    assert logout_event.client_address == "203.0.113.7"
    async with ctx.db.reader() as session:
        assert (await AuditChain.verify(session)).ok


async def test_every_failure_is_the_same_401_and_audited(client, ctx):
    creds = await add_staff(ctx, "fail.user", "national_admin", "national")
    attempts = [
        {**creds.login_body(), "password": "wrong-password"},
        {**creds.login_body(), "totp": "000000" if creds.totp() != "000000" else "111111"},
        {**creds.login_body(), "username": "no.such.user"},
    ]
    bodies = []
    for attempt in attempts:
        response = await client.post("/api/staff/auth/login", json=attempt, headers=UA)
        assert response.status_code == 401
        bodies.append(response.json())
    assert bodies[0] == bodies[1] == bodies[2]
    assert bodies[0]["errorCode"] == "STAFF0401"
    failures = await _audit(ctx, AuditAction.STAFF_LOGIN_FAILED)
    assert len(failures) == 3
    assert all(f.client_address == "203.0.113.7" for f in failures)
    assert all(json.loads(f.detail)["user_agent"] == UA["User-Agent"] for f in failures)
    # The typed username and password never reach the audit log.
    assert not any(
        "no.such.user" in (f.detail or "") or "wrong-password" in (f.detail or "") for f in failures
    )


async def test_user_agent_is_truncated_in_audit(client, ctx):
    creds = await add_staff(ctx, "ua.user", "national_admin", "national")
    await client.post(
        "/api/staff/auth/login", json=creds.login_body(), headers={"User-Agent": "x" * 1000}
    )
    (event,) = await _audit(ctx, AuditAction.STAFF_LOGIN)
    assert len(json.loads(event.detail)["user_agent"]) == 120


async def test_failed_logins_are_throttled_per_username_and_address(client, client_with, ctx):
    creds = await add_staff(ctx, "throttled", "district_admin", "district:1")
    for _ in range(5):
        response = await client.post(
            "/api/staff/auth/login", json={**creds.login_body(), "password": "nope"}
        )
        assert response.status_code == 401
    # From that address, even the right password and code are now refused, with a Retry-After.
    response = await client.post("/api/staff/auth/login", json=creds.login_body())
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["errorCode"] == "STAFF0429"
    # Username case does not dodge the counter.
    upper = {**creds.login_body(), "username": "THROTTLED"}
    assert (await client.post("/api/staff/auth/login", json=upper)).status_code == 429
    # The staff member at their own desk is not locked out by the guesser elsewhere.
    desk = await client_with(peer="198.51.100.20")
    response = await desk.post("/api/staff/auth/login", json=creds.login_body())
    assert response.status_code == 200, response.text


async def test_a_distributed_guess_meets_the_per_user_ceiling(client_with, ctx):
    limits = {"staff_login_failures_per_user_address": 3, "staff_login_failures_per_user": 7}
    creds = await add_staff(ctx, "ceiling", "district_admin", "district:1")
    wrong = {**creds.login_body(), "password": "nope"}
    statuses = []
    for n in range(3):
        guesser = await client_with(peer=f"192.0.2.{n + 10}", **limits)
        for _ in range(3):
            statuses.append((await guesser.post("/api/staff/auth/login", json=wrong)).status_code)
    # 7 failures counted (3 + 3 + 1), then the ceiling answers for every address.
    assert statuses == [401] * 7 + [429] * 2
    desk = await client_with(peer="198.51.100.20", **limits)
    response = await desk.post("/api/staff/auth/login", json=creds.login_body())
    assert response.status_code == 429
    assert response.json()["errorCode"] == "STAFF0429"
    # Another user is untouched.
    other = await add_staff(ctx, "other.user", "district_admin", "district:1")
    assert (await desk.post("/api/staff/auth/login", json=other.login_body())).status_code == 200


def test_the_per_user_ceiling_stays_above_the_per_address_limit():
    from pydantic import ValidationError

    from immunet.settings import Settings

    defaults = Settings()
    assert defaults.staff_login_failures_per_user >= 10 * (
        defaults.staff_login_failures_per_user_address
    )
    assert defaults.staff_login_failures_per_user <= 100  # NIST SP 800-63B 5.2.2
    with pytest.raises(ValidationError):
        Settings(staff_login_failures_per_user=4, staff_login_failures_per_user_address=5)


async def test_failed_logins_are_throttled_per_address(client, ctx):
    creds = await add_staff(ctx, "victim", "national_admin", "national")
    for i in range(20):
        response = await client.post(
            "/api/staff/auth/login",
            json={"username": f"guess{i}", "password": "pw", "totp": "123456"},
        )
        assert response.status_code == 401
    response = await client.post("/api/staff/auth/login", json=creds.login_body())
    assert response.status_code == 429
    assert "retry-after" in response.headers


async def test_totp_code_is_single_use(client, ctx):
    creds = await add_staff(ctx, "replay", "national_admin", "national")
    body = creds.login_body()
    first = await client.post("/api/staff/auth/login", json=body)
    assert first.status_code == 200
    again = await client.post("/api/staff/auth/login", json=body)
    assert again.status_code == 401
    assert again.json()["errorCode"] == "STAFF0401"
    # The next step's code (inside valid_window=1) still works once.
    assert (
        await client.post("/api/staff/auth/login", json=creds.login_body(steps_ahead=1))
    ).status_code == 200


async def test_one_active_session_per_user(client, ctx):
    creds = await add_staff(ctx, "single", "national_admin", "national")
    first = await staff_login(client, creds)
    second = await staff_login(client, creds, steps_ahead=1)
    assert (await client.get("/api/staff/me", headers=bearer(first))).status_code == 401
    assert (await client.get("/api/staff/me", headers=bearer(second))).status_code == 200


async def _age_session(ctx, *, last_seen=None, expires=None):
    values = {}
    if last_seen is not None:
        values["last_seen_at"] = last_seen
    if expires is not None:
        values["expires_at"] = expires
    async with ctx.db.transaction() as session:
        await session.execute(
            update(AuthSession).where(AuthSession.audience == "staff").values(**values)
        )


async def test_idle_timeout_15_minutes(client, ctx):
    creds = await add_staff(ctx, "idle", "national_admin", "national")
    token = await staff_login(client, creds)
    await _age_session(ctx, last_seen=utcnow() - dt.timedelta(minutes=14))
    assert (await client.get("/api/staff/me", headers=bearer(token))).status_code == 200
    await _age_session(ctx, last_seen=utcnow() - dt.timedelta(minutes=15, seconds=1))
    response = await client.get("/api/staff/me", headers=bearer(token))
    assert response.status_code == 401


async def test_absolute_timeout_12_hours(client, ctx):
    creds = await add_staff(ctx, "absolute", "national_admin", "national")
    token = await staff_login(client, creds)
    async with ctx.db.reader() as session:
        row = (await session.execute(select(AuthSession))).scalar_one()
    assert (
        dt.timedelta(hours=11, minutes=59)
        < row.expires_at - row.created_at
        <= dt.timedelta(hours=12)
    )
    # Active all along (recently seen) but past the absolute limit: refused.
    await _age_session(ctx, last_seen=utcnow(), expires=utcnow() - dt.timedelta(seconds=1))
    assert (await client.get("/api/staff/me", headers=bearer(token))).status_code == 401


async def test_disabled_user_cannot_log_in(client, ctx):
    nat = await add_staff(ctx, "nat", "national_admin", "national")
    vac = await add_staff(ctx, "dis.user", "verifier", "national")
    token = await staff_login(client, nat)
    vac_token = await staff_login(client, vac)
    response = await client.post("/api/staff/users/dis.user/disable", headers=bearer(token))
    assert response.status_code == 204
    assert (await client.get("/api/staff/me", headers=bearer(vac_token))).status_code == 401
    response = await client.post("/api/staff/auth/login", json=vac.login_body(steps_ahead=1))
    assert response.status_code == 401
    assert response.json()["errorCode"] == "STAFF0401"


async def test_change_one_time_password(client, ctx):
    creds = await add_staff(ctx, "changer", "verifier", "national", one_time=True)
    token = await staff_login(client, creds)
    me = (await client.get("/api/staff/me", headers=bearer(token))).json()
    assert me["must_change_password"] is True

    async def change(current, new):
        return await client.post(
            "/api/staff/auth/password",
            json={"current_password": current, "new_password": new},
            headers=bearer(token),
        )

    assert (await change("wrong-current", "a-new-long-password")).status_code == 403
    assert (await change(creds.password, "short")).status_code == 422
    assert (await change(creds.password, creds.password)).status_code == 422
    assert (await change(creds.password, "a-new-long-password")).status_code == 204
    me = (await client.get("/api/staff/me", headers=bearer(token))).json()
    assert me["must_change_password"] is False
    assert len(await _audit(ctx, AuditAction.STAFF_PASSWORD_CHANGED)) == 1

    old = await client.post("/api/staff/auth/login", json=creds.login_body(steps_ahead=1))
    assert old.status_code == 401
    new_body = {**creds.login_body(steps_ahead=1), "password": "a-new-long-password"}
    assert (await client.post("/api/staff/auth/login", json=new_body)).status_code == 200
