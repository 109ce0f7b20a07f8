"""The partner registry's staff API: only national admins; bad input changes nothing."""

from __future__ import annotations

import pytest
from joserfc.jwk import ECKey

from immunet.partners import service
from tests.conftest import bearer, login
from tests.factories.partners import REDIRECT_URI, new_keys, register_partner
from tests.factories.staff_flow import add_staff, staff_login


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"staff_password_memory_kib": 1024})


def _body(**changes):
    body = {
        "name": "Abuse App",
        "purpose": "Testing",
        "contact": "ops@example.org",
        "jwks": new_keys().public_jwks(),
        "redirect_uris": [REDIRECT_URI],
        "scopes": ["immunization.read"],
    }
    body.update(changes)
    return body


async def test_only_national_admins_reach_the_registry(client, ctx, outbox):
    partner = await register_partner(ctx)
    state = await add_staff(ctx, "state.admin", "state_admin", "state:1")
    state_token = await staff_login(client, state)
    citizen_token = await login(client, outbox, "9876500011")
    for token, status in ((state_token, 403), (citizen_token, 401), ("not-a-token", 401)):
        assert (
            await client.post("/api/staff/partners", headers=bearer(token), json=_body())
        ).status_code == status
        assert (
            await client.get("/api/staff/partners", headers=bearer(token))
        ).status_code == status
        assert (
            await client.post(
                f"/api/staff/partners/{partner.client_id}/rotate-key", headers=bearer(token)
            )
        ).status_code == status
    # The API key still works: nothing was rotated.
    assert await service.client_by_api_key(ctx, partner.api_key) is not None
    views, _ = await service.list_clients(ctx)
    assert [v.client_id for v in views] == [partner.client_id]


@pytest.mark.parametrize(
    "changes",
    [
        {"unknown": 1},
        {"name": "x" * 121},
        {"scopes": ["immunization.read", "admin"]},
        {"jwks": {"keys": [{**ECKey.generate_key("P-256").as_dict(private=True), "kid": "a"}]}},
        {"jwks": {"keys": [new_keys().public_jwks()["keys"][0]] * 9}},
        {"redirect_uris": ["https://a.example/" + "x" * 600]},
        {"redirect_uris": ["javascript:alert(1)"]},
        {"reads_per_minute": 0},
        {"allowed_cidrs": ["not-a-cidr"]},
        {"kind": "research"},  # a research client with person scopes
    ],
)
async def test_bad_registrations_change_nothing(client, ctx, changes):
    creds = await add_staff(ctx, "nat.abuse", "national_admin", "national")
    token = await staff_login(client, creds)
    response = await client.post(
        "/api/staff/partners", headers=bearer(token), json=_body(**changes)
    )
    assert response.status_code in (400, 422), response.text
    assert set(response.json()) == {"errorCode", "error"}
    assert (await service.list_clients(ctx))[0] == []


async def test_unknown_and_malformed_client_ids_are_one_404(client, ctx):
    creds = await add_staff(ctx, "nat.ids", "national_admin", "national")
    token = await staff_login(client, creds)
    answers = set()
    for client_id in ("imc_doesnotexist", "x", "%27%20OR%201%3D1"):
        response = await client.post(
            f"/api/staff/partners/{client_id}/suspend", headers=bearer(token), json={}
        )
        answers.add((response.status_code, response.text))
    assert answers == {(404, '{"errorCode":"PARTNER0404","error":"No such partner client."}')}
