"""Booking abuse: other accounts' objects, slot hoarding, ineligible bookings, payload abuse."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from immunet.booking.models import Appointment
from immunet.booking.service import CANCELS_PER_DAY, RESCHEDULES_PER_DAY, SLIPS_PER_HOUR
from tests.conftest import bearer, login
from tests.factories import adult
from tests.factories.sessions import make_session, record_dose, seats
from tests.factories.staff import make_staff

SLOT = "09:00AM-11:00AM"
SCHEDULE = "/api/v2/appointment/schedule"
RESCHEDULE = "/api/v2/appointment/reschedule"
CANCEL = "/api/v2/appointment/cancel"
SLIP = "/api/v2/appointment/appointmentslip/download"


async def _register(client, token, **kwargs):
    response = await client.post(
        "/api/v2/registration/beneficiary/new", json=adult(**kwargs), headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    return response.json()["beneficiary_reference_id"]


async def _appointments(ctx):
    async with ctx.db.reader() as session:
        return (await session.execute(select(func.count()).select_from(Appointment))).scalar_one()


@pytest.fixture
async def two_accounts(client, outbox):
    alice = await login(client, outbox, "9811111111")
    bob = await login(client, outbox, "9822222222")
    return alice, await _register(client, alice), bob, await _register(client, bob, name="Bob Das")


def _book(session_id, refs, dose=1, **extra):
    return {"dose": dose, "session_id": session_id, "slot": SLOT, "beneficiaries": refs, **extra}


async def test_booking_another_accounts_beneficiary_is_the_same_404(client, ctx, two_accounts):
    alice, _alice_ref, _bob, bob_ref = two_accounts
    target = await make_session(ctx)
    theirs = await client.post(
        SCHEDULE, json=_book(target.session_id, [bob_ref]), headers=bearer(alice)
    )
    missing = await client.post(
        SCHEDULE, json=_book(target.session_id, ["12345678901234"]), headers=bearer(alice)
    )
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    assert await seats(ctx, target.session_id) == (0, 0, 0)
    assert await _appointments(ctx) == 0


async def test_mixed_batch_is_refused_entirely(client, ctx, two_accounts):
    alice, alice_ref, _bob, bob_ref = two_accounts
    target = await make_session(ctx)
    response = await client.post(
        SCHEDULE, json=_book(target.session_id, [alice_ref, bob_ref]), headers=bearer(alice)
    )
    assert response.status_code == 404
    assert await seats(ctx, target.session_id) == (0, 0, 0)
    assert await _appointments(ctx) == 0


async def test_another_accounts_appointment_cannot_be_moved_cancelled_or_printed(
    client, ctx, two_accounts
):
    alice, _alice_ref, bob, bob_ref = two_accounts
    target = await make_session(ctx)
    other = await make_session(ctx, days_ahead=2)
    booked = await client.post(
        SCHEDULE, json=_book(target.session_id, [bob_ref]), headers=bearer(bob)
    )
    assert booked.status_code == 200
    bobs = booked.json()["appointment_confirmation_no"]

    moved = await client.post(
        RESCHEDULE,
        json={"appointment_id": bobs, "session_id": other.session_id, "slot": SLOT},
        headers=bearer(alice),
    )
    cancelled = await client.post(
        CANCEL,
        json={"appointment_id": bobs, "beneficiariesToCancel": [bob_ref]},
        headers=bearer(alice),
    )
    slip = await client.get(SLIP, params={"appointment_id": bobs}, headers=bearer(alice))
    unknown = await client.get(
        SLIP,
        params={"appointment_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6"},
        headers=bearer(alice),
    )
    for response in (moved, cancelled, slip, unknown):
        assert response.status_code == 404
    assert slip.json() == unknown.json()
    assert await seats(ctx, target.session_id) == (1, 0, 0)
    assert await seats(ctx, other.session_id) == (0, 0, 0)

    # Bob's own appointment, cancelled with someone else's beneficiary listed: 404.
    wrong_member = await client.post(
        CANCEL,
        json={"appointment_id": bobs, "beneficiariesToCancel": [two_accounts[1]]},
        headers=bearer(bob),
    )
    assert wrong_member.status_code == 404
    assert await seats(ctx, target.session_id) == (1, 0, 0)


async def test_one_live_appointment_per_dose(client, ctx, two_accounts):
    alice, alice_ref, _bob, _bob_ref = two_accounts
    one = await make_session(ctx)
    two = await make_session(ctx, days_ahead=2)
    assert (
        await client.post(SCHEDULE, json=_book(one.session_id, [alice_ref]), headers=bearer(alice))
    ).status_code == 200
    for target in (one, two):
        again = await client.post(
            SCHEDULE, json=_book(target.session_id, [alice_ref]), headers=bearer(alice)
        )
        assert again.status_code == 409
        assert again.json()["errorCode"] == "APPOIN0048"
    assert await seats(ctx, one.session_id) == (1, 0, 0)
    assert await seats(ctx, two.session_id) == (0, 0, 0)


async def test_reschedule_and_cancel_caps(client, ctx, two_accounts):
    alice, alice_ref, _bob, _bob_ref = two_accounts
    one = await make_session(ctx)
    two = await make_session(ctx, days_ahead=2)
    booked = await client.post(
        SCHEDULE, json=_book(one.session_id, [alice_ref]), headers=bearer(alice)
    )
    appointment_id = booked.json()["appointment_confirmation_no"]
    for i in range(RESCHEDULES_PER_DAY.limit):
        target = two if i % 2 == 0 else one
        moved = await client.post(
            RESCHEDULE,
            json={"appointment_id": appointment_id, "session_id": target.session_id, "slot": SLOT},
            headers=bearer(alice),
        )
        assert moved.status_code == 204, moved.text
    capped = await client.post(
        RESCHEDULE,
        json={"appointment_id": appointment_id, "session_id": two.session_id, "slot": SLOT},
        headers=bearer(alice),
    )
    assert capped.status_code == 429
    assert int(capped.headers["retry-after"]) > 0
    assert await seats(ctx, one.session_id) == (1, 0, 0)

    for _ in range(CANCELS_PER_DAY.limit):
        cancelled = await client.post(
            CANCEL,
            json={"appointment_id": appointment_id, "beneficiariesToCancel": [alice_ref]},
            headers=bearer(alice),
        )
        assert cancelled.status_code in (204, 409)
        rebooked = await client.post(
            SCHEDULE, json=_book(one.session_id, [alice_ref]), headers=bearer(alice)
        )
        assert rebooked.status_code == 200, rebooked.text
        appointment_id = rebooked.json()["appointment_confirmation_no"]
    capped = await client.post(
        CANCEL,
        json={"appointment_id": appointment_id, "beneficiariesToCancel": [alice_ref]},
        headers=bearer(alice),
    )
    assert capped.status_code == 429
    assert await seats(ctx, one.session_id) == (1, 0, 0)


async def test_slip_generation_is_rate_limited(client, ctx, two_accounts):
    alice, alice_ref, _bob, _bob_ref = two_accounts
    target = await make_session(ctx)
    booked = await client.post(
        SCHEDULE, json=_book(target.session_id, [alice_ref]), headers=bearer(alice)
    )
    appointment_id = booked.json()["appointment_confirmation_no"]
    for _ in range(SLIPS_PER_HOUR.limit):
        ok = await client.get(
            SLIP, params={"appointment_id": appointment_id}, headers=bearer(alice)
        )
        assert ok.status_code == 200
    capped = await client.get(
        SLIP, params={"appointment_id": appointment_id}, headers=bearer(alice)
    )
    assert capped.status_code == 429


async def test_dose_two_too_early_or_other_vaccine_is_422(client, ctx, two_accounts):
    alice, alice_ref, _bob, _bob_ref = two_accounts
    target = await make_session(ctx, vaccine="COVISHIELD")
    # COVISHIELD dose 2 needs 84 days; 83 is too early.
    await record_dose(
        ctx, alice_ref, dose=1, vaccine="COVISHIELD", given_on=target.date - dt.timedelta(days=83)
    )
    early = await client.post(
        SCHEDULE, json=_book(target.session_id, [alice_ref], dose=2), headers=bearer(alice)
    )
    assert early.status_code == 422
    assert early.json()["errorCode"] == "APPOIN0047"
    covaxin = await make_session(ctx, vaccine="COVAXIN", days_ahead=3)
    other = await client.post(
        SCHEDULE, json=_book(covaxin.session_id, [alice_ref], dose=2), headers=bearer(alice)
    )
    assert other.status_code == 422
    precaution = await client.post(
        SCHEDULE, json=_book(target.session_id, [alice_ref], dose=3), headers=bearer(alice)
    )
    assert precaution.status_code == 422
    assert await _appointments(ctx) == 0


async def test_age_ineligible_is_422(client, ctx, outbox):
    token = await login(client, outbox, "9833333333")
    young = await _register(client, token, name="Young Person", birth_year="2000")
    older_only = await make_session(ctx, min_age=45)
    refused = await client.post(
        SCHEDULE, json=_book(older_only.session_id, [young]), headers=bearer(token)
    )
    assert refused.status_code == 422
    assert refused.json()["errorCode"] == "APPOIN0046"
    old = await _register(client, token, name="Old Person", birth_year="1950")
    band = await make_session(ctx, min_age=18, max_age=44, days_ahead=2)
    refused = await client.post(SCHEDULE, json=_book(band.session_id, [old]), headers=bearer(token))
    assert refused.status_code == 422
    assert await _appointments(ctx) == 0


async def test_closed_sessions_and_wrong_slots(client, ctx, two_accounts):
    alice, alice_ref, _bob, _bob_ref = two_accounts
    past = await make_session(ctx, days_ahead=-1)
    cancelled = await make_session(ctx, status="cancelled")
    for target in (past, cancelled):
        response = await client.post(
            SCHEDULE, json=_book(target.session_id, [alice_ref]), headers=bearer(alice)
        )
        assert response.status_code == 409
        assert response.json()["errorCode"] == "APPOIN0042"
    live = await make_session(ctx)
    wrong_slot = await client.post(
        SCHEDULE,
        json={**_book(live.session_id, [alice_ref]), "slot": "03:00AM-04:00AM"},
        headers=bearer(alice),
    )
    assert wrong_slot.status_code == 422
    wrong_center = await client.post(
        SCHEDULE,
        json=_book(live.session_id, [alice_ref], center_id=live.center_id + 1),
        headers=bearer(alice),
    )
    assert wrong_center.status_code == 422
    unknown = await client.post(
        SCHEDULE,
        json=_book("3fa85f64-5717-4562-b3fc-2c963f66afa6", [alice_ref]),
        headers=bearer(alice),
    )
    assert unknown.status_code == 404
    assert await _appointments(ctx) == 0


@pytest.mark.parametrize(
    "body",
    [
        {"beneficiaries": [str(10**13 + i) for i in range(7)]},  # more than 6
        {"beneficiaries": []},
        {"beneficiaries": ["x" * 21]},
        {"dose": 4},
        {"dose": 0},
        {"slot": "x" * 33},
        {"session_id": "s" * 37},
        {"is_admin": True},  # unknown field
        {"beneficiary_id": 1},  # unknown field
    ],
)
async def test_schedule_payload_abuse_is_400(client, ctx, two_accounts, body):
    alice, alice_ref, _bob, _bob_ref = two_accounts
    target = await make_session(ctx)
    response = await client.post(
        SCHEDULE, json={**_book(target.session_id, [alice_ref]), **body}, headers=bearer(alice)
    )
    assert response.status_code == 400, response.text
    assert await _appointments(ctx) == 0


async def test_duplicates_and_unknown_fields_on_reschedule_and_cancel(client, ctx, two_accounts):
    alice, alice_ref, _bob, _bob_ref = two_accounts
    target = await make_session(ctx)
    twice = await client.post(
        SCHEDULE, json=_book(target.session_id, [alice_ref, alice_ref]), headers=bearer(alice)
    )
    assert twice.status_code == 400
    booked = await client.post(
        SCHEDULE, json=_book(target.session_id, [alice_ref]), headers=bearer(alice)
    )
    appointment_id = booked.json()["appointment_confirmation_no"]
    extra = await client.post(
        RESCHEDULE,
        json={
            "appointment_id": appointment_id,
            "session_id": target.session_id,
            "slot": SLOT,
            "dose": 2,
        },
        headers=bearer(alice),
    )
    assert extra.status_code == 400
    extra = await client.post(
        CANCEL,
        json={
            "appointment_id": appointment_id,
            "beneficiariesToCancel": [alice_ref],
            "force": True,
        },
        headers=bearer(alice),
    )
    assert extra.status_code == 400
    too_many = await client.post(
        CANCEL,
        json={"appointment_id": appointment_id, "beneficiariesToCancel": [alice_ref] * 7},
        headers=bearer(alice),
    )
    assert too_many.status_code == 400
    assert await seats(ctx, target.session_id) == (1, 0, 0)


async def test_booking_routes_refuse_staff_and_anonymous_callers(client, ctx, two_accounts):
    _alice, alice_ref, _bob, _bob_ref = two_accounts
    target = await make_session(ctx)
    staff = await make_staff(ctx, "national_admin")
    for headers in ({}, staff.headers, {"Authorization": "Bearer not-a-token"}):
        response = await client.post(
            SCHEDULE, json=_book(target.session_id, [alice_ref]), headers=headers
        )
        assert response.status_code == 401
        response = await client.get(
            SLIP, params={"appointment_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6"}, headers=headers
        )
        assert response.status_code == 401
    assert await _appointments(ctx) == 0
