"""Abuse of routine sessions planned from the due list: another facility's catchment and
session, the wrong role or audience, oversized input, the read quota."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from immunet.booking.models import Appointment
from immunet.clock import india_today
from immunet.outbox.models import OutboxMessage
from immunet.vaccination.models import RoutineSessionSite
from tests.conftest import bearer, login
from tests.factories.staff import make_staff
from tests.factories.uip import ddmmyyyy, register_family, setup_routine_day
from tests.factories.vaccination import next_mobile

PLAN = "/api/staff/routine-sessions"


def plan(day: dt.date, **extra: object) -> dict[str, object]:
    return {
        "date": ddmmyyyy(day),
        "vaccine_groups": ["Pentavalent"],
        "site_kind": "fixed",
        "capacity": 10,
        "slots": ["09:00AM-11:00AM"],
        **extra,
    }


async def _counts(ctx) -> tuple[int, int, int]:
    async with ctx.db.reader() as session:
        sites = await session.scalar(select(func.count()).select_from(RoutineSessionSite))
        appointments = await session.scalar(select(func.count()).select_from(Appointment))
        sms = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.template.like("routine_invitation_%"))
        )
    return int(sites or 0), int(appointments or 0), int(sms or 0)


async def test_another_facilitys_catchment_and_session_stay_theirs(client, outbox, ctx, clock):
    today = india_today(clock.now())
    ours = await setup_routine_day(ctx, client)
    theirs = await setup_routine_day(ctx, client)
    child = await register_family(
        client, outbox, today - dt.timedelta(weeks=6), center_id=ours.center_id
    )
    # The other facility plans for the same antigen: our child is never invited there.
    planned = await client.post(PLAN, json=plan(today), headers=theirs.manager.headers)
    assert planned.status_code == 201, planned.text
    assert planned.json()["invited"] == 0 and planned.json()["center_id"] == theirs.center_id
    # Naming our centre in the body is refused, not obeyed.
    named = await client.post(
        PLAN, json=plan(today, center_id=ours.center_id), headers=theirs.manager.headers
    )
    assert named.status_code == 400
    ours_plan = await client.post(PLAN, json=plan(today), headers=ours.manager.headers)
    assert ours_plan.status_code == 201 and ours_plan.json()["invited"] == 1
    session_id = ours_plan.json()["session_id"]
    # Our session's roster is the same 404 for the other facility as a session that does
    # not exist.
    roster = await client.get(
        f"/api/staff/sessions/{session_id}/roster", headers=theirs.vaccinator.headers
    )
    missing = await client.get(
        "/api/staff/sessions/6f1c2b9e-1d2a-4c3b-9a8e-0d1e2f3a4b5c/roster",
        headers=theirs.vaccinator.headers,
    )
    assert roster.status_code == missing.status_code == 404
    assert roster.json() == missing.json()
    assert child.child_ref not in roster.text


async def test_wrong_role_and_audience_change_nothing(client, outbox, ctx, clock):
    today = india_today(clock.now())
    day = await setup_routine_day(ctx, client)
    await register_family(client, outbox, today - dt.timedelta(weeks=6), center_id=day.center_id)
    before = await _counts(ctx)
    district = await make_staff(ctx, "district_admin", "district:294")
    verifier = await make_staff(ctx, "verifier", "national")
    # A vaccinator may not plan sessions; a district admin has no facility of their own.
    assert (
        await client.post(PLAN, json=plan(today), headers=day.vaccinator.headers)
    ).status_code == 403
    assert (await client.post(PLAN, json=plan(today), headers=district.headers)).status_code == 403
    assert (await client.post(PLAN, json=plan(today), headers=verifier.headers)).status_code == 403
    citizen = await login(client, outbox, next_mobile())
    assert (await client.post(PLAN, json=plan(today), headers=bearer(citizen))).status_code == 401
    assert (await client.post(PLAN, json=plan(today))).status_code == 401
    assert await _counts(ctx) == before


async def test_oversized_input_changes_nothing(client, outbox, ctx, clock):
    today = india_today(clock.now())
    day = await setup_routine_day(ctx, client)
    await register_family(client, outbox, today - dt.timedelta(weeks=6), center_id=day.center_id)
    before = await _counts(ctx)
    for body in (
        plan(today, vaccine_groups=["Pentavalent"] * 5000),
        plan(today, vaccine_groups=["P" * 5000]),
        plan(today, site_kind="outreach", site_name="a" * 5000, site_location="b"),
        plan(today, capacity=10**9),
        plan(today, slots=["09:00AM-11:00AM"] * 500),
        {**plan(today), "note": "x"},
    ):
        response = await client.post(PLAN, json=body, headers=day.manager.headers)
        assert response.status_code in (400, 413), response.text
        assert "errorCode" in response.json()
    huge = await client.post(
        PLAN,
        content=b'{"date": "' + b"1" * 2_000_000 + b'"}',
        headers={**day.manager.headers, "Content-Type": "application/json"},
    )
    assert huge.status_code in (400, 413)
    assert await _counts(ctx) == before


async def test_planning_counts_against_the_read_quota(client_with, ctx, outbox, clock):
    client = await client_with(staff_reads_per_hour=2)
    today = india_today(clock.now())
    day = await setup_routine_day(ctx, client)
    for _ in range(3):
        await register_family(
            client, outbox, today - dt.timedelta(weeks=6), center_id=day.center_id
        )
    first = await client.post(PLAN, json=plan(today, capacity=2), headers=day.manager.headers)
    assert first.status_code == 201, first.text
    assert first.json()["invited"] == 2
    before = await _counts(ctx)
    over = await client.post(PLAN, json=plan(today, capacity=2), headers=day.manager.headers)
    assert over.status_code == 429, over.text
    assert "Retry-After" in over.headers
    assert await _counts(ctx) == before
