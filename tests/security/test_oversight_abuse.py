"""Abuse cases of the oversight defences, on SQLite and PostgreSQL.

- Canaries: a decoy is never on a roster (even one booked by an older seeding), so the
  vaccinator's day never touches one; naming a decoy (break-glass) suspends.
- Disputes: one citizen cannot flood reports (429 with Retry-After) nor freeze the staff
  who read them; freezing needs an admin's decision or several independent accounts.
- Break-glass: two requests at once for the same person give one grant.
- Secret codes: guessing is alerted when the lock-out starts, not a day later.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import uuid

from sqlalchemy import func, select

from immunet.booking.models import Appointment
from immunet.booking.service import new_secret_code, seal_code, take_seats
from immunet.oversight.canary import seed_canaries
from immunet.oversight.models import AccessDispute, BreakGlassGrant
from immunet.people.models import Beneficiary
from immunet.staff.models import StaffUser
from immunet.staff.principal import OPERATOR_CLI
from tests.conftest import bearer
from tests.factories.sessions import make_center
from tests.factories.staff import make_staff
from tests.factories.vaccination import book, setup_day

REASON = "Unconscious patient brought in; needs the dose history now."


async def _alert_kinds(client, admin) -> list[str]:
    response = await client.get("/api/staff/alerts", headers=admin.headers)
    assert response.status_code == 200, response.text
    return [a["kind"] for a in response.json()["alerts"]]


async def _roster(client, day, staff=None):
    staff = staff or day.vaccinator
    return await client.get(
        f"/api/staff/sessions/{day.session.session_id}/roster", headers=staff.headers
    )


async def _active(ctx, user_id: int) -> bool:
    async with ctx.db.reader() as session:
        user = await session.get(StaffUser, user_id)
        assert user is not None
        return bool(user.active)


# --- canaries ---------------------------------------------------------------------------------


async def _book_decoy_as_before(ctx, session_id: str, reference_id: str) -> str:
    """What the old ``canary seed`` did: a decoy booked into a real session (test setup)."""
    async with ctx.db.transaction() as session:
        decoy = (
            await session.execute(
                select(Beneficiary).where(Beneficiary.reference_id == reference_id)
            )
        ).scalar_one()
        await take_seats(session, session_id, 1, 1)
        appointment_id = str(uuid.uuid4())
        digest, sealed = seal_code(ctx.keyring, appointment_id, new_secret_code())
        now = ctx.clock.now()
        session.add(
            Appointment(
                appointment_id=appointment_id,
                beneficiary_id=decoy.id,
                account_id=decoy.account_id,
                session_id=session_id,
                confirmation_no=appointment_id,
                dose=1,
                slot="09:00AM-11:00AM",
                status="booked",
                code_digest=digest,
                code_ct=sealed,
                code_failures=0,
                reschedules=0,
                created_at=now,
                updated_at=now,
            )
        )
    return appointment_id


async def test_a_decoy_booked_on_a_roster_is_left_out_and_suspends_no_one(client, ctx, outbox):
    day = await setup_day(ctx, client)
    person = await book(client, outbox, day.session)
    admin = await make_staff(ctx, "district_admin", "district:294")
    (decoy,) = await seed_canaries(ctx, center_id=day.center_id, count=1, actor=OPERATOR_CLI)
    async with ctx.db.reader() as session:
        booked = (
            await session.execute(
                select(func.count())
                .select_from(Appointment)
                .join(Beneficiary, Beneficiary.id == Appointment.beneficiary_id)
                .where(Beneficiary.is_canary.is_(True))
            )
        ).scalar_one()
    assert booked == 0  # seeding books nothing
    decoy_appointment = await _book_decoy_as_before(ctx, day.session.session_id, decoy.reference_id)

    for staff in (day.vaccinator, day.manager):
        response = await _roster(client, day, staff)
        assert response.status_code == 200, response.text
        listed = [a["appointment_id"] for a in response.json()["appointments"]]
        assert listed == [person.appointment_id] and decoy_appointment not in listed
    assert await _active(ctx, day.vaccinator.user_id)
    assert await _active(ctx, day.manager.user_id)
    assert await _alert_kinds(client, admin) == []


async def test_break_glass_on_a_decoy_suspends(client, ctx):
    (decoy,) = await seed_canaries(ctx, center_id=None, count=1, actor=OPERATOR_CLI)
    staff = await make_staff(ctx, "vaccinator", f"center:{await make_center(ctx)}")
    admin = await make_staff(ctx, "national_admin", "national")
    response = await client.post(
        "/api/staff/break-glass",
        json={"beneficiary_reference_id": decoy.reference_id, "reason": REASON},
        headers=staff.headers,
    )
    assert response.status_code == 403 and response.json()["errorCode"] == "STAFF0430"
    assert not await _active(ctx, staff.user_id)
    assert {"canary.touched", "suspended.canary"} <= set(await _alert_kinds(client, admin))


# --- disputes ---------------------------------------------------------------------------------


async def test_one_citizen_cannot_flood_disputes_or_freeze_a_centre(
    client_with, ctx, outbox, clock
):
    limit = 3
    client = await client_with(citizen_disputes_per_day=limit, dispute_freeze_accounts=2)
    day = await setup_day(ctx, client)
    person = await book(client, outbox, day.session)
    readers = [day.vaccinator, await make_staff(ctx, "vaccinator", f"center:{day.center_id}")]
    for _ in range(4):
        for staff in readers:
            assert (await _roster(client, day, staff)).status_code == 200
    log = (await client.get("/api/v2/me/access-log", headers=bearer(person.token))).json()
    entries = [e["entry_id"] for e in log["entries"] if e["channel"] == "roster"]
    assert len(entries) == 8

    async def dispute(entry_id):
        return await client.post(
            f"/api/v2/me/access-log/{entry_id}/dispute",
            json={"reason": "not me"},
            headers=bearer(person.token),
        )

    statuses = [(await dispute(e)).status_code for e in entries[:limit]]
    assert statuses == [201] * limit
    refused = await dispute(entries[limit])
    assert refused.status_code == 429
    body = refused.json()
    assert set(body) == {"errorCode", "error"} and body["errorCode"] == "OVS0429"
    # All reports at the same (pinned) instant: one more fits in exactly a day.
    assert int(refused.headers["Retry-After"]) == 86400
    async with ctx.db.reader() as session:
        stored = (await session.execute(select(func.count()).select_from(AccessDispute))).scalar()
    assert stored == limit

    # However many reports one account makes, nobody's day stops.
    for staff in readers:
        assert (await _roster(client, day, staff)).status_code == 200
        assert await _active(ctx, staff.user_id)

    # The limit is a sliding day by the clock.
    clock.advance(dt.timedelta(days=1, seconds=1))
    assert (await dispute(entries[limit])).status_code == 201


# --- break-glass -------------------------------------------------------------------------------


async def test_two_break_glass_requests_at_once_give_one_grant(client, ctx, outbox):
    day = await setup_day(ctx, client)
    person = await book(client, outbox, day.session)
    staff = await make_staff(ctx, "vaccinator", f"center:{await make_center(ctx)}")

    async def ask():
        return await client.post(
            "/api/staff/break-glass",
            json={"beneficiary_reference_id": person.reference_id, "reason": REASON},
            headers=staff.headers,
        )

    first, second = await asyncio.gather(ask(), ask())
    assert sorted([first.status_code, second.status_code]) == [201, 409]
    async with ctx.db.reader() as session:
        grants = (await session.execute(select(func.count()).select_from(BreakGlassGrant))).scalar()
    assert grants == 1
    sms = [m for m in outbox.messages() if m["template"] == "break_glass"]
    assert len(sms) == 1


# --- secret codes ------------------------------------------------------------------------------


async def test_guessing_codes_is_alerted_when_the_lock_out_starts(client_with, ctx, outbox):
    client = await client_with(staff_code_failures_per_hour=5)
    day = await setup_day(ctx, client)
    people = [await book(client, outbox, day.session) for _ in range(3)]
    admin = await make_staff(ctx, "district_admin", "district:294")

    def guess(person):
        code = person.code
        while code == person.code:
            code = f"{secrets.randbelow(10000):04d}"
        return client.post(
            f"/api/staff/appointments/{person.appointment_id}/check-in",
            json={"code": code},
            headers=day.vaccinator.headers,
        )

    statuses = [(await guess(people[n % 3])).status_code for n in range(5)]
    assert statuses == [422] * 5
    # The fifth wrong code used up the hour: the lock-out has begun, and the admins know.
    kinds = await _alert_kinds(client, admin)
    assert kinds == ["quota.wrong-codes-per-hour"]
    refused = await guess(people[0])
    assert refused.status_code == 429 and refused.json()["errorCode"] == "STAFF0429"
    assert int(refused.headers["Retry-After"]) == 3600  # the clock stands still
    right = await client.post(
        f"/api/staff/appointments/{people[1].appointment_id}/check-in",
        json={"code": people[1].code},
        headers=day.vaccinator.headers,
    )
    assert right.status_code == 429
    # Lock-out plus two refusals: three breaches suspend the account.
    assert not await _active(ctx, day.vaccinator.user_id)
    async with ctx.db.reader() as session:
        viewed = (
            await session.execute(
                select(func.count())
                .select_from(Appointment)
                .where(Appointment.checked_in_at.is_not(None))
            )
        ).scalar()
    assert viewed == 0
