"""The Co-WIN compatible partner path as a 2021 partner app called it (Co-WIN "Protected
APIs" v2.1.0: ``x-api-key`` on every call, ``generateOTP`` / ``confirmOTP``, then the
protected routes with ``Authorization: Bearer``). Checked: the token is bound to the partner
(access log, consents, revocation, suspension, quotas), and only to the protected routes.

No 2021 client library fits: ``cowin-api`` 1.0.1 (generated from that very spec) fails at
import (its API modules name ``models.IO``, which its models module never defines, and its
models are pydantic v1 with ``_from`` fields); the other wrappers on PyPI (``cowin``,
``cowin-async``, ``basic-cowin-api``, ``cowin-app-services``) call only the public routes,
with the host hard-coded and no ``x-api-key``. So this app sends the spec's bodies itself."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from immunet.partners import service
from immunet.partners.misuse import BREACHES_PER_HOUR
from immunet.staff.principal import OPERATOR_CLI
from tests.conftest import bearer, login, sha
from tests.factories import adult
from tests.factories.partners import register_partner
from tests.factories.sessions import make_session

MOBILE = "9876500011"
SLOT = "09:00AM-11:00AM"


class CowinApp:
    """A 2021 partner app: its x-api-key on every call, the citizen token once known."""

    def __init__(self, client: httpx.AsyncClient, api_key: str) -> None:
        self.client = client
        self.api_key = api_key
        self.token: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {"x-api-key": self.api_key}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    async def post(self, path: str, body: dict[str, object]) -> httpx.Response:
        return await self.client.post(f"/api/v2/{path}", json=body, headers=self.headers())

    async def get(self, path: str, **params: str) -> httpx.Response:
        return await self.client.get(f"/api/v2/{path}", params=params, headers=self.headers())

    async def login(self, outbox, mobile: str = MOBILE) -> str:
        sent = await self.post("auth/generateOTP", {"mobile": mobile})
        assert sent.status_code == 200, sent.text
        otp = sha(outbox.last_otp(mobile))
        confirmed = await self.post("auth/confirmOTP", {"otp": otp, "txnId": sent.json()["txnId"]})
        assert confirmed.status_code == 200, confirmed.text
        self.token = str(confirmed.json()["token"])
        return self.token

    async def beneficiaries(self) -> httpx.Response:
        return await self.get("appointment/beneficiaries")


@pytest.fixture
async def app_and_citizen(client, ctx, outbox) -> AsyncIterator[tuple[CowinApp, str, str]]:
    partner = await register_partner(ctx, name="Vaccine Finder")
    assert partner.api_key is not None
    citizen = await login(client, outbox, MOBILE)
    response = await client.post(
        "/api/v2/registration/beneficiary/new", json=adult(), headers=bearer(citizen)
    )
    assert response.status_code == 200, response.text
    reference = response.json()["beneficiary_reference_id"]
    app = CowinApp(client, partner.api_key)
    yield app, reference, partner.client_id


async def test_cowin_client_books_through_partner_login(client, ctx, outbox, app_and_citizen):
    app, reference, _client_id = app_and_citizen
    await app.login(outbox)
    listing = await app.beneficiaries()
    assert listing.status_code == 200, listing.text
    (person,) = listing.json()["beneficiaries"]
    assert person["beneficiary_reference_id"] == reference

    first = await make_session(ctx, capacity_dose1=2)
    second = await make_session(ctx, days_ahead=2, capacity_dose1=2)
    booked = await app.post(
        "appointment/schedule",
        {"dose": 1, "session_id": first.session_id, "slot": SLOT, "beneficiaries": [reference]},
    )
    assert booked.status_code == 200, booked.text
    appointment_id = booked.json()["appointment_confirmation_no"]
    slip = await app.get("appointment/appointmentslip/download", appointment_id=appointment_id)
    assert slip.status_code == 200 and slip.content.startswith(b"%PDF")
    moved = await app.post(
        "appointment/reschedule",
        {"appointment_id": appointment_id, "session_id": second.session_id, "slot": SLOT},
    )
    assert moved.status_code == 204, moved.text
    cancelled = await app.post(
        "appointment/cancel",
        {"appointment_id": appointment_id, "beneficiariesToCancel": [reference]},
    )
    assert cancelled.status_code == 204, cancelled.text
    # The certificate download is reachable with the token (no dose yet, so no certificate).
    download = await app.get(
        "registration/certificate/public/download", beneficiary_reference_id=reference
    )
    assert download.status_code in (404, 409), download.text
    assert download.json()["errorCode"]

    # The citizen's own views: the partner in the access log, the login as a consent.
    citizen = await login(client, outbox, MOBILE)
    log = (await client.get("/api/v2/me/access-log", headers=bearer(citizen))).json()
    assert any(
        e["who"] == {"organisation": "Vaccine Finder", "role": "partner"} for e in log["entries"]
    ), log
    consents = (await client.get("/api/v2/me/consents", headers=bearer(citizen))).json()
    (consent,) = consents["consents"]
    assert consent["partner"] == "Vaccine Finder" and consent["status"] == "active"
    assert consent["beneficiary_reference_id"] == "*"
    assert "appointment.write" in consent["scopes"]

    # The partner-bound token reaches only Co-WIN's protected routes, not the citizen's own.
    for path in ("/api/v2/me/consents", "/api/v2/me/access-log"):
        assert (await client.get(path, headers=bearer(app.token or ""))).status_code == 401

    # Revocation cuts the unexpired token on the partner's next call.
    revoked = await client.post(
        f"/api/v2/me/consents/{consent['consent_id']}/revoke", headers=bearer(citizen)
    )
    assert revoked.status_code == 204
    assert (await app.beneficiaries()).status_code == 401
    consents = (await client.get("/api/v2/me/consents", headers=bearer(citizen))).json()
    assert consents["consents"][0]["status"] == "revoked"
    # The citizen's own token is untouched.
    own = await client.get("/api/v2/appointment/beneficiaries", headers=bearer(citizen))
    assert own.status_code == 200


async def test_suspension_stops_login_and_token(client, ctx, outbox, app_and_citizen):
    app, _reference, client_id = app_and_citizen
    await app.login(outbox)
    assert (await app.beneficiaries()).status_code == 200
    await service.suspend_client(ctx, client_id=client_id, actor=OPERATOR_CLI, reason="test")
    assert (await app.beneficiaries()).status_code == 401
    sent = await app.post("auth/generateOTP", {"mobile": MOBILE})
    assert sent.status_code == 401 and sent.json()["errorCode"] == "USRAUT0010"


async def test_quota_429_then_suspension(client, ctx, outbox, settings):
    partner = await register_partner(ctx, name="Greedy App", reads_per_minute=2)
    assert partner.api_key is not None
    await login(client, outbox, MOBILE)
    app = CowinApp(client, partner.api_key)
    await app.login(outbox)
    statuses = [(await app.beneficiaries()).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    for _ in range(BREACHES_PER_HOUR - 1):
        assert (await app.beneficiaries()).status_code == 429
    # Past the breaches an hour allows, the client is suspended: its token stops.
    assert (await app.beneficiaries()).status_code == 429
    assert (await app.beneficiaries()).status_code == 401
    (view,), _ = await service.list_clients(ctx)
    assert view.state == "suspended"


async def test_otp_from_one_app_is_not_confirmed_by_another(client, ctx, outbox):
    first = await register_partner(ctx, name="First App")
    second = await register_partner(ctx, name="Second App")
    assert first.api_key and second.api_key
    sent = await client.post(
        "/api/v2/auth/generateOTP", json={"mobile": MOBILE}, headers={"x-api-key": first.api_key}
    )
    assert sent.status_code == 200
    body = {"otp": sha(outbox.last_otp(MOBILE)), "txnId": sent.json()["txnId"]}
    # Neither another app nor the public route may confirm it.
    other = await client.post(
        "/api/v2/auth/confirmOTP", json=body, headers={"x-api-key": second.api_key}
    )
    assert other.status_code == 401
    public = await client.post("/api/v2/auth/public/confirmOTP", json=body)
    assert public.status_code == 401
