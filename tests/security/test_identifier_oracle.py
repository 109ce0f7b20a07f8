"""Knowing an identifier reveals nothing (I-1): each flow that takes one, known vs unknown.

For every flow the caller's observations are compared for an identifier that is already
registered (to someone else) and one that is not: status, body shape, error code, and
what the caller can see afterwards (their own listing, SMS to their own phone, their own
access log). The holder of a registered identifier is told; the caller learns nothing.
See docs/THREAT_MODEL.md, "Identifier sweep".
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from immunet.people.models import Beneficiary, IdentifierConflict
from immunet.people.service import registration_limit
from tests.conftest import bearer, login, register
from tests.factories import aadhaar, adult
from tests.factories.vaccination import next_mobile, otp_lookup, setup_day

BENEFICIARIES = "/api/v2/appointment/beneficiaries"
ACCESS_LOG = "/api/v2/me/access-log"
VOTER_ID = 7


def _form(kind: str, number: str, name: str = "Probe Person") -> dict[str, Any]:
    body = adult(name, id_number=number)
    if kind == "voter":
        body["photo_id_type"] = VOTER_ID
    return body


def _numbers(kind: str, seed: int) -> tuple[str, str]:
    """(number the holder registers, a fresh one) of the kind."""
    if kind == "aadhaar":
        return aadhaar(seed), aadhaar(seed + 1)
    return f"KAV{seed:07d}", f"KAV{seed + 1:07d}"


def _written(kind: str, number: str, style: int) -> str:
    """The same number as people type it: plain, spaced, dashed (lower case for voter IDs)."""
    if kind == "aadhaar":
        return [number, f"{number[:4]} {number[4:8]} {number[8:]}", f"{number[:4]}-{number[4:]}"][
            style % 3
        ]
    return [number, f"{number[:3]}-{number[3:]}".lower(), f"{number[:3]} {number[3:]}"][style % 3]


async def _observe(client, outbox, mobile: str, token: str, response) -> dict[str, Any]:
    """Everything the caller can see of one registration attempt, values made comparable."""
    body = response.json()
    listing = (await client.get(BENEFICIARIES, headers=bearer(token))).json()["beneficiaries"]
    log = (await client.get(ACCESS_LOG, headers=bearer(token))).json()
    return {
        "status": response.status_code,
        "keys": sorted(body),
        "error": body.get("errorCode"),
        "ref_shape": len(body.get("beneficiary_reference_id", "")),
        "headers": sorted(k for k in response.headers if k.lower() != "x-request-id"),
        "listing": [
            (sorted(p), p["vaccination_status"], p["photo_id_number"][:-4], p["appointments"])
            for p in listing
        ],
        "sms_to_caller": [m["template"] for m in outbox.messages() if m["to"] == mobile],
        "access_log": log["entries"],
    }


@pytest.mark.parametrize("kind", ["aadhaar", "voter"])
async def test_registering_an_id_someone_else_holds_answers_like_a_fresh_one(
    client, outbox, ctx, kind
):
    known, _ = _numbers(kind, 3000)
    holder = await login(client, outbox, "9822211000")
    assert (await register(client, holder, _form(kind, known, "Real Holder"))).status_code == 200

    seen: dict[str, list[dict[str, Any]]] = {"known": [], "fresh": []}
    for probe in range(10):
        which = "known" if probe % 2 == 0 else "fresh"
        number = known if which == "known" else _numbers(kind, 3100 + 2 * probe)[1]
        mobile = f"98222111{probe:02d}"
        token = await login(client, outbox, mobile)
        response = await register(client, token, _form(kind, _written(kind, number, probe)))
        seen[which].append(await _observe(client, outbox, mobile, token, response))

    first = seen["known"][0]
    assert first["status"] == 200 and first["keys"] == ["beneficiary_reference_id"]
    assert first["ref_shape"] == 14
    for observation in seen["known"] + seen["fresh"]:
        assert observation == first
    # All five probes of the known number were registered (and flagged) like fresh ones.
    async with ctx.db.reader() as session:
        conflicts = list((await session.execute(select(IdentifierConflict))).scalars())
    assert len({c.beneficiary_id for c in conflicts}) == 5


async def test_the_holder_is_told_by_sms_and_sees_it_in_the_access_log(client, outbox, ctx):
    known = aadhaar(3200)
    holder_mobile, prober_mobile = "9822212000", "9822212001"
    holder = await login(client, outbox, holder_mobile)
    held = (await register(client, holder, _form("aadhaar", known, "Real Holder"))).json()
    prober = await login(client, outbox, prober_mobile)
    new = (await register(client, prober, _form("aadhaar", known, "Zarina Prober"))).json()

    # The conflict links the two registrations by row; it holds no number, name or mobile.
    async with ctx.db.reader() as session:
        (conflict,) = (await session.execute(select(IdentifierConflict))).scalars()
        by_id = {b.id: b for b in (await session.execute(select(Beneficiary))).scalars()}
    assert by_id[conflict.beneficiary_id].reference_id == new["beneficiary_reference_id"]
    assert by_id[conflict.other_beneficiary_id].reference_id == held["beneficiary_reference_id"]
    stored = repr({c.key: getattr(conflict, c.key) for c in IdentifierConflict.__table__.c})
    for secret in (known, known[-4:], prober_mobile, "Zarina", new["beneficiary_reference_id"]):
        assert secret not in stored

    # One SMS, to the holder only, naming only the holder's own beneficiary.
    (sms,) = [m for m in outbox.messages() if m["template"] == "id_conflict"]
    assert sms["to"] == holder_mobile
    assert held["beneficiary_reference_id"][-4:] in sms["text"]
    for secret in (prober_mobile, prober_mobile[-4:], "Zarina", new["beneficiary_reference_id"]):
        assert secret not in sms["text"]

    entries = (await client.get(ACCESS_LOG, headers=bearer(holder))).json()["entries"]
    (entry,) = [e for e in entries if e["action"] == "people:identifier:registered-again"]
    assert entry["beneficiary_reference_id"] == held["beneficiary_reference_id"]
    assert entry["who"] == {"organisation": "another immunet account", "role": "citizen"}
    assert prober_mobile not in str(entries) and new["beneficiary_reference_id"] not in str(entries)
    # The prober's own access log says nothing about it.
    assert (await client.get(ACCESS_LOG, headers=bearer(prober))).json()["entries"] == []


@pytest.mark.parametrize("holder_elsewhere", [True, False])
async def test_the_same_account_registering_its_own_id_again_is_told(
    client, outbox, holder_elsewhere
):
    # Only the caller's own data decides this answer: whether another account holds the
    # number too makes no difference.
    number = aadhaar(3300 if holder_elsewhere else 3301)
    if holder_elsewhere:
        other = await login(client, outbox, "9822213000")
        assert (await register(client, other, _form("aadhaar", number))).status_code == 200
    token = await login(client, outbox, "9822213001")
    assert (await register(client, token, _form("aadhaar", number, "Mine"))).status_code == 200
    again = await register(client, token, _form("aadhaar", _written("aadhaar", number, 1)))
    assert again.status_code == 409
    assert again.json() == {
        "errorCode": "BENREG0009",
        "error": "A beneficiary with this ID number is already registered from this mobile.",
    }
    listing = (await client.get(BENEFICIARIES, headers=bearer(token))).json()["beneficiaries"]
    assert [p["name"] for p in listing] == ["Mine"]


async def test_the_registration_limit_counts_every_registration_alike(client_with, outbox, ctx):
    client = await client_with(registrations_per_account_per_day=2)
    known = aadhaar(3400)
    holder = await login(client, outbox, "9822214000")
    assert (await register(client, holder, _form("aadhaar", known))).status_code == 200
    answers = []
    for n, third in enumerate((known, aadhaar(3401))):
        token = await login(client, outbox, f"982221410{n}")
        for m in range(2):
            ok = await register(client, token, _form("aadhaar", aadhaar(3410 + 10 * n + m)))
            assert ok.status_code == 200, ok.text
        refused = await register(client, token, _form("aadhaar", third))
        answers.append((refused.status_code, refused.json(), "Retry-After" in refused.headers))
    assert answers[0] == answers[1]
    assert answers[0][0] == 429
    assert registration_limit(ctx).limit == ctx.settings.registrations_per_account_per_day


async def test_walk_in_registration_by_staff_answers_alike(client, outbox, ctx):
    day = await setup_day(ctx, client)
    known = aadhaar(3500)
    holder = await login(client, outbox, "9822215000")
    assert (await register(client, holder, _form("aadhaar", known))).status_code == 200
    observed = []
    for number in (known, aadhaar(3501)):
        mobile = next_mobile()
        lookup = await otp_lookup(client, outbox, day.vaccinator, mobile)
        response = await client.post(
            f"/api/staff/lookup/{lookup['txnId']}/beneficiaries",
            json=_form("aadhaar", number),
            headers=day.vaccinator.headers,
        )
        observed.append((response.status_code, sorted(response.json())))
    assert observed[0] == observed[1] == (200, ["beneficiary_reference_id"])
    assert [m["to"] for m in outbox.messages() if m["template"] == "id_conflict"] == ["9822215000"]


async def test_staff_otp_lookup_answers_alike_for_registered_and_unknown_mobiles(
    client, outbox, ctx
):
    day = await setup_day(ctx, client)
    registered = next_mobile()
    token = await login(client, outbox, registered)
    assert (await register(client, token, _form("aadhaar", aadhaar(3600)))).status_code == 200
    unknown = next_mobile()
    answers = []
    for mobile in (registered, unknown):
        response = await client.post(
            "/api/staff/lookup/otp", json={"mobile": mobile}, headers=day.vaccinator.headers
        )
        answers.append((response.status_code, sorted(response.json())))
    assert answers[0] == answers[1] == (200, ["txnId"])
    sent = [m["to"] for m in outbox.messages() if m["template"] == "staff_lookup_otp"]
    assert sent == [registered, unknown]


async def test_citizen_login_answers_alike_for_registered_and_unknown_mobiles(client, outbox):
    registered = "9822217000"
    token = await login(client, outbox, registered)
    assert (await register(client, token, _form("aadhaar", aadhaar(3700)))).status_code == 200
    first_login = await login(client, outbox, "9822217001")  # a mobile never seen before
    again = await login(client, outbox, registered)
    for fresh in (first_login, again):
        listing = await client.get(BENEFICIARIES, headers=bearer(fresh))
        assert listing.status_code == 200
    answers = []
    for mobile in (registered, "9822217002"):
        response = await client.post("/api/v2/auth/public/generateOTP", json={"mobile": mobile})
        answers.append((response.status_code, sorted(response.json())))
    assert answers[0] == answers[1] == (200, ["txnId"])


async def test_a_third_registration_is_linked_to_both_earlier_ones(client, outbox, ctx):
    number = aadhaar(3800)
    mobiles = ["9822218000", "9822218001", "9822218002"]
    refs = []
    for mobile in mobiles:
        token = await login(client, outbox, mobile)
        response = await register(client, token, _form("aadhaar", number))
        assert response.status_code == 200, response.text
        refs.append(response.json()["beneficiary_reference_id"])
    async with ctx.db.reader() as session:
        by_id = {
            b.id: b.reference_id for b in (await session.execute(select(Beneficiary))).scalars()
        }
        pairs = {
            (by_id[c.beneficiary_id], by_id[c.other_beneficiary_id])
            for c in (await session.execute(select(IdentifierConflict))).scalars()
        }
    assert pairs == {(refs[1], refs[0]), (refs[2], refs[0]), (refs[2], refs[1])}
    told = [m["to"] for m in outbox.messages() if m["template"] == "id_conflict"]
    assert sorted(told) == sorted([mobiles[0], mobiles[0], mobiles[1]])
