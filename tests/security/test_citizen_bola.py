"""Citizen-side object access (D28–D36), ID-number oracle (A3–A4), payload abuse (H62–H64)."""

from __future__ import annotations

import pytest

from tests.conftest import bearer, login, register
from tests.factories import aadhaar, adult

BENEFICIARIES = "/api/v2/appointment/beneficiaries"
DELETE = "/api/v2/registration/beneficiary/delete"
NEW = "/api/v2/registration/beneficiary/new"

DOCUMENTED_KEYS = {
    "beneficiary_reference_id",
    "name",
    "birth_year",
    "gender",
    "mobile_number",
    "photo_id_type",
    "photo_id_number",
    "comorbidity_ind",
    "vaccination_status",
    "vaccine",
    "dose1_date",
    "dose2_date",
    "appointments",
}


@pytest.fixture
async def two_accounts(client, outbox):
    a = await login(client, outbox, "9811100001")
    b = await login(client, outbox, "9811100002")
    a_ref = (await register(client, a, adult("Asha A", id_number=aadhaar(11)))).json()[
        "beneficiary_reference_id"
    ]
    b_number = aadhaar(12)
    b_ref = (await register(client, b, adult("Bina B", id_number=b_number))).json()[
        "beneficiary_reference_id"
    ]
    return a, b, a_ref, b_ref, b_number


async def test_another_accounts_beneficiary_is_invisible(client, two_accounts):
    a, _b, _a_ref, _b_ref, _ = two_accounts
    listing = (await client.get(BENEFICIARIES, headers=bearer(a))).json()["beneficiaries"]
    assert [p["name"] for p in listing] == ["Asha A"]


async def test_deleting_another_accounts_beneficiary_looks_like_not_found(client, two_accounts):
    a, b, _a_ref, b_ref, _ = two_accounts
    forbidden = await client.post(
        DELETE, json={"beneficiary_reference_id": b_ref}, headers=bearer(a)
    )
    missing = await client.post(
        DELETE, json={"beneficiary_reference_id": "19999999999999"}, headers=bearer(a)
    )
    assert forbidden.status_code == missing.status_code == 404
    assert forbidden.json() == missing.json()
    still = (await client.get(BENEFICIARIES, headers=bearer(b))).json()["beneficiaries"]
    assert [p["beneficiary_reference_id"] for p in still] == [b_ref]


async def test_an_id_registered_elsewhere_is_accepted_without_disclosure(client, two_accounts):
    # A3: no "already registered" answer, no data from B's record. The duplicate is
    # flagged and resolved at the centre (tests/security/test_identifier_oracle.py).
    a, _b, _a_ref, b_ref, b_number = two_accounts
    taken = await register(client, a, adult("Someone", id_number=b_number))
    fresh = await register(client, a, adult("Someone Fresh", id_number=aadhaar(14)))
    assert taken.status_code == fresh.status_code == 200
    assert taken.json().keys() == fresh.json().keys() == {"beneficiary_reference_id"}
    assert "Bina" not in taken.text and b_number[-4:] not in taken.text
    assert b_ref not in taken.text
    # Re-adding one's own ID is refused: that answer is about the caller's own data only.
    own_again = await register(client, a, adult("Asha Again", id_number=aadhaar(11)))
    assert own_again.status_code == 409 and own_again.json()["errorCode"] == "BENREG0009"


async def test_responses_carry_only_documented_masked_fields(client, two_accounts):
    a, *_ = two_accounts
    (person,) = (await client.get(BENEFICIARIES, headers=bearer(a))).json()["beneficiaries"]
    assert set(person) == DOCUMENTED_KEYS
    assert person["photo_id_number"].startswith("XXXXXXXX")
    assert person["photo_id_number"][-4:] == aadhaar(11)[-4:]
    assert person["mobile_number"] == "XXXXXX0001"


@pytest.mark.parametrize(
    "extra",
    [
        {"vaccination_status": "Vaccinated"},
        {"dose2_date": "01-01-2021"},
        {"beneficiary_reference_id": "12345678901234"},
        {"mobile": "9811100009"},
        {"verified": True},
        {"role": "national_admin"},
    ],
)
async def test_mass_assignment_refused(client, outbox, extra):
    token = await login(client, outbox, "9811100003")
    response = await register(client, token, {**adult(id_number=aadhaar(13)), **extra})
    assert response.status_code == 400
    assert (await client.get(BENEFICIARIES, headers=bearer(token))).json()["beneficiaries"] == []


async def test_family_cap(client, outbox):
    token = await login(client, outbox, "9811100004")
    for n in range(6):
        response = await register(
            client, token, adult(f"Member {chr(65 + n)}", id_number=aadhaar(100 + n))
        )
        assert response.status_code == 200, response.text
    seventh = await register(client, token, adult("Member G", id_number=aadhaar(200)))
    assert seventh.status_code == 409
    assert seventh.json()["errorCode"] == "BENREG0006"


async def test_children_register_with_date_of_birth_and_no_photo_id(client, outbox):
    token = await login(client, outbox, "9811100005")
    child = {"name": "Baby Kumar", "date_of_birth": "01-02-2025", "gender_id": 1}
    response = await register(client, token, child)
    assert response.status_code == 200, response.text
    without_dob = {"name": "Baby Two", "birth_year": "2025", "gender_id": 1}
    assert (await register(client, token, without_dob)).status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        {**adult(), "name": "<script>alert(1)</script>"},
        {**adult(), "name": "a\u0000b"},
        {**adult(), "birth_year": "1850"},
        {**adult(), "birth_year": "२०००"},
        {**adult(), "photo_id_number": "123456789012"},  # Verhoeff fails
        {**adult(), "gender_id": 9},
        {**adult(), "photo_id_type": 99},
    ],
)
async def test_invalid_registrations_change_nothing(client, outbox, body):
    token = await login(client, outbox, "9811100006")
    response = await register(client, token, body)
    assert response.status_code == 400
    assert set(response.json()) == {"errorCode", "error"}
    assert (await client.get(BENEFICIARIES, headers=bearer(token))).json()["beneficiaries"] == []


async def test_oversized_bodies_are_refused(client, outbox):
    token = await login(client, outbox, "9811100007")
    huge = {**adult(), "name": "x" * (1024 * 1024)}
    response = await register(client, token, huge)
    assert response.status_code == 413
    array = await client.post(
        "/api/v2/auth/public/generateOTP",
        content=b"[" + b"1," * 100_000 + b"1]",
        headers={"content-type": "application/json"},
    )
    assert array.status_code == 413
    long_name = await register(client, token, {**adult(), "name": "x" * 300})
    assert long_name.status_code == 400


async def test_deeply_nested_json_is_refused(client):
    body = b'{"mobile": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    response = await client.post(
        "/api/v2/auth/public/generateOTP",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code in (400, 413)
    assert set(response.json()) == {"errorCode", "error"}


async def test_malformed_json_gets_structured_error(client):
    response = await client.post(
        "/api/v2/auth/public/generateOTP",
        content=b'{"mobile": ',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert set(response.json()) == {"errorCode", "error"}


async def test_wrong_method_and_unknown_route(client):
    wrong = await client.get("/api/v2/auth/public/generateOTP")
    assert wrong.status_code == 405 and wrong.json()["errorCode"] == "GEN0405"
    missing = await client.get("/api/v2/nothing-here")
    assert missing.status_code == 404 and missing.json()["errorCode"] == "GEN0404"
