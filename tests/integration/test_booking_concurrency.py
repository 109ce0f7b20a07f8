"""No overbooking, no negative seats, no double booking under concurrency (both databases)."""

from __future__ import annotations

import asyncio
import random

from sqlalchemy import func, select

from immunet.booking.models import Appointment
from tests.factories import mobile
from tests.factories.sessions import Citizen, add_beneficiary, make_citizen, make_session, seats

SLOT = "09:00AM-11:00AM"


async def _citizens(ctx, count, offset):
    async def one(i):
        citizen = await make_citizen(ctx, mobile(offset + i))
        return citizen, await add_beneficiary(ctx, citizen)

    return await asyncio.gather(*(one(i) for i in range(count)))


async def _live(ctx, session_id):
    async with ctx.db.reader() as session:
        return (
            await session.execute(
                select(func.count())
                .select_from(Appointment)
                .where(Appointment.session_id == session_id, Appointment.status == "booked")
            )
        ).scalar_one()


async def _schedule(client, citizen: Citizen, ref, session_id, **headers):
    return await client.post(
        "/api/v2/appointment/schedule",
        json={"dose": 1, "session_id": session_id, "slot": SLOT, "beneficiaries": [ref]},
        headers={**citizen.headers, **headers},
    )


async def test_200_concurrent_bookings_take_exactly_the_5_seats(client, ctx):
    people = await _citizens(ctx, 200, 100_000)
    target = await make_session(ctx, capacity_dose1=5)
    responses = await asyncio.gather(
        *(_schedule(client, citizen, ref, target.session_id) for citizen, ref in people)
    )
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 5, sorted(set(statuses))
    assert statuses.count(409) == 195
    assert all(r.json()["errorCode"] == "APPOIN0040" for r in responses if r.status_code == 409)
    assert await seats(ctx, target.session_id) == (5, 0, 0)
    assert await _live(ctx, target.session_id) == 5


async def test_concurrent_book_reschedule_cancel_loops_keep_counts_exact(client, ctx):
    people = await _citizens(ctx, 12, 200_000)
    one = await make_session(ctx, capacity_dose1=3)
    two = await make_session(ctx, days_ahead=2, capacity_dose1=3)
    rng = random.Random(7)

    async def loop(citizen: Citizen, ref: str) -> None:
        for _ in range(3):
            start, other = (one, two) if rng.random() < 0.5 else (two, one)
            booked = await _schedule(client, citizen, ref, start.session_id)
            assert booked.status_code in (200, 409), booked.text
            if booked.status_code != 200:
                continue
            appointment_id = booked.json()["appointment_confirmation_no"]
            moved = await client.post(
                "/api/v2/appointment/reschedule",
                json={
                    "appointment_id": appointment_id,
                    "session_id": other.session_id,
                    "slot": SLOT,
                },
                headers=citizen.headers,
            )
            assert moved.status_code in (204, 409), moved.text
            cancelled = await client.post(
                "/api/v2/appointment/cancel",
                json={"appointment_id": appointment_id, "beneficiariesToCancel": [ref]},
                headers=citizen.headers,
            )
            assert cancelled.status_code == 204, cancelled.text

    await asyncio.gather(*(loop(citizen, ref) for citizen, ref in people))
    for target in (one, two):
        assert await seats(ctx, target.session_id) == (0, 0, 0)
        assert await _live(ctx, target.session_id) == 0

    # And while people hold seats, the counts equal the live appointments.
    held = await asyncio.gather(
        *(_schedule(client, citizen, ref, one.session_id) for citizen, ref in people)
    )
    assert [r.status_code for r in held].count(200) == 3
    assert await seats(ctx, one.session_id) == (3, 0, 0)
    assert await _live(ctx, one.session_id) == 3


async def test_twenty_concurrent_retries_with_one_key_book_once(client, ctx):
    ((citizen, ref),) = await _citizens(ctx, 1, 300_000)
    target = await make_session(ctx, capacity_dose1=5)
    responses = await asyncio.gather(
        *(
            _schedule(client, citizen, ref, target.session_id, **{"Idempotency-Key": "retry-42"})
            for _ in range(20)
        )
    )
    assert {r.status_code for r in responses} == {200}, [r.text for r in responses]
    assert len({r.json()["appointment_confirmation_no"] for r in responses}) == 1
    assert await seats(ctx, target.session_id) == (1, 0, 0)
    assert await _live(ctx, target.session_id) == 1
