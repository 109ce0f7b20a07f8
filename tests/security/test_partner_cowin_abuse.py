"""Abuse of the Co-WIN compatible partner path (``x-api-key`` login): no identifier oracle,
no look-up by mobile, keys and tokens that do not fit, another person's object, oversized
and unknown input. Runs on both databases."""

from __future__ import annotations

import pytest

from immunet.partners import service
from immunet.staff.principal import OPERATOR_CLI
from tests.conftest import bearer, login, sha
from tests.factories import adult
from tests.factories.partners import register_partner

GENERATE = "/api/v2/auth/generateOTP"
CONFIRM = "/api/v2/auth/confirmOTP"


async def _app_token(client, outbox, api_key: str, mobile: str) -> str:
    headers = {"x-api-key": api_key}
    sent = await client.post(GENERATE, json={"mobile": mobile}, headers=headers)
    assert sent.status_code == 200, sent.text
    body = {"otp": sha(outbox.last_otp(mobile)), "txnId": sent.json()["txnId"]}
    confirmed = await client.post(CONFIRM, json=body, headers=headers)
    assert confirmed.status_code == 200, confirmed.text
    return str(confirmed.json()["token"])


async def test_answers_do_not_tell_whether_a_mobile_is_registered(client, ctx, outbox):
    partner = await register_partner(ctx)
    assert partner.api_key
    headers = {"x-api-key": partner.api_key}
    await login(client, outbox, "9876500021")  # now registered
    registered = await client.post(GENERATE, json={"mobile": "9876500021"}, headers=headers)
    unknown = await client.post(GENERATE, json={"mobile": "9876500022"}, headers=headers)
    assert registered.status_code == unknown.status_code == 200
    assert registered.json().keys() == unknown.json().keys() == {"txnId"}
    assert sorted(registered.headers.keys()) == sorted(unknown.headers.keys())
    wrong = []
    for response in (registered, unknown):
        body = {"otp": sha("000000"), "txnId": response.json()["txnId"]}
        answer = await client.post(CONFIRM, json=body, headers=headers)
        wrong.append((answer.status_code, answer.json()))
    assert wrong[0] == wrong[1] and wrong[0][0] == 401


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-api-key": ""}, {"x-api-key": "imk_" + "A" * 43}, {"x-api-key": "x" * 5000}],
)
async def test_missing_or_wrong_api_key_is_401_and_sends_nothing(client, ctx, outbox, headers):
    await register_partner(ctx)
    response = await client.post(GENERATE, json={"mobile": "9876500023"}, headers=headers)
    assert response.status_code in (401, 431), response.text
    if response.status_code == 401:
        assert response.json()["errorCode"] == "USRAUT0010"
    assert outbox.messages() == []


async def test_the_old_key_stops_at_rotation(client, ctx, outbox):
    partner = await register_partner(ctx)
    assert partner.api_key
    new_key = await service.rotate_api_key(ctx, client_id=partner.client_id, actor=OPERATOR_CLI)
    old = await client.post(
        GENERATE, json={"mobile": "9876500024"}, headers={"x-api-key": partner.api_key}
    )
    assert old.status_code == 401
    fresh = await client.post(
        GENERATE, json={"mobile": "9876500024"}, headers={"x-api-key": new_key}
    )
    assert fresh.status_code == 200


async def test_unknown_fields_and_oversized_bodies_change_nothing(client, ctx, outbox):
    partner = await register_partner(ctx)
    assert partner.api_key
    headers = {"x-api-key": partner.api_key}
    extra = await client.post(
        GENERATE, json={"mobile": "9876500025", "beneficiary": "x"}, headers=headers
    )
    assert extra.status_code in (400, 422) and set(extra.json()) == {"errorCode", "error"}
    big = await client.post(GENERATE, json={"mobile": "9" * 100_000}, headers=headers)
    assert big.status_code in (400, 413, 422)
    assert outbox.messages() == []


async def test_partner_token_cannot_touch_another_accounts_beneficiary(client, ctx, outbox):
    partner = await register_partner(ctx)
    assert partner.api_key
    other = await login(client, outbox, "9876500026")
    created = await client.post(
        "/api/v2/registration/beneficiary/new", json=adult("Ravi Kumar"), headers=bearer(other)
    )
    assert created.status_code == 200
    reference = created.json()["beneficiary_reference_id"]
    token = await _app_token(client, outbox, partner.api_key, "9876500027")
    listing = await client.get("/api/v2/appointment/beneficiaries", headers=bearer(token))
    assert listing.status_code == 200 and listing.json()["beneficiaries"] == []
    certificate = await client.get(
        "/api/v2/registration/certificate/public/download",
        params={"beneficiary_reference_id": reference},
        headers=bearer(token),
    )
    assert certificate.status_code in (403, 404)
    # Nor may it act as the citizen on routes outside Co-WIN's protected set.
    register = await client.post(
        "/api/v2/registration/beneficiary/new", json=adult(), headers=bearer(token)
    )
    assert register.status_code == 401


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v2/vaccinator/beneficiaries/findByMobile"),
        ("POST", "/api/v2/vaccinator/beneficiaries/findByMobile"),
        ("GET", "/api/v2/vaccinator/beneficiaries/findByBeneficiaryId"),
        ("GET", "/api/v2/registration/beneficiary/search"),
        ("GET", "/api/v2/beneficiary/findByMobile"),
    ],
)
async def test_cowin_vaccinator_lookups_stay_absent(client, ctx, outbox, method, path):
    partner = await register_partner(ctx)
    assert partner.api_key
    token = await _app_token(client, outbox, partner.api_key, "9876500028")
    headers = {"x-api-key": partner.api_key, **bearer(token)}
    response = await client.request(
        method,
        path,
        params={"mobile": "9876500028"} if method == "GET" else None,
        json={"mobile": "9876500028"} if method == "POST" else None,
        headers=headers,
    )
    assert response.status_code == 404, response.text
    assert "9876500028" not in response.text
